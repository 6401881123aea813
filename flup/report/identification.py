"""The report's first screen: which redaction setting hides a face, from ``metrics/identification.json``.

The evaluate_identification stage (``flup.evaluation.identification_cells``) writes one cell per recogniser x
threat model x family x region, each with its tested levels' metrics and two verdicts under the monotone rule
(``flup.evaluation.verdicts``): absolute (the identification AUC's upper end at most the bound) and relative (the
paired AUC difference to a black box over the same region below a margin). This section reads them for a reader
who picks a setting:

- one table per threat model (oracle box first), rows family, columns region. A cell joins every recogniser of that
  threat model: **private** from the weakest level from which every recogniser's absolute verdict is private (the
  largest of their levels); **no setting of this family hides a face** where any recogniser leaks (named); else
  **undecided**, with the most identities any recogniser needs to decide it. Each cell gives the risk in the
  reader's unit (rank-1 among ``rule.candidates`` candidates, from the recogniser that identifies best there) at
  the recommended level, or at the strongest tested level where there is none, with the thumbnail of that setting
  where the plot stage drew it;
- below each table, one line on the relative rule per family and region, with its margin;
- the same probes as balanced verification pairs (``verification_auc``), per family, level and region: the AUC of
  the recogniser that tells matched from mismatched pairs best, chance 0.5 exactly;
- a note on the attackers without identification results (``not_cross_fitted``);
- per evaluation-only dataset (the file's ``datasets``), a short subsection: its protocol and the same tables.

Pure: the file's dict in, markdown lines out (``thumbs``: the thumbnails present, as paths relative to plots/).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from flup.obfuscation import families
from flup.report.markdown import table
from flup.report.naming import MODE_NAMES, THUMBS, ordered, region_text, thumb_file

TITLE = "## Which setting hides a face (identification)"
ARCFACE = "arcface"
PRIVATE, LEAKS, UNDECIDED = "private", "leaks", "undecided"  # flup.evaluation.verdicts.VERDICTS
MODE_ORDER = ["oracle_box", "end_to_end"]
MODE_HEADINGS = {
    "oracle_box": "The attacker knows where the face was (oracle box)",
    "end_to_end": "The attacker must find the face first (end-to-end)",
}


def thumbs_in(folder: Path) -> set[str]:
    """The thumbnails in ``folder`` (plots/thumbs/), as the paths relative to plots/ that the section links."""
    folder = Path(folder)
    return {f"{THUMBS}/{path.name}" for path in folder.glob("*.png")} if folder.is_dir() else set()


# --- words ---------------------------------------------------------------------------------------


def percents(*values: float) -> list[str]:
    """Shares as percentages with one number of decimals: whole percents, or one decimal where a share below 10%
    would otherwise lose it ("1.7%"; "10.2%", "9.1%", "11.3%" together)."""
    shown = [100 * float(v) for v in values]
    fine = any(v < 9.95 and not math.isclose(v, round(v), abs_tol=0.05) for v in shown)
    return [f"{v:.1f}%" if fine else f"{v:.0f}%" for v in shown]


def percent(value: float) -> str:
    """A share as a percentage (:func:`percents`)."""
    return percents(value)[0]


def count(value: object) -> str:
    """A count with thousands separators ("1,680"); "?" when absent."""
    return "?" if value is None else f"{int(value):,}"


def recognizer_name(name: str) -> str:
    return "ArcFace" if name == ARCFACE else f"`{name}`"


def _listed(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _one_level(kind: str) -> bool:
    """A family whose level means nothing (the black box): its cells name no level."""
    return not families.family(kind).axis_label


def level_words(kind: str, level: float) -> str:
    """A level within its family's row: "σ = 16 px", "block 16 px", "mask scale 1.3"."""
    return families.level_text(kind, level)


def margin_text(limits: Iterable[float]) -> str:
    """The relative rule's margin(s), one per recogniser: "margin 0.010" or "margins 0.034–0.068"."""
    values = sorted({round(float(v), 3) for v in limits})
    if not values:
        return ""
    if len(values) == 1:
        return f"margin {values[0]:.3f}"
    return f"margins {values[0]:.3f}–{values[-1]:.3f}"


# --- a cell: every recogniser of one threat model, one family, one region ---------------------------


@dataclass(frozen=True)
class Joined:
    """The verdicts of several recognisers, joined: private only when all are, leaks when any does."""

    status: str  # PRIVATE, LEAKS, UNDECIDED
    level: float | None  # private: the largest of the recognisers' levels
    failed_below: float | None  # private: the next weaker tested level that failed for a recogniser deciding it
    strongest: float  # the strongest tested level among the recognisers
    who: tuple[str, ...]  # leaks: the recognisers that leak; undecided: those undecided; private: those deciding
    n_needed: int | None  # undecided: the most identities any of them needs
    n_tested: int | None  # undecided: the identities that recogniser was scored on
    limits: tuple[float, ...]  # every recogniser's limit (the bound, or the relative margin)


def join(cells: Sequence[Mapping], which: str) -> Joined | None:
    """The ``which`` ("absolute" or "relative") verdicts of ``cells`` joined; None when none has one."""
    judged = [(c["recognizer"], c[which]) for c in cells if c.get(which)]
    if not judged:
        return None
    strongest = max(float(v["deciding_level"]) for _, v in judged)
    limits = tuple(float(v["limit"]) for _, v in judged)
    leaking = tuple(name for name, v in judged if v["status"] == LEAKS)
    if leaking:
        return Joined(LEAKS, None, None, strongest, leaking, None, None, limits)
    undecided = [(name, v) for name, v in judged if v["status"] != PRIVATE]
    if undecided:
        needs = [(v["n_needed"], v) for _, v in undecided if v.get("n_needed") is not None]
        most = max(needs, key=lambda pair: pair[0]) if needs else None
        tested = None if most is None else (most[1].get("deciding_interval") or {}).get("n_clusters")
        return Joined(UNDECIDED, None, None, strongest, tuple(name for name, _ in undecided),
                      None if most is None else int(most[0]), None if tested is None else int(tested), limits)
    level = max(float(v["level"]) for _, v in judged)
    deciding = [(name, v) for name, v in judged if math.isclose(float(v["level"]), level)]
    below = [float(v["failed_below"]) for _, v in deciding if v.get("failed_below") is not None]
    return Joined(PRIVATE, level, max(below) if below else None, strongest, tuple(name for name, _ in deciding),
                  None, None, limits)


def _entry(cell: Mapping, level: float) -> Mapping | None:
    return next((e for e in cell["levels"] if math.isclose(float(e["level"]), level)), None)


def risk_text(cells: Sequence[Mapping], level: float, candidates: int) -> str:
    """The risk at ``level`` in the reader's unit, from the recogniser that picks the right person most often among
    ``candidates``: "ArcFace picks the right person out of 10 in 35% of cases [30%, 41%] (chance: 10%)"; "" when
    no recogniser has that rank at that level."""
    name = f"rank1@{candidates}"
    found = []
    for cell in cells:
        entry = _entry(cell, level)
        metric = None if entry is None else entry["metrics"].get(name)
        if metric is not None and metric.get("estimate") is not None:
            found.append((float(metric["estimate"]), cell["recognizer"], metric))
    if not found:
        return ""
    _, recognizer, metric = max(found, key=lambda item: item[0])
    estimate, interval = percent(metric["estimate"]), ""
    if metric.get("low") is not None and metric.get("high") is not None:
        estimate, low, high = percents(metric["estimate"], metric["low"], metric["high"])
        interval = f" [{low}, {high}]"
    chance = metric.get("chance")
    chance = 1 / candidates if chance is None else float(chance)
    return (f"{recognizer_name(recognizer)} picks the right person out of {candidates} in "
            f"**{estimate}** of cases{interval} (chance: {percent(chance)})")


def _thumb(kind: str, level: float, region: float, thumbs: Collection[str]) -> str:
    path = thumb_file(kind, level, region)
    if path not in thumbs:
        return ""
    return f"![{families.level_text(kind, level, named=True)}, {region_text(region)}]({path}) "


def cell_text(cells: Sequence[Mapping], candidates: int, thumbs: Collection[str] = ()) -> str:
    """One family over one region against every recogniser of ``cells`` (one threat model): its verdict, the risk
    in the reader's unit at the level it shows and that level's thumbnail; "—" when nothing was judged."""
    joined = join(cells, "absolute")
    if joined is None:
        return "—"
    kind, region = cells[0]["obfuscation"], float(cells[0]["region"])
    plain = _one_level(kind)
    if joined.status == PRIVATE:
        shown = joined.level
        text = "**private**" if plain else f"**private from {level_words(kind, shown)}**"
        if joined.failed_below is not None and not plain:
            text += f" (not at {level_words(kind, joined.failed_below)})"
    else:
        shown = joined.strongest
        at = "" if plain else f" at {level_words(kind, shown)}, the strongest level tested"
        if joined.status == LEAKS:
            names = [recognizer_name(n) for n in joined.who]
            verb = "identifies" if len(names) == 1 else "identify"
            text = (f"**no setting of this family hides a face over this region**: {_listed(names)} still "
                    f"{verb}{at}")
        else:
            text = f"**undecided**{at}"
            if joined.n_needed is not None:
                tested = "" if joined.n_tested is None else f" ({joined.n_tested:,} tested)"
                text += f": about {joined.n_needed:,} identities would decide it{tested}"
    risk = risk_text(cells, shown, candidates)
    return _thumb(kind, shown, region, thumbs) + text + (f" · {risk}" if risk else "")


def relative_text(cells: Sequence[Mapping]) -> str:
    """The relative rule for one family over one region: "from σ = 16 px (margin 0.010)", "no: more revealing
    than a black box (margins ...)", "undecided ..."; "" without relative verdicts (the black box itself)."""
    joined = join(cells, "relative")
    if joined is None:
        return ""
    kind = cells[0]["obfuscation"]
    margin = margin_text(joined.limits)
    if joined.status == PRIVATE:
        at = "yes" if _one_level(kind) else f"yes from {level_words(kind, joined.level)}"
        return f"{at} ({margin})"
    if joined.status == LEAKS:
        return f"no, more revealing for {_listed([recognizer_name(n) for n in joined.who])} ({margin})"
    need = "" if joined.n_needed is None else f", about {joined.n_needed:,} identities would decide it"
    return f"undecided{need} ({margin})"


# --- the section ---------------------------------------------------------------------------------


def _recognizer_order(cells: Sequence[Mapping]) -> list[str]:
    names = list(dict.fromkeys(c["recognizer"] for c in cells))
    return [n for n in names if n == ARCFACE] + [n for n in names if n != ARCFACE]


def protocol_text(data: Mapping) -> str:
    """The protocol in a reader's words."""
    protocol, rule = data.get("protocol") or {}, data.get("rule") or {}
    candidates = int(rule.get("candidates", 10))
    per = int(protocol.get("probes_per_identity", 1))
    photos = "one probe photo" if per == 1 else f"up to {per} probe photos"
    distractors = protocol.get("distractors")
    padded = "" if not distractors else (f", among {count(distractors)} more people who have a single photo and so are "
                                         "only ever in a gallery")
    return (
        f"{count(protocol.get('targets'))} people in {protocol.get('folds', '?')} identity folds: {photos} of each "
        f"({count(protocol.get('probes'))} in all) {'is' if per == 1 else 'are'} obfuscated and ranked against "
        f"the sharp gallery of its fold "
        f"(one photo per person{padded}). Every trained attacker is scored only on people it never trained on. "
        f"The risk is how often the attacker, shown the obfuscated photo and {candidates} candidates (the right "
        f"person and {candidates - 1} others of the fold), picks the right one; chance is exactly 1 in {candidates}. "
        f"*Private from a level*: there and at every stronger tested level the identification AUC's bootstrap 95% "
        f"interval (over people) has its upper end ≤ {float(rule.get('privacy_auc_upper', 0.55)):g} (chance "
        f"{float(rule.get('chance_auc', 0.5)):g}) for every recogniser; *no setting hides a face*: even at the "
        "strongest level some recogniser's whole interval is above it; *undecided*: the interval straddles it, and "
        "more people would decide it. [a, b]: 95% interval."
    )


def mode_section(mode: str, cells: Sequence[Mapping], candidates: int, thumbs: Collection[str],
                 depth: int = 3) -> list[str]:
    """One threat model's table (family x region) and its line on the relative rule, under a heading of ``depth``."""
    regions = sorted({float(c["region"]) for c in cells})
    order = {name: i for i, name in enumerate(_recognizer_order(cells))}

    def here(kind: str, region: float) -> list[Mapping]:
        return sorted((c for c in cells if c["obfuscation"] == kind and math.isclose(float(c["region"]), region)),
                      key=lambda c: order[c["recognizer"]])

    rows, relative = [], []
    for kind in families.ordered(c["obfuscation"] for c in cells):
        row = [cell_text(here(kind, region), candidates, thumbs) if here(kind, region) else "—" for region in regions]
        if all(text == "—" for text in row):
            continue  # nothing judged (the unobfuscated baseline alone)
        rows.append([families.family(kind).name, *row])
        for region in regions:
            text = relative_text(here(kind, region)) if here(kind, region) else ""
            if text:
                relative.append(f"{families.family(kind).name} over {region_text(region)}: {text}")
    heading = MODE_HEADINGS.get(mode, f"Threat model: {MODE_NAMES.get(mode, mode)}")
    lines = [f"{'#' * depth} {heading}", ""]
    if not rows:
        return lines + ["No obfuscated level was judged for this threat model.", ""]
    lines += table(["obfuscation", *(f"over {region_text(r)}" for r in regions)], rows)
    if relative:
        lines += ["*No more revealing than a black box over the same region* (the paired AUC difference's upper end "
                  "below the margin, for every recogniser): " + "; ".join(relative) + ".", ""]
    return lines


def _best_verification(cells: Sequence[Mapping], level: float) -> tuple[str, Mapping] | None:
    """(recogniser, metric) of the cell whose balanced verification AUC at ``level`` is highest."""
    found = []
    for cell in cells:
        entry = _entry(cell, level)
        metric = None if entry is None else entry["metrics"].get("verification_auc")
        if metric is not None:
            found.append((cell["recognizer"], metric))
    return max(found, key=lambda pair: pair[1]["estimate"], default=None)


def verification_section(cells: Sequence[Mapping]) -> list[str]:
    """The balanced verification view of the oracle-box cells: per family and level (rows) and region (columns),
    the recogniser that tells matched from mismatched pairs best; none where no cell carries ``verification_auc``."""
    cells = [c for c in cells if c["mode"] == "oracle_box"]
    regions = sorted({float(c["region"]) for c in cells})
    rows = []
    for kind in families.ordered(c["obfuscation"] for c in cells):
        of_kind = [c for c in cells if c["obfuscation"] == kind]
        levels = sorted({float(e["level"]) for c in of_kind for e in c["levels"]})
        for level in levels:
            row = []
            for region in regions:
                best = _best_verification([c for c in of_kind if math.isclose(float(c["region"]), region)], level)
                row.append("—" if best is None else
                           f"{best[1]['estimate']:.3f} [{best[1]['low']:.3f}, {best[1]['high']:.3f}] "
                           f"{recognizer_name(best[0])}")
            if any(text != "—" for text in row):
                rows.append([families.family(kind).name, level_words(kind, level), *row])
    if not rows:
        return []
    return [
        "### The same probes as verification pairs (balanced)", "",
        "Each probe is paired once with its own person's sharp gallery photo (matched) and that gallery photo once "
        "with another person's probe (mismatched, a derangement over people), so both labels hold the same photos "
        "on each side and an attacker that reads one side only scores 0.5 exactly (LFW's own pairs do not: see "
        "the verification view below). Verification AUC of the recogniser that does best, oracle box; [a, b]: "
        "95% interval over people.", "",
        *table(["obfuscation", "level", *(f"over {region_text(r)}" for r in regions)], rows),
    ]


def dataset_protocol_text(name: str, part: Mapping) -> str:
    """An evaluation-only dataset's protocol in one line."""
    protocol = part.get("protocol") or {}
    distractors = protocol.get("distractors")
    padded = f", among {count(distractors)} more people with a single photo" if distractors else ""
    return (f"The same protocol on `{name}`, an evaluation-only dataset: {count(protocol.get('targets'))} people in "
            f"{protocol.get('folds', '?')} identity folds ({count(protocol.get('probes'))} probe photos{padded}), "
            "drawn from the photos its pairs use. Its people are not LFW's, so each adapter attacker is scored as "
            "trained, on all its LFW training images (not cross-fitted); same rule and unit as above.")


def dataset_sections(data: Mapping, candidates: int) -> list[str]:
    """One short subsection per evaluation-only dataset of ``data["datasets"]``: its protocol and its threat
    models' tables (:func:`mode_section`); none without datasets."""
    lines = []
    for name, part in (data.get("datasets") or {}).items():
        cells = list(part.get("cells") or [])
        lines += [f"### On the evaluation-only dataset `{name}`", "", dataset_protocol_text(name, part), ""]
        if not cells:
            lines += ["No cells.", ""]
        for mode in ordered((c["mode"] for c in cells), MODE_ORDER):
            lines += mode_section(mode, [c for c in cells if c["mode"] == mode], candidates, (), depth=4)
        missing = list(part.get("not_scored") or [])
        if missing:
            lines += [f"Not scored here: {_listed([f'`{n}`' for n in missing])} (fine-tuned; only adapters are "
                      "scored from ArcFace's embeddings).", ""]
    return lines


def identification_section(data: Mapping | None, thumbs: Collection[str] = ()) -> list[str]:
    """The section's markdown lines; none without the metrics (``data`` None: no metrics/identification.json)."""
    if data is None:
        return []
    cells = list(data.get("cells") or [])
    candidates = int((data.get("rule") or {}).get("candidates", 10))
    lines = [TITLE, "", protocol_text(data), ""]
    if not cells:
        lines += ["`metrics/identification.json` holds no cells.", ""]
    for mode in ordered((c["mode"] for c in cells), MODE_ORDER):
        lines += mode_section(mode, [c for c in cells if c["mode"] == mode], candidates, thumbs)
    lines += verification_section(cells)
    missing = list(data.get("not_cross_fitted") or [])
    if missing:
        names = _listed([f"`{n}`" for n in missing])
        lines += [f"Not in these tables: {names} {'has' if len(missing) == 1 else 'have'} no identification results "
                  "(not cross-fitted, so never scored on people unseen in training); the verification answer below "
                  "still shows them.", ""]
    return lines + dataset_sections(data, candidates)

