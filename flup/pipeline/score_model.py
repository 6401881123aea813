"""The score_model stage's driver: a trained dual-stream model's replica scores the rendered pairs of a dataset
through the scoring engine (flup/verify/engine.py; the model as a recogniser: :func:`flup.models.embedding.recognizer`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from flup.config.paths import LFW, MODELS, dataset_paths, protocol_files, replica
from flup.io import read_json
from flup.models.embedding import ScoringWorker, recognizer
from flup.models.model import load_trained
from flup.models.sampling import Policy
from flup.training.loop import resolve_device
from flup.verify import engine
from flup.verify.scored_set import load_test_set, training_people, unseen_by

if TYPE_CHECKING:
    from flup.config import Study

MODES = ("oracle_box",)  # a dual-stream model crops around the sharp image's face box


def scoring_worker(cfg: Study, name: str, seed: int) -> ScoringWorker:
    """The worker factory of replica ``seed`` of model ``name`` for flup.executor.ActorPool (an absolute folder)."""
    return ScoringWorker(replica(MODELS.resolve() / name, seed), cfg.score_model.batch_size)


def score_variant(cfg: Study, name: str, seed: int, dataset: str = LFW,
                  pool: engine.Pool | None = None) -> pd.DataFrame:
    """Replica ``seed`` of the trained model ``name`` (data/models/<name>/seed<seed>/) scores the rendered test pairs
    of ``dataset`` (oracle box); its rows carry ``train_seed``.

    ``pool``: where the inputs are embedded (an ActorPool over :func:`scoring_worker`, ``score_model.batch_size``
    inputs a piece: the same batches); None: the model in this process, on ``score_model.device``."""
    paths = dataset_paths(cfg, dataset)
    folder = replica(MODELS / name, seed)
    meta = read_json(folder / "meta.json")
    device = resolve_device(cfg.score_model.device)
    net = load_trained(folder)[0].to(device) if pool is None else None
    model = recognizer(name, Policy.from_params(meta["policy"]), int(meta["input_size"]), cfg.score_model.batch_size,
                       net, device, pool)
    test = unseen_by(load_test_set(paths, cfg.render.obfuscated_side), paths.name, meta["protocol"],
                     training_people(protocol_files(meta["protocol"])[0]))
    scores = engine.score_rendered(test, paths.images, paths.render, paths.name, model, MODES)
    return scores.assign(train_seed=int(seed))
