"""Anatomy metrics on real footage: annotate a real video, then evaluate it with re-detection."""

from __future__ import annotations

import pytest

from interanimate.data.annotate import AnnotateConfig, run_annotate
from interanimate.evaluation.redetect import AnnotatorRedetector
from interanimate.evaluation.runner import EvaluateConfig, evaluate


@pytest.mark.slow
def test_redetection_agrees_with_the_labels_of_annotated_real_footage(opencv_media, tmp_path):
    dataset = tmp_path / "megamind"
    run_annotate([opencv_media / "Megamind.avi"], dataset, AnnotateConfig(), progress=False)
    result = evaluate(dataset, dataset, EvaluateConfig(metrics=("anatomy",), max_clips=1),
                      redetector=AnnotatorRedetector(), progress=False)
    anatomy = next(iter(result.per_clip.values()))["anatomy"]
    # The labels came from the same perception on the original video; re-detection on the stored
    # (re-encoded) clip must find the same face closely.
    assert anatomy["face_nme"]["nme"] < 0.05
    assert result.summary["face NME"] < 0.05
