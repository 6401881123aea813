"""Training throughput: model alone vs the CPU feed vs the device feed, by batch size and precision.

    python -m benchmarks.train_throughput [--input-size 224] [--head flatten] [--batch-sizes 64,128,256,512]
        [--precisions fp32,bf16] [--feeds model,device,cpu] [--cpu-feed-batch 256] [--workers 12] [--steps 10]

Rows, each timed over ``--steps`` optimiser steps after ``--warmup`` untimed ones (quadruplets/s):

- ``model``: the step alone, on one pre-rendered batch already on the device;
- ``device``: the batched device feed (flup/models/device_feed.py: images decoded once onto the
  device, blur/crop/resize/flip/rotation/jitter rendered there per batch) plus the step;
- ``cpu``: the per-sample CPU feed (QuadrupletDataset in DataLoader workers, approximate blur) plus
  the step, at ``--cpu-feed-batch`` only (it is the slow one).

Feed cost = 1 - feed row / model row of the same batch size and precision. ``--compile`` adds a
torch.compile row (compile time measured separately); ``--cudnn-benchmark`` adds a row with cuDNN's
autotuner on (faster, but not bit-reproducible). Policy ``random_crop_blur`` (the most expensive).
Results: benchmarks/train_throughput.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import pandas as pd
import torch

from flup.models import model
from flup.models.device_feed import DeviceFeed, ImageStore
from flup.models.sampling import SLOTS, VARIANTS, Policy, QuadrupletDataset
from flup.models.trainer import TrainConfig, Trainer, make_loader
from flup.training.loop import resolve_device

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


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(trainer: Trainer, batches, steps: int, warmup: int, cpu_feed: bool = False) -> float:
    """Quadruplets per second over ``steps`` steps after ``warmup``; ``batches`` yields feed batches."""
    device = trainer.device
    iterator = iter(batches)
    done = 0
    for step in range(warmup + steps):
        if step == warmup:
            sync(device)
            started = time.perf_counter()
        batch = next(iterator)
        trainer.step(batch) if not cpu_feed else _cpu_step(trainer, batch)
        if step >= warmup:
            done += batch["sharp_a"].shape[0]
    sync(device)
    return done / (time.perf_counter() - started)


def _cpu_step(trainer: Trainer, batch) -> None:
    # The CPU feed hands uint8 pixels; Trainer.step normalises them when its feed is the CPU's.
    kind = trainer.feed_kind
    trainer.feed_kind = "cpu"
    try:
        trainer.step(batch)
    finally:
        trainer.feed_kind = kind


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=Path, default=LFW)
    parser.add_argument("--faces", type=Path, default=FACES)
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--head", default="flatten")
    parser.add_argument("--batch-sizes", default="64,128,256,512")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--feeds", default="model,device,cpu")
    parser.add_argument("--cpu-feed-batch", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2, help="CPU-feed loader workers (and decode threads)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--policy", default="random_crop_blur")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--pretrained", default="none", help="v1 | none | a mobilenet_v2 state_dict (speed alike)")
    parser.add_argument("--max-people", type=int, default=400)
    parser.add_argument("--compile", action="store_true", help="add a torch.compile row (bf16, largest batch)")
    parser.add_argument("--cudnn-benchmark", action="store_true", help="add a cudnn.benchmark row (bf16, largest)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    precisions = args.precisions.split(",")
    feeds = args.feeds.split(",")

    device = resolve_device(args.device)
    frame = training_frame(args.images, args.faces, args.max_people)
    policy = Policy.from_params({**VARIANTS[args.policy], "approximate_blur": True})
    samples = max(batch_sizes + [args.cpu_feed_batch]) * (args.steps + max(args.warmup, 2 * args.workers + 3) + 1)
    dataset = QuadrupletDataset(frame, policy, args.input_size, seed=0, samples_per_epoch=samples)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({os.cpu_count()} cores)"
    print(f"device: {name}; torch {torch.__version__}; python {platform.python_version()}; "
          f"{len(frame)} images of {frame['identity'].nunique()} people")
    print(f"config: input {args.input_size}px, head {args.head}, policy {args.policy}, {args.steps} timed steps "
          f"after {args.warmup}; CPU feed: {args.workers} workers\n", flush=True)
    started = time.perf_counter()
    store = ImageStore(sorted({dataset.paths[r] for photos in dataset.photos for r in photos}), device, args.workers)
    print(f"image store: {len(store.paths)} images, {store.nbytes / 2**20:.0f} MiB on {device}, "
          f"{time.perf_counter() - started:.1f} s\n", flush=True)
    net = model.build_dual_stream(args.head, args.input_size, args.pretrained)
    rows = []

    def trainer_for(batch: int, precision: str, feed: str = "device", compile_: bool = False) -> Trainer:
        cfg = TrainConfig(epochs=1, batch_size=batch, num_workers=args.workers, device=str(device),
                                   feed=feed, precision=precision, compile=compile_)
        return Trainer(net, dataset, cfg, store=store)

    def record(batch, precision, feed, rate, note=""):
        alone = next((r["quadruplets_per_s"] for r in rows if r["batch"] == batch and r["precision"] == precision
                      and r["feed"] == "model"), None)
        cost = None if alone is None or feed == "model" else 1 - rate / alone
        rows.append({"batch": batch, "precision": precision, "feed": feed, "quadruplets_per_s": rate,
                     "feed_cost": cost, "note": note})
        print(f"| {batch} | {precision} | {feed} | {rate:.1f} | {4 * rate:.0f} | "
              f"{'' if cost is None else f'{100 * cost:.1f}%'} | {note} |", flush=True)

    def run_config(batch: int, precision: str) -> None:
        trainer = trainer_for(batch, precision)
        feed = DeviceFeed(dataset, store)
        keys = list(range(batch))
        if "model" in feeds:
            fixed = feed.batch(1, keys)
            record(batch, precision, "model", timed(trainer, iter(lambda: fixed, None), args.steps, args.warmup))
        if "device" in feeds:
            gen = (feed.batch(1, [(step * batch + i) % len(dataset) for i in keys]) for step in range(10**9))
            record(batch, precision, "device", timed(trainer, gen, args.steps, args.warmup))
        if "cpu" in feeds and batch == args.cpu_feed_batch:
            loader, sampler = make_loader(dataset, trainer.cfg, device)
            sampler.set_epoch(1)
            warm = max(args.warmup, 2 * args.workers + 3)
            record(batch, precision, "cpu", timed(trainer, loader, args.steps, warm, cpu_feed=True),
                   f"{args.workers} workers")

    print("| batch | precision | feed | quadruplets/s | images/s | feed cost | note |")
    print("|---|---|---|---|---|---|---|")
    for precision in precisions:
        for batch in batch_sizes:
            try:
                run_config(batch, precision)
            except torch.cuda.OutOfMemoryError:
                print(f"| {batch} | {precision} | - | out of memory | | | |", flush=True)
                rows.append({"batch": batch, "precision": precision, "feed": "-", "quadruplets_per_s": None,
                             "feed_cost": None, "note": "out of memory"})
                torch.cuda.empty_cache()
    if "device" in feeds:  # the feed alone, no model step: its share of a step
        batch = max(batch_sizes)
        feed = DeviceFeed(dataset, store)
        for _ in range(2):
            feed.batch(1, range(batch))
        sync(device)
        started = time.perf_counter()
        for step in range(args.steps):
            feed.batch(1, [(step * batch + i) % len(dataset) for i in range(batch)])
        sync(device)
        rate = args.steps * batch / (time.perf_counter() - started)
        rows.append({"batch": batch, "precision": "-", "feed": "device feed alone", "quadruplets_per_s": rate,
                     "feed_cost": None, "note": "render only"})
        print(f"| {batch} | - | device feed alone | {rate:.1f} | {4 * rate:.0f} | | render only, no model |",
              flush=True)
    largest = max(batch_sizes)
    if args.cudnn_benchmark and device.type == "cuda":
        trainer = trainer_for(largest, "bf16")
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = True, False
        fixed = DeviceFeed(dataset, store).batch(1, range(largest))
        record(largest, "bf16", "model", timed(trainer, iter(lambda: fixed, None), args.steps, args.warmup),
               "cudnn.benchmark on, not deterministic")
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = False, True
    if args.compile:
        trainer = trainer_for(largest, "bf16", compile_=True)
        fixed = DeviceFeed(dataset, store).batch(1, range(largest))
        started = time.perf_counter()
        trainer.step(fixed)
        sync(device)
        compile_s = time.perf_counter() - started
        rate = timed(trainer, iter(lambda: fixed, None), args.steps, args.warmup)
        rows.append({"batch": largest, "precision": "bf16", "feed": "model, compiled", "quadruplets_per_s": rate,
                     "feed_cost": None, "note": f"compile {compile_s:.0f} s"})
        print(f"| {largest} | bf16 | model, torch.compile | {rate:.1f} | {4 * rate:.0f} | | "
              f"first step (compile) {compile_s:.1f} s |", flush=True)
    if device.type == "cuda":
        print(f"\nmax GPU memory allocated: {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
    if args.json:
        args.json.write_text(json.dumps({"device": name, "torch": torch.__version__, "args": {
            k: str(v) for k, v in vars(args).items()}, "rows": rows}, indent=1))
    print(f"slots: {', '.join(SLOTS)}; total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
