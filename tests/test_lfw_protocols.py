"""LFW protocol files and the protocols built from them, on the real shared copy."""

from __future__ import annotations

import pytest

from flup.data import lfw, protocols


@pytest.fixture(scope="module")
def images_by_person(lfw_root):
    folder = lfw_root / "lfw-deepfunneled"
    return {d.name: sorted(f"{d.name}/{f.name}" for f in d.glob("*.jpg")) for d in folder.iterdir() if d.is_dir()}


def test_official_files_parse_with_their_counts(lfw_root):
    view2 = lfw.parse_pairs(lfw_root / "pairs.txt")
    assert len(view2) == 6000 and sum(p.same for p in view2) == 3000
    assert sorted({p.fold for p in view2}) == list(range(10))
    assert [p.same for p in view2[:600]] == [True] * 300 + [False] * 300
    dev_test = lfw.parse_pairs(lfw_root / "pairsDevTest.txt")
    assert len(dev_test) == 1000 and sum(p.same for p in dev_test) == 500
    assert dev_test[0].image_a == "Abdullah_Gul/Abdullah_Gul_0013.jpg"
    assert len(lfw.parse_people(lfw_root / "peopleDevTrain.txt")) == 4038
    assert len(lfw.parse_people(lfw_root / "lfw-names.txt", has_header=False)) == 5749


def test_malformed_pairs_file_names_file_and_line(tmp_path):
    bad = tmp_path / "pairsDevTest.txt"
    bad.write_text("2\nA 1 2\nB 1 x\nA 1 C 2\nB 1 D 1\n")
    with pytest.raises(lfw.ProtocolFileError, match=r"pairsDevTest.txt:3: expected an integer"):
        lfw.parse_pairs(bad)
    bad.write_text("2\nA 1 2\nB 1 2\nA 1 C 2\n")
    with pytest.raises(lfw.ProtocolFileError, match="promises 1 fold"):
        lfw.parse_pairs(bad)
    bad.write_text("1\nA 1 C 2\nB 1 D 1\n")
    with pytest.raises(lfw.ProtocolFileError, match=r":2: expected a same-person"):
        lfw.parse_pairs(bad)


def test_view1_train_and_test_people_are_disjoint(lfw_root, images_by_person):
    train_people = list(lfw.parse_people(lfw_root / "peopleDevTrain.txt"))
    train, pairs, dropped = protocols.view1(train_people, lfw.parse_pairs(lfw_root / "pairsDevTest.txt"),
                                            images_by_person)
    assert dropped == 0 and len(pairs) == 1000
    assert set(train["identity"]).isdisjoint(set(pairs["identity_a"]) | set(pairs["identity_b"]))
    assert train.groupby("identity").size().min() >= 2
    assert train["identity"].nunique() == 1184 and len(train) == 6671


def test_view2_keeps_folds_and_drops_unavailable(lfw_root, images_by_person):
    pairs, dropped = protocols.view2(lfw.parse_pairs(lfw_root / "pairs.txt"), images_by_person)
    assert dropped == 0 and pairs.groupby("fold").size().eq(600).all()
    fewer = {k: v for k, v in images_by_person.items() if k != "George_W_Bush"}
    pairs, dropped = protocols.view2(lfw.parse_pairs(lfw_root / "pairs.txt"), fewer)
    assert dropped > 0 and len(pairs) == 6000 - dropped
    assert "George_W_Bush" not in set(pairs["identity_a"]) | set(pairs["identity_b"])


def test_seed_protocol_is_deterministic_and_measures_leakage(images_by_person):
    args = dict(min_images=2, test_fraction=0.2, same_pairs=900, different_pairs=900)
    train, pairs, info = protocols.seed_protocol(images_by_person, random_seed=0, **args)
    again = protocols.seed_protocol(images_by_person, random_seed=0, **args)[1]
    other = protocols.seed_protocol(images_by_person, random_seed=1, **args)[1]
    assert pairs.equals(again) and not pairs.equals(other)
    assert (pairs["label"] == 1).sum() == 900 and (pairs["label"] == 0).sum() == 900
    assert (pairs["identity_a"] == pairs["identity_b"]).eq(pairs["label"] == 1).all()
    assert not pairs[["image_a", "image_b"]].duplicated().any()
    # split by image: no test image is a training image, but most test people are training people
    test_images = set(pairs["image_a"]) | set(pairs["image_b"])
    assert test_images.isdisjoint(set(train["image"]))
    assert info["leak_fraction"] > 0.9
    # identity-balanced same pairs: the most photographed person cannot dominate
    same = pairs[pairs["label"] == 1]
    assert same["identity_a"].value_counts().max() <= 10


def test_seed_protocol_terminates_on_tiny_sets():
    images = {p: [f"{p}/{p}_{i:04d}.jpg" for i in range(1, 4)] for p in ("A", "B", "C")}
    _, pairs, _ = protocols.seed_protocol(images, 2, 0.5, 5, 1000, 0)
    assert 0 < (pairs["label"] == 0).sum() < 1000
