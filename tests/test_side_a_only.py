"""benchmarks/side_a_only.py: how much of an AUC the sharp side alone explains, on synthetic embeddings."""

from __future__ import annotations

import numpy as np

from benchmarks.side_a_only import side_a_aucs

PAIRS, DIM = 2000, 16


def population_skewed_pairs(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Sharp sides whose direction 0 differs between matched and mismatched pairs (as LFW's matched pairs come
    from people with several photos), and the labels."""
    labels = (np.arange(PAIRS) < PAIRS // 2).astype(int)
    a = rng.normal(size=(PAIRS, DIM))
    a[:, 0] += np.where(labels == 1, -0.5, 0.5)
    return a, labels


def test_an_obfuscated_side_without_identity_scores_its_sharp_sides_population():
    rng = np.random.default_rng(0)
    a, labels = population_skewed_pairs(rng)
    b = np.zeros((PAIRS, DIM))
    b[:, 0] = 1.0  # every obfuscated face embeds near one point, off the origin along direction 0
    b += rng.normal(scale=0.05, size=b.shape)
    found = side_a_aucs(a, b, labels, seed=0)
    assert found["auc"] < 0.3  # far below chance, with nothing of the person in b
    assert abs(found["b_mean"] - found["auc"]) < 0.02 and abs(found["b_shuffled"] - found["auc"]) < 0.02
    assert abs(found["in_class"] - found["auc"]) < 0.02 and found["p"] > 0.05  # no pairing to lose


def test_populations_that_differ_on_both_sides_are_not_identity():
    """Matched pairs' a and b both lean one way (people with several photos alike), but b is not the pair's
    person: only the in-class permutation keeps that, and the real pairing does no better than it."""
    rng = np.random.default_rng(2)
    labels = (np.arange(PAIRS) < PAIRS // 2).astype(int)
    a, b = rng.normal(size=(PAIRS, DIM)), rng.normal(size=(PAIRS, DIM))
    a[:, 0] += np.where(labels == 1, -2.0, 2.0)
    b[:, 0] += np.where(labels == 1, -4.0, 0.0)
    found = side_a_aucs(a, b, labels, seed=0)
    assert found["auc"] > 0.6
    assert abs(found["in_class"] - found["auc"]) < 0.02 and found["p"] > 0.05


def test_an_obfuscated_side_that_keeps_identity_scores_above_its_nulls():
    rng = np.random.default_rng(1)
    a, labels = population_skewed_pairs(rng)
    b = np.where(labels[:, None] == 1, a, rng.normal(size=a.shape)) + rng.normal(scale=0.5, size=a.shape)
    found = side_a_aucs(a, b, labels, seed=0)
    assert found["auc"] > 0.9
    assert found["auc"] - max(found["b_mean"], found["b_shuffled"], found["in_class"]) > 0.2
    assert found["p"] == 0.0
