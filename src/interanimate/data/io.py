"""File IO shared by every producer and reader: atomic writes, checksums and H.264 video via PyAV."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import numpy as np

from interanimate.errors import OutputError, UserError

_CHUNK = 1 << 20


class VideoReadError(UserError, ValueError):
    """A video that cannot be opened or decoded."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def current_umask() -> int:
    """The process's file-creation mask (read without changing it where ``/proc`` allows)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """Mode of a new regular file under the umask (0644 under umask 022), as ``open()`` would give it."""
    return 0o666 & ~current_umask()


def folder_mode() -> int:
    """Mode of a new folder under the umask (0755 under umask 022), as ``mkdir`` would give it."""
    return 0o777 & ~current_umask()


def output_failure(path: Path, err: OSError) -> OutputError:
    """The one-line error for an output that cannot be written (read-only, full, not a folder, ...)."""
    reason = err.strerror or str(err)
    return OutputError(f"cannot write {path}: {reason}; free some space or choose a writable location "
                       "(nothing already written there was changed)")


@contextmanager
def output_errors(path: Path) -> Iterator[None]:
    """Turn an ``OSError`` raised while writing ``path`` into :class:`OutputError` naming it."""
    try:
        yield
    except OutputError:
        raise
    except (FileExistsError, FileNotFoundError):
        raise
    except OSError as err:
        raise output_failure(path, err) from None


def make_folder(path: Path) -> Path:
    """``mkdir -p`` for an output folder; a one-line :class:`OutputError` when it cannot be made."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"cannot write {path}: a file of that name is in the way; choose another location") \
            from None
    except OSError as err:
        raise output_failure(path, err) from None
    return path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see either the old file or the whole new one, never a part.

    The file gets the mode a plain ``open()`` would give it under the umask (0644 under umask 022). An
    output that cannot be written (read-only, full) raises :class:`OutputError` naming ``path``; the old
    file, if any, is untouched and no temporary file is left.
    """
    path = Path(path)
    make_folder(path.parent)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise output_failure(path, err) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), file_mode())
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException as err:
        Path(tmp_name).unlink(missing_ok=True)
        if isinstance(err, OSError) and not isinstance(err, OutputError):
            raise output_failure(path, err) from None
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def json_safe(value):
    """``value`` as plain, strict JSON data: tuples and arrays become lists, numpy scalars Python numbers, and
    non-finite floats (e.g. an undefined choreography parameter) ``None``; dict keys and other values are kept."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def atomic_write_json(path: Path, obj: object) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


@contextmanager
def atomic_directory(final: Path) -> Iterator[Path]:
    """Yield a hidden staging folder beside ``final``; on success it is renamed to ``final`` in one step.

    A crash inside the block leaves only the hidden staging folder (``.tmp-*``), which readers ignore
    and writers sweep on their next start, so a half-written clip is never visible under its name.
    """
    final = Path(final)
    make_folder(final.parent)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=final.parent))
        os.chmod(staging, folder_mode())  # mkdtemp makes 0700; a dataset must be readable by others
    except OSError as err:
        raise output_failure(final, err) from None
    try:
        yield staging
        for child in staging.iterdir():
            with open(child, "rb") as handle:
                os.fsync(handle.fileno())
        if final.exists():
            raise FileExistsError(f"{final} already exists")
        os.replace(staging, final)
        _fsync_dir(final.parent)
    except BaseException as err:
        for child in staging.glob("*"):
            child.unlink(missing_ok=True)
        if staging.exists():
            staging.rmdir()
        if isinstance(err, OSError) and err.errno in (errno.ENOTEMPTY, errno.EEXIST):
            raise FileExistsError(f"{final} already exists") from None  # another writer renamed first
        if isinstance(err, OSError) and not isinstance(err, (OutputError, FileExistsError, FileNotFoundError)):
            raise output_failure(final, err) from None
        raise


# BT.601 limited-range RGB -> YCbCr (ITU-R BT.601, the matrix decoders assume for untagged video).
_RGB_TO_YCBCR = np.array([[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]],
                         np.float32) / 255.0
_YCBCR_OFFSET = np.array([16.0, 128.0, 128.0], np.float32)


def rgb_to_yuv(frame: np.ndarray, subsample: bool) -> np.ndarray:
    """``(H, W, 3) uint8`` RGB -> planar YUV for PyAV: ``yuv420p`` ``(H * 3 / 2, W)`` or ``yuv444p`` ``(3, H, W)``.

    Done here rather than by libswscale because swscale's packed-RGB path gave run-to-run differences
    in the encoded bytes; with this conversion the same frames always encode to the same file. Byte frames go
    through one compiled pass (``data.ycbcr``), which gives exactly ``_rgb_to_yuv_arrays``' bytes.
    """
    height, width = frame.shape[:2]
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3 or (subsample and (height % 2 or width % 2)):
        return _rgb_to_yuv_arrays(frame, subsample)
    from interanimate.data import ycbcr

    frame = np.ascontiguousarray(frame)
    if subsample:
        out = np.empty((height * 3 // 2, width), np.uint8)
        ycbcr.planar_420(frame, _RGB_TO_YCBCR, _YCBCR_OFFSET, out)
    else:
        out = np.empty((3, height, width), np.uint8)
        ycbcr.planar_444(frame, _RGB_TO_YCBCR, _YCBCR_OFFSET, out)
    return out


def _rgb_to_yuv_arrays(frame: np.ndarray, subsample: bool) -> np.ndarray:
    """``rgb_to_yuv`` as array operations: the conversion's definition."""
    ycc = frame.astype(np.float32) @ _RGB_TO_YCBCR.T + _YCBCR_OFFSET
    planes = np.clip(np.rint(ycc), 0, 255).astype(np.uint8).transpose(2, 0, 1)  # (3, H, W)
    if not subsample:
        return np.ascontiguousarray(planes)
    height, width = frame.shape[:2]
    cbcr = ycc[..., 1:]  # 2×2 means, summed as the four strided views (the same sums as a mean, in a third the time)
    chroma = (cbcr[0::2, 0::2] + cbcr[0::2, 1::2] + cbcr[1::2, 0::2] + cbcr[1::2, 1::2]) * np.float32(0.25)
    chroma = np.clip(np.rint(chroma), 0, 255).astype(np.uint8).transpose(2, 0, 1)  # (2, H/2, W/2)
    return np.concatenate([planes[0].ravel(), chroma[0].ravel(), chroma[1].ravel()]).reshape(height * 3 // 2, width)


def encode_video(frames: np.ndarray, fps: float, crf: int = 18, metadata: dict[str, str] | None = None,
                 lossless: bool = False) -> bytes:
    """Encode ``(F, H, W, 3) uint8`` RGB frames as an H.264 MP4 and return its bytes.

    Even sizes use ``yuv420p`` (what every player decodes); odd sizes, which 4:2:0 chroma cannot
    represent, use ``yuv444p`` so any size round-trips without resizing. ``crf`` 18 is visually
    lossless for rendered content; ``metadata`` goes into the container tags. ``lossless=True`` stores
    the RGB frames bit-exactly (H.264 High 4:4:4 with RGB, ``libx264rgb`` at qp 0), at several times
    the size; use it where exact pixels matter more than bytes.
    """
    frames = np.ascontiguousarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (F, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    num_frames, height, width, _ = frames.shape
    if num_frames == 0:
        raise ValueError("cannot encode a video with no frames")
    if lossless:
        codec, pix_fmt, quality = "libx264rgb", "rgb24", {"qp": "0"}
    else:
        codec, pix_fmt = "libx264", "yuv420p" if height % 2 == 0 and width % 2 == 0 else "yuv444p"
        quality = {"crf": str(crf)}
    import av  # imported where videos are handled, so configs and models load without PyAV

    buffer = io.BytesIO()
    # use_metadata_tags lets the MP4 muxer store any key (e.g. provenance tags), not only the standard few.
    options = {"movflags": "use_metadata_tags"} if metadata else {}
    with av.open(buffer, mode="w", format="mp4", options=options) as container:
        for key, value in (metadata or {}).items():
            container.metadata[key] = str(value)
        rate = Fraction(fps).limit_denominator(1001)
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        # Single-threaded encoding keeps output reproducible in practice (libx264 can still differ in
        # a few bytes on tiny frames); annotations, not video bytes, carry the byte-exact guarantee.
        stream.options = {**quality, "preset": "medium", "threads": "1"}
        stream.thread_count = 1
        for index, frame in enumerate(frames):
            if lossless:
                video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            else:
                video_frame = av.VideoFrame.from_ndarray(rgb_to_yuv(frame, pix_fmt == "yuv420p"), format=pix_fmt)
            video_frame.pts = index
            for packet in stream.encode(video_frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def _open(source: Path | bytes) -> "av.container.InputContainer":
    import av

    try:
        return av.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else str(source), mode="r")
    except (av.error.FFmpegError, OSError, ValueError) as err:
        raise VideoReadError(f"cannot open video: {err}") from None


def decode_video(source: Path | bytes, frame_indices: list[int] | None = None) -> np.ndarray:
    """Decode an MP4 (path or bytes) to ``(F, H, W, 3) uint8`` RGB; optionally only some frames."""
    wanted = None if frame_indices is None else set(frame_indices)
    frames: list[np.ndarray] = []
    import av

    try:
        with _open(source) as container:
            if not container.streams.video:
                raise VideoReadError("no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            last = max(wanted) if wanted else None
            for index, frame in enumerate(container.decode(stream)):
                if wanted is None or index in wanted:
                    frames.append(frame.to_ndarray(format="rgb24"))
                if last is not None and index >= last:
                    break
    except av.error.FFmpegError as err:
        raise VideoReadError(f"cannot decode video: {err}") from None
    if not frames:
        raise VideoReadError("video has no decodable frames")
    if frame_indices is not None:
        if len(frames) != len(wanted or ()):
            raise VideoReadError(f"video has fewer frames than requested (max index {max(frame_indices)})")
        order = sorted(wanted or ())
        by_index = dict(zip(order, frames))
        return np.stack([by_index[i] for i in frame_indices])
    return np.stack(frames)


def iter_video_frames(source: Path | bytes, convert: bool = True) -> Iterator[np.ndarray | None]:
    """Decode a video one frame at a time: ``(H, W, 3) uint8`` RGB each (``None`` each with ``convert=False``,
    to count frames without converting them)."""
    import av

    try:
        with _open(source) as container:
            if not container.streams.video:
                raise VideoReadError("no video stream")
            for frame in container.decode(container.streams.video[0]):
                yield frame.to_ndarray(format="rgb24") if convert else None
    except av.error.FFmpegError as err:
        raise VideoReadError(f"cannot decode video: {err}") from None


def read_container_metadata(source: Path | bytes) -> dict[str, str]:
    """The container-level metadata tags of a video (path or bytes)."""
    import av

    try:
        with _open(source) as container:
            return dict(container.metadata)
    except av.error.FFmpegError as err:
        raise VideoReadError(f"cannot read video metadata: {err}") from None


def probe_video(source: Path | bytes) -> dict[str, float | int]:
    """Header facts without decoding: ``frames`` (as stored), ``width``, ``height``, ``fps``, ``codec``."""
    import av

    try:
        with _open(source) as container:
            if not container.streams.video:
                raise VideoReadError("no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or 0
            return {
                "frames": int(stream.frames),
                "width": int(stream.codec_context.width),
                "height": int(stream.codec_context.height),
                "fps": float(rate),
                "codec": stream.codec_context.name,
            }
    except av.error.FFmpegError as err:
        raise VideoReadError(f"cannot read video header: {err}") from None
