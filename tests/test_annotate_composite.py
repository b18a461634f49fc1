"""Composite clips as fitting data for the annotator's models: ``fit_annotate_models.py collect-composite``."""

from __future__ import annotations

import numpy as np
from project_tools import load_tool

from interanimate.data.annotate.calibration import COMPOSITE_SUBJECT, load_clips, synthetic_pattern_rows
from interanimate.data.annotate.contact import ContactModel


def test_collect_composite_caches_exact_labels_and_mediapipe_cues_of_a_real_face(tmp_path):
    tool = load_tool("fit_annotate_models")
    argv = ["collect-composite", "--cache", str(tmp_path), "--size", "256", "--frames", "20", "--composite-seeds", "1000",
            "--patterns", "poke_cheek_left", "--portraits", "astronaut"]
    tool.main(argv)
    files = sorted(tmp_path.glob("train-*.npz"))
    assert [f.name for f in files] == ["train-comp-astronaut-poke_cheek_left-s1000.npz"]

    (clip,) = load_clips(tmp_path, "train", "mp")
    assert (clip.pattern, clip.portrait, clip.seed, clip.subject) == ("poke_cheek_left", "astronaut", 1000,
                                                                      COMPOSITE_SUBJECT)  # the first portrait
    assert not clip.hover and clip.size == 256 and clip.gt_contact.shape == (20, 2)
    touching = clip.gt_contact.any(axis=1)
    assert touching.any() and not touching.all()  # the touch, and approach / retreat frames around it
    assert not (clip.hover_frames & clip.gt_contact).any()  # the hard negatives never touch
    assert clip.face_present.mean() > 0.8  # MediaPipe finds the photo's face in the composite frames
    seen = np.isfinite(clip.features[..., 0])  # cue rows: a hand seen with the face
    assert seen.any() and (seen & clip.gt_contact).any()

    # The rows the recogniser's fit reads from it: exact episodes labelled with the clip's pattern, grouped by portrait.
    rows, labels, groups = synthetic_pattern_rows([clip], ContactModel(), detected=False)
    assert rows and "poke_cheek_left" in labels and set(groups) == {COMPOSITE_SUBJECT}

    # A re-run skips the finished clip (resume by re-running the same command).
    before = files[0].stat().st_mtime_ns
    tool.main(argv)
    assert files[0].stat().st_mtime_ns == before
