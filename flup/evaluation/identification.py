"""Identification of obfuscated probes against a sharp gallery, with a chance level that is exact by construction.

The gallery holds one sharp photo per person. Its **targets** are the people who have probes (obfuscated other
photos of them); its **distractors** are people with one photo, who can only be confused with. Each probe's row of
similarities to the gallery (higher = more alike) yields:

- **normalised rank** (the probe's AUC): the share of the *other targets'* gallery entries scored strictly below
  the true identity's, ties counting half. A closed set over the targets, so distractors, whose population differs
  from the targets' (one photo each), cannot move the chance level.
- **rank-k among N candidates**: the probability that the true identity is among the k best-scored when it
  competes with N - 1 others drawn at random, without replacement, from the other targets. Given that ``a`` of the
  T - 1 others outscore it, the number drawn among them is hypergeometric, so the probability is exact, with no
  sampling noise: ``P(rank <= k) = HypergeomCDF(k - 1; T - 1, a, N - 1)``. Chance is k / N.
- **rank-k over the whole gallery** (N = G, distractors included, nothing drawn): chance k / G, but only for an
  attacker that scores targets' and distractors' gallery photos alike; the closed-set metrics need no such proviso.

**Ties** are broken at random, and every probability is the expectation over that: with ``a`` others strictly
above and ``t`` tied, ``j`` of the tied ones land above with probability 1 / (t + 1) each (j = 0..t), so
``P = mean_j HypergeomCDF(k - 1; T - 1, a + j, N - 1)``; the normalised rank and the impostor counts count a tie
as half. For N = 2 this makes rank-1 equal to the normalised rank, probe by probe.

**A missed face** (end-to-end: the detector found none in the obfuscated probe) is a random guess: it ties with
every candidate, so its normalised rank is 0.5 and its rank-k among N is k / N, exactly, never a worst score.

**The null, exactly.** If an attacker's scores do not depend on the probe (``s_j`` per gallery column, however
skewed between populations), the normalised rank of identity i is ``r_i = sum_{j != i} ([s_j < s_i] + [s_j = s_i]
/ 2) / (T - 1)`` and every pair {i, j} contributes exactly 1 to ``sum_i r_i``, so ``sum_i r_i = T / 2``: with every
target identity weighted equally (:func:`identity_weights`) the mean is exactly 0.5. Likewise each tie-broken
ordering of the T targets puts the true identity at every position once, so rank-k among N averages exactly k / N.
(Missed faces keep this when detection does not depend on the identity; where it does, detection itself is
information read from the probe.)

Pure: arrays in, :class:`IdentificationOutcomes` and :class:`IdentificationMetric` out. Similarities are counted
in blocks of probes, so a matrix computed from embeddings is never held whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from scipy.stats import hypergeom

from flup.evaluation.cluster_bootstrap import Interval, cluster_bootstrap_columns

# Similarities are compared in blocks of probes of about this many cells (probes x gallery).
CHUNK_CELLS = 4_000_000
# (k, N) of the rank-k among N candidates reported by :func:`identification_summary`; N None: every target.
STANDARD_RANKS: tuple[tuple[int, int | None], ...] = ((1, 10), (5, 10), (1, 100), (5, 100), (1, None), (5, None))


@dataclass(frozen=True, eq=False)
class IdentificationOutcomes:
    """Per probe: where the true identity ranks among the gallery's targets, and among the whole gallery.

    Counts are of *other* gallery entries (the true one excluded). A missed probe ties with all of them.
    """

    true_column: np.ndarray  # (n_probes,) the gallery column of each probe's identity (a target)
    missed: np.ndarray  # (n_probes,) bool: no face detected, a random guess
    targets_above: np.ndarray  # (n_probes,) other targets scored strictly above the true identity
    targets_tied: np.ndarray  # (n_probes,) other targets scored equal to it
    gallery_above: np.ndarray  # (n_probes,) the same over the whole gallery, distractors included
    gallery_tied: np.ndarray
    n_targets: int  # T: the gallery's target identities
    n_gallery: int  # G: all gallery entries, targets and distractors

    @property
    def n_probes(self) -> int:
        return int(self.true_column.size)

    @property
    def normalised_rank(self) -> np.ndarray:
        """Per probe: the share of the other targets scored below the true identity, ties half (0.5: chance)."""
        return 1.0 - self.impostors_above() / (self.n_targets - 1)

    def impostors_above(self, whole_gallery: bool = False) -> np.ndarray:
        """Per probe: the other targets (or, ``whole_gallery``, gallery entries) outscoring the true identity,
        ties half."""
        if whole_gallery:
            return self.gallery_above + 0.5 * self.gallery_tied
        return self.targets_above + 0.5 * self.targets_tied

    def rank_probability(self, k: int, n_candidates: int | None = None) -> np.ndarray:
        """Per probe: the exact probability that the true identity ranks among the best ``k`` of ``n_candidates``
        (None: all T targets): itself and N - 1 others drawn without replacement from the other targets, ties
        broken at random. Chance: k / N."""
        n = self.n_targets if n_candidates is None else int(n_candidates)
        _check_rank(k, n, self.n_targets, "target identities")
        others = self.n_targets - 1
        cdf = hypergeom.cdf(k - 1, others, np.arange(others + 1), n - 1)
        probability = _tie_average(cdf, self.targets_above, self.targets_tied)
        probability[self.missed] = k / n
        return probability

    def gallery_rank_probability(self, k: int = 1) -> np.ndarray:
        """Per probe: the probability that the true identity ranks among the best ``k`` of the whole gallery,
        distractors included, ties broken at random. Chance: k / G."""
        _check_rank(k, self.n_gallery, self.n_gallery, "gallery entries")
        tied = self.gallery_tied + 1  # the true identity among the entries tied with it
        probability = np.clip(k - self.gallery_above, 0, tied) / tied
        probability[self.missed] = k / self.n_gallery
        return probability


def _check_rank(k: int, n: int, available: int, what: str) -> None:
    if not 2 <= n <= available:
        raise ValueError(f"N = {n} candidates needs 2 <= N <= {available}, the {what}")
    if not 1 <= k <= n:
        raise ValueError(f"rank-{k} among {n}: k must be in 1..N")


def _tie_average(cdf: np.ndarray, above: np.ndarray, tied: np.ndarray) -> np.ndarray:
    """``mean(cdf[above + j] for j in 0..tied)`` per probe, in O(1) each through a cumulative sum (rows without
    ties read ``cdf`` directly, so that they carry no rounding of the sum)."""
    cumulative = np.concatenate([[0.0], np.cumsum(cdf)])
    averaged = (cumulative[above + tied + 1] - cumulative[above]) / (tied + 1)
    return np.where(tied == 0, cdf[above], averaged)


def outcomes_from_similarity(similarity: np.ndarray, true_column: np.ndarray, is_target: np.ndarray,
                             missed: np.ndarray | None = None,
                             chunk_cells: int = CHUNK_CELLS) -> IdentificationOutcomes:
    """Identification outcomes from a (n_probes x n_gallery) similarity matrix (higher = more alike).

    ``true_column[i]``: the gallery column of probe i's identity, which must be a target; ``is_target``: per
    gallery column, whether it is a target (has probes) rather than a distractor; ``missed``: per probe, no face
    found (its row is not read and may hold anything, NaN included).
    """
    sims = np.asarray(similarity)
    if sims.ndim != 2:
        raise ValueError(f"similarity must be (n_probes, n_gallery), got shape {sims.shape}")
    return _outcomes(sims.shape[0], sims.shape[1], lambda rows: sims[rows], true_column, is_target, missed,
                     chunk_cells)


def outcomes_from_embeddings(probes: np.ndarray, gallery: np.ndarray, true_column: np.ndarray,
                             is_target: np.ndarray, missed: np.ndarray | None = None,
                             chunk_cells: int = CHUNK_CELLS) -> IdentificationOutcomes:
    """Identification outcomes from probe (n_probes x d) and gallery (n_gallery x d) embeddings, scored by dot
    product (cosine similarity for unit rows), one block of probes at a time in the embeddings' float type.
    Arguments as :func:`outcomes_from_similarity`'s; a missed probe's embedding is not read."""
    p, g = np.asarray(probes), np.asarray(gallery)
    if p.ndim != 2 or g.ndim != 2 or p.shape[1] != g.shape[1]:
        raise ValueError(f"probes and gallery must be (n, d) with the same d, got {p.shape} and {g.shape}")
    dtype = np.result_type(p.dtype, g.dtype, np.float32)
    g_t = g.astype(dtype, copy=False).T
    return _outcomes(p.shape[0], g.shape[0], lambda rows: p[rows].astype(dtype, copy=False) @ g_t, true_column,
                     is_target, missed, chunk_cells)


def _outcomes(n_probes: int, n_gallery: int, score_rows: Callable[[np.ndarray], np.ndarray],
              true_column: np.ndarray, is_target: np.ndarray, missed: np.ndarray | None,
              chunk_cells: int) -> IdentificationOutcomes:
    true_column = np.asarray(true_column)
    is_target = np.asarray(is_target)
    missed = np.zeros(n_probes, dtype=bool) if missed is None else np.asarray(missed)
    if true_column.shape != (n_probes,) or missed.shape != (n_probes,) or is_target.shape != (n_gallery,):
        raise ValueError(f"need a true column and a missed flag per probe ({n_probes}) and a target flag per "
                         f"gallery entry ({n_gallery}): got {true_column.shape}, {missed.shape}, {is_target.shape}")
    if is_target.dtype != bool or missed.dtype != bool or not np.issubdtype(true_column.dtype, np.integer):
        raise ValueError("is_target and missed must be boolean, true_column integer")
    if n_probes and not ((true_column >= 0) & (true_column < n_gallery)).all():
        raise ValueError(f"true_column must index the gallery's {n_gallery} columns")
    if not is_target[true_column].all():
        raise ValueError("every probe's true column must be a target (is_target)")
    n_targets = int(is_target.sum())
    if n_targets < 2:
        raise ValueError(f"identification needs at least 2 target identities, got {n_targets}")
    # A missed face ties with every candidate: the counts of a uniform random rank.
    targets_above = np.zeros(n_probes, dtype=np.int64)
    gallery_above = np.zeros(n_probes, dtype=np.int64)
    targets_tied = np.full(n_probes, n_targets - 1, dtype=np.int64)
    gallery_tied = np.full(n_probes, n_gallery - 1, dtype=np.int64)
    for rows in _blocks(np.flatnonzero(~missed), max(1, chunk_cells // max(1, n_gallery))):
        block = score_rows(rows)
        if not np.isfinite(block).all():
            raise ValueError("similarities of detected probes contain NaN or infinite values")
        true = block[np.arange(rows.size), true_column[rows]][:, None]
        above, tied = block > true, block == true
        gallery_above[rows] = above.sum(axis=1)
        gallery_tied[rows] = tied.sum(axis=1) - 1
        targets_above[rows] = (above & is_target).sum(axis=1)
        targets_tied[rows] = (tied & is_target).sum(axis=1) - 1
    return IdentificationOutcomes(true_column.copy(), missed.copy(), targets_above, targets_tied, gallery_above,
                                  gallery_tied, n_targets, n_gallery)


def _blocks(rows: np.ndarray, size: int) -> Iterable[np.ndarray]:
    for start in range(0, rows.size, size):
        yield rows[start:start + size]


def identity_weights(identities: np.ndarray) -> np.ndarray:
    """Per probe, 1 / (the number of probes of its identity): every identity weighs 1 in total, so none
    dominates and an attacker that reads only the gallery is at chance exactly (the cap on probes per identity
    is the protocol's, upstream)."""
    _, inverse, counts = np.unique(np.asarray(identities), return_inverse=True, return_counts=True)
    return 1.0 / counts[inverse]


@dataclass(frozen=True)
class IdentificationMetric:
    """One identification metric of a table's cell: its weighted mean over probes, interval and chance."""

    name: str  # "auc", "rank1@10", "rank5@all" (every target), "rank1@gallery", "detected"
    k: int | None  # rank-k; None for the AUC and the detection rate
    n_candidates: int | None  # N; None for the AUC and the detection rate
    chance: float | None  # the value of an attacker that learns nothing; None for the detection rate
    interval: Interval | None  # None: N exceeds this gallery's target identities


def identification_summary(outcomes: IdentificationOutcomes, weights: np.ndarray | None = None,
                           ranks: Iterable[tuple[int, int | None]] = STANDARD_RANKS, n_boot: int = 1000,
                           seed: int = 0, confidence: float = 0.95) -> dict[str, IdentificationMetric]:
    """The identification AUC, rank-k among N for each (k, N) of ``ranks`` (N None: every target), rank-1 over
    the whole gallery, and the detection rate, each a weighted mean over probes with an identity-cluster bootstrap
    interval (all from the same replicates). ``weights``: per probe (None: :func:`identity_weights`); the
    clusters are the probes' true columns. A rank whose N exceeds the target identities gets no interval."""
    weights = identity_weights(outcomes.true_column) if weights is None else np.asarray(weights, dtype=np.float64)
    specs: list[tuple[str, int | None, int | None, float | None]] = [("auc", None, None, 0.5)]
    columns = {"auc": outcomes.normalised_rank}
    for k, n in ranks:
        n_value = outcomes.n_targets if n is None else n
        name = f"rank{k}@{'all' if n is None else n}"
        specs.append((name, k, n_value, k / n_value))
        if n_value <= outcomes.n_targets:
            columns[name] = outcomes.rank_probability(k, n_value)
    specs.append(("rank1@gallery", 1, outcomes.n_gallery, 1 / outcomes.n_gallery))
    columns["rank1@gallery"] = outcomes.gallery_rank_probability(1)
    specs.append(("detected", None, None, None))
    columns["detected"] = (~outcomes.missed).astype(np.float64)
    intervals = dict(zip(columns, cluster_bootstrap_columns(np.stack(list(columns.values()), axis=1),
                                                            outcomes.true_column, weights, n_boot, seed, confidence),
                         strict=True))
    return {name: IdentificationMetric(name, k, n, chance, intervals.get(name)) for name, k, n, chance in specs}
