"""Face-verification metrics on pair scores (higher = more similar) and labels (1 same, 0 different)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from flup.verify.scoring import level_key

# Bootstrap replicates are processed in chunks so that the count matrices stay around this many cells.
BOOT_CHUNK_CELLS = 4_000_000


def _check(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels)
    if s.ndim != 1 or y.ndim != 1 or s.shape != y.shape:
        raise ValueError(f"scores and labels must be 1-D of equal length, got shapes {s.shape} and {y.shape}")
    if s.size == 0:
        raise ValueError("no pairs: scores and labels are empty")
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or infinite values")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"labels must be 0 or 1, got values {np.unique(y)[:10].tolist()}")
    return s, y.astype(np.int8)


def _check_two_classes(y: np.ndarray) -> None:
    n_same = int(y.sum())
    if n_same == 0 or n_same == y.size:
        raise ValueError(f"need both same (1) and different (0) pairs; got {n_same} same of {y.size}")


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve."""
    s, y = _check(scores, labels)
    _check_two_classes(y)
    return float(roc_auc_score(y, s))


def bootstrap_auc_ci(
    scores: np.ndarray, labels: np.ndarray, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float]:
    """Percentile ``1 - alpha`` interval of the AUC over a stratified bootstrap.

    Same and different pairs are resampled separately, with replacement. Each replicate is
    represented by how often it draws each pair, and its AUC (the Mann-Whitney statistic, ties
    counting one half) is computed from those counts against the negatives pre-sorted once.
    """
    s, y = _check(scores, labels)
    _check_two_classes(y)
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    pos = s[y == 1]
    neg = np.sort(s[y == 0])
    n1, n0 = pos.size, neg.size
    # For each positive: negatives strictly below it, and below or equal.
    lo = np.searchsorted(neg, pos, side="left")
    hi = np.searchsorted(neg, pos, side="right")
    rng = np.random.default_rng(seed)
    aucs = np.empty(n_boot)
    for start, c_pos, c_neg in bootstrap_draws(rng, n_boot, n1, n0):
        b = c_pos.shape[0]
        cum = np.zeros((b, n0 + 1))
        np.cumsum(c_neg, axis=1, out=cum[:, 1:])
        below = cum[:, lo]
        wins = below + 0.5 * (cum[:, hi] - below)
        aucs[start : start + b] = np.einsum("ij,ij->i", c_pos, wins) / (n1 * n0)
    low, high = np.quantile(aucs, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def bootstrap_draws(rng: np.random.Generator, n_boot: int, n1: int, n0: int) -> Iterator[
        tuple[int, np.ndarray, np.ndarray]]:
    """A stratified bootstrap of ``n1`` same and ``n0`` different pairs, in chunks of replicates:
    ``(start, c_pos, c_neg)`` with the draw counts (``(b, n1)`` and ``(b, n0)``) of replicates
    ``start .. start + b - 1``. The chunks keep the count matrices near ``BOOT_CHUNK_CELLS`` cells; within a
    chunk the same pairs are drawn first, then the different pairs (the order the numbers depend on)."""
    chunk = max(1, BOOT_CHUNK_CELLS // max(n1, n0))
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        c_pos = _draw_counts(rng, b, n1)
        c_neg = _draw_counts(rng, b, n0)
        yield start, c_pos, c_neg


def _draw_counts(rng: np.random.Generator, b: int, n: int) -> np.ndarray:
    """``b`` resamples of ``n`` items with replacement, as a (b, n) matrix of draw counts."""
    idx = rng.integers(0, n, size=(b, n)) + (np.arange(b) * n)[:, None]
    return np.bincount(idx.ravel(), minlength=b * n).reshape(b, n).astype(np.float64)


def tar_at_far(scores: np.ndarray, labels: np.ndarray, far: float) -> float:
    """Highest true-accept rate among ROC points with false-accept rate <= ``far`` (0.0 if none)."""
    s, y = _check(scores, labels)
    _check_two_classes(y)
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    ok = fpr <= far + 1e-12  # fpr is k / n_diff: allow float noise when far is exactly such a ratio
    return float(tpr[ok].max()) if ok.any() else 0.0


def eer(scores: np.ndarray, labels: np.ndarray) -> float:
    """Equal error rate: where the ROC crosses fpr = 1 - tpr, linearly interpolated between ROC points."""
    s, y = _check(scores, labels)
    _check_two_classes(y)
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    # d rises monotonically from -1 (at fpr 0, tpr 0) to +1 (at fpr 1, tpr 1).
    d = fpr - (1.0 - tpr)
    i = int(np.argmax(d >= 0))
    if d[i] == 0 or i == 0:
        return float(fpr[i])
    t = -d[i - 1] / (d[i] - d[i - 1])
    return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))


def _candidate_thresholds(s: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Candidate thresholds (ascending) and the number of pairs each classifies correctly."""
    u, inv = np.unique(s, return_inverse=True)
    k = u.size
    pos_at = np.bincount(inv, weights=y, minlength=k)
    neg_at = np.bincount(inv, weights=1 - y, minlength=k)
    # Candidate j predicts "same" for exactly the scores u[j:], so it is right about
    # the positives at or above u[j] and the negatives below it; j = k predicts nothing "same".
    pos_ge = np.concatenate([[0.0], np.cumsum(pos_at[::-1])])[::-1]
    neg_lt = np.concatenate([[0.0], np.cumsum(neg_at)])
    mid = (u[:-1] + u[1:]) / 2
    # Between two adjacent doubles the midpoint can round down onto the lower score; use the upper then.
    mid = np.where(mid > u[:-1], mid, u[1:])
    thresholds = np.concatenate([[u[0]], mid, [np.nextafter(u[-1], np.inf)]])
    return thresholds, pos_ge + neg_lt


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """Threshold maximising accuracy on these pairs (a pair is "same" when score >= threshold).

    Candidates are the lowest score (everything "same"), midpoints between consecutive distinct
    scores, and the next float above the highest score (everything "different"). Ties go to the
    smallest threshold.
    """
    s, y = _check(scores, labels)
    thresholds, correct = _candidate_thresholds(s, y)
    return float(thresholds[int(np.argmax(correct))])


def accuracy_at(scores: np.ndarray, labels: np.ndarray, threshold: float) -> float:
    """Fraction of pairs classified correctly when "same" means score >= ``threshold``."""
    s, y = _check(scores, labels)
    return float(np.mean((s >= threshold) == (y == 1)))


def kfold_accuracy(scores: np.ndarray, labels: np.ndarray, folds: np.ndarray) -> tuple[float, float]:
    """Mean and std (ddof=0) over folds of accuracy on each fold with the threshold fitted on the others.

    This is the LFW View 2 protocol (10 folds).
    """
    s, y = _check(scores, labels)
    f = np.asarray(folds)
    if f.shape != s.shape:
        raise ValueError(f"folds must have one id per pair: shape {f.shape} vs {s.shape}")
    ids = np.unique(f)
    if ids.size < 2:
        raise ValueError(f"need at least 2 folds, got {ids.size}")
    accs = []
    for fold in ids:
        test = f == fold
        thr = best_threshold(s[~test], y[~test])
        accs.append(accuracy_at(s[test], y[test], thr))
    return float(np.mean(accs)), float(np.std(accs))


def split_half_accuracy(scores: np.ndarray, labels: np.ndarray, seed: int) -> float:
    """Accuracy for protocols without folds: a seeded, stratified random split into two halves.

    Same and different pairs are each shuffled and divided in half. The threshold is fitted
    (``best_threshold``) on one half and accuracy measured on the other, then the other way
    round; the two accuracies are averaged.
    """
    s, y = _check(scores, labels)
    if s.size < 2:
        raise ValueError("split-half accuracy needs at least 2 pairs")
    rng = np.random.default_rng(seed)
    folds = np.empty(s.size, dtype=np.int8)
    offset = 0
    for cls in (0, 1):
        idx = rng.permutation(np.flatnonzero(y == cls))
        # Continue the alternation across classes so that odd class sizes still give equal halves
        # (and one pair of each class gives two non-empty halves).
        folds[idx] = (np.arange(idx.size) + offset) % 2
        offset += idx.size
    return kfold_accuracy(s, y, folds)[0]


def summarize(
    scores: np.ndarray,
    labels: np.ndarray,
    folds: np.ndarray | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict:
    """All verification metrics as a JSON-ready dict.

    AUC-type values (auc, its bootstrap interval, TAR@FAR, EER) are None when only one class
    is present. Accuracy uses ``kfold_accuracy`` when ``folds`` is given, else
    ``split_half_accuracy`` (whose ``accuracy_std`` is None).
    """
    s, y = _check(scores, labels)
    same, diff = s[y == 1], s[y == 0]
    out: dict = {"n_pairs": int(s.size), "n_same": int(same.size), "n_diff": int(diff.size)}
    if same.size and diff.size:
        low, high = bootstrap_auc_ci(s, y, n_boot=n_boot, seed=seed)
        out |= {
            "auc": roc_auc(s, y),
            "auc_low": low,
            "auc_high": high,
        }
    else:
        out |= {"auc": None, "auc_low": None, "auc_high": None}
    if folds is not None:
        acc, std = kfold_accuracy(s, y, folds)
        n_folds = int(np.unique(np.asarray(folds)).size)
        out |= {"accuracy": acc, "accuracy_std": std, "accuracy_protocol": f"{n_folds}-fold"}
    else:
        acc = split_half_accuracy(s, y, seed) if s.size >= 2 else None
        out |= {"accuracy": acc, "accuracy_std": None, "accuracy_protocol": "split-half"}
    two = bool(same.size and diff.size)
    out |= {
        "tar_far_1e-2": tar_at_far(s, y, 1e-2) if two else None,
        "tar_far_1e-3": tar_at_far(s, y, 1e-3) if two else None,
        "eer": eer(s, y) if two else None,
        "mean_cos_same": float(same.mean()) if same.size else None,
        "mean_one_minus_cos_diff": float((1.0 - diff).mean()) if diff.size else None,
    }
    return out


def group_seed(seed: int, key: Sequence) -> int:
    """A bootstrap seed for one group: stable across runs and machines (sha256, not ``hash()``)."""
    parts = [str(int(seed))] + [level_key(v) if isinstance(v, (float, np.floating)) else str(v) for v in key]
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")
