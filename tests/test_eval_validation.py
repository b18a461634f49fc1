"""Every metric separates a known-good input from a known-bad one (the validation table's checks)."""

from __future__ import annotations

import pytest

from interanimate.evaluation import validation


QUICK = [g for g in validation.CHECKS if g not in ("identity", "frechet")]


def _assert_separates(rows):
    assert rows and any(r.asserted for r in rows)
    failed = [f"{r.metric}: good {r.good_input} = {r.good:.4g}, bad {r.bad_input} = {r.bad:.4g} (margin {r.margin})"
              for r in rows if r.asserted and not r.separates]
    assert not failed, "; ".join(failed)


@pytest.mark.parametrize("group", QUICK)
def test_every_metric_separates_good_from_bad(group):
    _assert_separates(validation.CHECKS[group]())


def test_identity_separates_the_person_from_other_people():
    """The astronaut's variants against Grace Hopper and 12 LFW faces (the full table uses 100)."""
    _assert_separates(validation.identity_checks(num_lfw=12))


@pytest.mark.slow
@pytest.mark.parametrize("group", ["identity", "frechet"])
def test_face_metrics_separate_good_from_bad_on_the_full_sets(group):
    _assert_separates(validation.CHECKS[group]())


def test_identity_decides_like_face_recognition_and_cosine_would_not():
    rows = {r.metric: r for r in validation.identity_checks(num_lfw=12)}
    distance, rate = rows["identity distance (dlib)"], rows["same-person rate (dlib, d < 0.6)"]
    # Same person under dlib's threshold, other people over it, as the decision rule requires.
    assert distance.good < 0.6 < distance.bad
    assert rate.good >= 0.9 and rate.bad <= 0.05
    # The cosine of dlib's uncentred descriptors stays high for strangers: why it is not the score.
    assert rows["cosine of dlib descriptors (not used)"].bad > 0.8


def test_lenient_pck_and_own_flow_temporal_metrics_are_shown_as_blind_spots():
    """PCK@0.2 accepts a 10 % shift and the video's own flow explains a shuffle: the table says so."""
    pck = next(r for r in validation.anatomy_checks() if r.metric == "hand PCK (@0.2)")
    assert not pck.asserted and not pck.separates
    own = [r for r in validation.temporal_checks() if "own flow" in r.metric]
    assert own and not any(r.asserted for r in own)


def test_table_prints_every_check_and_the_command_exits_cleanly(capsys):
    assert validation.main(["--groups", "pixel", "anatomy"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + len(validation.pixel_checks()) + len(validation.anatomy_checks())
    assert "| SSIM (frame) | higher |" in out
