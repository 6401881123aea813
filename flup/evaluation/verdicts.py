"""The monotone threshold rule: one verdict per cell (a family's tested levels for one attacker and region).

Over the levels ordered weakest -> strongest, each with a bootstrap interval (``cluster_bootstrap.Interval``) of
the identification AUC (absolute rule: the upper end at most a bound) or of the paired difference to the black box
over the same region (relative rule: the upper end below a margin), the cell is:

- **private from level L**: every tested level from L to the strongest passes, and L is the weakest such level.
  Its bracket is (the next weaker tested level, which did not pass; L], or (the unobfuscated image; L] when L is
  the weakest tested. A level that passes below a stronger one that fails does not count: noise cannot flip it.
- **leaks**: even the strongest level's interval lies wholly on the failing side (its lower end fails the rule).
- **undecided**: otherwise (the strongest level's interval spans the limit). ``n_needed`` says how many identities
  would decide it, at the **strongest** level: under the monotone rule the strongest level is the gate (no level
  can be private unless it passes, and it alone decides "leaks"), so it is the level whose interval must shrink.
  Half-widths scale as 1 / sqrt(n), so the interval clears the limit at ``n * (d / |limit - estimate|)^2``
  identities, where ``d`` is the distance from the estimate to the end of the interval that has to cross (the upper
  end when the estimate lies on the passing side, else the lower end); None when the estimate sits on the limit.

The relative rule's margin comes from a power calculation (:func:`power_margin`): the margin a true difference of
0 passes with the wanted power given the standard error, so "private relative to a black box" is attainable.

Pure: sequences in, :class:`Verdict` out. The rule (inclusive or strict limit) is ``thresholds.Rule``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy.stats import norm

from flup.evaluation.cluster_bootstrap import Interval
from flup.evaluation.thresholds import Rule, absolute_rule, relative_rule

PRIVATE = "private"
LEAKS = "leaks"
UNDECIDED = "undecided"
VERDICTS = (PRIVATE, LEAKS, UNDECIDED)


@dataclass(frozen=True)
class Verdict:
    """A cell's verdict under the monotone rule."""

    status: str  # one of VERDICTS
    limit: float  # the bound (absolute) or the margin (relative) the upper ends were held to
    level: float | None  # private: the weakest level from which every stronger tested level passes
    failed_below: float | None  # private: the next weaker tested level (it did not pass); None: L is the weakest
    deciding_level: float  # the strongest tested level, whose interval decides leaks / undecided
    deciding_interval: Interval
    n_needed: int | None  # undecided: identities that would decide it at deciding_level; None otherwise


def monotone_verdict(levels: Sequence[float], intervals: Sequence[Interval], rule: Rule) -> Verdict:
    """The verdict of one cell: ``levels`` ordered weakest -> strongest with their ``intervals``; a level passes
    when ``rule.private(interval.high)``."""
    if len(levels) != len(intervals):
        raise ValueError(f"levels and intervals differ in length: {len(levels)} vs {len(intervals)}")
    if not levels:
        raise ValueError("no levels")
    if len(set(levels)) != len(levels):
        raise ValueError(f"levels repeat: {list(levels)}")
    passing = [rule.private(interval.high) for interval in intervals]
    strongest = intervals[-1]
    n_pass = next((i for i, p in enumerate(reversed(passing)) if not p), len(passing))  # the passing suffix
    if n_pass:
        first = len(levels) - n_pass
        return Verdict(PRIVATE, rule.limit, float(levels[first]), None if first == 0 else float(levels[first - 1]),
                       float(levels[-1]), strongest, None)
    if not rule.private(strongest.low):
        return Verdict(LEAKS, rule.limit, None, None, float(levels[-1]), strongest, None)
    return Verdict(UNDECIDED, rule.limit, None, None, float(levels[-1]), strongest,
                   identities_needed(strongest, rule.limit))


def identities_needed(interval: Interval, limit: float) -> int | None:
    """How many identities in all (not more) would move ``interval`` clear of ``limit``, half-widths scaling as
    1 / sqrt(n): the end that lies across the limit from the estimate has to come back over it. None when the
    estimate is on the limit (no number of identities decides it)."""
    gap = abs(limit - interval.estimate)
    if gap == 0:
        return None
    reach = interval.high - interval.estimate if interval.estimate < limit else interval.estimate - interval.low
    # Less a hair, so that a ratio that is whole but for rounding (0.03 / 0.02) is not taken up one more.
    return math.ceil(interval.n_clusters * (reach / gap) ** 2 - 1e-9)


def absolute_verdict(levels: Sequence[float], aucs: Sequence[Interval], bound: float) -> Verdict:
    """The absolute rule: a level passes when its identification AUC's upper end is at most ``bound``."""
    return monotone_verdict(levels, aucs, absolute_rule(bound))


def power_margin(se: float, confidence: float = 0.95, power: float = 0.80) -> float:
    """The margin m that a true difference of 0 passes ("upper end < m") with probability ``power`` when the
    estimate is normal with standard error ``se``: the upper end is about ``estimate + z_(1+confidence)/2 * se``,
    so m = (z_(1+confidence)/2 + z_power) * se (2.80 se at 95% and 80%)."""
    if se < 0 or not math.isfinite(se):
        raise ValueError(f"se must be finite and >= 0, got {se}")
    return float((norm.ppf((1 + confidence) / 2) + norm.ppf(power)) * se)


def relative_verdict(levels: Sequence[float], differences: Sequence[Interval], power: float = 0.80,
                     margin: float | None = None) -> Verdict:
    """The relative rule on the paired differences ``level - black box over the same region``
    (``cluster_bootstrap.paired_cluster_bootstrap``, same probes): a level passes when its upper end is below the
    margin. The margin (None: derived) is :func:`power_margin` of the largest standard error among the levels, so
    that each level alone passes a true difference of 0 with at least ``power``; the verdict carries it as
    ``limit`` for the report to print beside it. ``n_needed`` holds that margin fixed."""
    if margin is None:
        if not differences:
            raise ValueError("no levels")
        margin = power_margin(max(d.se for d in differences), differences[0].confidence, power)
    return monotone_verdict(levels, differences, relative_rule(margin))
