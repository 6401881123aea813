"""score_model@<model>: a trained dual-stream model scores the rendered pairs -> data/scores/<model>.parquet."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import cv2
import pandas as pd
import torch
from tqdm import tqdm

from flup import embedding, model, render, training
from flup.faces import box_of
from flup.io import read_json, read_table, write_table
from flup.log import get_logger
from flup.params import get, load_params
from flup.sampling import Policy
from flup.scoring import score_pairs
from stages.common import load_test_set

IMAGES = Path("data/raw/lfw/images")
RENDER = Path("data/render")


def main(name: str) -> None:
    log = get_logger(f"score_model@{name}")
    params = load_params()
    started = time.monotonic()
    meta = read_json(Path("data/models") / name / "meta.json")
    policy = Policy.from_params(meta["policy"])
    size = int(meta["input_size"])
    net = model.build_dual_stream(meta["head"], size, "none")
    model.load_weights(net, Path("data/models") / name / "model.safetensors")
    device = training.resolve_device(get(params, "score_model.device"))
    net.to(device).eval()
    batch = int(get(params, "score_model.batch_size"))

    def vectors(images, boxes, stream):
        return embedding.embed(net, images, boxes, policy, size, stream, batch_size=batch, device=device)

    test = load_test_set(params)
    pairs, sharp_side, usable, sharp_names = test.pairs, test.sharp_side, test.faces, test.sharp_images
    boxes = {name_: box_of(usable.loc[name_]) for name_ in usable.index}
    sharp = dict(zip(sharp_names, vectors([cv2.imread(str(IMAGES / n)) for n in sharp_names],
                                          [boxes[n] for n in sharp_names], "sharp"), strict=True))

    summary = read_json(RENDER / "summary.json")
    obf_names = list(read_table(RENDER / "manifest.csv").query("status == 'ok'")["image"])
    pixels = {n: cv2.imread(str(IMAGES / n)) for n in obf_names}
    tables = []
    for entry in tqdm(summary["levels"], desc=f"score {name}", unit="level"):
        kind, level = entry["obfuscation"], entry["level"]
        store = render.RenderStore(render.store_path(RENDER, kind, level))
        images = [store.obfuscated(n, pixels[n]) for n in obf_names]
        obfuscated = dict(zip(obf_names, vectors(images, [boxes[n] for n in obf_names], "blurred"), strict=True))
        for protocol, table in pairs.items():
            tables.append(score_pairs(table, sharp_side, sharp, obfuscated, dataset="lfw", protocol=protocol,
                                      recognizer=name, mode="oracle_box", obfuscation=kind, level=float(level)))
    scores = pd.concat(tables, ignore_index=True)
    write_table(Path("data/scores") / f"{name}.parquet", scores)
    log.info("%d pair scores over %d levels (%s); %.0f s", len(scores), len(summary["levels"]),
             ", ".join(f"{k}={v}" for k, v in scores["status"].value_counts().items()), time.monotonic() - started)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m stages.score_model <name from params.yaml variants>")
    torch.set_grad_enabled(False)
    main(sys.argv[1])
