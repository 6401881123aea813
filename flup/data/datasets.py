"""Evaluation-only face datasets beside LFW: CelebA and any identity-labelled folder.

Each reader turns a dataset on disk into an :class:`Index`: one row per image that is present,
with its identity and, where the dataset annotates one, the face box. An image that is listed but
not on disk is the expected case for a partial copy: it is skipped and counted, and
:meth:`Index.coverage` sums it up in one line. Real problems in the annotation files (a malformed
line, a repeated image, a box that is not numbers) never stop the reading either: each is recorded
as ``file:line: message`` in ``Index.problems`` and the row is skipped.

CelebA comes in two layouts, both accepted:

- the official one: ``Img/img_celeba/`` (in-the-wild photos) or ``Img/img_align_celeba/``
  (aligned 178x218 crops), ``Anno/identity_CelebA.txt``, ``Anno/list_bbox_celeba.txt`` and
  ``Eval/list_eval_partition.txt``;
- torchvision's (``torchvision.datasets.CelebA(root, download=True)``): everything flat under
  ``<root>/celeba/``.

CelebA's boxes (``list_bbox_celeba.txt``) are in the coordinates of the in-the-wild photos, so
they are used only with ``img_celeba``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from flup.config.params import ParamError
from flup.config.schema import DEFAULT_MAX_IMAGE_PIXELS, DEFAULT_MIN_PAIRS_PER_LABEL
from flup.data import protocols
from flup.data.sources import check_image_pixels
from flup.io import atomic_path, write_json, write_table

FORMATS = ("celeba", "folder")
CELEBA_IMAGE_SETS = ("img_celeba", "img_align_celeba")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
INDEX_COLUMNS = ["image", "identity", "partition", "box_x1", "box_y1", "box_x2", "box_y2"]


@dataclass
class Index:
    """Images found on disk, with identity and optional annotated box (NaN when none)."""

    root: Path  # image paths in ``frame`` are relative to this folder
    frame: pd.DataFrame  # INDEX_COLUMNS
    listed: int  # images the annotations list (for a folder: images found)
    problems: list[str] = field(default_factory=list)

    def coverage(self) -> str:
        """One line on how complete the copy is, e.g. ``6,300 of 202,599 listed images are on disk``."""
        return f"{len(self.frame):,} of {self.listed:,} listed images are on disk"

    def summary(self) -> dict:
        return {
            "root": str(self.root),
            "images_listed": self.listed,
            "images_found": len(self.frame),
            "images_missing": self.listed - len(self.frame),
            "identities": int(self.frame["identity"].nunique()),
            "annotated_boxes": int(self.frame["box_x1"].notna().sum()),
            "problems": len(self.problems),
        }


@dataclass(frozen=True)
class CelebALayout:
    images: Path
    identities: Path
    boxes: Path | None
    partitions: Path | None


def celeba_layout(root: Path, image_set: str) -> CelebALayout:
    """Locate CelebA's files under ``root`` (official or torchvision layout)."""
    if image_set not in CELEBA_IMAGE_SETS:
        raise ValueError(f"CelebA image set is {image_set!r}; expected one of {', '.join(CELEBA_IMAGE_SETS)}")
    candidates = [
        (root / "Img" / image_set, root / "Anno", root / "Eval"),
        (root / "celeba" / image_set, root / "celeba", root / "celeba"),
        (root / image_set, root, root),
    ]
    for images, annotation_dir, evaluation in candidates:
        identities = annotation_dir / "identity_CelebA.txt"
        if images.is_dir() and identities.is_file():
            boxes = annotation_dir / "list_bbox_celeba.txt"
            partitions = evaluation / "list_eval_partition.txt"
            return CelebALayout(
                images,
                identities,
                boxes if boxes.is_file() and image_set == "img_celeba" else None,
                partitions if partitions.is_file() else None,
            )
    raise FileNotFoundError(
        f"{root}: no CelebA found (looked for Img/{image_set}/ with Anno/identity_CelebA.txt, "
        f"and torchvision's celeba/{image_set}/ with celeba/identity_CelebA.txt)"
    )


def _read_columns(
    path: Path, n_values: int, problems: list[str], header_lines: int = 0
) -> dict[str, tuple[int, list[str]]]:
    """``image value...`` lines -> {image: (line number, values)}; bad lines become problems ``file:line: ...``."""
    rows: dict[str, tuple[int, list[str]]] = {}
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if number <= header_lines or not line.strip():
                continue
            fields = line.split()
            if len(fields) != 1 + n_values:
                problems.append(
                    f"{path}:{number}: expected an image name and {n_values} value(s), got {line.strip()!r}"
                )
                continue
            if fields[0] in rows:
                problems.append(f"{path}:{number}: {fields[0]} is listed again; the first entry is kept")
                continue
            rows[fields[0]] = (number, fields[1:])
    return rows


def read_celeba(root: str | Path, image_set: str = "img_celeba") -> Index:
    """Index a (possibly partial) CelebA copy: the images of the identity file that are on disk."""
    root = Path(root).expanduser()
    layout = celeba_layout(root, image_set)
    problems: list[str] = []
    identities = _read_columns(layout.identities, 1, problems)
    boxes: dict[str, list[str]] = {}
    if layout.boxes is not None:
        # list_bbox_celeba.txt: a count line, a header line, then "image x_1 y_1 width height".
        boxes = _read_columns(layout.boxes, 4, problems, header_lines=2)
    partitions = _read_columns(layout.partitions, 1, problems) if layout.partitions else {}

    present = {p.name for p in layout.images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    rows = []
    for image, (_, (identity,)) in identities.items():
        if image not in present:  # a partial copy: counted in Index.coverage(), not a problem
            continue
        box = [float("nan")] * 4
        if image in boxes:
            box_line, values = boxes[image]
            try:
                x, y, w, h = (float(v) for v in values)
                box = [x, y, x + w, y + h]
            except ValueError:
                problems.append(f"{layout.boxes}:{box_line}: box values are not numbers: {' '.join(values)}")
        partition = partitions[image][1][0] if image in partitions else None
        rows.append((image, f"celeba_{identity}", partition, *box))
    frame = pd.DataFrame(rows, columns=INDEX_COLUMNS)
    return Index(layout.images, frame, len(identities), problems)


def read_folder(root: str | Path) -> Index:
    """Index a ``<identity>/<image>`` folder: every image file one level down, named by its folder."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a folder")
    problems = [f"{root / p.name}: not in an identity folder; skipped" for p in sorted(root.iterdir())
                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    rows = [
        (f"{path.parent.name}/{path.name}", path.parent.name, None, *[float("nan")] * 4)
        for path in sorted(root.glob("*/*"))
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not rows:
        raise FileNotFoundError(f"{root}: no images in <identity>/<image> folders")
    frame = pd.DataFrame(rows, columns=INDEX_COLUMNS)
    return Index(root, frame, len(frame), problems)


def read_dataset(entry: dict) -> Index:
    """Index the dataset a ``datasets.<name>`` params entry describes."""
    kind = entry["format"]
    if kind == "celeba":
        return read_celeba(entry["root"], entry.get("images", "img_celeba"))
    if kind == "folder":
        return read_folder(entry["root"])
    raise ValueError(f"format is {kind!r}; expected one of {', '.join(FORMATS)}")


def download_celeba(root: str | Path) -> Path:
    """Fetch CelebA with torchvision's downloader (needs internet and the ``gdown`` package).

    torchvision checks each file's MD5 and writes the flat layout under ``<root>/celeba``, which
    :func:`read_celeba` accepts with ``images: img_align_celeba`` (torchvision fetches only the
    aligned crops). CelebA's terms forbid redistributing it, so flup never ships it.
    """
    from torchvision.datasets import CelebA

    CelebA(str(root), split="all", target_type=["identity", "bbox"], download=True)
    return Path(root)


def ingest(entry: dict, out_dir: Path, log: logging.Logger, problems_logged: int = 20, key: str = "dataset",
           max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> dict:
    """Index the dataset of a ``datasets.<name>`` entry, draw its test pairs and write ``index.csv``, ``pairs.csv``
    and ``report.json`` into ``out_dir`` atomically; log the first ``problems_logged`` problems; return the summary.

    Refused before anything is written, with a ParamError naming ``key`` (``datasets.<name>``): a ``root`` that is
    not a dataset folder, fewer than ``min_pairs_per_label`` pairs of either kind, an image of the pairs over
    ``max_image_pixels`` (``data.max_image_pixels``, read from its header)."""
    root = Path(entry["root"]).expanduser()
    if not root.is_dir():
        raise ParamError(f"params.yaml: {key}.root: {entry['root']!r} "
                         f"{'is not a folder' if root.exists() else 'does not exist'} (looked for {root.absolute()})")
    try:
        index = read_dataset(entry)
    except FileNotFoundError as error:
        raise ParamError(f"params.yaml: {key}.root: {error}") from None
    for problem in index.problems[:problems_logged]:
        log.warning("%s", problem)
    if len(index.problems) > problems_logged:
        log.warning("... and %d more problems (all in report.json)", len(index.problems) - problems_logged)
    pairs = protocols.evaluation_pairs(index.frame, entry["same_pairs"], entry["different_pairs"],
                                       entry["random_seed"])
    minimum = entry.get("min_pairs_per_label", DEFAULT_MIN_PAIRS_PER_LABEL)
    identities = index.frame["identity"].nunique()
    protocols.require_both_kinds(
        pairs, minimum, f"params.yaml: {key}", f"{key}.min_pairs_per_label",
        f"add identities (different-person pairs need two) and photos (same-person pairs need two of one identity), "
        f"or lower {key}.min_pairs_per_label",
        f" (asked for {entry['same_pairs']} and {entry['different_pairs']}; {len(index.frame)} images of "
        f"{identities} {'identity' if identities == 1 else 'identities'})")
    for image in sorted(set(pairs["image_a"]) | set(pairs["image_b"])):
        check_image_pixels(index.root / image, max_image_pixels)
    summary = {**index.summary(), **protocols.describe(None, pairs, 0)}
    with atomic_path(out_dir) as staging:
        write_table(staging / "index.csv", index.frame)
        write_table(staging / "pairs.csv", pairs)
        write_json(staging / "report.json", {**summary, "problem_list": index.problems})
    return {**summary, "coverage": index.coverage()}
