"""Set-up time of the composite renderer's re-posing of pokes and swipes: the fast search against the reference.

The reference (``tests/natural_arm_reference.py``) scores every candidate orientation on the collision spheres of
a freshly built tube surface, one key frame at a time; the placement computes the spheres from the joints, keeps
what a candidate does not change, and scores a batch with one height look-up. Both are run in the same process,
alternately, and must choose the same pose. Prints milliseconds per clip (best of ``--repeats``) and the ratio.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patterns", nargs="+", default=["poke_nose", "poke_chin", "swipe_mouth_leftward"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    from natural_arm_reference import reference_natural_arm
    from skimage import data

    from interanimate.pipelines.motion import SYNTH_ACTOR_SIZE, synthesize_performance
    from interanimate.render.composite.face import build_face
    from interanimate.render.composite.photo import load_photo
    from interanimate.render.composite.placement import Retargeter
    from interanimate.render.composite.renderer import subject_models

    photo = load_photo(data.astronaut(), 256, "face", name="astronaut")
    face = build_face(photo.image, photo.mesh)
    for pattern in args.patterns:
        plan = synthesize_performance(pattern, args.frames, 25.0, args.seed, None).plan
        _, head, hands = subject_models(args.seed, 0, SYNTH_ACTOR_SIZE)
        retarget = Retargeter(face, head, hands[plan.hand_side], plan, long_sleeves=False)
        fast, slow = [], []
        for _ in range(args.repeats):
            t = time.perf_counter()
            reference = reference_natural_arm(retarget)
            slow.append(time.perf_counter() - t)
            t = time.perf_counter()
            chosen = retarget._natural_arm()
            fast.append(time.perf_counter() - t)
        same = all(np.array_equal(a, b) for a, b in zip(chosen, reference))
        print(f"{pattern:>22s} seed {args.seed}: reference {1e3 * min(slow):7.0f} ms, fast {1e3 * min(fast):6.0f} ms, "
              f"{min(slow) / min(fast):5.1f}x, same pose: {same}")


if __name__ == "__main__":
    main()
