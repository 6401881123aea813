"""OpenCV's uint8 Gaussian blur by matrices (``obfuscation.matrix_gaussian``) against ``cv2.GaussianBlur``:
agreement and time per image.

    python -m benchmarks.large_blur [--lfw /work/shared/data/lfw/lfw-deepfunneled] [--reps 7] [--check-only]

Agreement: (a) 200 random uint8 crops (60-200 x 60-250, 3 channels, a view into a larger image as the
render stage passes them) at sigma 16-128 (ksize from sigma, as ``crop_gaussian_blur``); (b) the same at
``face_gaussian`` kernels (ksize = odd_kernel(level x side), sigma 0) for levels 0.5, 2, 4, 8; (c) a few
real LFW crops (central 100 x 120) under both. Prints the max absolute difference and the fraction of
pixels that differ, and what a wrong border (BORDER_REFLECT) would give instead.

Time: milliseconds per crop (median of ``--reps``), cv2 vs the matrices (cached, as in a render, where
crop sizes repeat) and the matrices' one-off build, at crops 94 x 115 and 122 x 150 (LFW's face box at
regions 1.0 and 1.3), one thread each (cv2.setNumThreads(1), OPENBLAS_NUM_THREADS=1), as a render
worker runs. Checked in as benchmarks/large_blur.md.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from flup.obfuscation import methods as ob  # noqa: E402

SIGMAS = [16, 24, 32, 48, 64, 96, 128]
LEVELS = [0.5, 2.0, 4.0, 8.0]
CROPS = [(115, 94), (150, 122)]  # (h, w)


def view(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A random h x w x 3 uint8 crop, a non-contiguous view into a larger image."""
    return rng.integers(0, 256, size=(h + 9, w + 13, 3), dtype=np.uint8)[4 : 4 + h, 6 : 6 + w]


class Tally:
    def __init__(self) -> None:
        self.max_diff, self.differing, self.pixels, self.wrong_border = 0, 0, 0, 0

    def add(self, got: np.ndarray, expected: np.ndarray, wrong: np.ndarray) -> None:
        diff = np.abs(got.astype(np.int16) - expected)
        self.max_diff = max(self.max_diff, int(diff.max()))
        self.differing += int((diff > 0).sum())
        self.pixels += diff.size
        self.wrong_border = max(self.wrong_border, int(np.abs(wrong.astype(np.int16) - expected).max()))

    def row(self, name: str) -> str:
        return (f"| {name} | {self.pixels:,} | {self.max_diff} | {self.differing / self.pixels:.2%} "
                f"| {self.wrong_border} |")


def blur_both(crop: np.ndarray, ksize: tuple[int, int], sigma: float) -> tuple[np.ndarray, ...]:
    resolved = ksize if ksize[0] > 0 else (ob.opencv_ksize(sigma),) * 2
    expected = cv2.GaussianBlur(crop, ksize, sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT_101)
    wrong = cv2.GaussianBlur(crop, ksize, sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)
    return ob.matrix_gaussian(crop, resolved, sigma), expected, wrong


def check(lfw: Path | None) -> list[str]:
    rng = np.random.default_rng(2026)
    sigma_tally, face_tally, lfw_tally = Tally(), Tally(), Tally()
    for i in range(200):
        crop = view(rng, int(rng.integers(60, 201)), int(rng.integers(60, 251)))
        sigma_tally.add(*blur_both(crop, (0, 0), float(SIGMAS[i % len(SIGMAS)])))
    for i in range(200):
        crop = view(rng, int(rng.integers(60, 201)), int(rng.integers(60, 251)))
        level = LEVELS[i % len(LEVELS)]
        h, w = crop.shape[:2]
        face_tally.add(*blur_both(crop, (ob.odd_kernel(level * w), ob.odd_kernel(level * h)), 0.0))
    rows = ["| crops | pixels compared | max abs diff | pixels differing | max diff with BORDER_REFLECT |",
            "|---|---|---|---|---|",
            sigma_tally.row("200 random, σ 16–128 (ksize from σ)"),
            face_tally.row("200 random, face_gaussian levels 0.5–8 (σ 0)")]
    if lfw is not None:
        files = sorted(lfw.glob("*/*.jpg"))[::1000][:6]
        for path in files:
            image = cv2.imread(str(path))
            h, w = image.shape[:2]
            crop = image[h // 2 - 60 : h // 2 + 60, w // 2 - 50 : w // 2 + 50]
            for sigma in SIGMAS:
                lfw_tally.add(*blur_both(crop, (0, 0), float(sigma)))
            for level in LEVELS:
                lfw_tally.add(*blur_both(crop, (ob.odd_kernel(level * 100), ob.odd_kernel(level * 120)), 0.0))
        rows.append(lfw_tally.row(f"{len(files)} LFW images, central 100 x 120, all σ and levels"))
    return rows


def median_ms(fn, reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def timing(reps: int) -> list[str]:
    cv2.setNumThreads(1)
    rng = np.random.default_rng(0)
    rows = ["| crop (h x w) | blur | ksize | cv2 ms | matrices ms | speed-up | matrix build ms (once per size) "
            "| dispatcher picks |",
            "|---|---|---|---|---|---|---|---|"]
    for h, w in CROPS:
        crop = view(rng, h, w)
        cases = [(f"σ = {s}", (0, 0), float(s)) for s in [2, 4, 8, *SIGMAS]]
        cases += [(f"face_gaussian {lv:g}", (ob.odd_kernel(lv * w), ob.odd_kernel(lv * h)), 0.0)
                  for lv in [0.15, 0.25, *LEVELS]]
        for name, ksize, sigma in cases:
            resolved = ksize if ksize[0] > 0 else (ob.opencv_ksize(sigma),) * 2
            ob._blur_matrix.cache_clear()
            ob.opencv_fixed_kernel.cache_clear()
            start = time.perf_counter()
            ob._blur_matrix(h, resolved[1], sigma)
            ob._blur_matrix(w, resolved[0], sigma)
            build = 1e3 * (time.perf_counter() - start)
            t_cv2 = median_ms(lambda c=crop, k=ksize, s=sigma: cv2.GaussianBlur(
                c, k, sigmaX=s, sigmaY=s, borderType=cv2.BORDER_REFLECT_101), reps)
            t_mat = median_ms(lambda c=crop, k=resolved, s=sigma: ob.matrix_gaussian(c, k, s), reps)
            picks = "matrices" if ob.use_matrix_gaussian(crop.shape, resolved) else "cv2"
            rows.append(f"| {h} x {w} | {name} | {resolved[0]} x {resolved[1]} | {t_cv2:.2f} | {t_mat:.2f} "
                        f"| {t_cv2 / t_mat:.1f}x | {build:.2f} | {picks} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw", type=Path, default=Path("/work/shared/data/lfw/lfw-deepfunneled"))
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--check-only", action="store_true")
    args = parser.parse_args()
    print("\n".join(check(args.lfw if args.lfw.is_dir() else None)))
    if not args.check_only:
        print()
        print("\n".join(timing(args.reps)))


if __name__ == "__main__":
    main()
