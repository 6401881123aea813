"""Is what a redaction tool wrote a usable redaction of its photo?

Checked in this order, each step before anything costlier reads the file:

1. it is a regular file (not a link, not a folder);
2. its size is at most the cap (``max_output_bytes``), read from the file system before it is opened;
3. its header's width x height are the photo's, read without decoding, so a small file declaring a huge image
   is refused before a decoder allocates its pixels;
4. it decodes with OpenCV (as 8-bit BGR: grey is widened, alpha dropped) and, for a JPEG, without a libjpeg
   warning (a truncated JPEG decodes grey-filled otherwise: :func:`flup.data.fetch.decode_problem`);
5. the decoded pixels have the photo's height and width: the rule is *same size*, so the output is scored
   against the same face box (a tool that crops or rescales is reported ``wrong_size``).

A usable output is ``ok``, or ``identical`` when it is a copy of the photo: the same bytes, or other bytes that
decode to the same pixels (a lossless re-encoding). A copy is kept, not an error: the audit reads it as a face
left fully identifiable. ``changed_fraction`` is the share of pixels that differ from the photo's by more than
:data:`CHANGE_TOLERANCE` grey levels in some channel (a JPEG re-encoding of an untouched photo stays near 0).
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import cv2
import numpy as np
import simplejpeg

from flup.data.fetch import decode_problem

CHANGE_TOLERANCE = 16


class Status(StrEnum):
    OK = "ok"
    IDENTICAL = "identical"  # a copy of the input: kept, and read by the audit as fully identifiable
    CRASHED = "crashed"  # non-zero exit (or the function raised)
    TIMED_OUT = "timed_out"
    NO_OUTPUT = "no_output"
    OUTPUT_TOO_LARGE = "output_too_large"
    UNREADABLE_OUTPUT = "unreadable_output"
    WRONG_SIZE = "wrong_size"
    UNREADABLE_INPUT = "unreadable_input"  # the photo itself does not decode: the tool is not run


KEPT = frozenset({Status.OK, Status.IDENTICAL})


@dataclass(frozen=True)
class Photo:
    """An input photo, read once: its bytes' sha256 and its decoded pixels."""

    path: Path
    sha256: str
    pixels: np.ndarray

    @property
    def size(self) -> tuple[int, int]:
        return self.pixels.shape[1], self.pixels.shape[0]


@dataclass(frozen=True)
class Checked:
    """The verdict on one output: a status, why (for a failure), and for a kept output its sha256 and how much
    it changed."""

    status: Status
    detail: str = ""
    sha256: str = ""
    identical: str = ""  # "bytes" or "pixels" for Status.IDENTICAL
    changed_fraction: float | None = None


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from an image's header, without decoding its pixels; None when no header is understood."""
    if data[:2] == b"\xff\xd8":
        try:
            height, width, _, _ = simplejpeg.decode_jpeg_header(data)
            return width, height
        except ValueError:
            pass
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as image:
                return image.size
        except Image.DecompressionBombError:
            return (-1, -1)  # larger than Pillow will even describe: no photo's size
        except (OSError, SyntaxError, ValueError):
            return None


def changed_fraction(photo: np.ndarray, output: np.ndarray) -> float:
    difference = np.abs(photo.astype(np.int16) - output.astype(np.int16)).max(axis=2)
    return float(np.mean(difference > CHANGE_TOLERANCE))


def _size_text(size: tuple[int, int]) -> str:
    return f"{size[0]} x {size[1]} px"


def check_pixels(pixels: np.ndarray, photo: Photo, sha256: str, byte_copy: bool) -> Checked:
    """Steps 5 and the copy check on decoded ``pixels`` (``sha256``: of the bytes that will be kept)."""
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        return Checked(Status.UNREADABLE_OUTPUT, f"not a BGR uint8 image (shape {pixels.shape}, dtype "
                                                 f"{pixels.dtype})")
    if pixels.shape[:2] != photo.pixels.shape[:2]:
        return Checked(Status.WRONG_SIZE, f"{_size_text((pixels.shape[1], pixels.shape[0]))}, the photo is "
                                          f"{_size_text(photo.size)} (outputs must keep the photo's size)")
    if byte_copy:
        return Checked(Status.IDENTICAL, "the output's bytes are the photo's", sha256, "bytes", 0.0)
    if np.array_equal(pixels, photo.pixels):
        return Checked(Status.IDENTICAL, "the output decodes to the photo's pixels", sha256, "pixels", 0.0)
    return Checked(Status.OK, "", sha256, "", changed_fraction(photo.pixels, pixels))


def check_file(path: Path, photo: Photo, max_bytes: int) -> Checked:
    """Steps 1-5 on the file a tool wrote at ``path``."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return Checked(Status.NO_OUTPUT, f"no file at {path.name}")
    if not path.is_file() or path.is_symlink():
        return Checked(Status.UNREADABLE_OUTPUT, f"{path.name} is not a regular file")
    if info.st_size > max_bytes:
        return Checked(Status.OUTPUT_TOO_LARGE, f"{path.name} is {info.st_size:,} bytes (or more), over the cap of "
                                                f"{max_bytes:,} bytes")
    if info.st_size == 0:
        return Checked(Status.UNREADABLE_OUTPUT, f"{path.name} is empty")
    data = path.read_bytes()
    size = header_size(data)
    if size is not None and size != photo.size:
        shown = "too large to describe" if size == (-1, -1) else _size_text(size)
        return Checked(Status.WRONG_SIZE, f"{path.name} is {shown} (from its header), the photo is "
                                          f"{_size_text(photo.size)} (outputs must keep the photo's size)")
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if pixels is None or pixels.size == 0:
        return Checked(Status.UNREADABLE_OUTPUT, f"{path.name} ({info.st_size:,} bytes) does not decode as an "
                                                 "image")
    if data[:2] == b"\xff\xd8":
        problem = decode_problem(data)
        if problem:
            return Checked(Status.UNREADABLE_OUTPUT, f"{path.name}: {problem}")
    sha256 = hashlib.sha256(data).hexdigest()
    return check_pixels(pixels, photo, sha256, byte_copy=sha256 == photo.sha256)
