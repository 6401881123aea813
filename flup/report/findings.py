"""The report's findings: each series of verification.json with its privacy threshold recomputed, in words.

The threshold is recomputed from the verification metrics with the rule of ``flup.evaluation.thresholds`` (the one
the evaluate stage applies) and cross-checked against ``privacy.json``'s records (:func:`check_privacy_file`), so
a report never mixes two runs silently.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields

from flup.evaluation.thresholds import absolute_rule, privacy_threshold, relapse
from flup.obfuscation import families
from flup.report import answer
from flup.report.metrics_files import Auc, LevelMetrics, PrivacyFile, Series, Verification
from flup.report.naming import MODE_NAMES, region_text
from flup.verify.scoring import level_key


def level_phrase(kind: str, level: float) -> str:
    """A level in words: "σ = 12 px blur", "16 px pixelation", "deface, mask scale 1.3" (the registry's)."""
    return families.level_text(kind, level, named=True)


def attacker(recognizer: str, mode: str) -> str:
    return f"{recognizer} ({MODE_NAMES.get(mode, mode)})"


def auc_text(metric: Auc | None) -> str:
    return answer.auc_interval(metric or Auc())


@dataclass(frozen=True)
class Finding(Series):
    """The privacy threshold of one obfuscation for one attacker (recognizer x threat model) over one region."""

    bound: float
    threshold: float | None

    @property
    def shown_level(self) -> float:
        """The level the verdict is about: the threshold, or the strongest level tested."""
        return self.threshold if self.threshold is not None else self.levels[-1]

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
        return relapse(self.levels, self._highs(), self.threshold, absolute_rule(self.bound))

    def _highs(self) -> list[float | None]:
        return [self.metric(lv).auc_high for lv in self.levels]

    @property
    def baseline_only(self) -> bool:
        """Only the unobfuscated image (render.baseline_only): no threshold to find."""
        return all(families.is_identity(self.obfuscation, lv) for lv in self.levels)

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


def _above_chance(who: str, metric: LevelMetrics, bound: float) -> str:
    """How an attacker fares at a level that misses the bound: clearly verifying, or just not ruled out."""
    if metric.auc is None:
        return f"{who} has no AUC (no pairs scored)"
    if metric.auc_low is not None and metric.auc_low > 0.5:
        return f"{who} still verifies identity with {auc_text(metric)}"
    return f"{who} is not shown to be at chance: {auc_text(metric)}, upper bound above {bound:g}"


def findings(verification: Verification, bound: float) -> list[Finding]:
    """One Finding per series of ``verification``, its threshold by ``evaluate.privacy_auc_upper`` = ``bound``."""
    out = []
    for series in verification.series:
        highs = [series.metric(lv).auc_high for lv in series.levels]
        out.append(Finding(**{f.name: getattr(series, f.name) for f in fields(Series)}, bound=float(bound),
                           threshold=privacy_threshold(series.levels, highs, bound)))
    return out


def regions_of(items: Sequence[Finding]) -> list[float]:
    return sorted({f.region for f in items})


def check_privacy_file(items: Sequence[Finding], privacy: PrivacyFile) -> list[str]:
    """Disagreements between the recomputed thresholds and ``privacy.json``'s records (as sentences)."""
    recorded = {(r.dataset, r.protocol, r.recognizer, r.mode, r.obfuscation, region_text(r.region)): r.level
                for r in privacy.thresholds}
    problems = []
    for f in items:
        if f.baseline_only:
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
