"""Detector throughput and coverage on LFW, side by side in one run.

    python -m benchmarks.detect [--sample N] [--sizes 320 640] [--full-size 320]

Times every detector input size on the same sample of images (the same files, in the same
order), then the configured size over *all* images, and prints a Markdown table. The output
of the last run is checked in as benchmarks/detect.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import time
from pathlib import Path

import cv2

from flup.faces import detection as faces
from flup.faces import weights

LFW = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lfw" / "lfw-deepfunneled"


def run(detector: faces.Detector, paths: list[Path]) -> tuple[float, int, int]:
    found = several = 0
    started = time.perf_counter()
    for path in paths:
        image = cv2.imread(str(path))
        detected = detector.detect(image)
        found += bool(detected)
        several += len(detected) > 1
    return time.perf_counter() - started, found, several


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=Path, default=LFW)
    parser.add_argument("--sample", type=int, default=1000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 320, 640])
    parser.add_argument("--full-size", type=int, default=320, help="size timed on every image (0: skip)")
    args = parser.parse_args()

    paths = sorted(args.images.glob("*/*.jpg"))
    sample = random.Random(0).sample(paths, min(args.sample, len(paths)))
    model = weights.resolve("detector", "scrfd_500m", "~/.insightface/models")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}; "
          f"detector: SCRFD-500M (onnxruntime CPU)\n")
    print("| det_size | images | seconds | ms/image | images/s | face found | several faces |")
    print("|---|---|---|---|---|---|---|")
    rows = [(size, sample) for size in args.sizes]
    if args.full_size:
        rows.append((args.full_size, paths))
    for size, chosen in rows:
        detector = faces.Detector(model, size, 0.5)
        detector.detect(cv2.imread(str(chosen[0])))  # warm-up: session start-up is not throughput
        seconds, found, several = run(detector, chosen)
        print(f"| {size} | {len(chosen)} | {seconds:.1f} | {1000 * seconds / len(chosen):.1f} | "
              f"{len(chosen) / seconds:.0f} | {found} ({100 * found / len(chosen):.2f}%) | {several} |", flush=True)


if __name__ == "__main__":
    main()
