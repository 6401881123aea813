"""score_model <model> [dataset]: a trained dual-stream model scores the rendered pairs.

LFW -> data/scores/<model>.parquet; an evaluation-only dataset -> data/scores/<dataset>/<model>.parquet.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from flup.config import load_config, run_stage
from flup.io import read_json, write_table
from flup.log import get_logger
from flup.models import embedding, model, training
from flup.models.sampling import Policy
from stages.common import LFW, dataset_paths, load_test_set


def main(name: str, dataset: str = LFW) -> None:
    log = get_logger(f"score_model@{name}" + ("" if dataset == LFW else f"-{dataset}"))
    cfg = load_config()
    paths = dataset_paths(cfg, dataset)
    started = time.monotonic()
    meta = read_json(Path("data/models") / name / "meta.json")
    policy = Policy.from_params(meta["policy"])
    size = int(meta["input_size"])
    net = model.build_dual_stream(meta["head"], size, "none")
    model.load_weights(net, Path("data/models") / name / "model.safetensors")
    device = training.resolve_device(cfg.score_model.device)
    net.to(device).eval()
    scores = embedding.score_rendered(net, policy, size, load_test_set(cfg, paths), paths.images, paths.render,
                                      paths.name, name, cfg.score_model.batch_size, device)
    write_table(paths.scores / f"{name}.parquet", scores)
    levels = scores.groupby(["obfuscation", "level"]).ngroups
    log.info("%d pair scores over %d levels (%s); %.0f s", len(scores), levels,
             ", ".join(f"{k}={v}" for k, v in scores["status"].value_counts().items()), time.monotonic() - started)


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        raise SystemExit("usage: python -m stages.score_model <name from params.yaml variants> [dataset]")
    torch.set_grad_enabled(False)
    run_stage(main, *sys.argv[1:3])
