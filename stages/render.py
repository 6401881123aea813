"""render [dataset]: obfuscate one side of every test pair, per obfuscation x level.

LFW -> data/render/; an evaluation-only dataset -> data/datasets/<name>/render/.
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ProcessPoolExecutor

import cv2
import pandas as pd
from tqdm import tqdm

from flup.config import load_config, run_stage
from flup.faces.detection import BOX_COLUMNS
from flup.io import atomic_path, read_table, write_json, write_table
from flup.log import get_logger
from flup.obfuscate import render
from stages.common import LFW, DatasetPaths, dataset_paths


def obfuscated_images(side: str, paths: DatasetPaths) -> pd.DataFrame:
    """The obfuscated ``side`` of every pair of the dataset's protocols (deduplicated across protocols)."""
    names = []
    for pairs_file in paths.protocols.values():
        pairs = read_table(pairs_file)
        names.extend(pairs[f"image_{side}"])
    return pd.DataFrame({"image": sorted(set(names))})


def _render_level(job) -> tuple[str, float, int, int]:
    kind, level, rows, box_scale, encoding, images, out = job
    names, boxes, payloads = [], [], []
    for image, box in rows:
        pixels = cv2.imread(str(images / image), cv2.IMREAD_COLOR)
        patch_box, data = render.render_one(pixels, box, kind, level, box_scale, encoding)
        names.append(image)
        boxes.append(patch_box)
        payloads.append(data)
    render.save_store(render.store_path(out, kind, level), names, boxes, payloads, encoding)
    return kind, level, len(names), sum(len(p) for p in payloads)


def main(name: str = LFW) -> None:
    log = get_logger("render" if name == LFW else f"render@{name}")
    cfg = load_config()
    paths = dataset_paths(cfg, name)
    started = time.monotonic()
    encoding = render.Encoding(cfg.render.encoding, cfg.render.jpeg_quality)
    box_scale = cfg.render.box_scale
    tasks = cfg.render.obfuscations.pairs()

    wanted = obfuscated_images(cfg.render.obfuscated_side, paths)
    faces = read_table(paths.faces)
    manifest = wanted.merge(faces[["image", "status", *BOX_COLUMNS]], on="image", how="left")
    manifest["status"] = manifest["status"].fillna("missing")
    renderable = manifest[manifest["status"] == "ok"]
    rows = [(r.image, (r.x1, r.y1, r.x2, r.y2)) for r in renderable.itertuples()]

    with atomic_path(paths.render) as staging:
        for kind, level in tasks:
            render.store_path(staging, kind, level).parent.mkdir(parents=True, exist_ok=True)
        jobs = [(kind, level, rows, box_scale, encoding, paths.images, staging) for kind, level in tasks]
        total_bytes = 0
        with ProcessPoolExecutor(max_workers=cfg.render.workers) as pool:
            for _, _, _, size in tqdm(pool.map(_render_level, jobs), total=len(jobs), desc="render", unit="level"):
                total_bytes += size
        write_table(staging / "manifest.csv", manifest[["image", "status"]])
        write_json(staging / "summary.json", {
            "images": len(manifest), "rendered": len(rows), "not_rendered": int((manifest["status"] != "ok").sum()),
            "levels": [{"obfuscation": k, "level": v} for k, v in tasks],
            "encoding": encoding.name, "payload_bytes": total_bytes,
        })
    log.info("%d images x %d levels rendered (%d without a face, never emitted); %.1f MB; %.0f s",
             len(rows), len(tasks), len(manifest) - len(rows), total_bytes / 1e6, time.monotonic() - started)


if __name__ == "__main__":
    run_stage(main, *sys.argv[1:2])
