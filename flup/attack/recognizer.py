"""A trained attacker as a recogniser the scoring engine (flup/verify/engine.py) can use.

- adapter: the sharp side is plain ArcFace; the obfuscated side is ArcFace passed through the adapter;
- finetune: the fine-tuned recogniser embeds both sides.

The score_attacker stage's driver (:mod:`flup.pipeline.score_attacker`) loads one with :func:`load` and scores it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from flup.attack import adapter, arcface_torch
from flup.io import read_json
from flup.training.weight_files import load_weights
from flup.verify import engine, recognition

log = logging.getLogger(__name__)
ARCFACE, ADAPTER = "arcface", "adapter"  # an adapter worker's two steps


def load(name: str, folder: Path, meta: dict, onnx_path: Path, batch_size: int, device: torch.device,
         arcface_embeddings: Path | None = None, pool: engine.Pool | None = None) -> engine.Recognizer:
    """The attacker trained into ``folder`` (its ``meta.json`` as ``meta``) as an engine recogniser.

    ``arcface_embeddings``: what score_arcface saved (:meth:`engine.Deduplicated.save`); an adapter
    takes every ArcFace embedding of a crop found there instead of computing it again. ``pool``: the
    embedding done on Ray actors instead (flup.executor.ActorPool over :class:`AttackerWorker`, ``batch_size``
    items a piece): the engine then asks for ``pool.width`` crops a call, which the pool cuts into the
    ``batch_size`` batches the torch models see in-process (the width is a multiple of it).
    """
    if meta["method"] == "adapter":
        # ONNX ArcFace depends on each crop alone, so a crop embedded before (here or by score_arcface)
        # is not embedded again; the adapter still gets the engine's batches whole.
        known = {}
        if arcface_embeddings is not None and arcface_embeddings.exists():
            known = engine.load_embeddings(arcface_embeddings, engine.model_id(onnx_path))
            log.info("%s: %d ArcFace embeddings reused from %s", name, len(known), arcface_embeddings)
        if pool is not None:
            on_ray = engine.Deduplicated(lambda crops: pool(crops, ARCFACE), known=known)
            return engine.Recognizer(name, on_ray, lambda crops: pool(on_ray(crops), ADAPTER), pool.width)
        arcface = engine.Deduplicated(recognition.ArcFace(onnx_path).embed, known=known)
        net = load_adapter(folder, meta)

        def embed_obfuscated(crops):
            return adapter.apply(net, arcface(crops))

        return engine.Recognizer(name, arcface, embed_obfuscated, batch_size)
    if pool is not None:
        return engine.Recognizer(name, pool, pool, pool.width)
    module = arcface_torch.load(onnx_path, folder / "model.safetensors").to(device)

    def embed(crops):
        return arcface_torch.embed(module, crops, batch_size, device)

    return engine.Recognizer(name, embed, embed, batch_size)


def load_adapter(folder: Path, meta: dict) -> adapter.EmbeddingAdapter:
    return load_weights(adapter.EmbeddingAdapter(512, int(meta["hidden"]), int(meta["depth"])),
                        folder / "adapter.safetensors")


@dataclass(frozen=True)
class AttackerWorker:
    """An attacker's embedders as a worker factory for :class:`flup.executor.ActorPool` (picklable: paths and a
    batch size). Each actor loads them from their files (safetensors), on CUDA when it has a GPU. An adapter
    worker takes (crops, ``ARCFACE``) -> ONNX ArcFace rows and (ArcFace rows, ``ADAPTER``) -> adapted rows (the
    adapter on the CPU, as in-process); a fine-tuned one crops -> rows of the fine-tuned ArcFace."""

    folder: Path  # data/attackers/<name>/seed<k>, absolute: actors need not share the driver's working directory
    onnx: Path
    batch_size: int

    def __call__(self, threads: int | None = None, gpu: bool = False) -> Callable[..., np.ndarray]:
        if threads is not None:
            torch.set_num_threads(threads)
        meta = read_json(self.folder / "meta.json")
        if meta["method"] == "adapter":
            arcface, net = engine.ArcFaceWorker(self.onnx)(threads, gpu), load_adapter(self.folder, meta)

            @torch.no_grad()
            def adapter_step(items, step: str) -> np.ndarray:
                return arcface(items) if step == ARCFACE else adapter.apply(net, np.asarray(items))

            return adapter_step
        device = torch.device("cuda" if gpu else "cpu")
        if not gpu and torch.get_num_threads() == 1:
            log.warning("fine-tuned ArcFace on 1 torch thread: its CPU kernels then give other last bits than on 2 "
                        "or more (an in-process run); executor.cpus_per_worker >= 2 gives the in-process bits")
        module = arcface_torch.load(self.onnx, self.folder / "model.safetensors").to(device)
        return lambda crops: arcface_torch.embed(module, crops, self.batch_size, device)
