"""Assembling LFW from a source: corrupt images, subsets, missing sources."""

from __future__ import annotations

import shutil
import tarfile

import pytest

from flup.config.params import ParamError
from flup.data import fetch, lfw, sources
from tests.conftest import REPO, write_params

PEOPLE = ["Abdullah_Gul", "Abdel_Nasser_Assidi", "Aaron_Peirsol", "Abdullatif_Sener"]


@pytest.fixture()
def small_lfw(tmp_path, lfw_root):
    """A folder in the deep-funneled layout: four people, pair files, one corrupt JPEG."""
    root = tmp_path / "source"
    images = root / "lfw-deepfunneled"
    for person in PEOPLE:
        shutil.copytree(lfw_root / "lfw-deepfunneled" / person, images / person)
    for name in lfw.PROTOCOL_FILES:
        shutil.copy(lfw_root / name, root / name)
    broken = images / "Aaron_Peirsol" / "Aaron_Peirsol_0002.jpg"
    broken.write_bytes(broken.read_bytes()[:3000])  # truncated mid-scan, as an interrupted copy would be
    return root


def test_folder_source_copies_valid_images_and_reports_the_corrupt_one(small_lfw, tmp_path):
    out = tmp_path / "out"
    report = fetch.assemble([small_lfw], out)
    assert report["unreadable"] == [{"image": "Aaron_Peirsol/Aaron_Peirsol_0002.jpg",
                                     "reason": "truncated JPEG (missing EOI marker)"}]
    assert not (out / "images/Aaron_Peirsol/Aaron_Peirsol_0002.jpg").exists()
    expected = sum(len(list((small_lfw / "lfw-deepfunneled" / p).glob("*.jpg"))) for p in PEOPLE) - 1
    assert report["images"] == expected == len(list((out / "images").glob("*/*.jpg")))
    assert report["people"] == 4
    # protocol files are copied verbatim; images they name that are missing are listed with file:line
    assert (out / "pairs.txt").read_bytes() == (small_lfw / "pairs.txt").read_bytes()
    missing = report["protocols"]["pairsDevTrain.txt"]["missing_images"]
    assert "pairsDevTrain.txt:2: Aaron_Peirsol/Aaron_Peirsol_0002.jpg" in missing


def test_archive_source_gives_the_same_copy(small_lfw, tmp_path):
    archive = tmp_path / "lfw.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(small_lfw, arcname="lfw")
    root = sources.resolve_source(str(archive), None, tmp_path / "cache")
    report = fetch.assemble([root], tmp_path / "out")
    assert report["people"] == 4 and len(report["unreadable"]) == 1
    assert report["missing_protocol_files"] == []


def test_decode_problem_cases(lfw_root):
    good = (lfw_root / "lfw-deepfunneled/Abdullah_Gul/Abdullah_Gul_0001.jpg").read_bytes()
    assert fetch.decode_problem(good) is None
    assert fetch.decode_problem(b"GIF89a....") == "not a JPEG (missing SOI marker)"
    assert fetch.decode_problem(good[:500]) == "truncated JPEG (missing EOI marker)"
    assert fetch.decode_problem(good[:200] + b"\x00" * 200 + b"\xff\xd9") == "undecodable JPEG"


def test_subset_keeps_whole_pairs_of_both_kinds(lfw_root):
    pairs = {name: lfw.parse_pairs(lfw_root / name) for name in lfw.PAIR_FILES}
    people = set(lfw.parse_people(lfw_root / "lfw-names.txt", has_header=False))
    chosen = fetch.select_people(pairs, people, 100)
    assert len(chosen) == 100
    assert chosen == fetch.select_people(pairs, people, 100)  # deterministic
    for name in ("pairsDevTest.txt", "pairs.txt"):
        kept = [p for p in pairs[name]
                if lfw.identity_of(p.image_a) in chosen and lfw.identity_of(p.image_b) in chosen]
        assert sum(p.same for p in kept) >= 5 and sum(not p.same for p in kept) >= 5


def test_fetch_stage_names_the_parameter_when_the_source_is_missing(tmp_path, monkeypatch):
    from stages import fetch as fetch_stage

    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    write_params(tmp_path, {"data": {"source": "no/such/lfw", "sha256": None}})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ParamError, match=r"data\.source.*no/such/lfw"):
        fetch_stage.main()
    assert not (tmp_path / "data/raw/lfw").exists()
