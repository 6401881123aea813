"""Embedding images with a trained dual-stream model, scoring it through the one scoring engine, and its
validation on held-out identities.

At test time the obfuscated side goes through BlurNet and the sharp side through SharpNet, each cropped by the
model's own policy around the face box found on the sharp image: :func:`recognizer` is the model as a recogniser
of :mod:`flup.verify.engine` (the oracle-box threat model), which scores it as it scores ArcFace and the attackers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from flup.faces.detection import box_of
from flup.models.model import load_trained
from flup.models.sampling import BOX_COLUMNS, Policy, crop_pixels, normalise, read_image
from flup.obfuscation.methods import gaussian_blur
from flup.training.holdout import validation_pairs
from flup.verify import engine, metrics

STREAMS = ("blurred", "sharp")
StreamEmbedder = Callable[[Sequence[torch.Tensor], str], np.ndarray]  # (input pixels, stream) -> (n, dim) rows


def prepare_all(images: Sequence[np.ndarray], boxes: Sequence, policy: Policy, input_size: int) -> list[torch.Tensor]:
    """Each BGR image cropped by the policy around its box, as the model's uint8 input pixels."""
    return [crop_pixels(image, box, policy, input_size) for image, box in zip(images, boxes, strict=True)]


@torch.no_grad()
def embed_pixels(model, pixels: Sequence[torch.Tensor], stream: str, batch_size: int = 64,
                 device: torch.device | str = "cpu") -> np.ndarray:
    """L2-normalised embeddings (n, dim) of input pixels (:func:`prepare_all`) through one stream, ``batch_size``
    at a time, each batch normalised on the CPU (:func:`flup.models.sampling.normalise`) and moved to ``device``."""
    if stream not in STREAMS:
        raise ValueError(f"stream is {stream!r}; expected one of {', '.join(STREAMS)}")
    model.eval()
    forward = model.embed_blurred if stream == "blurred" else model.embed_sharp
    return engine.in_batches(
        lambda chunk: forward(normalise(torch.stack(list(chunk))).to(device)).float().cpu().numpy(), pixels,
        batch_size, dim=0)


def embed(
    model, images: Sequence[np.ndarray], boxes: Sequence, policy: Policy, input_size: int, stream: str,
    batch_size: int = 64, device: torch.device | str = "cpu",
) -> np.ndarray:
    """L2-normalised embeddings (n, dim) of BGR images through one stream."""
    return embed_pixels(model, prepare_all(images, boxes, policy, input_size), stream, batch_size, device)


def cropper(policy: Policy, input_size: int) -> engine.Cropper:
    """The model's crop of an image for the engine: the policy's region around the sharp image's face box, as input
    pixels (no landmarks: the oracle box only)."""
    return engine.Cropper(box_of, partial(crop_pixels, policy=policy, input_size=input_size))


def recognizer(name: str, policy: Policy, input_size: int, batch_size: int, model=None,
               device: torch.device | str = "cpu", pool: engine.Pool | None = None) -> engine.Recognizer:
    """A trained model as an engine recogniser: SharpNet embeds the sharp side, BlurNet the obfuscated side, each
    cropped by :func:`cropper`, ``batch_size`` inputs a batch (the engine hands each side over in order).

    ``model`` embeds here, on ``device``; or ``pool`` (flup.executor.ActorPool over :class:`ScoringWorker`,
    ``batch_size`` inputs a piece) embeds on its actors: the engine then asks for ``pool.width`` inputs a call, which
    the pool cuts into the same ``batch_size`` batches (the width is a multiple of it), so the model sees the batches
    it sees here.
    """
    if pool is not None:
        return engine.Recognizer(name, lambda pixels: pool(pixels, "sharp"), lambda pixels: pool(pixels, "blurred"),
                                 pool.width, cropper(policy, input_size))
    return engine.Recognizer(name, lambda pixels: embed_pixels(model, pixels, "sharp", batch_size, device),
                             lambda pixels: embed_pixels(model, pixels, "blurred", batch_size, device), batch_size,
                             cropper(policy, input_size))


@dataclass(frozen=True)
class ScoringWorker:
    """A trained model's embedder as a worker factory for :class:`flup.executor.ActorPool` (picklable: a folder and a
    batch size): each actor loads the model from its files (:func:`flup.models.model.load_trained`), on CUDA when it
    has a GPU, and embeds (input pixels, stream) -> rows with :func:`embed_pixels`, as in-process."""

    folder: Path  # the model's folder, absolute: actors need not share the driver's working directory
    batch_size: int

    def __call__(self, threads: int | None = None, gpu: bool = False) -> StreamEmbedder:
        if threads is not None:
            torch.set_num_threads(threads)
        device = torch.device("cuda" if gpu else "cpu")
        net = load_trained(self.folder)[0].to(device)
        return partial(embed_pixels, net, batch_size=self.batch_size, device=device)


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
