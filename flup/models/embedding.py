"""Embedding images with a trained dual-stream model, and its validation on held-out identities.

At test time the obfuscated side goes through BlurNet and the sharp side through SharpNet,
each cropped by the model's own policy around the face box found on the sharp image.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from flup.config.params import ParamError
from flup.faces.detection import box_of
from flup.models.sampling import BOX_COLUMNS, Policy, prepare, read_image
from flup.obfuscate import render
from flup.obfuscate.obfuscation import gaussian_blur
from flup.verify import engine, metrics
from flup.verify.scoring import score_pairs

STREAMS = ("blurred", "sharp")
StreamEmbedder = Callable[[Sequence[torch.Tensor], str], np.ndarray]  # (prepared inputs, stream) -> (n, dim) rows


def prepare_all(images: Sequence[np.ndarray], boxes: Sequence, policy: Policy, input_size: int) -> list[torch.Tensor]:
    """Each BGR image cropped by the policy around its box, as the model's input tensor."""
    return [prepare(image, box, policy, input_size) for image, box in zip(images, boxes, strict=True)]


@torch.no_grad()
def embed_prepared(model, inputs: Sequence[torch.Tensor], stream: str, batch_size: int = 64,
                   device: torch.device | str = "cpu") -> np.ndarray:
    """L2-normalised embeddings (n, dim) of prepared inputs (:func:`prepare_all`) through one stream."""
    if stream not in STREAMS:
        raise ValueError(f"stream is {stream!r}; expected one of {', '.join(STREAMS)}")
    model.eval()
    forward = model.embed_blurred if stream == "blurred" else model.embed_sharp
    return engine.in_batches(lambda chunk: forward(torch.stack(list(chunk)).to(device)).float().cpu().numpy(),
                             inputs, batch_size, dim=0)


def embed(
    model, images: Sequence[np.ndarray], boxes: Sequence, policy: Policy, input_size: int, stream: str,
    batch_size: int = 64, device: torch.device | str = "cpu",
) -> np.ndarray:
    """L2-normalised embeddings (n, dim) of BGR images through one stream."""
    return embed_prepared(model, prepare_all(images, boxes, policy, input_size), stream, batch_size, device)


def score_rendered(model, policy: Policy, input_size: int, test, images: Path, render_dir: Path, dataset: str,
                   name: str, batch_size: int = 64, device: torch.device | str = "cpu",
                   embed: StreamEmbedder | None = None) -> pd.DataFrame:
    """The per-pair score table of a dual-stream model over every rendered level and region (oracle box: each side
    cropped around the sharp image's face box). ``test`` as for :func:`flup.verify.engine.score_rendered`.

    Images go through in blocks of whole batches (the model sees the batches it always saw: each side's
    images in order, ``batch_size`` at a time), the next block decoded and cropped in a background thread
    while this one is embedded; a block's inputs are all that is held in memory. ``embed``: where a block
    is embedded instead of ``model`` here (e.g. on Ray actors, flup.executor.ActorPool over
    :class:`flup.models.variant.ScoringWorker`, which cuts it into the same ``batch_size`` batches).
    """
    boxes = {image: box_of(test.faces.loc[image]) for image in test.faces.index}
    levels, rendered = engine.rendered_levels(render_dir)
    plan = engine.level_plan(test, render_dir, rendered)
    block = engine.SHARP_BLOCK * batch_size
    # Work items: (level or None for the sharp side, that side's images of one block).
    items = [(None, names) for names in engine.chunks(test.sharp_images, block)]
    for level in levels:
        items += [(level, names) for names in engine.chunks(plan[level][1], block)]

    def inputs(item) -> list[torch.Tensor]:
        level, names = item
        if level is None:
            pixels = [engine.read_image(images, n) for n in names]
        else:
            store = render.RenderStore(render.store_path(render_dir, *level))
            pixels = [store.obfuscated(n, engine.read_image(images, n)) for n in names]
        return prepare_all(pixels, [boxes[n] for n in names], policy, input_size)

    sharp: dict[str, np.ndarray] = {}
    embedded: dict[engine.RenderedLevel, dict[str, np.ndarray]] = {level: {} for level in levels}
    for (level, names), prepared in tqdm(engine.prefetched(items, inputs), total=len(items), desc=f"score {name}",
                                         unit="block", mininterval=2.0):
        stream, into = ("sharp", sharp) if level is None else ("blurred", embedded[level])
        if embed is None:
            vectors = embed_prepared(model, prepared, stream, batch_size, device)
        else:
            vectors = embed(prepared, stream)
        into.update(zip(names, vectors, strict=True))
    tables = []
    for kind, level, region in levels:
        for protocol in plan[(kind, level, region)][0]:
            tables.append(score_pairs(test.pairs[protocol], test.sharp_side, sharp, embedded[(kind, level, region)],
                                      seen_identities=protocol in test.seen, dataset=dataset, protocol=protocol,
                                      recognizer=name, mode="oracle_box", obfuscation=kind, region=region,
                                      level=float(level)))
    return pd.concat(tables, ignore_index=True)


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
