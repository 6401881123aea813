"""detect: every fetched image once through the face detector -> data/faces/lfw.parquet."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import pandas as pd
from tqdm import tqdm

from flup import faces
from flup.io import write_table
from flup.log import get_logger
from flup.params import load_params
from stages.common import build_detector

IMAGES = Path("data/raw/lfw/images")
OUT = Path("data/faces/lfw.parquet")


def main() -> None:
    log = get_logger("detect")
    params = load_params()
    detector = build_detector(params)
    images = sorted(f"{p.parent.name}/{p.name}" for p in IMAGES.glob("*/*.jpg"))
    if not images:
        raise FileNotFoundError(f"{IMAGES}: no images (run the fetch stage first)")
    started = time.monotonic()
    rows = []
    for image in tqdm(images, desc="detect", unit="img", mininterval=2.0):
        pixels = cv2.imread(str(IMAGES / image), cv2.IMREAD_COLOR)
        row = {"image": image, "identity": image.split("/")[0]}
        row.update(faces.face_row(detector.detect(pixels), pixels.shape))
        rows.append(row)
    table = pd.DataFrame(rows)
    write_table(OUT, table)
    elapsed = time.monotonic() - started
    found = int((table["status"] == "ok").sum())
    log.info("%d/%d images with a face (%.2f%%), %d with several; %.1f s (%.1f ms/img)",
             found, len(table), 100 * found / len(table), int((table["n_faces"] > 1).sum()),
             elapsed, 1000 * elapsed / len(table))


if __name__ == "__main__":
    main()
