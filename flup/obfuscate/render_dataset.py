"""Rendering a dataset: one side of every test pair obfuscated at every (obfuscation, level) of ``render``.

LFW -> data/render/; an evaluation-only dataset -> data/datasets/<name>/render/. The end-to-end
attacker's detector runs here too, once per obfuscated image (see :func:`flup.obfuscate.render.render_levels`).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import pandas as pd

from flup.data.paths import LFW, DatasetPaths, dataset_paths
from flup.evaluate.engine import FaceFinder
from flup.faces import weights
from flup.faces.detection import BOX_COLUMNS
from flup.io import atomic_path, read_table, write_json, write_table
from flup.obfuscate import render

if TYPE_CHECKING:
    from flup.config import Study


def obfuscated_images(side: str, paths: DatasetPaths) -> pd.DataFrame:
    """The obfuscated ``side`` of every pair of the dataset's protocols (deduplicated across protocols)."""
    names = []
    for pairs_file in paths.protocols.values():
        pairs = read_table(pairs_file)
        names.extend(pairs[f"image_{side}"])
    return pd.DataFrame({"image": sorted(set(names))})


def render_dataset(cfg: Study, name: str = LFW) -> dict:
    """Render dataset ``name`` into its render folder (atomically); returns its ``summary.json``."""
    paths = dataset_paths(cfg, name)
    encoding = render.Encoding(cfg.render.encoding, cfg.render.jpeg_quality)
    tasks = cfg.render.obfuscations.pairs()
    wanted = obfuscated_images(cfg.render.obfuscated_side, paths)
    faces = read_table(paths.faces)
    manifest = wanted.merge(faces[["image", "status", *BOX_COLUMNS]], on="image", how="left")
    manifest["status"] = manifest["status"].fillna("missing")
    renderable = manifest[manifest["status"] == "ok"]
    detections = faces.drop(columns=["faces"], errors="ignore").set_index("image", drop=False)
    rows = [(r.image, (r.x1, r.y1, r.x2, r.y2), detections.loc[r.image].to_dict()) for r in renderable.itertuples()]
    detector = cfg.detector
    find_face = partial(FaceFinder, weights.resolve("detector", detector.model, cfg.models.root, detector.sha256),
                        detector.det_size, detector.det_thresh, render.threads_per_worker(cfg.render.workers))

    with atomic_path(paths.render) as staging:
        total_bytes = render.render_levels(tasks, rows, paths.images, staging, cfg.render.box_scale, encoding,
                                           cfg.render.workers, find_face)
        write_table(staging / "manifest.csv", manifest[["image", "status"]])
        summary = {
            "images": len(manifest), "rendered": len(rows), "not_rendered": int((manifest["status"] != "ok").sum()),
            "levels": [{"obfuscation": k, "level": v} for k, v in tasks],
            "encoding": encoding.name, "payload_bytes": total_bytes,
        }
        write_json(staging / "summary.json", summary)
    return summary
