"""Rendering a dataset: one side of every test pair obfuscated at every (obfuscation, level, region) of ``render``.

LFW -> data/render/; an evaluation-only dataset -> data/datasets/<name>/render/. The end-to-end
attacker's detector runs here too, once per obfuscated image (see :func:`flup.obfuscation.render.render_levels`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from flup.config.paths import LFW, DatasetPaths, dataset_paths
from flup.executor import map_items
from flup.faces.detection import BOX_COLUMNS
from flup.io import atomic_path, read_table, write_json, write_table
from flup.obfuscation import render
from flup.pipeline import model_files
from flup.verify.engine import FaceFinder

if TYPE_CHECKING:
    from flup.config import Study
    from flup.config.schema import Executor


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


@dataclass(frozen=True)
class ImageRenderer:
    """The per-image step of render (:func:`flup.obfuscation.render.render_image`) as a worker factory for
    :func:`flup.executor.map_items`: items are (obfuscation, level, region, row), row as :func:`render.render_level`
    takes."""

    images: Path
    blur_border: str
    encoding: render.Encoding
    detector: Path
    det_size: int
    det_thresh: float
    redetect: bool = True  # find the face again in each rendered image (the end_to_end threat model reads it)

    def __call__(self, threads: int | None = None, gpu: bool = False):
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if gpu else None
        finder = None
        if self.redetect:
            finder = FaceFinder(self.detector, self.det_size, self.det_thresh, threads, providers)
        return partial(_render_item, self, finder)


def _render_item(step: ImageRenderer, finder: FaceFinder | None, item: tuple) -> tuple:
    kind, level, region, row = item
    return render.render_image(step.images, kind, level, region, step.encoding, finder, row, step.blur_border)


def render_each_image(tasks: list[tuple[str, float, float]], rows_at: dict, out: Path, step: ImageRenderer,
                      settings: Executor) -> int:
    """Every (obfuscation, level, region) of ``tasks`` into ``out``, image by image on ``settings``' executor (the
    stores :func:`render.render_levels` writes, the same bits); returns the payload bytes."""
    items = [(*task, row) for task in tasks for row in rows_at[task]]
    results = map_items(items, step, settings, "render")
    total, start = 0, 0
    for task in tasks:
        rows = rows_at[task]
        path = render.store_path(out, *task)
        path.parent.mkdir(parents=True, exist_ok=True)
        total += render.save_level(path, rows, results[start:start + len(rows)], step.encoding, step.redetect)
        start += len(rows)
    return total


def redetects(cfg: Study) -> bool:
    """Whether render must find the face again in each rendered image: only the end_to_end threat model reads it
    (of ArcFace, ``arcface.modes``, or of the attackers, ``attack.modes``), and it costs about two thirds of the
    stage. An attacker entry that overrides its own modes to end_to_end without either is refused when scored, by
    the store (:meth:`flup.obfuscation.render.RenderStore.landmarks`)."""
    return "end_to_end" in cfg.arcface.modes or "end_to_end" in cfg.attack.modes


def render_dataset(cfg: Study, name: str = LFW) -> dict:
    """Render dataset ``name`` into its render folder (atomically); returns its ``summary.json``."""
    paths = dataset_paths(cfg, name)
    encoding = render.Encoding(cfg.render.encoding, cfg.render.jpeg_quality)
    tasks = cfg.render.tasks()
    wanted = obfuscated_images(cfg.render.obfuscated_side, paths)
    faces = read_table(paths.faces)
    manifest = wanted.merge(faces[["image", "status", *BOX_COLUMNS]], on="image", how="left")
    manifest["status"] = manifest["status"].fillna("missing")
    renderable = manifest[manifest["status"] == "ok"]
    detections = faces.drop(columns=["faces"], errors="ignore").set_index("image", drop=False)
    rows = [(r.image, (r.x1, r.y1, r.x2, r.y2), detections.loc[r.image].to_dict()) for r in renderable.itertuples()]
    # Baseline-only protocols (render.baseline_only) are rendered at the unobfuscated level alone.
    levels_protocols = {task: protocols_at(cfg, paths, *task[:2]) for task in tasks}
    rows_at = {}
    for task, protocols in levels_protocols.items():
        if protocols == list(paths.protocols):
            rows_at[task] = rows
        else:
            keep = set(obfuscated_images(cfg.render.obfuscated_side, paths, protocols)["image"])
            rows_at[task] = [row for row in rows if row[0] in keep]
    find_face = None
    if redetects(cfg):
        find_face = partial(FaceFinder, model_files.detector_file(cfg), cfg.detector.det_size,
                            cfg.detector.det_thresh, render.threads_per_worker(cfg.render.workers))

    with atomic_path(paths.render) as staging:
        if cfg.executor.kind == "local":  # worker processes, one level each
            total_bytes = render.render_levels(tasks, rows_at, paths.images, staging, encoding, cfg.render.workers,
                                               find_face, cfg.render.blur_border)
        else:
            step = ImageRenderer(paths.images.resolve(), cfg.render.blur_border, encoding,
                                 model_files.detector_file(cfg), cfg.detector.det_size, cfg.detector.det_thresh,
                                 redetect=find_face is not None)
            total_bytes = render_each_image(tasks, rows_at, staging, step, cfg.executor)
        write_table(staging / "manifest.csv", manifest[["image", "status"]])
        summary = {
            "images": len(manifest), "rendered": len(rows), "not_rendered": int((manifest["status"] != "ok").sum()),
            "renders": sum(len(rows_at[task]) for task in tasks),
            "levels": [{"obfuscation": k, "level": v, "region": r, "protocols": levels_protocols[(k, v, r)]}
                       for k, v, r in tasks],
            "encoding": encoding.name, "blur_border": cfg.render.blur_border, "payload_bytes": total_bytes,
            "redetected": find_face is not None,
        }
        write_json(staging / "summary.json", summary)
    return summary
