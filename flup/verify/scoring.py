"""Turning embeddings into the per-pair score table every recogniser writes.

Columns: dataset, protocol, recognizer, mode, obfuscation, region (the face-box scale factor of
``render.regions``), level, pair_id, fold, label, score,
status ("ok" | "not_detected": scores as a non-match | "excluded": the pair cannot be scored
because its sharp image has no face, counted by evaluate).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# The one definition of the score table, read by flup/evaluation/verification.py. ``seen_identities``: the
# recogniser trained on these pairs' people (the seed split's deliberate leakage, flup.verify.scored_set); evaluation
# keeps such rows apart under a recogniser name marked with SEEN_MARK.
GROUP_KEYS = ["dataset", "protocol", "recognizer", "mode", "obfuscation", "region", "level"]
SCORE_COLUMNS = [*GROUP_KEYS, "pair_id", "fold", "label", "score", "status", "seen_identities"]
SEEN_MARK = " (seen identities)"
STATUSES = ("ok", "not_detected", "excluded")
FAILURE_SCORE = -1.0  # a face that cannot be found scores as the least similar possible


def score_pairs(
    pairs: pd.DataFrame,
    sharp_side: str,
    sharp: dict[str, np.ndarray],
    obfuscated: dict[str, np.ndarray | None],
    seen_identities: bool = False,
    region: float = 1.0,
    **labels,
) -> pd.DataFrame:
    """Score one protocol's pairs at one obfuscation level and region in one mode.

    ``sharp`` maps image -> embedding of the sharp side; ``obfuscated`` maps image -> embedding
    of the obfuscated side, or None when the face was not found (a counted failure). Images
    absent from either map make the pair "excluded". ``region``: the face-box scale factor the obfuscated
    side was rendered over; ``labels``: the other group keys (dataset, protocol, recognizer, ...).
    """
    obfuscated_side = "a" if sharp_side == "b" else "b"
    scores, statuses = [], []
    for sharp_image, obf_image in zip(pairs[f"image_{sharp_side}"], pairs[f"image_{obfuscated_side}"], strict=True):
        if sharp_image not in sharp or obf_image not in obfuscated:
            scores.append(np.nan)
            statuses.append("excluded")
        elif obfuscated[obf_image] is None:
            scores.append(FAILURE_SCORE)
            statuses.append("not_detected")
        else:
            scores.append(float(np.dot(sharp[sharp_image], obfuscated[obf_image])))
            statuses.append("ok")
    table = pd.DataFrame({
        "pair_id": pairs["pair_id"].to_numpy(), "fold": pairs["fold"].to_numpy(),
        "label": pairs["label"].to_numpy(), "score": scores, "status": statuses,
        "seen_identities": np.full(len(pairs), bool(seen_identities)),
    })
    table["region"] = float(region)
    for column, value in labels.items():
        table[column] = value
    return table[SCORE_COLUMNS]


def level_key(level: float) -> str:
    """The JSON key of a level: ``8.0 -> "8"``, ``2.5 -> "2.5"``."""
    value = float(level)
    if value.is_integer():
        return str(int(value))
    return repr(value)
