"""Verification pairs whose chance level is exactly 0.5: the second view of the identity folds.

Per fold, every target (a person with two or more usable photos) gives matched pairs of two distinct photos of
its own, side a and side b (either side may be the one obfuscated), no photo used twice. The mismatched pairs
re-pair the same photos: matched pair i's side a with matched pair pi(i)'s side b, where pi is a derangement
*over identities* (pi(i) is always another person's pair). So every side-a photo is in exactly one matched and
one mismatched pair, and so is every side-b photo: the two labels see the same multiset of side-a photos and
the same multiset of side-b photos, and any score that reads one side only has AUC exactly 0.5 (ties count one
half). LFW's own pairs break this (their mismatched side a comes mostly from one-photo people).

The derangement: pairs are laid out person after person (people in a seeded order), and pair i is mismatched
with pair (i + shift) mod n, for a seeded shift between m and n - m, m the largest person's pair count. A person's
pairs are one contiguous run no longer than the shift and no longer than n - shift, so the shift always lands
on someone else. That needs m <= n / 2: a person with more pairs than everyone else of the fold together (a
dominant identity, e.g. George_W_Bush in a small fold with pairs_per_identity > 1) keeps only as many pairs as
the others have.
"""

from __future__ import annotations

import logging

import pandas as pd

from flup.data.identification import (
    Mask,
    fold_of,
    fold_per_person,
    photo_order,
    require_count,
    seeded_key,
    usable_photos,
)
from flup.data.protocols import PAIR_COLUMNS

log = logging.getLogger(__name__)

Pair = tuple[str, str, str]  # (identity, image_a, image_b)


def balanced_pairs(images: pd.DataFrame, folds: pd.Series | pd.DataFrame, seed: int, pairs_per_identity: int = 1,
                   eligible: Mask = None) -> pd.DataFrame:
    """Matched and mismatched pairs of every fold, as many of each, in the repo's pairs table (PAIR_COLUMNS:
    pair_id, fold, label 1/0, image_a, image_b, identity_a, identity_b), sorted by fold, label (matched first),
    identity_a, image_a.

    Per target, up to ``pairs_per_identity`` matched pairs from its :func:`~flup.data.identification.photo_order`
    taken two at a time: with 1, the pair is the person's gallery photo (side a) and its first probe (side b).
    ``images``, ``folds`` and ``eligible`` are as for :func:`~flup.data.identification.identification_sets`.
    Raises ValueError for a cap below 1 or a fold with fewer than two targets (no mismatched pair possible).
    """
    require_count("pairs_per_identity", pairs_per_identity, 1, "pair per identity")
    photos = usable_photos(images, eligible)
    folds = fold_of(folds)
    fold = fold_per_person(folds, photos)
    matched_by_fold: dict[int, dict[str, list[Pair]]] = {number: {} for number in sorted(set(folds))}
    for person, found in photos.items():
        ranked = photo_order(found, seed)
        matched = [(person, ranked[2 * k], ranked[2 * k + 1]) for k in range(min(pairs_per_identity, len(ranked) // 2))]
        if matched:
            matched_by_fold[fold[person]][person] = matched
    rows = []
    for number, by_person in matched_by_fold.items():
        matched = _without_dominance(number, by_person, seed)
        partner = deranged_partners(matched, seed, number)
        rows += [(number, 1, a, b, person, person) for person, a, b in matched]
        rows += [(number, 0, a, matched[j][2], person, matched[j][0])
                 for (person, a, _), j in zip(matched, partner, strict=True)]
    table = pd.DataFrame(rows, columns=PAIR_COLUMNS[1:])
    table = table.sort_values(["fold", "label", "identity_a", "image_a"], ascending=[True, False, True, True])
    table.insert(0, "pair_id", range(len(table)))
    return table.reset_index(drop=True)


def _without_dominance(fold: int, by_person: dict[str, list[Pair]], seed: int) -> list[Pair]:
    """The fold's matched pairs, person after person in a seeded order, the largest person cut to the others'
    total where it has more (so a derangement over identities exists)."""
    if len(by_person) < 2:
        raise ValueError(f"fold {fold}: {len(by_person)} target identity, so no mismatched pair of two people can "
                         f"be drawn; lower n_folds")
    people = sorted(by_person, key=lambda person: (seeded_key(seed, "pair-person", fold, person), person))
    largest = max(people, key=lambda person: (len(by_person[person]), person))
    others = sum(len(by_person[person]) for person in people if person != largest)
    if len(by_person[largest]) > others:
        log.info("fold %d: %s has %d matched pairs, more than the other %d people together (%d); keeping %d",
                 fold, largest, len(by_person[largest]), len(people) - 1, others, others)
        by_person = {**by_person, largest: by_person[largest][:others]}
    return [pair for person in people for pair in by_person[person]]


def deranged_partners(pairs: list[Pair], seed: int, fold: int = 0) -> list[int]:
    """For each matched pair i (identity first; each identity's pairs contiguous), the index of the pair whose
    side b it is mismatched with: a permutation with no i sent to a pair of its own identity."""
    n = len(pairs)
    runs: dict[str, int] = {}
    for index, (person, _, _) in enumerate(pairs):
        if person in runs and pairs[index - 1][0] != person:
            raise ValueError(f"pairs: the pairs of {person!r} are not contiguous")
        runs[person] = runs.get(person, 0) + 1
    longest = max(runs.values())
    if 2 * longest > n:
        raise ValueError(f"pairs: {max(runs, key=runs.get)!r} has {longest} of {n} pairs, more than half, so no "
                         f"derangement over identities exists")
    shift = longest + seeded_key(seed, "shift", fold) % (n - 2 * longest + 1)
    return [(i + shift) % n for i in range(n)]
