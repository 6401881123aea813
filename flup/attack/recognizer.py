"""A trained attacker as a recogniser the scoring engine (flup/evaluate/engine.py) can use.

- adapter: the sharp side is plain ArcFace; the obfuscated side is ArcFace passed through the adapter;
- finetune: the fine-tuned recogniser embeds both sides.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import torch

from flup.attack import adapter, arcface_torch
from flup.config.params import ParamError
from flup.config.paths import ARCFACE_EMBEDDINGS, ATTACKERS, dataset_paths
from flup.evaluate import engine, recognition
from flup.evaluate.test_set import load_test_set, training_people, unseen_by
from flup.faces import weights
from flup.io import read_json
from flup.models.model import load_weights
from flup.models.training import resolve_device

if TYPE_CHECKING:
    from flup.config import Study

log = logging.getLogger(__name__)


def load(name: str, folder: Path, meta: dict, onnx_path: Path, batch_size: int, device: torch.device,
         arcface_embeddings: Path | None = None) -> engine.Recognizer:
    """The attacker trained into ``folder`` (its ``meta.json`` as ``meta``) as an engine recogniser.

    ``arcface_embeddings``: what score_arcface saved (:meth:`engine.Deduplicated.save`); an adapter
    takes every ArcFace embedding of a crop found there instead of computing it again.
    """
    if meta["method"] == "adapter":
        # ONNX ArcFace depends on each crop alone, so a crop embedded before (here or by score_arcface)
        # is not embedded again; the adapter still gets the engine's batches whole.
        known = {}
        if arcface_embeddings is not None and arcface_embeddings.exists():
            known = engine.load_embeddings(arcface_embeddings, engine.model_id(onnx_path))
            log.info("%s: %d ArcFace embeddings reused from %s", name, len(known), arcface_embeddings)
        arcface = engine.Deduplicated(recognition.ArcFace(onnx_path).embed, known=known)
        net = load_weights(adapter.EmbeddingAdapter(512, int(meta["hidden"]), int(meta["depth"])),
                           folder / "adapter.safetensors")

        def embed_obfuscated(crops):
            return adapter.apply(net, arcface(crops))

        return engine.Recognizer(name, arcface, embed_obfuscated, batch_size)
    module = arcface_torch.load(onnx_path, folder / "model.safetensors").to(device)

    def embed(crops):
        return arcface_torch.embed(module, crops, batch_size, device)

    return engine.Recognizer(name, embed, embed, batch_size)


def score_attacker(cfg: Study, name: str) -> tuple[pd.DataFrame, str]:
    """Attacker ``name`` (trained into data/attackers/<name>/) scores the rendered LFW test pairs none of whose
    people it trained on (:func:`flup.evaluate.test_set.unseen_by`) in each of ``attack.modes``; returns the
    score table and the protocol it trained on."""
    attack = cfg.attacker(name).attack
    meta = read_json(ATTACKERS / name / "meta.json")
    protocol = meta["protocol"]
    if protocol not in cfg.render.protocols:
        raise ParamError(f"{cfg.where('render.protocols')}: render.protocols: expected to include {protocol}, "
                         f"the protocol {name} trained on, got {cfg.render.protocols}")
    onnx_path = weights.recognizer_file(cfg)
    attacker = load(name, ATTACKERS / name, meta, onnx_path, attack.batch_size, resolve_device(attack.device),
                    ARCFACE_EMBEDDINGS)
    paths = dataset_paths(cfg)
    test = unseen_by(load_test_set(paths, cfg.render.obfuscated_side), paths.name, protocol, training_people(protocol))
    scores = engine.score_rendered(test, paths.images, paths.render, paths.name, attacker, attack.modes)
    return scores, protocol
