"""Real video -> InterHF dataset: landmarks -> smoothing -> masks -> contact -> pattern -> clips.

Modules: ``video`` (inputs, robust reading), ``perception`` (MediaPipe Tasks), ``ibug68`` (mesh ->
iBUG-68 map), ``tracking`` (subject face, hand sides), ``smoothing`` (One-Euro, gap filling),
``geometry`` (face frame, regions), ``contact``, ``patterns``, ``masks``, ``identity`` (dlib
embeddings, subject ids), ``pipeline`` (one video), ``engine`` (local / Ray, resume), ``preview``,
``command`` (the CLI).
"""

from interanimate.data.annotate.engine import RunSummary, run_annotate
from interanimate.data.annotate.pipeline import AnnotateConfig, VideoResult, annotate_video
from interanimate.data.annotate.video import AnnotateError, RejectedInput

__all__ = ["AnnotateConfig", "AnnotateError", "RejectedInput", "RunSummary", "VideoResult", "annotate_video",
           "run_annotate"]
