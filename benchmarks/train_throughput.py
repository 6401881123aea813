"""Training throughput: the real data pipeline versus the model alone, side by side in one run.

    python -m benchmarks.train_throughput [--input-size 224] [--head flatten] [--workers 2] [--steps 30]

(A) full steps fed by the real pipeline (QuadrupletDataset: JPEG decode, blur/crop policy,
augmentation, in DataLoader workers) with the exact training blur, (A') the same with the
approximate blur the study trains with (train.approximate_blur), and (B) the same steps on one
pre-made batch already on the device, timed before and after A and A'. The pipeline's cost is
1 - A'/max(B). Results are checked in as
benchmarks/train_throughput.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import pandas as pd
import torch
from torch.utils.data import default_collate

from flup.models import model, training
from flup.models.sampling import Policy, QuadrupletDataset

REPO = Path(__file__).resolve().parents[1]
LFW = REPO.parent / "shared" / "data" / "lfw" / "lfw-deepfunneled"
FACES = REPO / "data" / "faces" / "lfw.parquet"
CENTRAL_BOX = (70.0, 60.0, 180.0, 190.0)  # deep-funneled LFW centres the face; used without a face table


def training_frame(images: Path, faces: Path, max_people: int) -> pd.DataFrame:
    if faces.exists():
        table = pd.read_parquet(faces).query("status == 'ok'")
        table = table[table["image"].map(lambda i: (images / i).exists())]
        frame = pd.DataFrame({"path": [str(images / i) for i in table["image"]], "identity": table["identity"]})
        for column in ("x1", "y1", "x2", "y2"):
            frame[column] = table[column].to_numpy()
    else:
        paths = sorted(images.glob("*/*.jpg"))
        frame = pd.DataFrame({"path": [str(p) for p in paths], "identity": [p.parent.name for p in paths]})
        for column, value in zip(("x1", "y1", "x2", "y2"), CENTRAL_BOX, strict=True):
            frame[column] = value
    counts = frame["identity"].value_counts()
    keep = counts[counts >= 2].index[:max_people]
    return frame[frame["identity"].isin(keep)].reset_index(drop=True)


def timed_steps(net, optimizer, batches, steps: int, warmup: int, device) -> float:
    """Samples per second over ``steps`` optimiser steps after ``warmup`` untimed ones."""
    iterator = iter(batches)
    done = 0
    for step in range(warmup + steps):
        if step == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
        batch = next(iterator)
        batch = {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}
        loss = training.loss_on_batch(net, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step >= warmup:
            done += batch["sharp_a"].shape[0]
    if device.type == "cuda":
        torch.cuda.synchronize()
    return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=Path, default=LFW)
    parser.add_argument("--faces", type=Path, default=FACES)
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--head", default="flatten")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=None,
                        help="untimed steps; default 2 * workers + 3, so the batches the workers prefetched "
                             "while the model warmed up are used before the clock starts")
    parser.add_argument("--policy", default="random_crop_blur")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--pretrained", default="v1", help="v1 | none | path to a mobilenet_v2 state_dict")
    parser.add_argument("--max-people", type=int, default=400)
    args = parser.parse_args()
    if args.warmup is None:
        args.warmup = 2 * args.workers + 3

    from flup.models.sampling import VARIANTS

    device = training.resolve_device(args.device)
    torch.manual_seed(0)
    frame = training_frame(args.images, args.faces, args.max_people)
    cfg = training.TrainConfig(epochs=1, batch_size=args.batch_size, num_workers=args.workers, device=str(device))

    def dataset_for(approximate_blur: bool) -> QuadrupletDataset:
        policy = Policy.from_params({**VARIANTS[args.policy], "approximate_blur": approximate_blur})
        return QuadrupletDataset(frame, policy, args.input_size, seed=0,
                                 samples_per_epoch=args.batch_size * (args.steps + args.warmup))

    def loader_for(approximate_blur: bool):
        loader, sampler = training.make_loader(dataset_for(approximate_blur), cfg, device)
        sampler.set_epoch(1)
        return loader

    net = model.build_dual_stream(args.head, args.input_size, args.pretrained).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=2e-4)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({os.cpu_count()} cores)"
    print(f"device: {name}; torch {torch.__version__}; python {platform.python_version()}; "
          f"{len(frame)} images of {frame['identity'].nunique()} people")
    print(f"config: input {args.input_size}px, head {args.head}, batch {args.batch_size}, "
          f"{args.workers} loader workers, policy {args.policy}, {args.steps} timed steps after {args.warmup}\n")

    # One batch made in this process, before any loader worker exists; the model alone is timed on it
    # first (nothing else running) and again last (the loaders' idle workers still alive), and the
    # pipeline's cost is taken against the faster of the two.
    dataset = dataset_for(approximate_blur=True)
    fixed = default_collate([dataset[(1, i)] for i in range(args.batch_size)])
    fixed = {k: v.to(device) if torch.is_tensor(v) else v for k, v in fixed.items()}
    alone_first = timed_steps(net, optimizer, iter(lambda: fixed, None), args.steps, args.warmup, device)
    exact = timed_steps(net, optimizer, loader_for(False), args.steps, args.warmup, device)
    approximate = timed_steps(net, optimizer, loader_for(True), args.steps, args.warmup, device)
    alone_last = timed_steps(net, optimizer, iter(lambda: fixed, None), args.steps, args.warmup, device)
    alone = max(alone_first, alone_last)
    print("| feed | samples/s | images/s (4 per sample) | pipeline cost |")
    print("|---|---|---|---|")
    for name, rate in (("pre-made batch (model alone), timed first", alone_first),
                       ("real data pipeline, exact blur", exact),
                       ("real data pipeline, approximate blur (the default)", approximate),
                       ("pre-made batch (model alone), timed last", alone_last)):
        print(f"| {name} | {rate:.1f} | {4 * rate:.0f} | {100 * (1 - rate / alone):.1f}% |")
    ratio = approximate / alone
    print(f"\npipeline/model-alone ratio: {ratio:.3f} (the data pipeline costs {100 * (1 - ratio):.1f}%)")


if __name__ == "__main__":
    main()
