"""render [dataset]: obfuscate one side of every test pair, per obfuscation x level.

LFW -> data/render/; an evaluation-only dataset -> data/datasets/<name>/render/.
"""

from __future__ import annotations

import sys
import time
from functools import partial

import pandas as pd

from flup.config import load_config, run_stage
from flup.evaluate.engine import FaceFinder
from flup.faces import weights
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
    detections = faces.drop(columns=["faces"], errors="ignore").set_index("image", drop=False)
    rows = [(r.image, (r.x1, r.y1, r.x2, r.y2), detections.loc[r.image].to_dict()) for r in renderable.itertuples()]
    # The end-to-end attacker's detector runs here, once per obfuscated image, for every recogniser.
    detector = cfg.detector
    find_face = partial(FaceFinder, weights.resolve("detector", detector.model, cfg.models.root, detector.sha256),
                        detector.det_size, detector.det_thresh, render.threads_per_worker(cfg.render.workers))

    with atomic_path(paths.render) as staging:
        total_bytes = render.render_levels(tasks, rows, paths.images, staging, box_scale, encoding,
                                           cfg.render.workers, find_face)
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
