"""Assembling a validated LFW copy from wherever the source put it.

Sources arrive in many shapes (the deep-funneled archive, a sklearn-style ``lfw_funneled/``
folder, pair files downloaded on their own). We find the folder of person directories and
the protocol files, copy what decodes, and report everything else by file name.
"""

from __future__ import annotations

import itertools
import logging
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import simplejpeg
from tqdm import tqdm

from flup.config.schema import DEFAULT_MAX_IMAGE_PIXELS
from flup.data import lfw, sources
from flup.data.sources import check_image_pixels
from flup.io import atomic_path, write_json

if TYPE_CHECKING:
    from flup.config.schema import Data as DataSettings

_IMAGE_NAME = re.compile(r"^(?P<person>.+)_(?P<number>\d{4})\.jpg$")


def _person_dirs(folder: Path) -> list[Path]:
    return [d for d in folder.iterdir() if d.is_dir() and any(_is_lfw_image(f, d.name) for f in d.glob("*.jpg"))]


def _is_lfw_image(path: Path, person: str) -> bool:
    match = _IMAGE_NAME.match(path.name)
    return bool(match) and lfw.nfc(match["person"]) == lfw.nfc(person)


def find_image_root(roots: list[Path]) -> Path:
    """The folder (a root or one of its children, up to two levels down) with the most person dirs."""
    candidates = []
    for root in roots:
        candidates.append(root)
        for child in sorted(p for p in root.iterdir() if p.is_dir()):
            candidates.append(child)
            candidates.extend(sorted(p for p in child.iterdir() if p.is_dir()))
    best, best_count = None, 0
    for candidate in candidates:
        count = len(_person_dirs(candidate)) if candidate.is_dir() else 0
        if count > best_count:
            best, best_count = candidate, count
    if best is None:
        raise FileNotFoundError(
            f"no LFW images (<Person>/<Person>_NNNN.jpg) found under {', '.join(map(str, roots))}"
        )
    return best


def find_protocol_files(roots: list[Path]) -> dict[str, Path]:
    """Locate each known protocol file in the roots or one level below them."""
    found: dict[str, Path] = {}
    for name in lfw.PROTOCOL_FILES:
        for root in roots:
            hits = [root / name] + sorted(root.glob(f"*/{name}"))
            hit = next((h for h in hits if h.is_file()), None)
            if hit:
                found[name] = hit
                break
    return found


def decode_problem(data: bytes) -> str | None:
    """Why these JPEG bytes are unusable, or None when they decode cleanly.

    OpenCV decodes a JPEG whose scan was cut short (an interrupted copy that still ends in an EOI
    marker) without an error: libjpeg fills the missing rows flat grey and only prints a warning on
    stderr. So the bytes are also decoded by libjpeg-turbo in strict mode (simplejpeg), where any
    libjpeg warning is an error: a file that decodes only with warnings is corrupt.
    """
    if len(data) < 4 or data[:2] != b"\xff\xd8":
        return "not a JPEG (missing SOI marker)"
    if data.rstrip(b"\x00")[-2:] != b"\xff\xd9":
        return "truncated JPEG (missing EOI marker)"
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        return "undecodable JPEG"
    try:
        simplejpeg.decode_jpeg(data, colorspace="BGR", strict=True)
    except ValueError as strict_error:
        try:
            simplejpeg.decode_jpeg(data, colorspace="BGR", strict=False)
        except ValueError:
            return None  # a format simplejpeg cannot convert (e.g. CMYK) but OpenCV reads: not a warning
        return f"corrupt JPEG ({strict_error})"
    return None


def select_people(pairs_by_file: dict[str, list[lfw.Pair]], available: set[str], max_people: int) -> set[str]:
    """A deterministic subset of at most ``max_people`` people that keeps whole pairs.

    Takes pairs from the pair files in turn, alternating same- and different-person pairs so
    both kinds survive in every protocol, and admits a pair's people while the budget allows.
    """
    order = ["pairsDevTest.txt", "pairsDevTrain.txt", "pairs.txt"]
    streams = []
    for name in order:
        pairs = pairs_by_file.get(name, [])
        same = [p for p in pairs if p.same]
        different = [p for p in pairs if not p.same]
        interleaved = [p for duo in zip(same, different, strict=False) for p in duo]
        streams.append(interleaved + same[len(different):] + different[len(same):])
    chosen: set[str] = set()
    # Round-robin over the files so every protocol keeps pairs of both kinds.
    for turn in itertools.zip_longest(*streams):
        for pair in turn:
            if pair is None:
                continue
            people = {lfw.identity_of(pair.image_a), lfw.identity_of(pair.image_b)}
            if people <= available and len(chosen | people) <= max_people:
                chosen |= people
            if len(chosen) >= max_people:
                return chosen
    for person in sorted(available - chosen):  # budget left after every pair: fill alphabetically
        if len(chosen) >= max_people:
            break
        chosen.add(person)
    return chosen


def assemble(roots: list[Path], out_dir: Path, max_people: int | None = None,
             max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> dict:
    """Copy a validated LFW into ``out_dir`` (``images/`` + protocol files); return the report.

    Names are copied in Unicode NFC, the form LFW's protocol files are written in (:func:`flup.data.lfw.nfc`), so
    a folder whose name an archive or a file system stored decomposed (NFD) still matches its pairs. An image
    over ``max_image_pixels`` (``data.max_image_pixels``) is refused from its header before it is decoded."""
    image_root = find_image_root(roots)
    protocol_paths = find_protocol_files(roots)
    pairs_by_file = {name: lfw.parse_pairs(p) for name, p in protocol_paths.items() if name in lfw.PAIR_FILES}
    for name in lfw.PEOPLE_FILES:
        if name in protocol_paths:
            lfw.parse_people(protocol_paths[name])
    named: set[str] = set()  # everyone LFW lists, whether or not this copy has their folder
    if lfw.NAMES_FILE in protocol_paths:
        named = set(lfw.parse_people(protocol_paths[lfw.NAMES_FILE], has_header=False))

    people_dirs = {lfw.nfc(d.name): d for d in _person_dirs(image_root)}
    people = set(people_dirs)
    if max_people is not None:
        people = select_people(pairs_by_file, people, max_people)

    images_out = out_dir / "images"
    unreadable = []
    copied = 0
    sources = sorted(f for person in people for f in people_dirs[person].glob("*.jpg"))
    for source in tqdm(sources, desc="fetch: checking + copying images", unit="img", mininterval=1.0):
        data = source.read_bytes()
        relative = lfw.nfc(f"{source.parent.name}/{source.name}")
        check_image_pixels(source, max_image_pixels, data)
        problem = decode_problem(data)
        if problem:
            unreadable.append({"image": relative, "reason": problem})
            continue
        target = images_out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        copied += 1
    for name, path in protocol_paths.items():
        shutil.copyfile(path, out_dir / name)

    present = {f"{p.parent.name}/{p.name}" for p in images_out.glob("*/*.jpg")}
    protocol_report = {}
    for name, pairs in pairs_by_file.items():
        missing, unknown = [], []
        outside_subset = 0
        for pair in pairs:
            for person in dict.fromkeys(lfw.identity_of(i) for i in (pair.image_a, pair.image_b)):
                if person not in people_dirs and person not in named:  # a typo or a foreign file
                    unknown.append(f"{protocol_paths[name]}:{pair.line}: unknown person {person!r} "
                                   f"(no folder in the source, not in {lfw.NAMES_FILE})")
            for image in (pair.image_a, pair.image_b):
                person = lfw.identity_of(image)
                if image in present or (person not in people_dirs and person not in named):
                    continue
                if person in people_dirs and person not in people:  # left out by data.max_people
                    outside_subset += 1
                else:
                    missing.append(f"{name}:{pair.line}: {image}")
        protocol_report[name] = {
            "pairs": len(pairs),
            "same": sum(p.same for p in pairs),
            "missing_images": missing,
            "images_outside_subset": outside_subset,
            "unknown_people": unknown,
        }
    return {
        "image_root": str(image_root),
        "people": len({image.split("/")[0] for image in present}),
        "images": copied,
        "unreadable": unreadable,
        "protocol_files": sorted(protocol_paths),
        "missing_protocol_files": sorted(set(lfw.PROTOCOL_FILES) - set(protocol_paths)),
        "protocols": protocol_report,
        "max_people": max_people,
    }


def fetch_lfw(data: DataSettings, out_dir: Path, cache: Path) -> dict:
    """params.yaml ``data``: download (or find) the source and its extra sources, check them and
    :func:`assemble` LFW into ``out_dir`` atomically, with ``report.json``; returns the report."""
    limits = sources.SizeLimits(data.max_download_mb, data.max_member_mb, data.max_extract_mb)
    roots = [sources.resolve_source(data.source, data.sha256, cache, limits=limits)]
    for index, extra in enumerate(data.extra_sources):
        name = f"data.extra_sources[{index}].location"
        roots.append(sources.resolve_source(extra.location, extra.sha256, cache, param_name=name, limits=limits))
    with atomic_path(out_dir) as staging:
        report = assemble(roots, staging, data.max_people, data.max_image_pixels)
        write_json(staging / "report.json", report)
    return report


def report_problems(report: dict, log: logging.Logger, shown: int = 20) -> None:
    """Log the report's unreadable images, its protocols' missing images and unknown people (the first ``shown``)."""
    for item in report["unreadable"]:
        log.warning("excluded unreadable image %s: %s", item["image"], item["reason"])
    for info in report["protocols"].values():
        for problem in info["missing_images"][:shown]:
            log.warning("%s names a missing image", problem)
        for problem in info["unknown_people"][:shown]:
            log.warning("%s", problem)
        if len(info["unknown_people"]) > shown:
            log.warning("... and %d more lines naming unknown people (all in report.json)",
                        len(info["unknown_people"]) - shown)
    for name in report["missing_protocol_files"]:
        log.warning("protocol file %s not found in the source", name)
