"""Every image of a dataset once through the face detector: the dataset's detection table.

LFW: every fetched image, face rule ``central``. An evaluation-only dataset: the images its pairs use,
with the face rule of ``datasets.<name>.face_rule``; an unreadable image gets status ``unreadable``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import pandas as pd

from flup.config.paths import LFW, DatasetPaths, dataset_paths
from flup.executor import map_items
from flup.faces import detection
from flup.io import read_table
from flup.pipeline import model_files

if TYPE_CHECKING:
    from flup.config import Study

log = logging.getLogger(__name__)
BOX_ANNOTATION = ["box_x1", "box_y1", "box_x2", "box_y2"]


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


@dataclass(frozen=True)
class ImageDetector:
    """The per-image step of detect, as a worker factory for :func:`flup.executor.map_items` (picklable)."""

    model: Path
    det_size: int
    det_thresh: float
    images: Path
    rule: str

    def __call__(self, threads: int | None = None, gpu: bool = False):
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if gpu else None
        detector = detection.Detector(self.model, self.det_size, self.det_thresh, providers, threads)
        return partial(detect_image, detector, self.images, self.rule)


def detect_image(detector: detection.Detector, images: Path, rule: str, item: dict) -> dict:
    """One row of the detection table: ``item`` holds ``image``, ``identity`` and the annotated box."""
    pixels = cv2.imread(str(images / item["image"]), cv2.IMREAD_COLOR)
    row = {"image": item["image"], "identity": item["identity"]}
    if pixels is None:
        log.warning("%s: cannot read the image; its pairs are excluded", images / item["image"])
        row.update(detection.face_row([], (0, 0), rule))
        row["status"] = "unreadable"
    else:
        annotated = np.array([item[c] for c in BOX_ANNOTATION], dtype=np.float64)
        row.update(detection.face_row(detector.detect(pixels), pixels.shape, rule, annotated))
    return row


def detect_dataset(cfg: Study, name: str = LFW, todo: pd.DataFrame | None = None) -> pd.DataFrame:
    """The detection table of dataset ``name`` (one row per image; see :func:`flup.faces.detection.face_row`).

    ``todo``: the images to detect (default :func:`images_to_detect`). The per-image work runs where
    ``executor`` says (in this process by default); the table is the same either way."""
    paths = dataset_paths(cfg, name)
    rule = "central" if name == LFW else cfg.dataset(name).face_rule
    step = ImageDetector(model_files.detector_file(cfg), cfg.detector.det_size, cfg.detector.det_thresh,
                         paths.images.resolve(), rule)
    todo = images_to_detect(paths) if todo is None else todo
    rows = map_items(todo.to_dict("records"), step, cfg.executor, "detect")
    return pd.DataFrame(rows)


def summary(table: pd.DataFrame) -> str:
    """One line: how many images have a face, by which rule, how many several."""
    found = int((table["status"] == "ok").sum())
    rules = ", ".join(f"{k}={v}" for k, v in table.loc[table["status"] == "ok", "face_rule"].value_counts().items())
    return (f"{found}/{len(table)} images with a face ({100 * found / len(table):.2f}%; chosen by {rules or 'none'}), "
            f"{int((table['n_faces'] > 1).sum())} with several")
