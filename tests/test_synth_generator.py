"""Behavioural tests of the procedural hand-face generator: contact, regions, physics, labels, determinism."""

from __future__ import annotations

import argparse
import os

import numpy as np
import pytest
from scipy.ndimage import binary_dilation

from interanimate.data import schema
from interanimate.data.face_frame import from_landmark_frame, to_landmark_frame
from interanimate.data.synth.generator import ClipSpec, render_clip, subject_for
from interanimate.data.synth.hand import POSE_LIMITS, POSES, HandModel
from interanimate.data.synth.head import HeadModel
from interanimate.data.synth.physics import DEFAULT_TOLERANCE_MM, ContactSolver, apply_kernels, dent_kernel
from interanimate.taxonomy import FACE_REGIONS, PATTERNS

FRAMES, SIZE = 16, 64
# Penetration is resolved to DEFAULT_TOLERANCE_MM; the test allows float16/rounding slack only.
PENETRATION_LIMIT_MM = DEFAULT_TOLERANCE_MM + 1e-3


@pytest.fixture(scope="module")
def clips():
    return {p.name: render_clip(ClipSpec(7, 0, p.name, 0, FRAMES, SIZE), keep_plan=True) for p in PATTERNS}


def _region_ok(clip, pattern):
    ann = clip.annotations
    touching = ann.contact.any(1)
    regions = ann.contact_region.max(1)[touching]
    return touching.any() and np.mean(regions == pattern.region_id) >= 0.5


def _contact_problems(clip, pattern) -> list[str]:
    ann = clip.annotations
    touching = ann.contact.any(1)
    if not touching.any():
        return ["the hand never touches the face"]
    problems = []
    c0, c1 = clip.plan.contact_window()
    frames = np.arange(FRAMES)
    # Contact only while the plan is in its contact/action phases (one frame of slack for landing).
    if (touching & ((frames < c0 - 1) | (frames > c1 + 1))).any():
        problems.append("contact outside the planned contact phase")
    if touching[c0:c1 + 1].mean() < 0.4:
        problems.append(f"contact in only {touching[c0:c1 + 1].mean():.0%} of the planned contact frames")
    if (ann.contact_region[touching].max(1) < 0).any():
        problems.append("contact without a region")
    if not _region_ok(clip, pattern):
        problems.append(f"regions {[FACE_REGIONS[r] for r in ann.contact_region.max(1)[touching]]}")
    return problems


@pytest.mark.parametrize("pattern", PATTERNS, ids=[p.name for p in PATTERNS])
def test_contact_happens_in_named_region_during_planned_phase(clips, pattern):
    problems = _contact_problems(clips[pattern.name], pattern)
    assert not problems, problems


@pytest.mark.parametrize("pattern", PATTERNS, ids=[p.name for p in PATTERNS])
def test_penetration_resolved_and_deformation_local(clips, pattern):
    ann = clips[pattern.name].annotations
    assert ann.penetration.max() <= PENETRATION_LIMIT_MM
    touching = np.nonzero(ann.contact.any(1))[0]
    any_near = False
    for f in touching:
        h = int(np.nonzero(ann.contact[f])[0][0])
        x, y = ann.contact_point[f, h]
        yy, xx = np.mgrid[0:SIZE, 0:SIZE] + 0.5
        dist = np.hypot(xx - x, yy - y)
        deformation = ann.deformation[f]
        # Far from the hand (> 25 % of the frame, about 60 mm here) the skin is untouched.
        from scipy.ndimage import distance_transform_edt

        to_hand = distance_transform_edt(~ann.masks[f, 1 + h])
        assert np.all(deformation[(dist > 0.25 * SIZE) & (to_hand > 0.25 * SIZE)] == 0.0)
        near = dist < 0.2 * SIZE
        # The schema records deformation of *visible* skin; a small dent can lie entirely under the finger.
        hidden = bool(ann.masks[f, 1 + h][min(int(y), SIZE - 1), min(int(x), SIZE - 1)])
        any_near |= bool(np.any(deformation[near] > 0.01)) or hidden
    assert any_near, "no visible skin deformation near any contact point"
    # Frames without any planned contact or drive have no deformation at all.
    plan = clips[pattern.name].plan
    idle = ~plan.expect_contact & ~ann.contact.any(1)
    assert np.all(ann.deformation[idle] == 0.0)


@pytest.mark.parametrize("pattern", PATTERNS[::3], ids=[p.name for p in PATTERNS[::3]])
def test_keypoints_inside_masks_and_contact_mask_consistent(clips, pattern):
    ann = clips[pattern.name].annotations
    structure = np.ones((5, 5), bool)
    for f in range(FRAMES):
        face = binary_dilation(ann.masks[f, 0], structure)
        pts = ann.face_keypoints[f]
        inside = (pts[:, 0] >= 0) & (pts[:, 0] < SIZE) & (pts[:, 1] >= 0) & (pts[:, 1] < SIZE)
        ix, iy = pts[inside, 0].astype(int), pts[inside, 1].astype(int)
        assert face[iy, ix].mean() >= 0.97
        for h in range(2):
            if not ann.hand_present[f, h]:
                assert np.isnan(ann.hand_keypoints[f, h, :, :2]).all() or ann.hand_keypoints[f, h, :, 2].max() == 0
                continue
            hand = binary_dilation(ann.masks[f, 1 + h], structure)
            kp = ann.hand_keypoints[f, h]
            valid = kp[:, 2] > 0
            assert np.all((kp[valid, 0] >= 0) & (kp[valid, 0] <= SIZE) & (kp[valid, 1] >= 0) & (kp[valid, 1] <= SIZE))
            ix = np.clip(kp[valid, 0].astype(int), 0, SIZE - 1)
            iy = np.clip(kp[valid, 1].astype(int), 0, SIZE - 1)
            assert hand[iy, ix].all()
        if ann.contact[f].any():
            assert ann.masks[f, 3].any()
            assert not (ann.masks[f, 3] & ~binary_dilation(ann.masks[f, 0], structure)).any()
        else:
            assert not ann.masks[f, 3].any()
    # Only one hand acts; the other is absent everywhere.
    acting = ann.hand_present.any(0)
    assert acting.sum() == 1
    assert np.isnan(ann.joints_3d[:, ~acting]).all()
    assert np.all(ann.depth[~ann.masks[:, 0] & ~ann.masks[:, 1] & ~ann.masks[:, 2]] >= 0)


def test_annotations_follow_the_schema(clips):
    clip = clips["poke_nose"]
    arrays = clip.annotations.to_arrays()
    sizes = {"F": FRAMES, "H": SIZE, "W": SIZE, "B": schema.packed_mask_bytes(SIZE, SIZE)}
    for spec in schema.ARRAYS:
        if spec.required == "optional":
            continue
        assert spec.name in arrays or spec.name == "masks_packed", spec.name
        shape = schema.expected_shape(spec, sizes)
        if shape is not None and spec.name in arrays:
            assert arrays[spec.name].shape == shape, spec.name
    assert clip.record.source == {"kind": "synthetic", "origin": "interanimate-synth"}
    assert clip.record.extra["dominant_hand"] in ("left", "right")
    assert clip.frames.shape == (FRAMES, SIZE, SIZE, 3) and clip.frames.dtype == np.uint8


def test_generated_dataset_passes_validation(tmp_path):
    """Every pattern, two subjects, an odd frame size: the written dataset has no contract violation.

    Frames where the hand enters or leaves the picture, touches near the hairline or is partly hidden
    behind its own forearm are the cases that used to break presence, region and mask rules.
    """
    from interanimate.data.synth.generator import generate_dataset
    from interanimate.data.validate import validate_dataset

    generate_dataset(tmp_path / "ds", num_subjects=2, clips_per_pattern=1, num_frames=12, size=67, seed=11,
                     progress=False)
    report = validate_dataset(tmp_path / "ds")
    assert report.num_clips == 2 * len(PATTERNS)
    assert report.ok, [str(v) for v in report.violations]


def test_same_seed_same_bytes_and_different_seed_differs():
    a = render_clip(ClipSpec(3, 1, "stroke_jaw", 0, 10, 64))
    b = render_clip(ClipSpec(3, 1, "stroke_jaw", 0, 10, 64))
    c = render_clip(ClipSpec(4, 1, "stroke_jaw", 0, 10, 64))
    assert a.annotations.to_npz_bytes() == b.annotations.to_npz_bytes()
    assert np.array_equal(a.frames, b.frames)
    assert a.record.to_json() == b.record.to_json()
    assert a.annotations.to_npz_bytes() != c.annotations.to_npz_bytes()


def test_dent_profile_matches_indenter_and_vanishes_far_away():
    centre = np.zeros(3)
    normal = np.array([0.0, 0.0, -1.0])
    kernel = dent_kernel(centre, normal, delta=0.004, rho=0.008, tissue=0.008)[None]
    s = np.linspace(0, 0.08, 400)
    points = np.stack([s, np.zeros_like(s), np.zeros_like(s)], 1)
    disp = np.zeros_like(points)
    contact = np.zeros(len(s))
    apply_kernels(points, kernel, disp, contact)
    depth = disp[:, 2]  # pushed along +z (into the head)
    assert depth[0] == pytest.approx(0.004)
    assert np.all(np.diff(depth) <= 1e-12), "indentation must fall off monotonically"
    # The skin never rises into a sphere of the indenter's radius pressed to that depth.
    sphere = 0.004 - 0.008 + np.sqrt(np.clip(0.008 ** 2 - s ** 2, 0, None))
    assert np.all(depth[s < 0.008] >= sphere[s < 0.008] - 1e-9)
    assert np.all(depth[s > kernel[0, 15]] == 0.0)
    assert contact[0] == 1.0 and contact[-1] == 0.0


def test_solver_pushes_hand_out_of_bony_forehead():
    head = HeadModel(subject_for(0, 0), 60, 84)
    a, y = head.region_anchor("forehead")
    point = head.surface_points(np.array([a]), np.array([y]))[0]
    normal = head.surface_normals(np.array([a]), np.array([y]))[0]
    # A fingertip sphere driven 8 mm into a forehead that yields only 2 mm.
    sphere = np.array([[*(point + normal * (0.007 - 0.008)), 0.007, 1]])
    result = ContactSolver(head).solve(sphere, np.zeros((0, 16)))
    assert result.num_dents == 1
    assert result.penetration_mm <= DEFAULT_TOLERANCE_MM
    assert np.linalg.norm(result.offset) == pytest.approx(0.006, abs=0.0015)
    assert result.touching.all()


def test_hand_kinematics_limits_and_mirroring():
    subject = subject_for(0, 2)
    right, left = HandModel(subject, "right"), HandModel(subject, "left")
    pose = POSES["point"]
    jr, jl = right.joints_local(pose), left.joints_local(pose)
    assert np.allclose(jl * [-1, 1, 1], jr)
    # Bone lengths do not depend on the pose.
    bones = np.array(schema.HAND_BONES[:20])
    lengths = lambda j: np.linalg.norm(j[bones[:, 1]] - j[bones[:, 0]], axis=1)  # noqa: E731
    assert np.allclose(lengths(jr), lengths(right.joints_local(POSES["flat"])))
    # Limits: an impossible pose is clamped.
    wild = np.full(len(pose), 3.0)
    assert np.allclose(right.joints_local(wild), right.joints_local(POSE_LIMITS[:, 1]))
    # A pointing hand has the index extended and the middle finger curled.
    assert np.linalg.norm(jr[8] - jr[0]) > np.linalg.norm(jr[12] - jr[0]) + 0.03


def test_landmarks_and_regions_are_anatomically_placed():
    head = HeadModel(subject_for(1, 0), 60, 84)
    lm = head.surface_points(*head.landmark_material().T)
    assert lm[0, 0] < 0 < lm[16, 0]                      # jaw runs from the subject's right to left
    assert lm[36:42, 0].mean() < 0 < lm[42:48, 0].mean()  # iBUG 36-41 is the subject's right eye
    assert lm[30, 2] < lm[27, 2]                         # the nose tip sticks out toward the camera
    assert lm[8, 1] > lm[57, 1] > lm[33, 1] > lm[27, 1]  # chin below mouth below nose below bridge
    for region in FACE_REGIONS:
        a, y = head.region_anchor(region)
        assert FACE_REGIONS[head.regions(np.array([a]), np.array([y]))[0]] == region
    # Re-expressing points in the landmark frame and back is exact.
    pts = np.random.default_rng(0).normal(size=(5, 3)) * 0.05
    assert np.allclose(from_landmark_frame(to_landmark_frame(pts, lm), lm), pts)


def _args(tmp_path, **kw):
    from interanimate.data.synth.command import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    argv = ["--out", str(kw.pop("out", tmp_path / "ds"))]
    for key, value in kw.items():
        argv += [f"--{key.replace('_', '-')}"] + (value if isinstance(value, list) else [str(value)])
    return parser.parse_args(argv)


@pytest.mark.parametrize("bad, message", [
    ({"patterns": ["poke_cheeck_left"]}, "did you mean"),
    ({"size": 0}, "--size"),
    ({"subjects": -1}, "--subjects"),
    ({"clips_per_pattern": 0}, "--clips-per-pattern"),
    ({"frames": 3}, "--frames"),
    ({"workers": 0}, "--workers"),
])
def test_bad_arguments_give_one_line_error(tmp_path, capsys, bad, message):
    from interanimate.data.synth.command import run

    with pytest.raises(SystemExit) as err:
        run(_args(tmp_path, **bad))
    assert err.value.code != 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_unwritable_output_is_a_clear_error(tmp_path, capsys):
    from interanimate.data.synth.command import run

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SystemExit):
        run(_args(tmp_path, out=blocker / "ds"))
    assert "--out" in capsys.readouterr().err
    if os.geteuid() != 0:  # root can write anywhere
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        with pytest.raises(SystemExit):
            run(_args(tmp_path, out=locked / "ds"))
        locked.chmod(0o700)


def test_command_writes_resumable_dataset_with_preview(tmp_path, capsys):
    from interanimate.data.manifest import read_card, read_manifest
    from interanimate.data.synth.command import run

    out = tmp_path / "ds"
    assert run(_args(tmp_path, out=out, subjects=2, frames=8, size=64, patterns=["poke_nose", "swipe"])) == 0
    records = read_manifest(out)
    assert len(records) == 2 * 6
    splits = {}
    for r in records:
        splits.setdefault(r.subject_id, set()).add(r.split)
    assert all(len(s) == 1 for s in splits.values())
    before = {r.clip_id: r.files["annotations"]["sha256"] for r in records}
    # Resume: a deleted clip is re-rendered identically, the others are skipped.
    import shutil

    victim = sorted(before)[3]
    shutil.rmtree(out / "clips" / victim)
    args = _args(tmp_path, out=out, subjects=2, frames=8, size=64, patterns=["poke_nose", "swipe"])
    args.preview = True
    assert run(args) == 0
    after = {r.clip_id: r.files["annotations"]["sha256"] for r in read_manifest(out)}
    assert after == before
    assert (out / "preview.png").stat().st_size > 1000
    assert read_card(out)["counts"]["clips"] == 12
    assert "resumed" in capsys.readouterr().out


def test_hover_clips_bring_the_hand_close_without_touching():
    """A hand-near-face negative: the same performance held in front of the face, never in contact."""
    from interanimate.data.synth import ClipSpec, render_clip

    touching = render_clip(ClipSpec(seed=3, subject_index=0, pattern="poke_cheek_left", num_frames=24, size=96))
    hover = render_clip(ClipSpec(seed=3, subject_index=0, pattern="poke_cheek_left", num_frames=24, size=96,
                                 hover_offset_m=0.04))
    assert touching.annotations.contact.any()
    assert not hover.annotations.contact.any() and not hover.annotations.masks[:, 3].any()
    assert (hover.annotations.penetration == 0).all() and float(hover.annotations.deformation.max()) == 0.0
    assert hover.record.pattern is None and hover.annotations.pattern_id == -1
    assert hover.record.extra["mimed_pattern"] == "poke_cheek_left"
    # The hand really is in front of the face: fingertips project inside the face box during the action.
    ann = hover.annotations
    side = int(np.flatnonzero(ann.hand_present.any(axis=0))[0])
    tips = ann.hand_keypoints[:, side, 8, :2]
    boxes = ann.face_box
    inside = ((tips[:, 0] > boxes[:, 0]) & (tips[:, 0] < boxes[:, 2]) & (tips[:, 1] > boxes[:, 1])
              & (tips[:, 1] < boxes[:, 3]))
    assert inside.sum() >= 5


def _assert_same_performance(planned, rendered):
    assert planned.record == rendered.record
    for name in ("contact", "contact_point", "contact_region", "penetration"):
        a, b = getattr(planned, name), getattr(rendered.annotations, name)
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), name
    for name, value in vars(rendered.plan).items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(getattr(planned.plan, name), value, err_msg=name)


def test_plan_clip_is_render_clip_without_pixels(clips):
    """``plan_clip`` (no shading, no rasterising) gives the rendered clip's record, plan and contact labels."""
    from interanimate.data.synth import plan_clip

    for pattern in PATTERNS:
        _assert_same_performance(plan_clip(ClipSpec(7, 0, pattern.name, 0, FRAMES, SIZE)), clips[pattern.name])
    assert sum(int(c.annotations.contact.sum()) for c in clips.values()) > 5 * len(PATTERNS)
    # The composite's actor size, and a hovering hand (no contact, same choreography moved off the face).
    for spec in (ClipSpec(2, 1, "pinch_chin", 3, 12, 128), ClipSpec(3, 0, "poke_cheek_left", 0, 12, 96,
                                                                    hover_offset_m=0.04)):
        _assert_same_performance(plan_clip(spec), render_clip(spec, keep_plan=True))
