"""score_attacker <name> [dataset]: a trained attacker scores the rendered pairs.

LFW (score_attacker@<name>) -> data/scores/<name>.parquet: only the test pairs none of whose people it trained on;
an evaluation-only dataset (score_attacker_dataset@<name>-<dataset>) -> data/scores/<dataset>/<name>.parquet: every
pair (other people). An adapter reuses the ArcFace embeddings score_arcface saved for the dataset. Both in the
threat models of attack.modes, through the same code path as plain ArcFace (flup/verify/engine.py;
flup/pipeline/score_attacker.py); flup/attack/recognizer.py turns the trained adapter or fine-tuned model into a
recogniser. With ``executor.kind: ray`` its batches are embedded on Ray actors, each holding its models
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
from flup.pipeline.score_attacker import attacker_worker, score_attacker


def main(name: str, dataset: str = LFW) -> None:
    log = get_logger(f"score_attacker@{name}" + ("" if dataset == LFW else f"-{dataset}"))
    cfg = load_config()
    started = time.monotonic()
    tables = []
    for seed in cfg.attacker(name).attack.seeds:
        if cfg.executor.kind == "local":
            scores, protocol = score_attacker(cfg, name, seed, dataset=dataset)
        else:  # attack.batch_size crops a piece: the batches it embeds in-process (docs/scaling.md)
            worker = attacker_worker(cfg, name, seed)
            with ActorPool(worker, cfg.executor, cfg.attacker(name).attack.batch_size) as pool:
                scores, protocol = score_attacker(cfg, name, seed, pool, dataset)
        tables.append(scores)
    scores = pd.concat(tables, ignore_index=True)
    write_table(dataset_paths(cfg, dataset).scores / f"{name}.parquet", scores)
    log.info("%d pair scores on %s (trained on %s; %s); %.0f s", len(scores), dataset, protocol,
             ", ".join(f"{k}={v}" for k, v in scores["status"].value_counts().items()), time.monotonic() - started)


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        raise SystemExit("usage: python -m stages.score_attacker <name from params.yaml attackers> [dataset]")
    torch.set_grad_enabled(False)
    run_stage(main, *sys.argv[1:3])
