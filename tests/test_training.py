import hashlib
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import default_collate

from flup.config.params import ParamError
from flup.models import model as fm
from flup.models import sampling as fs
from flup.models import trainer as ft
from flup.training import weight_files as fw
from flup.training.checkpoint import CHECKPOINT
from tests.conftest import LFW as LFW_ROOT

LFW = LFW_ROOT / "lfw-deepfunneled"  # checked by the tests that read it (needs_lfw), not at import
SIZE = 64
BOX = (70.0, 70.0, 180.0, 180.0)  # a fixed central box: no detector in unit tests

needs_lfw = pytest.mark.usefixtures("lfw_root")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors gain nothing from threads; spinning OpenMP/OpenCV pools crawl on a busy machine."""
    torch_threads, cv2_threads = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    yield
    torch.set_num_threads(torch_threads)
    cv2.setNumThreads(cv2_threads)


@pytest.fixture(scope="module")
def frame(lfw_root) -> pd.DataFrame:
    """6 people x 3 images, plus one person with a single image."""
    rows, people, single = [], 0, None
    for person in sorted(p.name for p in LFW.iterdir()):
        images = sorted((LFW / person).glob("*.jpg"))
        if len(images) >= 3 and people < 6:
            rows += [(str(path), person) for path in images[:3]]
            people += 1
        elif len(images) == 1 and single is None:
            single = (str(images[0]), person)
        if people == 6 and single is not None:
            break
    frame = pd.DataFrame(rows + [single], columns=["path", "identity"])
    frame[["x1", "y1", "x2", "y2"]] = BOX
    return frame


def tiny_model(seed: int = 0) -> fm.DualStream:
    return fm.build_dual_stream("gap", SIZE, "none", dim=32, seed=seed)


def test_model_initialisation_depends_on_the_seed_alone():
    # torch's global generator is seeded differently in every process: the build must not draw from it.
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = tiny_model(seed=3).state_dict()
    assert torch.equal(torch.get_rng_state(), before)  # the caller's generator is left as it was
    torch.rand(5)  # moving the global generator must not change the next build
    again = tiny_model(seed=3).state_dict()
    other = tiny_model(seed=4).state_dict()
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not torch.equal(first["sharp_net.head.2.weight"], other["sharp_net.head.2.weight"])


def dataset(frame, positive="other_photo", variant="random_crop", seed=0) -> fs.QuadrupletDataset:
    return fs.QuadrupletDataset(frame, fs.Policy.from_params(fs.VARIANTS[variant]), SIZE, seed, positive)


# --- policies --------------------------------------------------------------------------------------


def test_policy_params():
    for params in fs.VARIANTS.values():
        fs.Policy.from_params(params)
    policy = fs.Policy.from_params({"crop": "random", "blur": "face_box", "sigma_max": 8, "crop_steps": 4})
    assert (policy.sigma_min, policy.sigma_max, policy.crop_steps) == (5.0, 8, 4)
    with pytest.raises(ParamError, match="sigmamax"):
        fs.Policy.from_params({"crop": "full", "blur": "face_box", "sigmamax": 3})
    with pytest.raises(ParamError, match="crop"):
        fs.Policy.from_params({"crop": "loose", "blur": "face_box"})


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(100, 120, 3), dtype=np.uint8)


def test_tight_crop_is_the_box(image):
    policy = fs.Policy("tight", "face_box")
    rng = np.random.default_rng(0)
    out = fs.apply_policy(image, (30, 40, 60, 80), policy, rng, blurred=False)
    np.testing.assert_array_equal(out, image[40:80, 30:60])
    # Fractional boxes round outward.
    assert fs.crop_region((30.4, 40.6, 59.2, 79.9), image.shape, policy) == (30, 40, 60, 80)


def test_random_crop_margin(image):
    policy = fs.Policy("random", "face_box", crop_steps=10)
    box = (30, 40, 60, 80)  # distances to the borders: 30, 40, 60, 20 -> margin up to 20
    rng = np.random.default_rng(1)
    seen = set()
    for _ in range(200):
        x1, y1, x2, y2 = fs.crop_region(box, image.shape, policy, rng)
        margin = 30 - x1
        assert (x1, y1, x2, y2) == (30 - margin, 40 - margin, 60 + margin, 80 + margin)
        seen.add(margin)
    assert seen == set(range(2, 21, 2))  # k/10 * 20 for k = 1..10
    # Test time: the full margin, so the crop reaches the nearest border.
    assert fs.crop_region(box, image.shape, policy) == (10, 20, 80, 100)
    # A box reaching outside the image gets no margin.
    assert fs.crop_region((-5, 40, 60, 80), image.shape, policy, rng) == (0, 40, 60, 80)


def test_full_crop_and_blur_regions(image):
    box = (30, 40, 60, 80)
    rng = np.random.default_rng(0)
    face = fs.apply_policy(image, box, fs.Policy("full", "face_box"), rng, blurred=True)
    assert face.shape == image.shape
    inside = np.zeros(image.shape[:2], bool)
    inside[40:80, 30:60] = True
    np.testing.assert_array_equal(face[~inside], image[~inside])
    assert not np.array_equal(face[inside], image[inside])
    whole = fs.apply_policy(image, box, fs.Policy("full", "whole_image"), rng, blurred=True)
    assert not np.array_equal(whole[~inside], image[~inside])
    sharp = fs.apply_policy(image, box, fs.Policy("full", "whole_image"), rng, blurred=False)
    np.testing.assert_array_equal(sharp, image)


def test_prepare_is_deterministic(image):
    policy = fs.Policy("random", "face_box")
    x = fs.prepare(image, (30, 40, 60, 80), policy, SIZE)
    assert x.shape == (3, SIZE, SIZE) and x.dtype == torch.float32
    assert torch.equal(x, fs.prepare(image, (30, 40, 60, 80), policy, SIZE))


# --- sampling --------------------------------------------------------------------------------------


@needs_lfw
def test_quadruplet_identity_rules(frame):
    ds = dataset(frame)
    assert len(ds.identities) == 6 and len(ds) == 18  # the one-image person is left out
    for i in range(len(ds)):
        item = ds[i]
        p, q = item["identity_p"], item["identity_q"]
        assert p == ds.identities[i % 6] and q != p
        assert Path(item["path_a"]).parent.name == Path(item["path_pos_p"]).parent.name == p
        assert Path(item["path_b"]).parent.name == Path(item["path_pos_q"]).parent.name == q
        assert item["path_a"] != item["path_pos_p"] and item["path_b"] != item["path_pos_q"]
        for key in ft.INPUT_KEYS:
            assert item[key].shape == (3, SIZE, SIZE)


@needs_lfw
def test_same_photo_positives(frame):
    ds = dataset(frame, positive="same_photo")
    assert len(ds.identities) == 7
    for i in range(len(ds)):
        item = ds[i]
        assert item["path_a"] == item["path_pos_p"] and item["path_b"] == item["path_pos_q"]
        assert item["identity_p"] != item["identity_q"]
        assert not torch.equal(item["sharp_a"], item["blurred_pos_p"])


@needs_lfw
def test_sampling_is_deterministic(frame):
    first, again = dataset(frame)[(1, 4)], dataset(frame)[(1, 4)]
    other_epoch = dataset(frame)[(2, 4)]
    for key in ft.INPUT_KEYS:
        assert torch.equal(first[key], again[key])
    assert any(not torch.equal(first[key], other_epoch[key]) for key in ft.INPUT_KEYS)
    ds = dataset(frame)
    ds.set_epoch(1)
    assert torch.equal(ds[4]["sharp_a"], first["sharp_a"])


@pytest.mark.slow  # seconds: trains, renders or draws
@needs_lfw
def test_persistent_workers_see_new_epochs(frame):
    ds = dataset(frame)
    cfg = ft.TrainConfig(epochs=2, batch_size=18, num_workers=1)
    loader, sampler = ft.make_loader(ds, cfg, torch.device("cpu"))
    for epoch in (1, 2):
        sampler.set_epoch(epoch)
        (batch,) = list(loader)
        order = [i for _, i in sampler]
        expected = default_collate([ds[(epoch, i)] for i in order])
        assert torch.equal(batch["blurred_b"], expected["blurred_b"])


# --- model and training ----------------------------------------------------------------------------


def test_heads():
    torch.manual_seed(0)
    net = fm.EmbeddingNet(fm.build_dual_stream("gap", SIZE, "none").sharp_net.features, "flatten", SIZE, 16)
    assert net.head[1].in_features == 1280 * 2 * 2
    out = net(torch.randn(2, 3, SIZE, SIZE))
    assert out.shape == (2, 16)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(2))
    with pytest.raises(ValueError, match="64x64"):
        net(torch.randn(2, 3, 32, 32))


@needs_lfw
def test_steps_reduce_loss_on_a_fixed_batch(frame):
    batch = default_collate([dataset(frame)[(0, i)] for i in range(6)])
    model = tiny_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    with torch.no_grad():
        before = ft.loss_on_batch(model, batch).item()
    for _ in range(5):
        optimizer.zero_grad()
        ft.loss_on_batch(model, batch).backward()
        optimizer.step()
    with torch.no_grad():
        after = ft.loss_on_batch(model, batch).item()
    assert after < before


class FakeLive:
    def __init__(self):
        self.step, self.logged = 0, []

    def log_metric(self, name, value):
        self.logged.append((self.step, name, value))

    def next_step(self):
        self.step += 1


def val_fn(model: nn.Module) -> float:
    assert not model.training and not torch.is_grad_enabled()
    return 0.5


@pytest.mark.slow  # seconds: trains, renders or draws
@needs_lfw
def test_resume_continues_at_next_epoch(frame, tmp_path):
    cfg = {"epochs": 1, "batch_size": 6, "lr": 1e-3, "seed": 3, "device": "cpu"}
    first = ft.train(tiny_model(), dataset(frame), val_fn, cfg, tmp_path / "run")
    assert [h["epoch"] for h in first] == [1]

    live = FakeLive()
    history = ft.train(
        tiny_model(seed=99), dataset(frame), val_fn, {**cfg, "epochs": 2}, tmp_path / "run", live
    )
    assert [h["epoch"] for h in history] == [1, 2] and history[0] == first[0]
    assert [(step, name) for step, name, _ in live.logged] == [(1, "train/loss"), (1, "val/auc")]
    state = torch.load(tmp_path / "run" / CHECKPOINT, weights_only=True)
    assert state["epoch"] == 2

    # Resuming gives exactly what an uninterrupted run gives.
    straight = tiny_model()
    ft.train(straight, dataset(frame), val_fn, {**cfg, "epochs": 2}, tmp_path / "straight")
    resumed = fw.load_weights(tiny_model(seed=5), tmp_path / "run" / CHECKPOINT)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name

    with pytest.raises(ValueError, match="lr"):
        ft.train(tiny_model(), dataset(frame), None, {**cfg, "epochs": 3, "lr": 0.1}, tmp_path / "run")


# --- weights ---------------------------------------------------------------------------------------


def test_load_weights_refuses_pickled_modules(tmp_path):
    path = tmp_path / "module.pt"
    torch.save(nn.Linear(2, 2), path)
    with pytest.raises(ValueError, match="module.pt"):
        fw.load_weights(nn.Linear(2, 2), path)


def test_safetensors_round_trip(tmp_path):
    model, other = tiny_model(0), tiny_model(1)
    fw.save_weights(model, tmp_path / "model.safetensors")
    fw.load_weights(other, tmp_path / "model.safetensors")
    for (name, a), b in zip(model.state_dict().items(), other.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]  # no temporaries left
    torch.save(model.state_dict(), tmp_path / "state.pt")
    fw.load_weights(tiny_model(2), tmp_path / "state.pt")
    with pytest.raises(ValueError, match="safetensors"):
        fw.save_weights(model, tmp_path / "model.pt")


def test_real_v1_weights():
    path = fm.locate_mobilenet_v1_weights()
    sha = fm.verify_hash_prefix(path)
    assert sha.startswith("b0353104") and sha == hashlib.sha256(path.read_bytes()).hexdigest()
    model = fm.build_dual_stream("gap", SIZE, "v1", dim=32)
    assert fm.V1_PACKAGE not in sys.modules  # found, never imported
    first_conv = model.blur_net.features[0][0].weight
    assert first_conv.shape == (32, 3, 3, 3)
    reference = torch.load(path, weights_only=True)["features.0.0.weight"]
    assert torch.equal(first_conv, reference) and torch.equal(
        model.sharp_net.features[0][0].weight, reference
    )
    assert first_conv.data_ptr() != model.sharp_net.features[0][0].weight.data_ptr()


def test_hash_mismatch_is_refused(tmp_path):
    path = tmp_path / "mobilenet_v2-deadbeef.pth"
    torch.save({}, path)
    with pytest.raises(ValueError, match="deadbeef"):
        fm.verify_hash_prefix(path)


@needs_lfw
def test_augmentation_matches_torchvision():
    """to_input's cv2/numpy augmentation reproduces torchvision's flip, rotation and colour jitter."""
    import torchvision.transforms.v2.functional as TF
    from torchvision.transforms import InterpolationMode

    image = fs.read_image(str(next((LFW / "Aaron_Eckhart").glob("*.jpg"))))

    for seed in range(6):
        ours = fs.to_input(image, SIZE, np.random.default_rng(seed))
        rng = np.random.default_rng(seed)
        flip = rng.random() < fs.FLIP_P
        angle = float(rng.uniform(-fs.ROTATION_DEG, fs.ROTATION_DEG))
        brightness, contrast, saturation = rng.uniform(1 - fs.JITTER, 1 + fs.JITTER, size=3).tolist()
        small = cv2.resize(image, (SIZE, SIZE), interpolation=cv2.INTER_AREA)
        ref = torch.from_numpy(cv2.cvtColor(small, cv2.COLOR_BGR2RGB)).permute(2, 0, 1).contiguous()
        if flip:
            ref = TF.horizontal_flip(ref)
        ref = TF.rotate(ref, angle, interpolation=InterpolationMode.BILINEAR)
        ref = TF.adjust_saturation(TF.adjust_contrast(TF.adjust_brightness(ref, brightness), contrast), saturation)
        ref = TF.normalize(TF.to_dtype(ref, torch.float32, scale=True), fs.IMAGENET_MEAN, fs.IMAGENET_STD)
        # Interior pixels only: the two libraries round the rotated corners' edges differently.
        diff = (ours - ref)[:, 6:-6, 6:-6].abs()
        assert diff.mean() < 0.03, (seed, flip, angle, float(diff.mean()))
        # A wrong rotation direction or a missing flip is far off; make sure the check would see it.
        wrong = TF.rotate(ref, -2 * angle, interpolation=InterpolationMode.BILINEAR) if abs(angle) > 3 else None
        if wrong is not None:
            assert (ours - wrong)[:, 6:-6, 6:-6].abs().mean() > 3 * diff.mean()
