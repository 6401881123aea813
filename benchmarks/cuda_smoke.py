"""CUDA path check: one short real training run through flup.models.trainer.train on the GPU.

    python -m benchmarks.cuda_smoke --images DIR [--out DIR]

Trains two tiny epochs (the second resumed from the first's checkpoint) and prints the losses,
the device the weights ended on, and whether the checkpoint reloads with weights_only=True.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from benchmarks.train_throughput import FACES, training_frame
from flup.models import model, trainer
from flup.models.sampling import VARIANTS, Policy, QuadrupletDataset
from flup.training.checkpoint import CHECKPOINT, load_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=Path, required=True)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("CUDA is not available here")
    frame = training_frame(args.images, FACES, 50)
    dataset = QuadrupletDataset(frame, Policy.from_params(VARIANTS["tight_crop_blur"]), 112, samples_per_epoch=128)
    with tempfile.TemporaryDirectory() as out:
        for epochs in (1, 2):
            net = model.build_dual_stream("gap", 112, "none")  # pretrained weights do not matter here
            cfg = {"epochs": epochs, "batch_size": 32, "num_workers": 2, "device": "cuda", "seed": 0}
            history = trainer.train(net, dataset, None, cfg, out)
            print(f"epochs={epochs}: history={history}; weights on {next(net.parameters()).device}")
        state = load_checkpoint(Path(out) / CHECKPOINT)
        print(f"checkpoint epoch {state['epoch']} reloads with weights_only=True")


if __name__ == "__main__":
    main()
