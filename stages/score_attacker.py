"""score_attacker@<name>: a trained attacker scores the rendered pairs -> data/scores/<name>.parquet.

It scores only its training protocol's test pairs (other protocols share people with its training set),
in the same threat models and through the same code path as plain ArcFace (flup/evaluate/engine.py);
flup/attack/recognizer.py turns the trained adapter or fine-tuned model into a recogniser.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from flup.attack import recognizer
from flup.config import load_config, run_stage
from flup.config.params import ParamError
from flup.evaluate import engine
from flup.faces import weights
from flup.io import read_json, write_table
from flup.log import get_logger
from flup.models.training import resolve_device
from stages.common import ARCFACE_EMBEDDINGS, dataset_paths, load_test_set

MODELS = Path("data/attackers")


def main(name: str) -> None:
    log = get_logger(f"score_attacker@{name}")
    cfg = load_config()
    attack = cfg.attacker(name).attack
    started = time.monotonic()
    meta = read_json(MODELS / name / "meta.json")
    modes, batch_size, protocol = attack.modes, attack.batch_size, meta["protocol"]
    if protocol not in cfg.render.protocols:
        raise ParamError(f"{cfg.where('render.protocols')}: render.protocols: expected to include {protocol}, "
                         f"the protocol {name} trained on, got {cfg.render.protocols}")
    onnx_path = weights.resolve("recognizer", cfg.arcface.model, cfg.models.root, cfg.arcface.sha256,
                                section="arcface")
    attacker = recognizer.load(name, MODELS / name, meta, onnx_path, batch_size, resolve_device(attack.device),
                               ARCFACE_EMBEDDINGS)
    paths = dataset_paths(cfg)
    scores = engine.score_rendered(load_test_set(cfg, paths), paths.images, paths.render, paths.name, attacker,
                                   modes, protocols=[protocol])
    write_table(Path("data/scores") / f"{name}.parquet", scores)
    log.info("%d pair scores on %s (%s); %.0f s", len(scores), protocol,
             ", ".join(f"{k}={v}" for k, v in scores["status"].value_counts().items()), time.monotonic() - started)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m stages.score_attacker <name from params.yaml attackers>")
    torch.set_grad_enabled(False)
    run_stage(main, sys.argv[1])
