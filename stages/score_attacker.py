"""score_attacker@<name>: a trained attacker scores the rendered pairs -> data/scores/<name>.parquet.

It scores only its training protocol's test pairs (other protocols share people with its training set),
in the same threat models and through the same code path as plain ArcFace (flup/evaluate/engine.py);
flup/attack/recognizer.py turns the trained adapter or fine-tuned model into a recogniser. With
``executor.kind: ray`` its batches are embedded on Ray actors, each holding its models (flup/executor.py), the
same batches and bits.
"""

from __future__ import annotations

import sys
import time

import pandas as pd
import torch

from flup.attack.recognizer import AttackerWorker, score_attacker
from flup.config import load_config, run_stage
from flup.config.paths import SCORES
from flup.executor import ActorPool
from flup.io import write_table
from flup.log import get_logger


def main(name: str) -> None:
    log = get_logger(f"score_attacker@{name}")
    cfg = load_config()
    started = time.monotonic()
    tables = []
    for seed in cfg.attacker(name).attack.seeds:
        if cfg.executor.kind == "local":
            scores, protocol = score_attacker(cfg, name, seed)
        else:  # attack.batch_size crops a piece: the batches it embeds in-process (docs/scaling.md)
            worker = AttackerWorker.of(cfg, name, seed)
            with ActorPool(worker, cfg.executor, cfg.attacker(name).attack.batch_size) as pool:
                scores, protocol = score_attacker(cfg, name, seed, pool)
        tables.append(scores)
    scores = pd.concat(tables, ignore_index=True)
    write_table(SCORES / f"{name}.parquet", scores)
    log.info("%d pair scores on %s (%s); %.0f s", len(scores), protocol,
             ", ".join(f"{k}={v}" for k, v in scores["status"].value_counts().items()), time.monotonic() - started)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m stages.score_attacker <name from params.yaml attackers>")
    torch.set_grad_enabled(False)
    run_stage(main, sys.argv[1])
