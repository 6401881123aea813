import numpy as np
import pytest

from flup import obfuscation as ob

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


def test_blur_with_box_scale_equals_whole_image_blur_pasted(image):
    x1, y1, x2, y2 = ob.scale_box(BOX, 1.4, image.shape)
    expected = image.copy()
    expected[y1:y2, x1:x2] = ob.blur_whole_image(image, 4.0)[y1:y2, x1:x2]
    assert np.array_equal(ob.gaussian_blur(image, BOX, 4.0, box_scale=1.4), expected)


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
    out = ob.black_box(image, (60, 40, 78, 58), box_scale=2.0)
    assert (out[31:, 51:] == 0).all()
    assert np.array_equal(outside(out, (51, 31, W, H)), outside(image, (51, 31, W, H)))


# --- apply ----------------------------------------------------------------------------------------


def test_apply_dispatches(image):
    assert set(ob.OBFUSCATIONS) == {"blur", "pixelate", "blackbox"}
    assert np.array_equal(ob.apply(image, BOX, "blur", 2.5), ob.gaussian_blur(image, BOX, 2.5))
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
