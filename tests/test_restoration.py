"""Classical restoration of blur and pixelation at a known setting (flup.attack.restoration)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from flup.attack import restoration
from flup.obfuscation import methods

LFW_PHOTO = "lfw-deepfunneled/Abdullah_Gul/Abdullah_Gul_0013.jpg"
LFW_BOX = (80.0, 65.0, 172.5, 190.5)  # about where the detector puts the face in an LFW photo (250 x 250)


def box_psnr(image: np.ndarray, sharp: np.ndarray, box, region: float = 1.0) -> float:
    x1, y1, x2, y2 = methods.scale_box(box, region, sharp.shape)
    error = image[y1:y2, x1:x2].astype(np.float64) - sharp[y1:y2, x1:x2]
    return float(10 * np.log10(255.0**2 / np.mean(error**2)))


def cosine_image(width: int, height: int, cycles: int, amplitude: float = 60.0) -> tuple[np.ndarray, np.ndarray]:
    """A grey image varying along x as 128 + amplitude cos(2 pi f x) with f = cycles / (2 (width - 1)): a cosine that
    the crop blur's mirrored border (BORDER_REFLECT_101) continues exactly, so the blur only scales it."""
    frequency = cycles / (2.0 * (width - 1))
    row = 128.0 + amplitude * np.cos(2 * np.pi * frequency * np.arange(width))
    image = np.repeat(np.rint(row)[None, :, None], height, axis=0).repeat(3, axis=2).astype(np.uint8)
    return image, frequency


def fitted_amplitude(image: np.ndarray, frequency: float) -> float:
    """Least-squares amplitude of cos(2 pi f x) in the image's middle row (first channel)."""
    row = image[image.shape[0] // 2, :, 0].astype(np.float64)
    x = np.arange(row.size)
    design = np.stack([np.ones_like(x, dtype=np.float64), np.cos(2 * np.pi * frequency * x)], axis=1)
    return float(np.linalg.lstsq(design, row, rcond=None)[0][1])


def kernel_response(sigma: float, frequency: float) -> float:
    """OpenCV's Gaussian kernel at ``sigma`` (its own size rule), at ``frequency``: sum_t k_t cos(2 pi f t)."""
    ksize = int(round(sigma * 6 + 1)) | 1
    taps = cv2.getGaussianKernel(ksize, sigma, cv2.CV_64F).ravel()
    t = np.arange(ksize) - ksize // 2
    return float(np.sum(taps * np.cos(2 * np.pi * frequency * t)))


@pytest.fixture(scope="module")
def face(lfw_root) -> np.ndarray:
    image = cv2.imread(str(lfw_root / LFW_PHOTO), cv2.IMREAD_COLOR)
    assert image is not None
    return image


# --- the blur model --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("shape", "sigma"), [((40, 31), 2.0), ((23, 17), 9.0), ((12, 9), 40.0)])
def test_mirrored_tile_turns_flups_crop_blur_into_a_circular_convolution(shape, sigma):
    # The premise of wiener_deblur: the crop blur, mirrored, equals the circular convolution of the mirrored crop with
    # the kernel wrapped on the period, checked with numpy's FFT here; the last case has a kernel (241 taps) longer
    # than the period (22 x 16), so it folds onto itself several times.
    crop = np.random.default_rng(1).integers(0, 256, size=(*shape, 3), dtype=np.uint8)
    blurred = methods.crop_gaussian_blur(crop, (0, 0, shape[1], shape[0]), sigma)
    tile = restoration.mirror_tile(crop).astype(np.float64)
    psf = np.fft.ifftshift(restoration.gaussian_psf(sigma, tile.shape[:2]))  # centre to index 0
    circular = np.real(np.fft.ifft2(np.fft.fft2(tile, axes=(0, 1)) * np.fft.fft2(psf)[:, :, None], axes=(0, 1)))
    assert tile.shape[:2] == (2 * shape[0] - 2, 2 * shape[1] - 2)
    assert np.abs(circular[: shape[0], : shape[1]] - blurred).max() <= 0.5 + 1e-9  # cv2 rounds its result, half up


def test_wiener_restores_a_blurred_cosine_to_the_amplitude_worked_out_by_hand():
    # A cosine the mirror continues is an eigenfunction of the blur, so each step scales its amplitude: the blur by
    # H(f) (the kernel's response), the Wiener filter by H / (H^2 + balance L^2), where L = 2 - 2 cos(2 pi f) is
    # scikit-image's default (Laplacian) regulariser at (f, 0).
    sharp, frequency = cosine_image(width=94, height=60, cycles=20)  # f = 0.1075 cycles/px
    sigma, box = 2.0, (0, 0, 94, 60)
    h = kernel_response(sigma, frequency)
    laplacian = 2 - 2 * np.cos(2 * np.pi * frequency)
    blurred = methods.crop_gaussian_blur(sharp, box, sigma)
    assert fitted_amplitude(blurred, frequency) == pytest.approx(60 * h, abs=0.5)  # 24.0: the blur model
    for balance in (0.1, restoration.WIENER_BALANCE):
        expected = 60 * h * h / (h * h + balance * laplacian**2)  # 53.5 at 0.1, 60.0 at the default
        restored = restoration.wiener_deblur(blurred, box, sigma, balance=balance)
        assert fitted_amplitude(restored, frequency) == pytest.approx(expected, abs=1.0)


def test_richardson_lucy_lifts_a_blurred_cosine_towards_its_amplitude():
    sharp, frequency = cosine_image(width=94, height=60, cycles=20)
    blurred = methods.crop_gaussian_blur(sharp, (0, 0, 94, 60), 2.0)
    restored = restoration.richardson_lucy_deblur(blurred, (0, 0, 94, 60), 2.0, iterations=30)
    # Richardson-Lucy converges slowly at a damped frequency: from 24 grey levels most of the way back to 60.
    assert 45 < fitted_amplitude(restored, frequency) < 62


# --- real faces ------------------------------------------------------------------------------------------------------

# Measured on LFW_PHOTO and LFW_BOX (dB over the box, restored minus blurred): Wiener +7.3 at sigma 2, +6.7 at 3;
# Richardson-Lucy (30 iterations) +4.1 and +3.0. The thresholds leave a margin of about a third.
PSNR_GAINS = {("wiener", 2.0): 5.0, ("wiener", 3.0): 4.5, ("richardson_lucy", 2.0): 2.7, ("richardson_lucy", 3.0): 2.0}


@pytest.mark.parametrize(("method", "sigma"), list(PSNR_GAINS))
def test_deblurring_a_real_face_moves_the_box_closer_to_the_sharp_photo(face, method, sigma):
    blurred = methods.crop_gaussian_blur(face, LFW_BOX, sigma)
    restored = restoration.Restorer(method)(blurred, LFW_BOX, "blur", sigma)
    gain = box_psnr(restored, face, LFW_BOX) - box_psnr(blurred, face, LFW_BOX)
    assert gain > PSNR_GAINS[(method, sigma)]


def test_upsampling_a_pixelated_real_face_moves_the_box_closer_and_keeps_its_cells(face):
    block = 8
    pixelated = methods.pixelate(face, LFW_BOX, block)
    restored = restoration.upsample_pixelation(pixelated, LFW_BOX, block)
    # Measured: +2.8 dB over the box.
    assert box_psnr(restored, face, LFW_BOX) - box_psnr(pixelated, face, LFW_BOX) > 1.8
    # Pixelating the restored face again gives back the redaction, except in cells where the smooth surface had to
    # be clipped to [0, 255] (a dark cell beside a bright one).
    again = methods.pixelate(restored, LFW_BOX, block).astype(np.int16)
    clipped = ((restored == 0) | (restored == 255)).astype(np.uint8) * 255
    x1, y1, x2, y2 = methods.scale_box(LFW_BOX, 1.0, face.shape)
    unclipped = (methods.pixelate(clipped, LFW_BOX, block) == 0)[y1:y2, x1:x2]
    assert unclipped.mean() > 0.95
    assert np.abs(again - pixelated)[y1:y2, x1:x2][unclipped].max() <= 1


# --- pixelation ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("box", "block"), [((3, 5, 58, 46), 8), ((0, 0, 40, 40), 4), ((2.4, 1.6, 61.2, 44.9), 16)])
def test_upsampling_preserves_the_block_means(box, block):
    # Mid-range smooth colours (no clipping), boxes whose last row and column of cells are shorter than the block.
    y, x = np.mgrid[0:50, 0:64]
    image = np.stack([100 + 40 * np.sin(x / 7.0) * np.cos(y / 9.0), 120 + 0.8 * x - 0.5 * y,
                      90 + 30 * np.cos((x + y) / 11.0)], axis=-1)
    image = np.rint(image).astype(np.uint8)
    pixelated = methods.pixelate(image, box, block)
    restored = restoration.upsample_pixelation(pixelated, box, block)
    again = methods.pixelate(restored, box, block)
    assert np.abs(again.astype(np.int16) - pixelated).max() <= 1
    x1, y1, x2, y2 = methods.scale_box(box, 1.0, image.shape)
    assert np.ptp(restored[y1:y2, x1:x2].astype(np.int16), axis=(0, 1)).min() > 0  # not flat cells any more
    assert not np.array_equal(restored, pixelated)


def test_upsampling_a_pixelated_ramp_gives_back_the_ramp_on_flups_grid():
    # A linear ramp's cell means lie on the ramp at the cells' centres, so a spline through them is the ramp itself;
    # a grid misplaced by half a cell would be off by half a block times the slope (8 grey levels here).
    x = np.arange(96, dtype=np.float64)
    ramp = np.rint(np.broadcast_to((20 + 2 * x)[None, :, None], (40, 96, 3))).astype(np.uint8)
    box, block = (0, 0, 96, 40), 8
    restored = restoration.upsample_pixelation(methods.pixelate(ramp, box, block), box, block, corrections=0)
    interior = slice(2 * block, 96 - 2 * block)  # the spline's border rule reaches about two cells in
    assert np.abs(restored[:, interior].astype(np.int16) - ramp[:, interior]).max() <= 1


# --- the box and only the box ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "level", "method"), [("blur", 3.0, "wiener"), ("blur", 3.0, "richardson_lucy"),
                                                       ("pixelate", 6, "wiener")])
@pytest.mark.parametrize("region", [1.0, 1.3])
def test_restoration_changes_nothing_outside_the_obfuscated_box(kind, level, method, region):
    image = np.random.default_rng(3).integers(0, 256, size=(70, 90, 3), dtype=np.uint8)
    box = (-6.5, 10.2, 50.7, 64.9)  # reaches past the left edge: clipped as the render stage clips it
    obfuscated = methods.apply(image, box, kind, level, region)
    restored = restoration.Restorer(method)(obfuscated, box, kind, level, region)
    x1, y1, x2, y2 = methods.scale_box(box, region, image.shape)
    outside = np.ones(image.shape[:2], dtype=bool)
    outside[y1:y2, x1:x2] = False
    assert np.array_equal(restored[outside], obfuscated[outside])
    assert not np.array_equal(restored[y1:y2, x1:x2], obfuscated[y1:y2, x1:x2])
    assert restored.dtype == np.uint8 and restored.shape == image.shape


def test_an_identity_level_returns_an_unchanged_copy():
    image = np.random.default_rng(4).integers(0, 256, size=(30, 30, 3), dtype=np.uint8)
    for kind, level in (("blur", 0), ("pixelate", 1)):
        out = restoration.Restorer()(image, (5, 5, 25, 25), kind, level)
        assert np.array_equal(out, image) and out is not image


# --- bad inputs ------------------------------------------------------------------------------------------------------

IMAGE = np.zeros((30, 30, 3), dtype=np.uint8)
BOX = (5, 5, 25, 25)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: restoration.wiener_deblur(IMAGE, BOX, 0), "sigma must be > 0"),
    (lambda: restoration.wiener_deblur(IMAGE, BOX, -2.0), "blur sigma must be"),
    (lambda: restoration.richardson_lucy_deblur(IMAGE, BOX, 0.0), "sigma must be > 0"),
    (lambda: restoration.wiener_deblur(IMAGE, BOX, 2.0, balance=0), "balance must be > 0"),
    (lambda: restoration.richardson_lucy_deblur(IMAGE, BOX, 2.0, iterations=0), "iterations must be"),
    (lambda: restoration.upsample_pixelation(IMAGE, BOX, 1), "block must be > 1"),
    (lambda: restoration.upsample_pixelation(IMAGE, BOX, 2.5), "pixelate block size must be"),
    (lambda: restoration.wiener_deblur(IMAGE.astype(np.float32), BOX, 2.0), "uint8 image"),
    (lambda: restoration.wiener_deblur(IMAGE[..., 0], BOX, 2.0), "HxWxC"),
    (lambda: restoration.wiener_deblur(IMAGE, (40, 40, 50, 50), 2.0), "is empty"),
    (lambda: restoration.Restorer()(IMAGE, BOX, "mosaic", 4), "unknown obfuscation 'mosaic'"),
    (lambda: restoration.Restorer()(IMAGE, BOX, "blackbox", 0), "no classical restoration for 'blackbox'"),
    (lambda: restoration.Restorer("unsharp"), "unknown deblurring method 'unsharp'"),
])
def test_bad_inputs_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --- the fast paths against the reference (skimage per channel) ------------------------------------------------------


def assert_same_pixels(fast: np.ndarray, reference: np.ndarray) -> None:
    """Within one grey level everywhere and identical on >= 99.9% of the pixels (measured: identical on all)."""
    assert fast.shape == reference.shape and fast.dtype == reference.dtype == np.uint8
    diff = np.abs(fast.astype(np.int16) - reference)
    assert diff.max() <= 1
    assert np.mean(diff == 0) >= 0.999


@pytest.mark.parametrize("box", [LFW_BOX, (78.0, 70.0, 172.0, 180.0)])
@pytest.mark.parametrize("region", [1.0, 1.3])
def test_fast_restorers_match_the_skimage_reference_on_a_real_face(face, box, region):
    # wiener_deblur (cached filter, DCT-I of the crop) and upsample_pixelation (4-tap B-spline per axis) against the
    # per-channel skimage computations they replaced, at the study's range of levels.
    for sigma in (2.0, 8.0, 32.0, 64.0):
        blurred = methods.apply(face, box, "blur", sigma, region)
        assert_same_pixels(restoration.wiener_deblur(blurred, box, sigma, region),
                           restoration._wiener_deblur_reference(blurred, box, sigma, region))
    for block in (8, 16, 32):
        pixelated = methods.apply(face, box, "pixelate", block, region)
        assert_same_pixels(restoration.upsample_pixelation(pixelated, box, block, region),
                           restoration._upsample_pixelation_reference(pixelated, box, block, region))


@pytest.mark.parametrize(("box", "level"), [((3, 5, 58, 46), 4.0), ((-6.5, 10.2, 50.7, 64.9), 13.0),
                                            ((10, 2, 13, 60), 2.0), ((0, 0, 90, 70), 40.0)])
@pytest.mark.parametrize("fixed_point", [True, False])
def test_fast_wiener_matches_the_reference_on_odd_boxes(box, level, fixed_point):
    # Boxes clipped at the image's edge, a crop 3 px wide (the narrowest skimage's Laplacian fits), the whole image.
    image = np.random.default_rng(5).integers(0, 256, size=(70, 90, 3), dtype=np.uint8)
    blurred = methods.apply(image, box, "blur", level, 1.0)
    for balance in (restoration.WIENER_BALANCE, 1e-2):
        assert_same_pixels(
            restoration.wiener_deblur(blurred, box, level, balance=balance, fixed_point=fixed_point),
            restoration._wiener_deblur_reference(blurred, box, level, balance=balance, fixed_point=fixed_point))


@pytest.mark.parametrize(("box", "block"), [((3, 5, 58, 46), 8), ((0, 0, 40, 40), 4), ((2.4, 1.6, 61.2, 44.9), 16),
                                            ((10, 2, 14, 60), 8), ((5, 5, 30, 30), 32), ((0, 0, 90, 70), 2)])
@pytest.mark.parametrize("corrections", [0, 4])
def test_fast_upsampling_matches_the_reference_on_odd_boxes(box, block, corrections):
    # Short last cells, a single column of cells, a single cell (box narrower than the block), the smallest block.
    image = np.random.default_rng(6).integers(0, 256, size=(70, 90, 3), dtype=np.uint8)
    pixelated = methods.apply(image, box, "pixelate", block, 1.0)
    assert_same_pixels(restoration.upsample_pixelation(pixelated, box, block, corrections=corrections),
                       restoration._upsample_pixelation_reference(pixelated, box, block, corrections=corrections))


@pytest.mark.parametrize(("crop", "sigma"), [((110, 94), 2.0), ((144, 124), 32.0), ((3, 17), 8.0)])
def test_the_cached_wiener_filter_is_skimages_filter(crop, sigma):
    # Built from 1-D transfer functions; skimage builds it from the 2-D PSF and Laplacian over the whole tile.
    from skimage.restoration import uft

    shape = (2 * (crop[0] - 1), 2 * (crop[1] - 1))
    psf = uft.ir2tf(restoration.gaussian_psf(sigma, shape), shape)
    reg = uft.laplacian(2, shape)[0].real
    full = np.conj(psf) / (np.abs(psf) ** 2 + restoration.WIENER_BALANCE * np.abs(reg) ** 2)
    cached = restoration._wiener_filter(shape, sigma, restoration.WIENER_BALANCE, True)
    assert not cached.flags.writeable  # shared by every call with this tile and setting
    # The cached filter holds the inverse transform's 1 / (rows x cols).
    assert np.allclose(cached * shape[0] * shape[1], full[: crop[0], : crop[1]].real, rtol=1e-9,
                       atol=1e-12 * np.abs(full).max())
    assert np.abs(full.imag).max() <= 1e-9 * np.abs(full).max()  # real: the PSF and the Laplacian are symmetric


@pytest.mark.parametrize(("length", "block"), [(110, 8), (124, 16), (30, 32), (70, 2)])
def test_spline_taps_are_warps_spline_with_its_prefilter(length, block):
    # Tap weights times scipy's prefilter of the padded side, one unit vector at a time, give the same matrix as
    # map_coordinates (warp's path, order 3, mode "nearest") does directly: nothing outside the 4 taps is dropped.
    from scipy import ndimage

    taps, weights = restoration._spline_taps(length, block)
    coordinates = restoration._grid_coordinates(length, block)[None, :]
    cells, pad = len(range(0, length, block)), restoration._SPLINE_PAD
    for unit in np.eye(cells):
        direct = ndimage.map_coordinates(unit, coordinates, order=3, mode="nearest", prefilter=True)
        coefficients = ndimage.spline_filter1d(np.pad(unit, pad, mode="edge"), 3, mode="nearest")
        assert np.allclose(np.sum(coefficients[taps] * weights, axis=1), direct, rtol=0, atol=1e-12)
    assert np.allclose(weights.sum(axis=1), 1.0)
