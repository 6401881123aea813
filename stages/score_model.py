"""score_model <model> [dataset]: a trained dual-stream model scores the rendered pairs.

LFW -> data/scores/<model>.parquet; an evaluation-only dataset -> data/scores/<dataset>/<model>.parquet.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import cv2
import pandas as pd
import torch
from tqdm import tqdm

from flup.config import load_config, run_stage
from flup.evaluate.scoring import score_pairs
from flup.faces.detection import box_of
from flup.io import read_json, read_table, write_table
from flup.log import get_logger
from flup.models import embedding, model, training
from flup.models.sampling import Policy
from flup.obfuscate import render
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
    batch = cfg.score_model.batch_size

    def vectors(images, boxes, stream):
        return embedding.embed(net, images, boxes, policy, size, stream, batch_size=batch, device=device)

    test = load_test_set(cfg, paths)
    pairs, sharp_side, usable, sharp_names = test.pairs, test.sharp_side, test.faces, test.sharp_images
    boxes = {name_: box_of(usable.loc[name_]) for name_ in usable.index}
    sharp = dict(zip(sharp_names, vectors([cv2.imread(str(paths.images / n)) for n in sharp_names],
                                          [boxes[n] for n in sharp_names], "sharp"), strict=True))

    summary = read_json(paths.render / "summary.json")
    obf_names = list(read_table(paths.render / "manifest.csv").query("status == 'ok'")["image"])
    pixels = {n: cv2.imread(str(paths.images / n)) for n in obf_names}
    tables = []
    for entry in tqdm(summary["levels"], desc=f"score {name}", unit="level"):
        kind, level = entry["obfuscation"], entry["level"]
        store = render.RenderStore(render.store_path(paths.render, kind, level))
        images = [store.obfuscated(n, pixels[n]) for n in obf_names]
        obfuscated = dict(zip(obf_names, vectors(images, [boxes[n] for n in obf_names], "blurred"), strict=True))
        for protocol, table in pairs.items():
            tables.append(score_pairs(table, sharp_side, sharp, obfuscated, dataset=paths.name, protocol=protocol,
                                      recognizer=name, mode="oracle_box", obfuscation=kind, level=float(level)))
    scores = pd.concat(tables, ignore_index=True)
    write_table(paths.scores / f"{name}.parquet", scores)
    log.info("%d pair scores over %d levels (%s); %.0f s", len(scores), len(summary["levels"]),
             ", ".join(f"{k}={v}" for k, v in scores["status"].value_counts().items()), time.monotonic() - started)


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        raise SystemExit("usage: python -m stages.score_model <name from params.yaml variants> [dataset]")
    torch.set_grad_enabled(False)
    run_stage(main, *sys.argv[1:3])
