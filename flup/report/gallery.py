"""The gallery image: one LFW face shown under every obfuscation (plot stage) and at each threshold (report)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import pandas as pd

from flup.config.params import ParamError
from flup.config.paths import GALLERY_PAIRS, LFW_FACES, LFW_IMAGES
from flup.io import atomic_path, read_table
from flup.obfuscate import families, obfuscation
from flup.report.naming import THUMBS, thumb_file

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


THUMB_SIDE = 96  # px: a thumbnail's width and height
THUMB_MARGIN = 1.25  # the crop's side over the region-scaled face box's larger side
PNG_OPTIONS = [cv2.IMWRITE_PNG_COMPRESSION, 9]  # fixed, so the same pixels always give the same bytes


def thumb_levels(tasks: Iterable[tuple[str, float, float]], curves: pd.DataFrame | None = None,
                 ) -> list[tuple[str, float, float]]:
    """The (kind, level, region) to draw: ``tasks`` (render.tasks()) and every registered level and region of
    ``curves`` (the levels a threshold search added), once each, in registry then level then region order."""
    found = {(kind, float(level), float(region)) for kind, level, region in tasks}
    if curves is not None and not curves.empty and {"obfuscation", "level"} <= set(curves.columns):
        regions = curves["region"] if "region" in curves.columns else pd.Series(1.0, index=curves.index)
        for kind, level, region in zip(curves["obfuscation"], curves["level"], regions, strict=True):
            if kind in families.FAMILIES and pd.notna(level) and pd.notna(region):
                found.add((str(kind), float(level), float(region)))
    rank = {kind: i for i, kind in enumerate(families.ORDER)}
    return sorted(found, key=lambda t: (rank.get(t[0], len(rank)), t[0], t[1], t[2]))


def thumbnail(image: np.ndarray, box, kind: str, level: float, region: float = 1.0,
              blur_border: str = "crop", side: int = THUMB_SIDE) -> bytes:
    """PNG bytes of ``image`` obfuscated by ``obfuscation.apply`` at (kind, level, region), cropped to a square
    around the region-scaled face box (``THUMB_MARGIN`` x its larger side, shifted to stay inside the image) and
    resized to ``side`` px. Deterministic: the same inputs give the same bytes."""
    out = obfuscation.apply(image, box, kind, level, region, blur_border)
    h, w = out.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    crop = min(max(x2 - x1, y2 - y1) * max(float(region), 1.0) * THUMB_MARGIN, w, h)
    size = max(1, int(round(crop)))
    left = int(round(min(max((x1 + x2) / 2 - size / 2, 0), w - size)))
    top = int(round(min(max((y1 + y2) / 2 - size / 2, 0), h - size)))
    square = np.ascontiguousarray(out[top:top + size, left:left + size])
    small = cv2.resize(square, (side, side), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".png", small, PNG_OPTIONS)
    if not ok:
        raise ValueError(f"could not encode the {kind} {level:g} thumbnail (region {region:g})")
    return data.tobytes()


def write_thumbs(image: np.ndarray, box, levels: Iterable[tuple[str, float, float]], plots: Path,
                 blur_border: str = "crop") -> list[str]:
    """Write one thumbnail per (kind, level, region) under ``plots/thumbs/`` (replacing the folder atomically);
    return their paths relative to ``plots``."""
    written = []
    with atomic_path(plots / THUMBS) as staging:
        staging.mkdir()
        for kind, level, region in levels:
            relative = thumb_file(kind, level, region)
            (staging / Path(relative).name).write_bytes(thumbnail(image, box, kind, level, region, blur_border))
            written.append(relative)
    return written
