"""The identification protocol: identity folds, and per fold a gallery and probes.

- :func:`identity_folds` splits people (never images) into ``n_folds`` folds, stratified so that people with
  two or more usable photos (who can be probed) and people with one (distractors) are each spread evenly.
- :func:`identification_sets` builds, per fold, a gallery of one sharp photo per person and, per person with
  two or more usable photos (a *target*), up to ``probes_per_identity`` other photos of that person as probes,
  weighted so that every target weighs 1 whatever its number of probes.
- :func:`training_people` and :func:`require_unseen` are the cross-fitting side: a recogniser scoring fold ``k``
  trains on the other folds' people, and a probe or gallery person it saw is an error, never a silent leak.

A person's photos are ranked once by a seeded sha256 key (:func:`photo_order`): the first is the gallery photo,
the next ones the probes. So a larger cap only adds probes, and one person's draw does not depend on anyone
else's rows. Everything is a function of the seed and the *set* of rows (not their order), computed with
sha256 rather than ``hash()`` or a numpy stream, so it is the same on every machine and numpy version.

Tables use the repo's column names: ``identity`` and ``image`` (as the detection table and training tables do).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

GALLERY_COLUMNS = ["fold", "identity", "image", "target", "usable_images"]
PROBE_COLUMNS = ["probe_id", "fold", "identity", "image", "gallery_image", "weight"]
SUMMARY_COLUMNS = ["fold", "people", "targets", "distractors", "gallery", "probes"]


Mask = Sequence[bool] | np.ndarray | pd.Series | None  # which rows of an images table are usable; None: all


class IdentityLeakError(ValueError):
    """A held-out person (probe, gallery entry or pair side) is among the people a recogniser trained on."""


class IdentificationSets(NamedTuple):
    gallery: pd.DataFrame  # GALLERY_COLUMNS, one row per person with a usable photo
    probes: pd.DataFrame  # PROBE_COLUMNS, one row per probe photo


def seeded_key(seed: int, *parts: object) -> int:
    """A 64-bit sort key from ``seed`` and ``parts``: a seeded shuffle that is the same on every machine."""
    text = "\x1f".join([str(int(seed)), *map(str, parts)])
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def require_count(name: str, value: object, minimum: int, what: str) -> None:
    """A ValueError naming the parameter ``name`` unless ``value`` is an integer of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}: need at least {minimum} {what}, got {value!r}")


def photo_order(photos: Iterable[str], seed: int) -> list[str]:
    """``photos`` in their seeded order: the gallery photo first, then the probes."""
    return sorted(photos, key=lambda image: (seeded_key(seed, "photo", image), image))


def usable_photos(images: pd.DataFrame, eligible: Mask = None) -> dict[str, list[str]]:
    """``{identity: sorted images}`` of the rows of ``images`` (columns ``identity``, ``image``) that ``eligible``
    keeps (a boolean mask, e.g. a face was detected; a Series is aligned on ``images``' index; None keeps all).
    Every identity of ``images`` is a key, with an empty list where none of its photos is usable."""
    missing = {"identity", "image"} - set(images.columns)
    if missing:
        raise ValueError(f"images: needs the columns identity and image, missing {sorted(missing)}")
    if images["identity"].isna().any():
        raise ValueError(f"images: {int(images['identity'].isna().sum())} rows have no identity")
    repeated = images["image"][images["image"].duplicated()]
    if not repeated.empty:
        raise ValueError(f"images: image {repeated.iloc[0]!r} is listed more than once")
    keep = _mask(images, eligible)
    identities = images["identity"].astype(str)
    photos: dict[str, list[str]] = {person: [] for person in sorted(set(identities))}
    for person, image in zip(identities[keep], images["image"].astype(str)[keep], strict=True):
        photos[person].append(image)
    return {person: sorted(found) for person, found in photos.items()}


def _mask(images: pd.DataFrame, eligible: Mask) -> np.ndarray:
    if eligible is None:
        return np.ones(len(images), dtype=bool)
    if isinstance(eligible, pd.Series):
        aligned = eligible.reindex(images.index)
        if aligned.isna().any():
            raise ValueError(f"eligible: no value for {int(aligned.isna().sum())} rows of images (index mismatch)")
        eligible = aligned
    mask = np.asarray(eligible)
    if mask.shape != (len(images),) or mask.dtype != bool:
        raise ValueError(f"eligible: must be {len(images)} booleans (one per row of images), "
                         f"got shape {mask.shape} of {mask.dtype}")
    return mask


def identity_folds(images: pd.DataFrame, n_folds: int, seed: int,
                   eligible: Mask = None) -> pd.Series:
    """Every identity of ``images`` assigned to one of ``n_folds`` folds: a Series ``fold`` (0 .. n_folds - 1)
    indexed by ``identity``, sorted by identity.

    Three strata, by usable photo count (``eligible``, as in :func:`usable_photos`): two or more (targets),
    one (distractors), none. In each stratum fold sizes differ by at most one, and so do the folds' totals.
    Targets are dealt in rounds of ``n_folds`` from the most photographed down, each round to distinct folds and
    its largest person to the fold with the fewest photos so far: the few people with hundreds of photos land in
    different folds, and the folds' photo counts stay close.
    """
    require_count("n_folds", n_folds, 2, "folds (one to test, one to train on)")
    photos = usable_photos(images, eligible)
    targets = sum(len(found) >= 2 for found in photos.values())
    if targets < n_folds:
        raise ValueError(f"n_folds = {n_folds}: only {targets} people have two or more usable photos, so some fold "
                         f"would have no target identity; lower n_folds")
    people = np.zeros(n_folds, dtype=np.int64)  # people dealt to each fold so far
    photo_totals = np.zeros(n_folds, dtype=np.int64)
    assigned: dict[str, int] = {}
    strata = {
        "targets": [p for p, found in photos.items() if len(found) >= 2],
        "distractors": [p for p, found in photos.items() if len(found) == 1],
        "unusable": [p for p, found in photos.items() if not found],
    }
    for stratum, members in strata.items():
        ordered = sorted(members, key=lambda p: (-len(photos[p]), seeded_key(seed, "person", p), p))
        for start in range(0, len(ordered), n_folds):
            dealt = ordered[start:start + n_folds]
            tie = {f: seeded_key(seed, "fold", stratum, start, f) for f in range(n_folds)}
            # a short last round goes to the folds with the fewest people, keeping the totals within one
            chosen = sorted(range(n_folds), key=lambda f: (people[f], photo_totals[f], tie[f]))[:len(dealt)]
            chosen.sort(key=lambda f: (photo_totals[f], tie[f]))
            for person, fold in zip(dealt, chosen, strict=True):
                assigned[person] = fold
                people[fold] += 1
                photo_totals[fold] += len(photos[person])
    folds = pd.Series(assigned, name="fold", dtype=np.int64).sort_index()
    folds.index.name = "identity"
    return folds


def fold_of(folds: pd.Series | pd.DataFrame) -> pd.Series:
    """``folds`` as :func:`identity_folds` returns it, also accepting its table form (columns identity, fold,
    e.g. read back from a CSV); every identity in one fold only."""
    if isinstance(folds, pd.DataFrame):
        missing = {"identity", "fold"} - set(folds.columns)
        if missing:
            raise ValueError(f"folds: a table needs the columns identity and fold, missing {sorted(missing)}")
        folds = folds.set_index("identity")["fold"]
    folds = folds.set_axis(folds.index.astype(str))
    repeated = folds.index[folds.index.duplicated()]
    if len(repeated):
        raise ValueError(f"folds: identity {repeated[0]!r} is assigned to more than one fold")
    return folds.astype(np.int64)


def identification_sets(images: pd.DataFrame, folds: pd.Series | pd.DataFrame, probes_per_identity: int,
                        seed: int, eligible: Mask = None) -> IdentificationSets:
    """The gallery and the probes of every fold.

    gallery (GALLERY_COLUMNS): per person with a usable photo, the first of its :func:`photo_order`; ``target``
    is True where the person has two or more usable photos (it is probed), False for a one-photo distractor;
    ``usable_images`` counts its usable photos. Sorted by fold, identity.

    probes (PROBE_COLUMNS): per target, its next ``probes_per_identity`` photos (never the gallery photo), with
    ``gallery_image`` the person's gallery photo and ``weight`` 1 / (the person's probe count), so each target
    sums to 1. Sorted by fold, identity, image; ``probe_id`` numbers the rows.

    Raises ValueError for a person of ``images`` without a fold, a cap below 1, or a fold whose gallery has no
    target or fewer than two people (nothing to rank).
    """
    require_count("probes_per_identity", probes_per_identity, 1, "probe per identity")
    photos = usable_photos(images, eligible)
    folds = fold_of(folds)
    fold = fold_per_person(folds, photos)
    gallery_rows, probe_rows = [], []
    for person, found in photos.items():
        if not found:
            continue
        ranked = photo_order(found, seed)
        gallery_rows.append((fold[person], person, ranked[0], len(ranked) >= 2, len(ranked)))
        probed = ranked[1:1 + probes_per_identity]
        probe_rows += [(fold[person], person, image, ranked[0], 1.0 / len(probed)) for image in sorted(probed)]
    gallery = pd.DataFrame(gallery_rows, columns=GALLERY_COLUMNS).sort_values(["fold", "identity"])
    probes = pd.DataFrame(probe_rows, columns=PROBE_COLUMNS[1:]).sort_values(["fold", "identity", "image"])
    probes.insert(0, "probe_id", np.arange(len(probes)))
    _require_rankable(gallery, sorted(set(folds)))
    return IdentificationSets(gallery.reset_index(drop=True), probes.reset_index(drop=True))


def fold_per_person(folds: pd.Series, photos: dict[str, list[str]]) -> dict[str, int]:
    """``{identity: fold}`` for every identity of ``photos``; a ValueError naming one that ``folds`` lacks."""
    unassigned = sorted(set(photos) - set(folds.index))
    if unassigned:
        raise ValueError(f"folds: {len(unassigned)} people of images have no fold, e.g. {unassigned[0]!r}; "
                         f"build the folds from the same images")
    fold = folds.to_dict()
    return {person: int(fold[person]) for person in photos}


def _require_rankable(gallery: pd.DataFrame, fold_numbers: list[int]) -> None:
    for number in fold_numbers:
        entries = gallery[gallery["fold"] == number]
        if not entries["target"].any():
            raise ValueError(f"fold {number} has no target identity (no person with two or more usable photos): "
                             f"nothing to probe; lower n_folds")
        if len(entries) < 2:
            raise ValueError(f"fold {number}: its gallery has {len(entries)} person, nothing to rank against; "
                             f"lower n_folds")


def fold_summary(gallery: pd.DataFrame, probes: pd.DataFrame) -> pd.DataFrame:
    """Per fold (SUMMARY_COLUMNS): people in the gallery, targets, distractors, gallery size and probes."""
    by_fold = gallery.groupby("fold")
    summary = pd.DataFrame({
        "people": by_fold.size(),
        "targets": by_fold["target"].sum(),
        "probes": probes.groupby("fold").size(),
    }).fillna(0).astype(np.int64)
    summary["distractors"] = summary["people"] - summary["targets"]
    summary["gallery"] = summary["people"]
    return summary.rename_axis("fold").reset_index()[SUMMARY_COLUMNS]


def training_people(folds: pd.Series | pd.DataFrame, held_out: int) -> set[str]:
    """The people a recogniser scoring fold ``held_out`` may train on: those of every other fold."""
    folds = fold_of(folds)
    if held_out not in set(folds):
        raise ValueError(f"held_out: fold {held_out!r} is not one of the folds {sorted(set(folds))}")
    return set(folds.index[folds != held_out].astype(str))


def require_unseen(trained_on: Iterable[str], held_out: int, *, gallery: pd.DataFrame | None = None,
                   probes: pd.DataFrame | None = None, pairs: pd.DataFrame | None = None) -> None:
    """Raise IdentityLeakError, naming the person, if any gallery entry, probe or pair side of fold ``held_out``
    is a person of ``trained_on`` (the recogniser's training people). ``gallery`` and ``probes`` have an
    ``identity`` column, ``pairs`` ``identity_a`` and ``identity_b`` (:func:`flup.data.balanced_pairs`); each
    has a ``fold`` column. A ValueError if none of the tables given has a row of fold ``held_out``."""
    seen = set(map(str, trained_on))
    tables = {"gallery": (gallery, ["identity"]), "probes": (probes, ["identity"]),
              "pairs": (pairs, ["identity_a", "identity_b"])}
    rows_checked = 0
    for what, (table, columns) in tables.items():
        if table is None:
            continue
        held = table[table["fold"] == held_out]
        rows_checked += len(held)
        named = sorted({str(person) for column in columns for person in held[column]} & seen)
        if named:
            more = f" (and {len(named) - 1} more)" if len(named) > 1 else ""
            raise IdentityLeakError(f"{what} of held-out fold {held_out}: person {named[0]!r}{more} is among the "
                                    f"{len(seen)} people the recogniser trained on; train it on "
                                    f"training_people(folds, {held_out}) only")
    if rows_checked == 0:
        raise ValueError(f"held_out: no gallery, probe or pair row is in fold {held_out!r}; nothing was checked")
