"""Render and ArcFace scoring throughput on LFW: the old code path and the current one, side by side in one run.

    python -m benchmarks.render_score [--data DIR] [--pairs 120] [--view2-pairs 600] [--grid default]

Both paths run on the same sample, in this process, one after the other:

- render, before: obfuscate + PNG level 9 per image and level, the levels spread over ``--workers``
  processes (the render stage until 2026-11-30); after: :func:`flup.obfuscation.render.render_levels`
  (PNG level 1, the end-to-end re-detection done here once, longest levels first);
- ArcFace scoring, before: per obfuscated image decode, align, re-detect (ONNX Runtime's default
  session: a thread per core, busy-waiting) and embed in batches of 64, per scorer (the old
  ``stages/score_arcface.score_rendered``, kept below as :func:`legacy_score`); after:
  :func:`flup.verify.engine.score_rendered` on the stores rendered above (detections read from the
  store, every distinct crop embedded once, the next level prepared while this one is embedded).

Each path's score table must equal the other's exactly (checked; the run fails otherwise). Rates:
render in images x levels per second; scoring in pairs x levels per second of one threat model
(both modes: the pairs of both counted). Wall and CPU seconds (this process and its children) are
printed: the machine may be shared, and CPU seconds show the work done whatever else runs.
The last table projects the default study's ArcFace stages from the measured per-level rates.
Output checked in as benchmarks/render_score.md. Needs the detect and protocols stages' outputs
(``--data``: a folder with raw/lfw/images, faces/lfw.parquet, protocols/).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from flup.faces import weights
from flup.faces.detection import BOX_COLUMNS, Detector, landmarks_of
from flup.io import write_json, write_table
from flup.obfuscation import render
from flup.verify import engine, recognition
from flup.verify.scored_set import ScoredSet
from flup.verify.scoring import score_pairs

REPO = Path(__file__).resolve().parents[1]
# The default study's ArcFace grid (issue 12): the whole blur grid, pixelation, black box, three tool presets.
GRIDS = {
    "default": {"blur": [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24], "pixelate": [4, 8, 12, 16, 24],
                "blackbox": [1], "deface": [1.3], "face_gaussian": [0.5], "face_pixelate": [0.1]},
    "small": {"blur": [0, 8, 24], "pixelate": [8], "blackbox": [1], "deface": [1.3]},
}


class Clock:
    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), _cpu()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, _cpu() - self.cpu


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


# --- the old code path, kept verbatim in substance -------------------------------------------------


def _legacy_render_level(job) -> int:
    kind, level, rows, images, out = job
    names, boxes, payloads = [], [], []
    for image, box in rows:
        pixels = cv2.imread(str(images / image), cv2.IMREAD_COLOR)
        obfuscated = render.obfuscation.apply(pixels, box, kind, level, 1.0)
        if render.is_identity(kind, level):
            patch_box, data = (0, 0, 0, 0), b""
        else:
            patch_box = render.obfuscation.affected_box(pixels.shape, box, kind, level, 1.0)
            ok, encoded = cv2.imencode(".png", render.obfuscation.crop_box(obfuscated, patch_box),
                                       [cv2.IMWRITE_PNG_COMPRESSION, 9])
            data = encoded.tobytes()
        names.append(image)
        boxes.append(patch_box)
        payloads.append(data)
    render.save_store(render.store_path(out, kind, level), names, boxes, payloads, render.Encoding("png"))
    return sum(len(p) for p in payloads)


def legacy_render(tasks, rows, images: Path, out: Path, workers: int) -> int:
    for kind, level in tasks:
        render.store_path(out, kind, level).parent.mkdir(parents=True, exist_ok=True)
    jobs = [(kind, level, [(name, box) for name, box, _ in rows], images, out) for kind, level in tasks]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return sum(pool.map(_legacy_render_level, jobs))


def legacy_score(test: ScoredSet, images: Path, render_dir: Path, levels, detector, model, modes,
                 batch_size: int = 64) -> pd.DataFrame:
    """The old stages/score_arcface.score_rendered: re-detection inside the scorer, nothing shared."""
    def embed_in_batches(crops: dict) -> dict:
        names, out = list(crops), {}
        for start in range(0, len(names), batch_size):
            chunk = names[start:start + batch_size]
            for name, vector in zip(chunk, model.embed([crops[n] for n in chunk]), strict=True):
                out[name] = vector
        return out

    sharp_side = test.sharp_side
    obfuscated_side = "a" if sharp_side == "b" else "b"
    wanted_sharp = {i for table in test.pairs.values() for i in table[f"image_{sharp_side}"]}
    wanted_obf = {i for table in test.pairs.values() for i in table[f"image_{obfuscated_side}"]}
    sharp = embed_in_batches({n: recognition.align(cv2.imread(str(images / n)), landmarks_of(test.faces.loc[n]))
                              for n in test.sharp_images if n in wanted_sharp})
    obf_names = [n for n in engine.rendered_levels(render_dir)[1] if n in wanted_obf]
    sharp_pixels = {n: cv2.imread(str(images / n)) for n in obf_names}
    tables = []
    for kind, level in levels:
        store = render.RenderStore(render.store_path(render_dir, kind, level))
        oracle, e2e, not_found = {}, {}, []
        for name in obf_names:
            image = store.obfuscated(name, sharp_pixels[name])
            if "oracle_box" in modes:
                oracle[name] = recognition.align(image, landmarks_of(test.faces.loc[name]))
            if "end_to_end" in modes:
                found = recognition.redetect(detector, image)
                if found is None:
                    not_found.append(name)
                else:
                    e2e[name] = recognition.align(image, found)
        by_mode = {"oracle_box": embed_in_batches(oracle),
                   "end_to_end": {**embed_in_batches(e2e), **dict.fromkeys(not_found)}}
        for mode in modes:
            for protocol, table in test.pairs.items():
                tables.append(score_pairs(table, sharp_side, sharp, by_mode[mode], dataset="lfw", protocol=protocol,
                                          recognizer="arcface", mode=mode, obfuscation=kind, level=float(level)))
    return pd.concat(tables, ignore_index=True)


class LegacyArcFace(recognition.ArcFace):
    """ArcFace with ONNX Runtime's default session options (the old code's)."""

    def __init__(self, model_path: Path):
        import onnxruntime
        from insightface.model_zoo import get_model

        onnxruntime.set_default_logger_severity(3)
        self.model = get_model(str(model_path), providers=["CPUExecutionProvider"])
        self.parts, self._pool = 1, None  # one run per batch, on the session's intra-op threads


def legacy_detector(model_path: Path) -> Detector:
    detector = Detector.__new__(Detector)
    from insightface.model_zoo import get_model

    detector.model = get_model(str(model_path), providers=["CPUExecutionProvider"])
    detector.model.prepare(ctx_id=-1, input_size=(320, 320), det_thresh=0.5)
    return detector


# --- the sample ------------------------------------------------------------------------------------


def sample(data: Path, protocol: str, n_pairs: int) -> tuple[ScoredSet, list]:
    pairs = pd.read_csv(data / "protocols" / protocol / "pairs.csv")
    pairs = pairs.sample(n=min(n_pairs, len(pairs)), random_state=0).sort_values("pair_id").reset_index(drop=True)
    faces = pd.read_parquet(data / "faces" / "lfw.parquet").set_index("image", drop=False)
    usable = faces[faces["status"] == "ok"]
    sharp = sorted(set(pairs["image_a"]) & set(usable.index))
    rows = [(name, tuple(usable.loc[name, BOX_COLUMNS]), usable.loc[name].drop("faces").to_dict())
            for name in sorted(set(pairs["image_b"]) & set(usable.index))]
    return ScoredSet({protocol: pairs}, "a", usable.drop(columns="image"), sharp), rows


def write_manifest(out: Path, rows, tasks) -> None:
    write_table(out / "manifest.csv", pd.DataFrame({"image": [r[0] for r in rows], "status": "ok"}))
    write_json(out / "summary.json", {"levels": [{"obfuscation": k, "level": v} for k, v in tasks]})


def rate(count: float, seconds: float) -> str:
    return f"{count / seconds:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=REPO / "data")
    parser.add_argument("--pairs", type=int, default=120, help="view1 pairs in the sample")
    parser.add_argument("--view2-pairs", type=int, default=600, help="view2 pairs scored at sigma 0 (0 = skip)")
    parser.add_argument("--grid", choices=sorted(GRIDS), default="default")
    parser.add_argument("--workers", type=int, default=2, help="render processes (params.yaml render.workers)")
    args = parser.parse_args()
    images = args.data / "raw" / "lfw" / "images"
    tasks = [(kind, float(level)) for kind, levels in GRIDS[args.grid].items() for level in levels]
    test, rows = sample(args.data, "view1", args.pairs)
    detector_path = weights.resolve("detector", "scrfd_500m", "~")
    recognizer_path = weights.resolve("recognizer", "w600k_mbf", "~")
    cores = len(os.sched_getaffinity(0))
    print(f"machine: {os.cpu_count()} CPUs ({cores} usable), load average {os.getloadavg()[0]:.1f} at start; "
          f"view1 sample: {len(test.pairs['view1'])} pairs, {len(rows)} obfuscated images, {len(tasks)} levels "
          f"({args.grid} grid); detector SCRFD-500M at 320 px, recogniser w600k_mbf (ONNX Runtime CPU)\n")
    modes_list = [["oracle_box"], ["end_to_end"], ["oracle_box", "end_to_end"]]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        before_dir, after_dir = Path(tmp) / "before", Path(tmp) / "after"
        with Clock() as r_before:
            legacy_render(tasks, rows, images, before_dir, args.workers)
        write_manifest(before_dir, rows, tasks)
        finder = partial(engine.FaceFinder, detector_path, 320, 0.5, render.threads_per_worker(args.workers))
        with Clock() as r_after:
            render.render_levels([(*t, 1.0) for t in tasks], rows, images, after_dir, render.Encoding("png"),
                                 args.workers, finder)
        write_manifest(after_dir, rows, tasks)
        size = {d.name: sum(f.stat().st_size for f in d.rglob("*.npz")) for d in (before_dir, after_dir)}
        for kind, level in tasks:  # lossless: the decoded pixels are the same
            a = render.RenderStore(render.store_path(before_dir, kind, level))
            b = render.RenderStore(render.store_path(after_dir, kind, level))
            for name, _, _ in rows:
                sharp = cv2.imread(str(images / name))
                assert np.array_equal(a.obfuscated(name, sharp), b.obfuscated(name, sharp)), (kind, level, name)
        image_levels = len(rows) * len(tasks)
        print("| render | wall s | CPU s | images x levels / s (wall) | per CPU s | MB stored |")
        print("|---|---|---|---|---|---|")
        for label, clock, key in (("before: PNG level 9, no detection", r_before, "before"),
                                  ("after: PNG level 1 + end-to-end re-detection", r_after, "after")):
            print(f"| {label} | {clock.wall:.1f} | {clock.cpu:.1f} | {rate(image_levels, clock.wall)} | "
                  f"{rate(image_levels, clock.cpu)} | {size[key] / 1e6:.1f} |")
        print("\nDecoded pixels identical at every level; the after render also holds the re-detections, "
              "so the before scorer's detection time is the price of the after render's.\n", flush=True)

        detector = legacy_detector(detector_path)
        old_model = LegacyArcFace(recognizer_path)
        for modes in modes_list:
            with Clock() as before:
                old = legacy_score(test, images, before_dir, tasks, detector, old_model, modes)
            with Clock() as after:
                new = engine.score_rendered(test, images, after_dir, "lfw", engine.arcface(recognizer_path, 64),
                                            modes)
            assert old.equals(new), f"score tables differ for {modes}"
            results.append((modes, before, after, len(test.pairs["view1"]) * len(tasks) * len(modes)))
        projection = [("render, view1", "view1", rows, r_before, r_after),
                      ("score_arcface, view1, both modes", "view1", rows, results[-1][1], results[-1][2])]
        if args.view2_pairs:
            v2, v2_rows = sample(args.data, "view2", args.view2_pairs)
            identity = [("blur", 0.0)]
            v2_before, v2_after = Path(tmp) / "v2_before", Path(tmp) / "v2_after"
            with Clock() as v2_render_before:
                legacy_render(identity, v2_rows, images, v2_before, args.workers)
            with Clock() as v2_render_after:
                render.render_levels([(*t, 1.0) for t in identity], v2_rows, images, v2_after, render.Encoding("png"),
                                     args.workers,
                                     finder)
            for folder in (v2_before, v2_after):
                write_manifest(folder, v2_rows, identity)
            modes = ["oracle_box", "end_to_end"]
            with Clock() as before:
                old = legacy_score(v2, images, v2_before, identity, detector, old_model, modes)
            with Clock() as after:
                new = engine.score_rendered(v2, images, v2_after, "lfw", engine.arcface(recognizer_path, 64), modes)
            assert old.equals(new), "view2 score tables differ"
            results.append((["view2 at sigma 0: oracle_box + end_to_end"], before, after, len(v2.pairs["view2"]) * 2))
            projection += [("render, view2 at sigma 0 (re-detection only)", "view2", v2_rows, v2_render_before,
                            v2_render_after),
                           ("score_arcface, view2 at sigma 0, both modes", "view2", v2_rows, before, after)]

    print("| ArcFace scoring (modes) | before wall s | after wall s | before pairs x levels / s | "
          "after pairs x levels / s | speed-up (wall) | before CPU s | after CPU s | speed-up (CPU) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for modes, before, after, count in results:
        print(f"| {' + '.join(modes)} | {before.wall:.1f} | {after.wall:.1f} | {rate(count, before.wall)} | "
              f"{rate(count, after.wall)} | {before.wall / after.wall:.2f}x | {before.cpu:.1f} | {after.cpu:.1f} | "
              f"{before.cpu / after.cpu:.2f}x |")
    print("\nScore tables equal (DataFrame.equals: every score bit-identical) for every row.\n")

    # The default study's ArcFace stages, scaled from the sample by obfuscated images: view1 has 863 (1,000 pairs)
    # over the grid, view2 4,576 (6,000 pairs) at sigma 0. "Idle" = CPU seconds / 2: the machine to itself, both
    # cores busy (render: two workers; scoring: two ONNX Runtime threads and the prefetch thread).
    full = {"view1": 863, "view2": 4576}
    print(f"| projected for the default study ({len(tasks)} levels) | before, wall here | after, wall here | "
          "before, idle 2 cores | after, idle 2 cores |")
    print("|---|---|---|---|---|")
    totals = [0.0] * 4
    for label, protocol, sample_rows, before, after in projection:
        scale = full[protocol] / len(sample_rows)
        row = [before.wall * scale, after.wall * scale, before.cpu * scale / 2, after.cpu * scale / 2]
        totals = [t + r for t, r in zip(totals, row, strict=True)]
        print(f"| {label} | " + " | ".join(f"{v:.0f}" for v in row) + " |")
    print("| **total** | " + " | ".join(f"**{v:.0f}**" for v in totals) + " |")
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
