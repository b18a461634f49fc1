"""``interanimate evaluate``: score a set of generated clips against a reference InterHF dataset.

Both inputs are InterHF datasets. The generated set's labels are the *requested* conditions (what
``animate`` was asked to produce: keypoints, masks, contact frames, pattern); the reference set is
ground truth. A generated clip is matched to the reference clip named by its record's
``extra["source_clip_id"]``, else to the reference clip with the same ``clip_id``.

Metric groups (``--metrics``):

- ``pixel``     SSIM / PSNR / L1 against the matched ground truth: whole frame, face and hand crops
                (boxes from the ground-truth keypoints);
- ``temporal``  flow-warping error and flicker with the ground truth's optical flow (Lai et al.), whole
                frame and inside the interaction region (requested hand ∪ contact masks); the warping
                error with the generated clip's own flow; and, as the level to reach, the ground truth's;
- ``identity``  dlib-128 Euclidean distance of every face the detector finds in the generated clip to the
                reference identity (the ground truth's first detected face): mean, same-person rate
                (d < 0.6), face coverage, drift per second; unmeasured when the detector finds a face
                in under half of the ground truth's or the generated frames;
- ``anatomy``   re-detected hands and face in the generated video vs the requested ones (hand PCK, face
                NME, hand detection rate, bone-length stability, contact precision/recall, pattern
                recognised vs requested) when a re-detector is available; penetration statistics of the
                synthetic ground truth when the reference carries them;
- ``frechet``   Fréchet distances between the generated and reference sets in the offline dlib face
                space (detected faces; greyed with fewer faces than dimensions), plus FID / FVD /
                LPIPS when the user supplies the standard weights (named only so
                when the weights are verified; otherwise by their feature space).

A metric that cannot be measured — the re-detector misses most of the ground truth's hands or faces,
a face is found in under half of the frames, too few detections to average — is left out of the
summary and named in ``EvaluationResult.unmeasured`` with the reason.

Reference-set statistics for Fréchet distances are computed once and cached (keyed by the reference
manifest's sha256 and the settings).
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from interanimate import __version__
from interanimate.data.annotations import ClipAnnotations, load_annotations
from interanimate.data.io import decode_video, json_safe
from interanimate.data.manifest import MANIFEST_NAME, ClipRecord, check_dataset_root, clip_file, read_manifest
from interanimate.taxonomy import PATTERN_NAMES, get_pattern
from interanimate.errors import UserError

METRIC_GROUPS = ("pixel", "temporal", "identity", "anatomy", "frechet")


class EvaluationInputError(UserError, ValueError):
    """Generated and reference sets that cannot be compared (missing clips, different sizes, no faces)."""


@dataclass
class EvaluateConfig:
    """Settings of one evaluation run (saved in the report).

    Args:
        metrics: metric groups to compute (subset of ``METRIC_GROUPS``).
        max_clips: score at most this many generated clips (``None``: all).
        frames_per_clip: frames sampled per clip for Fréchet feature sets.
        flow_method: optical flow for temporal metrics (``"dis"`` or ``"farneback"``).
        fid_weights, fvd_weights, lpips_weights, lpips_backbone_weights: local weight files.
        arcface_weights: local ArcFace ONNX file; adds ArcFace identity similarity and a Fréchet
            distance in ArcFace space next to the dlib ones.
        assume_standard: the user vouches that the weight files are the published ones.
        cache_dir: where reference statistics are cached.
        pck_threshold: hand PCK threshold as a fraction of the hand box's longer side.
    """

    metrics: tuple[str, ...] = METRIC_GROUPS
    max_clips: int | None = None
    frames_per_clip: int = 8
    flow_method: str = "dis"
    fid_weights: str | None = None
    fvd_weights: str | None = None
    lpips_weights: str | None = None
    lpips_backbone_weights: str | None = None
    assume_standard: bool = False
    cache_dir: str | None = None
    pck_threshold: float = 0.2
    arcface_weights: str | None = None


@dataclass
class Redetection:
    """What a re-detector found in a generated video, in the contract's layout."""

    face_keypoints: np.ndarray  # (F, 68, 2)
    face_present: np.ndarray  # (F,)
    hand_keypoints: np.ndarray  # (F, 2, 21, 3)
    hand_present: np.ndarray  # (F, 2)
    contact: np.ndarray | None = None  # (F, 2) bool
    pattern: str | None = None


Redetector = Callable[[np.ndarray, float], Redetection]


@dataclass
class ClipPair:
    generated: ClipRecord
    reference: ClipRecord
    generated_root: Path
    reference_root: Path

    def load(self) -> tuple[np.ndarray, ClipAnnotations, np.ndarray, ClipAnnotations]:
        g, r = self.generated, self.reference
        gen_frames = decode_video(clip_file(self.generated_root, g, "video"))
        ref_frames = decode_video(clip_file(self.reference_root, r, "video"))
        gen_ann = load_annotations(clip_file(self.generated_root, g, "annotations"), g.height, g.width)
        ref_ann = load_annotations(clip_file(self.reference_root, r, "annotations"), r.height, r.width)
        return gen_frames, gen_ann, ref_frames, ref_ann


def match_clips(generated: Path, reference: Path, max_clips: int | None = None) -> list[ClipPair]:
    """Pair every generated clip with its reference clip; raise one error listing all mismatches."""
    generated, reference = check_dataset_root(generated), check_dataset_root(reference)
    gen_records = read_manifest(generated)
    if not gen_records:
        raise EvaluationInputError(f"{generated}: the generated dataset has no clips")
    refs = {r.clip_id: r for r in read_manifest(reference)}
    pairs, problems = [], []
    for g in gen_records[:max_clips] if max_clips else gen_records:
        source = g.extra.get("source_clip_id", g.clip_id)
        r = refs.get(source)
        if r is None:
            problems.append(f"{g.clip_id}: no reference clip {source!r}")
        elif (g.num_frames, g.width, g.height) != (r.num_frames, r.width, r.height):
            problems.append(f"{g.clip_id}: {g.num_frames} frames of {g.width}x{g.height}, reference {source} has "
                            f"{r.num_frames} of {r.width}x{r.height}")
        else:
            pairs.append(ClipPair(g, r, generated, reference))
    if problems:
        shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        raise EvaluationInputError(f"generated and reference clips do not match ({shown}); generate from the "
                                   "reference set's clips or pass the matching --reference dataset")
    return pairs


# --- per-clip metric groups ---------------------------------------------------------------------------

def _interaction_region(ann: ClipAnnotations) -> np.ndarray:
    """Requested hands ∪ contact, dilated a little so the skin around the touch counts: ``(F, H, W)``."""
    import cv2

    region = ann.mask("hand_left") | ann.mask("hand_right") | ann.mask("contact")
    radius = max(1, int(round(0.04 * min(ann.height, ann.width))))
    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    return np.stack([cv2.dilate(m.astype(np.uint8), kernel).astype(bool) for m in region])


def pixel_group(gen: np.ndarray, ref: np.ndarray, ref_ann: ClipAnnotations) -> dict:
    from interanimate.evaluation.pixel import region_pixel_scores

    face = np.where(ref_ann.face_present[:, None, None], ref_ann.face_keypoints, np.nan)
    scores = region_pixel_scores(gen, ref, face, ref_ann.hand_keypoints, data_range=255.0)
    return {region: s.summary() for region, s in scores.items()}


def temporal_group(gen: np.ndarray, ref: np.ndarray, gen_ann: ClipAnnotations, method: str) -> dict:
    from interanimate.evaluation.temporal import temporal_scores

    if len(gen) < 2:
        return {}
    region = _interaction_region(gen_ann)[:-1]
    region_full = np.concatenate([region, region[-1:]], axis=0)
    # The flow comes from the ground truth, as Lai et al. take it from the input video: the flow of the
    # generated clip itself explains shuffled or dropped frames of a smooth motion as motion.
    out = {
        "frame": temporal_scores(gen, flow_source=ref, method=method).summary(),
        "interaction": temporal_scores(gen, region_full, flow_source=ref, method=method).summary()
        if region.any() else None,
        "own_flow": temporal_scores(gen, method=method).summary(),
        "ground_truth_frame": temporal_scores(ref, method=method).summary(),
    }
    return out


IDENTITY_FIELDS = ("mean", "worst", "same_person_rate", "drift")  # what a too-low face coverage greys out


def detect_faces(descriptor, frames: np.ndarray, ann: ClipAnnotations):
    """The faces dlib's detector finds in ``frames`` that agree with the labelled face boxes
    (``backbones.dlib_face.FaceDetections``): descriptors only where a face was detected."""
    boxes = np.where(ann.face_present[:, None], ann.face_box, np.nan)
    return descriptor.detect_video(frames, boxes)


def identity_group(gen_desc: np.ndarray, ref_desc: np.ndarray, fps: float, kind: str = "dlib128") -> dict:
    """Each generated face against the reference identity (the ground truth's first detected face),
    with the embedding's own decision rule; what cannot be measured is named in ``unmeasured``."""
    from interanimate.evaluation.identity import MIN_FACE_COVERAGE, identity_scores

    found = np.flatnonzero(np.isfinite(ref_desc).all(axis=1))
    gen_coverage = float(np.isfinite(gen_desc).all(axis=1).mean()) if len(gen_desc) else float("nan")
    ref_coverage = len(found) / len(ref_desc) if len(ref_desc) else float("nan")
    if not len(found) or ref_coverage < MIN_FACE_COVERAGE:
        reason = (f"the face detector finds a face in {ref_coverage:.0%} of the ground truth's frames "
                  f"(under {MIN_FACE_COVERAGE:.0%}): the reference identity is not measurable at this resolution")
        return {"generated": {"face_coverage": gen_coverage}, "ground_truth": {"face_coverage": ref_coverage},
                "unmeasured": {f"{side}.{name}": reason for side in ("generated", "ground_truth")
                               for name in IDENTITY_FIELDS}}
    reference = ref_desc[found[0]]
    generated = identity_scores(gen_desc, reference, fps, kind)
    truth = identity_scores(ref_desc, reference, fps, kind)
    truth.pop("per_frame")
    out = {"generated": generated, "ground_truth": truth}
    if not generated["reliable"]:
        reason = (f"a face is found in {gen_coverage:.0%} of the generated frames (under {MIN_FACE_COVERAGE:.0%}); "
                  "the identity numbers would describe a minority of the video")
        out["unmeasured"] = {f"generated.{name}": reason for name in IDENTITY_FIELDS}
    return out


MIN_GROUND_TRUTH_DETECTION = 0.5  # the detector must find at least this share of the ground truth's parts
MIN_SCORED_FRAMES = 3  # fewer frames than this are too few detections to average
STRICT_PCK = 0.05  # PCK@0.05: sensitive to a shift of a tenth of the hand size, which PCK@0.2 accepts
HAND_FIELDS = ("hand_pck", "hand_pck_strict", "hand_detection", "hand_matching", "bone_length_stability", "contact",
               "pattern")


def anatomy_group(gen: np.ndarray, gen_ann: ClipAnnotations, ref_ann: ClipAnnotations, pattern: str | None,
                  fps: float, redetector: Redetector | None, pck_threshold: float,
                  ref: np.ndarray | None = None) -> dict:
    """Re-detected hands, face, contact and pattern of the generated clip against the requested labels.

    When the ground-truth video ``ref`` is given, the re-detector runs on it too and its detection rate
    against the ground-truth labels is the ceiling: a part the detector misses in most ground-truth
    frames (hands at 64 px, say) cannot be judged in the generated video either, so its metrics are
    listed in ``unmeasured`` with the reason instead of being averaged with the others.
    """
    from interanimate.evaluation import anatomy

    out: dict = {}
    unmeasured: dict[str, str] = {}
    if ref_ann.penetration is not None:
        out["ground_truth_penetration"] = anatomy.penetration_stats(ref_ann.penetration, ref_ann.contact)
    if redetector is None:
        out["redetection"] = "unavailable"
        out["unmeasured"] = {name: "no re-detector was given" for name in (*HAND_FIELDS, "face_nme",
                                                                              "ground_truth_detection")}
        return out
    found = redetector(gen, fps)
    hand_keypoints, hand_present, out["hand_matching"] = anatomy.match_hands(
        found.hand_keypoints, found.hand_present, gen_ann.hand_keypoints, gen_ann.hand_present)
    out["hand_pck"] = anatomy.hand_pck(hand_keypoints, gen_ann.hand_keypoints, alpha=pck_threshold)
    out["hand_pck_strict"] = anatomy.hand_pck(hand_keypoints, gen_ann.hand_keypoints, alpha=STRICT_PCK)
    both = found.face_present & gen_ann.face_present
    if both.any():
        out["face_nme"] = anatomy.face_nme(found.face_keypoints[both], gen_ann.face_keypoints[both])
        if out["face_nme"]["frames_scored"] < MIN_SCORED_FRAMES:
            unmeasured["face_nme"] = (f"face landmarks re-detected in {out['face_nme']['frames_scored']} generated "
                                      f"frames (fewer than {MIN_SCORED_FRAMES})")
    out["hand_detection"] = anatomy.hand_detection_rate(
        anatomy.localised(hand_keypoints, hand_present, gen_ann.hand_keypoints, gen_ann.hand_present),
        gen_ann.hand_present)
    out["bone_length_stability"] = anatomy.bone_length_stability(hand_keypoints)
    if found.contact is not None:
        out["contact"] = anatomy.contact_scores(found.contact.any(axis=1), gen_ann.contact.any(axis=1), tolerance=1)
    if pattern is not None:
        out["pattern"] = {"requested": pattern, "recognised": found.pattern}
    if ref is not None:
        truth = redetector(ref, fps)
        _, truth_present, _ = anatomy.found_on_target(truth.hand_keypoints, truth.hand_present,
                                                      ref_ann.hand_keypoints, ref_ann.hand_present)
        hands = anatomy.hand_detection_rate(truth_present, ref_ann.hand_present)
        face_rate = (float((truth.face_present & ref_ann.face_present).sum() / ref_ann.face_present.sum())
                     if ref_ann.face_present.any() else float("nan"))
        out["ground_truth_detection"] = {"hand_detection_rate": hands["detection_rate"],
                                         "face_detection_rate": face_rate}
        rate = hands["detection_rate"]
        if np.isfinite(rate) and rate < MIN_GROUND_TRUTH_DETECTION:
            reason = (f"the hand detector finds {rate:.0%} of the ground truth's hands at "
                      f"{ref.shape[2]}x{ref.shape[1]} (under {MIN_GROUND_TRUTH_DETECTION:.0%}): hands are not "
                      "measurable at this resolution")
            unmeasured.update({name: reason for name in HAND_FIELDS})
        if np.isfinite(face_rate) and face_rate < MIN_GROUND_TRUTH_DETECTION:
            unmeasured["face_nme"] = (f"the face landmarker finds {face_rate:.0%} of the ground truth's faces (under "
                                      f"{MIN_GROUND_TRUTH_DETECTION:.0%})")
    if unmeasured:
        out["unmeasured"] = unmeasured
    return out


# --- set-level Fréchet distances ------------------------------------------------------------------------

def _sample_indices(num_frames: int, count: int) -> np.ndarray:
    return np.unique(np.linspace(0, num_frames - 1, min(count, num_frames)).round().astype(int))


def _reference_key(reference: Path, config: EvaluateConfig, space: str, clip_ids: list[str]) -> str:
    digest = hashlib.sha256((Path(reference) / MANIFEST_NAME).read_bytes())
    from interanimate.evaluation.backbones.dlib_face import DETECTOR

    digest.update(json.dumps([space, config.frames_per_clip, sorted(clip_ids), DETECTOR]).encode())
    return digest.hexdigest()[:20]


class FrechetSets:
    """Accumulates per-clip features of the generated and reference sets for each feature space."""

    def __init__(self, config: EvaluateConfig):
        import torch

        from interanimate.evaluation.backbones import FIDInceptionV3, InceptionI3D, LPIPSAlex
        from interanimate.evaluation.frechet import FeatureStatsAccumulator

        self.config = config
        self.spaces: dict[str, tuple[FeatureStatsAccumulator, FeatureStatsAccumulator]] = {}
        self.names: dict[str, str] = {"dlib_face128": "frechet_dlib_face"}
        self._acc = FeatureStatsAccumulator
        self.torch = torch
        self.inception = self.i3d = self.lpips = None
        if config.fid_weights:
            self.inception = FIDInceptionV3()
            self.inception.load_weights(config.fid_weights, assume_standard=config.assume_standard)
            self.names["inception_v3_pool3"] = self.inception.metric_name()
        if config.fvd_weights:
            self.i3d = InceptionI3D()
            self.i3d.load_weights(config.fvd_weights, assume_standard=config.assume_standard)
            self.names["i3d_logits"] = self.i3d.metric_name()
        if config.lpips_weights:
            self.lpips = LPIPSAlex()
            self.lpips.load_weights(config.lpips_weights, config.lpips_backbone_weights, config.assume_standard)
        self.lpips_values: list[float] = []

    def _add(self, space: str, which: int, features: np.ndarray) -> None:
        features = features[np.isfinite(features).all(axis=1)]
        if not len(features):
            return
        if space not in self.spaces:
            self.spaces[space] = (self._acc(features.shape[1]), self._acc(features.shape[1]))
        self.spaces[space][which].update(features.astype(np.float64))

    def add_clip(self, gen: np.ndarray, gen_desc: np.ndarray, ref: np.ndarray, ref_desc: np.ndarray,
                 include_reference: bool) -> None:
        """Add a clip's sampled frames: face descriptors (already computed) and backbone features."""
        idx = _sample_indices(len(gen), self.config.frames_per_clip)
        for which, frames, desc in ((0, gen, gen_desc), (1, ref, ref_desc)):
            if which == 1 and not include_reference:
                continue
            self._add("dlib_face128", which, desc[idx])
            tensor = self.torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255.0
            if self.inception is not None:
                self._add("inception_v3_pool3", which, self.inception(tensor[idx]).numpy())
            if self.i3d is not None and len(frames) >= 8:
                clip = tensor[:16].permute(1, 0, 2, 3)[None]  # (1, 3, f, h, w)
                self._add("i3d_logits", which, self.i3d(clip).numpy())
        if self.lpips is not None:
            g = self.torch.from_numpy(np.ascontiguousarray(gen[idx])).permute(0, 3, 1, 2).float() / 127.5 - 1
            r = self.torch.from_numpy(np.ascontiguousarray(ref[idx])).permute(0, 3, 1, 2).float() / 127.5 - 1
            self.lpips_values.extend(self.lpips(g, r).tolist())

    def results(self, reference: Path, clip_ids: list[str], cache_dir: Path) -> dict:
        from interanimate.evaluation.frechet import FeatureStats

        out = {}
        for space, (gen_acc, ref_acc) in self.spaces.items():
            cache = cache_dir / f"{space}-{_reference_key(reference, self.config, space, clip_ids)}.npz"
            if cache.is_file():
                ref_stats = FeatureStats.load(cache)
            else:
                ref_stats = ref_acc.finalize(space)
                cache.parent.mkdir(parents=True, exist_ok=True)
                ref_stats.save(cache)
            gen_stats = gen_acc.finalize(space)
            entry = {"value": None, "feature_space": space, "generated_samples": gen_stats.num_samples,
                     "reference_samples": ref_stats.num_samples, "reference_cache": str(cache)}
            fewest = min(gen_stats.num_samples, ref_stats.num_samples)
            if fewest >= 2:
                entry["value"] = gen_stats.distance(ref_stats)
            dim = gen_acc.dim
            if fewest < dim:
                # Fewer samples than dimensions: the covariance is singular and the distance is dominated
                # by the estimate's bias, so it is kept in the JSON but not shown as a result.
                entry["unmeasured"] = (f"{gen_stats.num_samples} generated and {ref_stats.num_samples} reference "
                                       f"faces found for a {dim}-d covariance (needs at least {dim} on each side)")
            out[self.names.get(space, f"frechet_{space}")] = entry
        if self.lpips is not None and self.lpips_values:
            out[self.lpips.metric_name()] = {"value": float(np.mean(self.lpips_values)), "pairs": len(self.lpips_values)}
        return out


# --- the run -----------------------------------------------------------------------------------------------

@dataclass
class EvaluationResult:
    summary: dict
    per_clip: dict[str, dict]
    per_pattern: dict[str, dict]
    set_level: dict
    config: dict
    versions: dict
    identity_curves: dict[str, list] = field(default_factory=dict)
    unmeasured: dict[str, str] = field(default_factory=dict)  # summary label -> why it has no value

    def to_json(self) -> str:
        return json.dumps(json_safe(asdict(self)), indent=2, sort_keys=True)


def _mean_of(values: list[float | None]) -> float | None:
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(finite)) if finite else None


def _get(d: dict, path: str):
    for part in path.split("."):
        if not isinstance(d, dict) or part not in d:
            return None
        d = d[part]
    return d if isinstance(d, (int, float, np.floating)) else None


SUMMARY_KEYS = {
    "pixel.frame.ssim": "SSIM (frame)", "pixel.frame.psnr_video": "PSNR dB (frame)", "pixel.frame.l1": "L1 (frame)",
    "pixel.face.ssim": "SSIM (face crop)", "pixel.hand_left.ssim": "SSIM (left hand crop)",
    "pixel.hand_right.ssim": "SSIM (right hand crop)",
    "temporal.frame.warping_error": "warping error (frame)", "temporal.frame.flicker": "flicker (frame)",
    "temporal.interaction.warping_error": "warping error (interaction)",
    "temporal.interaction.flicker": "flicker (interaction)",
    "temporal.own_flow.warping_error": "warping error (own flow)",
    "temporal.ground_truth_frame.warping_error": "warping error (ground truth)",
    "identity.generated.mean": "identity distance (dlib)",
    "identity.generated.same_person_rate": "same-person rate (dlib, d < 0.6)",
    "identity.generated.face_coverage": "face coverage",
    "identity.generated.drift": "identity drift /s (dlib distance)",
    "identity.ground_truth.mean": "identity distance (ground truth)",
    "identity.ground_truth.same_person_rate": "same-person rate (ground truth)",
    "identity.ground_truth.face_coverage": "face coverage (ground truth)",
    "identity_arcface.generated.mean": "identity similarity (ArcFace)",
    "identity_arcface.generated.same_person_rate": "same-person rate (ArcFace, cos >= 0.28)",
    "identity_arcface.generated.drift": "identity drift /s (ArcFace)",
    "anatomy.hand_pck.pck": "hand PCK", "anatomy.hand_pck_strict.pck": "hand PCK@0.05",
    "anatomy.face_nme.nme": "face NME",
    "anatomy.hand_detection.detection_rate": "hand detection rate", "anatomy.contact.precision": "contact precision",
    "anatomy.hand_matching.handedness_agreement": "handedness agreement",
    "anatomy.contact.recall": "contact recall",
    "anatomy.ground_truth_detection.hand_detection_rate": "hand detection rate (ground truth)",
    "anatomy.ground_truth_penetration.max_mm": "max penetration mm (ground truth)",
}
# Summary keys that cannot be absent for a reason of their own: a missing value means the clip lacks the part.
_NO_VALUE_REASONS = {
    "pixel.hand_left": "no left hand in the ground truth, or its crop is under the 11-px SSIM window",
    "pixel.hand_right": "no right hand in the ground truth, or its crop is under the 11-px SSIM window",
    "pixel.face": "no face in the ground truth, or its crop is under the 11-px SSIM window",
    "temporal.interaction": "no requested hand or contact region",
    "anatomy.face_nme": "no face re-detected in the generated frames",
    "anatomy.hand_pck": "no requested hand keypoints",
    "anatomy.hand_pck_strict": "no requested hand keypoints",
    "anatomy.hand_matching": "no hand both requested and re-detected",
    "anatomy.contact": "no contact requested or re-detected",
    "anatomy.ground_truth_penetration": "the ground truth carries no penetration depths",
    "anatomy.ground_truth_detection": "no re-detector, or no hands in the ground truth",
    "identity_arcface": "no ArcFace model given (--arcface)",
}


def _unmeasured_reason(scores: dict, key: str) -> str | None:
    """The reason a clip marks ``key`` (``group.path``) unmeasured: its group's ``unmeasured`` entry for
    the path or any of its prefixes."""
    group, _, rest = key.partition(".")
    marks = scores.get(group, {}).get("unmeasured", {}) if isinstance(scores.get(group), dict) else {}
    parts = rest.split(".") if rest else []
    for i in range(len(parts), -1, -1):
        reason = marks.get(".".join(parts[:i]))
        if reason:
            return reason
    return None


def summarise(rows: list[dict], metrics=METRIC_GROUPS) -> tuple[dict[str, float], dict[str, str]]:
    """Mean of every summary metric over the clips that measured it, and for each metric no clip could
    measure, the reason (the commonest among the clips)."""
    summary: dict[str, float] = {}
    unmeasured: dict[str, str] = {}
    for key, label in SUMMARY_KEYS.items():
        group = key.split(".")[0]
        if (group if group != "identity_arcface" else "identity") not in metrics:
            continue
        values, reasons = [], []
        for s in rows:
            reason = _unmeasured_reason(s, key)
            if reason:
                reasons.append(reason)
            else:
                values.append(_get(s, key))
        mean = _mean_of(values)
        if mean is not None:
            summary[label] = mean
        elif reasons:
            unmeasured[label] = max(set(reasons), key=reasons.count)
        elif rows:
            prefix = next((p for p in _NO_VALUE_REASONS if key.startswith(p + ".") or key == p), None)
            if prefix is not None and group != "identity_arcface":
                unmeasured[label] = _NO_VALUE_REASONS[prefix]
    return summary, unmeasured


def evaluate(generated: Path, reference: Path, config: EvaluateConfig | None = None,
             redetector: Redetector | None = None, progress: bool = True) -> EvaluationResult:
    """Score every generated clip against its reference clip; return all numbers."""
    from tqdm import tqdm

    config = config or EvaluateConfig()
    unknown = set(config.metrics) - set(METRIC_GROUPS)
    if unknown:
        raise EvaluationInputError(f"unknown metric group(s) {', '.join(sorted(unknown))}; choose from "
                                   f"{', '.join(METRIC_GROUPS)}")
    for option in ("fid_weights", "fvd_weights", "lpips_weights", "lpips_backbone_weights", "arcface_weights"):
        path = getattr(config, option)
        if path and not Path(path).is_file():
            raise EvaluationInputError(f"{path}: no such weights file (--{option.replace('_', '-')})")
    pairs = match_clips(generated, reference, config.max_clips)
    cache_dir = Path(config.cache_dir) if config.cache_dir else _default_cache()
    frechet = FrechetSets(config) if "frechet" in config.metrics else None
    descriptor = None
    if "identity" in config.metrics or frechet is not None:
        from interanimate.evaluation.backbones import DlibFaceDescriptor

        descriptor = DlibFaceDescriptor()
    arcface = None
    if config.arcface_weights and ("identity" in config.metrics or frechet is not None):
        from interanimate.evaluation.backbones.arcface import ArcFaceEmbedder

        arcface = ArcFaceEmbedder(config.arcface_weights)
        if frechet is not None:
            frechet.names["arcface512"] = "frechet_arcface512"
    clip_ids = [p.reference.clip_id for p in pairs]
    ref_key = (cache_dir / f"dlib_face128-{_reference_key(reference, config, 'dlib_face128', clip_ids)}.npz")
    need_reference_features = frechet is not None and not ref_key.is_file()
    per_clip: dict[str, dict] = {}
    curves: dict[str, list] = {}
    faces_seen = 0
    for pair in tqdm(pairs, desc="evaluate", unit="clip", disable=not progress):
        gen, gen_ann, ref, ref_ann = pair.load()
        faces_seen += int(gen_ann.face_present.any())
        scores: dict = {"pattern": pair.generated.pattern, "reference_clip": pair.reference.clip_id}
        if "pixel" in config.metrics:
            scores["pixel"] = pixel_group(gen, ref, ref_ann)
        if "temporal" in config.metrics:
            scores["temporal"] = temporal_group(gen, ref, gen_ann, config.flow_method)
        if descriptor is not None:
            # One detection pass per clip serves the identity curve, the ArcFace alignment and the
            # Fréchet face space; frames where the detector finds no face have no descriptor.
            gen_faces = detect_faces(descriptor, gen, gen_ann)
            ref_faces = detect_faces(descriptor, ref, ref_ann)
            gen_desc, ref_desc = gen_faces.descriptors, ref_faces.descriptors
        if arcface is not None:
            gen_arc = arcface.embed_video(gen, gen_faces.landmarks, gen_faces.found)
            ref_arc = arcface.embed_video(ref, ref_faces.landmarks, ref_faces.found)
            if "identity" in config.metrics:
                scores["identity_arcface"] = identity_group(gen_arc, ref_arc, pair.generated.fps, "arcface512")
                scores["identity_arcface"].get("generated", {}).pop("per_frame", None)
            if frechet is not None:
                idx = _sample_indices(len(gen), config.frames_per_clip)
                frechet._add("arcface512", 0, gen_arc[idx])
                frechet._add("arcface512", 1, ref_arc[idx])
        if "identity" in config.metrics:
            scores["identity"] = identity_group(gen_desc, ref_desc, pair.generated.fps)
            per_frame = scores["identity"].get("generated", {}).pop("per_frame", None)
            if per_frame is not None:
                curves[pair.generated.clip_id] = np.asarray(per_frame, float).tolist()
        if "anatomy" in config.metrics:
            scores["anatomy"] = anatomy_group(gen, gen_ann, ref_ann, pair.generated.pattern, pair.generated.fps,
                                              redetector, config.pck_threshold, ref)
        if frechet is not None:
            frechet.add_clip(gen, gen_desc, ref, ref_desc, include_reference=need_reference_features or
                             frechet.inception is not None or frechet.i3d is not None)
        per_clip[pair.generated.clip_id] = scores
    if ("identity" in config.metrics or "frechet" in config.metrics) and faces_seen == 0:
        raise EvaluationInputError(f"{generated}: no generated clip has a face in its labels; identity and Fréchet "
                                   "face metrics need face boxes (drop them with --metrics)")
    set_level = frechet.results(reference, clip_ids, cache_dir) if frechet is not None else {}
    if frechet is not None and "frechet_dlib_face" not in set_level:
        set_level["frechet_dlib_face"] = {"value": None, "feature_space": "dlib_face128",
                                          "unmeasured": "the face detector found no face to describe"}
    summary, unmeasured = summarise(list(per_clip.values()), config.metrics)
    recognised = [(s["anatomy"]["pattern"]["recognised"], s["anatomy"]["pattern"]["requested"])
                  for s in per_clip.values() if isinstance(s.get("anatomy", {}).get("pattern"), dict)
                  and _unmeasured_reason(s, "anatomy.pattern") is None]
    if recognised:
        from interanimate.evaluation.anatomy import pattern_accuracy

        set_level["pattern_accuracy"] = pattern_accuracy([r for r, _ in recognised], [q for _, q in recognised])
    elif any(isinstance(s.get("anatomy", {}).get("pattern"), dict) for s in per_clip.values()):
        reasons = [_unmeasured_reason(s, "anatomy.pattern") for s in per_clip.values()]
        unmeasured["pattern accuracy"] = next(r for r in reasons if r)
    for name, entry in set_level.items():
        if isinstance(entry, dict) and "value" in entry:
            if entry.get("unmeasured") or entry["value"] is None:
                unmeasured[name] = entry.get("unmeasured") or "not computed"
            else:
                summary[name] = entry["value"]
    per_pattern: dict[str, dict] = {}
    for pattern in [p for p in PATTERN_NAMES if any(s["pattern"] == p for s in per_clip.values())]:
        rows = [s for s in per_clip.values() if s["pattern"] == pattern]
        values, _ = summarise(rows, config.metrics)
        per_pattern[pattern] = {"clips": len(rows), "family": get_pattern(pattern).family, **values}
    versions = {"interanimate": __version__, "python": platform.python_version(), "numpy": np.__version__}
    try:
        import cv2
        import torch

        versions.update(opencv=cv2.__version__, torch=torch.__version__)
    except ImportError:
        pass
    run_config = {**asdict(config), "generated": str(generated), "reference": str(reference),
                  "redetector": getattr(redetector, "__name__", type(redetector).__name__) if redetector else None,
                  "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    return EvaluationResult(summary, per_clip, per_pattern, set_level, run_config, versions, curves, unmeasured)


def _default_cache() -> Path:
    from interanimate.assets import cache_dir

    return cache_dir() / "reference-stats"
