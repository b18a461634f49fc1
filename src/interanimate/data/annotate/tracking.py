"""From per-frame detections to tracks: the one subject's face, and the subject's two hands.

A video may show bystanders. Faces are linked into tracks frame to frame; the subject is the track
that is present longest and largest. If a second track is nearly as prominent the subject is
ambiguous and the video is rejected rather than labelled with a guess. Hands are assigned to the
subject's left/right slots by combining the landmarker's handedness with continuity of position (a
hand does not jump across the face between frames, while the handedness label occasionally flips);
hands far from the subject's face belong to someone else and are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interanimate.data.annotate.perception import FrameObservation
from interanimate.data.annotate.video import RejectedInput

NUM_MESH = 478
# The rejection reasons of the tracker: the video shows no single subject (the other reasons are the reader's).
SUBJECT_REJECTIONS = ("no_face", "several_faces")


@dataclass
class Tracks:
    """Raw per-frame tracks of one video (before smoothing).

    Args:
        face_mesh: ``(F, 478, 3)`` subject's face mesh in pixels; NaN where not found.
        face_found: ``(F,)`` the subject's face was detected.
        other_faces: ``(F,)`` number of other sizeable faces in the frame.
        hands: ``(F, 2, 21, 3)`` hand points (x, y, z pixels) per subject side; NaN where absent.
        hand_world: ``(F, 2, 21, 3)`` metric hand points (m, about the hand's centre).
        hand_score: ``(F, 2)`` landmarker score (0 where absent).
        hand_found: ``(F, 2)`` the hand was detected.
    """

    face_mesh: np.ndarray
    face_found: np.ndarray
    other_faces: np.ndarray
    hands: np.ndarray
    hand_world: np.ndarray
    hand_score: np.ndarray
    hand_found: np.ndarray

    @property
    def num_frames(self) -> int:
        return len(self.face_found)


def _face_geometry(mesh: np.ndarray) -> tuple[np.ndarray, float]:
    lo, hi = mesh[:, :2].min(axis=0), mesh[:, :2].max(axis=0)
    return (lo + hi) / 2, float(max(hi - lo))


def track_faces(observations: list[FrameObservation], ambiguity_ratio: float = 0.6, max_gap: int = 15,
                cuts: np.ndarray | None = None, identify=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pick the subject's face in every frame. Returns ``(mesh (F,478,3), found (F,), other_faces (F,))``.

    Tracks never continue across a shot cut (``cuts[f]``: frame ``f`` starts a new shot), since a cut
    can put another person where the last one was. ``identify(requests)`` (optional) gets
    ``[(frame, mesh), ...]`` (one per track) and returns a face embedding or ``None`` for each;
    tracks whose embeddings lie within dlib's same-person distance are joined into one identity, so
    the subject is followed across shots while other people in other shots are left out.

    Raises ``RejectedInput("several_faces")`` when a second identity has at least ``ambiguity_ratio``
    of the subject's prominence (frames present x face size) and appears in the same frames, and
    ``RejectedInput("no_face")`` when no face is found at all.
    """
    num_frames = len(observations)
    tracks: list[dict] = []  # {"last": frame, "centre": xy, "size": s, "members": {frame: face index}, "score"}
    for f, obs in enumerate(observations):
        if cuts is not None and cuts[f]:
            for track in tracks:
                track["last"] = -10**9
        taken: set[int] = set()
        for i, mesh in sorted(enumerate(obs.faces), key=lambda item: -_face_geometry(item[1])[1]):
            centre, size = _face_geometry(mesh)
            best, best_d = None, np.inf
            for t, track in enumerate(tracks):
                if t in taken or f - track["last"] > max_gap:
                    continue
                d = np.linalg.norm(centre - track["centre"]) / max(size, track["size"])
                if d < 0.6 and d < best_d:
                    best, best_d = t, d
            if best is None:
                tracks.append({"last": f, "centre": centre, "size": size, "members": {f: i}, "score": size})
                best = len(tracks) - 1
            else:
                track = tracks[best]
                track.update(last=f, centre=centre, size=size)
                track["members"][f] = i
                track["score"] += size
            taken.add(best)
    if not tracks:
        raise RejectedInput("no_face", "no face was found in any frame")
    tracks = [t for t in tracks if len(t["members"]) >= 3] or tracks  # detector blips are not people
    shots = np.cumsum(cuts[:num_frames]) if cuts is not None else np.zeros(num_frames, int)
    identities = _group_identities(_join_within_shots(tracks, observations, shots), observations, identify)
    identities.sort(key=lambda group: -sum(t["score"] for t in group))
    subject = identities[0]
    members = {f: i for t in subject for f, i in t["members"].items()}
    if len(identities) > 1:
        second = identities[1]
        second_frames = {f for t in second for f in t["members"]}
        if (sum(t["score"] for t in second) >= ambiguity_ratio * sum(t["score"] for t in subject)
                and len(second_frames & set(members)) >= 0.25 * min(len(second_frames), len(members))):
            raise RejectedInput("several_faces", f"{len(identities)} people of similar prominence appear together; "
                                                 "the subject cannot be told apart (crop the video to one person)")
    mesh = np.full((num_frames, NUM_MESH, 3), np.nan, np.float32)
    found = np.zeros(num_frames, bool)
    for f, i in members.items():
        mesh[f] = observations[f].faces[i][:NUM_MESH]
        found[f] = True
    other = np.zeros(num_frames, np.int32)
    for f, obs in enumerate(observations):
        if not found[f]:
            continue
        own = _face_geometry(mesh[f])[1]
        other[f] = sum(1 for i, m in enumerate(obs.faces) if i != members[f] and _face_geometry(m)[1] > 0.5 * own)
    return mesh, found, other


def _join_within_shots(tracks: list[dict], observations: list[FrameObservation], shots: np.ndarray,
                       max_shift: float = 0.6, max_scale: float = 1.5) -> list[dict]:
    """Join a track to an earlier one of the same shot when it starts after that one ends, where it ended
    (centre within ``max_shift`` face sizes, size within ``max_scale``), for any gap: without a cut the
    camera keeps looking at the same place, and the face landmarker loses a face for as long as a hand
    covers it. Such tracks need no embedding (which costs a second decoding pass and dlib)."""
    geometry = lambda t, f: _face_geometry(observations[f].faces[t["members"][f]])
    joined: list[dict] = []
    for track in sorted(tracks, key=lambda t: min(t["members"])):
        first = min(track["members"])
        centre, size = geometry(track, first)
        for earlier in joined:
            last = max(earlier["members"])
            if last >= first or shots[last] != shots[first] or any(
                    last < min(other["members"]) < first for other in tracks if other is not track):
                continue
            end_centre, end_size = geometry(earlier, last)
            if (np.linalg.norm(centre - end_centre) < max_shift * max(size, end_size)
                    and max(size, end_size) < max_scale * min(size, end_size)):
                earlier["members"].update(track["members"])
                earlier["score"] += track["score"]
                break
        else:
            joined.append({**track, "members": dict(track["members"])})
    return joined


def _group_identities(tracks: list[dict], observations: list[FrameObservation], identify) -> list[list[dict]]:
    """Join tracks of the same person (embedding distance < 0.6); without ``identify`` every
    track is its own identity."""
    if identify is None or len(tracks) == 1:
        return [[t] for t in tracks]
    requests = []
    for t in tracks:
        frames = sorted(t["members"])
        f = frames[len(frames) // 2]
        requests.append((f, observations[f].faces[t["members"][f]]))
    vectors = identify(requests)
    groups: list[list[dict]] = []
    centres: list[np.ndarray | None] = []
    for t, v in sorted(zip(tracks, vectors), key=lambda tv: -tv[0]["score"]):
        for g, c in enumerate(centres):
            overlap = any(f in other["members"] for other in groups[g] for f in t["members"])
            if v is not None and c is not None and not overlap and np.linalg.norm(v - c) < 0.6:
                groups[g].append(t)
                break
        else:
            groups.append([t])
            centres.append(v)
    return groups


def _hand_centre_scale(points: np.ndarray) -> tuple[np.ndarray, float]:
    centre = points[[0, 5, 9, 13, 17], :2].mean(axis=0)
    scale = float(np.linalg.norm(points[9, :2] - points[0, :2])) + 1e-6  # palm length: wrist to middle knuckle
    return centre, scale


def assign_hands(observations: list[FrameObservation], face_mesh: np.ndarray, face_found: np.ndarray,
                 max_face_distance: float = 4.0, memory: int = 6) -> tuple[np.ndarray, ...]:
    """Assign detections to subject-left/right slots; returns ``(hands, world, score, found)``.

    Cost of putting a hand in a slot = label disagreement (weighted by the label's score) + distance to
    where that slot's hand was within the last ``memory`` frames (in palm lengths). Both orderings of
    two hands are tried and the cheaper kept. Duplicate detections of one hand and hands more than
    ``max_face_distance`` face sizes from the subject's face are dropped.
    """
    num_frames = len(observations)
    hands = np.full((num_frames, 2, 21, 3), np.nan, np.float32)
    world = np.full((num_frames, 2, 21, 3), np.nan, np.float32)
    score = np.zeros((num_frames, 2), np.float32)
    found = np.zeros((num_frames, 2), bool)
    last_seen = [-10**9, -10**9]
    last_centre: list[np.ndarray | None] = [None, None]
    face_centre, face_size = None, None
    for f, obs in enumerate(observations):
        if face_found[f]:
            face_centre, face_size = _face_geometry(face_mesh[f])
        candidates = []
        for hand in obs.hands:
            centre, scale = _hand_centre_scale(hand.points)
            if face_centre is not None and np.linalg.norm(centre - face_centre) > max_face_distance * face_size:
                continue
            if any(np.linalg.norm(centre - c[1]) < 0.3 * max(scale, c[2]) for c in candidates):
                continue  # the same hand detected twice
            candidates.append((hand, centre, scale))
        candidates = sorted(candidates, key=lambda c: -c[0].score)[:2]

        def cost(candidate, slot: int) -> float:
            hand, centre, scale = candidate
            label = hand.score if hand.side != slot else 0.0
            if f - last_seen[slot] <= memory and last_centre[slot] is not None:
                motion = min(np.linalg.norm(centre - last_centre[slot]) / scale, 3.0) * 0.5
            else:
                motion = 0.35
            return label + motion

        if len(candidates) == 1:
            slots = [min((0, 1), key=lambda s: cost(candidates[0], s))]
        elif len(candidates) == 2:
            straight = cost(candidates[0], 0) + cost(candidates[1], 1)
            crossed = cost(candidates[0], 1) + cost(candidates[1], 0)
            slots = [0, 1] if straight <= crossed else [1, 0]
        else:
            slots = []
        for (hand, centre, _), slot in zip(candidates, slots):
            hands[f, slot] = hand.points
            world[f, slot] = hand.world
            score[f, slot] = hand.score
            found[f, slot] = True
            last_seen[slot], last_centre[slot] = f, centre
    return hands, world, score, found


def build_tracks(observations: list[FrameObservation], **face_kwargs) -> Tracks:
    """Subject face and hand tracks; ``face_kwargs`` go to ``track_faces`` (``cuts``, ``identify``)."""
    mesh, found, other = track_faces(observations, **face_kwargs)
    hands, world, score, hand_found = assign_hands(observations, mesh, found)
    return Tracks(mesh, found, other, hands, world, score, hand_found)
