"""score_model <model> [dataset]: a trained dual-stream model scores the rendered pairs (flup/pipeline/score_model.py).

LFW -> data/scores/<model>.parquet; an evaluation-only dataset -> data/scores/<dataset>/<model>.parquet: one table
for every replica of ``train.seeds`` (column ``train_seed``).
With ``executor.kind: ray`` the model's batches are embedded on Ray actors, each holding the model
(flup/executor.py), the same batches and bits.
"""

from __future__ import annotations

import sys
import time

import pandas as pd
import torch

from flup.config import load_config, run_stage
from flup.config.paths import LFW, dataset_paths
from flup.executor import ActorPool
from flup.io import write_table
from flup.log import get_logger
from flup.pipeline.score_model import score_variant, scoring_worker


def main(name: str, dataset: str = LFW) -> None:
    log = get_logger(f"score_model@{name}" + ("" if dataset == LFW else f"-{dataset}"))
    cfg = load_config()
    started = time.monotonic()
    tables = []
    for seed in cfg.train_settings(name).seeds:
        if cfg.executor.kind == "local":
            tables.append(score_variant(cfg, name, seed, dataset))
        else:  # score_model.batch_size inputs a piece: the batches it embeds in-process (docs/scaling.md)
            batch = cfg.score_model.batch_size
            with ActorPool(scoring_worker(cfg, name, seed), cfg.executor, batch) as pool:
                tables.append(score_variant(cfg, name, seed, dataset, pool))
    scores = pd.concat(tables, ignore_index=True)
    write_table(dataset_paths(cfg, dataset).scores / f"{name}.parquet", scores)
    levels = scores.groupby(["obfuscation", "level"]).ngroups
    log.info("%d pair scores over %d levels (%s); %.0f s", len(scores), levels,
             ", ".join(f"{k}={v}" for k, v in scores["status"].value_counts().items()), time.monotonic() - started)


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        raise SystemExit("usage: python -m stages.score_model <name from params.yaml variants> [dataset]")
    torch.set_grad_enabled(False)
    run_stage(main, *sys.argv[1:3])
