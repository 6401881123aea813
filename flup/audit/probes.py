"""Which photos an audit redacts, and the record of what the tool did with each (the redact stage's
``manifest.csv``).

An audit redacts the identification probes' photos (:mod:`flup.data.identification`): every probe, or with
``max_probes`` a seeded subset of whole people (a person's probes are kept or left together, so the identity-cluster
bootstrap sees whole clusters). The subset is a function of the seed and the set of probes only (sha256 keys), and a
larger cap only adds people.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from flup.audit.validate import KEPT
from flup.data.identification import seeded_key

MANIFEST_COLUMNS = ["probe_id", "fold", "identity", "image", "status", "output", "detail"]


def audited_probes(probes: pd.DataFrame, max_probes: int | None, seed: int) -> pd.DataFrame:
    """The probes an audit redacts (rows of ``probes``, in probe_id order): all of them (``max_probes`` None), or
    the first ``max_probes`` of the probes ordered by a seeded key of their person, then image (so only the last
    person taken may be cut short)."""
    if max_probes is None or max_probes >= len(probes):
        return probes.sort_values("probe_id").reset_index(drop=True)
    if isinstance(max_probes, bool) or not isinstance(max_probes, (int, np.integer)) or max_probes < 1:
        raise ValueError(f"max_probes: expected null or an integer >= 1, got {max_probes!r}")
    keys = [(seeded_key(seed, "audit", person), person, image)
            for person, image in zip(probes["identity"].astype(str), probes["image"].astype(str), strict=True)]
    order = sorted(range(len(probes)), key=keys.__getitem__)[:max_probes]
    return probes.iloc[order].sort_values("probe_id").reset_index(drop=True)


def manifest(probes: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """One row per audited probe (MANIFEST_COLUMNS): its status from the tool's run (``ok``, ``identical`` or a
    failure of :class:`flup.audit.validate.Status`) and its output's name in the redacted folder (empty for a
    failure). ``runs`` is :func:`flup.audit.run.run_tool`'s table, one row per probe photo by ``input`` (the
    photo's name relative to the images' root, the probes' ``image``)."""
    by_input = runs.set_index("input")
    missing = sorted(set(probes["image"]) - set(by_input.index))
    if missing:
        raise ValueError(f"no tool run for {len(missing)} probe photo(s), e.g. {missing[0]!r}")
    rows = by_input.loc[probes["image"]]
    table = probes[["probe_id", "fold", "identity", "image"]].reset_index(drop=True).copy()
    table["status"] = rows["status"].astype(str).to_numpy()
    table["output"] = rows["output"].fillna("").astype(str).to_numpy()
    table["detail"] = rows["detail"].fillna("").astype(str).to_numpy()
    return table[MANIFEST_COLUMNS]


def failed(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of a manifest whose photo the tool failed on (no usable output)."""
    return table[~table["status"].isin([str(s) for s in KEPT])]
