"""The evaluation report: ``report.json`` with every number, and a self-contained ``report.html``.

The HTML page embeds its pictures (PNG, base64) so it can be mailed or archived as one file: the
summary table (metrics that could not be measured are greyed with the reason instead of a number),
per-pattern bars for each headline metric, identity distance over time with the same-person
threshold, the per-pattern table, set-level distances, and frame strips (generated above ground
truth) of the best and worst clips.
"""

from __future__ import annotations

import base64
import html
import warnings
from pathlib import Path

import numpy as np

from interanimate.data.images import encode_png, figure_png, spread_indices, tile_rows
from interanimate.data.io import atomic_write_text, decode_video
from interanimate.data.manifest import clip_file
from interanimate.evaluation.identity import DLIB_SAME_PERSON_DISTANCE
from interanimate.evaluation.runner import EvaluationResult, match_clips

# Metrics where lower is better; everything else in the summary is higher-is-better or neutral.
LOWER_IS_BETTER = ("L1", "warping error", "flicker", "NME", "penetration", "frechet", "FID", "FVD", "LPIPS",
                   "identity distance")
NEAR_ZERO_IS_BETTER = ("drift",)


def _direction(metric: str) -> str:
    if any(k in metric for k in NEAR_ZERO_IS_BETTER):
        return "  (closer to 0 is better)"
    return "  (lower is better)" if any(k in metric for k in LOWER_IS_BETTER) else ""


def _png(fig) -> str:
    return base64.b64encode(figure_png(fig, dpi=100, bbox_inches="tight")).decode()


def _img(data: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _pattern_bars(result: EvaluationResult) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [m for m in result.summary if any(m in row for row in result.per_pattern.values())]
    if not metrics or not result.per_pattern:
        return None
    cols = 3
    rows = -(-len(metrics) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 0.28 * len(result.per_pattern) * rows + 1.2 * rows),
                             squeeze=False)
    patterns = list(result.per_pattern)
    for ax, metric in zip(axes.flat, metrics):
        values = [result.per_pattern[p].get(metric) for p in patterns]
        ax.barh(patterns, [np.nan if v is None else v for v in values], color="#30638e")
        ax.set_title(metric + _direction(metric), fontsize=9)
        ax.tick_params(labelsize=7)
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3))
        ax.invert_yaxis()
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    fig.tight_layout()
    return _png(fig)


def _identity_plot(result: EvaluationResult) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = {k: np.asarray([np.nan if v is None else v for v in c], float) for k, c in result.identity_curves.items()}
    if not any(np.isfinite(c).any() for c in curves.values()):
        return None  # no face detected in any generated frame: nothing to plot (the summary says why)
    fig, ax = plt.subplots(figsize=(8, 3.2))
    length = max(len(c) for c in curves.values())
    stack = np.full((len(curves), length), np.nan)
    for i, c in enumerate(curves.values()):
        ax.plot(c, color="#999999", lw=0.7, alpha=0.6, marker=".", ms=3)  # markers: lone frames show too
        stack[i, : len(c)] = c
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # frames without a face in any clip
        mean = np.nanmean(stack, axis=0)
    ax.plot(mean, color="#d1495b", lw=2, marker="o", ms=3, label="mean over clips")
    ax.axhline(DLIB_SAME_PERSON_DISTANCE, color="#30638e", ls="--", lw=1,
               label=f"same person below {DLIB_SAME_PERSON_DISTANCE} (dlib)")
    ax.set_xlabel("frame (gaps: no face detected)")
    ax.set_ylabel("Euclidean distance to reference (dlib-128)")
    ax.set_ylim(0, max(1.0, float(np.nanmax(stack)) + 0.05) if np.isfinite(stack).any() else 1.0)
    ax.set_title("identity over time")
    ax.legend(loc="upper left", fontsize=8)
    return _png(fig)


def _strip(generated_frames: np.ndarray, reference_frames: np.ndarray, count: int = 6) -> str:
    """The generated frames above the ground truth's, as base64 PNG."""
    import cv2

    idx = spread_indices(len(generated_frames), count)
    picture = tile_rows([list(generated_frames[idx]), list(reference_frames[idx])])
    scale = max(1, 96 // picture.shape[0] * 2) if picture.shape[0] < 96 else 1
    if scale > 1:
        picture = cv2.resize(picture, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    return base64.b64encode(encode_png(picture)).decode()


def _ranked_clips(result: EvaluationResult) -> tuple[str, list[str]]:
    for key, sign in ((("pixel", "frame", "ssim"), 1.0), (("identity", "generated", "mean"), -1.0)):
        scored = []
        for clip, scores in result.per_clip.items():
            value = scores
            for part in key:
                value = value.get(part) if isinstance(value, dict) else None
            if isinstance(value, (int, float)) and np.isfinite(value):
                scored.append((sign * value, clip))
        if scored:
            scored.sort()
            return ".".join(key), [c for _, c in scored]
    return "", list(result.per_clip)


def write_report(result: EvaluationResult, out: Path, num_strips: int = 3) -> tuple[Path, Path]:
    """Write ``out/report.json`` and ``out/report.html``; return their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out / "report.json", out / "report.html"
    atomic_write_text(json_path, result.to_json())

    parts = [f"<h1>InterAnimate evaluation</h1><p>{len(result.per_clip)} generated clips from "
             f"<code>{html.escape(result.config['generated'])}</code> against "
             f"<code>{html.escape(result.config['reference'])}</code>; "
             f"interanimate {html.escape(result.versions['interanimate'])}, {html.escape(result.config['time'])}.</p>"]
    parts.append("<h2>Summary</h2><table><tr><th>metric</th><th>value</th></tr>" + "".join(
        f"<tr><td>{html.escape(k)}</td><td>{_fmt(v)}</td></tr>" for k, v in result.summary.items()) + "".join(
        f'<tr class="unmeasured"><td>{html.escape(k)}</td><td>not measured: {html.escape(why)}</td></tr>'
        for k, why in result.unmeasured.items()) + "</table>")
    if any(k for k in result.set_level if k != "pattern_accuracy"):
        parts.append("<h2>Set-level distances</h2><p>Standard names (FID, FVD, LPIPS) appear only when the published "
                     "weights were loaded; other distances are named by their feature space.</p><table>"
                     "<tr><th>distance</th><th>value</th><th>details</th></tr>" + "".join(
                         f"<tr{' class=unmeasured' if v.get('unmeasured') else ''}><td>{html.escape(k)}</td>"
                         f"<td>{_fmt(v.get('value'))}</td><td>"
                         f"{html.escape(', '.join(f'{a}={b}' for a, b in v.items() if a != 'value'))}</td></tr>"
                         for k, v in result.set_level.items() if isinstance(v, dict) and "value" in v) + "</table>")
    bars = _pattern_bars(result)
    if bars:
        parts.append("<h2>Per pattern</h2>" + _img(bars, "metrics per pattern"))
    identity = _identity_plot(result)
    if identity:
        parts.append("<h2>Identity over time</h2>" + _img(identity, "identity over time"))
    if result.per_pattern:
        metrics = sorted({k for row in result.per_pattern.values() for k in row if k not in ("clips", "family")})
        parts.append("<table><tr><th>pattern</th><th>family</th><th>clips</th>" +
                     "".join(f"<th>{html.escape(m)}</th>" for m in metrics) + "</tr>" + "".join(
                         f"<tr><td>{html.escape(p)}</td><td>{row['family']}</td><td>{row['clips']}</td>" +
                         "".join(f"<td>{_fmt(row.get(m))}</td>" for m in metrics) + "</tr>"
                         for p, row in result.per_pattern.items()) + "</table>")
    key, ranked = _ranked_clips(result)
    if ranked and num_strips:
        pairs = {p.generated.clip_id: p for p in match_clips(Path(result.config["generated"]),
                                                              Path(result.config["reference"]))}
        chosen = [("best", c) for c in reversed(ranked[-num_strips:])] + [("worst", c) for c in ranked[:num_strips]]
        parts.append(f"<h2>Best and worst clips</h2><p>Ranked by {html.escape(key or 'order')}; each strip shows the "
                     "generated clip above its ground truth.</p>")
        for label, clip in chosen:
            pair = pairs[clip]
            gen = decode_video(clip_file(pair.generated_root, pair.generated, "video"))
            ref = decode_video(clip_file(pair.reference_root, pair.reference, "video"))
            parts.append(f"<h3>{label}: {html.escape(clip)} ({html.escape(str(pair.generated.pattern))})</h3>" +
                         _img(_strip(gen, ref), clip))
    parts.append("<h2>Configuration and versions</h2><pre>" + html.escape(
        "\n".join(f"{k}: {v}" for k, v in {**result.config, **result.versions}.items())) + "</pre>")
    style = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}table{border-collapse:collapse;"
             "margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:right}"
             "td:first-child,th:first-child{text-align:left}img{max-width:100%}"
             "tr.unmeasured td{color:#999;font-style:italic}tr.unmeasured td:last-child{text-align:left}")
    atomic_write_text(html_path, f"<!doctype html><html><head><meta charset='utf-8'><title>InterAnimate evaluation"
                                 f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>\n")
    return json_path, html_path
