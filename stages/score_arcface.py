"""score_arcface [dataset]: per-pair cosine similarities of the ArcFace baseline.

LFW -> data/scores/arcface.parquet; an evaluation-only dataset -> data/scores/<name>/arcface.parquet.
"""

from __future__ import annotations

import sys
import time

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from flup import recognition, render, weights
from flup.faces import landmarks_of
from flup.io import read_json, read_table, write_table
from flup.log import get_logger
from flup.params import ParamError, get, load_params
from flup.scoring import score_pairs
from stages.common import LFW, build_detector, dataset_paths, load_test_set


def embed_in_batches(model: recognition.ArcFace, crops: dict[str, np.ndarray], batch_size: int) -> dict:
    names = list(crops)
    out = {}
    for start in range(0, len(names), batch_size):
        chunk = names[start:start + batch_size]
        for name, vector in zip(chunk, model.embed([crops[n] for n in chunk]), strict=True):
            out[name] = vector
    return out


def main(name: str = LFW) -> None:
    log = get_logger("score_arcface" if name == LFW else f"score_arcface@{name}")
    params = load_params()
    paths = dataset_paths(params, name)
    images, rendered = paths.images, paths.render
    started = time.monotonic()
    modes = get(params, "arcface.modes")
    for mode in modes:
        if mode not in recognition.MODES:
            raise ParamError(f"params.yaml: arcface.modes has {mode!r}; expected {', '.join(recognition.MODES)}")
    batch_size = int(get(params, "arcface.batch_size"))
    model = recognition.ArcFace(weights.resolve("recognizer", get(params, "arcface.model"), get(params, "models.root"),
                                                get(params, "arcface.sha256", None), section="arcface"))
    detector = build_detector(params)

    test = load_test_set(params, paths)
    pairs, sharp_side, usable, sharp_names = test.pairs, test.sharp_side, test.faces, test.sharp_images
    sharp_crops = {
        image: recognition.align(cv2.imread(str(images / image)), landmarks_of(usable.loc[image]))
        for image in tqdm(sharp_names, desc="align sharp side", unit="img", mininterval=2.0)
    }
    sharp = embed_in_batches(model, sharp_crops, batch_size)

    summary = read_json(rendered / "summary.json")
    obf_names = [n for n in read_table(rendered / "manifest.csv").query("status == 'ok'")["image"]]
    sharp_pixels = {n: cv2.imread(str(images / n)) for n in obf_names}
    tables = []
    progress = tqdm(total=len(summary["levels"]) * len(obf_names), desc="score arcface", unit="img", mininterval=2.0)
    for entry in summary["levels"]:
        kind, level = entry["obfuscation"], entry["level"]
        store = render.RenderStore(render.store_path(rendered, kind, level))
        oracle_crops, e2e_crops, not_found = {}, {}, []
        for image_name in obf_names:
            image = store.obfuscated(image_name, sharp_pixels[image_name])
            if "oracle_box" in modes:
                oracle_crops[image_name] = recognition.align(image, landmarks_of(usable.loc[image_name]))
            if "end_to_end" in modes:
                found = recognition.redetect(detector, image)
                if found is None:
                    not_found.append(image_name)
                else:
                    e2e_crops[image_name] = recognition.align(image, found)
            progress.update()
        by_mode = {
            "oracle_box": embed_in_batches(model, oracle_crops, batch_size),
            "end_to_end": {**embed_in_batches(model, e2e_crops, batch_size), **dict.fromkeys(not_found)},
        }
        for mode in modes:
            for protocol, table in pairs.items():
                tables.append(score_pairs(
                    table, sharp_side, sharp, by_mode[mode], dataset=paths.name, protocol=protocol,
                    recognizer="arcface", mode=mode, obfuscation=kind, level=float(level),
                ))
    progress.close()
    scores = pd.concat(tables, ignore_index=True)
    write_table(paths.scores / "arcface.parquet", scores)
    counts = scores["status"].value_counts().to_dict()
    log.info("%d pair scores (%s); %d sharp + %d obfuscated images x %d levels; %.0f s",
             len(scores), ", ".join(f"{k}={v}" for k, v in counts.items()), len(sharp), len(obf_names),
             len(summary["levels"]), time.monotonic() - started)


if __name__ == "__main__":
    main(*sys.argv[1:2])
