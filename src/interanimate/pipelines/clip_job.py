"""``AnimateJob``: the unit of work of ``interanimate animate`` on the job engine (``interanimate.data.jobs``).

One request becomes one clip: its ``--out`` files and/or its folder in the ``--as-dataset`` dataset. The job is
picklable (it carries a pipeline *factory*, not a pipeline), so the engine can run it in spawned processes or
Ray actors; each of those builds its pipeline once, on its first request, and reuses it (a loaded model, cached
faces) for the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ClipOutputs:
    """Where a clip's files go.

    Args:
        out: ``--out``: an ``.mp4`` file (one clip) or a folder; ``None`` for none.
        single: the run has one clip (then an ``.mp4`` ``out`` is that clip's file).
        gif: also write an animated GIF beside the video.
        side_by_side: also write reference | conditions | video.
        dataset: the ``--as-dataset`` folder, or ``None``.
    """

    out: str | None = None
    single: bool = False
    gif: bool = False
    side_by_side: bool = False
    dataset: str | None = None

    def video_path(self, name: str) -> Path | None:
        """The clip's ``--out`` video, or ``None`` without ``--out``."""
        if self.out is None:
            return None
        out = Path(self.out)
        return out if self.single and out.suffix.lower() == ".mp4" else out / f"{name}.mp4"

    def finished(self, name: str) -> bool:
        """True when the clip's ``--out`` video, if any, is already written."""
        path = self.video_path(name)
        return path is None or path.is_file()


class AnimateJob:
    """Render one ``AnimateRequest`` and write its files; returns the clip's summary row (a JSON-able dict).

    Args:
        factory: picklable callable building the pipeline (e.g. ``functools.partial(CompositePipeline, size=...)``).
        outputs: where the files go.
    """

    def __init__(self, factory: Callable[[], object], outputs: ClipOutputs):
        self.factory, self.outputs = factory, outputs
        self._pipe = None

    def attach(self, pipe) -> "AnimateJob":
        """Use an already built pipeline in this process (it is not pickled with the job)."""
        self._pipe = pipe
        return self

    @property
    def pipe(self):
        if self._pipe is None:
            self._pipe = self.factory()
        return self._pipe

    def __getstate__(self) -> dict:
        return {"factory": self.factory, "outputs": self.outputs, "_pipe": None}

    def __call__(self, request) -> dict:
        started = time.perf_counter()
        pipe, outputs = self.pipe, self.outputs
        result = pipe(request)
        files = {}
        path = outputs.video_path(result.name)
        if path is not None:
            files = {k: str(v) for k, v in pipe.write(result, path, gif=outputs.gif,
                                                       side_by_side=outputs.side_by_side).items()}
        if outputs.dataset is not None:
            files["dataset"] = self._write_clip(pipe, result)
        contact = int(result.annotations.contact.any(axis=1).sum())
        return {"clip": result.name, "status": "ok", "pattern": result.pattern, "seed": result.seed,
                "frames": len(result.frames), "contact_frames": contact,
                "seconds": round(time.perf_counter() - started, 2), "files": files}

    def _write_clip(self, pipe, result) -> str:
        from interanimate.data.writer import write_clip_folder

        record = pipe.record(result)
        try:
            write_clip_folder(Path(self.outputs.dataset), record, result.frames, result.annotations,
                              video_metadata=result.metadata)
        except FileExistsError:  # written by an earlier run, or by another item with the same final id
            return f"{record.clip_id} (already in the dataset)"
        return record.clip_id


__all__ = ["AnimateJob", "ClipOutputs"]
