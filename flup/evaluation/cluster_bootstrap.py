"""An identity-cluster bootstrap of weighted per-probe means, and of paired differences between two settings.

A probe's outcome is not independent of its identity's other probes (same person, same gallery photo), so the
unit of resampling is the identity: each replicate draws as many identities as there are, with replacement, and
takes every probe of each drawn identity as often as the identity was drawn. The statistic is the weighted mean
``sum(w * x) / sum(w)`` over the replicate. It is computed from per-identity sums: with the (B x n_ids) matrix of
draw counts ``C``, the replicates are ``(C @ S_wx) / (C @ S_w)``, one matrix product for every statistic at once.

The interval is the percentile interval of the replicates; ``se`` is their standard deviation (the relative
threshold's power margin reads it, ``flup.evaluation.verdicts.power_margin``). Seeded through a numpy Generator;
derive one seed per group with ``flup.verify.metrics.group_seed`` as the verification metrics do.

Pure: arrays in, :class:`Interval` out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flup.verify.metrics import BOOT_CHUNK_CELLS


@dataclass(frozen=True)
class Interval:
    """A weighted mean over probes with its identity-cluster bootstrap interval."""

    estimate: float  # the weighted mean over all probes
    low: float  # percentile interval of the replicates, at ``confidence``
    high: float
    se: float  # standard deviation of the replicates (ddof 1): the bootstrap standard error
    n_clusters: int  # the identities resampled
    confidence: float = 0.95

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def cluster_bootstrap(values: np.ndarray, clusters: np.ndarray, weights: np.ndarray | None = None,
                      n_boot: int = 1000, seed: int = 0, confidence: float = 0.95) -> Interval:
    """The weighted mean of ``values`` (one per probe) and its identity-cluster bootstrap interval.

    ``clusters`` labels each probe's identity (any sortable labels); ``weights`` are per probe, positive (None:
    every probe 1; ``flup.evaluation.identification.identity_weights`` gives every identity a total of 1).
    """
    return cluster_bootstrap_columns(np.asarray(values)[:, None], clusters, weights, n_boot, seed, confidence)[0]


def paired_cluster_bootstrap(values: np.ndarray, reference: np.ndarray, clusters: np.ndarray,
                             weights: np.ndarray | None = None, n_boot: int = 1000, seed: int = 0,
                             confidence: float = 0.95) -> Interval:
    """The weighted mean of ``values - reference`` and its identity-cluster bootstrap interval.

    ``values[i]`` and ``reference[i]`` are the same probe ``i`` under two settings (a level and the black box over
    the same region, say), so both are resampled together: the interval is that of the difference, narrower than
    two independent intervals wherever the settings agree probe by probe.
    """
    a = np.asarray(values, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    if a.shape != r.shape:
        raise ValueError(f"values and reference must be per probe alike: shapes {a.shape} vs {r.shape}")
    return cluster_bootstrap(a - r, clusters, weights, n_boot, seed, confidence)


def cluster_bootstrap_columns(values: np.ndarray, clusters: np.ndarray, weights: np.ndarray | None = None,
                              n_boot: int = 1000, seed: int = 0, confidence: float = 0.95) -> list[Interval]:
    """:func:`cluster_bootstrap` of each column of ``values`` (n_probes x m), every column from the same
    replicates (so the intervals of one table's metrics come from one resampling of its identities)."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"values must be (n_probes, m), got shape {x.shape}")
    n_probes = x.shape[0]
    w = np.ones(n_probes) if weights is None else np.asarray(weights, dtype=np.float64)
    labels = np.asarray(clusters)
    if w.shape != (n_probes,) or labels.shape != (n_probes,):
        raise ValueError(f"need one cluster and one weight per probe: {n_probes} probes, clusters "
                         f"{labels.shape}, weights {w.shape}")
    if n_probes == 0:
        raise ValueError("no probes")
    if not (np.isfinite(x).all() and np.isfinite(w).all()):
        raise ValueError("values or weights contain NaN or infinite values")
    if (w <= 0).any():
        raise ValueError("weights must be positive")
    if n_boot < 2:
        raise ValueError(f"n_boot must be >= 2, got {n_boot}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    _, inverse = np.unique(labels, return_inverse=True)
    n_ids = int(inverse.max()) + 1
    sum_w = np.bincount(inverse, weights=w, minlength=n_ids)
    sum_wx = np.stack([np.bincount(inverse, weights=w * col, minlength=n_ids) for col in x.T], axis=1)
    estimate = sum_wx.sum(axis=0) / sum_w.sum()
    replicates = _replicates(sum_wx, sum_w, n_boot, np.random.default_rng(seed))
    tail = (1 - confidence) / 2
    low, high = np.quantile(replicates, [tail, 1 - tail], axis=0)
    se = replicates.std(axis=0, ddof=1)
    return [Interval(float(estimate[j]), float(low[j]), float(high[j]), float(se[j]), n_ids, confidence)
            for j in range(x.shape[1])]


def _replicates(sum_wx: np.ndarray, sum_w: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, m) weighted means, each over a resample of the identities with replacement, from per-identity
    sums; the count matrices are drawn in chunks of about ``BOOT_CHUNK_CELLS`` cells."""
    n_ids = sum_w.size
    uniform = np.full(n_ids, 1.0 / n_ids)
    out = np.empty((n_boot, sum_wx.shape[1]))
    chunk = max(1, BOOT_CHUNK_CELLS // n_ids)
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        counts = rng.multinomial(n_ids, uniform, size=b).astype(np.float64)
        out[start:start + b] = (counts @ sum_wx) / (counts @ sum_w)[:, None]
    return out
