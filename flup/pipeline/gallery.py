"""The study's gallery face, shown by the plot stage (every obfuscation, the thumbnails) and the report stage (each
threshold): ``plot.gallery_image``, or by default the obfuscated side (``render.obfuscated_side``) of view1's first
test pair, with its face box in LFW's face table."""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np
import pandas as pd

from flup.config.params import ParamError
from flup.config.paths import GALLERY_PAIRS, LFW_FACES, LFW_IMAGES
from flup.io import read_table

if TYPE_CHECKING:
    from flup.config import Study


def gallery_image(cfg: Study) -> str:
    """plot.gallery_image, or by default the obfuscated side (render.obfuscated_side) of view1's first pair."""
    if cfg.plot.gallery_image is not None:
        return cfg.plot.gallery_image
    side = cfg.render.obfuscated_side
    pairs = read_table(GALLERY_PAIRS)
    if pairs.empty:
        raise ValueError(f"{GALLERY_PAIRS}: no pairs; set plot.gallery_image in params.yaml")
    return str(pairs.iloc[0][f"image_{side}"])


def face_box(faces: pd.DataFrame, image: str) -> tuple[float, float, float, float]:
    rows = faces[faces["image"] == image]
    if rows.empty:
        raise ParamError(f"params.yaml: 'plot.gallery_image' {image!r} is not in {LFW_FACES}")
    row = rows.iloc[0]
    if row["status"] != "ok":
        raise ValueError(
            f"{image}: no face box (detection status {row['status']!r}); choose another plot.gallery_image"
        )
    return tuple(float(row[c]) for c in ("x1", "y1", "x2", "y2"))


def gallery_face(cfg: Study) -> tuple[str, tuple[float, float, float, float], np.ndarray]:
    """The gallery image's name, face box and BGR pixels."""
    name = gallery_image(cfg)
    box = face_box(read_table(LFW_FACES), name)
    image = cv2.imread(str(LFW_IMAGES / name), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"{LFW_IMAGES / name}: cannot read the gallery image (plot.gallery_image)")
    return name, box, image
