"""score_attacker@<name>: a trained attacker scores the rendered pairs -> data/scores/<name>.parquet.

It scores only its training protocol's test pairs (other protocols share people with its training set),
in the same threat models and through the same code path as plain ArcFace:
- adapter: the sharp side is plain ArcFace; the obfuscated side is ArcFace passed through the adapter;
- finetune: the fine-tuned recogniser embeds both sides.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from flup.attack import adapter, arcface_torch
from flup.config import load_config, run_stage
from flup.config.params import ParamError
from flup.evaluate import recognition
from flup.faces import weights
from flup.io import read_json, write_table
from flup.log import get_logger
from flup.models.model import load_weights
from flup.models.training import resolve_device
from stages.score_arcface import score_rendered

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
    if meta["method"] == "adapter":
        arcface = recognition.ArcFace(onnx_path)
        net = load_weights(adapter.EmbeddingAdapter(512, int(meta["hidden"]), int(meta["depth"])),
                           MODELS / name / "adapter.safetensors")

        def embed_obfuscated(crops):
            return adapter.apply(net, arcface.embed(crops))

        embed_sharp = arcface.embed
    else:
        device = resolve_device(attack.device)
        module = arcface_torch.load(onnx_path, MODELS / name / "model.safetensors").to(device)

        def embed_sharp(crops):
            return arcface_torch.embed(module, crops, batch_size, device)

        embed_obfuscated = embed_sharp
    scores = score_rendered(cfg, name, embed_sharp, embed_obfuscated, modes, batch_size, protocols=[protocol])
    write_table(Path("data/scores") / f"{name}.parquet", scores)
    log.info("%d pair scores on %s (%s); %.0f s", len(scores), protocol,
             ", ".join(f"{k}={v}" for k, v in scores["status"].value_counts().items()), time.monotonic() - started)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m stages.score_attacker <name from params.yaml attackers>")
    torch.set_grad_enabled(False)
    run_stage(main, sys.argv[1])
