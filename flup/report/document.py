"""The privacy report as markdown: which setting hides a face in identification (``flup.report.identification``,
where ``metrics/identification.json`` exists), the answer (``flup.report.answer``), then the detail, section by
section.

Every number in the report is read from the evaluate stage's files through ``flup.report.metrics_files``:
``metrics/verification.json`` (AUC and interval per dataset x protocol x recognizer x mode x obfuscation x region x
level) and ``metrics/privacy.json`` (the bound, the relative thresholds). The privacy threshold is recomputed from
the verification metrics and cross-checked against ``privacy.json``'s records (``flup.report.findings``), so a
report never mixes two runs silently. Recognizers, modes, protocols, obfuscations and regions (``render.regions``)
are whatever the files contain; with one region the tables name it once, with several each table is split by region.

Everything here is pure: typed metrics, dicts and strings in, markdown lines out. ``flup.report.assemble`` reads
the files, renders the gallery images and writes the outputs; ``flup.report.markdown`` turns the markdown into HTML.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from flup.obfuscation import families
from flup.report import answer, identification
from flup.report.findings import (
    Finding,
    attacker,
    auc_text,
    check_privacy_file,
    findings,
    level_phrase,
    regions_of,
)
from flup.report.markdown import table
from flup.report.metrics_files import LearningCurve, PrivacyFile, RelativeThreshold, Verification
from flup.report.naming import MODE_NAMES, PROTOCOL_ORDER, dataset_rank, ordered, protocol_rank, region_text
from flup.report.provenance import provenance
from flup.verify.scoring import level_key

# --- cells ---------------------------------------------------------------------------------------


def per_face_text(level: float, per_face: float | None) -> str:
    """A level in face widths, "0.089 × face width", where it says more than the level itself (else "")."""
    if per_face is None or math.isclose(per_face, float(level)):
        return ""
    return f"{per_face:.2g} × face width"


def level_cell(kind: str, level: float | None, strongest: float, per_face: float | None) -> str:
    """A threshold in both units, "σ = 8 px blur (0.089 × face width)", or "not reached (max 24; 0.27 × face
    width)" (``per_face`` then belongs to ``strongest``)."""
    shown = strongest if level is None else level
    face = per_face_text(shown, per_face)
    if level is None:
        return f"not reached (max {level_key(strongest)}{'; ' + face if face else ''})"
    return level_phrase(kind, level) + (f" ({face})" if face else "")


def _threshold_cell(finding: Finding) -> str:
    if finding.baseline_only:
        return "not obfuscated here (the baseline)"
    level = finding.shown_level
    return level_cell(finding.obfuscation, finding.threshold, level, finding.metric(level).level_per_face)


def _relative_cell(record: RelativeThreshold) -> str:
    kind = record.obfuscation
    if record.reached is None:
        return "no black box on these pairs"
    if not record.reached:
        return level_cell(kind, None, record.max_level_tested, record.max_level_per_face)
    return level_cell(kind, record.level, record.level, record.level_per_face)


def gallery_levels(items: Sequence[Finding]) -> dict[str, list[tuple[float, float]]]:
    """Per obfuscation, the (level, region) pairs the gallery shows: every threshold reached, and the strongest
    level tested where some attacker never reached chance."""
    levels: dict[str, set[tuple[float, float]]] = {}
    for f in items:
        levels.setdefault(f.obfuscation, set()).add((f.shown_level, f.region))
    return {kind: sorted(levels[kind], key=lambda shown: (shown[1], shown[0])) for kind in families.ordered(levels)}


def gallery_file(kind: str, level: float, region: float = 1.0) -> str:
    """The gallery image's path relative to the report (``plots/``); region 1.0 keeps its name from before regions."""
    suffix = "" if float(region) == 1.0 else f"_region{float(region):g}"
    return f"report_gallery/{kind}_{level_key(level)}{suffix}.png"


# --- what the sections share ---------------------------------------------------------------------


@dataclass(frozen=True)
class Detail:
    """What the detail's sections read: the findings (sorted), the privacy file and how to group them."""

    items: list[Finding]
    privacy: PrivacyFile
    bound: float
    several: bool  # more than one dataset: groups are named "dataset · protocol"
    regions: list[float]

    @property
    def many(self) -> bool:
        """More than one region: every table is split by region."""
        return len(self.regions) > 1

    def group(self, f: Finding, by_region: bool = True) -> str:
        return _group_name(f, self.several, self.many and by_region)


def _group_name(f: Finding, several_datasets: bool, several_regions: bool = False) -> str:
    name = f"{f.dataset} · {f.protocol}" if several_datasets else f.protocol
    return f"{name} · {region_text(f.region)}" if several_regions else name


def _sort_key(f: Finding):
    return dataset_rank(f.dataset), f.dataset, protocol_rank(f.protocol), f.protocol, f.region, f.recognizer, f.mode


def region_note(regions: Sequence[float]) -> str:
    """What the report's regions are, in one paragraph."""
    if len(regions) == 1:
        return (f"**Region**: every obfuscation covers the detected face box scaled by {regions[0]:g} "
                "(`render.regions`).")
    return (f"**Regions**: every obfuscation is tested over the detected face box scaled by "
            f"{', '.join(f'{r:g}' for r in regions)} (`render.regions`); each table is split by region, and the "
            "relative threshold compares each level with the black box over the same region.")


# --- sections ------------------------------------------------------------------------------------


def answer_sections(detail: Detail, params: Mapping, thumbs: Collection[str], problems: Sequence[str],
                    lead: Sequence[str] = ()) -> list[str]:
    """The title, ``lead`` (the identification section) and the answer (flup/report/answer.py): absolute,
    relative, trained on x tested on."""
    items = detail.items
    trained = answer.attacker_families(params)
    tested = {(f.recognizer, f.mode, f.obfuscation, f.region): f.levels for f in items
              if f.dataset == answer.DATASET and f.protocol == answer.PROTOCOL}
    curves = [{"dataset": f.dataset, "protocol": f.protocol, "recognizer": f.recognizer, "mode": f.mode,
               "obfuscation": f.obfuscation, "region": f.region, "level": lv, "auc": f.metric(lv).auc}
              for f in items for lv in f.levels]
    lines = ["# Does the obfuscation hide identity? — privacy report", "", *lead]
    if problems:
        lines += ["**Warning: privacy.json and verification.json disagree** (the answer below reads privacy.json, the "
                  "detail verification.json; see the detail's list).", ""]
    lines += answer.answer_section(detail.privacy, trained, tested, thumbs)
    lines += answer.relative_answer_section(detail.privacy, trained, tested)
    return lines + answer.matrix_section(curves, trained)


def detail_intro(detail: Detail, problems: Sequence[str]) -> list[str]:
    """"The detail": where the numbers come from, the threshold, the regions, the face widths, any disagreement."""
    lines = [
        "## The detail",
        "",
        "Generated by `python -m stages.report` from `metrics/verification.json`, `metrics/privacy.json`, "
        "`params.yaml` and `dvc.lock`; every number in this report is read from those files.",
        "",
        f"**Privacy threshold**: the weakest level whose bootstrap 95% AUC upper bound is ≤ {detail.bound:g} "
        "(`evaluate.privacy_auc_upper`). An attacker is a recognizer under a threat model: *end-to-end* "
        "re-detects the face in the obfuscated image (a face not found counts as a non-match); *oracle box* "
        "knows where the redaction is and aligns with the sharp image's landmarks.",
        "",
        region_note(detail.regions),
        "",
    ]
    widths = detail.privacy.face_width_px
    if any(w is not None for w in widths.values()):
        sizes = ", ".join(f"{name} {w:.1f} px" for name, w in widths.items() if w is not None)
        lines += [f"**Levels per face**: a blur σ or pixelation block is also given in face widths (× face width: "
                  f"the level over the median face-box width of the obfuscated images: {sizes}), a unit that "
                  "carries across datasets; the face-sized presets are per face already.", ""]
    if problems:
        lines += ["**Warning: privacy.json and verification.json disagree** (the detail uses verification.json):",
                  ""] + [f"- {p}" for p in problems] + [""]
    return lines


def attackers_section(detail: Detail) -> list[str]:
    """Every recognizer found, with its threat models and protocols."""
    rows = []
    for recognizer in sorted({f.recognizer for f in detail.items}):
        mine = [f for f in detail.items if f.recognizer == recognizer]
        modes = ", ".join(MODE_NAMES.get(m, m) for m in ordered([f.mode for f in mine], list(MODE_NAMES)))
        protocols = ", ".join(ordered([detail.group(f, by_region=False) for f in mine], PROTOCOL_ORDER))
        rows.append((f"`{recognizer}`", modes, protocols))
    return ["## Attackers found", ""] + table(["recognizer", "threat models", "protocols"], rows)


def glance_section(detail: Detail) -> list[str]:
    """The recomputed privacy thresholds, one table per group: obfuscation x attacker."""
    lines = ["## Privacy thresholds at a glance", ""]
    for group in dict.fromkeys(detail.group(f) for f in detail.items):
        mine = [f for f in detail.items if detail.group(f) == group]
        if all(f.baseline_only for f in mine):  # render.baseline_only: nothing obfuscated, no threshold
            lines += [f"### {group}", "", "Not obfuscated here: the unobfuscated baseline alone (its accuracy and AUC "
                      "are in the detail below).", ""]
            continue
        series = list(dict.fromkeys(attacker(f.recognizer, f.mode) for f in mine))
        cells = {(attacker(f.recognizer, f.mode), f.obfuscation): f for f in mine}
        rows = []
        for kind in families.ordered(f.obfuscation for f in mine):  # the families tested in this group
            row = [families.family(kind).name]
            for s in series:
                f = cells.get((s, kind))
                row.append("—" if f is None else _threshold_cell(f))
            rows.append(row)
        lines += [f"### {group}", ""] + table(["obfuscation", *series], rows)
    return lines


def relative_section(privacy: PrivacyFile, several_datasets: bool, several_regions: bool = False) -> list[str]:
    """The "no more revealing than a black box" thresholds, per protocol x attacker, as privacy.json records them
    (they need the per-pair scores, so unlike the absolute ones they are not recomputed here)."""
    lines = ["## No more revealing than a black box", ""]
    if privacy.relative_thresholds is None:
        return lines + ["`metrics/privacy.json` has no relative thresholds (written before they existed): rerun the "
                        "evaluate stage.", ""]
    lines += [f"The weakest level whose paired bootstrap 95% interval of AUC(level) − AUC(black box, same pairs, same "
              f"region) has its upper end below {float(privacy.relative_margin):g} (`evaluate.relative_margin`): the "
              "attacker learns no more from the obfuscated face than from a black box over it. It answers the tool "
              "question even where the absolute threshold cannot be met.", ""]
    records = sorted(privacy.relative_thresholds, key=lambda r: (dataset_rank(r.dataset), r.dataset,
                                                                 protocol_rank(r.protocol), r.protocol, r.region,
                                                                 r.recognizer, r.mode))

    def group(r: RelativeThreshold) -> str:
        name = f"{r.dataset} · {r.protocol}" if several_datasets else r.protocol
        return f"{name} · {region_text(r.region)}" if several_regions else name

    for name in dict.fromkeys(group(r) for r in records):
        mine = [r for r in records if group(r) == name]
        if all(r.reached is None for r in mine):  # a baseline-only protocol: no black box to compare with
            lines += [f"### {name}", "", "No black box was scored on these pairs.", ""]
            continue
        series = list(dict.fromkeys(attacker(r.recognizer, r.mode) for r in mine))
        cells = {(attacker(r.recognizer, r.mode), r.obfuscation): r for r in mine}
        rows = []
        for kind in families.ordered(r.obfuscation for r in mine):
            row = [families.family(kind).name]
            row += ["—" if (s, kind) not in cells else _relative_cell(cells[(s, kind)]) for s in series]
            rows.append(row)
        lines += [f"### {name}", ""] + table(["obfuscation", *series], rows)
    return lines


def family_section(detail: Detail, kind: str, shown: Sequence[tuple[float, float]], gallery_source: str) -> list[str]:
    """One obfuscation family: every attacker's threshold and verdict, then its gallery images and what they show."""
    mine = [f for f in detail.items if f.obfuscation == kind]
    tested = sorted({lv for f in mine for lv in f.levels})
    lines = [
        f"## {families.family(kind).name} (`{kind}`)",
        "",
        f"Level: {families.family(kind).meaning}; tested: {', '.join(level_key(v) for v in tested)}.",
        "",
    ]
    lines += table(
        ["protocol", "recognizer", "threat model", "privacy threshold", "AUC [95% CI] there", "verdict"],
        [(detail.group(f), f"`{f.recognizer}`", MODE_NAMES.get(f.mode, f.mode),
          _threshold_cell(f), auc_text(f.metric(f.shown_level)), f.verdict()) for f in mine],
    )

    def shown_as(level: float, region: float) -> str:
        return level_phrase(kind, level) + (f", {region_text(region)}" if detail.many else "")

    lines += [f"What it looks like on `{gallery_source}`:", ""]
    lines += [" ".join(f"![{shown_as(lv, r)}]({gallery_file(kind, lv, r)})" for lv, r in shown), ""]
    lines += [f"- {shown_as(lv, region)}: {_why_shown(detail, mine, lv, region)}" for lv, region in shown]
    return lines + [""]


def _why_shown(detail: Detail, mine: Sequence[Finding], level: float, region: float) -> str:
    """Whose threshold a gallery image shows, or for whom its level, the strongest tested, was not enough."""
    here = [f for f in mine if f.region == region]
    reached = [f"{detail.group(f, by_region=False)} {attacker(f.recognizer, f.mode)}" for f in here
               if f.threshold is not None and math.isclose(f.threshold, level)]
    strongest = [f"{detail.group(f, by_region=False)} {attacker(f.recognizer, f.mode)}" for f in here
                 if f.threshold is None and math.isclose(f.levels[-1], level)]
    parts = []
    if reached:
        parts.append("the privacy threshold for " + "; ".join(reached))
    if strongest:
        parts.append("the strongest level tested, not enough for " + "; ".join(strongest))
    return " — and ".join(parts)


def learning_curve_section(curve: LearningCurve | None, figure: str | None = None) -> list[str]:
    """The learning curve (metrics/learning_curve.json of stage learning_curve) as a table and its figure; nothing
    when it has no rows (``learning_curve.images`` empty)."""
    if curve is None or not curve.rows:
        return []
    levels = list(dict.fromkeys((r.obfuscation, r.level) for r in curve.rows))
    capped = f"; capped to the images available: {', '.join(map(str, curve.capped))}" if curve.capped else ""
    lines = ["## Learning curve", "",
             f"`{curve.attacker}` trained on the first *n* of its {curve.available_images} training "
             "images (one seeded order: each set holds the smaller ones), everything else as its stage trains it, "
             f"scored on the view1 test pairs it never trained on, oracle box, {region_text(curve.region)}; 0 images "
             f"is plain ArcFace. AUC [bootstrap 95% interval]{capped}.", ""]
    cells: dict[int, dict] = {}
    for r in curve.rows:
        cells.setdefault(r.images, {})[(r.obfuscation, r.level)] = r
    header = ["training images", *(level_phrase(kind, level) for kind, level in levels)]
    rows = [(f"{n} (plain ArcFace)" if n == 0 else str(n),
             *(auc_text(cells[n].get(key)).removeprefix("AUC ") for key in levels)) for n in sorted(cells)]
    lines += table(header, rows)
    if figure:
        lines += [f"![Learning curve: AUC vs training images]({figure})", ""]
    return lines


def figures_section(figures: Sequence[tuple[str, str]]) -> list[str]:
    """The plot stage's figures, each under its caption."""
    if not figures:
        return []
    lines = ["## Figures", ""]
    for caption, path in figures:
        lines += [f"![{caption}]({path})", ""]
    return lines


def build_markdown(
    verification: Verification,
    privacy: PrivacyFile,
    params: Mapping,
    lock: Mapping | None,
    current_md5: Mapping[str, str],
    figures: Sequence[tuple[str, str]],
    gallery_source: str,
    thumbs: Collection[str] = (),
    learning_curve: Sequence[str] = (),
    identified: Mapping | None = None,
) -> str:
    """The report as markdown: which setting hides a face first (flup/report/identification.py, from
    ``identified``, metrics/identification.json's data; None: no such section), then the answer
    (flup/report/answer.py), then the detail. ``figures``: (caption,
    path relative to the report) to show; ``gallery_source``: the image the gallery was rendered from. Gallery
    paths follow ``gallery_file``; ``thumbs``: the thumbnails the plot stage wrote (``naming.thumb_file`` paths),
    shown in the answer where present; ``learning_curve``: its section's lines (:func:`learning_curve_section`),
    placed before the figures."""
    if privacy.bound is None:
        raise ValueError("privacy.json has no 'privacy_auc_upper'")
    items = sorted(findings(verification, privacy.bound), key=_sort_key)
    if not items:
        raise ValueError("verification.json holds no results")
    detail = Detail(items, privacy, privacy.bound, len({f.dataset for f in items}) > 1, regions_of(items))
    problems = check_privacy_file(items, privacy)
    lead = identification.identification_section(identified, thumbs)
    lines = answer_sections(detail, params, thumbs, problems, lead) + detail_intro(detail, problems)
    lines += attackers_section(detail) + glance_section(detail)
    lines += relative_section(privacy, detail.several, detail.many)
    shown = gallery_levels(items)
    for kind in families.ordered(f.obfuscation for f in items):
        lines += family_section(detail, kind, shown[kind], gallery_source)
    lines += list(learning_curve) + figures_section(figures)
    lines += ["## Where these numbers come from", ""] + provenance(lock, params, current_md5)
    return "\n".join(lines).rstrip() + "\n"
