"""Scoring a redaction tool's output like a family of the study (issue 27; docs/audit.md).

The tool's photo of each probe is what the attackers see, in place of the study's own obfuscation
(:func:`flup.verify.identification.embed_identification`'s ``obfuscate`` hook): one condition, a pseudo-family named
after the audit at level 1 over region 1 (the tool decides its own region). ArcFace embeds it in both threat models:

- **oracle box**: aligned on the sharp photo's landmarks (the attacker knows where the face was);
- **end to end**: aligned on the face the detector re-finds in the tool's photo; a face it misses is a random guess.

Every cross-fitted adapter attacker then maps the fold's ArcFace embeddings (``transforms``), and each probe is
ranked against its fold's sharp gallery (:func:`flup.evaluation.probe_outcomes.outcome_table`). The cells
(:func:`flup.evaluation.identification_cells.identification_cells`) add, per recogniser and threat model, the
paired difference to the study's black box over the same probes, from the identify stages' score tables.

**Coverage.** A probe whose face box the tool left (nearly) unchanged, a mean absolute difference below
:data:`MISSED_DIFFERENCE` grey levels inside the sharp photo's face box (a JPEG re-encoding of an untouched photo
stays well below it), is a face the tool **missed**. A photo the tool failed on (``keep_going``) is scored as the
sharp photo, and counted missed: a tool that crashes on a photo has hidden nothing in it.

Pure functions of tables and arrays, but for :func:`embed_redacted`, which reads the probes' photos.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from flup.evaluation.identification_cells import BLACKBOX, identification_cells
from flup.evaluation.probe_outcomes import OUTCOME_COLUMNS, Transform, outcome_table
from flup.faces.detection import box_of
from flup.obfuscation import families
from flup.report.identification import LEAKS, PRIVATE, UNDECIDED, join, percent, percents
from flup.verify.engine import Embedder, FaceFinder
from flup.verify.identification import Condition, ProbeEmbeddings, embed_identification

ARCFACE = "arcface"
MODES = ("oracle_box", "end_to_end")
LEVEL, REGION = 1.0, 1.0  # the pseudo-family's one level, over the face box (the tool decides its own region)
SHARP = ("blur", 0.0)  # the unobfuscated level of the study's grid: the reference "no redaction"
MISSED_DIFFERENCE = 2.0  # grey levels (0-255), mean over the face box and channels: below it, the face was missed
# (measured on 30 LFW photos: a JPEG re-encoding at quality 95 moves the face box 0.2-0.5, a blur of sigma 2 px 2.2-7.8)
THUMBNAIL_PX = 96
MAX_THUMBNAILS = 24
SUGGESTION_REGIONS = (1.0, 1.3)
COVERAGE_COLUMNS = ["probe_id", "fold", "identity", "image", "failed", "difference", "missed"]

# (probe image name, its sharp photo) -> the tool's photo of it, or None where the tool failed on it
Redacted = Callable[[str, np.ndarray], "np.ndarray | None"]


def box_difference(sharp: np.ndarray, redacted: np.ndarray, box: Sequence[float]) -> float:
    """The mean absolute difference (grey levels, every channel) between two same-size photos inside ``box``
    (x1, y1, x2, y2; clipped to the photo, at least one pixel)."""
    if sharp.shape != redacted.shape:
        raise ValueError(f"the redacted photo is {redacted.shape}, its sharp photo {sharp.shape}")
    height, width = sharp.shape[:2]
    x1, y1 = (min(max(int(math.floor(v)), 0), limit - 1) for v, limit in ((box[0], width), (box[1], height)))
    x2, y2 = (min(max(int(math.ceil(v)), low + 1), limit) for v, low, limit in ((box[2], x1, width),
                                                                                (box[3], y1, height)))
    inside = (slice(y1, y2), slice(x1, x2))
    return float(np.abs(sharp[inside].astype(np.int16) - redacted[inside].astype(np.int16)).mean())


def thumbnail(image: np.ndarray, box: Sequence[float], size: int = THUMBNAIL_PX) -> np.ndarray:
    """The face box with a quarter of its size around it, scaled to ``size`` px high (BGR)."""
    height, width = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    pad_x, pad_y = (x2 - x1) / 4, (y2 - y1) / 4
    left, top = max(int(x1 - pad_x), 0), max(int(y1 - pad_y), 0)
    right, bottom = min(int(math.ceil(x2 + pad_x)), width), min(int(math.ceil(y2 + pad_y)), height)
    crop = image[top:max(bottom, top + 1), left:max(right, left + 1)]
    scale = size / crop.shape[0]
    return cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), size), interpolation=cv2.INTER_AREA)


def embed_redacted(name: str, redacted: Redacted, gallery: pd.DataFrame, probes: pd.DataFrame,
                   faces: pd.DataFrame, images: Path, embed: Embedder, gallery_vectors: np.ndarray,
                   batch_size: int, finder: FaceFinder | None = None, modes: Sequence[str] = MODES,
                   threshold: float = MISSED_DIFFERENCE, max_thumbnails: int = MAX_THUMBNAILS
                   ) -> tuple[ProbeEmbeddings, pd.DataFrame, dict[int, np.ndarray]]:
    """The tool's photos of ``probes`` embedded by ``embed`` (the gallery's ``gallery_vectors`` given, in
    ``gallery`` order), as one condition named ``name``; the coverage table (COVERAGE_COLUMNS, ``probes``' order)
    and thumbnails of the first ``max_thumbnails`` missed faces (by probe_id, as the attacker sees them)."""
    condition = Condition(name, LEVEL, REGION)
    seen: dict[str, tuple[bool, float]] = {}
    thumbs: dict[str, np.ndarray] = {}

    def obfuscate(image: str, photo: np.ndarray, face: pd.Series, _: Condition) -> np.ndarray:
        output = redacted(image, photo)
        failed = output is None
        if failed:  # scored as the photo the tool left as it was
            output = photo
        difference = box_difference(photo, output, box_of(face))
        seen[image] = (failed, difference)
        if (failed or difference < threshold) and len(thumbs) < max_thumbnails:  # probes come in order
            thumbs[image] = thumbnail(output, box_of(face))
        return output

    scored = embed_identification(gallery, probes, faces, images, embed, [condition], modes, "crop", batch_size,
                                  finder, gallery_vectors=gallery_vectors, obfuscate=obfuscate)
    coverage = probes[["probe_id", "fold", "identity", "image"]].reset_index(drop=True).copy()
    coverage["failed"] = [seen[image][0] for image in coverage["image"]]
    coverage["difference"] = [round(seen[image][1], 4) for image in coverage["image"]]
    coverage["missed"] = coverage["failed"] | (coverage["difference"] < threshold)
    missed = coverage[coverage["missed"]].head(max_thumbnails)
    return scored, coverage[COVERAGE_COLUMNS], {int(row.probe_id): thumbs[row.image] for row in missed.itertuples()}


def audit_outcomes(scored: ProbeEmbeddings, gallery: pd.DataFrame, probes: pd.DataFrame,
                   attackers: Mapping[str, Mapping[int, Transform]], pair_seed: int = 0) -> pd.DataFrame:
    """Plain ArcFace's outcome rows and every attacker's (per training replica ``train_seed``: its fold transform,
    e.g. the cross-fitted adapters), one table with a ``recognizer`` column."""
    tables = [outcome_table(scored, gallery, probes, pair_seed=pair_seed).assign(recognizer=ARCFACE)]
    for attacker, replicas in attackers.items():
        for seed, transform in sorted(replicas.items()):
            table = outcome_table(scored, gallery, probes, transform, pair_seed)
            table.insert(0, "train_seed", int(seed))
            tables.append(table.assign(recognizer=attacker))
    return pd.concat(tables, ignore_index=True)


def reference_rows(tables: Mapping[str, pd.DataFrame], probe_ids: Sequence[int],
                   region: float = REGION) -> pd.DataFrame:
    """The study's rows the audit is compared with, for the audited probes: each recogniser's black box over
    ``region`` and ArcFace's unobfuscated photos (:data:`SHARP`), from the identify stages' score tables
    (``tables``: recogniser -> its outcome table)."""
    wanted = set(int(p) for p in probe_ids)
    parts = []
    for recognizer, table in tables.items():
        if table.empty:
            continue
        kind, level = table["obfuscation"], table["level"].astype(float)
        keep = (kind == BLACKBOX) & np.isclose(table["region"].astype(float), region)
        if recognizer == ARCFACE:
            keep |= (kind == SHARP[0]) & (level == SHARP[1]) & np.isclose(table["region"].astype(float), region)
        keep &= table["probe_id"].isin(wanted)
        if keep.any():
            parts.append(table[keep].assign(recognizer=recognizer))
    if not parts:
        return pd.DataFrame(columns=[*OUTCOME_COLUMNS, "recognizer"])
    return pd.concat(parts, ignore_index=True)


def audit_cells(name: str, outcomes: pd.DataFrame, references: pd.DataFrame, n_boot: int, seed: int, bound: float,
                power: float, candidates: int) -> tuple[list[dict], list[dict], list[dict]]:
    """(the audit's cells, the black box's, ArcFace's unobfuscated one) over the same probes, each with its
    metrics and verdicts (the audit's with its paired difference to the black box where the study scored one)."""
    table = pd.concat([outcomes, references], ignore_index=True) if len(references) else outcomes
    cells = identification_cells(table, n_boot, seed, bound, power, [candidates])
    mine = [c for c in cells if c["obfuscation"] == name]
    blackbox = [c for c in cells if c["obfuscation"] == BLACKBOX]
    sharp = [c for c in cells if c["obfuscation"] == SHARP[0] and c["recognizer"] == ARCFACE]
    return mine, blackbox, sharp


# --- the summary: audit.json ---------------------------------------------------------------------------------


def _metric(cell: Mapping, name: str) -> dict | None:
    return cell["levels"][0]["metrics"].get(name) if cell.get("levels") else None


def _interval(metric: Mapping | None) -> dict | None:
    if metric is None:
        return None
    return {k: metric.get(k) for k in ("estimate", "low", "high", "chance") if k in metric}


def _who(cell: Mapping) -> str:
    recognizer = "ArcFace" if cell["recognizer"] == ARCFACE else f"the {cell['recognizer']} attacker"
    where = "knowing where the face was" if cell["mode"] == "oracle_box" else "finding the face itself"
    return f"{recognizer}, {where}"


def risk(cells: Sequence[Mapping], candidates: int) -> dict | None:
    """The worst case in the reader's unit: the recogniser and threat model that pick the right person among
    ``candidates`` most often (None when a fold has fewer targets than ``candidates``)."""
    name = f"rank1@{candidates}"
    found = [(cell, _metric(cell, name)) for cell in cells]
    found = [(cell, metric) for cell, metric in found if metric is not None and metric.get("estimate") is not None]
    if not found:
        return None
    cell, metric = max(found, key=lambda item: item[1]["estimate"])
    estimate, low, high = percents(metric["estimate"], metric["low"], metric["high"])
    chance = metric.get("chance") or 1 / candidates
    return {"recognizer": cell["recognizer"], "mode": cell["mode"], "candidates": candidates,
            **_interval(metric),
            "text": f"an attacker picks the right person out of {candidates} in {estimate} of cases [{low}, {high}] "
                    f"(chance {percent(chance)}); worst case: {_who(cell)}"}


def verdict(cells: Sequence[Mapping], bound: float) -> dict:
    """Every recogniser and threat model joined (private only when all are; leaks when any does), in plain
    words."""
    joined = join(cells, "absolute")
    if joined is None:
        return {"status": UNDECIDED, "text": "undecided: nothing was scored", "who": []}
    worst = max(cells, key=lambda c: _metric(c, "auc")["estimate"])
    auc = _metric(worst, "auc")
    shown = f"identification AUC {auc['estimate']:.3f} [{auc['low']:.3f}, {auc['high']:.3f}], chance 0.5"
    if joined.status == PRIVATE:
        text = (f"private: no attacker of the study identifies the people in this tool's photos beyond what chance "
                f"allows (the upper end of every attacker's identification AUC is at most {bound:g}, with and "
                f"without knowing where the face was; the best: {_who(worst)}, {shown})")
    elif joined.status == LEAKS:
        modes: dict[str, list[str]] = {}
        for cell in cells:
            if cell.get("absolute") and cell["absolute"]["status"] == LEAKS:
                modes.setdefault(cell["recognizer"], []).append(cell["mode"])
        names = [f"{'ArcFace' if name == ARCFACE else f'the {name} attacker'} ("
                 + " and ".join("knowing where the face was" if m == "oracle_box" else "finding the face itself"
                                for m in sorted(found, key=MODES.index)) + ")" for name, found in modes.items()]
        text = (f"leaks: people in this tool's photos can still be identified, by {'; '.join(names)} "
                f"(the best: {_who(worst)}, {shown})")
    else:
        text = f"undecided: the audited probes cannot tell yet ({shown}; the bound is {bound:g})"
        if joined.n_needed is not None:
            tested = "" if joined.n_tested is None else f", {joined.n_tested} tested"
            text += f"; about {joined.n_needed:,} identities would decide it{tested}"
    return {"status": joined.status, "text": text, "who": list(dict.fromkeys(joined.who))}


def coverage_summary(coverage: pd.DataFrame, thumbnails: Mapping[int, str], threshold: float) -> dict:
    """How many faces the tool changed, missed (left nearly as they were) or failed on, and the missed faces'
    thumbnails (paths relative to the audit's folder)."""
    n = len(coverage)
    missed = coverage[coverage["missed"]]
    return {
        "n_probes": int(n), "covered": round(1 - len(missed) / n, 6) if n else None,
        "missed": round(len(missed) / n, 6) if n else None, "n_missed": int(len(missed)),
        "n_failed": int(coverage["failed"].sum()), "threshold": threshold,
        "text": (f"the tool changed {n - len(missed)} of {n} faces; it left {len(missed)} nearly as they were "
                 f"(mean difference under {threshold:g} grey levels inside the face box"
                 + (f"; {int(coverage['failed'].sum())} of them are photos it failed on" if coverage["failed"].any()
                    else "") + ")"),
        "missed_faces": [{"probe_id": int(row.probe_id), "image": row.image, "failed": bool(row.failed),
                          "difference": float(row.difference), "thumbnail": thumbnails.get(int(row.probe_id))}
                         for row in missed.itertuples()],
    }


def blackbox_comparison(cells: Sequence[Mapping]) -> list[dict]:
    """Per recogniser and threat model: the paired difference of the normalised rank to the study's black box
    over the same probes (positive: the tool's output is more revealing), with the relative verdict."""
    rows = []
    for cell in cells:
        difference = cell["levels"][0].get("vs_blackbox") if cell.get("levels") else None
        if difference is None:
            continue
        relative = cell.get("relative") or {}
        rows.append({"recognizer": cell["recognizer"], "mode": cell["mode"], **_interval(difference),
                     "status": relative.get("status"), "margin": relative.get("limit")})
    return rows


def _auc_at(cells: Sequence[Mapping], recognizer: str, mode: str) -> dict[tuple[str, float], dict[float, float]]:
    found: dict[tuple[str, float], dict[float, float]] = {}
    for cell in cells:
        if cell["recognizer"] == recognizer and cell["mode"] == mode:
            found[(cell["obfuscation"], float(cell["region"]))] = {
                float(e["level"]): float(e["metrics"]["auc"]["estimate"]) for e in cell["levels"]}
    return found


def suggestion(study_cells: Sequence[Mapping], audit_auc: float, mode: str,
               regions: Sequence[float] = SUGGESTION_REGIONS) -> dict | None:
    """Where the tool is not private: the weakest setting of the **nearest** family that the study found private
    (every recogniser of ``mode``) over one of ``regions``. Nearest: the family (and region) one of whose tested
    levels gives plain ArcFace the AUC closest to the tool's (``audit_auc``), i.e. the family whose effect on the
    faces is most like the tool's; None when the study found no family private there."""
    groups: dict[tuple[str, float], list[Mapping]] = {}
    for cell in study_cells:
        region = float(cell["region"])
        if cell["mode"] == mode and any(math.isclose(region, r) for r in regions):
            groups.setdefault((cell["obfuscation"], region), []).append(cell)
    arcface = _auc_at(study_cells, ARCFACE, mode)
    best = None
    for (kind, region), cells in groups.items():
        joined = join(cells, "absolute")
        if joined is None or joined.status != PRIVATE:
            continue
        levels = arcface.get((kind, region), {})
        tested = [(abs(auc - audit_auc), level) for level, auc in levels.items()
                  if not (kind in families.FAMILIES and families.is_identity(kind, level))]
        if not tested:
            continue
        distance, near_level = min(tested)
        order = (distance, region, families.ORDER.index(kind) if kind in families.ORDER else len(families.ORDER))
        if best is None or order < best[0]:
            best = (order, kind, region, joined.level, near_level)
    if best is None:
        return None
    (distance, _, _), kind, region, level, near_level = best
    setting = families.level_text(kind, level, named=True) if kind in families.FAMILIES else f"{kind} {level:g}"
    near = families.level_text(kind, near_level, named=True) if kind in families.FAMILIES else f"{near_level:g}"
    return {"family": kind, "level": level, "region": region, "mode": mode, "nearest_level": near_level,
            "auc_distance": round(distance, 6),
            "text": f"the nearest family the study found private is {kind}: from {setting} over {region:g}x the face "
                    f"box, against every attacker (plain ArcFace reads {near} most like this tool's output)"}


def summarize(name: str, cells: Sequence[Mapping], blackbox: Sequence[Mapping], sharp: Sequence[Mapping],
              coverage: pd.DataFrame, thumbnails: Mapping[int, str], *, bound: float, candidates: int,
              threshold: float = MISSED_DIFFERENCE, study_cells: Sequence[Mapping] | None = None,
              tool: Mapping | None = None) -> dict:
    """audit.json: the verdict in plain words, the risk in the reader's unit, coverage with the missed faces,
    the comparison with a black box over the same faces, ArcFace on the unredacted photos, the cells, and where
    the tool is not private the nearest family the study found private."""
    judged = verdict(cells, bound)
    arcface = {c["mode"]: _interval(_metric(c, "auc")) for c in cells if c["recognizer"] == ARCFACE}
    summary = {
        "audit": name, "tool": dict(tool or {}),
        "probes": {"n": int(len(coverage)), "identities": int(coverage["identity"].nunique())},
        "verdict": judged, "risk": risk(cells, candidates),
        "coverage": coverage_summary(coverage, thumbnails, threshold),
        "vs_blackbox": blackbox_comparison(cells),
        "arcface_auc": arcface,
        "sharp_auc": {c["mode"]: _interval(_metric(c, "auc")) for c in sharp},
        "blackbox_auc": {f"{c['recognizer']}/{c['mode']}": _interval(_metric(c, "auc")) for c in blackbox},
        "rule": {"privacy_auc_upper": bound, "candidates": candidates, "chance_auc": 0.5},
        "suggestion": None,
        "cells": list(cells),
    }
    if judged["status"] != PRIVATE and study_cells:
        mode = "oracle_box" if "oracle_box" in arcface else next(iter(arcface), "oracle_box")
        if mode in arcface and arcface[mode]:
            summary["suggestion"] = suggestion(study_cells, arcface[mode]["estimate"], mode)
    return summary


# --- the whole audit, from the tool's photos to its summary ------------------------------------------------------


@dataclass(frozen=True)
class AuditRule:
    """The study's identification rule (params.yaml ``identification``): bootstrap, bound, power, candidates."""

    n_boot: int
    seed: int
    bound: float
    power: float
    candidates: int

    @classmethod
    def of(cls, settings) -> AuditRule:
        """From the typed ``identification`` section (:class:`flup.config.schema.Identification`)."""
        return cls(settings.n_boot, settings.random_seed, settings.privacy_auc_upper, settings.power,
                   settings.candidates)


@dataclass
class StudyData:
    """What the study already computed that an audit scores against: the folds' sharp galleries (and their
    embeddings by ``embed``), the detection table indexed by image, where the photos are, the attackers' fold
    transforms (name -> training seed -> transform), the identify stages' score tables (recogniser -> outcome
    table: the black box and the unredacted photos) and the cells of metrics/identification.json."""

    gallery: pd.DataFrame
    faces: pd.DataFrame
    images: Path
    gallery_vectors: np.ndarray
    embed: Embedder
    finder: FaceFinder | None = None
    attackers: Mapping[str, Mapping[int, Transform]] = field(default_factory=dict)
    references: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    study_cells: Sequence[Mapping] = ()
    batch_size: int = 64


def thumbnail_path(probe_id: int) -> str:
    """A missed face's thumbnail, relative to the audit's folder."""
    return f"missed_faces/probe{int(probe_id)}.png"


def audit_redactions(name: str, redacted: Redacted, probes: pd.DataFrame, study: StudyData, rule: AuditRule,
                     tool: Mapping | None = None, threshold: float = MISSED_DIFFERENCE
                     ) -> tuple[dict, dict[str, np.ndarray]]:
    """The audit of a tool whose photos ``redacted`` gives, on ``probes`` (rows of the protocol's probes): its
    summary (audit.json) and the missed faces' thumbnails by their path (:func:`thumbnail_path`). Both threat
    models where ``study.finder`` is given, else the oracle box only."""
    modes = MODES if study.finder is not None else ("oracle_box",)
    scored, coverage, thumbs = embed_redacted(name, redacted, study.gallery, probes, study.faces, study.images,
                                              study.embed, study.gallery_vectors, study.batch_size, study.finder,
                                              modes, threshold)
    outcomes = audit_outcomes(scored, study.gallery, probes, study.attackers, rule.seed)
    references = reference_rows(study.references, probes["probe_id"])
    references = references[references["mode"].isin(modes)] if len(references) else references
    cells, blackbox, sharp = audit_cells(name, outcomes, references, rule.n_boot, rule.seed, rule.bound, rule.power,
                                         rule.candidates)
    paths = {probe_id: thumbnail_path(probe_id) for probe_id in thumbs}
    summary = summarize(name, cells, blackbox, sharp, coverage, paths, bound=rule.bound, candidates=rule.candidates,
                        threshold=threshold, study_cells=study.study_cells, tool=tool)
    return summary, {paths[probe_id]: image for probe_id, image in thumbs.items()}
