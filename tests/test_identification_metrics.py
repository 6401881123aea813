"""Identification with an exact chance level (flup/evaluation/identification.py), its identity-cluster bootstrap
(cluster_bootstrap.py) and the monotone threshold rule (verdicts.py), on simulated attackers whose answer is known:
one that learns nothing, one that reads only the gallery, one with a planted signal, and a hand-worked ranking."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import integrate
from scipy.stats import norm

from flup.evaluation import identification as ident
from flup.evaluation import verdicts
from flup.evaluation.cluster_bootstrap import Interval, cluster_bootstrap, paired_cluster_bootstrap

# --- a hand-worked ranking ---------------------------------------------------------------------------------------
# Gallery columns: A, B, C (targets, T = 3) and D (a distractor, G = 4). Probes 0-1 are A, 2 is B, 3-4 are C.
HAND_SIMILARITY = np.array([
    #  A    B    C    D
    [0.9, 0.2, 0.1, 0.5],  # A: nothing above -> normalised rank 2/2 = 1
    [0.3, 0.6, 0.3, 0.8],  # A: B above, C tied -> (0 below + 1/2 tie) / 2 = 0.25; whole gallery: B, D above, C tied
    [0.4, 0.7, 0.1, 0.2],  # B: nothing above -> 1
    [0.5, 0.4, 0.2, 0.1],  # C: A and B above -> 0
    [np.nan] * 4,  # C, missed: no face found -> a random guess, 0.5
])
HAND_TRUE = np.array([0, 0, 1, 2, 2])
HAND_TARGET = np.array([True, True, True, False])
HAND_MISSED = np.array([False, False, False, False, True])


def hand_outcomes() -> ident.IdentificationOutcomes:
    return ident.outcomes_from_similarity(HAND_SIMILARITY, HAND_TRUE, HAND_TARGET, HAND_MISSED)


def test_hand_worked_ranking():
    found = hand_outcomes()
    assert found.targets_above.tolist()[:4] == [0, 1, 0, 2] and found.targets_tied.tolist()[:4] == [0, 1, 0, 0]
    assert found.gallery_above.tolist()[:4] == [0, 2, 0, 2] and found.gallery_tied.tolist()[:4] == [0, 1, 0, 0]
    np.testing.assert_allclose(found.normalised_rank, [1.0, 0.25, 1.0, 0.0, 0.5], atol=1e-15)
    np.testing.assert_allclose(found.impostors_above(), [0, 1.5, 0, 2, 1])
    np.testing.assert_allclose(found.impostors_above(whole_gallery=True), [0, 2.5, 0, 2, 1.5])
    # Rank-1 among N = 2 (the true one and 1 of the 2 other targets). Probe 1: draws B (1/2) and loses, or draws C
    # (1/2) and wins the tie with 1/2: 1/4. The missed probe: 1/2.
    np.testing.assert_allclose(found.rank_probability(1, 2), [1, 0.25, 1, 0, 0.5], atol=1e-15)
    # Among all 3 targets: B is always there to beat probe 1 (0); rank-2 of 3: above B, then the C tie, 1/2.
    np.testing.assert_allclose(found.rank_probability(1), [1, 0, 1, 0, 1 / 3], atol=1e-15)
    np.testing.assert_allclose(found.rank_probability(2, 3), [1, 0.5, 1, 0, 2 / 3], atol=1e-15)
    # Over the whole gallery, distractor D included: chance 1/4 for the missed probe.
    np.testing.assert_allclose(found.gallery_rank_probability(1), [1, 0, 1, 0, 0.25], atol=1e-15)
    # Identity weights: A's two probes 1/2 each, B's one 1, C's two 1/2 each; the AUC is
    # (1/2 (1 + 0.25) + 1 + 1/2 (0 + 0.5)) / 3 = 1.875 / 3 = 0.625.
    weights = ident.identity_weights(HAND_TRUE)
    np.testing.assert_allclose(weights, [0.5, 0.5, 1, 0.5, 0.5])
    summary = ident.identification_summary(found, ranks=[(1, 2), (1, None), (1, 10)], n_boot=200)
    assert summary["auc"].interval.estimate == pytest.approx(0.625, abs=1e-15)
    assert summary["rank1@2"].interval.estimate == pytest.approx(0.625, abs=1e-15)  # = AUC when N = 2
    assert summary["rank1@all"].interval.estimate == pytest.approx((0.5 + 1 + 0.5 / 3) / 3, abs=1e-15)
    assert summary["rank1@all"].chance == pytest.approx(1 / 3) and summary["rank1@gallery"].chance == 0.25
    assert summary["detected"].interval.estimate == pytest.approx((1 + 1 + 0.5) / 3)
    assert summary["rank1@10"].interval is None and summary["rank1@10"].chance == 0.1  # only 3 targets here


def test_rank_k_is_hypergeometric_by_hand():
    """One probe, 5 targets, 1 of the 4 others above the true one. Rank-1 among 3 (2 of 4 others drawn): the
    draw must miss the one above, C(3,2) / C(4,2) = 3/6; among 4: C(3,3) / C(4,3) = 1/4; among all 5: 0.
    Rank-2 among 3: always (at most one above): 1."""
    found = ident.outcomes_from_similarity(np.array([[0.9, 0.95, 0.1, 0.2, 0.3]]), np.array([0]),
                                           np.ones(5, dtype=bool))
    assert found.rank_probability(1, 3)[0] == pytest.approx(0.5, abs=1e-15)
    assert found.rank_probability(1, 4)[0] == pytest.approx(0.25, abs=1e-15)
    assert found.rank_probability(1)[0] == 0.0 and found.rank_probability(2, 3)[0] == 1.0
    assert found.normalised_rank[0] == 0.75


def brute_force_rank_probability(row: np.ndarray, true: int, k: int, n: int) -> float:
    """Every draw of N - 1 others, each a uniform position of the true one among the drawn ties."""
    others = [j for j in range(row.size) if j != true]
    total = 0.0
    draws = list(itertools.combinations(others, n - 1))
    for drawn in draws:
        above = sum(row[j] > row[true] for j in drawn)
        tied = sum(row[j] == row[true] for j in drawn)
        total += max(0, min(tied + 1, k - above)) / (tied + 1)
    return total / len(draws)


def test_ties_are_broken_at_random_exactly():
    rng = np.random.default_rng(3)
    sims = rng.integers(0, 3, size=(40, 7)).astype(float)  # many ties
    true = rng.integers(0, 7, size=40)
    found = ident.outcomes_from_similarity(sims, true, np.ones(7, dtype=bool))
    for n in range(2, 8):
        for k in range(1, n + 1):
            expected = [brute_force_rank_probability(sims[i], true[i], k, n) for i in range(40)]
            np.testing.assert_allclose(found.rank_probability(k, n), expected, atol=1e-12, err_msg=f"{k}@{n}")
    np.testing.assert_allclose(found.rank_probability(1, 2), found.normalised_rank, atol=1e-12)


def test_missed_faces_are_a_random_guess():
    rng = np.random.default_rng(1)
    sims = rng.normal(size=(30, 150))
    missed = np.arange(30) % 3 == 0
    sims[missed] = np.nan  # never read
    is_target = np.arange(150) < 120
    found = ident.outcomes_from_similarity(sims, np.arange(30) * 4, is_target, missed)
    assert (found.normalised_rank[missed] == 0.5).all()
    for k, n in [(1, 10), (5, 10), (1, 100), (5, 100), (1, 120), (5, 120)]:
        assert (found.rank_probability(k, n)[missed] == k / n).all()
    assert (found.gallery_rank_probability(1)[missed] == 1 / 150).all()
    everyone = ident.outcomes_from_similarity(sims, np.arange(30) * 4, is_target, np.ones(30, dtype=bool))
    summary = ident.identification_summary(everyone, n_boot=100)
    for metric in summary.values():
        if metric.chance is not None:
            interval = metric.interval  # a weighted mean of k / N: exact but for the sum's rounding
            for value in (interval.estimate, interval.low, interval.high):
                assert value == pytest.approx(metric.chance, abs=1e-15)
    assert summary["detected"].interval.estimate == 0.0


def test_embeddings_in_blocks_match_the_whole_matrix():
    rng = np.random.default_rng(2)
    probes, gallery = rng.normal(size=(57, 16)), rng.normal(size=(23, 16))
    true = rng.integers(0, 15, size=57)
    is_target = np.arange(23) < 15
    missed = rng.random(57) < 0.2
    whole = ident.outcomes_from_similarity(probes @ gallery.T, true, is_target, missed)
    blocks = ident.outcomes_from_embeddings(probes, gallery, true, is_target, missed, chunk_cells=50)
    for field in ("targets_above", "targets_tied", "gallery_above", "gallery_tied"):
        np.testing.assert_array_equal(getattr(blocks, field), getattr(whole, field))


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="must be a target"):
        ident.outcomes_from_similarity(HAND_SIMILARITY[:4], np.array([0, 0, 1, 3]), HAND_TARGET)
    with pytest.raises(ValueError, match="NaN"):
        ident.outcomes_from_similarity(HAND_SIMILARITY, HAND_TRUE, HAND_TARGET)  # the NaN row is not missed
    with pytest.raises(ValueError, match="candidates"):
        hand_outcomes().rank_probability(1, 4)


# --- simulated attackers -----------------------------------------------------------------------------------------
N_IDS, N_DISTRACTORS = 60, 30


def simulated_study(rng: np.random.Generator, strength: float, n_ids: int = N_IDS,
                    n_distractors: int = N_DISTRACTORS) -> tuple[ident.IdentificationOutcomes, np.ndarray]:
    """A gallery of orthonormal identity vectors (targets first, then distractors) and 2-4 probes per target,
    each ``normalised(strength * its identity's vector + noise)``. The noise's projections on the gallery are iid
    N(0, 1), and normalising does not reorder a probe's row, so the true identity outranks another with
    probability Phi(strength / sqrt(2)). strength 0: random embeddings, an attacker that learns nothing."""
    n_gallery = n_ids + n_distractors
    gallery = np.linalg.qr(rng.normal(size=(n_gallery, n_gallery)))[0]
    true = np.repeat(np.arange(n_ids), rng.integers(2, 5, size=n_ids))
    probes = strength * gallery[true] + rng.normal(size=(true.size, n_gallery))
    probes /= np.linalg.norm(probes, axis=1, keepdims=True)
    found = ident.outcomes_from_embeddings(probes, gallery, true, np.arange(n_gallery) < n_ids)
    return found, ident.identity_weights(true)


def planted_auc(strength: float) -> float:
    return float(norm.cdf(strength / math.sqrt(2)))


def planted_rank1(strength: float, n: int) -> float:
    """P(the true score strength + Z_0 beats N - 1 iid N(0, 1) impostors)."""
    value, _ = integrate.quad(lambda x: norm.pdf(x) * norm.cdf(x + strength) ** (n - 1), -np.inf, np.inf)
    return float(value)


@pytest.mark.parametrize("strength", [0.0, 1.0])
def test_intervals_cover_the_true_value_in_about_95_percent_of_studies(strength):
    """200 small studies (60 identities, 2-4 probes each): the identity-bootstrap 95% interval holds the true AUC
    (0.5 for random embeddings) and the true rank-1 among 10 (0.1) about 95% of the time (binomial sd 1.5%)."""
    truth = {"auc": planted_auc(strength), "rank1@10": planted_rank1(strength, 10)}
    if strength == 0:
        assert truth == pytest.approx({"auc": 0.5, "rank1@10": 0.1})
    covered = dict.fromkeys(truth, 0)
    rng = np.random.default_rng(25)
    studies = 200
    for study in range(studies):
        found, weights = simulated_study(rng, strength)
        summary = ident.identification_summary(found, weights, ranks=[(1, 10)], n_boot=400, seed=study)
        for name, value in truth.items():
            covered[name] += summary[name].interval.low <= value <= summary[name].interval.high
    for name, count in covered.items():
        assert 0.88 <= count / studies <= 0.99, f"{name}: {count} of {studies}"


def test_a_planted_signal_is_found_at_its_strength():
    strength = 1.0
    found, weights = simulated_study(np.random.default_rng(7), strength, n_ids=400, n_distractors=200)
    summary = ident.identification_summary(found, weights, ranks=[(1, 10), (5, 100)], n_boot=1000, seed=0)
    for name, truth in [("auc", planted_auc(strength)), ("rank1@10", planted_rank1(strength, 10))]:
        interval = summary[name].interval
        assert interval.low <= truth <= interval.high, (name, truth, interval)
        assert abs(interval.estimate - truth) < 0.03 and interval.half_width < 0.03
    assert planted_auc(strength) == pytest.approx(0.7602, abs=1e-4)
    assert summary["auc"].interval.low > 0.7 and summary["rank1@10"].interval.low > 0.2  # far from chance


def gallery_only_attacker(rng: np.random.Generator, ties: bool) -> tuple[ident.IdentificationOutcomes, np.ndarray]:
    """An attacker that reads only the gallery (sharp) side: every probe embeds to the same point, so a probe's
    scores are the gallery column's alone. Targets' sharp photos score systematically higher than distractors'."""
    n_ids, n_distractors, dim = 80, 120, 8
    gallery = rng.normal(size=(n_ids + n_distractors, dim))
    gallery[:n_ids, 0] += 1.5  # the population skew
    if ties:
        gallery = np.round(gallery, 0)
    true = np.repeat(np.arange(n_ids), rng.integers(1, 7, size=n_ids))
    probes = np.tile(np.eye(dim)[0] + np.eye(dim)[1] * 0.3, (true.size, 1))
    is_target = np.arange(n_ids + n_distractors) < n_ids
    return ident.outcomes_from_embeddings(probes, gallery, true, is_target), ident.identity_weights(true)


@pytest.mark.parametrize("ties", [False, True])
def test_an_attacker_reading_only_the_gallery_is_exactly_at_chance(ties):
    found, weights = gallery_only_attacker(np.random.default_rng(11), ties)
    if ties:
        assert found.targets_tied.sum() > 0
    assert np.sum(weights * found.normalised_rank) / weights.sum() == pytest.approx(0.5, abs=1e-12)
    assert np.ptp(found.normalised_rank) > 0.9  # per probe far from 0.5: the mean is exact, not each probe
    for k, n in [(1, 10), (5, 10), (1, 50), (5, 50), (1, 80), (5, 80)]:
        mean = np.sum(weights * found.rank_probability(k, n)) / weights.sum()
        assert mean == pytest.approx(k / n, abs=1e-12), (k, n)
    # Unweighted, identities with more probes dominate and the mean leaves 0.5: why identities weigh 1 each.
    assert abs(found.normalised_rank.mean() - 0.5) > 0.01
    # Over the whole gallery the skew shows (the top-scored targets win, distractors never): the closed set over
    # targets is the one with an exact chance level.
    rank1_gallery = np.sum(weights * found.gallery_rank_probability(1)) / weights.sum()
    assert rank1_gallery > 2 / found.n_gallery


# --- the identity-cluster bootstrap ------------------------------------------------------------------------------
def test_the_bootstrap_resamples_whole_identities():
    """Per-probe values with identity weights give the very replicates of one row per identity (its weighted mean,
    with its total weight): whole identities are drawn, never single probes."""
    rng = np.random.default_rng(5)
    ids = np.repeat(np.arange(50), rng.integers(1, 6, size=50))
    values = rng.random(ids.size) + ids % 3
    weights = ident.identity_weights(ids)
    per_probe = cluster_bootstrap(values, ids, weights, n_boot=500, seed=9)
    per_identity = np.bincount(ids, weights=weights * values) / np.bincount(ids, weights=weights)
    per_id = cluster_bootstrap(per_identity, np.arange(50), np.ones(50), n_boot=500, seed=9)
    assert per_probe.n_clusters == per_id.n_clusters == 50
    for field in ("estimate", "low", "high", "se"):
        assert getattr(per_probe, field) == pytest.approx(getattr(per_id, field), abs=1e-12)
    again = cluster_bootstrap(values, ids, weights, n_boot=500, seed=9)
    other = cluster_bootstrap(values, ids, weights, n_boot=500, seed=10)
    assert again == per_probe and other.low != per_probe.low


def test_the_paired_bootstrap_follows_the_difference():
    rng = np.random.default_rng(6)
    ids = np.repeat(np.arange(80), 3)
    reference = rng.random(80)[ids] + rng.normal(0, 0.3, ids.size)  # identities differ a lot
    shifted = reference + 0.02 + rng.normal(0, 0.01, ids.size)  # a level a little above the black box
    same = paired_cluster_bootstrap(reference, reference, ids, n_boot=300)
    assert same.estimate == same.low == same.high == 0.0
    paired = paired_cluster_bootstrap(shifted, reference, ids, n_boot=300)
    assert paired.low <= 0.02 <= paired.high and paired.low > 0
    apart = [cluster_bootstrap(x, ids, n_boot=300) for x in (shifted, reference)]
    assert paired.half_width < 0.1 * min(a.half_width for a in apart)  # unpaired could not tell them apart


# --- the threshold rule ------------------------------------------------------------------------------------------
def interval(estimate: float, low: float, high: float, se: float = 0.01, n: int = 100) -> Interval:
    return Interval(estimate, low, high, se, n)


LEVELS = [1.0, 2.0, 3.0, 4.0, 5.0]


def test_private_from_the_weakest_level_of_the_passing_run():
    highs = [0.70, 0.54, 0.60, 0.53, 0.52]  # level 2 passes, 3 fails again: only 4 onwards counts
    found = verdicts.absolute_verdict(LEVELS, [interval(h - 0.03, h - 0.06, h) for h in highs], 0.55)
    assert (found.status, found.level, found.failed_below, found.n_needed) == (verdicts.PRIVATE, 4.0, 3.0, None)
    everywhere = verdicts.absolute_verdict(LEVELS, [interval(0.5, 0.47, 0.55)] * 5, 0.55)  # the bound is inclusive
    assert (everywhere.status, everywhere.level, everywhere.failed_below) == (verdicts.PRIVATE, 1.0, None)


def test_a_pass_followed_by_a_fail_is_not_private():
    found = verdicts.absolute_verdict([1.0, 2.0], [interval(0.52, 0.50, 0.54), interval(0.53, 0.51, 0.56)], 0.55)
    assert found.status == verdicts.UNDECIDED and found.level is None and found.deciding_level == 2.0


def test_leaks_when_even_the_strongest_level_is_above_the_bound():
    found = verdicts.absolute_verdict([1.0, 2.0], [interval(0.9, 0.88, 0.92), interval(0.6, 0.56, 0.64)], 0.55)
    assert (found.status, found.level, found.n_needed) == (verdicts.LEAKS, None, None)


def test_undecided_says_how_many_identities_would_decide_it():
    # Below the bound: the upper end 0.03 above 0.53 has to come within 0.02: 100 * (0.03 / 0.02)^2 = 225.
    below = verdicts.absolute_verdict([1.0], [interval(0.53, 0.50, 0.56)], 0.55)
    assert (below.status, below.n_needed) == (verdicts.UNDECIDED, 225)
    # Above it: the lower end 0.03 below 0.57 has to stay above 0.55, again 225; 0.04 of 0.02 takes 4x, 400.
    assert verdicts.absolute_verdict([1.0], [interval(0.57, 0.54, 0.60)], 0.55).n_needed == 225
    assert verdicts.absolute_verdict([1.0], [interval(0.57, 0.53, 0.60, n=100)], 0.55).n_needed == 400
    on_the_bound = verdicts.absolute_verdict([1.0], [interval(0.55, 0.52, 0.58)], 0.55)
    assert (on_the_bound.status, on_the_bound.n_needed) == (verdicts.UNDECIDED, None)


def test_the_relative_margin_has_80_percent_power_at_no_difference():
    margin = verdicts.power_margin(0.01)
    assert margin == pytest.approx((1.959964 + 0.841621) * 0.01, abs=1e-7)
    # A true difference of 0 with this standard error: the upper end 0 + 1.96 se + Z se is below m 80% of the time.
    assert norm.cdf(margin / 0.01 - norm.ppf(0.975)) == pytest.approx(0.80, abs=1e-12)
    diffs = [interval(0.05, 0.02, 0.08, se=0.015), interval(0.0, -0.04, 0.04, se=0.02),
             interval(0.001, -0.03, 0.0560, se=0.018)]
    found = verdicts.relative_verdict([1.0, 2.0, 3.0], diffs)
    assert found.limit == pytest.approx(verdicts.power_margin(0.02))  # the largest standard error's: 0.0560
    assert (found.status, found.level, found.failed_below) == (verdicts.PRIVATE, 2.0, 1.0)
    strict = verdicts.relative_verdict([1.0], [interval(0.0, -0.03, 0.03)], margin=0.03)
    assert strict.status == verdicts.UNDECIDED  # the upper end must be strictly below the margin
