import hashlib

import cv2
import numpy as np
import pytest

from flup.obfuscation import methods as ob

H, W = 60, 80
BOX = (20.4, 10.6, 50.2, 41.3)  # -> int box (20, 10, 51, 42)
INT_BOX = (20, 10, 51, 42)


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(H, W, 3), dtype=np.uint8)


def outside(img: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    mask = np.ones(img.shape[:2], dtype=bool)
    x1, y1, x2, y2 = box
    mask[y1:y2, x1:x2] = False
    return img[mask]


# --- scale_box / crop_box -------------------------------------------------------------------------


def test_scale_box_rounds_outward():
    assert ob.scale_box(BOX, 1.0, (H, W, 3)) == INT_BOX
    assert ob.scale_box((10, 10, 20, 20), 1.0, (H, W)) == (10, 10, 20, 20)


def test_scale_box_enlarges_about_centre():
    # centre (15, 25), half extents 5 and 10; scale 1.5 -> 7.5 and 15
    assert ob.scale_box((10, 15, 20, 35), 1.5, (H, W)) == (7, 10, 23, 40)
    assert ob.scale_box((10, 10, 20, 20), 2.0, (H, W)) == (5, 5, 25, 25)


def test_scale_box_clips_to_image():
    assert ob.scale_box((-5.5, -3.2, 90.1, 70.9), 1.0, (H, W, 3)) == (0, 0, W, H)
    assert ob.scale_box((60, 40, 78, 58), 2.0, (H, W)) == (51, 31, W, H)


def test_scale_box_shrinks_with_scale_below_one():
    assert ob.scale_box((10, 10, 30, 30), 0.5, (H, W)) == (15, 15, 25, 25)


@pytest.mark.parametrize("scale", [0.0, -1.0])
def test_scale_box_rejects_nonpositive_scale(scale):
    with pytest.raises(ValueError, match="scale must be > 0"):
        ob.scale_box(BOX, scale, (H, W))


@pytest.mark.parametrize("box", [(100, 10, 120, 20), (10, -30, 20, -5), (30, 10, 30, 20), (30, 10, 20, 20)])
def test_scale_box_rejects_empty_box(box):
    with pytest.raises(ValueError, match="empty"):
        ob.scale_box(box, 1.0, (H, W))


def test_crop_box(image):
    crop = ob.crop_box(image, INT_BOX)
    assert crop.shape == (32, 31, 3)
    assert np.array_equal(crop, image[10:42, 20:51])


# --- Gaussian blur --------------------------------------------------------------------------------


def test_blur_sigma_zero_is_identity_copy(image):
    out = ob.gaussian_blur(image, BOX, 0)
    assert np.array_equal(out, image)
    assert out is not image
    assert np.array_equal(ob.blur_whole_image(image, 0.0), image)


def test_blur_changes_interior_only(image):
    before = image.copy()
    out = ob.gaussian_blur(image, BOX, 3.0)
    assert np.array_equal(image, before), "input must not be modified"
    assert out.dtype == np.uint8 and out.shape == image.shape
    assert np.array_equal(outside(out, INT_BOX), outside(image, INT_BOX))
    x1, y1, x2, y2 = INT_BOX
    inside_out, inside_in = out[y1:y2, x1:x2], image[y1:y2, x1:x2]
    assert (inside_out != inside_in).mean() > 0.9
    # Blurring noise shrinks its spread.
    assert inside_out.std() < inside_in.std() / 3


@pytest.mark.parametrize("sigma", [0.5, 1.0, 1.7, 3.0, 7.3, 25.0])
@pytest.mark.parametrize(
    "box", [BOX, (-10.0, -4.0, 12.5, 9.1), (70.2, 50.5, 95.0, 70.0), (2.0, 1.0, 78.0, 59.0), (33, 0, 34, 60)]
)
def test_blur_in_box_equals_whole_image_blur_pasted(image, sigma, box):
    x1, y1, x2, y2 = ob.scale_box(box, 1.0, image.shape)
    expected = image.copy()
    expected[y1:y2, x1:x2] = ob.blur_whole_image(image, sigma)[y1:y2, x1:x2]
    assert np.array_equal(ob.gaussian_blur(image, box, sigma), expected)


def test_blur_with_region_equals_whole_image_blur_pasted(image):
    x1, y1, x2, y2 = ob.scale_box(BOX, 1.4, image.shape)
    expected = image.copy()
    expected[y1:y2, x1:x2] = ob.blur_whole_image(image, 4.0)[y1:y2, x1:x2]
    assert np.array_equal(ob.gaussian_blur(image, BOX, 4.0, region=1.4), expected)


def test_blur_leaves_constant_image_unchanged():
    img = np.full((H, W, 3), (17, 130, 250), dtype=np.uint8)
    assert np.array_equal(ob.gaussian_blur(img, BOX, 5.0), img)
    assert np.array_equal(ob.blur_whole_image(img, 5.0), img)


def test_blur_rejects_negative_sigma(image):
    with pytest.raises(ValueError, match="sigma must be"):
        ob.gaussian_blur(image, BOX, -1.0)
    with pytest.raises(ValueError, match="sigma must be"):
        ob.blur_whole_image(image, -0.5)


def test_blur_rejects_non_uint8_image(image):
    with pytest.raises(ValueError, match="uint8"):
        ob.gaussian_blur(image.astype(np.float32), BOX, 1.0)


# --- blur border rule (render.blur_border) -----------------------------------------------------------


@pytest.mark.parametrize("sigma", [0.5, 3.0, 7.3, 25.0, 100.0])
@pytest.mark.parametrize("box", [BOX, (-10.0, -4.0, 12.5, 9.1), (33, 0, 34, 60)])
def test_crop_blur_is_opencv_blur_of_the_crop_alone(image, sigma, box):
    """The seed's rule: cv2.GaussianBlur(crop, (0, 0), sigma) with OpenCV's default border, nothing else."""
    x1, y1, x2, y2 = ob.scale_box(box, 1.0, image.shape)
    expected = image.copy()
    expected[y1:y2, x1:x2] = cv2.GaussianBlur(image[y1:y2, x1:x2].copy(), (0, 0), sigma)
    out = ob.crop_gaussian_blur(image, box, sigma)
    assert np.array_equal(out, expected)
    assert np.array_equal(ob.apply(image, box, "blur", sigma, blur_border="crop"), expected)


def test_crop_blur_changes_exactly_the_box_and_sees_nothing_outside(image):
    before = image.copy()
    out = ob.crop_gaussian_blur(image, BOX, 3.0, region=1.2)
    assert np.array_equal(image, before), "input must not be modified"
    box = ob.scale_box(BOX, 1.2, image.shape)
    x1, y1, x2, y2 = box
    assert np.array_equal(outside(out, box), outside(image, box))
    assert (out[y1:y2, x1:x2] != image[y1:y2, x1:x2]).mean() > 0.9
    # Changing every pixel outside the box changes nothing inside: the crop rule has no context.
    other = np.random.default_rng(1).integers(0, 256, size=image.shape, dtype=np.uint8)
    other[y1:y2, x1:x2] = image[y1:y2, x1:x2]
    assert np.array_equal(ob.crop_gaussian_blur(other, BOX, 3.0, 1.2)[y1:y2, x1:x2], out[y1:y2, x1:x2])
    # ... while the context rule does see it.
    assert not np.array_equal(ob.gaussian_blur(other, BOX, 3.0, 1.2)[y1:y2, x1:x2],
                              ob.gaussian_blur(image, BOX, 3.0, 1.2)[y1:y2, x1:x2])


def test_crop_blur_sigma_zero_is_identity_copy(image):
    out = ob.crop_gaussian_blur(image, BOX, 0)
    assert np.array_equal(out, image) and out is not image


# --- OpenCV's uint8 Gaussian blur by matrices (long kernels) ---------------------------------------------


def crop_view(rng: np.random.Generator, h: int, w: int, channels: int | None = 3) -> np.ndarray:
    """A random uint8 crop, a non-contiguous view into a larger image (as the render stage passes crops)."""
    shape = (h + 7, w + 5) if channels is None else (h + 7, w + 5, channels)
    return rng.integers(0, 256, size=shape, dtype=np.uint8)[3 : 3 + h, 2 : 2 + w]


def reference_blur(crop, ksize, sigma, border=cv2.BORDER_REFLECT_101):
    return cv2.GaussianBlur(crop, ksize, sigmaX=sigma, sigmaY=sigma, borderType=border)


@pytest.mark.parametrize("sigma", [2.0, 7.3, 16.0, 48.0, 128.0])
@pytest.mark.parametrize(("h", "w", "channels"), [(115, 94, 3), (61, 203, 3), (150, 122, None), (1, 40, 3), (37, 1, 3)])
def test_matrix_blur_is_bit_identical_to_opencv(sigma, h, w, channels):
    crop = crop_view(np.random.default_rng(int(sigma * 10) + h), h, w, channels)
    k = ob.opencv_ksize(sigma)
    out = ob.matrix_gaussian(crop, (k, k), sigma)
    expected = reference_blur(crop, (0, 0), sigma)
    assert out.shape == crop.shape and out.dtype == np.uint8
    assert np.array_equal(out, expected)
    # the comparison can fail: the other mirrored border (edge pixel repeated) gives another image
    if min(h, w) > 1:
        assert np.abs(reference_blur(crop, (0, 0), sigma, cv2.BORDER_REFLECT).astype(int) - expected).max() >= 1


@pytest.mark.parametrize("level", [0.5, 2.0, 4.0, 8.0])
@pytest.mark.parametrize(("h", "w"), [(115, 94), (150, 122), (77, 181)])
def test_matrix_blur_matches_face_gaussian_kernels(level, h, w):
    crop = crop_view(np.random.default_rng(h + w), h, w)
    ksize = (ob.odd_kernel(level * w), ob.odd_kernel(level * h))
    assert np.array_equal(ob.matrix_gaussian(crop, ksize, 0), cv2.GaussianBlur(crop, ksize, 0))


def test_matrix_blur_detects_a_kernel_one_unit_off(monkeypatch):
    """OpenCV's fixed-point kernel must be reproduced to the unit: one 1/256 moved between taps shows."""
    crop = crop_view(np.random.default_rng(3), 1, 301)
    k = ob.opencv_ksize(16.0)
    kernel = ob.opencv_fixed_kernel(k, 16.0).copy()
    assert kernel.sum() == 256 and np.array_equal(kernel, kernel[::-1])
    kernel[k // 2] -= 2
    kernel[k // 2 - 1] += 1
    kernel[k // 2 + 1] += 1
    ob._blur_matrix.cache_clear()
    monkeypatch.setattr(ob, "opencv_fixed_kernel", lambda ksize, sigma: kernel)
    try:
        assert not np.array_equal(ob.matrix_gaussian(crop, (k, k), 16.0), reference_blur(crop, (0, 0), 16.0))
    finally:
        ob._blur_matrix.cache_clear()


def test_fixed_kernel_sums_to_256_and_follows_opencvs_sigma_rule():
    for ksize in (11, 31, 97, 769):
        assert ob.opencv_fixed_kernel(ksize, 0).sum() == 256
        # sigma 0 -> 0.3 * ((ksize - 1) / 2 - 1) + 0.8, as cv2.getGaussianKernel
        sigma = 0.3 * ((ksize - 1) / 2 - 1) + 0.8
        assert np.abs(ob.opencv_fixed_kernel(ksize, 0) - 256 * cv2.getGaussianKernel(ksize, sigma).ravel()).max() <= 1
    assert [ob.opencv_ksize(s) for s in (1.0, 2.5, 16.0, 128.0)] == [7, 17, 97, 769]
    with pytest.raises(ValueError, match="odd kernel size"):
        ob.opencv_fixed_kernel(9, 0)


@pytest.mark.parametrize(("sigma", "ksize", "matrices"), [
    (2.0, (0, 0), False), (4.0, (0, 0), False), (8.0, (0, 0), True), (128.0, (0, 0), True),
    (0.0, (23, 29), False), (0.0, (47, 57), True), (0.0, (753, 921), True),
])
def test_dispatcher_uses_cv2_below_the_crossover(monkeypatch, sigma, ksize, matrices):
    crop = crop_view(np.random.default_rng(4), 115, 94)
    expected = reference_blur(crop, ksize, sigma)
    calls = []
    matrix_gaussian = ob.matrix_gaussian

    def counting(*args):
        calls.append(args)
        return matrix_gaussian(*args)

    monkeypatch.setattr(ob, "matrix_gaussian", counting)
    assert np.array_equal(ob.opencv_gaussian(crop, ksize, sigma), expected)
    assert bool(calls) == matrices
    # the render functions go through it and stay OpenCV's blur of the crop
    if ksize == (0, 0):
        image = crop_view(np.random.default_rng(5), 200, 180)
        out = ob.crop_gaussian_blur(image, (40.2, 30.7, 133.9, 145.1), sigma)
        x1, y1, x2, y2 = ob.scale_box((40.2, 30.7, 133.9, 145.1), 1.0, image.shape)
        assert np.array_equal(out[y1:y2, x1:x2], reference_blur(image[y1:y2, x1:x2], (0, 0), sigma))


def test_face_gaussian_with_long_kernels_is_opencvs_blur():
    image = crop_view(np.random.default_rng(6), 200, 180)
    box = (40.2, 30.7, 133.9, 145.1)
    for level, region in [(0.5, 1.0), (4.0, 1.3), (8.0, 1.3)]:
        x1, y1, x2, y2 = ob.scale_box(box, region, image.shape)
        ksize = (ob.odd_kernel(level * (x2 - x1)), ob.odd_kernel(level * (y2 - y1)))
        assert ob.use_matrix_gaussian((y2 - y1, x2 - x1), ksize)
        out = ob.face_gaussian(image, box, level, region)
        assert np.array_equal(out[y1:y2, x1:x2], cv2.GaussianBlur(image[y1:y2, x1:x2], ksize, 0))


# sha256 of the context rule's output on the seeded image, recorded before render.blur_border existed
# (opencv-python-headless 5.0.0.93): the context rule must stay bit-identical.
CONTEXT_DIGESTS = [
    (3.0, (20.4, 10.6, 50.2, 41.3), 1.0, "dca91a25ccc512ccb2f8aef9dc075144f27b01a2e5aa467001b9ec6ceba0cff0"),
    (7.3, (-10.0, -4.0, 12.5, 9.1), 1.0, "32e2523acc8a7519f599ab450822ae2ebfc39ecd36dee6ad59534bc88a929176"),
    (12.0, (20.4, 10.6, 50.2, 41.3), 1.3, "116031c0e620a389935fd9bf9b607a1645aac65e99895c2148f725cfd45db6e6"),
]


@pytest.mark.parametrize(("sigma", "box", "scale", "digest"), CONTEXT_DIGESTS)
def test_context_blur_is_unchanged(image, sigma, box, scale, digest):
    out = ob.apply(image, box, "blur", sigma, scale, blur_border="context")
    assert hashlib.sha256(out.tobytes()).hexdigest() == digest
    assert np.array_equal(out, ob.gaussian_blur(image, box, sigma, scale))


def test_unknown_blur_border_is_refused(image):
    with pytest.raises(ValueError, match=r"'reflect'.*crop, context"):
        ob.apply(image, BOX, "pixelate", 4, blur_border="reflect")


# --- pixelate -------------------------------------------------------------------------------------


def test_pixelate_block_one_is_identity_copy(image):
    out = ob.pixelate(image, BOX, 1)
    assert np.array_equal(out, image)
    assert out is not image


def test_pixelate_constant_blocks_with_exact_mean(image):
    box = (8, 4, 40, 28)  # 32 x 24: exactly 4 x 3 cells of 8
    out = ob.pixelate(image, box, 8)
    for y in range(4, 28, 8):
        for x in range(8, 40, 8):
            cell = out[y : y + 8, x : x + 8].reshape(-1, 3)
            src = image[y : y + 8, x : x + 8].reshape(-1, 3).astype(np.int64)
            expected = np.floor(src.sum(axis=0) / 64 + 0.5)
            assert (cell == cell[0]).all()
            assert np.array_equal(cell[0], expected)
    assert np.array_equal(outside(out, box), outside(image, box))


def test_pixelate_partial_edge_blocks(image):
    box = (10, 5, 21, 12)  # 11 wide, 7 tall, block 4 -> widths 4, 4, 3; heights 4, 3
    out = ob.pixelate(image, box, 4)
    for y0, y1 in [(5, 9), (9, 12)]:
        for x0, x1 in [(10, 14), (14, 18), (18, 21)]:
            src = image[y0:y1, x0:x1].reshape(-1, 3).astype(np.int64)
            expected = np.floor(src.sum(axis=0) / len(src) + 0.5)
            assert (out[y0:y1, x0:x1] == expected).all(), (y0, x0)
    assert np.array_equal(outside(out, box), outside(image, box))


def test_pixelate_rounds_half_up():
    img = np.zeros((4, 4, 3), dtype=np.uint8)
    img[0, 0] = 2  # cell of 4 pixels: mean 0.5 -> 1
    img[0, 2] = (6, 5, 7)  # means 1.5, 1.25, 1.75 -> 2, 1, 2
    out = ob.pixelate(img, (0, 0, 4, 4), 2)
    assert (out[:2, :2] == 1).all()
    assert (out[:2, 2:] == (2, 1, 2)).all()
    assert (out[2:] == 0).all()


def test_pixelate_block_larger_than_box_gives_box_mean(image):
    out = ob.pixelate(image, INT_BOX, 100)
    x1, y1, x2, y2 = INT_BOX
    expected = np.floor(image[y1:y2, x1:x2].reshape(-1, 3).mean(axis=0) + 0.5)
    assert (out[y1:y2, x1:x2] == expected).all()


def test_pixelate_accepts_integral_float_block(image):
    assert np.array_equal(ob.pixelate(image, BOX, 6.0), ob.pixelate(image, BOX, 6))


@pytest.mark.parametrize("block", [0, -3, 2.5])
def test_pixelate_rejects_bad_block(image, block):
    with pytest.raises(ValueError, match="block size must be an integer >= 1"):
        ob.pixelate(image, BOX, block)


# --- black box ------------------------------------------------------------------------------------


def test_black_box(image):
    before = image.copy()
    out = ob.black_box(image, BOX)
    x1, y1, x2, y2 = INT_BOX
    assert (out[y1:y2, x1:x2] == 0).all()
    assert np.array_equal(outside(out, INT_BOX), outside(image, INT_BOX))
    assert np.array_equal(image, before)


def test_black_box_scale_enlarges_and_clips(image):
    out = ob.black_box(image, (60, 40, 78, 58), region=2.0)
    assert (out[31:, 51:] == 0).all()
    assert np.array_equal(outside(out, (51, 31, W, H)), outside(image, (51, 31, W, H)))


# --- apply ----------------------------------------------------------------------------------------


def test_apply_dispatches(image):
    assert set(ob.OBFUSCATIONS) == {"blur", "pixelate", "blackbox", "deface", "face_gaussian", "face_pixelate"}
    assert np.array_equal(ob.apply(image, BOX, "blur", 2.5), ob.crop_gaussian_blur(image, BOX, 2.5))
    assert np.array_equal(ob.apply(image, BOX, "blur", 2.5, 1.2, "context"), ob.gaussian_blur(image, BOX, 2.5, 1.2))
    assert np.array_equal(ob.apply(image, BOX, "pixelate", 5, 1.3), ob.pixelate(image, BOX, 5, 1.3))
    for level in (1, 0, 99.5):
        assert np.array_equal(ob.apply(image, BOX, "blackbox", level), ob.black_box(image, BOX))
    assert np.array_equal(ob.apply(image, BOX, "blackbox", 1, 1.5), ob.black_box(image, BOX, 1.5))


def test_apply_unknown_kind_names_allowed(image):
    with pytest.raises(ValueError, match=r"'mosaic'.*blur, pixelate, blackbox"):
        ob.apply(image, BOX, "mosaic", 1)


# --- approximate blur (training augmentation only) --------------------------------------------------


def test_approximate_blur_is_close_to_exact_on_a_real_face():
    import cv2

    from tests.conftest import require_lfw

    path = next((require_lfw() / "lfw-deepfunneled" / "Aaron_Eckhart").glob("*.jpg"))
    face = cv2.imread(str(path))
    for sigma in (8.0, 12.5, 20.0):
        exact = ob.blur_whole_image(face, sigma).astype(np.float64)
        approx = ob.blur_whole_image(face, sigma, approximate=True).astype(np.float64)
        assert approx.shape == exact.shape
        assert np.abs(approx - exact).mean() < 0.4, sigma  # grey levels out of 255
        # ...and far from the neighbouring sigmas, so the approximation keeps the blur's strength.
        weaker = ob.blur_whole_image(face, sigma * 0.8).astype(np.float64)
        assert np.abs(weaker - exact).mean() > 2 * np.abs(approx - exact).mean(), sigma
    # Below two shrink factors the approximation is the exact blur, byte for byte.
    assert np.array_equal(ob.blur_whole_image(face, 7.5, approximate=True), ob.blur_whole_image(face, 7.5))
    inside = ob.gaussian_blur(face, (70, 60, 180, 190), 16.0, approximate=True)
    assert np.array_equal(outside(inside, (70, 60, 180, 190)), outside(face, (70, 60, 180, 190)))
    exact_box = ob.gaussian_blur(face, (70, 60, 180, 190), 16.0)
    assert np.abs(inside.astype(float) - exact_box).mean() < 0.4

# --- presets that mimic tools ---------------------------------------------------------------------


def test_inscribed_ellipse_is_strictly_inside():
    mask = ob.inscribed_ellipse(7, 10)  # centre (3, 5), semi-axes 3 and 5
    assert mask[3].tolist() == [False] + [True] * 9  # (c - 5)^2 / 25 < 1 for c = 1..9
    assert not mask[0].any() and not mask[6].any()  # (r - 3)^2 / 9 = 1 at r = 0; row 6 is outside
    assert mask[1].tolist() == [False, False] + [True] * 7 + [False]
    assert mask.sum() == 7 + 9 + 9 + 9 + 7


def test_deface_box_enlarges_like_deface():
    # deface pushes each side out by (mask_scale - 1) x the full width/height: 40 x 20 box, 1.3 -> 64 x 32
    assert ob.deface_box((100, 100, 140, 120), 1.3, (400, 400)) == (88, 94, 152, 126)
    assert ob.deface_box((100, 100, 140, 120), 1.0, (400, 400)) == (100, 100, 140, 120)
    assert ob.deface_box((100, 100, 140, 120), 1.0, (400, 400), region=1.5) == (90, 95, 150, 125)


def test_deface_blurs_the_ellipse_only():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, size=(200, 200, 3), dtype=np.uint8)
    box = (70, 60, 130, 140)
    out = ob.deface(image, box, 1.3)
    x1, y1, x2, y2 = ob.deface_box(box, 1.3, image.shape)
    assert (x1, y1, x2, y2) == (52, 36, 148, 164)
    assert np.array_equal(outside(out, (x1, y1, x2, y2)), outside(image, (x1, y1, x2, y2)))
    region, before = out[y1:y2, x1:x2], image[y1:y2, x1:x2]
    inside = ob.inscribed_ellipse(*region.shape[:2])
    # the region's corners lie outside the ellipse and stay sharp
    assert np.array_equal(region[~inside], before[~inside])
    assert np.array_equal(region[:5, :5], before[:5, :5]) and np.array_equal(region[-5:, -5:], before[-5:, -5:])
    # inside: deface's box filter (half the region's width x height) of the region alone
    expected = cv2.blur(before, ((x2 - x1) // 2, (y2 - y1) // 2))
    assert np.array_equal(region[inside], expected[inside])
    assert (region[inside] != before[inside]).mean() > 0.9
    # deface changes pixels beyond the face box, so renders must store its larger region
    assert not np.array_equal(outside(out, (70, 60, 130, 140)), outside(image, (70, 60, 130, 140)))
    assert ob.affected_box(image.shape, box, "deface", 1.3) == (x1, y1, x2, y2)


def test_deface_ellipse_matches_skimage():
    draw = pytest.importorskip("skimage.draw")
    for h, w in [(7, 10), (64, 50), (33, 81)]:
        ey, ex = draw.ellipse(h // 2, w // 2, h // 2, w // 2, shape=(h, w))
        expected = np.zeros((h, w), dtype=bool)
        expected[ey, ex] = True
        assert np.array_equal(ob.inscribed_ellipse(h, w), expected), (h, w)


@pytest.mark.parametrize("level", [0.5, 0.0, -1.0, float("nan")])
def test_deface_rejects_mask_scale_at_most_half(image, level):
    with pytest.raises(ValueError, match="deface mask scale level must be"):
        ob.deface(image, BOX, level)


def test_odd_kernel():
    assert [ob.odd_kernel(x) for x in (0, 0.4, 1, 2, 2.9, 31, 32, 100.2)] == [1, 1, 1, 3, 3, 31, 33, 101]


def test_face_gaussian_is_opencv_blur_of_the_crop_with_face_sized_kernel(image):
    out = ob.face_gaussian(image, BOX, 1.0)
    x1, y1, x2, y2 = INT_BOX  # 31 x 32 -> kernel (31, 33)
    expected = image.copy()
    expected[y1:y2, x1:x2] = cv2.GaussianBlur(image[y1:y2, x1:x2], (31, 33), 0)
    assert np.array_equal(out, expected)
    half = ob.face_gaussian(image, BOX, 0.5)  # 15.5 x 16 -> kernel (15, 17)
    expected[y1:y2, x1:x2] = cv2.GaussianBlur(image[y1:y2, x1:x2], (15, 17), 0)
    assert np.array_equal(half, expected)
    # OpenCV's sigma rule for a 31-tap kernel: 0.3 * (15 - 1) + 0.8 = 5.0
    kernel = cv2.getGaussianKernel(31, 0).ravel()
    assert np.allclose(kernel, cv2.getGaussianKernel(31, 5.0).ravel())


def test_face_pixelate_cell_count_matches_the_fraction():
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, size=(150, 150, 3), dtype=np.uint8)
    box = (20, 10, 120, 130)  # 100 wide, 120 tall
    for level, across, down in [(0.1, 10, 12), (0.25, 4, 5), (0.2, 5, 6), (1.0, 1, 1)]:
        out = ob.face_pixelate(image, box, level)
        region = out[10:130, 20:120, 0].astype(int)
        col_edges = 1 + np.count_nonzero(np.any(np.diff(region, axis=1) != 0, axis=0))
        row_edges = 1 + np.count_nonzero(np.any(np.diff(region, axis=0) != 0, axis=1))
        assert (col_edges, row_edges) == (across, down), level
        assert np.array_equal(outside(out, box), outside(image, box))
    # 10 cells across a 100 px face: the first cell is exactly the 10 x 10 top-left corner, its mean
    out = ob.face_pixelate(image, box, 0.1)
    expected = np.floor(image[10:20, 20:30].reshape(-1, 3).astype(np.int64).sum(axis=0) / 100 + 0.5)
    assert (out[10:20, 20:30] == expected).all()


@pytest.mark.parametrize("kind", ["face_gaussian", "face_pixelate"])
@pytest.mark.parametrize("level", [0, -0.1, float("inf")])
def test_face_presets_reject_bad_levels(image, kind, level):
    with pytest.raises(ValueError, match=f"{kind} level must be"):
        ob.apply(image, BOX, kind, level)


def test_presets_do_not_modify_input(image):
    before = image.copy()
    for kind, level in [("deface", 1.3), ("face_gaussian", 1.0), ("face_pixelate", 0.1)]:
        out = ob.apply(image, BOX, kind, level, 1.2)
        assert out is not image and out.shape == image.shape and out.dtype == np.uint8
    assert np.array_equal(image, before)


@pytest.mark.parametrize(("kind", "levels"), [
    ("deface", [0.7, 1.0, 1.3, 1.6]),
    ("face_gaussian", [0.1, 0.25, 0.5, 1.0]),
    ("face_pixelate", [0.05, 0.1, 0.2, 0.33]),
])
def test_presets_stronger_level_is_less_like_the_original(lfw_root, kind, levels):
    image = cv2.imread(str(lfw_root / "lfw-deepfunneled/Abdullah_Gul/Abdullah_Gul_0013.jpg"))
    box = (85.3, 60.8, 170.2, 190.6)
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(float).ravel()
    correlations = []
    for level in levels:
        out = cv2.cvtColor(ob.apply(image, box, kind, level), cv2.COLOR_BGR2GRAY).astype(float).ravel()
        correlations.append(np.corrcoef(grey, out)[0, 1])
    assert all(a > b for a, b in zip(correlations, correlations[1:], strict=False)), correlations
    assert correlations[0] < 0.9999 and correlations[-1] < 0.97, correlations


# --- regions (render.regions): every family obfuscates exactly the scaled region ---------------------

REGION_LEVELS = {"blur": 6, "pixelate": 8, "blackbox": 1, "deface": 1.3, "face_gaussian": 0.5, "face_pixelate": 0.1}


def expected_region(shape, box, kind: str, level: float, region: float) -> np.ndarray:
    """Where ``kind`` may change pixels, worked out independently of ``affected_box``: the face box scaled by
    ``region`` about its centre, or for deface the ellipse inscribed in that box scaled again by 2 x mask - 1."""
    scale = region * (2 * level - 1) if kind == "deface" else region
    cx, cy, hw, hh = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, (box[2] - box[0]) / 2, (box[3] - box[1]) / 2
    x1, y1 = max(0, int(np.floor(cx - hw * scale))), max(0, int(np.floor(cy - hh * scale)))
    x2, y2 = min(shape[1], int(np.ceil(cx + hw * scale))), min(shape[0], int(np.ceil(cy + hh * scale)))
    mask = np.zeros(shape[:2], dtype=bool)
    if kind == "deface":
        mask[y1:y2, x1:x2] = ob.inscribed_ellipse(y2 - y1, x2 - x1)
    else:
        mask[y1:y2, x1:x2] = True
    return mask


@pytest.mark.parametrize("region", [0.8, 1.0, 1.3, 1.6, 2.0])
@pytest.mark.parametrize("blur_border", ["crop", "context"])
@pytest.mark.parametrize("kind", list(REGION_LEVELS))
def test_region_scaled_obfuscation_changes_exactly_the_scaled_region(kind, region, blur_border):
    assert set(REGION_LEVELS) == set(ob.OBFUSCATIONS)  # every family
    image = np.random.default_rng(5).integers(1, 256, size=(200, 240, 3), dtype=np.uint8)  # no pixel is black
    box = (92.3, 64.8, 147.6, 133.1)  # 2.0x still fits inside the image, 1.3 x 1.6 deface is clipped
    level = REGION_LEVELS[kind]
    out = ob.apply(image, box, kind, level, region, blur_border)
    changed = (out != image).any(axis=2)
    inside = expected_region(image.shape, box, kind, level, region)
    assert not changed[~inside].any()  # outside the scaled box (or the preset's ellipse): byte-identical
    assert changed[inside].mean() > 0.95  # inside: (nearly) every pixel obfuscated
    assert ob.apply(image, box, kind, level, region, blur_border).tobytes() == out.tobytes()
    if region > 1:  # the region, not the detected box, is what is obfuscated
        assert changed[~expected_region(image.shape, box, kind, level, 1.0)].any()
