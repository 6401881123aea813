"""The score_attacker stage's driver: a trained attacker's replica scores the rendered pairs of a dataset through the
scoring engine (flup/verify/engine.py), in each threat model of ``attack.modes``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from flup.attack.recognizer import AttackerWorker, load
from flup.config.params import ParamError
from flup.config.paths import (
    ARCFACE_EMBEDDINGS,
    ATTACKERS,
    LFW,
    arcface_embeddings,
    dataset_paths,
    protocol_files,
    replica,
)
from flup.io import read_json
from flup.pipeline import model_files
from flup.training.loop import resolve_device
from flup.verify import engine
from flup.verify.scored_set import load_test_set, training_people, unseen_by

if TYPE_CHECKING:
    from flup.config import Study


def attacker_worker(cfg: Study, name: str, seed: int) -> AttackerWorker:
    """The worker factory of replica ``seed`` of attacker ``name`` for flup.executor.ActorPool (absolute paths)."""
    return AttackerWorker(replica(ATTACKERS.resolve() / name, seed), model_files.recognizer_file(cfg).resolve(),
                          cfg.attacker(name).attack.batch_size)


def score_attacker(cfg: Study, name: str, seed: int, pool: engine.Pool | None = None,
                   dataset: str = LFW) -> tuple[pd.DataFrame, str]:
    """Replica ``seed`` of attacker ``name`` (trained into data/attackers/<name>/seed<seed>/) scores the rendered test
    pairs of ``dataset`` in each of ``attack.modes``; returns the score table (its rows carry ``train_seed``) and the
    protocol it trained on. On LFW only the pairs none of whose people it trained on
    (:func:`flup.verify.scored_set.unseen_by`); an evaluation-only dataset's people are not LFW's, so all its pairs,
    with the ArcFace embeddings score_arcface saved for it. ``pool``: as for
    :func:`flup.attack.recognizer.load` (over :func:`attacker_worker`)."""
    attack = cfg.attacker(name).attack
    folder = replica(ATTACKERS / name, seed)
    meta = read_json(folder / "meta.json")
    protocol = meta["protocol"]
    if dataset == LFW and protocol not in cfg.render.protocols:
        raise ParamError(f"{cfg.where('render.protocols')}: render.protocols: expected to include {protocol}, "
                         f"the protocol {name} trained on, got {cfg.render.protocols}")
    onnx_path = model_files.recognizer_file(cfg)
    attacker = load(name, folder, meta, onnx_path, attack.batch_size, resolve_device(attack.device),
                    ARCFACE_EMBEDDINGS if dataset == LFW else arcface_embeddings(dataset), pool)
    paths = dataset_paths(cfg, dataset)
    test = load_test_set(paths, cfg.render.obfuscated_side)
    if dataset == LFW:
        test = unseen_by(test, paths.name, protocol, training_people(protocol_files(protocol)[0]))
    scores = engine.score_rendered(test, paths.images, paths.render, paths.name, attacker, attack.modes)
    return scores.assign(train_seed=int(seed)), protocol
