"""Fit and measure the annotator's contact detector and pattern recogniser on synthetic renders and real footage.

    export OMP_NUM_THREADS=1
    python tools/fit_annotate_models.py collect --cache runs/annotate-mp --size 256 --train-subjects 6 --test-subjects 2 [--shard 0/2]
    python tools/fit_annotate_models.py collect --cache runs/annotate-gn --size 128 --train-subjects 6 --test-subjects 2 --no-perception
    python tools/fit_annotate_models.py collect-real --real-cache runs/annotate-real
    python tools/fit_annotate_models.py collect-composite --cache runs/annotate-comp --size 256 --frames 20 \
        --composite-seeds 1000 1001 1002 1003
    python tools/fit_annotate_models.py fit --cache runs/annotate-mp --pattern-cache runs/annotate-gn --real-cache runs/annotate-real \
        --size 256 --train-subjects 6 --test-subjects 2
    python tools/fit_annotate_models.py fit ... --keep-contact --composite-cache runs/annotate-comp --composite-for patterns
    python tools/fit_annotate_models.py cv-composite ... --composite-cache runs/annotate-comp --composite-for [contact] [patterns]
    python tools/fit_annotate_models.py cv-patterns --cache runs/annotate-mp --pattern-cache runs/annotate-gn --real-cache runs/annotate-real
    python tools/fit_annotate_models.py cv-family --cache runs/annotate-mp --pattern-cache runs/annotate-gn --real-cache runs/annotate-real \
        --composite-cache runs/annotate-comp --composite-for patterns [--decisions pattern family]
    python tools/fit_annotate_models.py evaluate --cache runs/annotate-mp [--png PNG] [--contact-out C --pattern-out P]
    python tools/fit_annotate_models.py evaluate-real --real-cache runs/annotate-real [--real-splits test] [--png PNG]
    python tools/fit_annotate_models.py episode-bounds --cache runs/annotate-mp --pattern-cache runs/annotate-gn \
        --real-cache runs/annotate-real --composite-cache runs/annotate-comp

``collect`` renders the train and test splits with ``interanimate.data.synth`` (exact labels) and runs,
per clip, (a) MediaPipe perception + the annotator's cleaning on the rendered frames (skipped with
``--no-perception``) and (b) the ground-truth keypoints with Gaussian noise, storing the contact cues
of both next to the ground truth (one ``.npz`` per clip; re-running skips finished clips, and
``--shard i/n`` splits the work between processes). ``collect-composite`` does the same for composite clips
(``interanimate.render.composite``: the portraits of ``tools/composite_gallery.py`` animated with the 3-D hand, exact
labels), cached as ``train-comp-*.npz``; ``fit --composite-cache`` adds them to the contact and / or the recogniser
rows, and ``cv-composite`` judges that with 3 folds by portrait; ``cv-family`` compares the recogniser's decisions
(``fit --decision``) by their out-of-fold family accuracy on the fitting data. ``collect-real`` caches the raw tracks of the real
development set (``devset/real``, fetched media) per clip. ``fit`` fits the contact model on the real
devset's *fitting half* plus the synthetic train split's MediaPipe cues, and the recogniser on the
synthetic train split's ground-truth episodes (time-stretched) plus the fitting half's episodes, and
writes both into the package (``src/interanimate/data/annotate/models/``) with provenance; the real
test half is never read by ``fit``. ``evaluate`` scores the hand-set and the fitted models on the
synthetic test split and draws the confusion matrix; ``evaluate-real`` scores model files
(``--contact-out`` / ``--pattern-out``, default the shipped ones) on a cached devset half; ``episode-bounds``
measures how far the episodes' edges, as detected and as described to the recogniser, lie from the labelled
touches (fitting half and synthetic / composite clips).

Splits are subject-disjoint (train and test subjects come from separate index ranges). Besides the
18 patterns, each subject gets "hover" clips: the pattern's choreography with the hand moved 2.5-6 cm
toward the camera and the gesture's skin drive switched off, i.e. a hand in front of the face that
never touches it (the generator's physics confirms: any frame that still touches keeps its label).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import numpy as np

from interanimate.data.annotate.calibration import (NONE, clip_specs, collect_clip, collect_real_clip, contact_counts,
                                                    fit_contact_real, fit_pattern_transfer, load_clips,
                                                    load_real_clips, pattern_accuracy, real_counts, splits)
from interanimate.data.annotate.contact import CONTACT_MODEL_FILE, ContactModel
from interanimate.data.annotate.patterns import DECISIONS, EPISODES, PATTERN_MODEL_FILE, PatternModel, RulePatternModel
from interanimate.taxonomy import PATTERN_NAMES


def collect(args) -> None:
    out = Path(args.cache)
    out.mkdir(parents=True, exist_ok=True)
    index, count = (int(x) for x in args.shard.split("/"))
    # The test split first, so a shortened run still measures on the whole of it.
    ordered = [splits(args)[name] for name in ("test", "train") if name in args.splits]
    todo = [item for split in ordered for item in clip_specs(split, args.seed, args.size, args.frames)]
    todo = todo[index::count]
    started = time.perf_counter()
    for i, (key, spec, hover) in enumerate(todo):
        if (out / f"{key}.npz").is_file():
            continue
        collect_clip(key, spec, hover, out, args.noise, perceive=not args.no_perception)
        print(f"[{i + 1}/{len(todo)}] {key} ({time.perf_counter() - started:.0f} s)", flush=True)


# ---- commands ---------------------------------------------------------------------------------------

def data_description(args) -> dict:
    return {"generator": "interanimate.data.synth", "seed": args.seed, "size": args.size, "frames": args.frames,
            "train_subjects": f"{2000}..{2000 + args.train_subjects - 1}", "clips_per_pattern": args.clips_per_pattern,
            "hover_clips_per_subject": args.hover_per_subject,
            "test_subjects": f"{3000}..{3000 + args.test_subjects - 1}", "perception": "MediaPipe face+hand landmarkers"}


def measure_composite_clip(key: str, reference, face, portrait_index: int, pattern: str, seed: int, num_frames: int,
                           fps: float, noise: float, perceive: bool = True) -> dict:
    """``measure_frames`` of one composite clip: ``pattern`` acted on the photo ``reference`` (a
    ``ReferenceFace`` from ``render.composite.load_photo``, ``face`` its ``PhotoFace``) with the 3-D hand,
    watermarked as the composite pipeline writes it. Its approach and retreat frames with the hand over the
    face are the ``hover`` negatives; ``hover`` in the metadata is False (every clip touches)."""
    from interanimate import provenance
    from interanimate.data.annotate.calibration import COMPOSITE_SUBJECT, measure_frames
    from interanimate.render.composite import render_composite

    clip = render_composite(reference, pattern, num_frames, fps, seed, face=face)
    frames = provenance.embed_watermark(clip.frames)
    rng = np.random.default_rng([COMPOSITE_SUBJECT + portrait_index, seed, PATTERN_NAMES.index(pattern)])
    meta = {"key": key, "pattern": pattern, "hover": False, "subject": COMPOSITE_SUBJECT + portrait_index,
            "portrait": reference.name, "seed": seed, "renderer": "composite"}
    return measure_frames(frames, clip.annotations, fps, frames.shape[1], meta, noise, rng, None, perceive)


def collect_composite(args) -> None:
    """Render composite clips (every pattern on every portrait, seeds ``--composite-seeds``) and cache their cues as
    ``train-comp-<portrait>-<pattern>-s<seed>.npz``: MediaPipe perception on the frames and ground truth + noise."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from composite_gallery import portraits

    from interanimate.data.annotate.calibration import save_arrays
    from interanimate.render.composite.face import build_face
    from interanimate.render.composite.photo import load_photo

    out = Path(args.cache)
    out.mkdir(parents=True, exist_ok=True)
    refs = portraits(out / "refs")
    index, count = (int(x) for x in args.shard.split("/"))
    todo = [(i, ref, pattern, seed) for seed in args.composite_seeds for i, ref in enumerate(refs)
            for pattern in (args.patterns or PATTERN_NAMES) if not args.portraits or ref.stem in args.portraits]
    todo = todo[index::count]
    faces = {}
    started = time.perf_counter()
    for n, (i, ref, pattern, seed) in enumerate(todo):  # i: the portrait's index, its clips' subject 5000 + i
        key = f"train-comp-{ref.stem}-{pattern}-s{seed}"
        if (out / f"{key}.npz").is_file():
            continue
        if i not in faces:
            reference = load_photo(ref, args.size)
            faces[i] = (reference, build_face(reference.image, reference.mesh))
        reference, face = faces[i]
        save_arrays(measure_composite_clip(key, reference, face, i, pattern, seed, args.frames, args.fps, args.noise,
                                           perceive=not args.no_perception), out, key)
        print(f"[{n + 1}/{len(todo)}] {key} ({time.perf_counter() - started:.0f} s)", flush=True)


def collect_real(args) -> None:
    """Cache the raw tracks of the real development set's clips (``--real-splits``) for fitting and scoring."""
    from interanimate.data.annotate.video import RejectedInput
    from interanimate.evaluation.devset import load_devset

    out = Path(args.real_cache)
    out.mkdir(parents=True, exist_ok=True)
    devset = load_devset()
    for split in args.real_splits:
        items = list(devset.media(split=split))
        missing = [m.reason for m in items if m.path is None]
        if missing:
            sys.exit(f"devset: {len(missing)} clips of the {split} half have no media (first: {missing[0]}); "
                     "run tools/fetch_devset.py first")
        for i, item in enumerate(items):
            note = ""
            if not (out / f"real-{split}-{item.clip.id}.npz").is_file():
                try:
                    collect_real_clip(item.clip, item.path, out)
                except RejectedInput as err:  # as the annotator rejects it (score_devset.py: a clip without contact)
                    note = f" skipped: rejected ({err.reason}: {err})"
            print(f"[{i + 1}/{len(items)}] real {split} {item.clip.id}{note}", flush=True)


def perceived(cache: Path) -> bool:
    """Whether a synthetic cache holds MediaPipe cues (not collected with --no-perception)."""
    files = sorted(Path(cache).glob("*-synth*.npz"))
    return bool(files) and "mp_features" in np.load(files[0]).files


def fit(args) -> None:
    cache, real_cache = Path(args.cache), Path(args.real_cache)
    pattern_cache = Path(args.pattern_cache or args.cache)
    with_mp = perceived(cache)
    synthetic_mp = load_clips(cache, "train", "mp") if with_mp else []
    synthetic_gn = load_clips(pattern_cache, "train", "gn")
    real = load_real_clips(real_cache, "fit")  # the devset's fitting half only: the test half is never read here
    if not real or not synthetic_gn:
        sys.exit(f"need cached real clips under {real_cache} (collect-real) and synthetic train clips under "
                 f"{pattern_cache} (collect)")
    print(f"synthetic train: {len(synthetic_mp)} clips with MediaPipe cues (contact), {len(synthetic_gn)} with "
          f"ground-truth cues (patterns); real fitting half: {len(real)} clips")
    composite = load_clips(Path(args.composite_cache), "train", "mp") if args.composite_cache else []
    if args.composite_cache:
        print(f"composite clips (MediaPipe cues): {len(composite)} under {args.composite_cache}, for "
              f"{' and '.join(args.composite_for)}")
    contact_model, contact_info, pattern_model, pattern_info = fit_models(args, real, synthetic_mp, synthetic_gn,
                                                                          composite)
    strip = lambda d: {k: round(v, 4) if isinstance(v, float) else v for k, v in d.items() if k != "confusion"}
    metrics = {"real_fit_in_sample": strip(real_counts(real, contact_model))}
    for name, folder, source in (("synthetic_test_mp", cache, "mp"), ("synthetic_test_gn", pattern_cache, "gn")):
        if source == "mp" and not with_mp:
            continue
        test = load_clips(folder, "test", source)
        if test:
            metrics[name] = {**strip(contact_counts(test, contact_model)), "clips": len(test),
                             **{f"pattern_{k}": v for k, v in
                                strip(pattern_accuracy(test, contact_model, pattern_model)).items()}}
    subjects = lambda clips: f"{sorted({c.subject for c in clips})} at {sorted({c.size for c in clips})} px"
    data = {**data_description(args),
            "contact_synthetic": f"{len(synthetic_mp)} train clips (MediaPipe cues), {cache}, subjects "
                                 f"{subjects(synthetic_mp)}" if synthetic_mp else "none",
            "pattern_synthetic": f"{len(synthetic_gn)} train clips (ground-truth keypoints + {args.noise:.0%} IOD "
                                 f"noise), {pattern_cache}, subjects {subjects(synthetic_gn)}"
                                 + (f" + the {len(synthetic_mp)} MediaPipe-cue train clips" if args.pattern_mp else ""),
            **({"composite": f"{len(composite)} composite clips (render.composite on the portraits of "
                             f"tools/composite_gallery.py, MediaPipe cues), {args.composite_cache}, seeds "
                             f"{sorted({c.seed for c in composite})} at {sorted({c.size for c in composite})} px, for the "
                             f"{' and '.join(args.composite_for)} fit"} if composite else {}),
            "real": "devset/real fitting half (labels.json split=fit, ambiguous clips excluded), "
                    "MediaPipe face+hand landmarkers at the annotator's working resolution"}
    provenance = {"date": datetime.date.today().isoformat(), "seed": args.seed, "data": data, "fit": contact_info,
                  "metrics": metrics,
                  "command": "tools/fit_annotate_models.py collect (+ collect --no-perception) + collect-real"
                             + (" + collect-composite" if composite else "") + " + fit"
                             + " " + " ".join(sys.argv[2:])}
    if not args.keep_contact:
        contact_model.save(args.contact_out, provenance)
    pattern_model.save(args.pattern_out, {**provenance, "fit": pattern_info})
    print("contact model:", json.dumps({k: v for k, v in vars(contact_model).items()}, default=float))
    print("contact fit:", json.dumps(contact_info))
    print("pattern fit:", json.dumps(pattern_info))
    print("metrics:", json.dumps(metrics, indent=1))


def fit_models(args, real, synthetic_mp, synthetic_gn, composite=()):
    """The contact model and the recogniser fitted as ``fit``'s options say; ``composite`` clips (MediaPipe cues)
    join the contact fit's synthetic rows and / or the recogniser's rows as ``--composite-for`` says."""
    composite = list(composite)
    if args.keep_contact:  # refit the recogniser only, on the episodes of the contact model in --contact-out
        contact_model = ContactModel.load(args.contact_out)
        contact_info = json.loads(Path(args.contact_out).read_text())["provenance"]["fit"]
    else:
        extra = composite if "contact" in args.composite_for else []
        contact_model, contact_info = fit_contact_real(real, synthetic_mp + extra, hover_weight=args.hover_weight)
        contact_info["composite_clips"] = len(extra)
    # The recogniser learns from the ground-truth cues' episodes and, with --pattern-mp, the MediaPipe cues' too.
    pattern_clips = (synthetic_gn + (synthetic_mp if args.pattern_mp else [])
                     + (composite if "patterns" in args.composite_for else []))
    pattern_model, pattern_info = fit_pattern_transfer(pattern_clips, real, contact_model, seed=args.seed,
                                                       detected=not args.exact_episodes_only, decision=args.decision,
                                                       episodes=args.episodes)
    pattern_info["composite_clips"] = len(composite) if "patterns" in args.composite_for else 0
    return contact_model, contact_info, pattern_model, pattern_info


def cross_validate_composite(args) -> None:
    """Whether composite clips help, judged on fitting data only: 3 folds by portrait of the composite cache
    (``--composite-cache``, seeds disjoint from the gallery's), each fold's clips labelled end to end by models
    fitted as ``fit`` says on the real fitting half, the synthetic train split and the other portraits' composite
    clips; beside them the same models' out-of-fold figures on the real fitting half (the contact fit's own)."""
    cache = Path(args.cache)
    synthetic_mp = load_clips(cache, "train", "mp") if perceived(cache) else []
    synthetic_gn = load_clips(Path(args.pattern_cache or args.cache), "train", "gn")
    real = load_real_clips(Path(args.real_cache), "fit")
    composite = load_clips(Path(args.composite_cache), "train", "mp")
    portraits = sorted({c.subject for c in composite})
    tp = fp = fn = right = family = clips = 0
    for held in portraits:
        rest = [c for c in composite if c.subject != held]
        test = [c for c in composite if c.subject == held]
        if args.composite_for:
            contact_model, contact_info, pattern_model, pattern_info = fit_models(args, real, synthetic_mp,
                                                                                  synthetic_gn, rest)
        else:  # the shipped models
            contact_model, pattern_model = ContactModel.load(args.contact_out), PatternModel.load(args.pattern_out)
            contact_info = json.loads(Path(args.contact_out).read_text())["provenance"]["fit"]
            pattern_info = json.loads(Path(args.pattern_out).read_text())["provenance"]["fit"]
        c = contact_counts(test, contact_model)
        p = pattern_accuracy(test, contact_model, pattern_model)
        tp, fp, fn = tp + c["tp"], fp + c["fp"], fn + c["fn"]
        right, family, clips = (right + round(p["accuracy"] * p["clips"]), family + round(p["family_accuracy"] * p["clips"]),
                                clips + p["clips"])
        oof = contact_info.get("out_of_fold", {})
        print(f"held-out portrait {test[0].portrait}: contact P/R/F1 {c['precision']:.3f} / {c['recall']:.3f} / "
              f"{c['f1']:.3f}, 18-way {p['accuracy']:.1%}, family {p['family_accuracy']:.1%}, unlabelled "
              f"{p['unlabelled']} of {p['clips']}; real fitting half out of fold: F1 {oof.get('f1', float('nan')):.3f}, "
              f"touch clips {oof.get('touch_clips_found', float('nan')):.3f}, hard negatives "
              f"{oof.get('hard_negative_fp', float('nan')):.3f}; recogniser out-of-fold score "
              f"{pattern_info.get('out_of_fold_score')}", flush=True)
    precision, recall = tp / max(1, tp + fp), tp / max(1, tp + fn)
    print(f"composite out of fold ({len(composite)} clips, composite rows for {' and '.join(args.composite_for) or 'nothing (shipped models)'}): "
          f"contact P/R/F1 {precision:.3f} / {recall:.3f} / {2 * precision * recall / max(1e-9, precision + recall):.3f}, "
          f"18-way {right}/{clips} = {right / max(1, clips):.1%}, family {family}/{clips} = {family / max(1, clips):.1%}")


def cross_validate_patterns(args) -> None:
    """The recogniser's fit judged on fitting data only: 3 folds of the synthetic train split grouped by subject,
    each fold's clips labelled end to end (the shipped contact model's episodes, the strongest one per clip) by
    a recogniser fitted on the other folds + the real fitting half; with and without the detected episodes as
    rows (``--exact-episodes-only`` is the earlier fit)."""
    contact_model = ContactModel.load(args.contact_out)
    synthetic_gn = load_clips(Path(args.pattern_cache or args.cache), "train", "gn")
    synthetic_mp = load_clips(Path(args.cache), "train", "mp") if perceived(Path(args.cache)) else []
    real = load_real_clips(Path(args.real_cache), "fit")
    subjects = sorted({c.subject for c in synthetic_gn})
    folds = 3
    for detected in (False, True):
        right = {"gn": [0, 0], "mp": [0, 0]}
        for k in range(folds):
            held = set(subjects[k::folds])
            model, _ = fit_pattern_transfer([c for c in synthetic_gn if c.subject not in held], real, contact_model,
                                            seed=args.seed, detected=detected, episodes=args.episodes)
            for source, clips in (("gn", synthetic_gn), ("mp", synthetic_mp)):
                p = pattern_accuracy([c for c in clips if c.subject in held], contact_model, model)
                right[source][0] += round(p["accuracy"] * p["clips"])
                right[source][1] += p["clips"]
        rows = "detected + exact episodes" if detected else "exact episodes only"
        print(f"{rows}: 18-way out of fold (synthetic train split, {folds} folds by subject) "
              + ", ".join(f"{'ground truth + noise' if s == 'gn' else 'MediaPipe'} {a}/{n} = {a / max(1, n):.1%}"
                          for s, (a, n) in right.items() if n))


def cross_validate_family(args) -> None:
    """The recogniser's decision (``patterns.decide``: ``pattern`` or ``family``) judged on fitting data only: 3
    folds, each holding out a third of the synthetic train subjects (ground-truth cues of --pattern-cache, and
    MediaPipe cues of --cache scored too), one composite portrait (with --composite-cache) and a third of the real
    fitting half's clips; each held-out clip is labelled end to end (the episodes of the contact model in
    --contact-out, the strongest per clip) by a recogniser fitted as ``fit --keep-contact`` fits it on the rest."""
    from interanimate.taxonomy import get_pattern

    contact_model = ContactModel.load(args.contact_out)
    synthetic_gn = load_clips(Path(args.pattern_cache or args.cache), "train", "gn")
    synthetic_mp = load_clips(Path(args.cache), "train", "mp") if perceived(Path(args.cache)) else []
    composite = load_clips(Path(args.composite_cache), "train", "mp") if args.composite_cache else []
    real = load_real_clips(Path(args.real_cache), "fit")
    subjects, portraits = sorted({c.subject for c in synthetic_gn}), sorted({c.subject for c in composite})
    folds = 3
    for decision in args.decisions:
        tally: dict[str, list[int]] = {}

        def add(name, right, total):
            tally.setdefault(name, [0, 0])
            tally[name][0] += right
            tally[name][1] += total

        for k in range(folds):
            held, held_portraits = set(subjects[k::folds]), set(portraits[k::folds])
            held_real = {c.id for i, c in enumerate(real) if i % folds == k}
            rows = ([c for c in synthetic_gn + (synthetic_mp if args.pattern_mp else []) if c.subject not in held]
                    + ([c for c in composite if c.subject not in held_portraits] if "patterns" in args.composite_for
                       else []))
            model, _ = fit_pattern_transfer(rows, [c for c in real if c.id not in held_real], contact_model,
                                            seed=args.seed, detected=not args.exact_episodes_only, decision=decision,
                                            episodes=args.episodes)
            for name, clips in (("ground truth + noise", [c for c in synthetic_gn if c.subject in held]),
                                ("MediaPipe", [c for c in synthetic_mp if c.subject in held]),
                                ("composite", [c for c in composite if c.subject in held_portraits])):
                if clips:
                    p = pattern_accuracy(clips, contact_model, model)
                    add(f"{name} 18-way", round(p["accuracy"] * p["clips"]), p["clips"])
                    add(f"{name} family", round(p["family_accuracy"] * p["clips"]), p["clips"])
                    add(f"{name} hover clips labelled", p["hover_clips_labelled"], p["hover_clips"])
            test = [c for c in real if c.id in held_real]
            for clip, pattern in zip(test, real_predictions(test, contact_model, model)):
                if clip.family:
                    add("real family", int(pattern is not None and get_pattern(pattern).family == clip.family), 1)
                    print(f"  decision {decision}, fold {k}: real {clip.id} ({clip.family}) -> {pattern}", flush=True)
                elif clip.truth.any():
                    add("real touches without a family left unlabelled", int(pattern is None), 1)
                else:
                    add("real no-touch clips unlabelled", int(pattern is None), 1)
        print(f"decision {decision}: out of fold ({folds} folds) "
              + ", ".join(f"{name} {a}/{n} = {a / max(1, n):.1%}" for name, (a, n) in tally.items() if n), flush=True)


def episode_bounds(args) -> None:
    """How far the episodes' edges lie from the labelled touches, in frames (signed: + = late), for the episodes as
    detected (the contact runs) and as described to the recogniser (``patterns.touch_core``): on the real fitting
    half (labelled by eye, +-4 frames) and on the synthetic and composite clips (exact labels; hover clips left out).
    Each labelled run that the clip's ends do not cut is matched to the episode of the shipped contact model (or
    --contact-out) that overlaps it most."""
    from interanimate.data.annotate.analysis import contact_episodes
    from interanimate.data.annotate.calibration import run_contact, run_real_contact
    from interanimate.data.annotate.contact import true_runs

    contact_model = ContactModel.load(args.contact_out)
    sets = [("real fitting half", load_real_clips(Path(args.real_cache), "fit"))]
    for split in ("train", "test"):
        sets.append((f"synthetic {split}, ground truth + noise", load_clips(Path(args.pattern_cache or args.cache),
                                                                             split, "gn")))
        if perceived(Path(args.cache)):
            sets.append((f"synthetic {split}, MediaPipe", load_clips(Path(args.cache), split, "mp")))
    if args.composite_cache:
        sets.append(("composite, MediaPipe", load_clips(Path(args.composite_cache), "train", "mp")))
    for name, clips in sets:
        errors = {"detected runs": [], "touch core": []}
        for clip in clips:
            if getattr(clip, "hover", False):
                continue
            real = hasattr(clip, "truth")
            truth = clip.truth if real else clip.gt_contact.any(axis=1)
            result = run_real_contact(clip, contact_model) if real else run_contact(clip, contact_model)
            frame = clip.frame if real else None
            with np.errstate(all="ignore"):
                if frame is None:
                    from interanimate.data.annotate.geometry import face_frame
                    frame = face_frame(np.nan_to_num(clip.face))
                episodes = contact_episodes(frame, result, clip.hands, clip.fps, core=True)
            for a, b in true_runs(truth):
                if a == 0 or b == len(truth):
                    continue  # cut by the clip: its edge is not the touch's
                overlap = [max(0, min(b, e.end) - max(a, e.start)) for e in episodes]
                if not overlap or max(overlap) == 0:
                    continue
                e = episodes[int(np.argmax(overlap))]
                errors["detected runs"].append((e.start - a, e.end - b))
                errors["touch core"].append((e.core[0] - a, e.core[1] - b))
        for kind, values in errors.items():
            v = np.array(values, np.float64).reshape(-1, 2)
            if len(v):
                print(f"{name}, {kind}: {len(v)} touches, start |error| {np.abs(v[:, 0]).mean():.2f} frames (mean "
                      f"{v[:, 0].mean():+.2f}), end |error| {np.abs(v[:, 1]).mean():.2f} (mean {v[:, 1].mean():+.2f})",
                      flush=True)


def print_confusion(confusion: np.ndarray) -> None:
    short = [p.replace("_forehead", "_fh").replace("_cheek", "_ck").replace("ward", "").replace("swipe_", "sw_")
             .replace("stroke_", "st_").replace("pinch_", "pi_").replace("poke_", "po_") for p in PATTERN_NAMES]
    print("  rows: true; columns: predicted (" + " ".join(f"{i}={s}" for i, s in enumerate(short)) + ", -=none)")
    print("       " + "".join(f"{i:>3}" for i in range(len(short))) + "  -")
    for i, row in enumerate(confusion):
        print(f"  {i:>2} {short[i][:4]:<4}" + "".join(f"{v:>3}" if v else "  ." for v in row))


def save_confusion_png(confusion: np.ndarray, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 5.8))
    ax.imshow(confusion, cmap="Blues")
    ax.set_xticks(range(len(PATTERN_NAMES) + 1), list(PATTERN_NAMES) + [NONE], rotation=90, fontsize=7)
    ax.set_yticks(range(len(PATTERN_NAMES)), PATTERN_NAMES, fontsize=7)
    for i, j in zip(*np.nonzero(confusion)):
        ax.text(j, i, str(confusion[i, j]), ha="center", va="center", fontsize=7,
                color="white" if confusion[i, j] > confusion.max() / 2 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def evaluate(args) -> None:
    results = {}
    if not sorted(Path(args.cache).glob("test-*.npz")):
        sys.exit(f"no cached test clips under {args.cache}; run collect first")
    with_mp = perceived(Path(args.cache))
    for source, label in (("mp", "MediaPipe on the renders"), ("gn", f"ground-truth keypoints + {args.noise:.0%} IOD noise")):
        if source == "mp" and not with_mp:
            print("(cache collected with --no-perception: no MediaPipe rows)")
            continue
        test = load_clips(Path(args.cache), "test", source)
        for name, contact_model, pattern_model in (("hand-set", ContactModel.hand_set(), RulePatternModel()),
                                                   ("fitted", ContactModel.load(args.contact_out),
                                                    PatternModel.load(args.pattern_out))):
            c = contact_counts(test, contact_model)
            p = pattern_accuracy(test, contact_model, pattern_model)
            results[f"{source}/{name}"] = {"contact": c, "pattern": p}
            print(f"\n## {label}, {name} models: {sum(not t.hover for t in test)} pattern clips + "
                  f"{sum(t.hover for t in test)} hover clips")
            if source == "mp":
                found = sum(int((t.hand_found & t.gt_hand_present).sum()) for t in test)
                total = sum(int(t.gt_hand_present.sum()) for t in test)
                print(f"  hands found in {found}/{total} ground-truth hand frames ({found / max(1, total):.0%})")
            print(f"  contact P/R/F1 {c['precision']:.3f} / {c['recall']:.3f} / {c['f1']:.3f} "
                  f"(tp {c['tp']}, fp {c['fp']}, fn {c['fn']})")
            print(f"  hand near/in front of the face, not touching: {c['hover_fp']}/{c['hover_frames']} frames flagged "
                  f"({c['hover_fp_rate']:.1%}); in hover clips only {c['hover_clip_fp_rate']:.1%} of "
                  f"{c['hover_clip_frames']}")
            print(f"  18-way accuracy {p['accuracy']:.1%} of {p['clips']}, family {p['family_accuracy']:.1%}, "
                  f"unlabelled {p['unlabelled']}; hover clips given a pattern {p['hover_clips_labelled']}/{p['hover_clips']}")
            confusion = np.array(p["confusion"])
            if name == "fitted":
                print_confusion(confusion)
                png = Path(args.cache) / f"confusion_{source}.png"
                if args.png:
                    png = Path(args.png).with_name(f"{Path(args.png).stem}_{source}{Path(args.png).suffix}")
                save_confusion_png(confusion, png, f"{label}, fitted: 18-way accuracy {p['accuracy']:.1%} "
                                                   f"({p['clips']} test clips)")
                print(f"  confusion matrix: {png}")
    (Path(args.cache) / "evaluation.json").write_text(json.dumps(results, indent=1, default=float))


def real_predictions(clips, contact_model, pattern_model):
    """Per real clip: the predicted contact flags' scores and the strongest recognised episode's pattern."""
    from interanimate.data.annotate.analysis import recognise_episodes, strongest
    from interanimate.data.annotate.calibration import run_real_contact

    out = []
    for clip in clips:
        result = run_real_contact(clip, contact_model)
        with np.errstate(all="ignore"):
            best = strongest(recognise_episodes(clip.frame, result, clip.hands, clip.fps, pattern_model))
        out.append(best.pattern if best else None)
    return out


def evaluate_real(args) -> None:
    """The shipped models on the cached real devset half ``--real-splits`` (default: the test half)."""
    from interanimate.taxonomy import get_pattern

    split = args.real_splits[-1]
    clips = load_real_clips(Path(args.real_cache), split)
    if not clips:
        sys.exit(f"no cached real {split} clips under {args.real_cache}; run collect-real first")
    results = {}
    # --contact-out / --pattern-out name the model files to score (default: the shipped ones)
    for name, contact_model, pattern_model in (("fitted", ContactModel.load(args.contact_out),
                                                PatternModel.load(args.pattern_out)),):
        c = real_counts(clips, contact_model)
        patterns = real_predictions(clips, contact_model, pattern_model)
        family = [(clip.family, get_pattern(p).family if p else None) for clip, p in zip(clips, patterns) if clip.family]
        exact = [(clip.pattern, p) for clip, p in zip(clips, patterns) if clip.pattern]
        held = [p is None for clip, p in zip(clips, patterns) if clip.truth.any() and not clip.family]
        no_touch = [p is None for clip, p in zip(clips, patterns) if not clip.truth.any()]
        results[name] = {"contact": c, "family": family, "pattern": exact,
                         "held_touches_unlabelled": f"{sum(held)}/{len(held)}",
                         "no_touch_unlabelled": f"{sum(no_touch)}/{len(no_touch)}"}
        print(f"## real devset, {split} half ({len(clips)} scored clips), {name} models")
        print(f"  contact P/R/F1 {c['precision']:.3f} / {c['recall']:.3f} / {c['f1']:.3f} (tp {c['tp']}, fp {c['fp']}, "
              f"fn {c['fn']}; +-4 frames around labelled edges ignored)")
        print(f"  touch clips with any contact {c['touch_clips_found']:.2f} of {c['touch_clips']}; hard negatives with "
              f"contact {c['hard_negative_fp']:.2f} of {c['hard_negatives']}; all no-touch clips "
              f"{c['no_touch_fp']:.2f} of {c['no_touch_clips']}; region accuracy {c['region_accuracy']:.2f}")
        print(f"  family right {sum(t == q for t, q in family)}/{len(family)}: {family}")
        print(f"  18-way right {sum(t == q for t, q in exact)}/{len(exact)}: {exact}")
        print(f"  touches without a family left unlabelled {sum(held)}/{len(held)}; no-touch clips unlabelled "
              f"{sum(no_touch)}/{len(no_touch)}")
        if args.png:
            save_family_confusion_png(clips, patterns, Path(args.png), f"real devset, {split} half: recognised family "
                                                                      f"per clip ({len(clips)} clips)")
            print(f"  confusion picture: {args.png}")
    (Path(args.real_cache) / f"evaluation-{split}.json").write_text(json.dumps(results, indent=1, default=float))


def save_family_confusion_png(clips, patterns, path: Path, title: str) -> None:
    """Rows: the clip's labelled family, a touch without one, or no touch; columns: the recognised family."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from interanimate.data.annotate.calibration import FAMILIES
    from interanimate.taxonomy import get_pattern

    rows = list(FAMILIES) + ["touch, no family", "no touch"]
    cols = list(FAMILIES) + ["unlabelled"]
    confusion = np.zeros((len(rows), len(cols)), int)
    for clip, pattern in zip(clips, patterns):
        r = rows.index(clip.family) if clip.family else (len(FAMILIES) if clip.truth.any() else len(FAMILIES) + 1)
        c = cols.index(get_pattern(pattern).family) if pattern else len(FAMILIES)
        confusion[r, c] += 1
    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    ax.imshow(confusion, cmap="Blues")
    ax.set_xticks(range(len(cols)), cols, rotation=30, fontsize=7)
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    for i, j in zip(*np.nonzero(confusion)):
        ax.text(j, i, str(confusion[i, j]), ha="center", va="center", fontsize=8,
                color="white" if confusion[i, j] > confusion.max() / 2 else "black")
    ax.set_xlabel("recognised", fontsize=8)
    ax.set_ylabel("labelled", fontsize=8)
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("collect", "collect-composite", "collect-real", "fit", "cv-patterns",
                                            "cv-composite", "cv-family", "evaluate", "evaluate-real", "episode-bounds"))
    parser.add_argument("--cache", default="runs/annotate-fit")
    parser.add_argument("--real-cache", default="runs/annotate-real", help="cached tracks of the real devset")
    parser.add_argument("--real-splits", nargs="+", default=["fit", "test"], choices=["fit", "test"],
                        help="devset halves collect-real caches (fit uses only the fit half)")
    parser.add_argument("--pattern-cache", default=None,
                        help="synthetic cache whose ground-truth cues fit the recogniser (default: --cache)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--train-subjects", type=int, default=10)
    parser.add_argument("--clips-per-pattern", type=int, default=1)
    parser.add_argument("--test-subjects", type=int, default=4)
    parser.add_argument("--hover-per-subject", type=int, default=3)
    parser.add_argument("--noise", type=float, default=0.03, help="keypoint noise of the ground-truth run (x IOD)")
    parser.add_argument("--splits", nargs="+", default=["train", "test"], choices=["train", "test"],
                        help="which splits collect renders (e.g. only test, to re-measure after generator fixes)")
    parser.add_argument("--no-perception", action="store_true",
                        help="collect only the ground-truth + noise cues (no MediaPipe run; several times faster)")
    parser.add_argument("--composite-cache", default=None,
                        help="fit / cv-composite: cache of collect-composite whose clips join the fit")
    parser.add_argument("--composite-for", nargs="*", default=["contact", "patterns"], choices=["contact", "patterns"],
                        help="fit / cv-composite: which model learns from the composite clips (none: the shipped models)")
    parser.add_argument("--composite-seeds", type=int, nargs="+", default=[1000, 1001],
                        help="collect-composite: the seeds of the clips (the composite gallery, a test set, uses 0..53)")
    parser.add_argument("--patterns", nargs="+", default=None, choices=PATTERN_NAMES,
                        help="collect-composite: only these patterns (default all 18)")
    parser.add_argument("--portraits", nargs="+", default=None,
                        help="collect-composite: only the portraits of these names (default all: astronaut, grace_hopper, "
                             "obama)")
    parser.add_argument("--fps", type=float, default=25.0, help="collect-composite: frame rate of the clips")
    parser.add_argument("--shard", default="0/1", help="i/n: this process collects every n-th clip from i")
    parser.add_argument("--hover-weight", type=float, default=1.0,
                        help="weight of the synthetic hover false-positive rate when choosing the contact thresholds")
    parser.add_argument("--keep-contact", action="store_true",
                        help="fit: keep the contact model in --contact-out, refit only the pattern recogniser")
    parser.add_argument("--pattern-mp", action="store_true",
                        help="fit: the recogniser also learns from the MediaPipe-cue train clips of --cache")
    parser.add_argument("--exact-episodes-only", action="store_true",
                        help="fit: synthetic pattern rows from the exact contact only, not from detected episodes")
    parser.add_argument("--decision", default="pattern", choices=DECISIONS,
                        help="fit: how the recogniser reads its probabilities (patterns.decide): the most probable "
                             "class, or the most probable family against `other`, then its most probable pattern")
    parser.add_argument("--episodes", default="core", choices=EPISODES,
                        help="fit / cv-patterns / cv-family: the recogniser learns the detected episodes over their touch "
                             "core (patterns.touch_core) or over the detected runs (the earlier fit)")
    parser.add_argument("--decisions", nargs="+", default=list(DECISIONS), choices=DECISIONS,
                        help="cv-family: the decisions to compare")
    parser.add_argument("--png", default=None, help="where evaluate / evaluate-real draw the confusion picture")
    parser.add_argument("--contact-out", type=Path, default=CONTACT_MODEL_FILE)
    parser.add_argument("--pattern-out", type=Path, default=PATTERN_MODEL_FILE)
    args = parser.parse_args(argv)
    {"collect": collect, "collect-composite": collect_composite, "collect-real": collect_real, "fit": fit, "cv-patterns": cross_validate_patterns,
     "cv-composite": cross_validate_composite, "cv-family": cross_validate_family, "evaluate": evaluate,
     "evaluate-real": evaluate_real, "episode-bounds": episode_bounds}[args.command](args)


if __name__ == "__main__":
    main()
