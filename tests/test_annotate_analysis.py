"""``analyse``: the annotator's one analysis of a video, on rendered clips whose true labels are known."""

from __future__ import annotations

import numpy as np
import pytest

from interanimate.data.annotate import (RejectedInput, analyse, counted_hands, keypoint_annotations)
from interanimate.data.io import encode_video
from interanimate.data.synth import ClipSpec, render_clip

PATTERN = "stroke_cheek_right"
FPS = 25.0


@pytest.fixture(scope="module")
def clip():
    return render_clip(ClipSpec(seed=0, subject_index=0, pattern=PATTERN, num_frames=32, size=256))


@pytest.fixture(scope="module")
def analysis(clip):
    return analyse(clip.frames, FPS)


def test_tracks_follow_the_rendered_face(clip, analysis):
    truth = clip.annotations
    assert analysis.num_frames == 32 and (analysis.width, analysis.height) == (256, 256)
    both = analysis.tracks.face_present & truth.face_present
    assert both.mean() > 0.9
    error = np.linalg.norm(analysis.tracks.landmarks[both] - truth.face_keypoints[both], axis=-1).mean(axis=-1)
    assert np.median(error / analysis.face.iod[both]) < 0.1  # landmarks within a tenth of the eye distance
    assert np.allclose(analysis.face.origin[both], analysis.tracks.landmarks[both, 36:48].mean(axis=1), atol=1e-6)


def test_contact_and_pattern_match_the_performance(clip, analysis):
    truth = clip.annotations
    side = ("left", "right").index(clip.record.extra["dominant_hand"])
    found = analysis.contact.contact[:, side]
    assert found.any() and not analysis.contact.contact[:, 1 - side].any()
    assert (truth.contact[found, side]).mean() > 0.5  # most detected contact frames are true contact frames
    best = analysis.strongest
    assert best is not None and best.hand == side and analysis.pattern == PATTERN
    assert truth.contact[best.start:best.end, side].any()


def test_hand_rule_in_the_videos_image(analysis):
    hands, present = analysis.hand_keypoints()
    assert present.any() and (present <= analysis.tracks.hand_present).all()
    counted = hands[..., 2] > 0
    xy = hands[..., :2]
    assert ((xy[counted] >= 0) & (xy[counted] <= 256)).all()  # a counted point lies in the image
    assert np.isnan(xy[~present]).all() and np.isfinite(xy[present]).all()
    assert (hands[..., 2][present] <= 1.0).all() and (hands[..., 2][counted] >= 0.05).all()


def test_a_video_file_gives_the_same_subject_and_pattern(clip, analysis, tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(encode_video(clip.frames, FPS))
    from_file = analyse(path)
    assert from_file.video is not None and from_file.video.num_frames == 32
    assert from_file.pattern == analysis.pattern
    assert abs(int(from_file.contact.contact.sum()) - int(analysis.contact.contact.sum())) <= 3
    first = analyse(path, max_frames=12)
    assert first.num_frames == 12


def test_mirrored_video_keeps_the_subjects_hand(clip, analysis):
    mirrored = analyse(np.ascontiguousarray(clip.frames[:, :, ::-1]), FPS, mirrored=True)
    assert (mirrored.contact.contact.any(axis=0) == analysis.contact.contact.any(axis=0)).all()


def test_nothing_to_analyse_is_a_clear_rejection(tmp_path):
    noise = np.random.default_rng(0).integers(0, 255, (10, 64, 64, 3), dtype=np.uint8)
    with pytest.raises(RejectedInput) as info:
        analyse(noise, FPS)
    assert info.value.reason == "no_face"
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 1000)
    with pytest.raises(RejectedInput) as info:
        analyse(junk)
    assert info.value.reason == "not_a_video"
    with pytest.raises(ValueError, match="fps"):
        analyse(noise)
    with pytest.raises(ValueError, match="uint8"):
        analyse(noise.astype(np.float32), FPS)


def test_counted_hands_rule():
    points = np.full((2, 2, 21, 2), 50.0)
    points[0, 1] = -5.0  # frame 0: the right hand entirely left of the image
    points[1, 0, :10, 0] = 120.0  # frame 1: half of the left hand right of a 100 px image
    present = np.ones((2, 2), bool)
    present[1, 1] = False
    hands, counted = counted_hands(points, present, np.full((2, 2, 1), 0.8), 100, 100)
    assert counted.tolist() == [[True, False], [True, False]]
    assert np.isnan(hands[0, 1, :, :2]).all() and (hands[0, 1, :, 2] == 0).all()
    assert (hands[1, 0, :10, 2] == 0).all() and (hands[1, 0, 10:, 2] == 0.8).all()
    assert np.isfinite(hands[1, 0, :, :2]).all()  # a counted hand keeps the positions of its unseen points


def test_keypoint_masks_agree_with_the_keypoints_and_the_renderer(clip):
    truth = clip.annotations
    hands, present = counted_hands(truth.hand_keypoints, truth.hand_present, truth.hand_keypoints[..., 2], 256, 256)
    ann = keypoint_annotations(truth.face_keypoints, truth.face_present, truth.face_confidence, hands, present,
                               truth.contact, truth.contact_point, truth.contact_region, 256, 256, pattern=PATTERN)
    for f, h in zip(*np.nonzero(present)):
        seen = ann.hand_keypoints[f, h, :, 2] > 0
        xy = np.clip(np.floor(ann.hand_keypoints[f, h, seen, :2]).astype(int), 0, 255)
        mask = ann.mask(("hand_left", "hand_right")[h])[f]
        assert mask[xy[:, 1], xy[:, 0]].all()  # every counted keypoint lies in its hand's mask
        rendered = truth.mask(("hand_left", "hand_right")[h])[f]
        if rendered.sum() > 200:
            assert (mask & rendered).sum() / (mask | rendered).sum() > 0.4  # the drawn hand covers the rendered one
    hand_any = ann.mask("hand_left") | ann.mask("hand_right")
    assert not (ann.mask("face") & hand_any).any()
    for f, h in zip(*np.nonzero(ann.contact)):
        x, y = np.floor(ann.contact_point[f, h]).astype(int)
        assert ann.mask("contact")[f, y, x]
    assert ann.contact_segments.size and ann.pattern_id >= 0


def test_report_gives_the_cpu_time_of_every_stage(clip, tmp_path):
    import time

    path = tmp_path / "clip.mp4"
    path.write_bytes(encode_video(clip.frames, FPS))
    report: dict = {}
    started = time.process_time()
    analyse(path, report=report)
    spent = time.process_time() - started
    cpu = report["cpu"]
    assert set(cpu) == {"decode", "perception", "post", "clean", "contact", "patterns"}
    assert all(v >= 0.0 for v in cpu.values()) and cpu["perception"] > 0.0
    assert cpu["post"] == pytest.approx(cpu["clean"] + cpu["contact"] + cpu["patterns"])
    assert cpu["decode"] + cpu["perception"] + cpu["post"] <= spent + 1e-3  # parts of this process's CPU time
