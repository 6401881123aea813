"""Evaluation protocols: who trains, which pairs test.

- ``view1``: LFW View 1. Train on peopleDevTrain people with >= 2 images; test on pairsDevTest.
  The two sides share no person.
- ``view2``: LFW View 2, the 6,000 pairs of pairs.txt in 10 folds (for recognisers that need no training).
- ``seed``: the original study's split: people with >= 2 images, a random 80/20 split *by image*
  and random test pairs. Test people also appear in training: that leakage is measured, not hidden.

Every protocol yields a pairs table (``pair_id, fold, label, image_a, image_b, identity_a,
identity_b``) and, where models train, a training table (``identity, image``).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from flup.config.params import ParamError
from flup.data import lfw

if TYPE_CHECKING:
    from flup.config.schema import SeedProtocol

PAIR_COLUMNS = ["pair_id", "fold", "label", "image_a", "image_b", "identity_a", "identity_b"]


def pairs_table(pairs: list[lfw.Pair]) -> pd.DataFrame:
    rows = [
        (i, p.fold, int(p.same), p.image_a, p.image_b, lfw.identity_of(p.image_a), lfw.identity_of(p.image_b))
        for i, p in enumerate(pairs)
    ]
    return pd.DataFrame(rows, columns=PAIR_COLUMNS)


def keep_available(pairs: pd.DataFrame, available: set[str]) -> tuple[pd.DataFrame, int]:
    """Drop pairs naming an image that is not available; return the kept pairs and the dropped count."""
    mask = pairs["image_a"].isin(available) & pairs["image_b"].isin(available)
    return pairs[mask].reset_index(drop=True), int((~mask).sum())


def training_table(people: list[str], images_by_person: dict[str, list[str]], min_images: int) -> pd.DataFrame:
    rows = [
        (person, image)
        for person in sorted(people)
        if len(images_by_person.get(person, [])) >= min_images
        for image in images_by_person[person]
    ]
    return pd.DataFrame(rows, columns=["identity", "image"])


def view1(train_people: list[str], test_pairs: list[lfw.Pair], images_by_person: dict[str, list[str]]):
    """(training table, test pairs) of LFW View 1."""
    available = {image for images in images_by_person.values() for image in images}
    pairs, dropped = keep_available(pairs_table(test_pairs), available)
    return training_table(train_people, images_by_person, 2), pairs, dropped


def view2(pairs: list[lfw.Pair], images_by_person: dict[str, list[str]]):
    available = {image for images in images_by_person.values() for image in images}
    return keep_available(pairs_table(pairs), available)


def seed_protocol(
    images_by_person: dict[str, list[str]],
    min_images: int,
    test_fraction: float,
    same_pairs: int,
    different_pairs: int,
    random_seed: int,
):
    """The original study's protocol: a random split by image, then random test pairs.

    Returns (training table, test pairs, info) where info counts the identity leakage.
    """
    rng = np.random.default_rng(random_seed)
    eligible = sorted(p for p, images in images_by_person.items() if len(images) >= min_images)
    images = np.array([image for person in eligible for image in sorted(images_by_person[person])])
    order = rng.permutation(len(images))
    n_test = int(round(test_fraction * len(images)))
    test_images = sorted(images[order[:n_test]].tolist())
    train_images = sorted(images[order[n_test:]].tolist())

    test_by_person: dict[str, list[str]] = {}
    for image in test_images:
        test_by_person.setdefault(lfw.identity_of(image), []).append(image)

    same, same_candidates = balanced_same_pairs(test_by_person, same_pairs, rng)
    different = _different_pairs(test_images, different_pairs, rng)
    pairs = [lfw.Pair(a, b, True, 0, 0) for a, b in same] + [lfw.Pair(a, b, False, 0, 0) for a, b in sorted(different)]
    table = pairs_table(pairs)

    train = pd.DataFrame({"identity": [lfw.identity_of(i) for i in train_images], "image": train_images})
    test_people = set(table["identity_a"]) | set(table["identity_b"])
    leaked = test_people & set(train["identity"])
    info = {
        "same_pairs_possible": same_candidates,
        "test_people": len(test_people),
        "test_people_in_training": len(leaked),
        "leak_fraction": round(len(leaked) / len(test_people), 4) if test_people else None,
    }
    return train, table, info


def balanced_same_pairs(
    images_by_person: dict[str, list[str]], wanted: int, rng: np.random.Generator
) -> tuple[list[tuple[str, str]], int]:
    """Up to ``wanted`` same-person pairs, identity-balanced; also returns how many were possible.

    People take turns (in a seeded order), each drawing an unused pair of their own, so the few
    people with hundreds of photos cannot fill the list.
    """
    pools = {
        person: [tuple(pair) for pair in itertools.combinations(images, 2)]
        for person, images in sorted(images_by_person.items())
        if len(images) >= 2
    }
    for pool in pools.values():
        rng.shuffle(pool)
    possible = sum(len(pool) for pool in pools.values())
    same: list[tuple[str, str]] = []
    turn_order = [list(pools)[i] for i in rng.permutation(len(pools))]
    while len(same) < wanted and any(pools[p] for p in turn_order):
        for person in turn_order:
            if pools[person] and len(same) < wanted:
                same.append(pools[person].pop())
    return same, possible


def balanced_different_pairs(
    images_by_person: dict[str, list[str]], wanted: int, rng: np.random.Generator
) -> list[tuple[str, str]]:
    """Up to ``wanted`` distinct different-person pairs: two people drawn uniformly, then a photo of each.

    Drawing people rather than photos keeps the prolific few from dominating this side too.
    """
    people = sorted(p for p, images in images_by_person.items() if images)
    if len(people) < 2:
        return []
    sizes = np.array([len(images_by_person[p]) for p in people], dtype=np.int64)
    possible = (int(sizes.sum()) ** 2 - int((sizes**2).sum())) // 2
    wanted = min(wanted, possible)
    chosen: set[tuple[str, str]] = set()
    ordered: list[tuple[str, str]] = []
    while len(ordered) < wanted:
        p, q = rng.choice(len(people), 2, replace=False)
        a = images_by_person[people[p]][int(rng.integers(sizes[p]))]
        b = images_by_person[people[q]][int(rng.integers(sizes[q]))]
        key = (min(a, b), max(a, b))
        if key not in chosen:
            chosen.add(key)
            ordered.append(key)
    return ordered


def evaluation_pairs(index: pd.DataFrame, same_pairs: int, different_pairs: int, random_seed: int) -> pd.DataFrame:
    """Seeded, identity-balanced test pairs of an evaluation-only dataset (``image``, ``identity`` columns)."""
    rng = np.random.default_rng(random_seed)
    images_by_person = {person: sorted(group) for person, group in index.groupby("identity")["image"]}
    identity = dict(zip(index["image"], index["identity"], strict=True))
    same, _ = balanced_same_pairs(images_by_person, same_pairs, rng)
    different = balanced_different_pairs(images_by_person, different_pairs, rng)
    rows = [(a, b, 1) for a, b in same] + [(a, b, 0) for a, b in different]
    return pd.DataFrame(
        [(i, 0, label, a, b, identity[a], identity[b]) for i, (a, b, label) in enumerate(rows)], columns=PAIR_COLUMNS
    )


def _different_pairs(images: list[str], wanted: int, rng: np.random.Generator) -> set[tuple[str, str]]:
    """Up to ``wanted`` distinct unordered pairs of images of different people, drawn at random."""
    sizes = pd.Series([lfw.identity_of(i) for i in images]).value_counts()
    possible = (len(images) ** 2 - int((sizes**2).sum())) // 2
    if possible <= 4 * wanted:  # small test sets: enumerate, so the draw always terminates
        candidates = [
            (a, b) for a, b in itertools.combinations(images, 2) if lfw.identity_of(a) != lfw.identity_of(b)
        ]
        return {candidates[i] for i in rng.choice(len(candidates), min(wanted, len(candidates)), replace=False)}
    different: set[tuple[str, str]] = set()
    while len(different) < wanted:
        a, b = sorted(rng.choice(len(images), 2, replace=False))
        if lfw.identity_of(images[a]) != lfw.identity_of(images[b]):
            different.add((images[a], images[b]))
    return different


def require_both_kinds(pairs: pd.DataFrame, minimum: int, what: str, key: str, remedy: str, detail: str = "") -> None:
    """Refuse a pairs table with fewer than ``minimum`` (the parameter ``key``) same-person or different-person
    pairs: an AUC or an accuracy over one kind of pair, or a handful, is no verdict. The ParamError starts with
    ``what`` (``params.yaml: datasets.<name>``), gives the counts (``detail`` after them) and ends with ``remedy``."""
    same = int((pairs["label"] == 1).sum())
    different = int((pairs["label"] == 0).sum())
    if same < minimum or different < minimum:
        raise ParamError(f"{what}: {same} same-person and {different} different-person pairs{detail}, fewer than "
                         f"{key} = {minimum} of each kind, so no verdict can rest on them; {remedy}")


def describe(train: pd.DataFrame | None, pairs: pd.DataFrame, dropped: int) -> dict:
    test_people = set(pairs["identity_a"]) | set(pairs["identity_b"])
    summary = {
        "pairs": len(pairs),
        "same_pairs": int(pairs["label"].sum()),
        "different_pairs": int((pairs["label"] == 0).sum()),
        "folds": int(pairs["fold"].nunique()),
        "test_people": len(test_people),
        "pairs_dropped_unavailable": dropped,
    }
    if train is not None:
        summary["train_people"] = int(train["identity"].nunique())
        summary["train_images"] = len(train)
        summary["test_people_in_training"] = len(test_people & set(train["identity"]))
    return summary


PROTOCOL_OF = {"peopleDevTrain.txt": "view1", "pairsDevTest.txt": "view1", "pairs.txt": "view2"}


def lfw_protocols(raw: Path, faces: pd.DataFrame, seed: SeedProtocol, min_pairs_per_label: int = 1,
                  source: str | None = None) -> dict[str, tuple]:
    """view1, view2 and seed from the fetched protocol files in ``raw`` and the detection table ``faces``
    (its images, by identity): ``{name: (training table or None, pairs table, description)}``.

    A protocol with fewer than ``min_pairs_per_label`` (``protocols.min_pairs_per_label``) pairs of either kind is
    refused, and so is a missing protocol file, naming ``source`` (``data.source``) and the remedy: ParamError."""
    images_by_person = faces.groupby("identity")["image"].apply(sorted).to_dict()

    def protocol_file(name: str) -> Path:
        path = raw / name
        if not path.exists():
            where = repr(source) if source is not None else "the source"
            raise ParamError(
                f"params.yaml: data.source: {where} (with data.extra_sources) has no {name}, which the "
                f"{PROTOCOL_OF[name]} protocol needs ({path} is missing; {raw}/report.json lists what fetch found); "
                f"point data.source at a full LFW copy ({', '.join(lfw.PAIR_FILES + lfw.PEOPLE_FILES)} beside the "
                f"images) or add a source holding {name} to data.extra_sources, then rerun fetch")
        return path

    outputs = {}
    train_people = list(lfw.parse_people(protocol_file("peopleDevTrain.txt")))
    train, pairs, dropped = view1(train_people, lfw.parse_pairs(protocol_file("pairsDevTest.txt")), images_by_person)
    overlap = set(train["identity"]) & (set(pairs["identity_a"]) | set(pairs["identity_b"]))
    if overlap:
        raise ValueError(f"view1: {len(overlap)} test people are training people, e.g. {sorted(overlap)[:3]}")
    outputs["view1"] = (train, pairs, describe(train, pairs, dropped))

    pairs, dropped = view2(lfw.parse_pairs(protocol_file("pairs.txt")), images_by_person)
    outputs["view2"] = (None, pairs, describe(None, pairs, dropped))

    train, pairs, info = seed_protocol(images_by_person, seed.min_images, seed.test_fraction, seed.same_pairs,
                                       seed.different_pairs, seed.random_seed)
    outputs["seed"] = (train, pairs, {**describe(train, pairs, 0), **info})
    for name, (_, pairs, _) in outputs.items():
        require_both_kinds(pairs, min_pairs_per_label, f"params.yaml: protocols: {name}",
                           "protocols.min_pairs_per_label", "check data.source and data.max_people (the copy or the "
                           "subset keeps too few of its pairs), or lower protocols.min_pairs_per_label")
    return outputs
