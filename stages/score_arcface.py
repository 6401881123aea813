"""score_arcface [dataset]: per-pair cosine similarities of the ArcFace baseline.

LFW -> data/scores/arcface.parquet; an evaluation-only dataset -> data/scores/<name>/arcface.parquet.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from flup.config import Study, load_config, run_stage
from flup.evaluate import recognition
from flup.evaluate.scoring import score_pairs
from flup.faces import weights
from flup.faces.detection import landmarks_of
from flup.io import read_json, read_table, write_table
from flup.log import get_logger
from flup.obfuscate import render
from stages.common import LFW, DatasetPaths, build_detector, dataset_paths, load_test_set

Embedder = Callable[[list[np.ndarray]], np.ndarray]  # aligned 112x112 BGR crops -> (n, dim) unit rows


def embed_in_batches(embed: Embedder, crops: dict[str, np.ndarray], batch_size: int) -> dict:
    names = list(crops)
    out = {}
    for start in range(0, len(names), batch_size):
        chunk = names[start:start + batch_size]
        for name, vector in zip(chunk, embed([crops[n] for n in chunk]), strict=True):
            out[name] = vector
    return out


def score_rendered(cfg: Study, recognizer: str, embed_sharp: Embedder, embed_obfuscated: Embedder,
                   modes: list[str], batch_size: int, protocols: list[str] | None = None,
                   paths: DatasetPaths | None = None) -> pd.DataFrame:
    """Score the rendered pairs with any embedding of aligned 112x112 crops, in the ArcFace threat models.

    ``embed_sharp`` embeds the sharp side, ``embed_obfuscated`` the obfuscated side (end-to-end: crops
    aligned on re-detected landmarks; oracle box: on the sharp image's). ``protocols`` limits the pairs
    scored (default: all of the dataset's); ``paths`` picks the dataset (default: LFW).
    """
    paths = paths or dataset_paths(cfg)
    detector = build_detector(cfg) if "end_to_end" in modes else None
    test = load_test_set(cfg, paths)
    pairs = {p: t for p, t in test.pairs.items() if protocols is None or p in protocols}
    sharp_side, usable = test.sharp_side, test.faces
    obfuscated_side = "a" if sharp_side == "b" else "b"
    wanted_sharp = {i for table in pairs.values() for i in table[f"image_{sharp_side}"]}
    wanted_obf = {i for table in pairs.values() for i in table[f"image_{obfuscated_side}"]}
    sharp_crops = {
        name: recognition.align(cv2.imread(str(paths.images / name)), landmarks_of(usable.loc[name]))
        for name in tqdm([n for n in test.sharp_images if n in wanted_sharp], desc="align sharp side", unit="img",
                         mininterval=2.0)
    }
    sharp = embed_in_batches(embed_sharp, sharp_crops, batch_size)

    summary = read_json(paths.render / "summary.json")
    manifest = read_table(paths.render / "manifest.csv")
    obf_names = [n for n in manifest.query("status == 'ok'")["image"] if n in wanted_obf]
    sharp_pixels = {name: cv2.imread(str(paths.images / name)) for name in obf_names}
    tables = []
    progress = tqdm(total=len(summary["levels"]) * len(obf_names), desc=f"score {recognizer}", unit="img",
                    mininterval=2.0)
    for entry in summary["levels"]:
        kind, level = entry["obfuscation"], entry["level"]
        store = render.RenderStore(render.store_path(paths.render, kind, level))
        oracle_crops, e2e_crops, not_found = {}, {}, []
        for name in obf_names:
            image = store.obfuscated(name, sharp_pixels[name])
            if "oracle_box" in modes:
                oracle_crops[name] = recognition.align(image, landmarks_of(usable.loc[name]))
            if "end_to_end" in modes:
                found = recognition.redetect(detector, image, usable.loc[name])  # the image's face rule
                if found is None:
                    not_found.append(name)
                else:
                    e2e_crops[name] = recognition.align(image, found)
            progress.update()
        by_mode = {
            "oracle_box": embed_in_batches(embed_obfuscated, oracle_crops, batch_size),
            "end_to_end": {**embed_in_batches(embed_obfuscated, e2e_crops, batch_size), **dict.fromkeys(not_found)},
        }
        for mode in modes:
            for protocol, table in pairs.items():
                tables.append(score_pairs(
                    table, sharp_side, sharp, by_mode[mode], dataset=paths.name, protocol=protocol,
                    recognizer=recognizer, mode=mode, obfuscation=kind, level=float(level),
                ))
    progress.close()
    return pd.concat(tables, ignore_index=True)


def main(name: str = LFW) -> None:
    log = get_logger("score_arcface" if name == LFW else f"score_arcface@{name}")
    cfg = load_config()
    paths = dataset_paths(cfg, name)
    started = time.monotonic()
    arcface = cfg.arcface
    model = recognition.ArcFace(weights.resolve("recognizer", arcface.model, cfg.models.root, arcface.sha256,
                                                section="arcface"))
    scores = score_rendered(cfg, "arcface", model.embed, model.embed, arcface.modes, arcface.batch_size, paths=paths)
    write_table(paths.scores / "arcface.parquet", scores)
    counts = scores["status"].value_counts().to_dict()
    log.info("%d pair scores (%s); %.0f s", len(scores), ", ".join(f"{k}={v}" for k, v in counts.items()),
             time.monotonic() - started)


if __name__ == "__main__":
    run_stage(main, *sys.argv[1:2])
