"""Old vs new speed of the two restorers ``Restorer`` uses (flup.attack.restoration), side by side in one run.

``wiener_deblur`` against ``_wiener_deblur_reference`` (skimage's ``wiener`` per channel on the mirrored tile) and
``upsample_pixelation`` against ``_upsample_pixelation_reference`` (``skimage.transform.warp`` per channel), on LFW
photos at a face-sized box, per kind and region: the median ms per call over ``--repeats`` timed calls of each
(photo, level), after one untimed warm-up call each; "new" finds its caches (the Wiener filter per tile shape and
sigma, the spline taps per side and block) filled, "cold" empty, the two ends of what the study's 23,520 calls see
(box sizes vary from photo to photo). Also counts the box's channel values where old and new differ.
Results: benchmarks/restoration_speed.md.

    PYTHONPATH=. python benchmarks/restoration_speed.py [--lfw DIR] [--photos 4] [--repeats 5]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from flup.attack import restoration
from flup.obfuscation import methods

BOX = (78.0, 70.0, 172.0, 180.0)  # about where the detector puts the face in an LFW photo (250 x 250)
CASES = {
    "blur": ((2.0, 8.0, 32.0, 64.0), restoration._wiener_deblur_reference, restoration.wiener_deblur),
    "pixelate": ((8, 16, 32), restoration._upsample_pixelation_reference, restoration.upsample_pixelation),
}
REGIONS = (1.0, 1.3)


def default_lfw() -> Path:
    for root in (Path("/work/shared/data/lfw"), Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw"):
        if root.is_dir():
            return root
    raise SystemExit("no LFW folder found; pass --lfw")


CACHES = (restoration._wiener_filter, restoration._transfer_function_1d, restoration._spline_taps)


def clear_caches() -> None:
    for cache in CACHES:
        cache.cache_clear()


def timed_ms(calls, arguments: tuple, repeats: int) -> list[float]:
    """Median ms of each of ``calls`` on ``arguments``, timed in turn (old, new, new cold, old, new, ...) so that a
    load that comes and goes hits them alike; one untimed warm-up call each first. A call named ``cold`` finds the
    new path's caches empty (cleared outside the timing)."""
    for call in calls.values():
        call(*arguments)
    times = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            if name == "cold":
                clear_caches()
            start = time.perf_counter()
            call(*arguments)
            times[name].append(time.perf_counter() - start)
    return [1e3 * statistics.median(times[name]) for name in calls]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw", type=Path, default=None)
    parser.add_argument("--photos", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    lfw = args.lfw or default_lfw()
    files = sorted(lfw.glob("lfw-deepfunneled/*/*_0001.jpg"))[:: 997][: args.photos]
    images = [cv2.imread(str(f), cv2.IMREAD_COLOR) for f in files]
    print(f"{platform.processor() or platform.machine()}; {len(images)} photos, box {BOX}, "
          f"median of {args.repeats} calls per (photo, level)")
    print(f"{'kind':9} {'region':>6} {'crop':>9} {'old ms':>8} {'new ms':>8} {'speedup':>8} {'cold ms':>8} "
          f"{'max diff':>8} {'differing values':>16}")
    for kind, (levels, old, new) in CASES.items():
        for region in REGIONS:
            x1, y1, x2, y2 = methods.scale_box(BOX, region, images[0].shape)
            timings, worst, differing, total = [], 0, 0, 0
            for image in images:
                for level in levels:
                    arguments = (methods.apply(image, BOX, kind, level, region), BOX, level, region)
                    timings.append(timed_ms({"old": old, "new": new, "cold": new}, arguments, args.repeats))
                    diff = np.abs(old(*arguments).astype(np.int16) - new(*arguments))[y1:y2, x1:x2]
                    worst = max(worst, int(diff.max()))
                    differing, total = differing + int((diff > 0).sum()), total + diff.size
            o, n, c = (statistics.median(column) for column in zip(*timings, strict=True))
            print(f"{kind:9} {region:6.1f} {f'{y2 - y1}x{x2 - x1}':>9} {o:8.2f} {n:8.2f} {o / n:7.1f}x {c:8.2f} "
                  f"{worst:8d} {differing:6d}/{total}")


if __name__ == "__main__":
    main()
