"""``analyse``: the one analysis of a real video, shared by the annotator, ``animate --driving`` and evaluation.

frames -> perception (MediaPipe face mesh + hands per frame, shot cuts) -> tracks (the subject's face, hands by
the subject's side; ``tracking``) -> cleaning (short gaps filled, One-Euro smoothing, iBUG-68 landmarks;
``smoothing``, ``ibug68``) -> face frame (``geometry``) -> contact per frame and hand (``contact``) -> episodes
(a hand's contact runs joined across short breaks) -> a pattern per episode (``patterns``).

``analyse`` takes decoded frames (``(F, H, W, 3) uint8`` and their fps) or a video (a path, read with the
annotator's robust reader), and returns an ``Analysis``. What is done with it differs per caller: the annotator
cuts clips around the episodes (``pipeline.plan_clips``), ``animate`` retargets the tracks onto a reference
face, evaluation compares them with what a generator was asked for.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from interanimate.data.annotate.contact import ContactModel, ContactResult, contact_points, detect_contact
from interanimate.data.annotate.geometry import FaceFrame, face_frame
from interanimate.data.annotate.ibug68 import ibug68_from_mesh
from interanimate.data.annotate.identity import FaceEmbedder
from interanimate.data.annotate.labels import counted_hands, track_confidence
from interanimate.data.annotate.patterns import (EpisodeFeatures, PatternModel, Recognition, episode_features,
                                                 group_episodes, touch_core)
from interanimate.data.annotate.perception import Perceiver
from interanimate.data.annotate.resize import resize_area
from interanimate.data.annotate.smoothing import fill_gaps, one_euro
from interanimate.data.annotate.tracking import build_tracks
from interanimate.data.annotate.video import ReadLimits, VideoInfo, VideoReader

CUT_DISTANCE = 0.2  # Bhattacharyya distance of consecutive frames' colour histograms that marks a shot cut
FACE_GAP_S = 0.3  # longest face dropout bridged by interpolation
HAND_GAP_S = 0.2  # longest hand dropout bridged by interpolation
OCCLUDED_FACE_GAP_S = 2.0  # longest face dropout bridged when a hand at the face explains it


@dataclass
class CleanTracks:
    """Smoothed, gap-filled per-frame tracks of the subject over the whole video (pixels).

    ``hands``/``hand_*`` are indexed by the subject's side (0 left, 1 right); ``hand_found`` is what the
    landmarker detected, ``hand_present`` adds the filled gaps (whose ``hand_score`` is halved), likewise
    ``face_present`` = found + ``face_filled``. ``other_faces`` counts bystanders per frame.
    """

    mesh: np.ndarray  # (F, 478, 3) pixels
    face_present: np.ndarray  # (F,)
    face_filled: np.ndarray  # (F,)
    other_faces: np.ndarray  # (F,)
    hands: np.ndarray  # (F, 2, 21, 3) pixels
    hand_world: np.ndarray  # (F, 2, 21, 3) metres
    hand_score: np.ndarray  # (F, 2)
    hand_present: np.ndarray  # (F, 2)
    hand_found: np.ndarray  # (F, 2)
    landmarks: np.ndarray  # (F, 68, 2) iBUG-68 from the mesh


@dataclass
class Episode:
    """One contact episode of one hand (what the recogniser saw of it) and the pattern recognised in it."""

    features: EpisodeFeatures
    recognition: Recognition

    @property
    def hand(self) -> int:
        return self.features.hand

    @property
    def segments(self) -> list[tuple[int, int]]:
        """The episode's contact runs, ``[start, end)`` frames."""
        return self.features.segments

    @property
    def start(self) -> int:
        return self.features.start

    @property
    def end(self) -> int:
        return self.features.end

    @property
    def pattern(self) -> str | None:
        """The recognised pattern's taxonomy name; ``None`` when no pattern is confident enough."""
        return self.recognition.pattern.name if self.recognition.pattern else None

    @property
    def confidence(self) -> float:
        return self.recognition.confidence


def strongest(episodes: list[Episode]) -> Episode | None:
    """The most confident episode with a recognised pattern (the first on ties), or ``None``."""
    recognised = [e for e in episodes if e.pattern is not None]
    return max(recognised, key=lambda e: e.confidence) if recognised else None


@dataclass
class Analysis:
    """What ``analyse`` found in a video; frame arrays are ``(F, ...)`` in pixels of the analysed frames.

    Attributes:
        fps, width, height: of the analysed frames (a video's working resolution, see ``ReadLimits``).
        tracks: the subject's cleaned face and hands (``CleanTracks``).
        face: the per-frame face frame of ``tracks.landmarks``.
        contact: per-frame contact of each hand, its point and face region (``ContactResult``).
        episodes: contact episodes with their recognised patterns, in order of start frame.
        cuts: ``(F,)`` frame ``f`` starts a new shot.
        video: the reader's description of the file (``None`` for frames given as an array).
    """

    fps: float
    width: int
    height: int
    tracks: CleanTracks
    face: FaceFrame
    contact: ContactResult
    episodes: list[Episode]
    cuts: np.ndarray
    video: VideoInfo | None = None

    @property
    def num_frames(self) -> int:
        return len(self.tracks.face_present)

    @property
    def face_confidence(self) -> np.ndarray:
        """``(F,)`` 1 for a detected face, 0.5 for a filled gap, 0 without a face."""
        return np.where(self.tracks.face_present, np.where(self.tracks.face_filled, 0.5, 1.0), 0.0)

    def hand_keypoints(self) -> tuple[np.ndarray, np.ndarray]:
        """``(hand_keypoints (F, 2, 21, 3), hand_present (F, 2))``: the tracked hands after the hand rule
        (``labels.counted_hands``) in this video's image, in the contract's layout."""
        t = self.tracks
        return counted_hands(t.hands, t.hand_present, track_confidence(t.hand_score), self.width, self.height)

    @property
    def strongest(self) -> Episode | None:
        """The most confident episode with a recognised pattern (``strongest``), or ``None``."""
        return strongest(self.episodes)

    @property
    def pattern(self) -> str | None:
        """The video's pattern: that of its strongest episode."""
        best = self.strongest
        return best.pattern if best else None


def analyse(source: str | Path | np.ndarray | VideoReader, fps: float | None = None, *, mirrored: bool = False,
            limits: ReadLimits | None = None, max_frames: int | None = None,
            contact_model: ContactModel | None = None, pattern_model: PatternModel | None = None,
            report: dict | None = None) -> Analysis:
    """Analyse a video: the subject's tracks, face frame, contact and recognised episodes (module docstring).

    Args:
        source: ``(F, H, W, 3) uint8`` RGB frames (then ``fps`` is required), a video path, or a ``VideoReader``
            (opened or not; the annotator passes its own to decode the clips from it afterwards).
        mirrored: the video is mirrored (front-camera preview): swaps handedness.
        limits: what the reader accepts (a path only); default ``ReadLimits()``.
        max_frames: analyse only the first frames.
        contact_model, pattern_model: default: the shipped models.
        report: filled as the stages finish, also when a later one rejects the video: ``frames`` and
            ``shot_cuts`` counted, ``timings`` (wall seconds of ``decode``, ``perception``, ``post``) and
            ``cpu`` (the process's CPU seconds, all its threads, of the same stages and of ``post``'s parts
            ``clean``, ``contact``, ``patterns``).

    Raises ``RejectedInput`` (a reason code and a message) when the video cannot be read or shows no single
    subject's face.
    """
    report = {} if report is None else report
    timings = report.setdefault("timings", {})
    cpu = report.setdefault("cpu", {})
    decoded, fetch, video, (num_frames, height, width, fps) = _open(source, fps, limits, max_frames)
    observations, cuts = _perceive(decoded, num_frames, float(fps), mirrored, max_frames, timings, cpu)
    report["frames"], report["shot_cuts"] = len(observations), int(cuts.sum())
    started, cpu_started = time.perf_counter(), time.process_time()
    with np.errstate(invalid="ignore", divide="ignore"):
        tracks = clean(observations, float(fps), cuts, identifier(fetch))
        cpu["clean"] = time.process_time() - cpu_started
        frame = face_frame(np.nan_to_num(tracks.landmarks.astype(np.float64)))
        contact = detect_contact(frame, tracks.mesh, tracks.face_present, tracks.hands, tracks.hand_world,
                                 tracks.hand_present, float(fps), (width, height), contact_model)
        cpu["contact"] = time.process_time() - cpu_started - cpu["clean"]
        episodes = recognise_episodes(frame, contact, tracks.hands, float(fps), pattern_model or PatternModel())
    timings["post"] = time.perf_counter() - started
    cpu["post"] = time.process_time() - cpu_started
    cpu["patterns"] = cpu["post"] - cpu["clean"] - cpu["contact"]
    return Analysis(float(fps), int(width), int(height), tracks, frame, contact, episodes, cuts, video)


def _open(source, fps: float | None, limits: ReadLimits | None, max_frames: int | None):
    """``(frames to decode, fetch(wanted) -> {index: frame}, VideoInfo or None, (F, H, W, fps))`` of ``source``."""
    if isinstance(source, np.ndarray):
        if source.ndim != 4 or source.shape[-1] != 3 or source.dtype != np.uint8 or fps is None:
            raise ValueError(f"expected (F, H, W, 3) uint8 frames and their fps, got {source.shape} {source.dtype}"
                             f" at fps {fps}")
        frames = source if max_frames is None else source[:max_frames]
        return enumerate(frames), lambda wanted: {f: frames[f] for f in wanted}, None, (*frames.shape[:3], fps)
    reader = source if isinstance(source, VideoReader) else VideoReader(Path(source), limits)
    video = reader.info or reader.open()
    return (reader.frames(), lambda wanted: dict(reader.frames(wanted)), video,
            (video.num_frames, video.height, video.width, video.fps))


def contact_episodes(frame: FaceFrame, contact: ContactResult, hands: np.ndarray, fps: float,
                     core: bool = False) -> list[EpisodeFeatures]:
    """Each hand's contact grouped into episodes (``group_episodes``) and described for the recogniser.

    ``hands``: ``(F, 2, 21, >=2)`` pixels; the contact points are read in the face frame ``frame``. With
    ``core`` (and the contact probability and fingertips known), an episode is described over its touch
    (``patterns.touch_core``: the approach's last frames added, the retreat left out) rather than over the
    detected runs; ``segments`` / ``start`` / ``end`` stay the detected runs (the contact flags), ``core``
    says which frames were described. The contact flags themselves are not changed.
    """
    point, region = contact.point, contact.region
    refine = core and contact.tip is not None and np.isfinite(contact.probability).any() and contact.probability.any()
    grouped = group_episodes(contact.contact, fps)
    described = [touch_core(segments, contact.probability[:, hand], fps) if refine else list(segments)
                 for hand, segments in grouped]
    if refine:
        flags = np.zeros(contact.contact.shape, bool)
        for (hand, _), runs in zip(grouped, described):
            for a, b in runs:
                flags[a:b, hand] = True
        extra = flags & ~contact.contact
        if extra.any():  # the points of the added approach frames, read as the detector reads contact points
            extra_point, extra_region = contact_points(frame, extra, contact.tip, hands, (np.inf, np.inf))
            point, region = np.where(extra[..., None], extra_point, point), np.where(extra, extra_region, region)
        on = flags
    else:
        on = contact.contact
    point_face = frame.to_face(np.nan_to_num(point.astype(np.float64)))
    out = []
    for (hand, segments), runs in zip(grouped, described):
        e = episode_features(hand, runs, np.where(on[:, hand, None], point_face[:, hand], np.nan), region[:, hand],
                             hands[:, hand], fps, None if contact.tip is None else contact.tip[:, hand])
        e.core = (runs[0][0], runs[-1][1])
        e.start, e.end, e.segments = segments[0][0], segments[-1][1], list(segments)
        out.append(e)
    return out


def recognise_episodes(frame: FaceFrame, contact: ContactResult, hands: np.ndarray, fps: float,
                       pattern_model: PatternModel) -> list[Episode]:
    """``contact_episodes`` with the pattern ``pattern_model`` recognises in each, the episodes described as the
    model was fitted on them (``PatternModel.episodes``: the detected runs or their touch core)."""
    core = getattr(pattern_model, "episodes", "runs") == "core"
    return [Episode(features, pattern_model.recognise(features))
            for features in contact_episodes(frame, contact, hands, fps, core=core)]


def _thumb_histogram(frame: np.ndarray) -> np.ndarray:
    small = resize_area(frame, 64, 36)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256]).ravel()
    return hist / max(hist.sum(), 1.0)


def _perceive(decoded, num_frames: int, fps: float, mirrored: bool, max_frames: int | None,
              timings: dict, cpu: dict | None = None) -> tuple[list, np.ndarray]:
    """Landmarks of every frame and the shot cuts (Bhattacharyya distance of colour histograms)."""
    observations = []
    cuts = np.zeros(num_frames, bool)
    previous = None
    decode_time = perceive_time = decode_cpu = perceive_cpu = 0.0
    start, cpu_start = time.perf_counter(), time.process_time()
    with Perceiver(mirrored=mirrored) as perceiver:
        for index, frame in decoded:
            if max_frames is not None and len(observations) >= max_frames:
                break
            t, cpu_t = time.perf_counter(), time.process_time()
            decode_time += t - start
            decode_cpu += cpu_t - cpu_start
            observations.append(perceiver(frame, int(round(index * 1000.0 / fps))))
            hist = _thumb_histogram(frame)
            if previous is not None and index < len(cuts):
                cuts[index] = cv2.compareHist(previous, hist, cv2.HISTCMP_BHATTACHARYYA) > CUT_DISTANCE
            previous = hist
            start, cpu_start = time.perf_counter(), time.process_time()
            perceive_time += start - t
            perceive_cpu += cpu_start - cpu_t
    timings["decode"] = timings.get("decode", 0.0) + decode_time
    timings["perception"] = perceive_time
    if cpu is not None:
        cpu["decode"], cpu["perception"] = cpu.get("decode", 0.0) + decode_cpu, perceive_cpu
    return observations, cuts[: len(observations)]


def identifier(fetch):
    """``identify`` callback for the tracker: dlib embeddings of the requested faces.

    ``fetch(wanted)`` returns ``{frame index: (H, W, 3) uint8}`` for a set of indices (one decode pass).
    """
    def identify(requests: list[tuple[int, np.ndarray]]) -> list[np.ndarray | None]:
        frames = fetch({f for f, _ in requests})
        embedder = FaceEmbedder()
        out = []
        for f, mesh in requests:
            lo, hi = mesh[:, :2].min(axis=0), mesh[:, :2].max(axis=0)
            out.append(embedder(frames[f], np.concatenate([lo, hi])) if f in frames else None)
        return out
    return identify


def clean(observations: list, fps: float, cuts: np.ndarray | None = None, identify=None) -> CleanTracks:
    """Per-frame observations -> the subject's tracks, short gaps filled and smoothed (One-Euro)."""
    return clean_tracks(build_tracks(observations, cuts=cuts, identify=identify), fps)


def occluded_face_gaps(face_mesh: np.ndarray, face_found: np.ndarray, hands: np.ndarray, hand_found: np.ndarray,
                       fps: float) -> np.ndarray:
    """``(F,)`` frames of face dropouts that a hand at the face explains, to be bridged like short gaps.

    The face landmarker loses a face that a hand covers in part, typically for as long as the hand rests
    on it, which is exactly when contact is to be measured. A dropout between two seen faces, at most
    ``OCCLUDED_FACE_GAP_S`` long, is bridged when a hand is seen inside the (enlarged) face box on
    a frame next to one of its ends and in at least a third of the dropout's frames (the hand that
    hid the face may leave before the landmarker finds the face again).
    """
    bridged = np.zeros(len(face_found), bool)
    longest = int(round(OCCLUDED_FACE_GAP_S * fps))
    padded = np.concatenate([[False], ~face_found, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    for start, end in zip(edges[::2], edges[1::2]):
        if start == 0 or end == len(face_found) or end - start > longest:
            continue
        lo = np.nanmin(np.concatenate([face_mesh[start - 1, :, :2], face_mesh[end, :, :2]]), axis=0)
        hi = np.nanmax(np.concatenate([face_mesh[start - 1, :, :2], face_mesh[end, :, :2]]), axis=0)
        margin = 0.15 * (hi - lo)
        lo, hi = lo - margin, hi + margin

        def at_face(f: int) -> bool:
            for h in range(hands.shape[1]):
                if hand_found[f, h]:
                    tips = hands[f, h, [4, 8, 12, 16, 20], :2]
                    if ((tips >= lo) & (tips <= hi)).all(axis=1).any():
                        return True
            return False

        ends = [f for f in (start - 1, end) if 0 <= f < len(face_found)]
        inside = [at_face(f) for f in range(start, end)]
        if any(at_face(f) for f in ends) and np.mean(inside) >= 1 / 3:
            bridged[start:end] = True
    return bridged


def clean_tracks(tracks, fps: float) -> CleanTracks:
    """The subject's raw tracks (``tracking.Tracks``) -> gaps filled and smoothed (One-Euro)."""
    gap_face = max(1, int(round(FACE_GAP_S * fps)))
    gap_hand = max(1, int(round(HAND_GAP_S * fps)))
    occluded = occluded_face_gaps(tracks.face_mesh, tracks.face_found, tracks.hands, tracks.hand_found, fps)
    mesh, face_filled = fill_gaps(tracks.face_mesh, tracks.face_found, gap_face)
    if occluded.any():
        long_mesh, long_filled = fill_gaps(tracks.face_mesh, tracks.face_found,
                                           max(gap_face, int(round(OCCLUDED_FACE_GAP_S * fps))))
        take = occluded & long_filled & ~face_filled
        mesh[take] = long_mesh[take]
        face_filled = face_filled | take
    face_present = tracks.face_found | face_filled
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        box = np.nanmax(mesh[..., :2], axis=1) - np.nanmin(mesh[..., :2], axis=1) if face_present.any() else None
    face_size = np.nan_to_num(box.max(axis=1), nan=1.0) if box is not None else np.ones(len(face_present))
    mesh = one_euro(mesh, face_present, fps, min_cutoff=1.0, beta=0.05, scale=face_size)
    hands = tracks.hands.copy()
    world = tracks.hand_world.copy()
    score = tracks.hand_score.copy()
    present = tracks.hand_found.copy()
    for h in range(2):
        filled_h, filled = fill_gaps(hands[:, h], tracks.hand_found[:, h], gap_hand)
        world_h, _ = fill_gaps(world[:, h], tracks.hand_found[:, h], gap_hand)
        score_h, _ = fill_gaps(score[:, h], tracks.hand_found[:, h], gap_hand)
        present[:, h] = tracks.hand_found[:, h] | filled
        score_h[filled] *= 0.5
        palm = np.linalg.norm(filled_h[:, 9, :2] - filled_h[:, 0, :2], axis=-1)
        # Hands move fast: a higher beta keeps pokes and swipes from lagging behind the image.
        hands[:, h] = one_euro(filled_h, present[:, h], fps, min_cutoff=1.5, beta=0.3,
                               scale=np.nan_to_num(palm, nan=1.0) * 2)
        world[:, h], score[:, h] = world_h, score_h
    landmarks = ibug68_from_mesh(mesh)[..., :2]
    return CleanTracks(mesh, face_present, face_filled, tracks.other_faces, hands, world, score, present,
                       tracks.hand_found, landmarks)


__all__ = ["Analysis", "CleanTracks", "Episode", "analyse", "clean", "clean_tracks", "contact_episodes", "recognise_episodes",
           "strongest"]
