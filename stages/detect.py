"""detect [dataset]: every image once through the face detector -> a detection table.

LFW (no argument): every fetched image -> data/faces/lfw.parquet, face rule ``central``.
An evaluation-only dataset: the images its pairs use -> data/datasets/<name>/faces.parquet,
with the face rule of ``datasets.<name>.face_rule``; an unreadable image gets status ``unreadable``.
"""

from __future__ import annotations

import sys
import time

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from flup.config import Study, load_config, run_stage
from flup.faces import detection as faces
from flup.io import read_table, write_table
from flup.log import get_logger
from stages.common import LFW, build_detector, dataset_paths

BOX_ANNOTATION = ["box_x1", "box_y1", "box_x2", "box_y2"]


def images_to_detect(cfg: Study, name: str) -> pd.DataFrame:
    """``image``, ``identity`` and the annotated box (NaN if none) of every image to detect."""
    paths = dataset_paths(cfg, name)
    if name == LFW:
        images = sorted(f"{p.parent.name}/{p.name}" for p in paths.images.glob("*/*.jpg"))
        if not images:
            raise FileNotFoundError(f"{paths.images}: no images (run the fetch stage first)")
        frame = pd.DataFrame({"image": images, "identity": [i.split("/")[0] for i in images]})
        return frame.assign(**dict.fromkeys(BOX_ANNOTATION, np.nan))
    index = read_table(paths.faces.parent / "source" / "index.csv")
    pairs = read_table(paths.protocols["pairs"])
    used = set(pairs["image_a"]) | set(pairs["image_b"])
    return index[index["image"].isin(used)][["image", "identity", *BOX_ANNOTATION]].reset_index(drop=True)


def main(name: str = LFW) -> None:
    log = get_logger("detect" if name == LFW else f"detect@{name}")
    cfg = load_config()
    paths = dataset_paths(cfg, name)
    rule = "central" if name == LFW else cfg.dataset(name).face_rule
    detector = build_detector(cfg)
    todo = images_to_detect(cfg, name)
    started = time.monotonic()
    rows = []
    for item in tqdm(todo.itertuples(index=False), total=len(todo), desc="detect", unit="img", mininterval=2.0):
        pixels = cv2.imread(str(paths.images / item.image), cv2.IMREAD_COLOR)
        row = {"image": item.image, "identity": item.identity}
        if pixels is None:
            log.warning("%s: cannot read the image; its pairs are excluded", paths.images / item.image)
            row.update(faces.face_row([], (0, 0), rule))
            row["status"] = "unreadable"
        else:
            annotated = np.array([item.box_x1, item.box_y1, item.box_x2, item.box_y2], dtype=np.float64)
            row.update(faces.face_row(detector.detect(pixels), pixels.shape, rule, annotated))
        rows.append(row)
    table = pd.DataFrame(rows)
    write_table(paths.faces, table)
    elapsed = time.monotonic() - started
    found = int((table["status"] == "ok").sum())
    rules = ", ".join(f"{k}={v}" for k, v in table.loc[table["status"] == "ok", "face_rule"].value_counts().items())
    log.info("%d/%d images with a face (%.2f%%; chosen by %s), %d with several; %.1f s (%.1f ms/img)",
             found, len(table), 100 * found / len(table), rules or "none", int((table["n_faces"] > 1).sum()),
             elapsed, 1000 * elapsed / len(table))


if __name__ == "__main__":
    run_stage(main, *sys.argv[1:2])
