"""Held-out identities: the seeded split of a training set's people into training and validation, and fixed
validation pairs among the held-out people. The dual-stream models and the attackers validate this way."""

from __future__ import annotations

import numpy as np
import pandas as pd

from flup.config.params import ParamError

MIN_IDENTITIES = 2  # validation pairs and training quadruplets each need two people with two images


def split_identities(
    frame: pd.DataFrame, fraction: float, seed: int, fraction_param: str = "train.val_fraction"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out a seeded ``fraction`` of identities (with >= 2 images) for validation.

    Each side needs at least two identities with two images; when the training set is too small for
    that (a small ``data.max_people``) ParamError says so, naming ``data.max_people`` and
    ``fraction_param`` (the parameter that set ``fraction``).
    """
    eligible = sorted(frame.groupby("identity").filter(lambda g: len(g) >= 2)["identity"].unique())
    n_val = int(round(fraction * len(eligible)))
    fix = (f"raise data.max_people (null = all of LFW) so the training protocol has more people, "
           f"or change {fraction_param}")
    if n_val < MIN_IDENTITIES:
        raise ParamError(
            f"params.yaml: {fraction_param} = {fraction:g} holds out {n_val} of the {len(eligible)} identities with "
            f">= 2 images for validation, which needs {MIN_IDENTITIES}; {fix}"
        )
    if len(eligible) - n_val < MIN_IDENTITIES:
        raise ParamError(
            f"params.yaml: {fraction_param} = {fraction:g} leaves {len(eligible) - n_val} of the {len(eligible)} "
            f"identities with >= 2 images for training, which needs {MIN_IDENTITIES}; {fix}"
        )
    held_out = set(np.random.default_rng(seed).permutation(eligible)[:n_val].tolist())
    is_val = frame["identity"].isin(held_out)
    return frame[~is_val].reset_index(drop=True), frame[is_val].reset_index(drop=True)


def validation_pairs(frame: pd.DataFrame, n_pairs: int, seed: int) -> pd.DataFrame:
    """``n_pairs`` same + ``n_pairs`` different pairs of rows among validation identities (seeded)."""
    rng = np.random.default_rng(seed)
    groups = [rows for rows in frame.groupby("identity").indices.values() if len(rows) >= 2]
    if len(groups) < 2:
        raise ValueError(f"validation needs >= 2 identities with >= 2 images, got {len(groups)}")
    same = []
    for i in range(n_pairs):
        rows = groups[i % len(groups)]
        same.append(tuple(rng.choice(rows, size=2, replace=False).tolist()) + (1,))
    different = []
    while len(different) < n_pairs:
        g1, g2 = rng.choice(len(groups), size=2, replace=False)
        different.append((int(rng.choice(groups[g1])), int(rng.choice(groups[g2])), 0))
    return pd.DataFrame(same + different, columns=["sharp_row", "blurred_row", "label"])
