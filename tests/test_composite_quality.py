"""tools/composite_quality.py: the hand's skin tone against the face's, from the frames and their masks."""

from __future__ import annotations

import numpy as np
import pytest
from project_tools import load_tool

from interanimate.data.annotations import ClipAnnotations


def _clip(hand_rgb, face_rgb, frames=3, size=64):
    ann = ClipAnnotations.empty(frames, size, size)
    video = np.zeros((frames, size, size, 3), np.uint8)
    for f in range(frames):
        ann.mask("face")[f, 8:56, 8:56] = True
        ann.mask("hand_right")[f, 30:60, 20:40] = True  # over the face's lower half and below it
        video[f][ann.mask("face")[f]] = face_rgb
        video[f][ann.mask("hand_right")[f]] = hand_rgb  # drawn in front
    return video, ann


def test_a_lighter_hand_reads_lighter_and_a_matched_one_has_no_colour_difference():
    tool = load_tool("composite_quality")
    video, ann = _clip((200, 160, 130), (120, 80, 60))
    hand, face = tool.skin_tones(video, ann)
    assert hand[0] > face[0] + 20  # L*
    assert np.linalg.norm(hand - face) > 20
    video, ann = _clip((150, 100, 75), (150, 100, 75))
    hand, face = tool.skin_tones(video, ann)
    assert np.linalg.norm(hand - face) == pytest.approx(0.0, abs=0.5)


def test_no_tone_without_a_hand():
    tool = load_tool("composite_quality")
    video, ann = _clip((200, 160, 130), (120, 80, 60))
    for f in range(len(video)):
        ann.mask("hand_right")[f] = False
    assert tool.skin_tones(video, ann) is None
