"""Classical reversal of an obfuscation at a known setting: the first step of a reverse-then-recognise attacker.

The attacker knows the family and level (a redaction tool's setting is public) and, in the oracle-box threat
model, the box flup obfuscated (the sharp image's detection scaled by ``render.regions``, exactly as
:func:`flup.obfuscation.methods.scale_box` rounds it). Every function here takes an obfuscated HxWx3 uint8 image
and returns a new one in which only that box has changed:

- Gaussian blur (``render.blur_border: crop``) at a known sigma: Wiener-Hunt deconvolution
  (:func:`wiener_deblur`) or Richardson-Lucy (:func:`richardson_lucy_deblur`), both scikit-image's, with the PSF
  flup blurred with;
- pixelation at a known block size: a smooth (bicubic spline) interpolation of the cell means through the cells'
  centres, on the grid flup used, corrected until every cell again has the mean the redaction shows
  (:func:`upsample_pixelation`).

:class:`Restorer` bundles them behind one call, ``restorer(image, box, kind, level, region)``, to put in front of
any recogniser.

Why the blur is exact to invert in form but not in practice. flup blurs the box's own pixels with
``cv2.GaussianBlur`` and a mirrored border (``BORDER_REFLECT_101``). Mirroring a crop of n pixels that way extends
it to a signal of period 2(n - 1), and a symmetric kernel maps such a signal to another, so the blurred crop,
mirrored the same way, is exactly the circular convolution of the mirrored sharp crop with the kernel (folded onto
the period where it is longer). Deconvolving that mirrored tile in the Fourier domain therefore has no boundary
error at all. What limits it is the signal: the Gaussian's transfer function is exp(-2 pi^2 sigma^2 f^2), and the
blurred result is rounded to 8 bits, which adds noise of about 1/sqrt(12) grey level spread evenly over all
frequencies. A component of frequency f survives above that noise only while its blurred amplitude stays above it:
at sigma = 2 px, f = 0.1 cycles/px (a 10 px detail, an eye's width at LFW's scale) is damped to
exp(-2 pi^2 0.04) = 0.45 and comes back; at sigma = 8 px the same detail is damped to exp(-2 pi^2 0.64) ~ 3e-6, under a
thousandth of a grey level even at full 255-level contrast, far under the rounding noise, so no linear or iterative
method can recover it; only frequencies below about sqrt(ln(255 sqrt 12) / 2 pi^2) / sigma ~ 0.6 / sigma (~0.07
cycles/px at sigma 8, ~0.04 at sigma 16) can be lifted at all. So deconvolution gives back fine detail only at small
sigma; at large sigma it can only restore the contrast of the coarse structure that survives, while the regulariser
(Wiener) or the early stop (Richardson-Lucy) keeps the rounding noise from being amplified. That coarse structure
still carries much identity: benchmarks/deconvolution.md measures the AUC it gives back up to sigma 48.

One thing the study's blur leaks on top: OpenCV's uint8 blur rounds its kernel to 8-bit fixed-point taps, and that
rounding passes up to about 1% of the high frequencies a true Gaussian would remove. Deconvolving with those exact
taps (:func:`gaussian_kernel`) instead of the ideal Gaussian recovers more at large sigma (at sigma 16, AUC 0.972
against 0.860: benchmarks/deconvolution.md).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import fft as sp_fft
from scipy import ndimage
from skimage import restoration, transform
from skimage.restoration import uft

from flup.obfuscation import families, methods

Box = Sequence[float]

# Wiener's balance (lambda of skimage.restoration.wiener with its default Laplacian regulariser) on images scaled to
# [0, 1]. Chosen by PSNR over the box on 40 faces of view1's training people (benchmarks/deconvolution.md, "How the
# settings were chosen"): 3e-4 is the best of 1e-5 ... 1e-2 at every sigma from 2 to 16; 1e-4 and 1e-3 lose up to
# 0.7 dB, 1e-5 amplifies the rounding noise (at sigma 16 it is worse than the blurred box).
WIENER_BALANCE = 3e-4
# Richardson-Lucy iterations, measured the same way: below Wiener at every sigma; 30 gain 5.4 dB at sigma 2, 60 add
# 0.9 dB for twice the time (0.1-1.5 s an image on a 2-core machine), so 30.
RICHARDSON_LUCY_ITERATIONS = 30
# Back-projection steps of the pixelation upsampling: each removes most of what the cells' means still differ by; on
# LFW faces 2 already reach the PSNR of 8 (benchmarks/deconvolution.md) and 4 leave only the cells clipping touched.
PIXELATION_CORRECTIONS = 4
BLUR_METHODS = ("wiener", "richardson_lucy")


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3:
        raise ValueError(
            f"expected an HxWxC uint8 image, got {type(image).__name__} "
            f"{getattr(image, 'dtype', '')} shape {getattr(image, 'shape', '')}"
        )


def _check_sigma(sigma: float) -> float:
    sigma = families.check_level("blur", sigma)
    if sigma == 0:
        raise ValueError("blur sigma must be > 0 to deconvolve (sigma 0 is the sharp image)")
    return float(sigma)


def gaussian_kernel(sigma: float, fixed_point: bool = True) -> np.ndarray:
    """The 1-D kernel flup blurs with at ``sigma``: OpenCV's size rule (:func:`methods.opencv_ksize`) and, from
    ``methods.MATRIX_MIN_KERNEL`` taps up (sigma above about 1.4), the exact 8-bit fixed-point taps of its uint8 blur
    (:func:`methods.opencv_fixed_kernel`), whose rounding leaves up to ~1% of the high frequencies that a true Gaussian
    removes; below that, or without ``fixed_point`` (the ideal Gaussian), the floating-point Gaussian taps."""
    ksize = methods.opencv_ksize(sigma)
    if fixed_point and ksize >= methods.MATRIX_MIN_KERNEL:
        return methods.opencv_fixed_kernel(ksize, sigma) / 256.0
    return cv2.getGaussianKernel(ksize, sigma, cv2.CV_64F).ravel()


def periodic_kernel(kernel: np.ndarray, period: int) -> np.ndarray:
    """``kernel`` (odd length, centred) wrapped onto a circle of ``period`` samples, its centre at ``period // 2``
    (where skimage's ``ir2tf`` expects it): a kernel longer than the period folds onto itself."""
    half = len(kernel) // 2
    positions = (period // 2 + np.arange(-half, half + 1)) % period
    return np.bincount(positions, weights=kernel, minlength=period)


def mirror_tile(crop: np.ndarray) -> np.ndarray:
    """``crop`` followed by its ``BORDER_REFLECT_101`` mirror on each axis: one period (2(n - 1) per side of n >= 2)
    of the signal cv2 blurs."""
    pad = [(0, max(0, side - 2)) for side in crop.shape[:2]] + [(0, 0)] * (crop.ndim - 2)
    return np.pad(crop, pad, mode="reflect")


def gaussian_psf(sigma: float, shape: tuple[int, int], fixed_point: bool = True) -> np.ndarray:
    """The 2-D PSF of flup's blur at ``sigma`` over a periodic tile of ``shape`` (centred at ``shape // 2``);
    ``fixed_point``: see :func:`gaussian_kernel`."""
    kernel = gaussian_kernel(sigma, fixed_point)
    return np.outer(periodic_kernel(kernel, shape[0]), periodic_kernel(kernel, shape[1]))


def _to_unit(pixels: np.ndarray) -> np.ndarray:
    return pixels.astype(np.float64) / 255.0


def _to_uint8(unit: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(unit * 255.0), 0, 255).astype(np.uint8)


def _replace_box(image: np.ndarray, box: methods.IntBox, restored: np.ndarray) -> np.ndarray:
    out = image.copy()
    x1, y1, x2, y2 = box
    out[y1:y2, x1:x2] = restored
    return out


@functools.lru_cache(maxsize=64)
def _transfer_function_1d(period: int, sigma: float, fixed_point: bool, is_real: bool) -> np.ndarray:
    """skimage's ``ir2tf`` of flup's kernel wrapped on ``period`` samples (full spectrum unless ``is_real``)."""
    return uft.ir2tf(periodic_kernel(gaussian_kernel(sigma, fixed_point), period), (period,), is_real=is_real)


@functools.lru_cache(maxsize=64)
def _wiener_filter(shape: tuple[int, int], sigma: float, balance: float, fixed_point: bool) -> np.ndarray:
    """``skimage.restoration.wiener``'s filter conj(H) / (|H|^2 + balance |D|^2) for :func:`gaussian_psf` over a
    periodic tile of ``shape`` (2(n - 1), 2(m - 1)) and the default Laplacian regulariser D, at the tile's first n x m
    frequencies (all an even tile needs), real (the PSF and the Laplacian are symmetric, so H and D are real up to
    rounding) and times the inverse transform's 1 / (2(n - 1) 2(m - 1)). Read-only, cached.

    Both are built with skimage's own ``ir2tf`` / ``laplacian``, one axis at a time: the PSF is the outer product of
    two 1-D kernels, so its transfer function is the outer product of theirs, and the 2-D Laplacian [[0, -1, 0],
    [-1, 4, -1], [0, -1, 0]] is the sum of the 1-D [-1, 2, -1] along each axis, so its transfer function is their sum.
    Equal to what skimage builds from the 2-D arrays up to floating-point rounding (tests/test_restoration.py), for a
    fraction of the cost. skimage's unitary FFT pair (norm "ortho") has the same overall scale as this
    forward/inverse pair, so the filter is the same multiplier.
    """
    rows, cols = shape
    n, m = rows // 2 + 1, cols // 2 + 1  # the crop's side, also the rfft's last-axis length
    psf = (_transfer_function_1d(rows, sigma, fixed_point, False)[:n, None]
           * _transfer_function_1d(cols, sigma, fixed_point, True)[None, :m])
    reg = (uft.laplacian(1, (rows,), is_real=False)[0][:n, None] + uft.laplacian(1, (cols,), is_real=True)[0][None, :m])
    wiener = np.conj(psf) / (np.abs(psf) ** 2 + balance * np.abs(reg.real) ** 2)
    scale = (2.0 * (n - 1) if n > 1 else 1.0) * (2.0 * (m - 1) if m > 1 else 1.0)
    result = np.ascontiguousarray(wiener.real / scale)
    result.flags.writeable = False
    return result


def wiener_deblur(image: np.ndarray, box: Box, sigma: float, region: float = 1.0,
                  balance: float = WIENER_BALANCE, fixed_point: bool = True) -> np.ndarray:
    """Undo flup's crop blur at ``sigma`` inside ``box`` (scaled by ``region``) by Wiener-Hunt deconvolution.

    The box is deconvolved as its mirrored tile (:func:`mirror_tile`), where the blur is an exact circular
    convolution, with ``skimage.restoration.wiener``'s filter and its Laplacian regulariser weighted by ``balance``;
    pixels outside the box are returned unchanged. ``fixed_point=False`` deconvolves with the ideal Gaussian instead
    of OpenCV's 8-bit taps (an ablation: what an attacker who ignores how the blur was computed gets).

    The result is :func:`_wiener_deblur_reference`'s (skimage's ``wiener`` per channel on the float64 mirrored tile)
    up to floating-point rounding, computed faster: the filter is built once per tile shape and setting
    (:func:`_wiener_filter`, from 1-D transforms), and as the mirrored tile is even (and the filter real and even)
    its DFT is the DCT-I of the crop itself, a quarter of the samples, all three channels in one call of scipy's
    pocketfft (the FFT skimage's ``wiener`` ran on; single-threaded, where a BLAS matrix-product form, faster on an
    idle machine, was up to 50x slower when OpenBLAS's threads competed with another process, as the probe
    prefetcher's restoring thread competes with the embedder in identify_restored). Float64 throughout: float32
    moved up to 0.6% of a face's pixels by a grey level.
    """
    _check_image(image)
    sigma = _check_sigma(sigma)
    if not balance > 0:
        raise ValueError(f"Wiener balance must be > 0, got {balance}")
    int_box = methods.scale_box(box, region, image.shape)
    crop = methods.crop_box(image, int_box)
    n, m = crop.shape[:2]
    wiener = _wiener_filter((max(1, 2 * (n - 1)), max(1, 2 * (m - 1))), sigma, float(balance), bool(fixed_point))
    # The DCT-I of a side of n > 1 samples is the DFT of its mirrored period of 2(n - 1); of one sample, itself.
    # Applied twice it is 2(n - 1) times the identity, a scale the filter already holds.
    axes = [axis for axis in (0, 1) if crop.shape[axis] > 1]
    spectrum = sp_fft.dctn(_to_unit(crop), type=1, axes=axes) if axes else _to_unit(crop)
    spectrum *= wiener[..., None]
    restored = sp_fft.dctn(spectrum, type=1, axes=axes, overwrite_x=True) if axes else spectrum
    return _replace_box(image, int_box, _to_uint8(restored))


def _wiener_deblur_reference(image: np.ndarray, box: Box, sigma: float, region: float = 1.0,
                             balance: float = WIENER_BALANCE, fixed_point: bool = True) -> np.ndarray:
    """:func:`wiener_deblur` as first written (``skimage.restoration.wiener`` on each channel of the mirrored
    tile): the reference the fast path is tested and benchmarked against (benchmarks/restoration_speed.py)."""
    _check_image(image)
    sigma = _check_sigma(sigma)
    int_box = methods.scale_box(box, region, image.shape)
    crop = methods.crop_box(image, int_box)
    tile = _to_unit(mirror_tile(crop))
    psf = gaussian_psf(sigma, tile.shape[:2], fixed_point)
    restored = np.stack([restoration.wiener(tile[..., c], psf, balance, clip=False) for c in range(tile.shape[2])],
                        axis=-1)
    return _replace_box(image, int_box, _to_uint8(restored[: crop.shape[0], : crop.shape[1]]))


def richardson_lucy_deblur(image: np.ndarray, box: Box, sigma: float, region: float = 1.0,
                           iterations: int = RICHARDSON_LUCY_ITERATIONS) -> np.ndarray:
    """Undo flup's crop blur at ``sigma`` inside ``box`` (scaled by ``region``) by Richardson-Lucy iterations.

    ``skimage.restoration.richardson_lucy`` convolves with zeros beyond the array, so the box is first extended by
    its mirror (``BORDER_REFLECT_101``, as flup blurred it) by a full kernel on each side and cut back afterwards;
    the kernel is flup's (OpenCV's size rule). Pixels outside the box are returned unchanged.
    """
    _check_image(image)
    sigma = _check_sigma(sigma)
    if int(iterations) != iterations or iterations < 1:
        raise ValueError(f"Richardson-Lucy iterations must be an integer >= 1, got {iterations}")
    int_box = methods.scale_box(box, region, image.shape)
    crop = methods.crop_box(image, int_box)
    kernel = gaussian_kernel(sigma)
    margin = len(kernel)
    # np.pad's "reflect" is BORDER_REFLECT_101, repeated where the margin is longer than the crop.
    padded = _to_unit(np.pad(crop, ((margin, margin), (margin, margin), (0, 0)), mode="reflect")).astype(np.float32)
    psf = np.outer(kernel, kernel).astype(np.float32)
    restored = np.stack([restoration.richardson_lucy(padded[..., c], psf, int(iterations), clip=False)
                         for c in range(padded.shape[2])], axis=-1)
    return _replace_box(image, int_box, _to_uint8(restored[margin:-margin, margin:-margin]))


def _cell_centres(length: int, block: int) -> np.ndarray:
    """Centres, in pixel coordinates, of flup's cells along a side of ``length`` (the last cell may be shorter)."""
    starts = np.arange(0, length, block)
    ends = np.minimum(starts + block, length)
    return (starts + ends) / 2.0 - 0.5


def _grid_coordinates(length: int, block: int) -> np.ndarray:
    """Each pixel's position on the cell grid (cell i's centre at i), piecewise linear between cell centres."""
    centres = _cell_centres(length, block)
    if len(centres) == 1:
        return np.zeros(length)
    # np.interp clamps beyond the first and last centre; extend the end segments linearly instead so the spline
    # keeps its slope into the outer half-cells (warp's "edge" mode then clamps beyond the grid).
    pixels = np.arange(length, dtype=np.float64)
    inside = np.interp(pixels, centres, np.arange(len(centres), dtype=np.float64))
    before, after = pixels < centres[0], pixels > centres[-1]
    inside[before] = (pixels[before] - centres[0]) / (centres[1] - centres[0])
    inside[after] = len(centres) - 1 + (pixels[after] - centres[-1]) / (centres[-1] - centres[-2])
    return inside


def _cell_means(crop: np.ndarray, block: int) -> np.ndarray:
    """Mean of each flup cell of ``crop`` (float), one row/column per cell."""
    rows, cols = np.arange(0, crop.shape[0], block), np.arange(0, crop.shape[1], block)
    sums = np.add.reduceat(np.add.reduceat(crop, rows, axis=0), cols, axis=1)
    heights = np.diff(np.append(rows, crop.shape[0]))
    widths = np.diff(np.append(cols, crop.shape[1]))
    return sums / np.outer(heights, widths)[:, :, None]


def _spline_through(grid: np.ndarray, coordinates: np.ndarray) -> np.ndarray:
    """The cubic spline through ``grid``'s values, per channel, at ``coordinates`` (2, h, w) on the grid."""
    return np.stack([transform.warp(grid[..., c], coordinates, order=3, mode="edge", preserve_range=True)
                     for c in range(grid.shape[2])], axis=-1)


# scipy.ndimage.map_coordinates (under skimage's warp) pads the grid by this many edge values on every side before
# its spline prefilter in mode "nearest" (scipy.ndimage._interpolation._prepad_for_spline_filter).
_SPLINE_PAD = 12


@functools.lru_cache(maxsize=256)
def _spline_taps(length: int, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Which and how much each pixel of a side of ``length`` reads of the cubic B-spline coefficients of that
    side's padded cell grid, at :func:`_grid_coordinates`: (indices (length, 4), weights (length, 4)) of the 4
    coefficients each cubic B-spline reaches. The weights are scipy's own: ``map_coordinates`` without prefilter
    (the evaluation step of warp's ``map_coordinates``, which adds the pad to each coordinate) on each unit vector
    of the padded coefficient side. Read-only, cached."""
    coordinates = _grid_coordinates(length, block) + _SPLINE_PAD
    padded = len(range(0, length, block)) + 2 * _SPLINE_PAD
    dense = np.stack([ndimage.map_coordinates(unit, coordinates[None, :], order=3, mode="nearest", prefilter=False)
                      for unit in np.eye(padded)], axis=1)
    # Odd order: the taps floor(x) - 1 ... floor(x) + 2.
    indices = np.floor(coordinates).astype(np.intp)[:, None] + np.arange(-1, 3)
    weights = np.take_along_axis(dense, indices, axis=1)
    indices.flags.writeable = weights.flags.writeable = False
    return indices, weights


def _spline_through_separable(grid: np.ndarray, rows: tuple[np.ndarray, np.ndarray],
                              cols: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """:func:`_spline_through` at separable coordinates, whose :func:`_spline_taps` are ``rows`` and ``cols``, on a
    channel-first ``grid`` (C, cells_y, cells_x), returning (C, h, w): warp's ``map_coordinates`` (order 3, mode
    "nearest") step by step, all channels at once: the grid padded by its edge values, scipy's spline prefilter
    along each axis, then each pixel the weighted sum of its 4 x 4 coefficients, taken one axis at a time as the
    cubic B-spline is a product of one per axis; last, per channel, warp's clipping (``clip=True``) to the grid's
    range. Plain array arithmetic and np.einsum without ``optimize``, no BLAS: its speed does not depend on other
    processes competing for OpenBLAS's threads (a matrix-product form was up to 20x slower then), nor its rounding
    on the kernel OpenBLAS picks for the CPU."""
    pad = _SPLINE_PAD
    edge_rows, edge_cols = (np.clip(np.arange(-pad, cells + pad), 0, cells - 1) for cells in grid.shape[1:])
    coefficients = grid[:, edge_rows][:, :, edge_cols]  # np.pad(mode="edge") on the two grid axes, faster
    for axis in (1, 2):
        ndimage.spline_filter1d(coefficients, 3, axis, output=coefficients, mode="nearest")
    (row_taps, row_weights), (col_taps, col_weights) = rows, cols
    # Each gathers its 4 taps at once and sums them with np.einsum's own loops (not BLAS's).
    across = np.einsum("cywt,wt->cyw", coefficients[:, :, col_taps], col_weights)
    spline = np.einsum("chtw,ht->chw", across[:, row_taps], row_weights)
    np.minimum(spline, grid.max(axis=(1, 2))[:, None, None], out=spline)
    return np.maximum(spline, grid.min(axis=(1, 2))[:, None, None], out=spline)


def _cell_means_first(channels: np.ndarray, block: int) -> np.ndarray:
    """:func:`_cell_means` of a channel-first (C, h, w) array, channel-first."""
    rows, cols = np.arange(0, channels.shape[1], block), np.arange(0, channels.shape[2], block)
    sums = np.add.reduceat(np.add.reduceat(channels, rows, axis=1), cols, axis=2)
    heights = np.diff(np.append(rows, channels.shape[1]))
    widths = np.diff(np.append(cols, channels.shape[2]))
    return sums / np.outer(heights, widths)


def upsample_pixelation(image: np.ndarray, box: Box, block: int, region: float = 1.0,
                        corrections: int = PIXELATION_CORRECTIONS) -> np.ndarray:
    """Replace flup's pixelation cells inside ``box`` (scaled by ``region``) by a smooth surface through their means.

    The cells are flup's (:func:`methods.pixelate`: ``block`` px from the box's top-left corner, the last row and
    column possibly shorter). Each cell's colour is its sharp mean, rounded; a bicubic spline
    (``skimage.transform.warp``, order 3) through the cells' centres gives a smooth image, and ``corrections``
    back-projection steps (add the spline of what each cell's mean still misses) make its cell means agree with
    the redaction's, so pixelating the result again gives back the redaction to within rounding.

    The coordinates are separable, so each spline is computed one axis at a time from each side's 4-tap B-spline
    weights (:func:`_spline_taps`, built once per side length and block), all channels at once
    (:func:`_spline_through_separable`): :func:`_upsample_pixelation_reference` (``warp`` per channel over the
    full coordinate grid) up to floating-point rounding.
    """
    block, corrections = _check_pixelation(image, block, corrections)
    int_box = methods.scale_box(box, region, image.shape)
    crop = methods.crop_box(image, int_box)
    h, w = crop.shape[:2]
    means = np.moveaxis(crop[::block, ::block], -1, 0).astype(np.float64)  # each cell is flat: its first pixel
    rows, cols = _spline_taps(h, block), _spline_taps(w, block)
    restored = _spline_through_separable(means, rows, cols)
    for _ in range(corrections):
        restored += _spline_through_separable(means - _cell_means_first(restored, block), rows, cols)
    return _replace_box(image, int_box, np.moveaxis(np.clip(np.rint(restored), 0, 255).astype(np.uint8), 0, -1))


def _check_pixelation(image: np.ndarray, block: int, corrections: int) -> tuple[int, int]:
    _check_image(image)
    block = families.check_level("pixelate", block)
    if block == 1:
        raise ValueError("pixelate block must be > 1 to upsample (block 1 is the sharp image)")
    if int(corrections) != corrections or corrections < 0:
        raise ValueError(f"pixelation corrections must be an integer >= 0, got {corrections}")
    return int(block), int(corrections)


def _upsample_pixelation_reference(image: np.ndarray, box: Box, block: int, region: float = 1.0,
                                   corrections: int = PIXELATION_CORRECTIONS) -> np.ndarray:
    """:func:`upsample_pixelation` as first written (``skimage.transform.warp`` per channel at the full coordinate
    grid): the reference the fast path is tested and benchmarked against (benchmarks/restoration_speed.py)."""
    block, corrections = _check_pixelation(image, block, corrections)
    int_box = methods.scale_box(box, region, image.shape)
    crop = methods.crop_box(image, int_box).astype(np.float64)
    h, w = crop.shape[:2]
    means = crop[::block, ::block]
    ys, xs = _grid_coordinates(h, block), _grid_coordinates(w, block)
    coordinates = np.stack(np.meshgrid(ys, xs, indexing="ij"))
    restored = _spline_through(means, coordinates)
    for _ in range(corrections):
        restored += _spline_through(means - _cell_means(restored, block), coordinates)
    return _replace_box(image, int_box, np.clip(np.rint(restored), 0, 255).astype(np.uint8))


@dataclass(frozen=True)
class Restorer:
    """Reverses an obfuscation at a known setting before recognition: ``restorer(image, box, kind, level, region)``.

    ``blur``: how a Gaussian blur is undone, ``"wiener"`` or ``"richardson_lucy"``; pixelation is always upsampled
    (:func:`upsample_pixelation`). Only the families with a classical inverse are accepted (``KINDS``); an identity
    level (sigma 0, block 1) returns the image unchanged. ``box`` is the face box before ``region`` scaling, as the
    render stage takes it (the sharp image's detection in the oracle-box threat model).
    """

    blur: str = "wiener"
    wiener_balance: float = WIENER_BALANCE
    richardson_lucy_iterations: int = RICHARDSON_LUCY_ITERATIONS
    pixelation_corrections: int = PIXELATION_CORRECTIONS

    KINDS = ("blur", "pixelate")

    def __post_init__(self) -> None:
        if self.blur not in BLUR_METHODS:
            raise ValueError(f"unknown deblurring method {self.blur!r}; expected one of {', '.join(BLUR_METHODS)}")

    @property
    def name(self) -> str:
        return f"deconvolve_{self.blur}"

    def __call__(self, image: np.ndarray, box: Box, kind: str, level: float, region: float = 1.0) -> np.ndarray:
        families.check_kind(kind)
        if kind not in self.KINDS:
            raise ValueError(f"no classical restoration for {kind!r}; expected one of {', '.join(self.KINDS)}")
        if families.is_identity(kind, families.check_level(kind, level)):
            _check_image(image)
            return image.copy()
        if kind == "pixelate":
            return upsample_pixelation(image, box, int(level), region, self.pixelation_corrections)
        if self.blur == "wiener":
            return wiener_deblur(image, box, level, region, self.wiener_balance)
        return richardson_lucy_deblur(image, box, level, region, self.richardson_lucy_iterations)
