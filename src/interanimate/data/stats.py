"""``interanimate data stats``: what a dataset holds, as a table and a PNG chart."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from interanimate.data.annotations import AnnotationFormatError, read_npz_arrays
from interanimate.data.images import figure_png
from interanimate.data.io import atomic_write_bytes
from interanimate.data.manifest import DatasetFormatError, check_dataset_root, clip_file, read_manifest
from interanimate.taxonomy import PATTERN_NAMES, get_pattern


@dataclass
class DatasetStats:
    num_clips: int = 0
    num_subjects: int = 0
    num_frames: int = 0
    per_pattern: dict[str, int] = field(default_factory=dict)
    per_family: dict[str, int] = field(default_factory=dict)
    per_split: dict[str, int] = field(default_factory=dict)
    subjects_per_split: dict[str, int] = field(default_factory=dict)
    clips_per_subject: dict[str, int] = field(default_factory=dict)
    contact_fraction_per_pattern: dict[str, float] = field(default_factory=dict)
    contact_fraction: float = 0.0
    clip_lengths: list[int] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        data = dict(self.__dict__)
        data["clip_length"] = {"min": min(self.clip_lengths, default=0), "max": max(self.clip_lengths, default=0),
                               "mean": float(np.mean(self.clip_lengths)) if self.clip_lengths else 0.0}
        data.pop("clip_lengths")
        return json.dumps(data, indent=2, sort_keys=True)


def compute_stats(root: Path) -> DatasetStats:
    """Counts per pattern / family / split / subject, contact-frame fractions and clip lengths.

    Clips whose annotation file cannot be read are listed in ``unreadable`` and left out of the
    contact fractions; everything else is still counted.
    """
    root = check_dataset_root(root)
    records = read_manifest(root)
    stats = DatasetStats(num_clips=len(records))
    contact_frames: Counter[str] = Counter()
    total_frames: Counter[str] = Counter()
    split_subjects: dict[str, set[str]] = {}
    for r in records:
        pattern = r.pattern or "unlabelled"
        family = get_pattern(r.pattern).family if r.pattern in PATTERN_NAMES else "unlabelled"
        stats.per_pattern[pattern] = stats.per_pattern.get(pattern, 0) + 1
        stats.per_family[family] = stats.per_family.get(family, 0) + 1
        split = r.split or "unassigned"
        stats.per_split[split] = stats.per_split.get(split, 0) + 1
        split_subjects.setdefault(split, set()).add(r.subject_id)
        stats.clips_per_subject[r.subject_id] = stats.clips_per_subject.get(r.subject_id, 0) + 1
        stats.clip_lengths.append(r.num_frames)
        stats.num_frames += r.num_frames
        try:
            arrays = read_npz_arrays(clip_file(root, r, "annotations"))
            contact = arrays["contact"].any(axis=1)
        except (AnnotationFormatError, KeyError, FileNotFoundError, DatasetFormatError):
            stats.unreadable.append(r.clip_id)
            continue
        contact_frames[pattern] += int(contact.sum())
        total_frames[pattern] += len(contact)
    stats.num_subjects = len(stats.clips_per_subject)
    stats.subjects_per_split = {k: len(v) for k, v in sorted(split_subjects.items())}
    stats.contact_fraction_per_pattern = {p: contact_frames[p] / total_frames[p] for p in sorted(total_frames)}
    stats.contact_fraction = sum(contact_frames.values()) / max(1, sum(total_frames.values()))
    order = {name: i for i, name in enumerate(PATTERN_NAMES)}
    stats.per_pattern = dict(sorted(stats.per_pattern.items(), key=lambda kv: order.get(kv[0], 99)))
    return stats


def format_table(stats: DatasetStats) -> str:
    lines = [f"clips {stats.num_clips}   subjects {stats.num_subjects}   frames {stats.num_frames}   "
             f"contact frames {stats.contact_fraction:.1%}"]
    splits = ", ".join(f"{k} {v} clips / {stats.subjects_per_split.get(k, 0)} subjects" for k, v in stats.per_split.items())
    lines.append(f"splits: {splits}")
    lengths = stats.clip_lengths or [0]
    lines.append(f"clip length (frames): min {min(lengths)}, mean {np.mean(lengths):.1f}, max {max(lengths)}")
    per_subject = list(stats.clips_per_subject.values()) or [0]
    lines.append(f"clips per subject: min {min(per_subject)}, mean {np.mean(per_subject):.1f}, max {max(per_subject)}")
    lines.append("")
    lines.append(f"{'pattern':<28}{'family':<12}{'clips':>7}{'contact':>10}")
    lines.append("-" * 57)
    for pattern, count in stats.per_pattern.items():
        family = get_pattern(pattern).family if pattern in PATTERN_NAMES else "-"
        fraction = stats.contact_fraction_per_pattern.get(pattern)
        shown = f"{fraction:.1%}" if fraction is not None else "n/a"
        lines.append(f"{pattern:<28}{family:<12}{count:>7}{shown:>10}")
    lines.append("-" * 57)
    lines.append("families: " + ", ".join(f"{k} {v}" for k, v in stats.per_family.items()))
    if stats.unreadable:
        lines.append(f"unreadable annotation files: {len(stats.unreadable)} ({', '.join(stats.unreadable[:5])}"
                     f"{' ...' if len(stats.unreadable) > 5 else ''})")
    return "\n".join(lines)


def plot_stats(stats: DatasetStats, path: Path) -> Path:
    """Save a four-panel chart: clips per pattern, contact fraction per pattern, splits, clip lengths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from interanimate.taxonomy import FAMILIES

    colours = dict(zip(FAMILIES + ("unlabelled",), ("#d1495b", "#edae49", "#00798c", "#30638e", "#888888")))
    names = list(stats.per_pattern)
    fam = [get_pattern(n).family if n in PATTERN_NAMES else "unlabelled" for n in names]
    fig, axes = plt.subplots(2, 2, figsize=(13, 8.5), gridspec_kw={"height_ratios": [3, 2]})
    ax = axes[0, 0]
    ax.barh(names, [stats.per_pattern[n] for n in names], color=[colours[f] for f in fam])
    ax.invert_yaxis()
    ax.set_title("clips per pattern (colour = family)")
    ax.set_xlabel("clips")
    ax = axes[0, 1]
    ax.barh(names, [100 * stats.contact_fraction_per_pattern.get(n, 0) for n in names], color=[colours[f] for f in fam])
    ax.invert_yaxis()
    ax.set_title("frames in contact per pattern")
    ax.set_xlabel("% of frames")
    ax = axes[1, 0]
    splits = list(stats.per_split)
    x = np.arange(len(splits))
    ax.bar(x - 0.2, [stats.per_split[s] for s in splits], 0.4, label="clips", color="#30638e")
    ax2 = ax.twinx()
    ax2.bar(x + 0.2, [stats.subjects_per_split.get(s, 0) for s in splits], 0.4, label="subjects", color="#edae49")
    ax.set_xticks(x, splits)
    ax.set_ylabel("clips")
    ax2.set_ylabel("subjects")
    ax.set_title("split sizes (clips blue, subjects yellow)")
    ax = axes[1, 1]
    ax.hist(stats.clip_lengths, bins=min(30, max(1, len(set(stats.clip_lengths)))), color="#00798c")
    ax.set_title("clip length")
    ax.set_xlabel("frames")
    ax.set_ylabel("clips")
    fig.suptitle(f"{stats.num_clips} clips, {stats.num_subjects} subjects, {stats.contact_fraction:.0%} contact frames")
    fig.tight_layout()
    path = chart_path(path)
    atomic_write_bytes(path, figure_png(fig, dpi=110))
    return path


def chart_path(path: Path) -> Path:
    """Where a chart asked for at ``path`` goes: ``path/stats.png`` for a folder, else ``path`` with ``.png``."""
    path = Path(path)
    if path.is_dir():
        return path / "stats.png"
    return path if path.suffix.lower() == ".png" else path.with_name(path.name + ".png")
