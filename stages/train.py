"""train@<model>: one dual-stream model of the model table, a replica per seed of ``train.seeds`` ->
data/models/<model>/seed<k>/ (flup/pipeline/train.py).

``train.nproc`` > 1 (or ``torchrun --nproc_per_node N -m stages.train <model>``): data-parallel on N GPUs.
"""

from __future__ import annotations

import sys
import time

from flup.config import load_config, run_stage
from flup.config.paths import MODELS, replica
from flup.io import write_json
from flup.log import get_logger
from flup.pipeline.train import train_variant
from flup.training import distributed
from flup.training.weight_files import save_weights


def main(name: str) -> None:
    log = get_logger(f"train@{name}")
    cfg = load_config()
    distributed.relaunch(cfg.train_settings(name).nproc, "stages.train", name, key="train.nproc")
    for seed in cfg.train_settings(name).seeds:
        started = time.monotonic()
        trained = train_variant(cfg, name, seed)
        if not distributed.world().is_main:  # under torchrun rank 0 writes the outputs
            continue
        folder = replica(MODELS / name, seed)
        save_weights(trained.model, folder / "model.safetensors")
        write_json(folder / "meta.json", trained.meta)
        history = trained.meta["history"]
        last = history[-1] if history else {}
        log.info("%s seed %d on %s: %d identities, %d samples/epoch, %d epochs; last loss %.4f, val AUC %s; %.0f s",
                 name, seed, trained.meta["protocol"], trained.identities, trained.samples_per_epoch,
                 len(history), last.get("loss", float("nan")), last.get("val_auc"), time.monotonic() - started)

if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m stages.train <name from params.yaml variants>")
    run_stage(main, sys.argv[1])
