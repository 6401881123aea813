"""The identify_attacker stages' driver: on LFW an adapter attacker cross-fitted, one adapter per identity fold
trained on the other folds' people, each ranking its fold's probes from the ArcFace embeddings the identify stage
kept; on an evaluation-only dataset (other people) each replica's own adapter, from that dataset's embeddings."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from flup.attack import adapter
from flup.attack.recognizer import load_adapter
from flup.config.paths import ATTACKERS, replica
from flup.data.identification import require_unseen, training_people
from flup.evaluation.probe_outcomes import OUTCOME_COLUMNS, Transform, outcome_table
from flup.io import read_json, read_npz, write_json
from flup.pipeline.identities import IdentificationFiles, identification_files, protocol_tables
from flup.training.loop import pin_cpu_threads, resolve_device
from flup.training.weight_files import save_weights
from flup.verify.identification import ProbeEmbeddings

if TYPE_CHECKING:
    from flup.config import Study


def fold_adapters(cache: dict, folds: pd.DataFrame, gallery: pd.DataFrame, probes: pd.DataFrame, settings,
                  out: Path) -> dict[int, adapter.EmbeddingAdapter]:
    """One adapter per fold, trained as the attacker was (its ``attack.adapter`` settings and seed) on the rows of
    its training cache (``embeddings.npz``) whose person is in another fold; each saved to ``out/fold<k>``."""
    config = settings.adapter
    identities = cache["identities"].astype(str)
    adapters = {}
    for fold in sorted(set(folds["fold"])):
        allowed = training_people(folds, int(fold))
        rows = np.flatnonzero(np.isin(identities, sorted(allowed)))
        require_unseen(identities[rows], int(fold), gallery=gallery, probes=probes)
        if rows.size == 0:
            raise ValueError(f"fold {fold}: none of the attacker's training images is of another fold's people")
        sharp = cache["sharp"][rows]
        targets = adapter.identity_means(sharp, identities[rows]) if config.target == "identity_mean" else sharp
        obfuscated = cache["obfuscated"][rows]
        views = obfuscated.shape[1]
        net = adapter.EmbeddingAdapter(512, config.hidden, config.depth)
        adapter.train(net, obfuscated.reshape(-1, 512), np.repeat(targets, views, axis=0), config.epochs,
                      config.batch_size, config.lr, config.weight_decay, settings.seed)
        save_weights(net, out / f"fold{int(fold)}.safetensors")
        write_json(out / f"fold{int(fold)}.json", {"fold": int(fold), "train_images": int(rows.size),
                                                   "train_identities": int(len(set(identities[rows])))})
        adapters[int(fold)] = net
    return adapters


def adapted(adapters: dict[int, adapter.EmbeddingAdapter], fold: int, vectors: np.ndarray) -> np.ndarray:
    """ArcFace embeddings of fold ``fold``'s obfuscated probes through that fold's adapter."""
    return adapter.apply(adapters[fold], vectors)


# (replica seed, its attack settings, folds, gallery, probes) -> the replica's map of ArcFace's probe embeddings
Transforms = Callable[[int, Any, pd.DataFrame, pd.DataFrame, pd.DataFrame], Transform]


def replica_outcomes(cfg: Study, name: str, files: IdentificationFiles, transform_of: Transforms) -> pd.DataFrame:
    """The outcome table of every replica of adapter attacker ``name`` (column ``train_seed``) over the protocol and
    ArcFace probe embeddings of ``files``: ``transform_of(seed, settings, folds, gallery, probes)`` gives the
    replica's map from ArcFace's probe embeddings to its own (:data:`flup.evaluation.probe_outcomes.Transform`)."""
    attacker = cfg.attacker(name)
    folds, gallery, probes = protocol_tables(files.protocol)
    scored = ProbeEmbeddings.load(files.embeddings)
    tables = []
    for seed in attacker.attack.seeds:
        settings = attacker.attack.for_seed(seed)
        pin_cpu_threads(resolve_device(settings.device), settings.cpu_threads)  # the bits depend on the threads
        transform = transform_of(seed, settings, folds, gallery, probes)
        table = outcome_table(scored, gallery, probes, transform, cfg.identification.random_seed)
        table.insert(0, "train_seed", int(seed))
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def no_outcomes() -> pd.DataFrame:
    """A fine-tuned attacker's outcome table: empty (only adapters are scored from ArcFace's embeddings)."""
    return pd.DataFrame(columns=["train_seed", *OUTCOME_COLUMNS])


def identify_attacker(cfg: Study, name: str, out: Path) -> pd.DataFrame:
    """Attacker ``name`` cross-fitted on LFW: per replica seed and fold, an adapter trained on the other folds'
    people of its training images (the embeddings train_attacker cached), ranking the fold's probes from ArcFace's
    probe embeddings; the outcome table of every replica (column ``train_seed``). Fine-tuned attackers are not
    cross-fitted (that needs a fine-tuning per fold): an empty table, with a ``meta.json`` that says so."""
    attacker = cfg.attacker(name)
    out.mkdir(parents=True, exist_ok=True)
    if attacker.method != "adapter":
        write_json(out / "meta.json", {"name": name, "method": attacker.method, "scored": False,
                                       "why": "only adapter attackers are cross-fitted per fold so far"})
        return no_outcomes()

    def cross_fitted(seed, settings, folds, gallery, probes) -> Transform:
        cache = read_npz(replica(ATTACKERS / name, seed) / "embeddings.npz")
        return partial(adapted, fold_adapters(cache, folds, gallery, probes, settings, replica(out, seed)))

    table = replica_outcomes(cfg, name, identification_files(), cross_fitted)
    trained = read_json(replica(ATTACKERS / name, attacker.attack.seeds[0]) / "meta.json")
    write_json(out / "meta.json", {"name": name, "method": attacker.method, "scored": True,
                                   "obfuscation": trained["obfuscation"], "ranges": trained["ranges"],
                                   "seeds": list(attacker.attack.seeds)})
    return table


def identify_attacker_on_dataset(cfg: Study, name: str, dataset: str) -> pd.DataFrame:
    """Attacker ``name`` on the evaluation-only ``dataset``'s probes: not cross-fitted, since none of the dataset's
    people is LFW's (as score_attacker assumes for its pairs), so each replica's adapter trained on all its training
    images (data/attackers/<name>/seed<k>/) maps every fold's probes. Fine-tuned attackers: an empty table."""
    attacker = cfg.attacker(name)
    if attacker.method != "adapter":
        return no_outcomes()

    def trained(seed, settings, folds, gallery, probes) -> Transform:
        folder = replica(ATTACKERS / name, seed)
        net = load_adapter(folder, read_json(folder / "meta.json"))
        return lambda fold, vectors: adapter.apply(net, vectors)

    return replica_outcomes(cfg, name, identification_files(dataset), trained)
