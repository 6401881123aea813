"""The identities stages' driver: a dataset's people in identity folds, each fold's sharp gallery and probes
(:mod:`flup.data.identification`; docs/design.md "Identification"), and their reader for the identify stages.

LFW's protocol (stage ``identities``) is drawn from data/faces/lfw.parquet into data/identification/protocol/; an
evaluation-only dataset's (``identities_dataset@<name>``) from its own detection table, the same way, into
``data/identification/datasets/<name>/`` (:func:`identification_files`), where its identify stages write too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from flup.config.params import ParamError
from flup.config.paths import (
    IDENTIFICATION,
    IDENTIFICATION_EMBEDDINGS,
    IDENTIFICATION_PROTOCOL,
    IDENTIFICATION_SCORES,
    LFW,
    LFW_FACES,
    dataset_paths,
)
from flup.data.identification import fold_summary, identification_sets, identity_folds, usable_photos
from flup.io import read_table, write_table

if TYPE_CHECKING:
    from flup.config import Study

# An evaluation-only dataset's identification files live under data/identification, not data/datasets/<name>/:
# evaluate_identification, one stage reading every dataset's, depends on data/identification, which always exists
# (data/datasets does not without datasets, and DVC refuses a missing dependency).
DATASET_IDENTIFICATION = IDENTIFICATION / "datasets"


@dataclass(frozen=True)
class IdentificationFiles:
    """Where one dataset's identification protocol, ArcFace embeddings and outcome tables live."""

    protocol: Path  # folds.csv, gallery.csv, probes.csv, summary.csv
    embeddings: Path  # ArcFace's gallery and probes under every condition (identify)
    scores: Path  # <recogniser>.parquet: per probe x condition rank counts


def identification_files(name: str = LFW) -> IdentificationFiles:
    """LFW's files (data/identification/...), or those of the evaluation-only dataset ``name``
    (data/identification/datasets/<name>/{protocol,arcface.npz,scores})."""
    if name == LFW:
        return IdentificationFiles(IDENTIFICATION_PROTOCOL, IDENTIFICATION_EMBEDDINGS, IDENTIFICATION_SCORES)
    folder = DATASET_IDENTIFICATION / name
    return IdentificationFiles(folder / "protocol", folder / IDENTIFICATION_EMBEDDINGS.name, folder / "scores")


def protocol_tables(folder: Path = IDENTIFICATION_PROTOCOL) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The identification protocol an identities stage wrote: (folds, gallery, probes)."""
    return tuple(read_table(folder / f"{name}.csv") for name in ("folds", "gallery", "probes"))


def require_enough_people(faces: pd.DataFrame, usable: pd.Series, folds: int, source: str) -> None:
    """A ParamError naming ``source`` (where the people come from) unless every one of ``folds`` folds can get two
    people with two or more usable photos: a probe is ranked against the fold's other targets (and a fold of one
    target has none). Targets are dealt evenly (:func:`identity_folds`), so 2 x folds of them suffice."""
    photos = usable_photos(faces, usable)
    targets = sum(len(found) >= 2 for found in photos.values())
    if targets < 2 * folds:
        raise ParamError(
            f"{source}: {targets} people with two or more photos whose face was detected ({len(photos)} people, "
            f"{int(usable.sum())} of {len(faces)} photos usable), fewer than the {2 * folds} that identification.folds"
            f" = {folds} needs (two per fold); add people (or photos the detector finds) or lower identification.folds")


def split_identities(cfg: Study, faces: Path = LFW_FACES, out: Path = IDENTIFICATION_PROTOCOL,
                     source: str | None = None) -> dict:
    """Folds, gallery and probes of the people of the detection table ``faces`` whose face was detected (the others
    cannot be aligned) into ``out``; returns the per-fold summary as metrics. ``source``: what a ParamError for too
    few people names (default: ``identification.folds``'s place in params.yaml)."""
    settings = cfg.identification
    table = read_table(faces)
    usable = table["status"] == "ok"
    require_enough_people(table, usable, settings.folds,
                          source or f"{cfg.where('identification.folds')}: identification.folds")
    folds = identity_folds(table, settings.folds, settings.random_seed, usable)
    sets = identification_sets(table, folds, settings.probes_per_identity, settings.random_seed, usable)
    summary = fold_summary(sets.gallery, sets.probes)
    photos = table[usable].groupby("identity").size()
    people = folds.rename("fold").reset_index()
    people["usable_images"] = people["identity"].map(photos).fillna(0).astype(np.int64)
    write_table(out / "folds.csv", people)
    write_table(out / "gallery.csv", sets.gallery)
    write_table(out / "probes.csv", sets.probes)
    write_table(out / "summary.csv", summary)
    return {"folds": int(settings.folds), "people": int(len(people)), "targets": int(sets.gallery["target"].sum()),
            "distractors": int((~sets.gallery["target"]).sum()), "probes": int(len(sets.probes)),
            "undetected_people": int((people["usable_images"] == 0).sum()),
            "per_fold": summary.to_dict(orient="records")}


def split_dataset_identities(cfg: Study, name: str) -> dict:
    """:func:`split_identities` on the evaluation-only dataset ``name``'s detection table (only the images its pairs
    use are detected: detect_dataset) into its :func:`identification_files` protocol folder."""
    return split_identities(cfg, dataset_paths(cfg, name).faces, identification_files(name).protocol,
                            f"{cfg.where(f'datasets.{name}')}: datasets.{name}")
