"""detect and render per-image throughput: in-process vs Ray (1 and 2 workers), and Ray's per-batch overhead.

    python -m benchmarks.ray_executor [--images 500] [--repeats 3] [--batch-size 16]

One Ray instance on this machine (started once, its start-up timed apart), then each configuration
``--repeats`` times in turn; prints a Markdown table of medians (min-max). Each Ray call's time includes
starting its actors (loading the ONNX sessions), as a stage's would. Every configuration's output is
checked equal to the in-process one. The output of the last run is checked in as benchmarks/ray_executor.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time
from pathlib import Path

import pandas as pd

from flup.config import load_config
from flup.config.schema import Executor
from flup.executor import map_items
from flup.faces.detect_dataset import BOX_ANNOTATION, ImageDetector
from flup.faces.detection import BOX_COLUMNS, available_cores
from flup.faces.weights import detector_file
from flup.obfuscate import render
from flup.obfuscate.render_dataset import ImageRenderer

REPO = Path(__file__).resolve().parents[1]
LFW = REPO.parent / "shared" / "data" / "lfw" / "lfw-deepfunneled"
LEVELS = [("blur", 8.0), ("pixelate", 8.0)]


def noop(threads: int | None = None, gpu: bool = False):
    return _identity


def _identity(item):
    return item


def same_render(a: tuple, b: tuple) -> bool:
    """(patch box, bytes, landmarks or None) equal, bit for bit."""
    landmarks_equal = (a[2] is None and b[2] is None) or (
        a[2] is not None and b[2] is not None and a[2].tobytes() == b[2].tobytes())
    return tuple(a[0]) == tuple(b[0]) and a[1] == b[1] and landmarks_equal


def timed(call) -> tuple[float, object]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()

    import ray

    cfg = load_config(REPO / "params.yaml")
    names = sorted(f"{p.parent.name}/{p.name}" for p in LFW.glob("*/*.jpg"))[:args.images]
    items = [{"image": n, "identity": n.split("/")[0], **dict.fromkeys(BOX_ANNOTATION, float("nan"))} for n in names]
    detect = ImageDetector(detector_file(cfg), cfg.detector.det_size, cfg.detector.det_thresh, LFW, "central")
    executors = {"in-process": Executor()}
    for workers in (1, 2):
        executors[f"Ray, {workers} worker{'s' * (workers > 1)}"] = Executor(
            kind="ray", workers=workers, batch_size=args.batch_size)

    ray_start, _ = timed(lambda: ray.init(num_cpus=available_cores(), include_dashboard=False,
                                          _node_ip_address="127.0.0.1", log_to_driver=False))
    reference = pd.DataFrame(map_items(items, detect, Executor(), "detect"))  # warm-up and the expected table
    faces = reference[reference["status"] == "ok"]
    rows = [(r["image"], tuple(r[c] for c in BOX_COLUMNS), r.to_dict()) for _, r in faces.iterrows()]
    # render: every image with a face at two levels, image by image (the Ray path's unit of work)
    renderer = ImageRenderer(LFW, 1.0, "crop", render.Encoding("png"), detector_file(cfg), cfg.detector.det_size,
                             cfg.detector.det_thresh)
    render_items = [(kind, level, row) for kind, level in LEVELS for row in rows]
    expected_render = map_items(render_items, renderer, Executor(), "render")

    times: dict[tuple[str, str, int], list[float]] = {}
    for _ in range(args.repeats):
        for label, settings in executors.items():
            for copies in (1, 2):  # the items once and twice over: the difference is the marginal cost
                seconds, table = timed(lambda s=settings, c=copies: pd.DataFrame(
                    map_items(items * c, detect, s, "detect")))
                assert table.equals(pd.concat([reference] * copies, ignore_index=True)), label
                times.setdefault(("detect", label, copies), []).append(seconds)
                seconds, out = timed(lambda s=settings, c=copies: map_items(render_items * c, renderer, s, "render"))
                assert all(map(same_render, out, expected_render * copies)), label
                times.setdefault(("render", label, copies), []).append(seconds)
        # Ray's own cost: a no-op worker over the same number of items, and over one item (one batch)
        for count in (len(items), 1):
            seconds, _ = timed(lambda c=count: map_items(list(range(c)), noop, executors["Ray, 2 workers"], "noop"))
            times.setdefault(("noop", "", count), []).append(seconds)

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout
    load = os.getloadavg()
    print(f"commit {commit.strip()}, {available_cores()} cores, load average at the end {load[0]:.2f}; "
          f"{len(items)} LFW images ({len(render_items)} renders: {len(rows)} faces x {len(LEVELS)} levels), "
          f"batch size {args.batch_size}, {args.repeats} repeats; Ray start-up (ray.init) {ray_start:.1f} s\n")
    fixed = statistics.median(times[("noop", "", 1)])
    print("| step | executor | seconds for N, median (min-max) | images/s for N | seconds for 2N, median | "
          "marginal images/s: N / (t(2N) - t(N)) |")
    print("|---|---|---|---|---|---|")
    for (step, label, copies), values in times.items():
        if step == "noop" or copies != 1:
            continue
        count = len(items) if step == "detect" else len(render_items)
        once, twice = statistics.median(values), statistics.median(times[(step, label, 2)])
        print(f"| {step} | {label} | {once:.2f} ({min(values):.2f}-{max(values):.2f}) | {count / once:.1f} | "
              f"{twice:.2f} | {count / (twice - once):.1f} |")
    full, one = statistics.median(times[("noop", "", len(items))]), fixed
    batches = -(-len(items) // args.batch_size)
    print(f"\nNo-op worker, Ray, 2 workers: {len(items)} items ({batches} batches) {full:.2f} s, one item {one:.2f} s "
          f"(the fixed cost of a call: plan, start 2 actors, stream); per batch beyond the first "
          f"{1000 * (full - one) / max(1, batches - 1):.1f} ms.")
    ray.shutdown()


if __name__ == "__main__":
    main()
