"""Real video -> InterHF dataset: landmarks -> smoothing -> masks -> contact -> pattern -> clips.

The public API is what this package exports; other packages import from ``interanimate.data.annotate`` only.

- ``analyse`` (``analysis``): frames or a video -> ``Analysis`` (the subject's tracks, cleaned landmarks, face
  frame, per-frame contact, recognised episodes). The one analysis behind the annotator, ``animate --driving``
  and evaluation's re-detection.
- ``keypoint_annotations`` / ``counted_hands`` (``labels``): contract annotations with masks drawn from
  keypoints, and the rule for which hand detections count; every keypoint-based producer uses them.
- ``annotate_video`` (``pipeline``): one video -> clips on disk; ``run_annotate`` (``engine``): many, resumable.
- Geometry other packages reuse: ``face_frame``, ``face_outline``, ``region_of_points``, ``signed_distance``,
  ``true_runs``, ``ibug68_from_mesh``; the ``Perceiver`` (MediaPipe) and ``FaceEmbedder`` (dlib) for single
  photos; ``render_frame`` (a frame with its labels drawn).

Modules: ``video`` (inputs, robust reading), ``perception`` (MediaPipe Tasks), ``ibug68`` (mesh -> iBUG-68 map),
``tracking`` (subject face, hand sides), ``smoothing`` (One-Euro, gap filling), ``geometry`` (face frame,
regions), ``contact``, ``patterns``, ``analysis`` (the chain), ``masks`` and ``labels`` (annotations from
keypoints), ``identity`` (dlib embeddings, subject ids), ``pipeline`` (one video), ``engine`` (local / Ray,
resume), ``preview``, ``command`` (the CLI).
"""

from interanimate.data.annotate.analysis import Analysis, CleanTracks, Episode, analyse
from interanimate.data.annotate.contact import ContactResult, true_runs
from interanimate.data.annotate.engine import RunSummary, run_annotate
from interanimate.data.annotate.geometry import (IOD_METRES, FaceFrame, face_frame, face_outline, region_of_points,
                                                 signed_distance)
from interanimate.data.annotate.ibug68 import ibug68_from_mesh
from interanimate.data.annotate.identity import FaceEmbedder
from interanimate.data.annotate.labels import CONTACT_RADIUS_PALMS, counted_hands, keypoint_annotations
from interanimate.data.annotate.perception import Perceiver
from interanimate.data.annotate.preview import render_frame
from interanimate.data.annotate.pipeline import PRODUCER, AnnotateConfig, VideoResult, annotate_video
from interanimate.data.annotate.tracking import SUBJECT_REJECTIONS
from interanimate.data.annotate.video import AnnotateError, RejectedInput, VideoInput, content_key

__all__ = ["CONTACT_RADIUS_PALMS", "IOD_METRES", "PRODUCER", "SUBJECT_REJECTIONS", "Analysis", "AnnotateConfig",
           "AnnotateError", "CleanTracks", "ContactResult", "Episode", "FaceEmbedder", "FaceFrame", "Perceiver", "RejectedInput",
           "RunSummary", "VideoInput", "VideoResult", "analyse", "annotate_video", "content_key", "counted_hands",
           "face_frame", "face_outline", "ibug68_from_mesh", "keypoint_annotations", "region_of_points",
           "render_frame", "run_annotate",
           "signed_distance", "true_runs"]
