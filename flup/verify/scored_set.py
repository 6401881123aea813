"""A dataset's scored test set: its protocols' pairs and the detections of their images.

A recogniser we trained scores only pairs none of whose people it trained on
(:func:`unseen_by`); the one exception is the seed protocol's own split by image, whose
leakage is the point of scoring it: those pairs are kept whole and marked ``seen_identities``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from flup.config.paths import LFW, DatasetPaths
from flup.io import read_table

log = logging.getLogger(__name__)
LEAKY_PROTOCOLS = ("seed",)  # split by image: its test people are its training people, on purpose


@dataclass(frozen=True)
class ScoredSet:
    pairs: dict[str, pd.DataFrame]  # protocol -> pairs table
    sharp_side: str  # "a" or "b": the pair column that stays sharp
    faces: pd.DataFrame  # detections of the images with a face, indexed by image
    sharp_images: list[str]  # sharp-side images that can be embedded
    seen: frozenset[str] = frozenset()  # protocols scored although their pairs name the recogniser's training people


def load_test_set(paths: DatasetPaths, obfuscated_side: str) -> ScoredSet:
    """The pairs of every protocol in ``paths`` whose ``obfuscated_side`` (render.obfuscated_side) is rendered."""
    sharp_side = "a" if obfuscated_side == "b" else "b"
    pairs = {protocol: read_table(path) for protocol, path in paths.protocols.items()}
    detections = read_table(paths.faces).set_index("image")
    usable = detections[detections["status"] == "ok"]
    sharp_images = sorted({i for table in pairs.values() for i in table[f"image_{sharp_side}"]} & set(usable.index))
    return ScoredSet(pairs, sharp_side, usable, sharp_images)


def training_people(train_file: str | Path) -> set[str]:
    """Every identity of an LFW protocol's training list (``data/protocols/<protocol>/train.csv``; validation
    identities included: held out from the gradient steps, they still chose nothing about the test people, but a
    recogniser has seen them)."""
    return set(read_table(train_file)["identity"].astype(str))


def unseen_by(test: ScoredSet, dataset: str, trained_on: str, people: set[str]) -> ScoredSet:
    """The test set a recogniser trained on ``people`` (protocol ``trained_on``'s training list) may score.

    On LFW, pairs naming any of ``people`` are dropped, except in ``trained_on``'s own pairs when it is a
    leaky protocol (the seed's split by image): those stay whole, in ``seen``. Evaluation-only datasets are
    other people and are scored whole.
    """
    if dataset != LFW:
        return test
    pairs, seen = {}, set()
    for protocol, table in test.pairs.items():
        if protocol == trained_on and protocol in LEAKY_PROTOCOLS:
            pairs[protocol] = table
            seen.add(protocol)
            continue
        named = table["identity_a"].astype(str).isin(people) | table["identity_b"].astype(str).isin(people)
        if named.any():
            log.info("%s: %d of %d pairs name a training identity of protocol %s; not scored",
                     protocol, int(named.sum()), len(table), trained_on)
        pairs[protocol] = table[~named].reset_index(drop=True)
    sharp = {i for table in pairs.values() for i in table[f"image_{test.sharp_side}"]}
    return replace(test, pairs=pairs, seen=frozenset(seen), sharp_images=[i for i in test.sharp_images if i in sharp])
