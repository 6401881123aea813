"""The threshold rule, written once: the absolute and the relative threshold and the report's cross-check use it.

Along one series' tested levels (ascending), each level has the upper end of a bootstrap 95% interval: of the
verification AUC for the absolute (privacy) threshold, of AUC(level) - AUC(black box) for the relative one. A
:class:`Rule` says which upper ends are private: at most ``evaluate.privacy_auc_upper`` (:func:`absolute_rule`)
or strictly below ``evaluate.relative_margin`` (:func:`relative_rule`); a level without an upper end never is.

- the **threshold** is the weakest private level (None: not reached in the tested range);
- it **holds above** when every stronger level tested is private too; the first that is not is its **relapse**;
- its **bracket** (:func:`bracket`) says where the answer lies between two tested levels, or why there is none: a
  status of ``THRESHOLD_STATUSES``, written out by :func:`bracket_text` and :func:`summary_value`.

Pure: sequences in, numbers and strings out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from flup.verify.scoring import level_key

# A threshold record's status (see :func:`bracket`): where the answer lies between two tested levels.
BRACKETED = "bracketed"  # a tested level that identifies directly below the threshold level, which is private
PRIVATE_AT_WEAKEST = "private_at_weakest"  # the weakest tested level is private; below it: the unobfuscated image
UNIFORM_STILL_IDENTIFIES = "uniform_still_identifies"  # not reached, the strongest level is uniform: an answer
# not reached, the strongest level fills the frame (a family whose level is a region): stronger levels render the
# same images, an answer (flup.evaluation.face_size.saturated_levels)
SATURATED_STILL_IDENTIFIES = "saturated_still_identifies"
GRID_ENDS = "grid_ends"  # not reached, the strongest level is neither: the grid stopped before the answer
THRESHOLD_STATUSES = (BRACKETED, PRIVATE_AT_WEAKEST, UNIFORM_STILL_IDENTIFIES, SATURATED_STILL_IDENTIFIES, GRID_ENDS)


@dataclass(frozen=True)
class Rule:
    """Which interval upper ends are private: ``<= limit`` (``inclusive``) or ``< limit``."""

    limit: float
    inclusive: bool

    def private(self, high: float | None) -> bool:
        """Whether a level with this upper end is private (None, no interval, never is)."""
        return high is not None and (high <= self.limit if self.inclusive else high < self.limit)


def absolute_rule(bound: float) -> Rule:
    """The privacy threshold's: the AUC's upper end at most ``bound`` (``evaluate.privacy_auc_upper``)."""
    return Rule(bound, inclusive=True)


def relative_rule(margin: float) -> Rule:
    """The relative threshold's: the upper end of AUC - AUC(black box) below ``margin``
    (``evaluate.relative_margin``)."""
    return Rule(margin, inclusive=False)


def threshold(levels: Sequence[float], highs: Sequence[float | None], rule: Rule) -> float | None:
    """Weakest (smallest) level of ``levels`` whose upper end ``highs[i]`` is private by ``rule``; None if none is."""
    if len(levels) != len(highs):
        raise ValueError(f"levels and upper ends differ in length: {len(levels)} vs {len(highs)}")
    reached = [lv for lv, hi in zip(levels, highs, strict=True) if rule.private(hi)]
    return min(reached) if reached else None


def privacy_threshold(levels: Sequence[float], auc_highs: Sequence[float | None], bound: float = 0.55) -> float | None:
    """Weakest level whose AUC upper bound is <= ``bound``; None if none is (a None upper bound never qualifies)."""
    return threshold(levels, auc_highs, absolute_rule(bound))


def relative_threshold(levels: Sequence[float], diff_highs: Sequence[float | None], margin: float) -> float | None:
    """Weakest level whose interval's upper end is < ``margin``; None if none is (a None never qualifies)."""
    return threshold(levels, diff_highs, relative_rule(margin))


def holds_above(levels: Sequence[float], highs: Sequence[float | None], level: float, rule: Rule) -> bool:
    """Whether every tested level from ``level`` on is private."""
    return all(rule.private(hi) for lv, hi in zip(levels, highs, strict=True) if lv >= level)


def relapse(levels: Sequence[float], highs: Sequence[float | None], level: float, rule: Rule) -> float | None:
    """The first tested level stronger than ``level`` that is not private again (None if there is none)."""
    return next((lv for lv, hi in zip(levels, highs, strict=True) if lv > level and not rule.private(hi)), None)


@dataclass(frozen=True)
class Bracket:
    """Where a threshold lies among the tested levels of one series (see :func:`bracket`)."""

    status: str  # one of THRESHOLD_STATUSES
    identifies_level: float | None  # the strongest tested level below the threshold (or of all) not private
    uniform_level: float | None  # the weakest tested level at which the box is uniform (families.uniform)
    saturated_level: float | None = None  # the weakest tested level at which the region fills the frame


def bracket(levels: Sequence[float], private: Sequence[bool], uniform: Sequence[bool],
            threshold: float | None, saturated: Sequence[bool] | None = None) -> Bracket:
    """The status of a threshold over ascending tested ``levels`` with their ``private``, ``uniform`` and
    ``saturated`` flags (``saturated``: the region fills the frame, stronger levels render the same images; None =
    never).

    ``threshold`` is the weakest private level (None if none is). Reached: ``bracketed`` when a tested level
    lies below it (every such level is not private; the strongest is ``identifies_level``), else
    ``private_at_weakest`` (the lower bracket is the unobfuscated image). Not reached: ``uniform_still_identifies``
    when the strongest level is uniform, ``saturated_still_identifies`` when it is saturated (either way stronger
    levels cannot hide more: an answer), else ``grid_ends``.
    """
    saturated = [False] * len(levels) if saturated is None else list(saturated)
    if not len(levels) == len(private) == len(uniform) == len(saturated):
        raise ValueError(f"levels, private, uniform and saturated differ in length: {len(levels)}, {len(private)}, "
                         f"{len(uniform)}, {len(saturated)}")
    uniform_level = next((float(lv) for lv, u in zip(levels, uniform, strict=True) if u), None)
    saturated_level = next((float(lv) for lv, s in zip(levels, saturated, strict=True) if s), None)
    if threshold is not None:
        below = [float(lv) for lv, p in zip(levels, private, strict=True) if lv < threshold and not p]
        return Bracket(BRACKETED if below else PRIVATE_AT_WEAKEST, max(below) if below else None, uniform_level,
                       saturated_level)
    if uniform and uniform[-1]:
        status = UNIFORM_STILL_IDENTIFIES
    elif saturated and saturated[-1]:
        status = SATURATED_STILL_IDENTIFIES
    else:
        status = GRID_ENDS
    return Bracket(status, float(levels[-1]) if levels else None, uniform_level, saturated_level)


@dataclass(frozen=True)
class Search:
    """A threshold searched along one series (:func:`search`)."""

    threshold: float | None  # the weakest private level; None: not reached
    holds_above: bool  # reached, and every stronger level tested is private too
    bracket: Bracket


def search(levels: Sequence[float], highs: Sequence[float | None], rule: Rule, uniform: Sequence[bool],
           saturated: Sequence[bool] | None = None) -> Search:
    """The threshold of one series by ``rule`` over ascending ``levels`` with their upper ends ``highs``, whether it
    holds above, and its bracket (``uniform``, ``saturated``: per level, as :func:`bracket` takes them)."""
    level = threshold(levels, highs, rule)
    found = bracket(levels, [rule.private(hi) for hi in highs], uniform, level, saturated)
    return Search(level, level is not None and holds_above(levels, highs, level, rule), found)


def bracket_text(found: Bracket, threshold: float | None, max_level: float, interval: str,
                 unobfuscated: str) -> str:
    """A threshold record's description: the threshold with its bracket, or why there is none.
    ``unobfuscated`` names the lower bracket of ``private_at_weakest`` (the unobfuscated image's AUC)."""
    if found.status == BRACKETED:
        return (f"reached at level {level_key(threshold)} (bracket ({level_key(found.identifies_level)}, "
                f"{level_key(threshold)}]; {interval})")
    if found.status == PRIVATE_AT_WEAKEST:
        return (f"reached at level {level_key(threshold)}, the weakest tested (bracket (unobfuscated, "
                f"{level_key(threshold)}]; {interval}; unobfuscated: {unobfuscated})")
    if found.status == UNIFORM_STILL_IDENTIFIES:
        return (f"uniform at level {level_key(found.uniform_level)} and still identifies (max level "
                f"{level_key(max_level)}: {interval})")
    if found.status == SATURATED_STILL_IDENTIFIES:
        return (f"the region fills the frame from level {level_key(found.saturated_level)} and still identifies "
                f"(max level {level_key(max_level)}: {interval})")
    return f"grid ends at level {level_key(max_level)} before the threshold ({interval})"


def summary_value(reached, level, status: str, max_level: float) -> float | str:
    """A threshold in privacy.json's summaries: the level if reached, else why not ("grid ends (max 24)")."""
    if reached:
        return float(level)
    if status == UNIFORM_STILL_IDENTIFIES:
        return f"identifies even when uniform (max {level_key(max_level)})"
    if status == SATURATED_STILL_IDENTIFIES:
        return f"identifies even over the whole frame (max {level_key(max_level)})"
    return f"grid ends (max {level_key(max_level)})"
