"""Evaluation-only datasets: CelebA / identity-folder readers, balanced pairs, face rules, params."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flup.data import datasets, protocols
from flup.faces import detection as faces
from tests.conftest import MISSING_CELEBA_IMAGES, make_celeba, make_identity_folder


@pytest.fixture(scope="module")
def celeba(tmp_path_factory, lfw_root) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("celeba")
    return root, make_celeba(root, lfw_root)


def test_celeba_partial_copy_is_indexed_with_problems_named(celeba):
    root, truth = celeba
    index = datasets.read_celeba(root, "img_celeba")
    assert index.root == root / "Img" / "img_celeba"
    assert dict(zip(index.frame["image"], index.frame["identity"], strict=True)) == truth
    summary = index.summary()
    assert (summary["images_listed"], summary["images_found"], summary["images_missing"]) == (50, 48, 2)
    assert summary["identities"] == 16 and summary["annotated_boxes"] == 48
    identity_file = root / "Anno" / "identity_CelebA.txt"
    assert f"{identity_file}:6: expected an image name and 1 value(s), got 'this line is malformed'" in index.problems
    # listed images absent from disk are what a partial copy is, counted in index.coverage(), not problems
    assert not any(name in problem for problem in index.problems for name in MISSING_CELEBA_IMAGES)
    # CelebA boxes are x, y, width, height; the index holds corners.
    first = index.frame.iloc[0]
    assert (first.box_x1, first.box_y1, first.box_x2, first.box_y2) == (75, 65, 175, 185)
    assert set(index.frame["partition"]) == {"2"}


def test_aligned_images_ignore_the_in_the_wild_boxes(celeba):
    root, _ = celeba
    aligned = root / "Img" / "img_align_celeba"
    aligned.mkdir(exist_ok=True)
    for image in sorted((root / "Img" / "img_celeba").iterdir())[:4]:
        (aligned / image.name).write_bytes(image.read_bytes())
    index = datasets.read_celeba(root, "img_align_celeba")
    assert len(index.frame) == 4 and index.frame["box_x1"].isna().all()


def test_torchvision_layout_is_found(tmp_path):
    flat = tmp_path / "celeba"
    (flat / "img_align_celeba").mkdir(parents=True)
    (flat / "img_align_celeba" / "000001.jpg").write_bytes(b"jpeg")
    (flat / "identity_CelebA.txt").write_text("000001.jpg 7\n000002.jpg 8\n")
    index = datasets.read_celeba(tmp_path, "img_align_celeba")
    assert index.frame["identity"].tolist() == ["celeba_7"] and index.listed == 2


def test_missing_celeba_names_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError, match="Img/img_celeba/ with Anno/identity_CelebA.txt"):
        datasets.read_celeba(tmp_path, "img_celeba")
    with pytest.raises(ValueError, match="img_wild"):
        datasets.read_celeba(tmp_path, "img_wild")


def test_identity_folder(tmp_path, lfw_root):
    truth = make_identity_folder(tmp_path / "people", lfw_root, count=5, per_person=2)
    (tmp_path / "people" / "stray.jpg").write_bytes(b"x")
    index = datasets.read_folder(tmp_path / "people")
    assert dict(zip(index.frame["image"], index.frame["identity"], strict=True)) == truth
    assert index.problems == [f"{tmp_path / 'people' / 'stray.jpg'}: not in an identity folder; skipped"]
    (tmp_path / "empty" / "someone").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no images in <identity>/<image> folders"):
        datasets.read_folder(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="not a folder"):
        datasets.read_folder(tmp_path / "nowhere")


def fake_torchvision_celeba(identities: dict[str, int], skip: tuple[str, ...] = ()):
    """A stand-in for ``torchvision.datasets.CelebA`` that leaves on disk what the real download leaves: the files
    of torchvision's own ``CelebA.file_list`` under ``<root>/<CelebA.base_folder>``, the image zip extracted to
    ``img_align_celeba/`` (files named in ``skip`` are left out, as an interrupted download would)."""
    from torchvision.datasets import CelebA as Real

    contents = {
        "identity_CelebA.txt": "".join(f"{name} {who}\n" for name, who in identities.items()),
        "list_eval_partition.txt": "".join(f"{name} {i % 3}\n" for i, name in enumerate(identities)),
        "list_bbox_celeba.txt": f"{len(identities)}\nimage_id x_1 y_1 width height\n"
                                + "".join(f"{name} 95 71 226 313\n" for name in identities),
    }

    class FakeCelebA:
        def __init__(self, root, split, target_type, download):
            assert download and split == "all" and "identity" in target_type
            base = Path(root) / Real.base_folder
            (base / "img_align_celeba").mkdir(parents=True)
            for name in identities:
                (base / "img_align_celeba" / name).write_bytes(b"jpeg")
            for _, _, filename in Real.file_list:
                if not filename.endswith(".zip") and filename not in skip:
                    (base / filename).write_text(contents.get(filename, "header only\n"))

    return FakeCelebA


def test_what_the_torchvision_download_leaves_is_readable(monkeypatch, tmp_path):
    """download_celeba's folder, read with the image set its docstring names, gives the downloaded identities."""
    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "CelebA", fake_torchvision_celeba({"000001.jpg": 7, "000002.jpg": 7,
                                                                                   "000003.jpg": 9}))
    root = datasets.download_celeba(tmp_path / "CelebA")
    index = datasets.read_celeba(root, "img_align_celeba")
    assert index.root == tmp_path / "CelebA" / "celeba" / "img_align_celeba"
    assert index.frame[["image", "identity", "partition"]].values.tolist() == [
        ["000001.jpg", "celeba_7", "0"], ["000002.jpg", "celeba_7", "1"], ["000003.jpg", "celeba_9", "2"]]
    assert index.frame["box_x1"].isna().all()  # the boxes belong to the in-the-wild photos, not the aligned crops
    assert index.problems == []
    # torchvision fetches only the aligned crops: asking for the in-the-wild photos says where it looked
    with pytest.raises(FileNotFoundError, match=r"celeba/img_celeba/ with celeba/identity_CelebA\.txt"):
        datasets.read_celeba(root, "img_celeba")


def test_an_interrupted_torchvision_download_is_refused_by_name(monkeypatch, tmp_path):
    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "CelebA",
                        fake_torchvision_celeba({"000001.jpg": 7}, skip=("identity_CelebA.txt",)))
    root = datasets.download_celeba(tmp_path)
    where = rf"{re.escape(str(tmp_path))}: no CelebA found .*celeba/identity_CelebA\.txt"
    with pytest.raises(FileNotFoundError, match=where):
        datasets.read_celeba(root, "img_align_celeba")


def _index(sizes: dict[str, int]) -> pd.DataFrame:
    rows = [(f"{person}/{i}.jpg", person) for person, n in sizes.items() for i in range(n)]
    return pd.DataFrame(rows, columns=["image", "identity"])


def test_evaluation_pairs_obey_identity_rules_and_balance():
    # One person with 200 photos among 30 with 3: balance keeps them from dominating either side.
    sizes = {"prolific": 200, **{f"p{i:02d}": 3 for i in range(30)}}
    pairs = protocols.evaluation_pairs(_index(sizes), 60, 60, random_seed=1)
    same, different = pairs[pairs["label"] == 1], pairs[pairs["label"] == 0]
    assert len(same) == 60 and len(different) == 60
    assert (same["identity_a"] == same["identity_b"]).all()
    assert (different["identity_a"] != different["identity_b"]).all()
    for table in (same, different):
        assert (table["image_a"].str.split("/").str[0] == table["identity_a"]).all()
    assert not pairs[["image_a", "image_b"]].duplicated().any()
    assert Counter(same["identity_a"])["prolific"] <= 2  # 60 pairs over 31 people: two turns at most
    appearances = Counter(different["identity_a"]) + Counter(different["identity_b"])
    assert appearances["prolific"] <= 12  # image-uniform drawing would put them in ~2/3 of the pairs
    assert pairs.equals(protocols.evaluation_pairs(_index(sizes), 60, 60, random_seed=1))
    assert not pairs.equals(protocols.evaluation_pairs(_index(sizes), 60, 60, random_seed=2))


def test_evaluation_pairs_stop_at_what_is_possible():
    pairs = protocols.evaluation_pairs(_index({"a": 2, "b": 1}), 10, 10, random_seed=0)
    assert (pairs["label"] == 1).sum() == 1 and (pairs["label"] == 0).sum() == 2


def _face(box) -> faces.Face:
    return faces.Face(np.array(box, dtype=float), 0.9, np.zeros((5, 2)))


def test_face_rules():
    shape = (200, 300, 3)
    small_centre = _face((140, 90, 160, 110))
    big_corner = _face((0, 0, 80, 80))
    big_centre = _face((110, 60, 190, 140))
    candidates = [small_centre, big_corner, big_centre]
    assert faces.choose_face(candidates, shape, "central") == (0, "central")
    assert faces.choose_face(candidates, shape, "largest_central") == (2, "largest_central")
    assert faces.choose_face([small_centre, big_corner], shape, "largest_central") == (0, "largest_central")
    assert faces.choose_face(candidates, shape, "annotated", np.array([2, 2, 78, 82.0])) == (1, "annotated")
    # No annotation, or none a detection matches: the largest central face, and the row says so.
    assert faces.choose_face(candidates, shape, "annotated", np.full(4, np.nan)) == (2, "largest_central")
    assert faces.choose_face(candidates, shape, "annotated", np.array([250, 150, 299, 199.0]))[1] == "largest_central"
    assert faces.face_row([], shape, "annotated")["status"] == "no_face"
    with pytest.raises(ValueError, match="face rule"):
        faces.choose_face(candidates, shape, "biggest")


