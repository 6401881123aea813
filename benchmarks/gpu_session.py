"""The seed-scale study on a lent GPU in one call: train the four models of ``variants:`` and score them.

    python -m benchmarks.gpu_session --data .gpu/part1 --data .gpu/part2 --out $OUT [--deadline 520]

Data folders (made by ``benchmarks/gpu_bundle.py``): each may hold ``images/<Person>/<file>.jpg``;
one holds ``tables/`` (``faces.parquet``, ``view1_train.csv``, ``view1_pairs.csv``,
``provenance.json``) and one ``mobilenet_v2-b0353104.pth``. Settings are params.yaml with the
``full`` profile on top (224 px, flatten head, 50 epochs, batch 256, bf16, device feed), each
overridable here. The four models train in turn, one epoch each (round robin), so that at the
deadline all four have the same number of epochs; training stops before a round that would end
after ``deadline - score_reserve`` seconds from the start. While they train, CPU threads render the
test images (view1 test pairs, side b obfuscated inside its detected face box with flup's own
obfuscations: blur at each sigma and the black box); each model then scores the pairs as
``score_model`` does (embedding.embed, cropped by the model's policy) and ``evaluate`` gives the AUC
with its 95% bootstrap interval. Writes ``metrics.json``, ``report.md`` and ``log.txt`` under ``--out``,
metrics after each stage, so a run cut short still leaves what it finished.

Imports only what the device machine has (no dvc, pydantic, insightface, onnx2torch).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS, set before CUDA starts

import cv2  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from flup.evaluation import series, verification  # noqa: E402
from flup.faces.detection import BOX_COLUMNS  # noqa: E402
from flup.models import embedding, model, trainer  # noqa: E402
from flup.models.device_feed import ImageStore  # noqa: E402
from flup.models.sampling import Policy, QuadrupletDataset  # noqa: E402
from flup.obfuscation import methods, render  # noqa: E402
from flup.training.holdout import split_identities  # noqa: E402
from flup.training.loop import resolve_device  # noqa: E402
from flup.verify.scoring import score_pairs  # noqa: E402

WEIGHTS = model.V1_FILE
STARTED = time.monotonic()
log = logging.getLogger("gpu_session")


def study_settings(profile: str) -> tuple[dict[str, tuple[Policy, dict]], dict]:
    """{variant: (policy, training settings)} and the render/evaluate settings, from params.yaml + profile.

    Uses the typed config (flup.config.load_config) where it exists, else the older dict reader.
    """
    overlay = Path("profiles") / f"{profile}.yaml"
    try:
        from flup.config import load_config
    except ImportError:
        load_config = None
    if load_config is not None:
        cfg = load_config(overlays=[overlay])
        models = {n: (Policy(**cfg.policy(n).model_dump()),  # the first replica of train.seeds
                      {**cfg.train_settings(n).model_dump(), "seed": cfg.train_settings(n).seeds[0]})
                  for n in cfg.variants}
        return models, {"region": float(cfg.render.regions[0]), "blur_border": cfg.render.blur_border,
                        "seed": int(cfg.evaluate.seed),
                        "privacy": float(cfg.evaluate.privacy_auc_upper)}
    from flup.config.params import load_params
    from flup.config.profiles import load_profile, merge
    from stages.train import model_settings

    params = merge(load_params(), load_profile(profile))
    models = {n: model_settings(params, n) for n in params["variants"]}
    return models, {"region": float(params["render"].get("regions", [1.0])[0]),
                    "blur_border": params["render"].get("blur_border", "crop"), "seed": int(params["evaluate"]["seed"]),
                    "privacy": float(params["evaluate"]["privacy_auc_upper"])}


def elapsed() -> float:
    return time.monotonic() - STARTED


def find(folders: list[Path], relative: str) -> Path:
    for folder in folders:
        if (folder / relative).exists():
            return folder / relative
    raise FileNotFoundError(f"{relative} is in none of {', '.join(map(str, folders))}")


def image_index(folders: list[Path]) -> dict[str, Path]:
    index = {}
    for folder in folders:
        for path in sorted((folder / "images").glob("*/*.jpg")):
            index.setdefault(f"{path.parent.name}/{path.name}", path)
    return index


def cuda_report(allow_cpu: bool) -> dict:
    if not torch.cuda.is_available():
        if not allow_cpu:
            raise SystemExit("CUDA is not available: refusing to run the GPU study on CPU (pass --allow-cpu to try)")
        return {"device": f"CPU ({os.cpu_count()} cores)", "cuda": False}
    props = torch.cuda.get_device_properties(0)
    return {"device": torch.cuda.get_device_name(0), "cuda": True, "memory_gib": round(props.total_memory / 2**30, 1),
            "multiprocessors": props.multi_processor_count, "cuda_version": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(), "bf16": torch.cuda.is_bf16_supported()}


def write_outputs(out: Path, result: dict) -> None:
    (out / "metrics.json").write_text(json.dumps(result, indent=1, default=float))
    (out / "report.md").write_text(report(result))


def report(result: dict) -> str:
    prov, cfg = result["provenance"], result["settings"]
    lines = ["# Seed-scale dual-stream models on a GPU (benchmarks/gpu_session.py)", "",
             f"- commit: {prov.get('git_commit')} (dirty: {prov.get('git_dirty')}), bundled {prov.get('bundled')}",
             f"- device: {result['cuda'].get('device')}; torch {torch.__version__}; python {platform.python_version()}",
             f"- settings: {json.dumps(cfg)}",
             f"- training images: {result.get('train_images')} (of {result.get('train_images_listed')} listed) of "
             f"{result.get('train_identities')} identities "
             f"({result.get('samples_per_epoch')} quadruplets per epoch); "
             f"store {result.get('store_gib')} GiB on the device",
             f"- stage times (s): {json.dumps(result['times'])}",
             f"- epochs reached: {result.get('epochs_reached')} of {cfg['epochs']}"
             + (" (stopped by the deadline)" if result.get("stopped_by_deadline") else ""), ""]
    models = result.get("models", {})
    if models:
        lines += ["| model | epochs | train s | quadruplets/s | last loss |", "|---|---|---|---|---|"]
        for name, m in models.items():
            lines.append(f"| {name} | {m['epochs']} | {m['train_s']:.0f} | {m['quadruplets_per_s']:.0f} | "
                         f"{m['losses'][-1] if m['losses'] else float('nan'):.4f} |")
        lines.append("")
    scores = result.get("auc", {})
    if scores:
        levels = list(next(iter(scores.values())))
        lines += ["AUC (95% bootstrap interval), view1 test pairs, side b obfuscated in its face box:", "",
                  "| model | " + " | ".join(levels) + " |", "|---|" + "---|" * len(levels)]
        for name, row in scores.items():
            lines.append(f"| {name} | " + " | ".join(
                f"{row[k]['auc']:.3f} [{row[k]['auc_low']:.3f}, {row[k]['auc_high']:.3f}]" for k in levels) + " |")
    return "\n".join(lines) + "\n"


def render_tests(pairs: pd.DataFrame, faces: pd.DataFrame, images: dict[str, Path], levels: list[tuple[str, float]],
                 region: float, blur_border: str, threads: int) -> dict:
    """{(kind, level): {image: obfuscated BGR}} of the pairs' b side, and the a side's sharp images."""
    names = sorted(set(pairs["image_a"]) | set(pairs["image_b"]))
    names = [n for n in names if n in faces.index]
    pixels = {n: cv2.imread(str(images[n]), cv2.IMREAD_COLOR) for n in names}
    obfuscated_names = sorted(set(pairs["image_b"]) & set(names))

    def one(job):
        kind, level = job
        return job, {n: pixels[n] if render.is_identity(kind, level) else
                     methods.apply(pixels[n], faces.loc[n, BOX_COLUMNS].to_numpy(float), kind, level, region,
                                     blur_border)
                     for n in obfuscated_names}

    with ThreadPoolExecutor(threads) as pool:
        rendered = dict(pool.map(one, levels))
    return {"sharp": pixels, "obfuscated": rendered}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, action="append", required=True, help="bundle folder (repeat)")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "gpu_out")))
    parser.add_argument("--profile", default="full")
    parser.add_argument("--deadline", type=float, default=520.0, help="seconds from start to be done by")
    parser.add_argument("--score-reserve", type=float, default=90.0, help="seconds kept for scoring")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--input-size", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float, help="default: the profile's lr")
    parser.add_argument("--precision", choices=trainer.PRECISIONS)
    parser.add_argument("--feed", choices=trainer.FEEDS)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--head")
    parser.add_argument("--models", help="comma-separated subset of variants")
    parser.add_argument("--max-images", type=int, help="dry runs: keep the first N training images")
    parser.add_argument("--max-pairs", type=int, help="dry runs: keep N same + N different test pairs")
    parser.add_argument("--sigmas", default="0,4,8,12,16,20,24")
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=min(12, os.cpu_count() or 1))
    parser.add_argument("--allow-cpu", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s",
                        handlers=[logging.StreamHandler(sys.stdout), logging.FileHandler(args.out / "log.txt")])
    cv2.setNumThreads(1)
    cuda = cuda_report(args.allow_cpu)
    log.info("device: %s", json.dumps(cuda))
    times: dict[str, float] = {}

    # --- settings and data ---------------------------------------------------------------------
    models, study = study_settings(args.profile)
    overrides = {"epochs": args.epochs, "input_size": args.input_size, "batch_size": args.batch_size, "lr": args.lr,
                 "precision": args.precision, "feed": args.feed, "head": args.head}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if args.compile:
        overrides["compile"] = True
    if not cuda["cuda"]:
        overrides["device"] = "cpu"
    names = args.models.split(",") if args.models else list(models)
    settings = {name: (models[name][0], {**models[name][1], **overrides}) for name in names}
    base = settings[names[0]][1]
    tables = find(args.data, "tables")
    provenance = json.loads((tables / "provenance.json").read_text()) if (tables / "provenance.json").exists() else {}
    faces = pd.read_parquet(tables / "faces.parquet").query("status == 'ok'").set_index("image")
    images = image_index(args.data)
    train = pd.read_csv(tables / "view1_train.csv")
    listed = int(train["image"].isin(faces.index).sum())
    train = train[train["image"].isin(images) & train["image"].isin(faces.index)]
    if len(train) < listed:
        log.warning("only %d of the %d listed training images are in the data folders %s: a bundle part is "
                    "missing, so the models train on a subset", len(train), listed, [str(d) for d in args.data])
    if args.max_images:
        train = train.head(args.max_images)
    frame = train.merge(faces[BOX_COLUMNS], left_on="image", right_index=True, how="inner")
    frame["path"] = [str(images[i].resolve()) for i in frame["image"]]
    train_frame, _ = split_identities(frame, float(base["val_fraction"]), int(base["seed"]))
    pairs = pd.read_csv(tables / "view1_pairs.csv")
    if args.max_pairs:
        pairs = pd.concat([pairs[pairs["label"] == label].head(args.max_pairs) for label in (1, 0)])
    pairs = pairs[pairs["image_a"].isin(images) & pairs["image_b"].isin(images)].reset_index(drop=True)
    result = {"provenance": provenance, "cuda": cuda, "torch": torch.__version__, "settings": {
        k: base[k] for k in ("input_size", "head", "epochs", "batch_size", "lr", "precision", "feed", "compile",
                             "pretrained", "positive", "seed", "val_fraction")},
        "policies": {n: vars(settings[n][0]) for n in names}, "times": times, "args": {
            k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "data"}}
    result["settings"]["pretrained"] = WEIGHTS
    log.info("settings: %s", json.dumps(result["settings"]))

    # --- test renders in CPU threads, while the GPU trains --------------------------------------
    levels = [("blur", float(s)) for s in args.sigmas.split(",")] + [("blackbox", 1.0)]
    region = study["region"]  # the first of render.regions: this benchmark renders one region
    renders = ThreadPoolExecutor(1).submit(render_tests, pairs, faces, images, levels, region, study["blur_border"],
                                           max(1, args.threads // 2))

    # --- the image store and the four models -----------------------------------------------------
    t = time.monotonic()
    datasets = {n: QuadrupletDataset(train_frame, settings[n][0], int(settings[n][1]["input_size"]),
                                     seed=int(settings[n][1]["seed"]), positive=settings[n][1]["positive"],
                                     samples_per_epoch=settings[n][1]["samples_per_epoch"]) for n in names}
    first = datasets[names[0]]
    used = sorted({first.paths[r] for photos in first.photos for r in photos})
    device = resolve_device(base["device"])
    store = ImageStore(used, device, workers=args.threads)
    times["decode_to_device"] = round(time.monotonic() - t, 1)
    result.update(train_images=len(used), train_images_listed=listed, train_identities=len(first.identities),
                  samples_per_epoch=len(first),
                  store_gib=round(store.nbytes / 2**30, 2))
    log.info("store: %d images, %.2f GiB on %s, %.1f s", len(used), store.nbytes / 2**30, device,
             times["decode_to_device"])
    weights = find(args.data, WEIGHTS)
    trainers = {}
    for n in names:
        s = settings[n][1]
        net = model.build_dual_stream(s["head"], int(s["input_size"]), str(weights), seed=int(s["seed"]))
        trainers[n] = trainer.Trainer(net, datasets[n], s, store=store)
    write_outputs(args.out, result)

    # --- training, round robin -------------------------------------------------------------------
    t = time.monotonic()
    train_until = args.deadline - args.score_reserve
    stats = {n: {"epochs": 0, "train_s": 0.0, "samples": 0, "losses": [], "epoch_s": []} for n in names}
    epochs = int(base["epochs"])
    round_s = 0.0
    stopped = False
    for epoch in range(1, epochs + 1):
        if elapsed() + round_s > train_until:
            stopped = True
            log.info("deadline: stopping before epoch %d (%.0f s elapsed, last round %.0f s)",
                     epoch, elapsed(), round_s)
            break
        round_started = time.monotonic()
        for n in names:
            started = time.monotonic()
            loss, samples = trainers[n].run_epoch(epoch, progress=False)
            if device.type == "cuda":
                torch.cuda.synchronize()
            seconds = time.monotonic() - started
            st = stats[n]
            st["epochs"], st["train_s"], st["samples"] = epoch, st["train_s"] + seconds, st["samples"] + samples
            st["losses"].append(round(loss, 5))
            st["epoch_s"].append(round(seconds, 2))
            log.info("%s epoch %d/%d: loss %.4f, %.1f s, %.0f quadruplets/s", n, epoch, epochs, loss, seconds,
                     samples / seconds)
        round_s = time.monotonic() - round_started
    times["train"] = round(time.monotonic() - t, 1)
    for st in stats.values():
        st["quadruplets_per_s"] = st["samples"] / st["train_s"] if st["train_s"] else 0.0
    result.update(models=stats, epochs_reached=min(st["epochs"] for st in stats.values()), stopped_by_deadline=stopped)
    if device.type == "cuda":
        result["max_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    for n, st in stats.items():
        log.info("%s: %d epochs in %.0f s, %.0f quadruplets/s", n, st["epochs"], st["train_s"], st["quadruplets_per_s"])
    write_outputs(args.out, result)

    # --- scoring ---------------------------------------------------------------------------------
    t = time.monotonic()
    rendered = renders.result()
    times["render_wait"] = round(time.monotonic() - t, 1)
    boxes = {n: faces.loc[n, BOX_COLUMNS].to_numpy(float) for n in rendered["sharp"]}
    sharp_names = sorted(set(pairs["image_a"]) & set(rendered["sharp"]))
    tables_ = []
    for n in names:
        policy, s = settings[n]
        net = trainers[n].model.eval()
        size = int(s["input_size"])

        def vectors(imgs, keys, stream, net=net, policy=policy, size=size, bf16=trainers[n].autocast):
            with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
                return embedding.embed(net, imgs, [boxes[k] for k in keys], policy, size, stream,
                                       batch_size=256, device=device)

        sharp = dict(zip(sharp_names, vectors([rendered["sharp"][k] for k in sharp_names], sharp_names, "sharp"),
                         strict=True))
        for (kind, level), imgs in rendered["obfuscated"].items():
            keys = sorted(imgs)
            obf = dict(zip(keys, vectors([imgs[k] for k in keys], keys, "blurred"), strict=True))
            tables_.append(score_pairs(pairs, "a", sharp, obf, dataset="lfw", protocol="view1", recognizer=n,
                                       mode="oracle_box", obfuscation=kind, level=float(level), region=region))
        log.info("%s scored (%.0f s elapsed)", n, elapsed())
    scores = pd.concat(tables_, ignore_index=True)
    scores.to_csv(args.out / "scores.csv.gz", index=False)
    nested, _, _, _ = verification.evaluate(scores, args.n_boot, study["seed"], study["privacy"])
    auc = {}
    for n in names:
        node = nested["lfw"]["view1"][n]["oracle_box"]
        at_region = {family: levels.get(series.region_key(region), {}) for family, levels in node.items()}
        row = {f"blur {k}": v for k, v in at_region.get("blur", {}).items()}
        if at_region.get("blackbox"):
            row["black box"] = next(iter(at_region["blackbox"].values()))
        auc[n] = {k: {m: v[m] for m in ("auc", "auc_low", "auc_high", "n_pairs")} for k, v in row.items()}
    result["auc"] = auc
    result["pairs"] = {"n": len(pairs), "same": int(pairs["label"].sum())}
    times["score"] = round(time.monotonic() - t, 1)
    times["total"] = round(elapsed(), 1)
    write_outputs(args.out, result)
    log.info("done in %.0f s", elapsed())
    print(report(result))


if __name__ == "__main__":
    main()
