"""The blur-aware ArcFace attackers: converter parity, adapter and fine-tune training, and that
an attacker never loads a test identity (checked on what the real stage loads, on real LFW faces)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from flup.attack import adapter, arcface_torch
from flup.attack.attack_data import (
    SHARP,
    AttackFaces,
    Draw,
    LevelSampler,
    MixtureSampler,
    aligned_pair,
    box,
    check_disjoint,
    obfuscate,
    pair_identities,
    sampler_for,
    validation_set,
)
from flup.faces import weights
from flup.faces.detection import LANDMARK_COLUMNS, Detector, face_row
from flup.obfuscation import families
from flup.obfuscation.methods import affected_box
from flup.training.loop import optimizer_step
from flup.training.weight_files import save_weights
from flup.verify import recognition
from tests.conftest import REPO, make_identity_folder, write_params

N_TRAIN_PEOPLE = 8
N_TEST_PAIRS = 6


def _read_list(path, skip_first=True):
    lines = path.read_text().splitlines()
    return [line.split("\t") if "\t" in line else line.split() for line in lines[int(skip_first):] if line.strip()]


@pytest.fixture(scope="module")
def onnx_path():
    return weights.resolve("recognizer", "w600k_mbf", "~/.insightface/models")


@pytest.fixture(scope="module")
def mini_lfw(lfw_root, tmp_path_factory):
    """A project folder with real LFW images: a view1-like train.csv (the first peopleDevTrain people with
    >= 3 images) and pairs.csv (the first same pairs of pairsDevTest), faces detected here."""
    root = tmp_path_factory.mktemp("mini")
    images = lfw_root / "lfw-deepfunneled"
    people = [(name, int(n)) for name, n in _read_list(lfw_root / "peopleDevTrain.txt") if int(n) >= 3]
    train = pd.DataFrame([(name, f"{name}/{name}_{i:04d}.jpg") for name, n in people[:N_TRAIN_PEOPLE]
                          for i in range(1, min(n, 4) + 1)], columns=["identity", "image"])
    same = [row for row in _read_list(lfw_root / "pairsDevTest.txt") if len(row) == 3][:N_TEST_PAIRS]
    pairs = pd.DataFrame([{"pair_id": k, "fold": 0, "label": 1, "image_a": f"{n}/{n}_{int(i):04d}.jpg",
                           "image_b": f"{n}/{n}_{int(j):04d}.jpg", "identity_a": n, "identity_b": n}
                          for k, (n, i, j) in enumerate(same)])
    detector = Detector(weights.resolve("detector", "scrfd_500m", "~/.insightface/models"), 320, 0.5)
    rows = []
    import cv2

    for image in sorted(set(train["image"]) | set(pairs["image_a"]) | set(pairs["image_b"])):
        pixels = cv2.imread(str(images / image))
        rows.append({"image": image, **face_row(detector.detect(pixels), pixels.shape)})
    (root / "data/faces").mkdir(parents=True)
    (root / "data/protocols/view1").mkdir(parents=True)
    (root / "data/raw/lfw").mkdir(parents=True)
    (root / "data/raw/lfw/images").symlink_to(images)
    pd.DataFrame(rows).to_parquet(root / "data/faces/lfw.parquet", index=False)
    train.to_csv(root / "data/protocols/view1/train.csv", index=False)
    pairs.to_csv(root / "data/protocols/view1/pairs.csv", index=False)
    return root


@pytest.fixture(scope="module")
def faces_frame(mini_lfw):
    faces = pd.read_parquet(mini_lfw / "data/faces/lfw.parquet")
    faces = faces[faces["status"] == "ok"].reset_index(drop=True)
    faces["identity"] = [image.split("/")[0] for image in faces["image"]]
    faces["path"] = [str(mini_lfw / "data/raw/lfw/images" / image) for image in faces["image"]]
    return faces


def _sharp_crops(frame, n):
    import cv2

    return [recognition.align(cv2.imread(frame["path"][i]),
                              frame.loc[i, LANDMARK_COLUMNS].to_numpy(np.float32).reshape(5, 2)) for i in range(n)]


def test_converted_arcface_matches_onnxruntime(onnx_path, faces_frame):
    crops = _sharp_crops(faces_frame, 8)
    expected = recognition.ArcFace(onnx_path).embed(crops)
    converted = arcface_torch.embed(arcface_torch.convert(onnx_path), crops)
    cosines = np.einsum("ij,ij->i", expected, converted)
    assert cosines.min() > 0.999, cosines


def _blurred_embeddings(onnx_path, frame, views, seed, low=8.0, high=16.0):
    faces = AttackFaces(frame, LevelSampler("blur", low, high), seed)
    model = recognition.ArcFace(onnx_path)
    sharp, obfuscated = [], []
    for i in range(len(faces)):
        for view in range(views):
            s, o, _ = faces.sample(i, view)
            sharp.append(s)
            obfuscated.append(o)
    return model.embed(sharp), model.embed(obfuscated)


def test_one_adapter_step_lowers_the_loss_on_a_fixed_batch(onnx_path, faces_frame):
    sharp, blurred = _blurred_embeddings(onnx_path, faces_frame.iloc[:16].reset_index(drop=True), 1, 0)
    x, y = torch.from_numpy(blurred), torch.from_numpy(sharp)
    torch.manual_seed(0)
    net = adapter.EmbeddingAdapter(512, 64, 2)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-4)
    before = float(optimizer_step(net, optimizer, adapter.loss, (x, y)))
    with torch.no_grad():
        after = float(arcface_torch.cosine_loss(net(x), y))
    assert after < before


def test_untrained_adapter_is_the_identity():
    x = torch.nn.functional.normalize(torch.randn(4, 512), dim=1)
    assert torch.allclose(adapter.EmbeddingAdapter()(x), x, atol=1e-6)


@pytest.mark.slow  # seconds: trains, renders or draws
def test_adapter_improves_held_out_cosine_between_blurred_and_sharp(onnx_path, faces_frame):
    people = sorted(faces_frame["identity"].unique())
    held_out = faces_frame["identity"].isin(people[-4:])
    train = faces_frame[~held_out].reset_index(drop=True)
    val = faces_frame[held_out].reset_index(drop=True)
    sharp, blurred = _blurred_embeddings(onnx_path, train, 4, 0)
    val_sharp, val_blurred = _blurred_embeddings(onnx_path, val, 1, 1)
    before = np.einsum("ij,ij->i", val_sharp, val_blurred).mean()

    def gain(targets) -> float:
        net = adapter.EmbeddingAdapter(512, depth=1)
        adapter.train(net, blurred, targets, epochs=20, batch_size=32, lr=3e-4, weight_decay=1e-2, seed=0)
        return float(np.einsum("ij,ij->i", val_sharp, adapter.apply(net, val_blurred)).mean() - before)

    learned = gain(sharp)
    # The control learns nothing about who is who: each blurred face's target is another sample's sharp face.
    shuffled = gain(sharp[np.random.default_rng(0).permutation(len(sharp))])
    # Measured over 8 seeds (training draws, validation draws and adapter seed all varied together): the gain is
    # 0.030 +- 0.005 (min 0.023, max 0.037); the shuffled control's is -0.014 +- 0.007 (max -0.004); their
    # difference is never below 0.035. An untrained adapter is the identity (gain 0). The bounds sit ~4 SD below
    # the learned gain's mean and well above what an adapter that learned nothing reaches.
    assert learned > 0.01, (before, learned, shuffled)
    assert learned - shuffled > 0.02, (before, learned, shuffled)


@pytest.mark.slow  # seconds of training or of writing every profile
def test_finetuned_weights_roundtrip_through_safetensors(onnx_path, faces_frame, tmp_path):
    crops = _sharp_crops(faces_frame, 4)
    student = arcface_torch.convert(onnx_path)
    original = arcface_torch.embed(student, crops)
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(student.parameters(), lr=1e-3)
    student.train()
    loss = arcface_torch.cosine_loss(student(arcface_torch.to_tensor(crops)), torch.from_numpy(original[::-1].copy()))
    loss.backward()
    optimizer.step()
    tuned = arcface_torch.embed(student, crops)
    save_weights(student, tmp_path / "model.safetensors")
    loaded = arcface_torch.embed(arcface_torch.load(onnx_path, tmp_path / "model.safetensors"), crops)
    assert not np.allclose(tuned, original, atol=1e-4)
    np.testing.assert_allclose(loaded, tuned, atol=1e-5)


def test_sampler_levels_stay_in_range_and_sharp_fraction_holds():
    rng = np.random.default_rng(0)
    sampler = LevelSampler("blur", 2, 24, sharp_fraction=0.25)
    draws = [sampler.draw(rng) for _ in range(2000)]
    levels = np.array([d.level for d in draws])
    sharp = np.array([d.kind == SHARP for d in draws])
    assert 0.2 < sharp.mean() < 0.3 and (levels[sharp] == 0).all()
    assert {d.kind for d in draws} == {SHARP, "blur"}
    assert levels[~sharp].min() >= 2 and levels.max() <= 24
    assert {LevelSampler("blur", 16, 16).draw(rng) for _ in range(10)} == {Draw("blur", 16.0)}


def _old_draw(rng, kind, low, high, sharp_fraction):
    """LevelSampler.draw before it drew families (blur and pixelate only), verbatim."""
    if rng.random() < sharp_fraction:
        return 0.0 if kind == "blur" else 1.0
    if kind == "pixelate":
        return float(rng.integers(int(low), int(high) + 1))
    return float(rng.uniform(low, high))


@pytest.mark.parametrize(("kind", "low", "high"), [("blur", 2.0, 24.0), ("blur", 2.0, 128.0), ("pixelate", 4, 192)])
def test_one_family_sampler_draws_what_the_old_sampler_drew(kind, low, high):
    """Same seeds, same rng stream: a blur attacker's levels (and so its pixels) are those it had before."""
    new, old = [], []
    for epoch in range(3):
        for index in range(400):
            new.append(LevelSampler(kind, low, high, 0.25).draw(np.random.default_rng([7, epoch, index])))
            old.append(_old_draw(np.random.default_rng([7, epoch, index]), kind, low, high, 0.25))
    identity = families.FAMILIES[kind].identity
    assert [d.level if d.kind != SHARP else identity for d in new] == old
    assert [d.kind == SHARP for d in new] == [level == identity for level in old]  # never drawn at [low, high]
    assert len({d.level for d in new}) > 100


@pytest.mark.parametrize("kind", [k for k in families.ORDER])
def test_each_family_draws_in_its_range_integers_where_integer(kind):
    low, high = {"blur": (2, 128), "pixelate": (4, 192), "blackbox": (1, 1), "deface": (1.3, 2.0),
                 "face_gaussian": (0.5, 8), "face_pixelate": (0.1, 1.0)}[kind]
    sampler = sampler_for({kind: (low, high)})
    assert isinstance(sampler, LevelSampler) and sampler.trained_on == kind
    rng = np.random.default_rng(3)
    levels = np.array([sampler.draw(rng).level for _ in range(500)])
    assert levels.min() >= low and levels.max() <= high
    integral = np.array_equal(levels, np.round(levels))
    assert integral == (families.FAMILIES[kind].integer or low == high), kind
    for level in levels:
        families.check_level(kind, float(level))


RANGES = {"blur": (2.0, 128.0), "pixelate": (4, 192), "deface": (1.3, 2.0), "face_gaussian": (0.5, 8.0),
          "face_pixelate": (0.1, 1.0)}


def test_mixture_draws_each_family_about_equally_in_its_range():
    sampler = sampler_for(RANGES, sharp_fraction=0.1)
    assert isinstance(sampler, MixtureSampler) and sampler.trained_on == "mixture"
    rng = np.random.default_rng(0)
    draws = [sampler.draw(rng) for _ in range(3000)]
    kinds = [d.kind for d in draws]
    assert 0.07 < kinds.count(SHARP) / 3000 < 0.13
    obfuscated = 3000 - kinds.count(SHARP)
    for kind, (low, high) in RANGES.items():
        levels = np.array([d.level for d in draws if d.kind == kind])
        # 2,700 draws over 5 families: 540 each, binomial SD 21; 0.2 +- 0.035 is about +- 4.5 SD
        assert abs(len(levels) / obfuscated - 0.2) < 0.035, (kind, len(levels))
        assert levels.min() >= low and levels.max() <= high
        assert np.array_equal(levels, np.round(levels)) == (kind == "pixelate")
        # uniform within the range: both halves drawn
        assert (levels < (low + high) / 2).mean() > 0.35 and (levels > (low + high) / 2).mean() > 0.35
    assert set(kinds) == {SHARP, *RANGES}


def test_mixture_draws_are_reproducible_by_seed():
    sampler = sampler_for(RANGES, sharp_fraction=0.25)
    first = [sampler.draw(np.random.default_rng([0, 0, i])) for i in range(300)]
    again = [sampler.draw(np.random.default_rng([0, 0, i])) for i in range(300)]
    other = [sampler.draw(np.random.default_rng([1, 0, i])) for i in range(300)]
    assert first == again and first != other
    never_sharp = sampler.obfuscated_only()
    assert never_sharp.ranges == sampler.ranges and never_sharp.sharp_fraction == 0
    assert SHARP not in {never_sharp.draw(np.random.default_rng(i)).kind for i in range(200)}


def test_samplers_refuse_bad_ranges():
    with pytest.raises(ValueError, match="deface mask scale level must be"):
        LevelSampler("deface", 0.2, 1.3)
    with pytest.raises(ValueError, match="low <= high"):
        LevelSampler("face_gaussian", 2, 1)
    with pytest.raises(ValueError, match="unknown obfuscation 'mosaic'"):
        LevelSampler("mosaic", 1, 2)
    with pytest.raises(ValueError, match="pixelate block size must be an integer"):
        sampler_for({"pixelate": (4, 8.5), "blur": (2, 8)})
    with pytest.raises(ValueError, match="two families or more"):
        MixtureSampler({"blur": (2, 8)})


@pytest.mark.parametrize("region", [1.0, 1.3])
@pytest.mark.parametrize("kind", [k for k in families.ORDER])
def test_training_sample_of_each_family_changes_only_its_box(faces_frame, kind, region):
    """An attacker's training image of each family equals the sharp one outside the face box (scaled by the
    region; deface's enlarged box), differs inside it, and its aligned crop is what the dataset returns."""
    import cv2

    low, high = {"blackbox": (1, 1), **RANGES}[kind]
    faces = AttackFaces(faces_frame.iloc[:3], sampler_for({kind: (low, high)}), seed=0, region=region)
    for index in range(3):
        sharp_crop, crop, draw = faces.sample(index, epoch=1)
        assert draw.kind == kind and low <= draw.level <= high
        row = faces.frame.iloc[index]
        image = cv2.imread(row["path"])
        obfuscated = obfuscate(image, row, *draw, region)
        x1, y1, x2, y2 = affected_box(image.shape, box(row), kind, draw.level, region)
        outside = np.ones(image.shape[:2], dtype=bool)
        outside[y1:y2, x1:x2] = False
        assert np.array_equal(obfuscated[outside], image[outside]), (kind, index)
        assert not np.array_equal(obfuscated[y1:y2, x1:x2], image[y1:y2, x1:x2]), (kind, index)
        if kind == "deface":  # beyond the scaled face box itself
            bx1, by1, bx2, by2 = affected_box(image.shape, box(row), "blur", 1.0, region)
            assert (x2 - x1) * (y2 - y1) > (bx2 - bx1) * (by2 - by1)
        aligned = aligned_pair(image, row, *draw, region)
        assert np.array_equal(crop, aligned[1]) and np.array_equal(sharp_crop, aligned[0])
        assert not np.array_equal(crop, sharp_crop)


@pytest.mark.slow  # seconds of training or of writing every profile
def test_mixture_dataset_and_validation_set_draw_every_family(faces_frame):
    sampler = sampler_for(RANGES, sharp_fraction=0.0)
    faces = AttackFaces(faces_frame, sampler, seed=0)
    draws = [faces.sample(i, epoch)[2] for epoch in range(4) for i in range(len(faces))]
    assert {d.kind for d in draws} == set(RANGES)
    assert draws == [faces.sample(i, epoch)[2] for epoch in range(4) for i in range(len(faces))]  # seeded
    val = validation_set(faces_frame, sampler, 4, seed=0)
    assert len(val.obfuscated) == len(val.sharp) and all(c.shape == (112, 112, 3) for c in val.obfuscated)
    assert all(not np.array_equal(s, o) for s, o in zip(val.sharp[-4:], val.obfuscated[-4:], strict=True))


def test_training_pair_is_aligned_on_the_sharp_landmarks(faces_frame):
    import cv2

    row = faces_frame.iloc[0]
    sharp, blurred = aligned_pair(cv2.imread(row["path"]), row, "blur", 12, 1.0)
    assert sharp.shape == blurred.shape == (112, 112, 3)
    assert not np.array_equal(sharp, blurred)
    same, copy = aligned_pair(cv2.imread(row["path"]), row, "blur", 0, 1.0)
    assert np.array_equal(same, copy)
    faces = AttackFaces(faces_frame.iloc[:1], LevelSampler("blur", 12, 12), seed=0)
    assert np.array_equal(faces.sharp(0), sharp) and np.array_equal(faces.sample(0)[1], blurred)
    assert faces.sample(0)[2] == Draw("blur", 12.0)


PARAMS = {
    "models": {"root": "~/.insightface/models"},
    "arcface": {"model": "w600k_mbf", "sha256": None},
    "render": {"regions": [1.0]},
    "attack": {"protocol": "view1", "sharp_fraction": 0.25, "val_fraction": 0.3, "val_pairs": 4, "max_images": None,
               "batch_size": 16, "device": "cpu", "seeds": [0], "modes": ["oracle_box"],
               "adapter": {"views": 1, "target": "same_image", "hidden": 32, "depth": 2, "epochs": 1,
                           "batch_size": 16, "lr": 1e-4, "weight_decay": 0.0},
               "finetune": {"epochs": 1, "batch_size": 4, "lr": 1e-5, "samples_per_epoch": 4}},
    "attackers": {"adapter": {"method": "adapter", "obfuscation": "blur", "levels": [2, 24]},
                  "finetune": {"method": "finetune", "obfuscation": "blur", "levels": [16, 16]},
                  "mixture": {"method": "adapter", "obfuscation": "mixture",
                              "mixture": {"deface": [1.3, 2.0], "face_pixelate": [0.1, 1.0], "pixelate": [4, 16]}},
                  "finetune_mixture": {"method": "finetune", "obfuscation": "mixture",
                                       "mixture": {"face_gaussian": [0.5, 8], "blackbox": [1, 1]}}},
}


@pytest.mark.slow  # seconds of training or of writing every profile
@pytest.mark.parametrize("name", ["adapter", "finetune", "mixture", "finetune_mixture"])
def test_attackers_never_load_test_identities(mini_lfw, monkeypatch, name):
    from stages import train_attacker

    monkeypatch.chdir(mini_lfw)
    (mini_lfw / "params.yaml").write_text((REPO / "params.yaml").read_text())
    write_params(mini_lfw, PARAMS)
    train_attacker.main(name)
    out = mini_lfw / "data/attackers" / name / "seed0"
    test_people = pair_identities(pd.read_csv(mini_lfw / "data/protocols/view1/pairs.csv"))
    loaded = pd.read_csv(out / "identities.csv")
    assert len(loaded) > 0 and set(loaded["split"]) == {"train", "val"}
    assert not set(loaded["identity"]) & test_people
    assert set(loaded["identity"]) <= set(pd.read_csv(mini_lfw / "data/protocols/view1/train.csv")["identity"])
    entry = PARAMS["attackers"][name]
    meta = json.loads((out / "meta.json").read_text())
    ranges = entry.get("mixture") or {entry["obfuscation"]: entry["levels"]}
    assert (meta["obfuscation"], meta["ranges"]) == (entry["obfuscation"], ranges)
    assert meta.get("levels") == entry.get("levels")
    if entry["method"] == "adapter":
        with np.load(out / "embeddings.npz", allow_pickle=False) as cache:
            assert not set(cache["identities"].tolist()) & test_people
            assert set(cache["identities"].tolist()) == set(loaded.query("split == 'train'")["identity"])
            kinds, levels, n = cache["kinds"], cache["levels"], len(cache["identities"])
        assert kinds.shape == levels.shape == (n, 1)
        assert set(kinds.ravel()) <= {SHARP, *ranges} and set(kinds.ravel()) & set(ranges)
        for kind, level in zip(kinds.ravel(), levels.ravel(), strict=True):
            low, high = ranges.get(kind, (0, 0))
            assert low - 1e-6 <= level <= high + 1e-6, (kind, level)


def test_disjointness_check_refuses_a_train_set_with_a_test_person(mini_lfw):
    pairs = pd.read_csv(mini_lfw / "data/protocols/view1/pairs.csv")
    leaky = pd.concat([pd.read_csv(mini_lfw / "data/protocols/view1/train.csv"),
                       pd.DataFrame({"identity": [pairs["identity_a"][0]], "image": [pairs["image_a"][0]]})])
    with pytest.raises(ValueError, match="test identities are in the attacker's training data"):
        check_disjoint(leaky["identity"], pairs, "pairs.csv")



class RefusingArcFace:
    """An ONNX ArcFace that embeds nothing: every crop must come from the embeddings score_arcface saved."""

    def __init__(self, *args, **kwargs):
        pass

    def embed(self, crops):
        assert not len(crops), f"{len(crops)} crops embedded again instead of reused from score_arcface"
        return np.zeros((0, 512), dtype=np.float32)


@pytest.mark.slow  # seconds: trains, renders or draws
def test_attacker_scores_an_evaluation_only_dataset_as_it_scores_the_same_pairs_on_lfw(mini_lfw, lfw_root, tmp_path,
                                                                                       monkeypatch):
    # A trained adapter (the stage's own training on mini_lfw) scores a 6-person identity folder through
    # score_attacker_dataset's path, then the same images, detections and pairs laid out as LFW's view1
    # through score_attacker's: the same scores, pair by pair. Every pair is scored (nobody in the folder is
    # an LFW training person), in both threat models, and the adapter's ArcFace side is score_arcface's.
    from stages import detect, ingest, render, score_arcface, score_attacker, train_attacker

    monkeypatch.chdir(mini_lfw)
    if not (mini_lfw / "data/attackers/adapter/seed0/meta.json").exists():  # trained by the test above, unless alone
        (mini_lfw / "params.yaml").write_text((REPO / "params.yaml").read_text())
        write_params(mini_lfw, PARAMS)
        train_attacker.main("adapter")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data/attackers").mkdir(parents=True)
    (tmp_path / "data/attackers/adapter").symlink_to(mini_lfw / "data/attackers/adapter")
    make_identity_folder(tmp_path / "people", lfw_root, count=6, per_person=2)
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    write_params(tmp_path, PARAMS)
    write_params(tmp_path, {
        "attack": {"modes": ["oracle_box", "end_to_end"]}, "arcface": {"modes": ["oracle_box", "end_to_end"]},
        "render": {"protocols": ["view1"], "baseline_only": [], "workers": 1, "regions": [1.0],
                   "obfuscations": {"blur": [0, 8], "pixelate": [], "blackbox": [1], "deface": [],
                                    "face_gaussian": [], "face_pixelate": []}},
        "datasets": {"people": {"format": "folder", "root": "people", "face_rule": "largest_central",
                                "same_pairs": 4, "different_pairs": 4, "random_seed": 0, "min_pairs_per_label": 4}}})
    with torch.no_grad():
        ingest.main("people")
        detect.main("people")
        render.main("people")
        score_arcface.main("people")
        assert Path("data/embeddings/people/arcface.npz").is_file()
        with monkeypatch.context() as patch:
            patch.setattr(recognition, "ArcFace", RefusingArcFace)
            score_attacker.main("adapter", "people")
        on_dataset = pd.read_parquet("data/scores/people/adapter.parquet")

        # the same images, detections and pairs as LFW's view1, whose training list names other people
        pairs = pd.read_csv("data/datasets/people/source/pairs.csv")
        Path("data/raw/lfw").mkdir(parents=True)
        Path("data/raw/lfw/images").symlink_to(tmp_path / "people")
        Path("data/faces").mkdir()
        pd.read_parquet("data/datasets/people/faces.parquet").to_parquet("data/faces/lfw.parquet", index=False)
        Path("data/protocols/view1").mkdir(parents=True)
        pairs.to_csv("data/protocols/view1/pairs.csv", index=False)
        shutil.copy(mini_lfw / "data/protocols/view1/train.csv", "data/protocols/view1/train.csv")
        render.main()
        score_arcface.main()
        with monkeypatch.context() as patch:
            patch.setattr(recognition, "ArcFace", RefusingArcFace)
            score_attacker.main("adapter")
        on_lfw = pd.read_parquet("data/scores/adapter.parquet")

    assert len(pairs) == 8 and set(pairs["label"]) == {0, 1}
    assert len(on_dataset) == len(pairs) * 3 * 2 * 1  # pairs x levels (blur 0, 8, blackbox) x modes x regions
    assert set(on_dataset["dataset"]) == {"people"} and set(on_dataset["protocol"]) == {"pairs"}
    assert set(on_dataset["recognizer"]) == {"adapter"} and set(on_dataset["mode"]) == {"oracle_box", "end_to_end"}
    assert not on_dataset["seen_identities"].any()
    assert set(on_dataset["pair_id"]) == set(pairs["pair_id"])
    ok = on_dataset[on_dataset["status"] == "ok"]
    assert len(ok) >= len(on_dataset) // 2 and ok["score"].notna().all()
    labels = on_dataset.merge(pairs[["pair_id", "label"]], on="pair_id", suffixes=("", "_pairs"))
    assert len(labels) == len(on_dataset) and (labels["label"] == labels["label_pairs"]).all()
    sharp = ok[(ok["obfuscation"] == "blur") & (ok["level"] == 0)]  # an unblurred pair: the same person scores higher
    assert sharp.loc[sharp["label"] == 1, "score"].min() > sharp.loc[sharp["label"] == 0, "score"].max()
    keys = ["pair_id", "mode", "obfuscation", "region", "level"]
    same = on_lfw.drop(columns=["dataset", "protocol"]).sort_values(keys).reset_index(drop=True)
    assert set(on_lfw["protocol"]) == {"view1"} and len(on_lfw) == len(on_dataset)
    pd.testing.assert_frame_equal(on_dataset.drop(columns=["dataset", "protocol"]).sort_values(keys)
                                  .reset_index(drop=True), same)
