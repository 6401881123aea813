"""The thumbnails: the gallery face under one obfuscation level and region, small, for the report's answer
(written by the plot stage under plots/thumbs/, embedded by the report stage)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from flup.io import atomic_path
from flup.obfuscation import families, methods
from flup.report.naming import THUMBS, thumb_file

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
    """PNG bytes of ``image`` obfuscated by ``methods.apply`` at (kind, level, region), cropped to a square
    around the region-scaled face box (``THUMB_MARGIN`` x its larger side, shifted to stay inside the image) and
    resized to ``side`` px. Deterministic: the same inputs give the same bytes."""
    out = methods.apply(image, box, kind, level, region, blur_border)
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
