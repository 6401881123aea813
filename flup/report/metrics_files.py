"""The metrics files as the report reads them: one typed reader, used by the whole report.

- ``metrics/verification.json`` (dataset -> protocol -> recognizer -> mode -> obfuscation -> region key -> level key
  -> metrics) -> :class:`Verification`: one :class:`Series` per attacker, obfuscation and region, its levels
  ascending with their :class:`LevelMetrics`; a file written before regions (levels directly under the obfuscation)
  reads as the detected box, region 1.0;
- ``metrics/privacy.json`` -> :class:`PrivacyFile`: the bound, the absolute :class:`Threshold` records, the relative
  margin and :class:`RelativeThreshold` records (None: written before they existed), the face widths;
- ``metrics/learning_curve.json`` -> :class:`LearningCurve` (None: no such file);
- ``metrics/identification.json`` (stage evaluate_identification) -> its dict as written, checked for its keys
  (:func:`parse_identification`; None: no such file, a study from before it): ``flup.report.identification``
  reads the cells as they are.

Numbers come as floats, None where the file has null (or NaN); a record's ``region`` defaults to 1.0, its
``n_seeds`` to 1. A threshold record written before ``status`` existed keeps ``status`` None, and
``bracket_recorded`` says whether it has ``identifies_level`` at all (``flup.report.answer.status_of`` then
brackets it from the tested levels).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from flup.io import read_json

REGION_PREFIX = "region="  # a region's key in verification.json: "region=1.3" (flup.evaluation.series.region_key)


def number(value) -> float | None:
    """A JSON number as a float; None for null (or NaN)."""
    if value is None:
        return None
    result = float(value)
    return None if math.isnan(result) else result


@dataclass(frozen=True, kw_only=True)
class Auc:
    """A verification AUC with its bootstrap 95% interval; a row folded from several training replicas
    (``flup.evaluation.replicas``) has ``n_seeds`` > 1 and the seeds' AUC range."""

    auc: float | None = None
    auc_low: float | None = None
    auc_high: float | None = None
    n_seeds: int = 1
    auc_seed_min: float | None = None
    auc_seed_max: float | None = None


def _auc(raw: Mapping) -> dict:
    return {"auc": number(raw.get("auc")), "auc_low": number(raw.get("auc_low")),
            "auc_high": number(raw.get("auc_high")), "n_seeds": int(number(raw.get("n_seeds")) or 1),
            "auc_seed_min": number(raw.get("auc_seed_min")), "auc_seed_max": number(raw.get("auc_seed_max"))}


# --- verification.json ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class LevelMetrics(Auc):
    """One tested level of a series (the report reads its AUC and its level in face widths)."""

    level_per_face: float | None = None


@dataclass(frozen=True)
class Series:
    """One obfuscation's tested levels against one attacker (recognizer x threat model) over one region."""

    dataset: str
    protocol: str
    recognizer: str
    mode: str
    obfuscation: str
    region: float  # the face-box scale factor (render.regions)
    levels: tuple[float, ...]  # every level tested, ascending
    metrics: Mapping[float, LevelMetrics] = field(repr=False)  # level -> its metrics

    def metric(self, level: float) -> LevelMetrics:
        return self.metrics[float(level)]


@dataclass(frozen=True)
class Verification:
    """``metrics/verification.json``: its series, and its protocols in the file's order."""

    series: tuple[Series, ...]
    protocols: tuple[str, ...]


def by_region(node: Mapping) -> dict[float, Mapping]:
    """An obfuscation's node of verification.json as region -> (level key -> metrics); a file written before
    regions (levels directly under the obfuscation) is the detected box, region 1.0."""
    if node and all(str(k).startswith(REGION_PREFIX) for k in node):
        return {float(k.removeprefix(REGION_PREFIX)): v for k, v in node.items()}
    return {1.0: node} if node else {}


def parse_verification(data: Mapping) -> Verification:
    series = []
    for dataset, protocols in data.items():
        for protocol, recognizers in protocols.items():
            for recognizer, modes in recognizers.items():
                for mode, obfuscations in modes.items():
                    for obfuscation, node in obfuscations.items():
                        for region, by_level in sorted(by_region(node).items()):
                            if not by_level:
                                continue
                            metrics = {float(k): LevelMetrics(**_auc(v), level_per_face=number(v.get("level_per_face")))
                                       for k, v in by_level.items()}
                            series.append(Series(dataset, protocol, recognizer, mode, obfuscation, region,
                                                 tuple(sorted(metrics)), metrics))
    return Verification(tuple(series), tuple(dict.fromkeys(p for protocols in data.values() for p in protocols)))


# --- privacy.json --------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Threshold(Auc):
    """One series' absolute threshold record (``thresholds``); the AUC is that of the level it shows."""

    dataset: str
    protocol: str
    recognizer: str
    mode: str
    obfuscation: str
    region: float = 1.0
    reached: bool | None = None  # None: nothing to compare with (a relative record without a black box)
    level: float | None = None  # the threshold; None: not reached
    level_per_face: float | None = None
    max_level_tested: float | None = None
    max_level_per_face: float | None = None
    status: str | None = None  # flup.evaluation.thresholds.THRESHOLD_STATUSES; None in files written before it
    identifies_level: float | None = None
    bracket_recorded: bool = False  # the record has identifies_level (null or not)
    uniform_level: float | None = None
    saturated_level: float | None = None
    bound: float | None = None


@dataclass(frozen=True, kw_only=True)
class RelativeThreshold(Threshold):
    """One series' relative threshold record (``relative_thresholds``): AUC - AUC(black box) and its interval."""

    auc_diff: float | None = None
    diff_low: float | None = None
    diff_high: float | None = None


_LEVELS = ("level", "level_per_face", "max_level_tested", "max_level_per_face", "identifies_level", "uniform_level",
           "saturated_level", "bound")


def _threshold_fields(raw: Mapping) -> dict:
    reached = raw.get("reached")
    return {
        **_auc(raw), **{k: str(raw[k]) for k in ("dataset", "protocol", "recognizer", "mode", "obfuscation")},
        "region": float(raw.get("region", 1.0)), "reached": None if reached is None else bool(reached),
        "status": raw.get("status"), "bracket_recorded": "identifies_level" in raw,
        **{k: number(raw.get(k)) for k in _LEVELS},
    }


def parse_threshold(raw: Mapping) -> Threshold:
    """An absolute threshold record of privacy.json."""
    return Threshold(**_threshold_fields(raw))


def parse_relative_threshold(raw: Mapping) -> RelativeThreshold:
    """A relative threshold record of privacy.json."""
    return RelativeThreshold(**_threshold_fields(raw), **{k: number(raw.get(k)) for k in ("auc_diff", "diff_low",
                                                                                          "diff_high")})


@dataclass(frozen=True)
class PrivacyFile:
    """``metrics/privacy.json`` as the report reads it."""

    bound: float | None  # privacy_auc_upper
    thresholds: tuple[Threshold, ...]
    relative_margin: float | None
    relative_thresholds: tuple[RelativeThreshold, ...] | None  # None: written before relative thresholds existed
    face_width_px: Mapping[str, float | None]  # dataset -> median face-box width (the unit of *_per_face levels)


def parse_privacy(data: Mapping) -> PrivacyFile:
    relative = data.get("relative_thresholds")
    return PrivacyFile(
        number(data.get("privacy_auc_upper")), tuple(parse_threshold(r) for r in data.get("thresholds", [])),
        number(data.get("relative_margin")),
        None if relative is None else tuple(parse_relative_threshold(r) for r in relative),
        {str(name): number(width) for name, width in (data.get("face_width_px") or {}).items()})


# --- learning_curve.json -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class LearningPoint(Auc):
    """One row of the learning curve: an attacker trained on ``images`` images, scored at one level."""

    images: int
    obfuscation: str
    level: float
    region: float | None = None


@dataclass(frozen=True)
class LearningCurve:
    """``metrics/learning_curve.json`` (stage learning_curve): its rows and how they were trained."""

    attacker: str | None
    available_images: int | None
    capped: tuple  # the requested sizes capped to the images available
    region: float | None
    rows: tuple[LearningPoint, ...]


def parse_learning_curve(data: Mapping) -> LearningCurve:
    rows = tuple(LearningPoint(**_auc(r), images=int(r["images"]), obfuscation=str(r["obfuscation"]),
                               level=float(r["level"]), region=number(r.get("region"))) for r in data.get("rows") or [])
    region = float(data["region"]) if "region" in data else (rows[0].region if rows else None)
    return LearningCurve(data.get("attacker"), data.get("available_images"), tuple(data.get("capped") or ()), region,
                         rows)


# --- identification.json -------------------------------------------------------------------------

IDENTIFICATION_KEYS = ("protocol", "rule", "cells")


def parse_identification(data: Mapping) -> Mapping:
    """metrics/identification.json as the report reads it: the file's dict, with ``not_cross_fitted`` defaulting
    to none; ValueError when it lacks a key the report reads or a cell lacks its verdicts' keys."""
    missing = [key for key in IDENTIFICATION_KEYS if key not in data]
    if missing:
        raise ValueError(f"identification.json lacks {', '.join(missing)}")
    for cell in data["cells"]:
        absent = [k for k in ("recognizer", "mode", "obfuscation", "region", "levels", "absolute", "relative")
                  if k not in cell]
        if absent:
            raise ValueError(f"identification.json: a cell lacks {', '.join(absent)}")
    return {**data, "not_cross_fitted": list(data.get("not_cross_fitted") or [])}


# --- the files -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricsFiles:
    verification: Verification
    privacy: PrivacyFile
    learning_curve: LearningCurve | None  # None: no learning curve file
    identification: Mapping | None = None  # None: no identification file (the report then has no such section)


def read_metrics(verification: Path, privacy: Path, learning_curve: Path | None = None,
                 identification: Path | None = None) -> MetricsFiles:
    """The metrics files; the learning curve and the identification metrics where their paths are files."""
    curve = parse_learning_curve(read_json(learning_curve)) if learning_curve and Path(learning_curve).is_file() \
        else None
    found = parse_identification(read_json(identification)) if identification and Path(identification).is_file() \
        else None
    return MetricsFiles(parse_verification(read_json(verification)), parse_privacy(read_json(privacy)), curve, found)
