"""How far the real deface tool's redaction is from flup's mimic of it (issue 26: "the real tool, not only our mimic").

For each photo the audit ``deface_default`` ran the deface package on (``data/audits/deface_default/``), the region
the tool changed is compared with the region flup's ``deface`` family (mask scale 1.3, the tool's default) changes
on the same sharp photo. A region is the bounding box of the pixels that differ from the sharp photo by more than
``--threshold`` grey levels (any channel), after a 3 x 3 opening that removes JPEG's scattered noise, largest
connected part kept; both are measured the same way, so a flat patch that the blur leaves unchanged is missed alike.

    python -m benchmarks.deface_mimic [--audit deface_default] [--threshold 12]

Prints the share of photos whose regions overlap with IoU >= 0.5, the median distance of each side, and how often
the tool changed no face at all; run it in a study whose audit stage has run (it reads data/, not git).
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np
import pandas as pd

from flup.config.paths import AUDITS_DATA, LFW_FACES, LFW_IMAGES
from flup.faces.detection import box_of
from flup.io import read_table
from flup.obfuscation import methods

MIN_PIXELS = 50  # fewer changed pixels than this: the photo counts as left untouched


def changed_box(sharp: np.ndarray, redacted: np.ndarray, threshold: float) -> tuple[int, int, int, int] | None:
    """The bounding box (x1, y1, x2, y2) of the largest connected region where ``redacted`` differs from
    ``sharp`` by more than ``threshold`` in some channel; None when under MIN_PIXELS changed."""
    difference = np.abs(redacted.astype(np.int16) - sharp.astype(np.int16)).max(axis=2)
    mask = cv2.morphologyEx((difference > threshold).astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count < 2:
        return None
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    if stats[largest, cv2.CC_STAT_AREA] < MIN_PIXELS:
        return None
    x, y, w, h = (int(stats[largest, k]) for k in (cv2.CC_STAT_LEFT, cv2.CC_STAT_TOP, cv2.CC_STAT_WIDTH,
                                                   cv2.CC_STAT_HEIGHT))
    return x, y, x + w, y + h


def area(box: tuple[int, int, int, int]) -> int:
    return (box[2] - box[0]) * (box[3] - box[1])


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    width = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = area(a) + area(b) - inter
    return inter / union if union else 0.0


def compare(audit: str, threshold: float, mask_scale: float = 1.3) -> pd.DataFrame:
    folder = AUDITS_DATA / audit
    manifest = pd.read_csv(folder / "manifest.csv", keep_default_na=False)
    faces = read_table(LFW_FACES).set_index("image")
    rows = []
    for row in manifest.itertuples():
        if not row.output:
            rows.append({"image": row.image, "tool": None, "mimic": None})
            continue
        sharp = cv2.imread(str(LFW_IMAGES / row.image), cv2.IMREAD_COLOR)
        tool = cv2.imread(str(folder / "redacted" / row.output), cv2.IMREAD_COLOR)
        mimic = methods.deface(sharp, box_of(faces.loc[row.image]), mask_scale)
        rows.append({"image": row.image, "tool": changed_box(sharp, tool, threshold),
                     "mimic": changed_box(sharp, mimic, threshold)})
    return pd.DataFrame(rows)


def summary(table: pd.DataFrame) -> list[str]:
    both = table.dropna(subset=["tool", "mimic"])
    overlaps = np.array([iou(t, m) for t, m in zip(both["tool"], both["mimic"], strict=True)])
    sides = np.array([np.subtract(t, m) for t, m in zip(both["tool"], both["mimic"], strict=True)]).reshape(-1, 4)
    ratios = [area(t) / max(1, area(m)) for t, m in zip(both["tool"], both["mimic"], strict=True)]
    lines = [f"photos: {len(table)}; the tool changed no face region: {int(table['tool'].isna().sum())}; "
             f"the mimic none: {int(table['mimic'].isna().sum())}"]
    if len(both):
        lines += [
            f"IoU of the two regions: median {np.median(overlaps):.2f}; >= 0.5 in {np.mean(overlaps >= 0.5):.1%}, "
            f">= 0.8 in {np.mean(overlaps >= 0.8):.1%} of {len(both)} photos",
            "tool minus mimic, median [quartiles] px: " + "; ".join(
                f"{side} {np.median(sides[:, k]):+.0f} [{np.percentile(sides[:, k], 25):+.0f}, "
                f"{np.percentile(sides[:, k], 75):+.0f}]" for k, side in enumerate(("x1", "y1", "x2", "y2"))),
            f"tool region / mimic region, median area ratio: {np.median(ratios):.2f}",
        ]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audit", default="deface_default")
    parser.add_argument("--threshold", type=float, default=12.0)
    args = parser.parse_args(argv)
    if not (AUDITS_DATA / args.audit / "manifest.csv").is_file():
        raise SystemExit(f"{AUDITS_DATA / args.audit / 'manifest.csv'}: missing; run `dvc repro redact@{args.audit}`")
    print("\n".join(summary(compare(args.audit, args.threshold))))


if __name__ == "__main__":
    main()
