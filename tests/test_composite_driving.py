"""Driving videos through the composite renderer: the hand model posed by inverse kinematics on 21 keypoints."""

from __future__ import annotations

import numpy as np
import pytest

skimage_data = pytest.importorskip("skimage.data")

from conftest import COMPOSITE_FRAMES as FRAMES, COMPOSITE_SIZE as SIZE


@pytest.fixture(scope="module")
def hands():
    from interanimate.data.synth.generator import subject_models

    return subject_models(0, 0, 128)[2]


@pytest.fixture(scope="module")
def camera():
    from interanimate.data.synth.render import Camera

    return Camera(fx=600.0, fy=600.0, cx=256.0, cy=256.0, width=512, height=512)


def _random_params(rng, ik):
    from interanimate.data.synth.hand import POSE_LIMITS

    lo, hi = POSE_LIMITS[:, 0], POSE_LIMITS[:, 1]
    pose = lo + (hi - lo) * rng.uniform(0.2, 0.8, len(lo))
    return np.concatenate([pose, rng.normal(0.0, 0.8, 3), [0.02, 0.03, 0.45]])


@pytest.mark.parametrize("side", ["left", "right"])
def test_ik_recovers_the_pose_that_made_the_keypoints(hands, camera, side):
    from interanimate.render.composite.ik import HandIK

    ik = HandIK(hands[side], camera)
    rng = np.random.default_rng(1)
    for _ in range(2):
        truth = _random_params(rng, ik)
        fit = ik.fit(camera.project(ik.joints(truth)))  # cold start: rigid PnP, then the full solve
        assert fit.rms_px < 0.5
        assert np.abs(fit.joints - ik.joints(truth)).max() < 3e-3  # metres
        assert np.degrees(np.median(np.abs(fit.pose - truth[:20]))) < 1.5


def test_ik_tracks_a_moving_hand_frame_to_frame(hands, camera):
    from interanimate.render.composite.ik import HandIK

    ik = HandIK(hands["right"], camera, scale=1.1)
    rng = np.random.default_rng(4)
    start, end = _random_params(rng, ik), _random_params(rng, ik)
    end[20:23] = start[20:23] + 0.4  # a turn of the whole hand
    end[23:] = start[23:] + [0.05, -0.03, 0.04]
    history, errors = [], []
    for t in np.linspace(0.0, 1.0, 8):
        truth = (1 - t) * start + t * end
        history = history[-1:] + [ik.fit(camera.project(ik.joints(truth)), prior=ik.predict(history))]
        errors.append(np.abs(np.degrees(history[-1].pose - truth[:20])).mean())
        assert history[-1].rms_px < 1.0
    assert max(errors) < 3.0, errors


def test_ik_respects_joint_limits_and_point_hints(hands, camera):
    from interanimate.data.synth.hand import POSE_LIMITS
    from interanimate.render.composite.ik import HandIK

    ik = HandIK(hands["right"], camera)
    truth = _random_params(np.random.default_rng(2), ik)
    keypoints = camera.project(ik.joints(truth))
    keypoints[8] += 40.0  # a keypoint no pose within the limits can reach exactly
    fit = ik.fit(keypoints)
    assert (fit.pose >= POSE_LIMITS[:, 0] - 1e-9).all() and (fit.pose <= POSE_LIMITS[:, 1] + 1e-9).all()
    tip = ik.joints(truth)[8]
    behind = tip * (1.0 + 0.02 / tip[2])  # 2 cm further along the same pixel's ray
    hinted = ik.fit(camera.project(ik.joints(truth)), point_hint=(8, behind))
    free = ik.fit(camera.project(ik.joints(truth)))
    assert hinted.joints[8, 2] > free.joints[8, 2] + 0.01
    assert np.linalg.norm(camera.project(hinted.joints[8]) - camera.project(tip)) < 3.0


def _as_driving(clip, size):
    """A composite clip's own labels as a driving performance on the same photo."""
    from interanimate.pipelines.motion import Motion

    ann = clip.annotations
    return Motion(size=size, fps=25.0, face_keypoints=ann.face_keypoints, face_confidence=ann.face_confidence,
                  hand_keypoints=ann.hand_keypoints, hand_present=ann.hand_present, contact=ann.contact,
                  contact_point=ann.contact_point, contact_region=ann.contact_region, pattern="poke_cheek_left",
                  acting_hand=clip.info["acting_hand"], info={"kind": "driving", "driving": "labels"})


def test_a_driven_clip_follows_the_driving_keypoints_and_touches_where_they_touch(astronaut, poke):
    from interanimate.render.composite.renderer import render_driven

    driving = _as_driving(poke, SIZE)
    clip = render_driven(astronaut, driving, seed=3)
    ann, src = clip.annotations, poke.annotations
    h = ("left", "right").index(poke.info["acting_hand"])
    assert clip.frames.shape == poke.frames.shape
    both = ann.hand_present[:, h] & src.hand_present[:, h]
    assert both.sum() >= FRAMES - 2
    error = np.linalg.norm(ann.hand_keypoints[both, h, :, :2] - src.hand_keypoints[both, h, :, :2], axis=-1)
    assert np.median(error) < 2.0 and clip.info["ik_rms_px"] < 2.0, (np.median(error), clip.info)
    # Contact is measured on the fitted hand's geometry, not copied: it must agree with the source's frames.
    touched, source_touched = ann.contact.any(1), src.contact.any(1)
    assert touched.any() and (touched & source_touched).sum() >= 0.6 * source_touched.sum()
    assert (ann.contact_region[ann.contact] == src.contact_region[src.contact].max()).mean() > 0.5
    assert ann.penetration.max() <= 1.0
    assert 0.9 < clip.info["ik_hand_scale"] < 1.1  # the same hand model: the size found from the touch is its own


@pytest.mark.slow
def test_animate_driving_video_with_the_composite_renderer(tmp_path, capsys):
    """A synthetic clip written as MP4: keypoints from the annotator's perception, hand from inverse kinematics."""
    import cv2

    from interanimate.data.io import encode_video
    from interanimate.data.synth import ClipSpec, render_clip
    from interanimate.data.validate import validate_dataset
    from interanimate.pipelines.command import main

    clip = render_clip(ClipSpec(seed=0, subject_index=0, pattern="stroke_cheek_right", num_frames=24, size=256))
    video = tmp_path / "driving.mp4"
    video.write_bytes(encode_video(clip.frames, 25))
    photo = tmp_path / "astronaut.png"
    cv2.imwrite(str(photo), skimage_data.astronaut()[..., ::-1])
    code = main(["--reference", str(photo), "--driving", str(video), "--size", "192", "--out", str(tmp_path / "o"),
                 "--as-dataset", str(tmp_path / "ds"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 0, err
    report = validate_dataset(tmp_path / "ds")
    assert report.ok, report
    from interanimate.data.annotations import load_annotations
    from interanimate.data.manifest import ANNOTATIONS_NAME

    folder = next((tmp_path / "ds" / "clips").iterdir())
    ann = load_annotations(folder / ANNOTATIONS_NAME, 192, 192)
    assert ann.num_frames == 24 and ann.hand_present.any(axis=1).sum() >= 8
    assert ann.contact.any() and ann.penetration.max() <= 1.0


def _aperture(landmarks: np.ndarray) -> float:
    """Mean vertical lid-to-lid distance of both eyes (iBUG-68: 37/41, 38/40, 43/47, 44/46) in pixels."""
    pairs = [(37, 41), (38, 40), (43, 47), (44, 46)]
    return float(np.mean([abs(landmarks[b, 1] - landmarks[a, 1]) for a, b in pairs]))


def test_blink_closes_the_photo_eyes_and_the_landmarks_follow(astronaut):
    from interanimate.data.annotate.ibug68 import ibug68_from_mesh
    from interanimate.render.composite.face import build_face
    from interanimate.render.composite.warp import FaceWarper, HeadPose

    face = build_face(astronaut.image, astronaut.mesh)
    warper = FaceWarper(face)
    still = HeadPose(np.eye(3), np.zeros(3))
    none = np.zeros((0, 16))
    open_eyes, shut = warper(still, none, 0.0), warper(still, none, 1.0)
    closed_px = face.project(warper.eyelids.closed_face(face, 1.0).vertices)
    assert _aperture(ibug68_from_mesh(closed_px)) < 0.2 * _aperture(ibug68_from_mesh(face.mesh_px))
    # The irises (dark) are covered by lid skin (lighter); nothing far from the eyes moves.
    yy, xx = np.mgrid[0:face.height, 0:face.width] + 0.5
    for centre in (468, 473):
        disc = np.hypot(xx - face.mesh_px[centre, 0], yy - face.mesh_px[centre, 1]) < 1.5
        assert shut.linear[disc].mean() > 1.3 * open_eyes.linear[disc].mean()
    eyes = np.zeros(face.face_mask.shape, bool)
    lo, hi = face.mesh_px[[33, 263], :2].min(0), face.mesh_px[[33, 263], :2].max(0)
    width = hi[0] - lo[0]
    eyes[int(lo[1] - width):int(hi[1] + width), int(lo[0] - 2):int(hi[0] + 3)] = True
    assert np.array_equal(shut.linear[~eyes], open_eyes.linear[~eyes])


def test_blinks_in_a_clip_are_brief_and_the_labels_close_with_them(astronaut):
    from interanimate.data.synth.choreography import head_motion
    from interanimate.render.composite import render_composite
    from interanimate.render.composite.renderer import _rngs
    from interanimate.taxonomy import get_pattern

    pattern = get_pattern("poke_nose")
    seed = next(s for s in range(200) if head_motion(FRAMES, 25.0, _rngs(s, pattern.id)[0])["eye_open"].min() < 0.1)
    eye_open = head_motion(FRAMES, 25.0, _rngs(seed, pattern.id)[0])["eye_open"]
    assert (eye_open < 0.5).sum() <= 4  # at most ~160 ms of mostly shut lids at 25 fps
    clip = render_composite(astronaut, "poke_nose", FRAMES, 25.0, seed=seed)
    apertures = np.array([_aperture(lm) for lm in clip.annotations.face_keypoints])
    shut, wide = int(np.argmin(eye_open)), int(np.argmax(eye_open))
    assert apertures[shut] < 0.35 * apertures[wide], (apertures, eye_open)


def test_a_driven_photo_blinks_when_the_driving_face_does(astronaut, poke):
    from interanimate.render.composite.placement import eye_openness
    from interanimate.render.composite.renderer import render_driven

    driving = _as_driving(poke, SIZE)
    landmarks = driving.face_keypoints.copy()
    shut = 5
    for upper, lower in ((37, 41), (38, 40), (43, 47), (44, 46)):  # the driving lids meet in one frame
        middle = (landmarks[shut, upper] + landmarks[shut, lower]) / 2
        landmarks[shut, upper] = landmarks[shut, lower] = middle
    driving.face_keypoints = landmarks
    eye_open = eye_openness(landmarks)
    assert eye_open[shut] == 0.0 and (np.delete(eye_open, shut) > 0.8).all(), eye_open
    clip = render_driven(astronaut, driving, seed=3)
    apertures = np.array([_aperture(lm) for lm in clip.annotations.face_keypoints])
    assert apertures[shut] < 0.35 * np.median(apertures), apertures


@pytest.fixture(scope="module")
def photo_face(astronaut):
    from interanimate.render.composite.face import build_face

    return build_face(astronaut.image, astronaut.mesh)


def _euler_deg(rotation: np.ndarray) -> np.ndarray:
    """Roll, yaw, pitch (camera frame: about z, then y, then x) in degrees."""
    from scipy.spatial.transform import Rotation

    return np.rad2deg(Rotation.from_matrix(rotation).as_euler("ZYX"))


def _turned(points: np.ndarray, pivot: np.ndarray, roll: float, yaw: float, pitch: float,
            shift=(0.0, 0.0, 0.0)) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    rotation = Rotation.from_euler("ZYX", np.deg2rad([roll, yaw, pitch])).as_matrix()
    return (points - pivot) @ rotation.T + pivot + np.asarray(shift)


@pytest.mark.parametrize("angles", [(0, 0, 0), (12, 0, 0), (0, 18, 0), (0, -18, 0), (0, 0, 14), (0, 0, -14),
                                    (6, 15, -10)])
def test_the_photo_head_turns_as_its_own_face_was_turned(photo_face, angles):
    """Driving landmarks: the photo's lifted face rotated by known roll, yaw and pitch and projected."""
    from interanimate.data.annotate.ibug68 import ibug68_from_mesh
    from interanimate.render.composite.placement import head_poses

    face = photo_face
    lifted = ibug68_from_mesh(face.vertices)
    frame = face.landmarks + face.project(_turned(lifted, face.pivot, *angles)) - face.project(lifted)
    still = face.landmarks
    poses = head_poses(face, np.stack([still, frame, frame, frame, still]))
    assert np.abs(_euler_deg(poses[2].rotation) - angles).max() < 0.5, _euler_deg(poses[2].rotation)
    assert np.linalg.norm(poses[2].translation) < 1e-3  # turned about the pivot: the pivot stays
    # Smoothed over three frames: half-way in the frame after the still one.
    assert np.abs(_euler_deg(poses[1].rotation) - 0.75 * np.array(angles)).max() < 0.5
    if not any(angles):
        assert all(np.allclose(p.rotation, np.eye(3), atol=1e-6) and np.abs(p.translation).max() < 1e-6
                   for p in poses)


def test_yaw_and_pitch_stop_where_one_view_stops(photo_face):
    from interanimate.data.annotate.ibug68 import ibug68_from_mesh
    from interanimate.render.composite.placement import head_poses

    face = photo_face
    lifted = ibug68_from_mesh(face.vertices)
    far = [face.landmarks + face.project(_turned(lifted, face.pivot, 0, yaw, pitch)) - face.project(lifted)
           for yaw, pitch in ((45, 0), (0, -35))]
    for frame, expected in zip(far, ((0, 20, 0), (0, 0, -15))):
        pose = head_poses(face, np.stack([frame] * 3))[1]
        assert np.abs(_euler_deg(pose.rotation) - expected).max() < 0.5, _euler_deg(pose.rotation)


def test_a_shifted_larger_face_moves_the_head_without_turning_it(photo_face):
    """A 2-D similarity of the landmarks (what the head did before it could turn): roll, translation and depth."""
    from interanimate.render.composite.placement import head_poses

    face = photo_face
    angle, scale, shift = np.deg2rad(8.0), 1.1, np.array([6.0, -4.0])
    centre = face.landmarks.mean(0)
    c, s = np.cos(angle), np.sin(angle)
    frame = (face.landmarks - centre) @ (scale * np.array([[c, -s], [s, c]])).T + centre + shift
    pose = head_poses(face, np.stack([frame] * 3))[1]
    roll, yaw, pitch = _euler_deg(pose.rotation)
    assert abs(roll - 8.0) < 1.0 and abs(yaw) < 2.0 and abs(pitch) < 2.0, (roll, yaw, pitch)
    moved = face.pivot + pose.translation
    assert moved[2] / face.pivot[2] == pytest.approx(1 / scale, abs=0.03)  # larger: nearer the camera
    # The moved face lands where the driving landmarks are.
    from interanimate.data.annotate.ibug68 import ibug68_from_mesh
    from interanimate.render.composite.placement import POSE_LANDMARKS

    lifted = ibug68_from_mesh(face.vertices)[POSE_LANDMARKS]
    drawn = face.project(pose.apply(lifted, face.pivot)) - face.project(lifted) + face.landmarks[POSE_LANDMARKS]
    assert np.median(np.linalg.norm(drawn - frame[POSE_LANDMARKS], axis=1)) < 1.0


@pytest.mark.parametrize("angles", [(0, 16, 0), (0, -15, 0), (0, 0, 12), (8, 15, -10)])
def test_another_person_turning_in_another_camera_turns_the_photo_head_as_much(photo_face, angles):
    """Through the retargeting: a face of other proportions, its turn relative to its first frame."""
    from interanimate.data.annotate.ibug68 import ibug68_from_mesh
    from interanimate.pipelines.retarget import transfer_face
    from interanimate.render.composite.placement import head_poses

    lifted = ibug68_from_mesh(photo_face.vertices)
    other = (lifted - lifted.mean(0)) * [1.12, 0.95, 1.3]  # wider, shorter, a deeper nose
    pivot, place = np.array([0.0, 0.03, 0.09]), np.array([0.01, -0.02, 0.7])

    def seen(points):  # another camera: 500 px focal length, 320 px frame
        return 500.0 * points[:, :2] / points[:, 2:] + 160.0

    source = np.stack([seen(other + place)] + [seen(_turned(other, pivot, *angles) + place)] * 3)
    landmarks, _ = transfer_face(source, photo_face.landmarks)
    pose = head_poses(photo_face, landmarks)[2]
    assert np.abs(_euler_deg(pose.rotation) - angles).max() < 3.0, _euler_deg(pose.rotation)


def test_a_turning_head_moves_the_hair_beside_the_face_without_tearing(photo_face):
    """The depth beyond the mesh continues its rim: turned to the limits, no pixel outside the face folds over."""
    from scipy.spatial.transform import Rotation

    from interanimate.render.composite.placement import MAX_PITCH_RAD, MAX_YAW_RAD
    from interanimate.render.composite.warp import HeadPose

    face = photo_face
    mask, depth = face.face_mask, face.points[..., 2]
    steps = np.r_[np.abs(np.diff(depth, axis=1))[mask[:, 1:] != mask[:, :-1]],
                  np.abs(np.diff(depth, axis=0))[mask[1:] != mask[:-1]]]
    assert np.percentile(steps, 90) < 0.01, np.percentile(steps, 90)  # metres across the rim
    yy, xx = np.mgrid[0:face.height, 0:face.width] + 0.5
    for yaw, pitch in ((MAX_YAW_RAD, 0.0), (-MAX_YAW_RAD, 0.0), (0.0, MAX_PITCH_RAD), (0.0, -MAX_PITCH_RAD)):
        pose = HeadPose(Rotation.from_euler("YX", [yaw, pitch]).as_matrix(), np.zeros(3))
        moved = face.project(pose.apply(face.points.reshape(-1, 3).astype(np.float64), face.pivot))
        dx, dy = (face.support * (moved.reshape(*depth.shape, 2)[..., i] - (xx, yy)[i]) for i in range(2))
        jacobian = (1 + np.gradient(dx, axis=1)) * (1 + np.gradient(dy, axis=0)) \
            - np.gradient(dx, axis=0) * np.gradient(dy, axis=1)
        assert not (jacobian[~mask] < 0).any(), (yaw, pitch, int((jacobian[~mask] < 0).sum()))
        assert (jacobian[mask] < 0).mean() < 0.04  # the far side of the face, edge-on in the photo, only
