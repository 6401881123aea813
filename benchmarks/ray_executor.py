"""detect, render and ArcFace scoring throughput: in-process vs Ray (1 and 2 workers), and Ray's overheads.

    python -m benchmarks.ray_executor [--images 500] [--repeats 3] [--batch-size 16] [--steps detect,render,score]

One Ray instance on this machine (started once, its start-up timed apart), then each configuration
``--repeats`` times in turn; prints a Markdown table of medians (min-max). Each Ray call's time includes
starting its actors (loading the ONNX sessions), as a stage's would. Every configuration's output is
checked equal to the in-process one. The output of the last run is checked in as benchmarks/ray_executor.md.

score: ArcFace embeddings of 2 x N distinct aligned crops (each face's sharp crop and a Gaussian-blurred copy),
as score_arcface embeds them: in-process ``engine.in_batches`` over the ONNX session, ``arcface.batch_size`` crops
a call; on Ray the same loop over a :class:`flup.executor.ActorPool` (``workers`` x ``arcface.batch_size`` crops a
call, ``arcface.batch_size`` a piece). The pool's start-up (actors, sessions) is timed apart, as it is paid once a
stage, and so is one call's round trip (one crop).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time
from pathlib import Path

import cv2
import pandas as pd

from flup.config import load_config
from flup.config.schema import Executor
from flup.cpu import available_cores
from flup.executor import ActorPool, map_items
from flup.faces.detection import BOX_COLUMNS, landmarks_of
from flup.obfuscation import render
from flup.pipeline.detect import BOX_ANNOTATION, ImageDetector
from flup.pipeline.model_files import detector_file, recognizer_file
from flup.pipeline.render import ImageRenderer
from flup.verify import engine, recognition

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
    parser.add_argument("--steps", default="detect,render,score", help="comma-separated: detect, render, score")
    args = parser.parse_args()
    steps = set(args.steps.split(","))

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
    expected_render = map_items(render_items, renderer, Executor(), "render") if "render" in steps else []

    times: dict[tuple[str, str, int], list[float]] = {}
    per_image = steps & {"detect", "render"}
    for _ in range(args.repeats if per_image else 0):
        for label, settings in executors.items():
            for copies in (1, 2):  # the items once and twice over: the difference is the marginal cost
                if "detect" in steps:
                    seconds, table = timed(lambda s=settings, c=copies: pd.DataFrame(
                        map_items(items * c, detect, s, "detect")))
                    assert table.equals(pd.concat([reference] * copies, ignore_index=True)), label
                    times.setdefault(("detect", label, copies), []).append(seconds)
                if "render" in steps:
                    seconds, out = timed(lambda s=settings, c=copies: map_items(render_items * c, renderer, s,
                                                                                "render"))
                    assert all(map(same_render, out, expected_render * copies)), label
                    times.setdefault(("render", label, copies), []).append(seconds)
    for _ in range(args.repeats):  # Ray Data's own cost: a no-op worker over the items, and over one item
        for count in (len(items), 1):
            seconds, _ = timed(lambda c=count: map_items(list(range(c)), noop, executors["Ray, 2 workers"], "noop"))
            times.setdefault(("noop", "", count), []).append(seconds)
    scoring = score(cfg, faces, args.repeats) if "score" in steps else []

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout
    load = os.getloadavg()
    print(f"commit {commit.strip()}, {available_cores()} cores, load average at the end {load[0]:.2f}; "
          f"{len(items)} LFW images ({len(render_items)} renders: {len(rows)} faces x {len(LEVELS)} levels), "
          f"batch size {args.batch_size}, {args.repeats} repeats; Ray start-up (ray.init) {ray_start:.1f} s\n")
    fixed = statistics.median(times[("noop", "", 1)])
    if scoring:
        print_scoring(scoring, cfg.arcface.batch_size)
        print(f"\nRay Data, for comparison: one map_batches call of one item (a no-op worker, 2 actors) {fixed:.2f} s.")
    if not per_image:
        ray.shutdown()
        return
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


def score(cfg, faces: pd.DataFrame, repeats: int) -> list[tuple[str, dict[str, list[float]], int]]:
    """ArcFace embeddings in-process and on 1 and 2 Ray actors: (label, {measure: seconds per repeat}, crops)."""
    sharp = [recognition.align(engine.read_image(LFW, r["image"]), landmarks_of(r)) for _, r in faces.iterrows()]
    crops = sharp + [cv2.GaussianBlur(c, (0, 0), 2.0) for c in sharp]
    model, chunk = recognizer_file(cfg), cfg.arcface.batch_size
    session = recognition.ArcFace(model)
    expected = engine.in_batches(session.embed, crops, chunk)  # warm-up and the expected vectors
    results = {"in-process": {"embed": []}}
    for workers in (1, 2):
        results[f"Ray, {workers} worker{'s' * (workers > 1)}"] = {"start": [], "embed": [], "call": []}
    for _ in range(repeats):
        seconds, out = timed(lambda: engine.in_batches(session.embed, crops, chunk))
        assert out.tobytes() == expected.tobytes()
        results["in-process"]["embed"].append(seconds)
        for workers in (1, 2):
            measures = results[f"Ray, {workers} worker{'s' * (workers > 1)}"]
            seconds, pool = timed(lambda w=workers: ActorPool(engine.ArcFaceWorker(model), Executor(
                kind="ray", workers=w), chunk))
            measures["start"].append(seconds)
            with pool:
                seconds, out = timed(lambda p=pool: engine.in_batches(p, crops, p.width))
                assert out.tobytes() == expected.tobytes(), workers
                measures["embed"].append(seconds)
                one = [timed(lambda p=pool: p(crops[:1]))[0] for _ in range(20)]
                measures["call"].append(statistics.median(one))
    return [(label, measures, len(crops)) for label, measures in results.items()]


def print_scoring(scoring: list, chunk: int) -> None:
    print(f"\nscore: {scoring[0][2]} distinct aligned crops, arcface.batch_size {chunk}\n")
    print("| executor | embed seconds, median (min-max) | embeddings/s | pool start-up s (once a stage) | "
          "one call's round trip, ms (1 crop) |")
    print("|---|---|---|---|---|")
    for label, measures, count in scoring:
        embed = measures["embed"]
        start = f"{statistics.median(measures['start']):.2f}" if "start" in measures else "-"
        call = f"{1000 * statistics.median(measures['call']):.1f}" if "call" in measures else "-"
        print(f"| {label} | {statistics.median(embed):.2f} ({min(embed):.2f}-{max(embed):.2f}) | "
              f"{count / statistics.median(embed):.1f} | {start} | {call} |")


if __name__ == "__main__":
    main()
