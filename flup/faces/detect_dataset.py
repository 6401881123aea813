"""Every image of a dataset once through the face detector: the dataset's detection table.

LFW: every fetched image, face rule ``central``. An evaluation-only dataset: the images its pairs use,
with the face rule of ``datasets.<name>.face_rule``; an unreadable image gets status ``unreadable``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from flup.config.paths import LFW, DatasetPaths, dataset_paths
from flup.faces import detection, weights
from flup.io import read_table

if TYPE_CHECKING:
    from flup.config import Study

log = logging.getLogger(__name__)
BOX_ANNOTATION = ["box_x1", "box_y1", "box_x2", "box_y2"]


def build_detector(cfg: Study) -> detection.Detector:
    """The study's detector (params.yaml ``detector``), its weights checked."""
    model = weights.detector_file(cfg)
    return detection.Detector(model, cfg.detector.det_size, cfg.detector.det_thresh)


def images_to_detect(paths: DatasetPaths) -> pd.DataFrame:
    """``image``, ``identity`` and the annotated box (NaN if none) of every image to detect."""
    if paths.name == LFW:
        images = sorted(f"{p.parent.name}/{p.name}" for p in paths.images.glob("*/*.jpg"))
        if not images:
            raise FileNotFoundError(f"{paths.images}: no images (run the fetch stage first)")
        frame = pd.DataFrame({"image": images, "identity": [i.split("/")[0] for i in images]})
        return frame.assign(**dict.fromkeys(BOX_ANNOTATION, np.nan))
    index = read_table(paths.faces.parent / "source" / "index.csv")
    pairs = read_table(paths.protocols["pairs"])
    used = set(pairs["image_a"]) | set(pairs["image_b"])
    return index[index["image"].isin(used)][["image", "identity", *BOX_ANNOTATION]].reset_index(drop=True)


def detect_dataset(cfg: Study, name: str = LFW) -> pd.DataFrame:
    """The detection table of dataset ``name`` (one row per image; see :func:`flup.faces.detection.face_row`)."""
    paths = dataset_paths(cfg, name)
    rule = "central" if name == LFW else cfg.dataset(name).face_rule
    detector = build_detector(cfg)
    todo = images_to_detect(paths)
    rows = []
    for item in tqdm(todo.itertuples(index=False), total=len(todo), desc="detect", unit="img", mininterval=2.0):
        pixels = cv2.imread(str(paths.images / item.image), cv2.IMREAD_COLOR)
        row = {"image": item.image, "identity": item.identity}
        if pixels is None:
            log.warning("%s: cannot read the image; its pairs are excluded", paths.images / item.image)
            row.update(detection.face_row([], (0, 0), rule))
            row["status"] = "unreadable"
        else:
            annotated = np.array([item.box_x1, item.box_y1, item.box_x2, item.box_y2], dtype=np.float64)
            row.update(detection.face_row(detector.detect(pixels), pixels.shape, rule, annotated))
        rows.append(row)
    return pd.DataFrame(rows)


def summary(table: pd.DataFrame) -> str:
    """One line: how many images have a face, by which rule, how many several."""
    found = int((table["status"] == "ok").sum())
    rules = ", ".join(f"{k}={v}" for k, v in table.loc[table["status"] == "ok", "face_rule"].value_counts().items())
    return (f"{found}/{len(table)} images with a face ({100 * found / len(table):.2f}%; chosen by {rules or 'none'}), "
            f"{int((table['n_faces'] > 1).sum())} with several")
