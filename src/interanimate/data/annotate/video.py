"""Finding input videos and reading them robustly: rotation, variable frame rate, size limits.

Every problem with an input becomes a ``RejectedInput`` carrying a one-line reason, so a batch run can
record it and go on. Frames come out at a *working resolution* (long side at most ``max_side``, even
sizes for H.264), upright (the container's display-matrix rotation applied, as phone players do)
and on a constant frame-rate grid (variable-rate input is resampled to its mean rate by nearest
timestamp, so frame ``i`` of every later pass is the same picture).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from interanimate.data.annotate.resize import ALIGNMENT, aligned_empty, resize_area
from interanimate.errors import UserError

VIDEO_EXTENSIONS = {".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp",
                    ".ts", ".mts"}
LIST_EXTENSIONS = {".txt", ".lst", ".list"}


class AnnotateError(UserError, ValueError):
    """An expected, user-facing failure of ``annotate`` as a whole (bad arguments, nothing to do)."""


class RejectedInput(Exception):
    """One input video that cannot be annotated; ``reason`` is a short code, the message says why."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass
class VideoInput:
    """One input file: its path and a content key that names its clips (stable across runs and moves)."""

    path: Path
    key: str = ""
    error: str | None = None  # set when the path itself is unusable (missing, unreadable)


def _slug(text: str, limit: int = 40) -> str:
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_-") or "video"
    return slug[:limit]


def content_key(path: Path) -> str:
    """``<stem>-<12 hex>`` from the file's size and its first and last MiB.

    Hashing a bounded sample keeps this fast on multi-GB recordings while distinguishing different
    files with the same name; a moved or renamed copy keeps its key, so resuming after moving the
    input folder still finds its clips.
    """
    digest = hashlib.sha256()
    size = path.stat().st_size
    digest.update(str(size).encode())
    with open(path, "rb") as handle:
        digest.update(handle.read(1 << 20))
        if size > 2 << 20:
            handle.seek(-(1 << 20), 2)
            digest.update(handle.read(1 << 20))
    return f"{_slug(path.stem)}-{digest.hexdigest()[:12]}"


def discover_inputs(paths: list[Path | str]) -> list[VideoInput]:
    """Expand INPUT arguments: video files, folders (searched recursively for video extensions) and
    list files (``.txt``/``.lst``: one path per line, relative to the list's folder, ``#`` comments).

    Explicitly named files are kept whatever their extension, so a non-video file given by name is
    rejected with a reason instead of being skipped silently. Duplicates (same resolved path) are
    dropped; the order is that of the arguments, folders sorted.
    """
    found: list[VideoInput] = []
    seen: set[Path] = set()

    def add(path: Path) -> None:
        resolved = path.resolve()
        if resolved in seen:
            return
        seen.add(resolved)
        item = VideoInput(path)
        try:
            if not path.is_file():
                raise FileNotFoundError("not a file")
            item.key = content_key(path)
        except OSError as err:
            item.error = f"cannot read the file ({err.strerror or err})"
            item.key = f"{_slug(path.stem)}-missing-{hashlib.sha256(str(resolved).encode()).hexdigest()[:8]}"
        found.append(item)

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS):
                add(child)
        elif path.suffix.lower() in LIST_EXTENSIONS and path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    entry = Path(line)
                    add(entry if entry.is_absolute() else path.parent / entry)
        elif not path.exists():
            raise AnnotateError(f"{path}: no such file or folder")
        else:
            add(path)
    return found


@dataclass
class VideoInfo:
    """What the reader learned about a video.

    Args:
        fps: frame rate of the output grid.
        num_frames: frames on that grid.
        width, height: working resolution (after rotation and down-scaling).
        source_width, source_height: the stream's coded size.
        rotation: display rotation applied (degrees counter-clockwise).
        scale: working size / source size.
        variable_frame_rate: the timestamps were irregular and were resampled.
        codec: the stream's codec name.
    """

    fps: float
    num_frames: int
    width: int
    height: int
    source_width: int
    source_height: int
    rotation: int = 0
    scale: float = 1.0
    variable_frame_rate: bool = False
    codec: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class ReadLimits:
    """Bounds on what the reader accepts.

    Args:
        max_side: long side of the working resolution; larger videos are scaled down.
        max_pixels: source frames with more pixels than this are rejected (decoding them is a memory risk).
        min_frames: videos with fewer frames are rejected (nothing to track).
        max_seconds: videos longer than this are rejected (split them first).
    """

    max_side: int = 960
    max_pixels: int = 8192 * 4320
    min_frames: int = 8
    max_seconds: float = 3600.0


def _working_size(width: int, height: int, max_side: int) -> tuple[int, int, float]:
    scale = min(1.0, max_side / max(width, height))
    # H.264 in yuv420p needs even sizes; rounding down keeps the scale at or below the limit.
    w = max(2, int(width * scale) // 2 * 2)
    h = max(2, int(height * scale) // 2 * 2)
    return w, h, w / width


class VideoReader:
    """Reads one input video on a constant frame-rate grid; raises ``RejectedInput`` with a reason.

    ``open()`` reads the header and all timestamps (a demux pass, no decoding) to decide the grid;
    ``frames()`` then decodes and yields ``(index, frame)`` for the whole grid or a set of indices.
    """

    def __init__(self, path: Path, limits: ReadLimits | None = None):
        self.path = Path(path)
        self.limits = limits or ReadLimits()
        self.info: VideoInfo | None = None
        self._grid: np.ndarray | None = None  # per output frame, the index of the decoded frame shown

    def open(self) -> VideoInfo:
        path, limits = self.path, self.limits
        try:
            size = path.stat().st_size
        except OSError as err:
            raise RejectedInput("unreadable", f"cannot read the file ({err.strerror or err})") from None
        if size == 0:
            raise RejectedInput("empty_file", "the file is empty (0 bytes)")
        try:
            container = av.open(str(path), mode="r")
        except (av.error.FFmpegError, OSError, ValueError, UnicodeDecodeError) as err:
            raise RejectedInput("not_a_video", f"not a readable video container ({_short(err)})") from None
        with container:
            if not container.streams.video:
                raise RejectedInput("no_video_stream", "the file has no video stream")
            stream = container.streams.video[0]
            ctx = stream.codec_context
            if ctx is None or not ctx.name:
                raise RejectedInput("unsupported_codec", "the video stream's codec cannot be decoded here")
            width, height = int(ctx.width or 0), int(ctx.height or 0)
            if width <= 0 or height <= 0:
                raise RejectedInput("unsupported_codec", f"codec {ctx.name!r}: no frame size in the header")
            if width * height > limits.max_pixels:
                raise RejectedInput("resolution_too_large",
                                    f"{width}x{height} exceeds the {limits.max_pixels / 1e6:.0f} Mpixel limit")
            times = self._timestamps(container, stream)
        if len(times) < limits.min_frames:
            raise RejectedInput("too_short", f"{len(times)} frame(s); at least {limits.min_frames} are needed")
        duration = times[-1] - times[0]
        if duration > limits.max_seconds:
            raise RejectedInput("too_long", f"{duration:.0f} s exceeds the {limits.max_seconds:.0f} s limit; split it")
        info = VideoInfo(fps=0.0, num_frames=0, width=0, height=0, source_width=width, source_height=height,
                         codec=ctx.name)
        self._grid, info.fps, info.variable_frame_rate = self._make_grid(times, float(stream.average_rate or 0))
        info.num_frames = len(self._grid)
        if info.variable_frame_rate:
            info.notes.append("variable_frame_rate_resampled")
        # Rotation is read from the first decoded frame's display matrix (what players honour).
        info.rotation = self._first_rotation()
        upright_w, upright_h = (height, width) if info.rotation % 180 else (width, height)
        info.width, info.height, info.scale = _working_size(upright_w, upright_h, limits.max_side)
        self.info = info
        return info

    @staticmethod
    def _timestamps(container, stream) -> np.ndarray:
        """Presentation times (s) of every frame, from a demux pass; raises on a damaged stream."""
        times = []
        base = float(stream.time_base or 0) or 1.0 / 25
        try:
            for packet in container.demux(stream):
                if packet.size == 0 or packet.pts is None and packet.dts is None:
                    continue
                times.append(float(packet.pts if packet.pts is not None else packet.dts) * base)
        except av.error.FFmpegError as err:
            raise RejectedInput("corrupt", f"the stream is damaged ({_short(err)})") from None
        return np.sort(np.asarray(times, np.float64))

    @staticmethod
    def _make_grid(times: np.ndarray, nominal_fps: float) -> tuple[np.ndarray, float, bool]:
        steps = np.diff(times)
        steps = steps[steps > 0]
        if not len(steps):
            return np.arange(len(times)), nominal_fps or 25.0, False
        median = float(np.median(steps))
        # Irregular when intervals stray more than 25 % from the median in over 5 % of frames.
        irregular = float(np.mean(np.abs(steps - median) > 0.25 * median)) > 0.05
        if not irregular:
            fps = nominal_fps if nominal_fps > 0 and abs(1 / nominal_fps - median) < 0.25 * median else 1 / median
            return np.arange(len(times)), float(fps), False
        fps = (len(times) - 1) / max(times[-1] - times[0], 1e-6)
        fps = float(np.clip(fps, 1.0, 240.0))
        ticks = times[0] + np.arange(int(np.floor((times[-1] - times[0]) * fps)) + 1) / fps
        nearest = np.clip(np.searchsorted(times, ticks), 1, len(times) - 1)
        left_closer = np.abs(ticks - times[nearest - 1]) <= np.abs(times[nearest] - ticks)
        return np.where(left_closer, nearest - 1, nearest), fps, True

    def _first_rotation(self) -> int:
        try:
            with av.open(str(self.path), mode="r") as container:
                for frame in container.decode(container.streams.video[0]):
                    return int(round(getattr(frame, "rotation", 0) or 0)) % 360
        except av.error.FFmpegError as err:
            raise RejectedInput("undecodable", f"the first frame cannot be decoded ({_short(err)})") from None
        raise RejectedInput("undecodable", "no frame could be decoded")

    def _prepare(self, frame: np.ndarray) -> np.ndarray:
        """A decoded RGB frame upright at the working size, C-contiguous and 64-byte aligned (so MediaPipe takes
        it without a copy)."""
        info = self.info
        assert info is not None
        k = (info.rotation // 90) % 4
        if k:
            frame = np.rot90(frame, k)  # display matrix angles are counter-clockwise, as is rot90
        if frame.shape[1] != info.width or frame.shape[0] != info.height:
            return resize_area(frame, info.width, info.height)
        if frame.flags.c_contiguous and frame.ctypes.data % ALIGNMENT == 0:
            return frame  # FFmpeg's own buffer, already aligned
        out = aligned_empty(frame.shape, frame.dtype)
        out[...] = frame
        return out

    def frames(self, wanted: set[int] | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(grid index, (H, W, 3) uint8 RGB)`` in order; only ``wanted`` indices when given.

        Raises ``RejectedInput`` when decoding fails or the stream ends before its demuxed length
        (a truncated file): labels for a shortened video would be silently wrong otherwise.
        """
        if self.info is None:
            self.open()
        grid = self._grid
        assert grid is not None
        # For each decoded frame, which grid slots show it (VFR resampling may drop or repeat frames).
        slots: dict[int, list[int]] = {}
        for out_index, source_index in enumerate(grid):
            if wanted is None or out_index in wanted:
                slots.setdefault(int(source_index), []).append(out_index)
        if not slots:
            return
        last_needed = max(slots)
        decoded = -1
        try:
            with av.open(str(self.path), mode="r") as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                for decoded, frame in enumerate(container.decode(stream)):
                    if decoded in slots:
                        image = self._prepare(frame.to_ndarray(format="rgb24"))
                        for out_index in slots[decoded]:
                            yield out_index, image
                    if decoded >= last_needed:
                        return
        except av.error.FFmpegError as err:
            raise RejectedInput("corrupt", f"decoding failed after frame {decoded + 1} ({_short(err)})") from None
        raise RejectedInput("truncated", f"the stream ends after {decoded + 1} decodable frames; "
                                         f"the container lists {int(grid.max()) + 1}")


def _short(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text[:160]
