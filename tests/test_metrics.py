import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from flup.verify import metrics as m

SEPARATED = (np.array([0.9, 0.8, 0.3, 0.1]), np.array([1, 1, 0, 0]))
REVERSED = (np.array([0.1, 0.3, 0.8, 0.9]), np.array([1, 1, 0, 0]))
# Sorted: 0.1 (diff), 0.35 (same), 0.4 (diff), 0.8 (same).
FOUR = (np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]))
SUMMARY_KEYS = {
    *("n_pairs", "n_same", "n_diff", "auc", "auc_low", "auc_high", "accuracy", "accuracy_std"),
    *("accuracy_protocol", "tar_far_1e-2", "tar_far_1e-3", "eer", "mean_cos_same", "mean_one_minus_cos_diff"),
}


def random_pairs(n: int, seed: int, shift: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.r_[np.ones(n // 2, dtype=int), np.zeros(n - n // 2, dtype=int)]
    scores = np.round(rng.normal(size=n) + shift * labels, 2)  # rounding creates ties
    return scores, labels


# --- AUC ------------------------------------------------------------------------------------------


def test_auc_hand_cases():
    assert m.roc_auc(*SEPARATED) == 1.0
    assert m.roc_auc(*REVERSED) == 0.0
    assert m.roc_auc(*FOUR) == 0.75
    assert m.roc_auc(np.array([0.5, 0.5]), np.array([1, 0])) == 0.5


def test_auc_matches_sklearn_on_random_data():
    for seed in range(5):
        s, y = random_pairs(501, seed)
        assert m.roc_auc(s, y) == pytest.approx(roc_auc_score(y, s), abs=1e-15)


def test_auc_rejects_bad_input():
    with pytest.raises(ValueError, match="both same"):
        m.roc_auc(np.array([0.1, 0.2]), np.array([1, 1]))
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        m.roc_auc(np.array([0.1, 0.2]), np.array([1, 2]))
    with pytest.raises(ValueError, match="equal length"):
        m.roc_auc(np.array([0.1, 0.2, 0.3]), np.array([1, 0]))
    with pytest.raises(ValueError, match="NaN"):
        m.roc_auc(np.array([0.1, np.nan]), np.array([1, 0]))


# --- bootstrap ------------------------------------------------------------------------------------


def test_bootstrap_contains_point_auc_and_narrows_with_more_data():
    small, large = random_pairs(200, 1), random_pairs(6000, 1)
    lo_s, hi_s = m.bootstrap_auc_ci(*small, n_boot=500, seed=3)
    lo_l, hi_l = m.bootstrap_auc_ci(*large, n_boot=500, seed=3)
    assert lo_s < m.roc_auc(*small) < hi_s
    assert lo_l < m.roc_auc(*large) < hi_l
    assert hi_l - lo_l < (hi_s - lo_s) / 2


def test_bootstrap_is_deterministic_per_seed():
    s, y = random_pairs(300, 2)
    first = m.bootstrap_auc_ci(s, y, n_boot=200, seed=7)
    # The interval must come from its own seed alone: disturbing numpy's and Python's global generators (and
    # consuming draws from them) between two calls changes nothing.
    import random

    np.random.seed(12345)
    np.random.rand(1000)
    random.seed(6789)
    random.random()
    assert m.bootstrap_auc_ci(s, y, n_boot=200, seed=7) == first
    low, high = first
    assert low < m.roc_auc(s, y) < high
    assert m.bootstrap_auc_ci(s, y, n_boot=200, seed=7) != m.bootstrap_auc_ci(s, y, n_boot=200, seed=8)


def test_bootstrap_replicate_is_exact_stratified_resample_auc():
    # With one replicate the interval collapses onto that replicate's AUC: rebuild it by hand.
    s, y = random_pairs(301, 4)
    low, high = m.bootstrap_auc_ci(s, y, n_boot=1, seed=11)
    pos, neg = s[y == 1], np.sort(s[y == 0])
    rng = np.random.default_rng(11)
    pos_draw = pos[rng.integers(0, pos.size, size=(1, pos.size))[0]]
    neg_draw = neg[rng.integers(0, neg.size, size=(1, neg.size))[0]]
    expected = roc_auc_score(np.r_[np.ones(pos.size), np.zeros(neg.size)], np.r_[pos_draw, neg_draw])
    assert low == high == pytest.approx(expected, abs=1e-12)


def test_bootstrap_of_separated_data_is_degenerate():
    assert m.bootstrap_auc_ci(*SEPARATED, n_boot=50) == (1.0, 1.0)


# --- TAR@FAR, EER ---------------------------------------------------------------------------------


def test_tar_at_far_hand_case():
    # Descending: .9 S, .8 D, .7 S, .6 S, .5 D, .3 S, .2 D, .1 D (4 same, 4 different)
    s = np.array([0.9, 0.7, 0.6, 0.3, 0.8, 0.5, 0.2, 0.1])
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    assert m.tar_at_far(s, y, 0.0) == 0.25
    assert m.tar_at_far(s, y, 0.1) == 0.25
    assert m.tar_at_far(s, y, 0.25) == 0.75
    assert m.tar_at_far(s, y, 0.3) == 0.75
    assert m.tar_at_far(s, y, 0.5) == 1.0


def test_tar_at_far_zero_when_no_point_qualifies():
    # The top score is a tie between a same and a different pair: the first ROC point past (0, 0) has fpr 1/2.
    s, y = np.array([0.9, 0.9, 0.1, 0.2]), np.array([1, 0, 0, 1])
    assert m.tar_at_far(s, y, 0.01) == 0.0


def test_eer_hand_cases():
    assert m.eer(*SEPARATED) == 0.0
    assert m.eer(*REVERSED) == 1.0
    assert m.eer(*FOUR) == 0.5
    assert m.eer(np.array([0.5, 0.5]), np.array([1, 0])) == 0.5
    # ROC (0,0) (0,1/3) (1,1/3) (1,2/3) (1,1): fnr stays 2/3 while fpr runs 0 -> 1, crossing at 2/3.
    s, y = np.array([0.9, 0.4, 0.2, 0.5]), np.array([1, 1, 1, 0])
    assert m.eer(s, y) == pytest.approx(2 / 3)


# --- thresholds and accuracy ----------------------------------------------------------------------


def test_best_threshold_hand_case():
    # Candidates 0.1, 0.225, 0.375, 0.6, >0.8 classify 2, 3, 2, 3, 2 pairs right: tie -> smallest.
    assert m.best_threshold(*FOUR) == pytest.approx(0.225)
    assert m.accuracy_at(*FOUR, 0.225) == 0.75
    assert m.accuracy_at(*FOUR, 0.6) == 0.75
    assert m.accuracy_at(*FOUR, 0.375) == 0.5
    assert m.accuracy_at(*FOUR, 0.35) == 0.75  # score >= threshold is "same"


def test_best_threshold_separated_and_ends():
    assert m.best_threshold(*SEPARATED) == pytest.approx(0.55)
    assert m.accuracy_at(*SEPARATED, m.best_threshold(*SEPARATED)) == 1.0
    # All same: lowest score, everyone accepted.
    assert m.best_threshold(np.array([0.3, 0.7]), np.array([1, 1])) == 0.3
    # All different: just above the highest score, everyone rejected.
    t = m.best_threshold(np.array([0.3, 0.7]), np.array([0, 0]))
    assert 0.7 < t < 0.7 + 1e-12
    assert m.accuracy_at(np.array([0.3, 0.7]), np.array([0, 0]), t) == 1.0


def test_best_threshold_maximises_accuracy_on_random_data():
    s, y = random_pairs(400, 5)
    t = m.best_threshold(s, y)
    best = m.accuracy_at(s, y, t)
    grid = np.unique(np.r_[s, s + 1e-9, s - 1e-9])
    accs = np.array([m.accuracy_at(s, y, g) for g in grid])
    assert best == pytest.approx(accs.max())


def test_kfold_accuracy_known_answer():
    # Fold 3 is perfectly separated (threshold 0.5 fitted on it); fold 7 fits 0.35.
    # 0.35 applied to fold 3 -> 4/4; 0.5 applied to fold 7 -> 0.6 and 0.3 right, 0.4 and 0.7 wrong -> 2/4.
    s = np.array([0.9, 0.6, 0.8, 0.4, 0.2, 0.7, 0.1, 0.3])
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    folds = np.array([3, 7, 3, 7, 3, 7, 3, 7])
    mean, std = m.kfold_accuracy(s, y, folds)
    assert mean == pytest.approx(0.75)
    assert std == pytest.approx(0.25)


def test_kfold_accuracy_rejects_single_fold():
    with pytest.raises(ValueError, match="at least 2 folds"):
        m.kfold_accuracy(*FOUR, np.zeros(4))


def test_split_half_accuracy():
    assert m.split_half_accuracy(*SEPARATED, seed=0) == 1.0
    assert m.split_half_accuracy(np.array([0.8, 0.2]), np.array([1, 0]), seed=0) == 1.0
    s, y = random_pairs(1000, 6)
    a = m.split_half_accuracy(s, y, seed=1)
    assert a == m.split_half_accuracy(s, y, seed=1)
    assert 0.55 < a < m.accuracy_at(s, y, m.best_threshold(s, y)) + 0.02


# --- summarize ------------------------------------------------------------------------------------


def test_summarize_with_folds():
    s, y = random_pairs(600, 7)
    folds = np.arange(600) % 10
    out = m.summarize(s, y, folds=folds, n_boot=200, seed=0)
    assert set(out) == SUMMARY_KEYS
    assert (out["n_pairs"], out["n_same"], out["n_diff"]) == (600, 300, 300)
    assert out["accuracy_protocol"] == "10-fold"
    assert (out["accuracy"], out["accuracy_std"]) == pytest.approx(m.kfold_accuracy(s, y, folds))
    assert out["auc"] == pytest.approx(roc_auc_score(y, s))
    assert out["auc_low"] < out["auc"] < out["auc_high"]
    assert out["mean_cos_same"] == pytest.approx(s[:300].mean())
    assert out["mean_one_minus_cos_diff"] == pytest.approx(1 - s[300:].mean())
    assert out["eer"] == m.eer(s, y)
    assert out["tar_far_1e-2"] == m.tar_at_far(s, y, 1e-2)
    json.dumps(out)


def test_summarize_split_half_protocol():
    out = m.summarize(*FOUR, n_boot=20)
    assert out["accuracy_protocol"] == "split-half"
    assert out["accuracy_std"] is None
    assert out["auc"] == 0.75
    assert out["mean_cos_same"] == pytest.approx(0.575)
    assert out["mean_one_minus_cos_diff"] == pytest.approx(0.75)


def test_summarize_one_class_gives_none_not_crash():
    out = m.summarize(np.array([0.9, 0.4, 0.7]), np.array([1, 1, 1]), n_boot=10)
    undefined = [
        "auc",
        "auc_low",
        "auc_high",
        "tar_far_1e-2",
        "tar_far_1e-3",
        "eer",
        "mean_one_minus_cos_diff",
    ]
    assert [key for key in undefined if out[key] is not None] == []
    assert out["n_diff"] == 0
    assert out["mean_cos_same"] == pytest.approx(2 / 3)
    json.dumps(out)
