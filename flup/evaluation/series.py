"""What names a series, and what the verification metrics and both thresholds share about it.

A *series* is one attacker (recognizer x threat model, ``series_name``) on one protocol of one dataset over one
region (``render.regions``); a threshold is searched along one obfuscation's tested levels of it. This module is
the one both thresholds (``flup.evaluation.absolute``, ``flup.evaluation.relative``) and the verification metrics
(``flup.evaluation.verification``) import: their keys, names and bootstrap seeds, and the per-level flags that
bracket a threshold (uniform, saturated). It imports none of them.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

import numpy as np

from flup.obfuscation import families
from flup.verify.scoring import level_key

# A series is one attacker on one protocol over one region: the relative threshold compares its levels with its
# own black box.
SERIES_KEYS = ["dataset", "protocol", "recognizer", "mode", "region"]
# A series' strongest levels: a (dataset, obfuscation, region, level) at which the family saturates the dataset.
SaturatedKey = tuple[str, str, float, float]


def region_key(region: float) -> str:
    """The JSON key of a region (``render.regions``) in verification.json and privacy.json: ``"region=1.3"``."""
    return f"region={level_key(region)}"


def series_name(recognizer: str, mode: str) -> str:
    return f"{recognizer}/{mode}"


def seed_key(key: Sequence, region: float) -> tuple:
    """A group's key for ``flup.verify.metrics.group_seed`` (``key`` without the region): region 1.0 adds nothing,
    so the detected box keeps the bootstrap seeds, and so the numbers, it had before ``render.regions`` existed."""
    return tuple(key) if float(region) == 1.0 else (*key, "region", float(region))


def series_uniform(kind: str, levels: Sequence[float], face_width: float | None, region: float) -> list[bool]:
    """Per level of one series: whether it leaves the box uniform (``families.uniform``)."""
    return [families.uniform(kind, lv, face_width, region) for lv in levels]


def series_saturated(saturated: Collection[SaturatedKey], dataset: str, kind: str, region: float,
                     levels: Sequence[float]) -> list[bool]:
    """Per level of one series: whether (dataset, kind, region, level) is in ``saturated``."""
    return [(dataset, kind, float(region), float(lv)) in saturated for lv in levels]


def missing(value) -> bool:
    """None, NaN or an infinity: a value a table holds where the metric is undefined."""
    return value is None or (isinstance(value, (float, np.floating)) and not math.isfinite(value))
