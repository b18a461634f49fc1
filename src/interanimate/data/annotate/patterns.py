"""Pattern recognition: which of the 18 interactions a contact episode is, or none/other.

An *episode* is one hand's run of contacts separated by short breaks. Its description uses only what
the contact trajectory shows (face-frame units: IOD and seconds):

* region histogram of the contact points, with neighbouring regions given partial credit (a poke
  aimed at the cheek often lands near the nose-cheek border);
* number of contacts and their durations (pokes press 1-2 times briefly; strokes hold);
* finger configuration: thumb-index gap over palm length (pinches close it on the skin) and which
  fingertip touches (pokes press with the index; many held touches rest the thumb on the skin);
* slide: path length and speed of the contact point over the skin (strokes slide slowly, swipes
  pass fast), and its direction in the subject's frame (``+u`` = toward the subject's left).

``PatternModel`` (the default) is a multinomial logistic regression over ``pattern_vector`` of the
episode with an extra ``OTHER`` class, fitted on time-stretched synthetic episodes and the real
development set's fitting half and temperature-calibrated (``tools/fit_annotate_models.py``; parameters
and provenance in ``models/patterns.json``). With ``decision="pattern"`` its most probable class is the
answer and that class's probability the confidence; with ``decision="family"`` (``decide``) the 18 patterns'
probabilities are first summed per family, the most probable family is weighed against ``OTHER`` and its
probability is the confidence, and the answer is that family's most probable pattern. ``RulePatternModel`` is the
earlier hand-set rule model (soft family memberships x region/direction evidence), kept as the
baseline. Below ``min_confidence`` the episode is "none/other": it is still cut into a clip, but
unlabelled.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from interanimate.data.annotate.contact import true_runs
from interanimate.taxonomy import FACE_REGIONS, PATTERNS, Pattern

NEIGHBOURS: dict[str, tuple[str, ...]] = {
    "forehead": ("temple_left", "temple_right", "eye_left", "eye_right"),
    "nose": ("eye_left", "eye_right", "mouth", "cheek_left", "cheek_right"),
    "chin": ("mouth", "jaw"),
    "cheek_left": ("jaw", "temple_left", "eye_left", "nose"),
    "cheek_right": ("jaw", "temple_right", "eye_right", "nose"),
    "mouth": ("chin", "nose"),
    "jaw": ("chin", "cheek_left", "cheek_right"),
}


def _sig(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)))


@dataclass
class EpisodeFeatures:
    """What the recogniser sees of one contact episode (units: IOD, seconds)."""

    hand: int
    start: int
    end: int
    num_contacts: int
    contact_seconds: float
    longest_seconds: float
    region_share: dict[str, float]
    pinch_gap: float  # median thumb-index tip distance / palm length during contact
    path: float  # path length of the contact point over the skin
    speed: float  # median speed of the contact point during contact
    displacement: tuple[float, float]  # net (du, dv) of the contact point over the longest contact
    mid_v: float  # v of the path's midpoint (height on the face)
    mean_u: float = 0.0  # median u of the contact points (side of the face)
    segments: list[tuple[int, int]] = field(default_factory=list)
    thumb_share: float = 0.0  # share of contact frames touching with the thumb tip (or thumb-index pinch)
    index_share: float = 0.0  # ... with the index fingertip (pokes press with it)
    core: tuple[int, int] | None = None  # ``[start, end)`` of the frames described (``touch_core``); None: the runs

    def as_vector(self) -> np.ndarray:
        return np.array([self.num_contacts, self.contact_seconds, self.longest_seconds, self.pinch_gap, self.path,
                         self.speed, *self.displacement, self.mid_v]
                        + [self.region_share.get(r, 0.0) for r in FACE_REGIONS], np.float64)


@dataclass
class Recognition:
    pattern: Pattern | None
    confidence: float
    scores: dict[str, float]


RISE_FLOOR = 0.03  # contact probability above which a rising approach already counts as the touch
FALL_SHARE = 0.5  # share of the episode's peak probability below which a falling tail is the retreat
MAX_SHIFT_S = 0.1  # the furthest an edge is moved


def touch_core(segments: list[tuple[int, int]], probability: np.ndarray, fps: float, rise_floor: float = RISE_FLOOR,
               fall_share: float = FALL_SHARE, max_shift_s: float = MAX_SHIFT_S) -> list[tuple[int, int]]:
    """The contact runs of one episode with their outer edges moved onto the touch itself.

    The detector's hysteresis (enter high, leave low) and its windowed cues make a run start after the
    fingertip arrives and end after it has left: the probability is still rising when the finger lands
    and falls slowly while the hand retreats. The first run is extended back over the frames where the
    probability is still rising above ``rise_floor`` (the approach's last frames, the finger at the skin);
    the last run is trimmed at its end over the frames where the probability falls and is below
    ``fall_share`` x the episode's peak (the retreat). Neither edge moves by more than ``max_shift_s``;
    inner edges are left as detected; the last run keeps at least half its frames (and one).
    ``probability``: ``(F,)`` of the episode's hand.
    """
    p = np.nan_to_num(np.asarray(probability, np.float64))
    shift = max(1, int(round(max_shift_s * fps)))
    runs = [list(s) for s in segments]
    a = runs[0][0]
    while a > max(0, segments[0][0] - shift) and p[a - 1] >= rise_floor and p[a - 1] < p[a]:
        a -= 1
    runs[0][0] = a
    peak = max(float(p[s:e].max()) for s, e in segments)
    s, e = runs[-1]
    keep = max(1, (segments[-1][1] - segments[-1][0] + 1) // 2, e - shift - s)
    while e - s > keep and p[e - 1] < fall_share * peak and p[e - 1] <= p[e - 2]:
        e -= 1
    runs[-1][1] = e
    return [(int(x), int(y)) for x, y in runs]


def episode_features(hand: int, segments: list[tuple[int, int]], point_face: np.ndarray, region: np.ndarray,
                     hands: np.ndarray, fps: float, tip: np.ndarray | None = None) -> EpisodeFeatures:
    """Describe the contact ``segments`` (``[start, end)``) of ``hand``.

    ``point_face``: ``(F, 2)`` contact point in face-frame coordinates; ``region``: ``(F,)`` region ids;
    ``hands``: ``(F, 21, >=2)`` that hand's keypoints in pixels; ``tip``: ``(F,)`` the touching fingertip's
    keypoint index (which finger touches), when known. ``segments`` are the frames described: ``start`` /
    ``end`` / ``segments`` of the result are theirs unless the caller replaces them.
    """
    frames = np.concatenate([np.arange(a, b) for a, b in segments])
    thumb_share = index_share = 0.0
    if tip is not None and len(frames):
        thumb_share = float(np.mean(tip[frames] == 4))
        index_share = float(np.mean(tip[frames] == 8))
    counts = np.bincount(region[frames][region[frames] >= 0], minlength=len(FACE_REGIONS))
    share = {r: float(c) / max(1, counts.sum()) for r, c in zip(FACE_REGIONS, counts) if c}
    palm = np.linalg.norm(hands[frames, 9, :2] - hands[frames, 0, :2], axis=-1) + 1e-6
    gap = np.linalg.norm(hands[frames, 4, :2] - hands[frames, 8, :2], axis=-1) / palm
    path, speeds = 0.0, []
    for a, b in segments:
        steps = np.linalg.norm(np.diff(point_face[a:b], axis=0), axis=-1)
        steps = steps[np.isfinite(steps)]
        path += float(steps.sum())
        speeds.extend((steps * fps).tolist())
    longest = max(segments, key=lambda s: s[1] - s[0])
    seg = point_face[longest[0]:longest[1]]
    seg = seg[np.isfinite(seg).all(axis=1)]
    displacement = tuple((seg[-1] - seg[0]).tolist()) if len(seg) >= 2 else (0.0, 0.0)
    all_points = point_face[frames]
    all_points = all_points[np.isfinite(all_points).all(axis=1)]
    mid_v = float(np.median(all_points[:, 1])) if len(all_points) else 0.0
    mean_u = float(np.median(all_points[:, 0])) if len(all_points) else 0.0
    return EpisodeFeatures(
        hand=hand, start=segments[0][0], end=segments[-1][1], num_contacts=len(segments),
        contact_seconds=len(frames) / fps, longest_seconds=(longest[1] - longest[0]) / fps, region_share=share,
        pinch_gap=float(np.nanmedian(gap)) if np.isfinite(gap).any() else 1.0, path=path,
        speed=float(np.median(speeds)) if speeds else 0.0, displacement=displacement, mid_v=mid_v, mean_u=mean_u,
        segments=list(segments), thumb_share=thumb_share, index_share=index_share)


@dataclass
class RulePatternModel:
    """Hand-set rules (face-frame units) from the taxonomy's descriptions; the baseline the fitted
    ``PatternModel`` is measured against (``docs/annotate.md``).

    Args:
        pinch_gap: thumb-index gap (palm lengths) below which the fingers are pinching.
        slide_path: path (IOD) above which the contact slides (stroke/swipe) rather than presses.
        swipe_speed: median contact speed (IOD/s) above which a slide is a swipe.
        long_contact: a single contact longer than this (s) is sustained (strokes; pinches hold too).
        min_confidence: below this the episode is left unlabelled.
    """

    pinch_gap: float = 0.42
    slide_path: float = 0.35
    swipe_speed: float = 2.2
    long_contact: float = 0.5
    min_confidence: float = 0.35

    def family_scores(self, e: EpisodeFeatures) -> dict[str, float]:
        pinch = _sig((self.pinch_gap - e.pinch_gap) / 0.06)
        slide = _sig((e.path - self.slide_path) / 0.08)
        fast = _sig((e.speed - self.swipe_speed) / 0.5)
        sustained = _sig((e.longest_seconds - self.long_contact) / 0.1)
        brief = 1.0 - sustained
        return {
            "pinch": pinch * (0.5 + 0.5 * sustained),
            "poke": (1 - pinch) * (1 - slide) * (0.6 + 0.4 * brief),
            "stroke": (1 - pinch) * slide * (1 - fast) * (0.5 + 0.5 * sustained),
            "swipe": (1 - pinch) * slide * fast * (0.5 + 0.5 * brief),
        }

    def region_score(self, e: EpisodeFeatures, region: str) -> float:
        own = e.region_share.get(region, 0.0)
        near = sum(e.region_share.get(r, 0.0) for r in NEIGHBOURS.get(region, ()))
        return own + 0.35 * near + 0.02

    def swipe_score(self, e: EpisodeFeatures, p: Pattern) -> float:
        du, dv = e.displacement
        norm = float(np.hypot(du, dv)) + 1e-6
        if p.direction == "downward":
            return _sig((dv / norm - 0.6) / 0.15)
        sign = 1.0 if p.direction == "leftward" else -1.0
        direction = _sig((sign * du / norm - 0.3) / 0.15)
        # Forehead swipes pass above the eyes (v < 0), mouth swipes below the nose (v > ~0.9 IOD).
        height = _sig(-e.mid_v / 0.2) if p.region == "forehead" else _sig((e.mid_v - 0.8) / 0.2)
        return direction * height * _sig((abs(du) / norm - 0.6) / 0.15)

    def recognise(self, e: EpisodeFeatures) -> Recognition:
        families = self.family_scores(e)
        scores = {}
        for p in PATTERNS:
            evidence = self.swipe_score(e, p) if p.family == "swipe" else self.region_score(e, p.region)
            scores[p.name] = families[p.family] * evidence
        total = sum(scores.values()) + 1e-9
        best = max(scores, key=scores.get)
        confidence = scores[best] / total * min(1.0, 2.0 * max(families.values()))
        pattern = next(p for p in PATTERNS if p.name == best) if confidence >= self.min_confidence else None
        return Recognition(pattern, float(confidence), {k: float(v / total) for k, v in scores.items()})


PATTERN_MODEL_FILE = Path(__file__).with_name("models") / "patterns.json"
VECTOR_NAMES = ("num_contacts", "log_contact_s", "log_longest_s", "pinch_gap", "log_path", "log_speed", "du", "dv",
                "dir_u", "dir_v", "mid_v", "mean_u", "straightness", "thumb_share", "index_share") + tuple(
                    f"share_{r}" for r in FACE_REGIONS)


def pattern_vector(e: EpisodeFeatures) -> np.ndarray:
    """The episode as the fitted recogniser's input (``VECTOR_NAMES``).

    Durations, path and speed enter as logs (their spread is multiplicative: a swipe is several
    times faster than a stroke); the direction also enters normalised, since how far a swipe
    travels varies more than which way it goes.
    """
    du, dv = e.displacement
    norm = float(np.hypot(du, dv))
    direction = (du / norm, dv / norm) if norm > 1e-3 else (0.0, 0.0)
    mean_u = float(e.mean_u) if np.isfinite(e.mean_u) else 0.0
    return np.array([min(e.num_contacts, 4), np.log1p(e.contact_seconds * 10), np.log1p(e.longest_seconds * 10),
                     min(e.pinch_gap, 2.0), np.log1p(e.path * 10), np.log1p(e.speed), du, dv, *direction,
                     e.mid_v, mean_u, norm / max(e.path, 1e-3) if e.path > 1e-3 else 0.0, e.thumb_share,
                     e.index_share]
                    + [e.region_share.get(r, 0.0) for r in FACE_REGIONS], np.float64)


OTHER = "other"  # the recogniser's extra class: a touch that is none of the 18 patterns (e.g. a held touch)
PATTERN_CLASSES = tuple(p.name for p in PATTERNS)
DECISIONS = ("pattern", "family")
EPISODES = ("runs", "core")  # what of an episode the recogniser is given: the detected runs, or their ``touch_core``
_FAMILY_OF = np.array([sorted({p.family for p in PATTERNS}).index(p.family) for p in PATTERNS])


def decide(probability: np.ndarray, min_confidence: float, decision: str = "pattern") -> tuple[int | None, float]:
    """The recognised pattern's index in ``PATTERN_CLASSES`` (``None``: unlabelled) and its confidence, from the
    class probabilities of one episode (18 patterns, and ``OTHER`` last when the model has it).

    ``"pattern"``: the most probable class, if it is a pattern and at least ``min_confidence``; its probability
    is the confidence. ``"family"``: the pattern probabilities summed per family; the most probable family must
    beat ``OTHER`` (one class against one class: the 18 patterns split their mass four or five ways, ``OTHER``
    does not) and reach ``min_confidence``; its probability is the confidence and the answer its most probable
    pattern.
    """
    p = np.asarray(probability, np.float64)
    patterns = p[:len(PATTERNS)]
    if decision == "pattern":
        best = int(np.argmax(p))
        confidence = float(p[best])
        return (best if best < len(PATTERNS) and confidence >= min_confidence else None), confidence
    if decision != "family":
        raise ValueError(f"decision must be one of {DECISIONS}, not {decision!r}")
    mass = np.bincount(_FAMILY_OF, weights=patterns, minlength=_FAMILY_OF.max() + 1)
    family = int(np.argmax(mass))
    other = float(p[len(PATTERNS)]) if len(p) > len(PATTERNS) else 0.0
    confidence = float(mass[family])
    if confidence <= other or confidence < min_confidence:
        return None, max(confidence, other)
    members = np.flatnonzero(_FAMILY_OF == family)
    return int(members[np.argmax(patterns[members])]), confidence


@functools.lru_cache(maxsize=4)
def _shipped(path: str) -> dict:
    file = Path(path)
    if not file.is_file():  # nothing fitted installed: an all-zero model that labels nothing
        d, k = len(VECTOR_NAMES), len(PATTERNS)
        return {"weights": [[0.0] * k] * d, "bias": [0.0] * k, "mean": [0.0] * d, "scale": [1.0] * d,
                "min_confidence": 1.01, "decision": "pattern", "episodes": "runs"}
    params = json.loads(file.read_text(encoding="utf-8"))
    if tuple(params["inputs"]) != VECTOR_NAMES or tuple(params["classes"]) not in (PATTERN_CLASSES,
                                                                                   PATTERN_CLASSES + (OTHER,)):
        raise ValueError(f"{file} was fitted for other inputs or classes than this code uses")
    return {**{k: params[k] for k in ("weights", "bias", "mean", "scale", "min_confidence")},
            "decision": params.get("decision", "pattern"),  # files fitted before the family decision: "pattern"
            "episodes": params.get("episodes", "runs")}  # files fitted before touch_core: the detected runs


def _default(key: str):
    return field(default_factory=lambda: _shipped(str(PATTERN_MODEL_FILE))[key])


@dataclass
class PatternModel:
    """Multinomial logistic regression from ``pattern_vector`` to the 18 patterns, with rejection.

    ``PatternModel()`` loads the shipped fit (``models/patterns.json``). A model with a 19th column has
    an explicit ``OTHER`` class (touches that are none of the patterns: held touches, brushes); an
    episode whose most probable class is ``OTHER`` stays unlabelled, as does one below
    ``min_confidence``.

    Args:
        weights: ``(len(VECTOR_NAMES), 18 or 19)`` weights on standardised inputs.
        bias: ``(18 or 19,)``.
        mean, scale: standardisation of the inputs.
        min_confidence: below this confidence the episode is "none/other" (chosen on the training split so
            that hand-in-front-of-face episodes stay unlabelled).
        decision: how the probabilities become an answer (``decide``): ``"pattern"`` (the most probable
            class) or ``"family"`` (the most probable family against ``OTHER``, then its best pattern).
        episodes: what of an episode the model was fitted on, and so is given (``analysis.contact_episodes``):
            ``"runs"`` (the detected contact runs) or ``"core"`` (their ``touch_core``).
    """

    weights: list = _default("weights")
    bias: list = _default("bias")
    mean: list = _default("mean")
    scale: list = _default("scale")
    min_confidence: float = _default("min_confidence")
    decision: str = _default("decision")
    episodes: str = _default("episodes")

    @classmethod
    def load(cls, path: str | Path) -> "PatternModel":
        return cls(**_shipped(str(path)))

    def save(self, path: str | Path, provenance: dict | None = None) -> None:
        classes = list(PATTERN_CLASSES) + ([OTHER] if np.shape(self.weights)[1] > len(PATTERNS) else [])
        params = {"inputs": list(VECTOR_NAMES), "classes": classes,
                  "weights": np.round(np.asarray(self.weights, np.float64), 6).tolist(),
                  "bias": np.round(np.asarray(self.bias, np.float64), 6).tolist(),
                  "mean": np.round(np.asarray(self.mean, np.float64), 6).tolist(),
                  "scale": np.round(np.asarray(self.scale, np.float64), 6).tolist(),
                  "min_confidence": float(self.min_confidence), "decision": self.decision, "episodes": self.episodes,
                  "provenance": provenance or {}}
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(params) + "\n", encoding="utf-8")

    def probabilities(self, e: EpisodeFeatures) -> np.ndarray:
        x = (pattern_vector(e) - np.asarray(self.mean)) / np.asarray(self.scale)
        z = x @ np.asarray(self.weights) + np.asarray(self.bias)
        p = np.exp(z - z.max())
        return p / p.sum()

    def recognise(self, e: EpisodeFeatures) -> Recognition:
        p = self.probabilities(e)
        best, confidence = decide(p, self.min_confidence, self.decision)
        pattern = PATTERNS[best] if best is not None else None
        scores = {q.name: float(v) for q, v in zip(PATTERNS, p)}
        if len(p) > len(PATTERNS):
            scores[OTHER] = float(p[-1])
        return Recognition(pattern, confidence, scores)


def group_episodes(contact: np.ndarray, fps: float, max_break_s: float = 0.8) -> list[tuple[int, list[tuple[int, int]]]]:
    """Per hand, contact runs joined into episodes when the break between them is short.

    ``contact``: ``(F, 2)``. Returns ``[(hand, [(start, end), ...]), ...]`` sorted by start frame.
    """
    episodes = []
    max_break = int(round(max_break_s * fps))
    for h in range(contact.shape[1]):
        current: list[tuple[int, int]] = []
        for run in true_runs(contact[:, h]):
            if current and run[0] - current[-1][1] > max_break:
                episodes.append((h, current))
                current = []
            current.append(run)
        if current:
            episodes.append((h, current))
    return sorted(episodes, key=lambda e: e[1][0][0])
