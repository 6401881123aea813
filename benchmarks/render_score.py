"""Render and ArcFace scoring throughput on LFW, side by side in one run.

    python -m benchmarks.render_score [--sample 300]

Render: obfuscate + encode one image's face-box patch (what the render stage does per image and level).
Scoring: the two threat models per obfuscated image — oracle box (align with the sharp landmarks + embed)
and end-to-end (re-detect + align + embed) — with embeddings batched as in the score stage. Needs the
detect stage's table (data/faces/lfw.parquet). Output checked in as benchmarks/render_score.md.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import cv2
import pandas as pd

from flup.evaluate import recognition
from flup.faces import weights
from flup.faces.detection import Detector, box_of, landmarks_of
from flup.obfuscate import render

REPO = Path(__file__).resolve().parents[1]
IMAGES = REPO / "data" / "raw" / "lfw" / "images"
FACES = REPO / "data" / "faces" / "lfw.parquet"
LEVELS = [("blur", 0), ("blur", 4), ("blur", 12), ("blur", 24), ("pixelate", 8), ("blackbox", 1)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sample", type=int, default=300)
    parser.add_argument("--det-size", type=int, default=320)
    args = parser.parse_args()
    faces = pd.read_parquet(FACES).query("status == 'ok'").sample(args.sample, random_state=0)
    pixels = {row.image: cv2.imread(str(IMAGES / row.image)) for row in faces.itertuples()}
    encoding = render.Encoding("png")
    print(f"machine: {os.cpu_count()} CPUs; {len(faces)} LFW images; PNG patches; detector det_size "
          f"{args.det_size}; recogniser w600k_mbf (onnxruntime CPU)\n")
    print("| obfuscation | level | render images/s | oracle-box scoring images/s | end-to-end scoring images/s |")
    print("|---|---|---|---|---|")
    detector = Detector(weights.resolve("detector", "scrfd_500m", "~"), args.det_size, 0.5)
    arcface = recognition.ArcFace(weights.resolve("recognizer", "w600k_mbf", "~"))
    for kind, level in LEVELS:
        started = time.perf_counter()
        obfuscated = {}
        for row in faces.itertuples():
            box, data = render.render_one(pixels[row.image], box_of(row._asdict()), kind, level, 1.0, encoding)
            obfuscated[row.image] = (box, data)
        render_rate = len(faces) / (time.perf_counter() - started)
        with tempfile.TemporaryDirectory() as tmp:
            store_file = Path(tmp) / "store.npz"
            names = list(obfuscated)
            render.save_store(store_file, names, [obfuscated[n][0] for n in names],
                              [obfuscated[n][1] for n in names], encoding)
            store = render.RenderStore(store_file)
            images = {name: store.obfuscated(name, pixels[name]) for name in names}
        started = time.perf_counter()
        crops = [recognition.align(images[row.image], landmarks_of(row._asdict())) for row in faces.itertuples()]
        for start in range(0, len(crops), 64):
            arcface.embed(crops[start:start + 64])
        oracle_rate = len(faces) / (time.perf_counter() - started)
        started = time.perf_counter()
        crops = []
        for name in images:
            found = recognition.redetect(detector, images[name])
            if found is not None:
                crops.append(recognition.align(images[name], found))
        for start in range(0, len(crops), 64):
            arcface.embed(crops[start:start + 64])
        e2e_rate = len(faces) / (time.perf_counter() - started)
        print(f"| {kind} | {level} | {render_rate:.0f} | {oracle_rate:.0f} | {e2e_rate:.0f} "
              f"({len(crops)}/{len(faces)} re-detected) |", flush=True)


if __name__ == "__main__":
    main()
