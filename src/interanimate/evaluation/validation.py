"""Every metric against a known-bad input: the checks behind the validation table of ``docs/evaluation.md``.

A metric is only worth reporting if it separates good output from bad. Each check scores a known-good
input and a known-bad one with the metric's own code and records both numbers; the tests require
every asserted check to separate by its margin, and ``python -m interanimate.evaluation.validation``
prints the table the documentation quotes.

Inputs, all offline and licence-clean or shipped for testing by the installed packages:

* scikit-image's ``astronaut`` (Eileen Collins, NASA photograph, public domain) and matplotlib's
  ``grace_hopper.jpg`` (US Navy photograph, public domain): real portraits of two people;
* scikit-image's ``lfw_subset`` (100 face crops of 25 x 25 pixels from Labeled Faces in the Wild,
  Huang et al. 2007, as shipped inside the scikit-image wheel; LFW's photos come from news sites and
  carry no licence of their own, so they are read from the installed package, never copied into this
  repository): faces of many different people;
* procedural 21-point hands and contact-flag sequences for the keypoint and contact metrics, which
  score arrays, not pixels.
"""

from __future__ import annotations

import argparse
import functools
from dataclasses import dataclass

import cv2
import numpy as np

COMMAND = "python -m interanimate.evaluation.validation"


@dataclass
class Check:
    """One metric scored on a known-good and a known-bad input.

    Attributes:
        group: metric group (``identity``, ``frechet``, ``pixel``, ``temporal``, ``anatomy``).
        metric: the metric's name as the report prints it.
        good_input, bad_input: what was scored.
        good, bad: the two scores.
        higher_is_better: direction of the metric.
        margin: the separation the tests require (in the metric's units).
        asserted: false for rows shown only to document a limitation (e.g. cosine on dlib descriptors).
    """

    group: str
    metric: str
    good_input: str
    good: float
    bad_input: str
    bad: float
    higher_is_better: bool
    margin: float
    asserted: bool = True

    @property
    def separation(self) -> float:
        return self.good - self.bad if self.higher_is_better else self.bad - self.good

    @property
    def separates(self) -> bool:
        return bool(np.isfinite(self.separation) and self.separation >= self.margin)


# --- real inputs ------------------------------------------------------------------------------------------

def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def grace_hopper() -> np.ndarray:
    import matplotlib.cbook
    from PIL import Image

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
        return np.asarray(Image.open(handle).convert("RGB"))


def lfw_faces(size: int = 256) -> np.ndarray:
    """scikit-image's 100 LFW face crops, enlarged (bicubic) to ``size`` and made RGB: ``(100, size, size, 3)``."""
    from skimage import data

    faces = data.lfw_subset()[:100]  # the first 100 are faces, the rest background patches
    faces = (np.clip(faces, 0, 1) * 255).round().astype(np.uint8) if faces.dtype != np.uint8 else faces
    big = [cv2.resize(f, (size, size), interpolation=cv2.INTER_CUBIC) for f in faces]
    return np.stack([np.repeat(b[..., None], 3, axis=2) for b in big])


def same_person_variants(image: np.ndarray, count: int = 8, seed: int = 0) -> list[np.ndarray]:
    """Photos of the same person as a generator might show them: mirrored, rotated, shrunk, JPEG-
    compressed, relit and noisy copies of ``image`` (the first eight are fixed, more are random mixes)."""
    rng = np.random.default_rng(seed)
    h, w = image.shape[:2]

    def rotate(img, degrees, scale=1.0):
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, scale)
        return cv2.warpAffine(img, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)

    def jpeg(img, quality):
        ok, data = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        return cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]

    def shrink(img, factor):
        small = cv2.resize(img, (int(w * factor), int(h * factor)), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)

    def relight(img, gain, offset):
        return np.clip(img.astype(np.float32) * gain + offset, 0, 255).astype(np.uint8)

    def noise(img, sigma):
        return np.clip(img + rng.normal(0, sigma, img.shape), 0, 255).astype(np.uint8)

    fixed = [image[:, ::-1], rotate(image, 10), rotate(image, -10, 0.8), shrink(image, 0.25), jpeg(image, 20),
             relight(image, 0.7, 10), relight(image, 1.2, 20), noise(image, 8)]
    out = [np.ascontiguousarray(v) for v in fixed[:count]]
    while len(out) < count:
        v = rotate(image, rng.uniform(-12, 12), rng.uniform(0.75, 1.05))
        v = relight(v, rng.uniform(0.7, 1.2), rng.uniform(-10, 20))
        v = jpeg(shrink(v, rng.uniform(0.25, 0.6)), int(rng.integers(20, 80)))
        out.append(np.ascontiguousarray(v[:, ::-1] if rng.random() < 0.5 else v))
    return out


def pan_video(image: np.ndarray, num_frames: int = 12, size: int = 128) -> np.ndarray:
    """A slow diagonal pan with a slight zoom over ``image``: real texture, smooth motion, ``(F, size, size, 3)``."""
    h, w = image.shape[:2]
    side = min(h, w) * 3 // 4
    frames = []
    for f in range(num_frames):
        s = side - 2 * f
        y0, x0 = 10 + 3 * f, 20 + 4 * f
        frames.append(cv2.resize(image[y0:y0 + s, x0:x0 + s], (size, size), interpolation=cv2.INTER_AREA))
    return np.stack(frames)


def shuffled(video: np.ndarray, seed: int = 0) -> np.ndarray:
    """The frames of ``video`` in an order with no frame left in place."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(video))
        if (order != np.arange(len(video))).all():
            return video[order]


# --- the checks -------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _descriptor():
    from interanimate.evaluation.backbones import DlibFaceDescriptor

    return DlibFaceDescriptor()


def _describe(images) -> np.ndarray:
    """Descriptors of the faces the detector finds, ``(N, 128)``, NaN rows where it finds none."""
    found = [_descriptor().detect(np.ascontiguousarray(i)) for i in images]
    return np.stack([f[2] if f is not None else np.full(128, np.nan, np.float32) for f in found])


@functools.lru_cache(maxsize=None)
def _faces(name: str, count: int = 0) -> np.ndarray:
    """Detected-face descriptors of one input set (cached: the descriptor is the slow part)."""
    if name == "reference":
        return _describe([astronaut()])[0]
    if name == "same":
        return _describe(same_person_variants(astronaut(), count))
    if name == "hopper":
        return _describe([grace_hopper()])
    if name == "two_people":
        return _describe(same_person_variants(astronaut(), count // 2, seed=1) +
                         same_person_variants(grace_hopper(), count - count // 2, seed=2))
    if name == "lfw":
        return _describe(lfw_faces()[:count])
    raise KeyError(name)


def identity_checks(num_lfw: int = 100) -> list[Check]:
    """Same person vs different people: the astronaut's variants against Grace Hopper and ``num_lfw``
    LFW faces."""
    from interanimate.evaluation.identity import cosine_similarity, identity_scores

    reference = _faces("reference")
    same_set = _faces("same", 8)
    others = np.concatenate([_faces("hopper"), _faces("lfw", num_lfw)])
    same = identity_scores(same_set, reference)
    different = identity_scores(others, reference)
    n_same, n_other = same["faces"], different["faces"]
    good_input = f"the astronaut, {n_same} variants (mirror, rotation, 1/4 size, JPEG 20, relit, noise)"
    bad_input = f"{n_other} faces of other people (Grace Hopper + LFW)"
    blurred = [cv2.GaussianBlur(v, (0, 0), 16.0) for v in same_person_variants(astronaut(), 4)]
    coverage_bad = identity_scores(_describe(blurred), reference)["face_coverage"]
    with np.errstate(all="ignore"):
        cos_same = float(np.nanmean(cosine_similarity(same_set, reference)))
        cos_other = float(np.nanmean(cosine_similarity(others, reference)))
    return [
        Check("identity", "identity distance (dlib)", good_input, same["mean"], bad_input, different["mean"],
              False, 0.2),
        Check("identity", "same-person rate (dlib, d < 0.6)", good_input, same["same_person_rate"], bad_input,
              different["same_person_rate"], True, 0.8),
        Check("identity", "face coverage", "the astronaut variants", same["face_coverage"],
              "the same, blurred (sigma 16 px)", coverage_bad, True, 0.9),
        Check("identity", "cosine of dlib descriptors (not used)", good_input, cos_same, bad_input, cos_other,
              True, 0.0, asserted=False),
    ]


def frechet_checks() -> list[Check]:
    from interanimate.evaluation.frechet import frechet_distance_from_features

    lfw, two = _faces("lfw", 100), _faces("two_people", 24)
    lfw, two = lfw[np.isfinite(lfw).all(axis=1)], two[np.isfinite(two).all(axis=1)]
    half = len(lfw) // 2
    a, b = lfw[:half], lfw[half:half + len(two)]
    return [Check("frechet", "frechet_dlib_face", f"LFW faces: {len(a)} vs {len(b)} others",
                  frechet_distance_from_features(a, b), f"LFW faces: {len(a)} vs {len(two)} photos of 2 people",
                  frechet_distance_from_features(a, two), False, 0.05)]


def pixel_checks() -> list[Check]:
    from interanimate.evaluation.pixel import video_pixel_scores

    video = pan_video(astronaut())
    rng = np.random.default_rng(0)
    close = np.clip(video + rng.normal(0, 2, video.shape), 0, 255).astype(np.uint8)
    blurred = np.stack([cv2.GaussianBlur(f, (0, 0), 2.0) for f in video])
    good = video_pixel_scores(close, video).summary()
    bad = {"blurred (sigma 2 px)": video_pixel_scores(blurred, video).summary(),
           "frame-shuffled": video_pixel_scores(shuffled(video), video).summary()}
    rows = []
    for key, name, higher, margin in (("ssim", "SSIM (frame)", True, 0.1), ("psnr_video", "PSNR dB (frame)", True, 3.0),
                                      ("l1", "L1 (frame)", False, 0.01)):
        for label, scores in bad.items():
            rows.append(Check("pixel", name, "astronaut pan, noise sigma 2", good[key], label, scores[key], higher,
                              margin))
    return rows


def temporal_checks() -> list[Check]:
    from interanimate.evaluation.temporal import temporal_scores

    video = pan_video(astronaut())
    close = np.clip(video + np.random.default_rng(0).normal(0, 2, video.shape), 0, 255).astype(np.uint8)
    rows = []
    for source, label, asserted in ((video, "ground-truth flow", True), (None, "own flow", False)):
        good = temporal_scores(close, flow_source=source).summary()
        bad = temporal_scores(shuffled(close), flow_source=source).summary()
        for key, name, margin in (("warping_error", "warping error", 0.005), ("flicker", "flicker", 0.02)):
            rows.append(Check("temporal", f"{name} ({label})", "astronaut pan (12 frames), noise sigma 2", good[key],
                              "the same frames shuffled", bad[key], False, margin, asserted))
    return rows


def _hand(center, scale=40.0, angle=0.0) -> np.ndarray:
    """A 21-point open hand (wrist, then four joints per finger, thumb first), ``(21, 2)``."""
    pts = [(0.0, 0.0)]
    for finger, spread in enumerate(np.linspace(-0.8, 0.8, 5)):
        for joint in range(1, 5):
            r = 0.3 + 0.22 * joint - 0.05 * (finger == 0)
            pts.append((np.sin(spread) * r, -np.cos(spread) * r))
    c, s = np.cos(angle), np.sin(angle)
    return (np.array(pts) * scale) @ np.array([[c, s], [-s, c]]) + np.asarray(center)


def _hands(num_frames: int = 16) -> np.ndarray:
    out = np.zeros((num_frames, 2, 21, 3), np.float32)
    for f in range(num_frames):
        for h, x in enumerate((80.0, 220.0)):
            out[f, h, :, :2] = _hand((x + 2 * f, 150 - f), angle=0.05 * f)
            out[f, h, :, 2] = 1.0
    return out


def _hand_size(keypoints: np.ndarray) -> np.ndarray:
    """``(F, 2, 1)`` longer side of each hand's keypoint box (PCK's normaliser)."""
    return np.ptp(keypoints[..., :2], axis=2).max(axis=-1)[..., None]


def _displace(keypoints: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Every keypoint moved by ``fraction`` of its hand's size in a random direction."""
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, 2 * np.pi, keypoints.shape[:3])
    out = keypoints.copy()
    step = fraction * _hand_size(keypoints)
    out[..., 0] += step * np.cos(angle)
    out[..., 1] += step * np.sin(angle)
    return out


def anatomy_checks() -> list[Check]:
    from interanimate.evaluation import anatomy

    target = _hands()
    good = _displace(target, 0.01, 0)
    bad = _displace(target, 0.10, 1)
    rows = [Check("anatomy", name, "keypoints within 1 % of the hand size",
                  anatomy.hand_pck(good, target, alpha)["pck"], "every keypoint moved by 10 % of the hand size",
                  anatomy.hand_pck(bad, target, alpha)["pck"], True, 0.5, asserted=alpha < 0.1)
            for name, alpha in (("hand PCK@0.05", 0.05), ("hand PCK (@0.2)", 0.2))]
    rows.append(Check("anatomy", "bone-length CV", "rigid moving hands, keypoints within 1 %",
                      anatomy.bone_length_stability(good)["cv_mean"], "joints jittered by 10 % of the hand size",
                      anatomy.bone_length_stability(bad)["cv_mean"], False, 0.05))
    # Face NME on real landmarks: dlib's 68 points on the astronaut vs the same photo with noise.
    embed = _descriptor()
    photo = astronaut()
    truth = embed.detect(photo)[1][None]
    noisy = np.clip(photo + np.random.default_rng(0).normal(0, 4, photo.shape), 0, 255).astype(np.uint8)
    redetected = embed.detect(noisy)[1][None]
    inter_ocular = np.linalg.norm(truth[0, 36] - truth[0, 45])
    moved = truth + np.random.default_rng(2).choice([-1, 1], truth.shape) * 0.1 * inter_ocular / np.sqrt(2)
    rows.append(Check("anatomy", "face NME", "astronaut landmarks re-detected on a noisy copy",
                      anatomy.face_nme(redetected, truth)["nme"], "landmarks moved by 10 % of the eye distance",
                      anatomy.face_nme(moved, truth)["nme"], False, 0.05))
    requested = np.zeros(32, bool)
    requested[6:12] = requested[20:24] = True
    late = np.roll(requested, 4)
    for key, name in (("precision", "contact precision"), ("recall", "contact recall")):
        rows.append(Check("anatomy", name, "requested contact frames, 1 frame late",
                          anatomy.contact_scores(np.roll(requested, 1), requested, tolerance=1)[key],
                          "the same flags 4 frames late", anatomy.contact_scores(late, requested, tolerance=1)[key],
                          True, 0.3))
    return rows


CHECKS = {"identity": identity_checks, "frechet": frechet_checks, "pixel": pixel_checks,
          "temporal": temporal_checks, "anatomy": anatomy_checks}


def run_checks(groups=None) -> list[Check]:
    """The checks of the given groups (default: all), in the table's order."""
    return [c for g in (groups or CHECKS) for c in CHECKS[g]()]


def format_table(checks: list[Check]) -> str:
    """The validation table in Markdown."""
    def fmt(v: float) -> str:
        return f"{v:.3g}" if abs(v) >= 0.01 or v == 0 else f"{v:.2e}"

    lines = ["| metric | better | known good | score | known bad | score | separates |",
             "|---|---|---|---|---|---|---|"]
    for c in checks:
        verdict = ("yes" if c.separates else "NO") if c.asserted else "(not a check: shows a blind spot)"
        lines.append(f"| {c.metric} | {'higher' if c.higher_is_better else 'lower'} | {c.good_input} | {fmt(c.good)} | "
                     f"{c.bad_input} | {fmt(c.bad)} | {verdict} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description="score every metric on a known-good and a known-bad "
                                     "input and print the validation table")
    parser.add_argument("--groups", nargs="+", choices=list(CHECKS), help="only these metric groups")
    args = parser.parse_args(argv)
    checks = run_checks(args.groups)
    print(format_table(checks))
    failed = [c.metric for c in checks if c.asserted and not c.separates]
    if failed:
        print(f"\ndoes not separate: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
