"""Rendering a dataset: one side of every test pair obfuscated at every (obfuscation, level) of ``render``.

LFW -> data/render/; an evaluation-only dataset -> data/datasets/<name>/render/. The end-to-end
attacker's detector runs here too, once per obfuscated image (see :func:`flup.obfuscate.render.render_levels`).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import pandas as pd

from flup.config.paths import LFW, DatasetPaths, dataset_paths
from flup.evaluate.engine import FaceFinder
from flup.faces import weights
from flup.faces.detection import BOX_COLUMNS
from flup.io import atomic_path, read_table, write_json, write_table
from flup.obfuscate import render

if TYPE_CHECKING:
    from flup.config import Study


def obfuscated_images(side: str, paths: DatasetPaths, protocols: list[str] | None = None) -> pd.DataFrame:
    """The obfuscated ``side`` of every pair of the dataset's ``protocols`` (default all; deduplicated)."""
    names = []
    for protocol, pairs_file in paths.protocols.items():
        if protocols is None or protocol in protocols:
            names.extend(read_table(pairs_file)[f"image_{side}"])
    return pd.DataFrame({"image": sorted(set(names))})


def protocols_at(cfg: Study, paths: DatasetPaths, kind: str, level: float) -> list[str]:
    """The dataset's protocols rendered at one level (an evaluation-only dataset's one protocol: always)."""
    if paths.name != LFW:
        return list(paths.protocols)
    return cfg.render.protocols_at(kind, level)


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
    # Baseline-only protocols (render.baseline_only) are rendered at the unobfuscated level alone.
    levels_protocols = {task: protocols_at(cfg, paths, *task) for task in tasks}
    rows_at = {}
    for task, protocols in levels_protocols.items():
        if protocols == list(paths.protocols):
            rows_at[task] = rows
        else:
            keep = set(obfuscated_images(cfg.render.obfuscated_side, paths, protocols)["image"])
            rows_at[task] = [row for row in rows if row[0] in keep]
    find_face = partial(FaceFinder, weights.detector_file(cfg), cfg.detector.det_size, cfg.detector.det_thresh,
                        render.threads_per_worker(cfg.render.workers))

    with atomic_path(paths.render) as staging:
        total_bytes = render.render_levels(tasks, rows_at, paths.images, staging, cfg.render.box_scale, encoding,
                                           cfg.render.workers, find_face, cfg.render.blur_border)
        write_table(staging / "manifest.csv", manifest[["image", "status"]])
        summary = {
            "images": len(manifest), "rendered": len(rows), "not_rendered": int((manifest["status"] != "ok").sum()),
            "levels": [{"obfuscation": k, "level": v, "protocols": levels_protocols[(k, v)]} for k, v in tasks],
            "encoding": encoding.name, "blur_border": cfg.render.blur_border, "payload_bytes": total_bytes,
        }
        write_json(staging / "summary.json", summary)
    return summary
