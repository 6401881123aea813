"""Reverse, then recognise: does classical restoration (flup.attack.restoration) beat ArcFace on the obfuscated face?

    python -m benchmarks.deconvolution [--data DATA] [--pairs N] [--sigmas 2 4 8 16] [--blocks 4 8 16]
                                       [--rl-sigmas 4] [--ideal-sigmas 8 16]
                                       [--boot 1000]
    python -m benchmarks.deconvolution settings [--data DATA] [--faces 40]

Run from the repository root (params.yaml gives the ArcFace file and the obfuscated side). ``DATA`` holds a finished
study's DVC outputs (``faces/lfw.parquet``, ``protocols/view1/pairs.csv``, ``raw/lfw/images``, ``render/``).

The comparison (default): view1's test pairs, oracle-box threat model, region 1.0, ``blur_border: crop`` (the
default study's). The obfuscated side of each pair is rendered by the study's own ``methods.apply`` (first checked
bit for bit against the render stores ``DATA/render`` holds for the same levels), then recognised by the study's
ArcFace (``recognition.ArcFace``, aligned on the sharp image's landmarks) either directly or after restoration
(Wiener for every sigma, Richardson-Lucy for ``--rl-sigmas`` only: it costs 0.1-1.5 s an image; Wiener with the
ideal Gaussian PSF instead of OpenCV's 8-bit taps for ``--ideal-sigmas``; pixelation upsampled).
Per variant: AUC of cos(sharp side, obfuscated side) (``metrics.roc_auc``) with its stratified bootstrap 95% interval
(``metrics.bootstrap_auc_ci``), the paired bootstrap difference to recognising the obfuscated face directly
(``relative.paired_auc_difference``: the same resampled pairs for both), and the mean cosine between each restored
face's embedding and the same photo's sharp embedding.

``settings``: how the defaults of flup.attack.restoration were chosen: PSNR over the face box, against the sharp
photo, of the blurred / pixelated box and of its restorations, for a grid of Wiener balances, Richardson-Lucy
iterations and pixelation corrections, on ``--faces`` photos of view1's *training* people (never a test photo).

Checked in as benchmarks/deconvolution.md.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from flup.attack import restoration
from flup.config import load_config
from flup.config.paths import LFW_FACES, LFW_IMAGES, PROTOCOLS
from flup.evaluation.relative import paired_auc_difference
from flup.faces.detection import box_of, landmarks_of
from flup.obfuscation import methods, render
from flup.pipeline import model_files
from flup.verify import engine, metrics, recognition

PROTOCOL = "view1"
REGION = 1.0
CHECKED_IMAGES = 50  # images per level compared bit for bit with the study's render store

Image = np.ndarray
Transform = Callable[[Image, np.ndarray], Image]  # (obfuscated image, face box) -> image to recognise


def inside(data: Path, path: Path) -> Path:
    """``path`` (as dvc.yaml names it, under data/) inside the study outputs at ``data``."""
    return data / path.relative_to("data")


def box_psnr(image: Image, sharp: Image, box: np.ndarray) -> float:
    x1, y1, x2, y2 = methods.scale_box(box, REGION, sharp.shape)
    error = image[y1:y2, x1:x2].astype(np.float64) - sharp[y1:y2, x1:x2]
    return float(10 * np.log10(255.0**2 / np.mean(error**2)))


def check_render(data: Path, faces: pd.DataFrame, images: Path, kind: str, level: float, names: Sequence[str]) -> str:
    """Whether ``methods.apply`` gives the stored render's pixels, on the first CHECKED_IMAGES ``names``."""
    path = render.store_path(inside(data, Path("data/render")), kind, level, REGION)
    if not path.exists():
        return "not rendered by the study"
    store = render.RenderStore(path)
    checked = differing = 0
    for name in [n for n in names if n in store][:CHECKED_IMAGES]:
        sharp = engine.read_image(images, name)
        ours = methods.apply(sharp, box_of(faces.loc[name]), kind, level, REGION, "crop")
        differing += int(not np.array_equal(ours, store.obfuscated(name, sharp)))
        checked += 1
    return f"{checked - differing}/{checked} images bit-identical to {path.name}"


def variants(kind: str, level: float, rl_sigmas: Sequence[float],
             ideal_sigmas: Sequence[float]) -> dict[str, Transform]:
    """The ways to recognise one obfuscated level: directly, and after each applicable restoration."""
    found: dict[str, Transform] = {"direct": lambda image, box: image}
    if kind == "blur":
        wiener = restoration.Restorer("wiener")
        found["wiener"] = lambda image, box: wiener(image, box, kind, level, REGION)
        if level in ideal_sigmas:
            found["wiener, ideal Gaussian PSF"] = lambda image, box: restoration.wiener_deblur(
                image, box, level, REGION, fixed_point=False)
        if level in rl_sigmas:
            lucy = restoration.Restorer("richardson_lucy")
            found["richardson_lucy"] = lambda image, box: lucy(image, box, kind, level, REGION)
    else:
        upsample = restoration.Restorer()
        found["upsample"] = lambda image, box: upsample(image, box, kind, level, REGION)
    return found


def compare(args: argparse.Namespace) -> None:
    cfg = load_config()
    if cfg.render.blur_border != "crop":
        raise SystemExit(f"params.yaml render.blur_border is {cfg.render.blur_border!r}; restoration models 'crop'")
    data = Path(args.data)
    images = inside(data, LFW_IMAGES)
    faces = pd.read_parquet(inside(data, LFW_FACES)).set_index("image")
    faces = faces[faces["status"] == "ok"]
    obf_side = cfg.render.obfuscated_side
    sharp_side = "a" if obf_side == "b" else "b"
    pairs = pd.read_csv(inside(data, PROTOCOLS / PROTOCOL / "pairs.csv"))
    pairs = pairs[pairs["image_a"].isin(faces.index) & pairs["image_b"].isin(faces.index)]
    total = len(pairs)
    if args.pairs and args.pairs < total:
        # Stratified: the same share of same and different pairs, drawn with a fixed seed.
        pairs = pairs.groupby("label", group_keys=False).sample(frac=args.pairs / total, random_state=0)
    labels = pairs["label"].to_numpy()
    sharp_names = sorted(set(pairs[f"image_{sharp_side}"]))
    obf_names = sorted(set(pairs[f"image_{obf_side}"]))
    arcface = recognition.ArcFace(model_files.recognizer_file(cfg))
    batch = cfg.arcface.batch_size
    started = time.perf_counter()

    def embed(name_to_image: Callable[[str], Image], names: Sequence[str]) -> dict[str, np.ndarray]:
        crops = {n: recognition.align(name_to_image(n), landmarks_of(faces.loc[n])) for n in names}
        return engine.embed_named(arcface.embed, crops, batch)

    sharp_images = {n: engine.read_image(images, n) for n in {*sharp_names, *obf_names}}
    sharp = embed(sharp_images.__getitem__, sorted({*sharp_names, *obf_names}))
    a = np.stack([sharp[n] for n in pairs[f"image_{sharp_side}"]])

    def scores_of(embedded: dict[str, np.ndarray]) -> np.ndarray:
        return recognition.cosine(a, np.stack([embedded[n] for n in pairs[f"image_{obf_side}"]]))

    baseline = scores_of(sharp)
    print(f"# {len(pairs)} of {total} view1 test pairs ({int(labels.sum())} same), {len(obf_names)} obfuscated "
          f"photos (side {obf_side}), oracle box, region {REGION:g}, blur_border crop\n")
    print(f"sharp (no obfuscation): AUC {metrics.roc_auc(baseline, labels):.3f}\n")
    print("| family | level | recognised | AUC [95% CI] | AUC - direct [95% CI] | cos(restored, sharp) | "
          "restore ms/img |\n|---|---|---|---|---|---|---|")
    checks = []
    levels = [("blur", s) for s in args.sigmas] + [("pixelate", b) for b in args.blocks]
    for kind, level in levels:
        checks.append(f"{kind} {level:g}: {check_render(data, faces, images, kind, level, obf_names)}")
        obfuscated = {n: methods.apply(sharp_images[n], box_of(faces.loc[n]), kind, level, REGION, "crop")
                      for n in obf_names}
        direct = None
        for method, transform in variants(kind, level, args.rl_sigmas, args.ideal_sigmas).items():
            tic = time.perf_counter()
            shown = {n: transform(obfuscated[n], box_of(faces.loc[n])) for n in obf_names}
            restore_ms = (time.perf_counter() - tic) / len(obf_names) * 1000
            embedded = embed(shown.__getitem__, obf_names)
            scores = scores_of(embedded)
            auc = metrics.roc_auc(scores, labels)
            low, high = metrics.bootstrap_auc_ci(scores, labels, n_boot=args.boot)
            same_photo = float(np.mean([embedded[n] @ sharp[n] for n in obf_names]))
            if direct is None:
                direct, diff = scores, "—"
            else:
                d, d_low, d_high = paired_auc_difference(scores, direct, labels, n_boot=args.boot)
                diff = f"{d:+.3f} [{d_low:+.3f}, {d_high:+.3f}]"
            ms = f"{restore_ms:.0f}" if method != "direct" else "—"
            print(f"| {kind} | {level:g} | {method} | {auc:.3f} [{low:.3f}, {high:.3f}] | {diff} | {same_photo:.3f} | "
                  f"{ms} |", flush=True)
    print("\nrender check (methods.apply against the study's stores):")
    for line in checks:
        print(f"- {line}")
    print(f"\nwall time {time.perf_counter() - started:.0f} s")


def settings(args: argparse.Namespace) -> None:
    data = Path(args.data)
    images = inside(data, LFW_IMAGES)
    faces = pd.read_parquet(inside(data, LFW_FACES)).set_index("image")
    faces = faces[faces["status"] == "ok"]
    train = pd.read_csv(inside(data, PROTOCOLS / PROTOCOL / "train.csv"))
    candidates = train["image"][train["image"].isin(faces.index)].to_numpy()
    names = np.random.default_rng(0).choice(candidates, size=args.faces, replace=False)
    photos = [(engine.read_image(images, n), box_of(faces.loc[n])) for n in names]
    print(f"# mean PSNR (dB) over the face box of {len(photos)} photos of view1's training people\n")

    def mean_psnr(restore: Callable[[Image, np.ndarray], Image], obfuscated: list[Image]) -> str:
        return f"{np.mean([box_psnr(restore(o, b), s, b) for o, (s, b) in zip(obfuscated, photos, strict=True)]):.2f}"

    print("| sigma | blurred | " + " | ".join(f"Wiener {b:g}" for b in args.balances)
          + f" | Wiener {restoration.WIENER_BALANCE:g}, ideal Gaussian PSF | "
          + " | ".join(f"R-L {i}" for i in args.iterations) + " |")
    print("|---" * (3 + len(args.balances) + len(args.iterations)) + "|")
    for sigma in args.sigmas:
        blurred = [methods.crop_gaussian_blur(s, b, sigma) for s, b in photos]
        cells = [mean_psnr(lambda o, b: o, blurred)]
        cells += [mean_psnr(lambda o, b, k=k, s=sigma: restoration.wiener_deblur(o, b, s, balance=k), blurred)
                  for k in args.balances]
        cells += [mean_psnr(lambda o, b, s=sigma: restoration.wiener_deblur(o, b, s, fixed_point=False), blurred)]
        cells += [mean_psnr(lambda o, b, i=i, s=sigma: restoration.richardson_lucy_deblur(o, b, s, iterations=i),
                            blurred) if sigma in args.rl_sigmas else "—" for i in args.iterations]
        print(f"| {sigma:g} | " + " | ".join(cells) + " |", flush=True)
    print("\n| block | pixelated | " + " | ".join(f"{c} corrections" for c in args.corrections) + " |")
    print("|---" * (2 + len(args.corrections)) + "|")
    for block in args.blocks:
        pixelated = [methods.pixelate(s, b, block) for s, b in photos]
        cells = [mean_psnr(lambda o, b: o, pixelated)]
        cells += [mean_psnr(lambda o, b, c=c, k=block: restoration.upsample_pixelation(o, b, k, corrections=c),
                            pixelated) for c in args.corrections]
        print(f"| {block} | " + " | ".join(cells) + " |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="?", choices=("compare", "settings"), default="compare")
    parser.add_argument("--data", default="data", help="a finished study's data/ folder")
    parser.add_argument("--pairs", type=int, default=0, help="a stratified subsample of this many pairs (0: all)")
    parser.add_argument("--sigmas", nargs="+", type=float, default=[2, 4, 8, 16])
    parser.add_argument("--blocks", nargs="+", type=int, default=[4, 8, 16])
    parser.add_argument("--rl-sigmas", nargs="*", type=float, default=[4])
    parser.add_argument("--ideal-sigmas", nargs="*", type=float, default=[8, 16])
    parser.add_argument("--boot", type=int, default=1000)
    parser.add_argument("--faces", type=int, default=40)
    parser.add_argument("--balances", nargs="+", type=float, default=[1e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2])
    parser.add_argument("--iterations", nargs="+", type=int, default=[10, 30, 60])
    parser.add_argument("--corrections", nargs="+", type=int, default=[0, 1, 2, 4, 8])
    args = parser.parse_args()
    (settings if args.what == "settings" else compare)(args)


if __name__ == "__main__":
    main()
