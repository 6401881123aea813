"""Rendered obfuscations, stored once so every recogniser scores exactly the same pixels.

Obfuscation only changes pixels inside a box (``obfuscation.affected_box``: the face box, or the
larger region of the ``deface`` preset), so a lossless render is stored as the encoded patch; the
full image is the sharp image with the patch pasted back. One ``.npz`` per obfuscation x level
holds every patch (names, boxes, offsets, encoded bytes) — plain arrays, loaded with
``allow_pickle=False``. With JPEG encoding (published redactions are
JPEGs) the whole image is stored, since compression touches every pixel.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from flup.obfuscate import obfuscation

ENCODINGS = ("png", "webp", "jpeg")


def is_identity(kind: str, level: float) -> bool:
    return (kind == "blur" and level == 0) or (kind == "pixelate" and level == 1)


def level_name(level: float) -> str:
    return f"{level:g}"


def store_path(root: Path, kind: str, level: float) -> Path:
    return root / kind / f"{level_name(level)}.npz"


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
            ok, data = cv2.imencode(".png", pixels, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        elif self.name == "webp":  # quality > 100 selects lossless WebP
            ok, data = cv2.imencode(".webp", pixels, [cv2.IMWRITE_WEBP_QUALITY, 101])
        else:
            ok, data = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:
            raise ValueError(f"could not encode a {pixels.shape} patch as {self.name}")
        return data.tobytes()


def render_one(image: np.ndarray, box, kind: str, level: float, box_scale: float, encoding: Encoding):
    """(patch box, encoded bytes) for one obfuscated image. An identity level stores nothing."""
    if encoding.whole_image:
        obfuscated = obfuscation.apply(image, box, kind, level, box_scale)
        return (0, 0, image.shape[1], image.shape[0]), encoding.encode(obfuscated)
    if is_identity(kind, level):
        return (0, 0, 0, 0), b""
    # The patch must cover every changed pixel; deface reaches beyond the (scaled) face box.
    region = obfuscation.affected_box(image.shape, box, kind, level, box_scale)
    obfuscated = obfuscation.apply(image, box, kind, level, box_scale)
    return region, encoding.encode(obfuscation.crop_box(obfuscated, region))


def save_store(path: Path, names: list[str], boxes: list, payloads: list[bytes], encoding: Encoding) -> None:
    offsets = np.zeros(len(payloads) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(p) for p in payloads])
    data = np.frombuffer(b"".join(payloads), dtype=np.uint8)
    with open(path, "wb") as handle:
        np.savez(
            handle,
            names=np.array(names, dtype=str),
            boxes=np.array(boxes, dtype=np.int32).reshape(-1, 4),
            offsets=offsets,
            payload=data,
            encoding=np.array(encoding.name),
        )


class RenderStore:
    """Read access to one obfuscation x level: ``store.obfuscated(name, sharp_pixels)``."""

    def __init__(self, path: Path):
        with np.load(path, allow_pickle=False) as archive:
            self.names = archive["names"].tolist()
            self.boxes = archive["boxes"]
            self.offsets = archive["offsets"]
            self.payload = archive["payload"]
            self.encoding = str(archive["encoding"])
        self.index = {name: i for i, name in enumerate(self.names)}
        self.path = path

    def __contains__(self, name: str) -> bool:
        return name in self.index

    def obfuscated(self, name: str, sharp: np.ndarray) -> np.ndarray:
        i = self.index[name]
        start, end = self.offsets[i], self.offsets[i + 1]
        if start == end:
            return sharp.copy()
        patch = cv2.imdecode(self.payload[start:end], cv2.IMREAD_COLOR)
        if patch is None:
            raise ValueError(f"{self.path}: corrupt patch for {name}")
        x1, y1, x2, y2 = self.boxes[i]
        if (x1, y1, x2, y2) == (0, 0, sharp.shape[1], sharp.shape[0]):
            return patch
        out = sharp.copy()
        out[y1:y2, x1:x2] = patch
        return out
