"""Verification, balanced: the second view of the identity folds, scored from the probes' own embeddings.

Every probe gives one **matched** pair, the probe (obfuscated) against its own person's sharp gallery photo, and
one **mismatched** pair: that same gallery photo against another target's probe (of any fold), chosen by a derangement
over identities (:func:`flup.data.balanced_pairs.deranged_partners`: probe i's gallery photo meets probe pi(i),
pi(i) never of i's person). So each sharp photo is in as many matched as mismatched pairs, and so is each obfuscated
probe: the two labels see the same photos on each side, and **a score that reads one side only has AUC 0.5 exactly**
(LFW's own pairs break this: their mismatched pairs take side a mostly from one-photo people, issue 25).

The AUC is P(matched score > mismatched score) over every matched x mismatched pair of a level (all folds pooled),
ties counting half; a missed face (end to end: its score is NaN) ties with every other score, a random guess.

The interval. The AUC is a two-sample U-statistic; with as many matched as mismatched pairs, row i carrying matched
pair i and mismatched pair i, its first-order expansion is ``AUC - theta ~ mean_i (V10_i + V01_i - 2 theta)``, with
``V10_i`` the share of mismatched scores below matched pair i and ``V01_i`` the share of matched scores above
mismatched pair i (DeLong's placement values). So the per-row **influence value** ``V10_i + V01_i - AUC`` has mean
exactly the AUC and the U-statistic's variance, and the identity-cluster bootstrap of its mean
(:func:`flup.evaluation.cluster_bootstrap.cluster_bootstrap_columns`, clusters: the row's gallery person) is the
interval, resampling people rather than pairs.

Pure: arrays in, arrays out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from flup.data.balanced_pairs import deranged_partners
from flup.data.identification import seeded_key


def pair_partners(identities: Sequence[str], seed: int, fold: int = 0) -> np.ndarray:
    """Per probe (in the given order), the index of the probe whose photo its gallery photo meets in
    the mismatched pair: a seeded derangement over identities (never the probe's own person). Raises ValueError
    when one person holds more than half the probes (no such derangement exists)."""
    people = np.asarray(identities, dtype=str)
    if people.size < 2:
        raise ValueError(f"{people.size} probe: a mismatched pair needs probes of two people")
    order = sorted(range(people.size),
                   key=lambda i: (seeded_key(seed, "pair-person", fold, people[i]), people[i], i))
    laid_out = [(str(people[i]), "", "") for i in order]
    partner_position = deranged_partners(laid_out, seed, fold)
    partner = np.empty(people.size, dtype=np.int64)
    partner[order] = np.asarray(order, dtype=np.int64)[partner_position]
    return partner


def pair_scores(probes: np.ndarray, own_gallery: np.ndarray, partner: np.ndarray,
                missed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(matched, mismatched) scores per probe row: the dot product of probe i with its person's gallery embedding
    (``own_gallery[i]``), and of that gallery embedding with probe ``partner[i]``; NaN where the probe scored is
    ``missed``."""
    p = np.asarray(probes, dtype=np.float64)
    g = np.asarray(own_gallery, dtype=np.float64)
    if p.shape != g.shape or p.ndim != 2:
        raise ValueError(f"probes and their gallery rows must be (n, d) alike, got {p.shape} and {g.shape}")
    matched = np.einsum("nd,nd->n", p, g)
    mismatched = np.einsum("nd,nd->n", p[partner], g)
    if missed is not None:
        missed = np.asarray(missed, dtype=bool)
        matched[missed] = np.nan
        mismatched[missed[partner]] = np.nan
    return matched, mismatched


def _twice_below(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per value: twice the number of ``reference`` scores strictly below it plus the number equal to it (integers,
    so sums are exact); NaN on either side counts as a tie."""
    finite = np.sort(reference[np.isfinite(reference)])
    n_nan = reference.size - finite.size
    safe = np.where(np.isfinite(values), values, 0.0)
    below = np.searchsorted(finite, safe, side="left")
    tied = np.searchsorted(finite, safe, side="right") - below
    return np.where(np.isfinite(values), 2 * below + tied + n_nan, reference.size).astype(np.int64)


def _checked(matched: np.ndarray, mismatched: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    matched, mismatched = np.asarray(matched, dtype=np.float64), np.asarray(mismatched, dtype=np.float64)
    if matched.size == 0 or mismatched.size == 0:
        raise ValueError("verification needs matched and mismatched scores")
    return matched, mismatched


def placements(matched: np.ndarray, mismatched: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's placement values: per matched score, the share of mismatched scores below it; per mismatched score,
    the share of matched scores above it (ties and NaN half)."""
    matched, mismatched = _checked(matched, mismatched)
    v10 = _twice_below(matched, mismatched) / (2.0 * mismatched.size)
    v01 = 1.0 - _twice_below(mismatched, matched) / (2.0 * matched.size)
    return v10, v01


def verification_auc(matched: np.ndarray, mismatched: np.ndarray) -> float:
    """P(matched > mismatched) over every pair of one matched and one mismatched score, ties and NaN half (counted
    in integers: a balanced attacker that reads one side only gets 0.5 exactly)."""
    matched, mismatched = _checked(matched, mismatched)
    return float(_twice_below(matched, mismatched).sum() / (2.0 * matched.size * mismatched.size))


def influence_values(matched: np.ndarray, mismatched: np.ndarray) -> np.ndarray:
    """Per row (matched pair i and mismatched pair i): ``V10_i + V01_i - AUC``, whose mean is the AUC and whose
    spread is the U-statistic's (rows must pair one matched with one mismatched score)."""
    if np.shape(matched) != np.shape(mismatched):
        raise ValueError(f"one matched and one mismatched score per row, got {np.shape(matched)} and "
                         f"{np.shape(mismatched)}")
    v10, v01 = placements(matched, mismatched)
    return v10 + v01 - verification_auc(matched, mismatched)
