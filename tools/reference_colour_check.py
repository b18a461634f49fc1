"""How much of its appearance a trained model takes from the reference photo: the mean colour of samples.

    .venv/bin/python tools/reference_colour_check.py RUN/final DATASET [--clips 12] [--steps 10] [--guidance 1]

For held-out clips (the dataset's test split) one frame is generated from the clip's reference frame and the
frame's condition maps (image mode, one seed), and its mean RGB is compared with the mean RGB of the true frame
and with that of the reference. A model that copies appearance has a small colour error (well below the spread of
the clips' own colours, also printed) and correlates with the reference per channel; a model that reads the
colour from the noise of the sampler's first step, as ε-models on the plain SD schedule learn to, does not.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from interanimate.data.dataset import InterHFDataset
from interanimate.diffusion import NoiseSchedule, sample_ddim
from interanimate.models import InterAnimateModel
from interanimate.training.config import load_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="a trained model folder with config.yaml (a run's final/)")
    parser.add_argument("dataset", type=Path, help="an InterHF dataset with a test split")
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--guidance", type=float, default=1.0)
    args = parser.parse_args()

    config = load_config(args.model / "config.yaml")
    model = InterAnimateModel.from_pretrained(args.model).eval()
    size = config.data.resolution
    dataset = InterHFDataset(args.dataset, split="test", num_frames=1, resolution=(size, size))
    if len(dataset) == 0:
        raise SystemExit(f"{args.dataset} has no test clips")
    picks = np.linspace(0, len(dataset) - 1, min(args.clips, len(dataset))).round().astype(int)
    schedule = NoiseSchedule.from_config(config.scheduler)
    references, generated, truths = [], [], []
    for index in picks:
        sample = dataset[int(index)]
        with torch.no_grad():
            video = sample_ddim(model, sample["reference_pixel_values"][None],
                                sample["conditions"].permute(1, 0, 2, 3)[None], [0],
                                schedule=schedule, pattern_id=sample["pattern_id"][None],
                                num_inference_steps=args.steps, guidance_scale=args.guidance,
                                prediction_type=config.loss.prediction_type, use_motion_modules=False)
        references.append(sample["reference_pixel_values"].mean((1, 2)).numpy())
        generated.append(video[0].mean((1, 2, 3)).numpy())
        truths.append(sample["pixel_values"].mean((0, 2, 3)).numpy())
    references, generated, truths = map(np.array, (references, generated, truths))
    correlation = [float(np.corrcoef(references[:, c], generated[:, c])[0, 1]) for c in range(3)]
    print(f"{len(picks)} held-out clips, {args.steps} DDIM steps, guidance {args.guidance}")
    print(f"colour error |sample - truth|: {np.abs(generated - truths).mean():.3f} "
          f"(spread of the clips' colours: {truths.std(0).mean():.3f})")
    print("correlation with the reference (R, G, B): " + " / ".join(f"{c:.2f}" for c in correlation))


if __name__ == "__main__":
    main()
