"""The threshold rule, written once (flup/evaluation/thresholds.py): the absolute and the relative threshold and the
report's cross-check read the same weakest private level, whether it holds above and where it relapses."""

import pytest

from flup.evaluation import thresholds as th

LEVELS = [0.0, 4.0, 8.0, 12.0, 16.0]


def test_privacy_threshold_reached():
    assert th.privacy_threshold([0, 2, 4, 8, 16], [0.99, 0.8, 0.54, 0.51, 0.53]) == 4
    assert th.privacy_threshold([1.0, 2.0], [0.55, 0.5]) == 1.0  # bound is inclusive
    assert th.privacy_threshold([2, 4, 8], [0.7, None, 0.6], bound=0.65) == 8


def test_privacy_threshold_not_reached():
    assert th.privacy_threshold([0, 2, 4], [0.99, 0.8, 0.56]) is None
    assert th.privacy_threshold([], []) is None


def test_relative_threshold_rule():
    assert th.relative_threshold([1, 2, 3], [0.2, 0.009, 0.02], 0.01) == 2
    assert th.relative_threshold([1, 2, 3], [0.2, 0.01, None], 0.01) is None  # strictly below


@pytest.mark.parametrize("rule", [th.absolute_rule(0.55), th.relative_rule(0.01)])
def test_the_rule_rejects_length_mismatch(rule):
    with pytest.raises(ValueError, match="differ in length"):
        th.threshold([1, 2], [0.5], rule)


def test_absolute_is_inclusive_relative_is_strict_and_none_is_never_private():
    absolute, relative = th.absolute_rule(0.55), th.relative_rule(0.01)
    assert absolute.private(0.55) and not absolute.private(0.5501) and not absolute.private(None)
    assert relative.private(0.0099) and not relative.private(0.01) and not relative.private(None)


def test_holds_above_and_relapse():
    rule = th.absolute_rule(0.55)
    highs = [0.99, 0.7, 0.54, 0.6, 0.53]  # private at 8, above the bound again at 12
    assert th.threshold(LEVELS, highs, rule) == 8.0
    assert not th.holds_above(LEVELS, highs, 8.0, rule) and th.relapse(LEVELS, highs, 8.0, rule) == 12.0
    assert th.holds_above(LEVELS, highs, 16.0, rule) and th.relapse(LEVELS, highs, 16.0, rule) is None
    steady = [0.99, 0.7, 0.54, 0.52, None]  # a level without an interval relapses too
    assert th.relapse(LEVELS, steady, 8.0, rule) == 16.0


def test_search_gives_the_threshold_whether_it_holds_and_its_bracket():
    found = th.search(LEVELS, [0.99, 0.7, 0.54, 0.52, 0.51], th.absolute_rule(0.55), [False] * 5)
    assert (found.threshold, found.holds_above) == (8.0, True)
    assert (found.bracket.status, found.bracket.identifies_level) == (th.BRACKETED, 4.0)
    never = th.search(LEVELS, [0.99, 0.7, 0.6, 0.6, 0.6], th.absolute_rule(0.55), [False, False, False, True, True])
    assert (never.threshold, never.holds_above, never.bracket.status) == (None, False, th.UNIFORM_STILL_IDENTIFIES)
    relative = th.search([1.0, 2.0], [0.009, 0.001], th.relative_rule(0.01), [False, False])
    assert (relative.threshold, relative.bracket.status) == (1.0, th.PRIVATE_AT_WEAKEST)
