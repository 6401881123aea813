"""The balanced verification view (flup/evaluation/balanced_verification.py): pairs whose chance level is 0.5 by
construction, the AUC with ties and missed faces, and an interval that covers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from flup.evaluation.balanced_verification import (
    influence_values,
    pair_partners,
    pair_scores,
    verification_auc,
)
from flup.evaluation.cluster_bootstrap import cluster_bootstrap_columns
from flup.evaluation.identification_cells import level_summary


def test_a_hand_worked_auc_counts_ties_and_missed_faces_as_half():
    # 0.9 beats 0.5 and 0.2; 0.2 loses to 0.5 and ties 0.2: (1 + 1 + 0 + 0.5) / 4
    assert verification_auc([0.9, 0.2], [0.5, 0.2]) == pytest.approx(0.625)
    # a missed face (NaN) ties with both; 0.8 beats 0.1 and loses to 0.9: (0.5 + 0.5 + 1 + 0) / 4
    assert verification_auc([np.nan, 0.8], [0.1, 0.9]) == pytest.approx(0.5)
    # the influence values' mean is the AUC exactly
    assert influence_values(np.array([0.9, 0.2]), np.array([0.5, 0.2])).mean() == pytest.approx(0.625)


def test_partners_are_a_seeded_derangement_over_people():
    people = np.array(["ann", "ann", "bob", "cy", "cy", "cy", "dee", "eve"])
    partner = pair_partners(people, seed=0, fold=2)
    assert sorted(partner) == list(range(people.size))  # a permutation: every probe once in a mismatched pair
    assert (people[partner] != people).all()  # never the probe's own person
    np.testing.assert_array_equal(pair_partners(people, seed=0, fold=2), partner)
    others = [pair_partners(people, seed=s, fold=2) for s in range(1, 6)]
    assert any(not np.array_equal(o, partner) for o in others)
    with pytest.raises(ValueError, match="more than half"):
        pair_partners(np.array(["ann", "ann", "ann", "bob"]), seed=0)


def test_an_attacker_that_reads_one_side_only_is_at_chance_exactly():
    rng = np.random.default_rng(3)
    people = np.repeat([f"p{i}" for i in range(40)], rng.integers(1, 4, size=40))
    partner = pair_partners(people, seed=1)
    gallery = rng.normal(size=(people.size, 8))
    probes = rng.normal(size=(people.size, 8))
    # the probe side only: every probe mapped to one direction that depends on the probe alone, skewed by population
    skew = np.where(np.char.endswith(people, "1"), 3.0, 0.0)
    probe_only = np.zeros((people.size, 8))
    probe_only[:, 0] = probes[:, 0] + skew
    matched, mismatched = pair_scores(probe_only, np.tile(np.eye(8)[0], (people.size, 1)), partner)
    assert verification_auc(matched, mismatched) == 0.5
    # the gallery side only: every probe embedded as the same vector
    same = np.tile(rng.normal(size=8), (people.size, 1))
    matched, mismatched = pair_scores(same, gallery, partner)
    assert verification_auc(matched, mismatched) == 0.5
    # and an attacker that does read the probe is not at chance: the probe is its own gallery photo plus noise
    matched, mismatched = pair_scores(gallery + 0.5 * probes, gallery, partner)
    assert verification_auc(matched, mismatched) > 0.9


def _summary_rows(matched: np.ndarray, mismatched: np.ndarray, people: np.ndarray) -> pd.DataFrame:
    """Outcome rows of one level of one fold (rank counts of a chance attacker), carrying the pair scores."""
    n = people.size
    return pd.DataFrame({"fold": 0, "probe_id": np.arange(n), "identity": people, "weight": 1.0, "missed": False,
                         "targets_above": (n - 1) // 2, "targets_tied": 0, "gallery_above": (n - 1) // 2,
                         "gallery_tied": 0, "n_targets": n, "n_gallery": n, "matched": matched,
                         "mismatched": mismatched})


@pytest.mark.parametrize("planted", [0.0, 1.0])
def test_intervals_cover_the_true_auc_about_95_percent_of_the_time(planted):
    # matched scores N(planted, 1), mismatched N(0, 1), with a per-person effect shared by a person's pairs (the
    # clustering the bootstrap must respect); the true AUC is Phi(planted / sqrt(2 (1 + person variance)))
    rng = np.random.default_rng(11)
    person_sd = 0.7
    truth = norm.cdf(planted / np.sqrt(2 * (1 + person_sd**2)))
    covered, estimates, ses = 0, [], []
    runs = 120
    for _ in range(runs):
        people = np.repeat([f"p{i}" for i in range(60)], 3)
        effect = np.repeat(rng.normal(0, person_sd, size=60), 3)
        matched = planted + effect + rng.normal(size=people.size)
        mismatched = np.repeat(rng.normal(0, person_sd, size=60), 3) + rng.normal(size=people.size)
        metrics, _ = level_summary(_summary_rows(matched, mismatched, people), n_boot=300, seed=int(rng.integers(1e6)))
        found = metrics["verification_auc"]
        assert found["chance"] == 0.5
        assert found["estimate"] == pytest.approx(verification_auc(matched, mismatched), abs=1e-6)
        covered += found["low"] <= truth <= found["high"]
        estimates.append(found["estimate"])
        ses.append(found["se"])
    assert 0.88 <= covered / runs <= 0.995
    assert np.mean(estimates) == pytest.approx(truth, abs=0.01)
    # the bootstrap's standard error is the estimates' own spread over runs, to within a fifth
    assert np.mean(ses) == pytest.approx(np.std(estimates, ddof=1), rel=0.2)


def test_the_influence_bootstrap_is_the_u_statistics_spread_not_half_of_it():
    # a per-row average of the two placement values would halve the standard error; the influence values do not
    rng = np.random.default_rng(5)
    matched, mismatched = rng.normal(0.5, 1, 400), rng.normal(0, 1, 400)
    (interval,) = cluster_bootstrap_columns(influence_values(matched, mismatched)[:, None],
                                            np.arange(400).astype(str), None, 2000, 0)
    # DeLong's variance: var(V10) / m + var(V01) / n
    v10 = np.array([(mismatched < m).mean() for m in matched])
    v01 = np.array([(matched > n).mean() for n in mismatched])
    delong = np.sqrt(v10.var(ddof=1) / 400 + v01.var(ddof=1) / 400)
    assert interval.se == pytest.approx(delong, rel=0.1)
