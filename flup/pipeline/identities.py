"""The identities stage's driver: LFW's people in identity folds, each fold's sharp gallery and probes
(:mod:`flup.data.identification`; docs/design.md "Identification"), and their reader for the identify stages."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from flup.config.paths import IDENTIFICATION_PROTOCOL, LFW_FACES
from flup.data.identification import fold_summary, identification_sets, identity_folds
from flup.io import read_table, write_table

if TYPE_CHECKING:
    from flup.config import Study


def protocol_tables(folder: Path = IDENTIFICATION_PROTOCOL) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The identification protocol the ``identities`` stage wrote: (folds, gallery, probes)."""
    return tuple(read_table(folder / f"{name}.csv") for name in ("folds", "gallery", "probes"))


def split_identities(cfg: Study, out: Path = IDENTIFICATION_PROTOCOL) -> dict:
    """Folds, gallery and probes of LFW's people whose face was detected (the others cannot be aligned) into
    ``out``; returns the per-fold summary as metrics."""
    settings = cfg.identification
    faces = read_table(LFW_FACES)
    usable = faces["status"] == "ok"
    folds = identity_folds(faces, settings.folds, settings.random_seed, usable)
    sets = identification_sets(faces, folds, settings.probes_per_identity, settings.random_seed, usable)
    summary = fold_summary(sets.gallery, sets.probes)
    photos = faces[usable].groupby("identity").size()
    table = folds.rename("fold").reset_index()
    table["usable_images"] = table["identity"].map(photos).fillna(0).astype(np.int64)
    write_table(out / "folds.csv", table)
    write_table(out / "gallery.csv", sets.gallery)
    write_table(out / "probes.csv", sets.probes)
    write_table(out / "summary.csv", summary)
    return {"folds": int(settings.folds), "people": int(len(table)), "targets": int(sets.gallery["target"].sum()),
            "distractors": int((~sets.gallery["target"]).sum()), "probes": int(len(sets.probes)),
            "undetected_people": int((table["usable_images"] == 0).sum()),
            "per_fold": summary.to_dict(orient="records")}
