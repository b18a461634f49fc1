"""Evaluation metrics for generated hand-face interaction videos (see ``docs/evaluation.md``).

Every metric is a function of arrays in the dataset contract's layout:

* ``pixel``     SSIM / PSNR / L1 against ground truth, whole frame and hand/face crops;
* ``frechet``   Fréchet distance (stable matrix square root) and cacheable feature statistics;
* ``backbones`` FID Inception-v3, FVD I3D, LPIPS AlexNet in plain torch (user-supplied weights) and the
                offline dlib face descriptor;
* ``temporal``  flow-warping error and flicker;
* ``anatomy``   hand PCK, face NME, hand detection rate, bone-length stability, contact P/R/F1,
                pattern accuracy, penetration;
* ``identity``  per-frame identity distance with the recogniser's same-person threshold, face coverage, drift;
* ``validation`` every metric scored on a known-good and a known-bad input.
"""

from interanimate.evaluation.anatomy import (
    bone_length_stability,
    bone_lengths,
    contact_scores,
    face_nme,
    face_nme_per_frame,
    hand_detection_rate,
    hand_pck,
    pattern_accuracy,
    penetration_stats,
)
from interanimate.evaluation.frechet import (
    FeatureStats,
    FeatureStatsAccumulator,
    cached_stats,
    frechet_distance,
    frechet_distance_from_features,
)
from interanimate.evaluation.identity import (
    cosine_similarity,
    euclidean_distance,
    identity_scores,
    identity_summary,
)
from interanimate.evaluation.pixel import (
    PixelScores,
    face_boxes,
    hand_boxes,
    keypoint_box,
    l1,
    psnr,
    region_pixel_scores,
    ssim,
    video_pixel_scores,
)
from interanimate.evaluation.temporal import TemporalScores, temporal_scores

__all__ = [
    "FeatureStats",
    "FeatureStatsAccumulator",
    "PixelScores",
    "TemporalScores",
    "bone_length_stability",
    "bone_lengths",
    "cached_stats",
    "contact_scores",
    "cosine_similarity",
    "euclidean_distance",
    "face_boxes",
    "face_nme",
    "face_nme_per_frame",
    "frechet_distance",
    "frechet_distance_from_features",
    "hand_boxes",
    "hand_detection_rate",
    "hand_pck",
    "identity_scores",
    "identity_summary",
    "keypoint_box",
    "l1",
    "pattern_accuracy",
    "penetration_stats",
    "psnr",
    "region_pixel_scores",
    "ssim",
    "temporal_scores",
    "video_pixel_scores",
]
