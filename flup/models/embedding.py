"""Embedding images with a trained dual-stream model, and its validation on held-out identities.

At test time the obfuscated side goes through BlurNet and the sharp side through SharpNet,
each cropped by the model's own policy around the face box found on the sharp image.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from flup.config.params import ParamError
from flup.evaluate import metrics
from flup.models.sampling import BOX_COLUMNS, Policy, prepare, read_image
from flup.obfuscate.obfuscation import gaussian_blur

STREAMS = ("blurred", "sharp")


@torch.no_grad()
def embed(
    model, images: Sequence[np.ndarray], boxes: Sequence, policy: Policy, input_size: int, stream: str,
    batch_size: int = 64, device: torch.device | str = "cpu",
) -> np.ndarray:
    """L2-normalised embeddings (n, dim) of BGR images through one stream."""
    if stream not in STREAMS:
        raise ValueError(f"stream is {stream!r}; expected one of {', '.join(STREAMS)}")
    model.eval()
    forward = model.embed_blurred if stream == "blurred" else model.embed_sharp
    out = []
    for start in range(0, len(images), batch_size):
        batch = torch.stack([
            prepare(image, box, policy, input_size)
            for image, box in zip(images[start:start + batch_size], boxes[start:start + batch_size], strict=True)
        ])
        out.append(forward(batch.to(device)).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


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


def validation_auc_fn(
    frame: pd.DataFrame, policy: Policy, input_size: int, n_pairs: int, seed: int, device="cpu",
) -> Callable:
    """A function model -> AUC on fixed pairs of held-out identities, one side blurred in the face box.

    The blur sigma of each pair is drawn once from the policy's range, so every epoch is scored on
    identical pixels; like the test renders, blur stays inside the face box.
    """
    pairs = validation_pairs(frame, n_pairs, seed)
    rng = np.random.default_rng(seed + 1)
    boxes = frame[list(BOX_COLUMNS)].to_numpy()
    images = {row: read_image(frame["path"].iloc[row]) for row in set(pairs["sharp_row"]) | set(pairs["blurred_row"])}
    sharp = [images[r] for r in pairs["sharp_row"]]
    blurred = [
        gaussian_blur(images[r], boxes[r], float(rng.uniform(policy.sigma_min, policy.sigma_max)))
        for r in pairs["blurred_row"]
    ]
    labels = pairs["label"].to_numpy()

    def auc(model) -> float:
        a = embed(model, sharp, boxes[pairs["sharp_row"]], policy, input_size, "sharp", device=device)
        b = embed(model, blurred, boxes[pairs["blurred_row"]], policy, input_size, "blurred", device=device)
        return metrics.roc_auc(np.einsum("ij,ij->i", a, b), labels)

    return auc
