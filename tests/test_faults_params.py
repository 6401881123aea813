"""The parameter and data faults of issue 24's adversarial run, each pinned by a test that failed before its fix.

Pinned: datasets and LFW protocols with too few pairs of either kind are refused naming the key
(``datasets.<name>.min_pairs_per_label``, ``protocols.min_pairs_per_label``); an image over ``data.max_image_pixels``
is refused from its header, before anything decodes it; a mistyped profile cannot turn
``dvc exp run $(python -m flup.config.profiles NAME)`` into a bare ``dvc exp run``; ``datasets.<name>.face_rule`` is
required; an empty params.yaml, a missing ``datasets.<name>.root``, a source without a protocol file, an NFD folder
name, a pickled ``.npz``, a wrong ``detector.sha256`` / ``arcface.sha256`` and bad arguments to the Python API each
get a message naming the file, key or argument; no file dependency of dvc.yaml is empty (DVC warns of each).

Every input is built here, small; expected counts and messages are worked out by hand from it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import shutil
import struct
import subprocess
import sys
import unicodedata
import zlib
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml

import flup
from flup.config import load_config, run_stage
from flup.config.params import ConfigError, ParamError
from flup.config.schema import SeedProtocol
from flup.data import datasets, fetch, lfw, protocols, sources
from flup.faces import weights
from flup.obfuscation.render import RenderStore
from flup.verify import engine

REPO = Path(__file__).resolve().parents[1]
LOG = logging.getLogger("test_faults_params")


def small_jpeg(value: int = 128) -> bytes:
    """A clean 16 x 16 JPEG (it decodes without a libjpeg warning)."""
    image = np.full((16, 16, 3), value, np.uint8)
    image[4:12, 4:12] = 255 - value
    return cv2.imencode(".jpg", image)[1].tobytes()


def jpeg_declaring(width: int, height: int) -> bytes:
    """A 16 x 16 JPEG (under 1 KB) whose frame header (SOF0) declares ``width`` x ``height``."""
    data = bytearray(small_jpeg())
    sof = data.index(b"\xff\xc0")  # marker, length (2), precision (1), height (2), width (2)
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def png_declaring(width: int, height: int) -> bytes:
    """A PNG of under 100 bytes whose header (IHDR) declares ``width`` x ``height`` RGB pixels."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + \
        chunk(b"IEND", b"")


def folder_dataset(root: Path, photos_per_identity: dict[str, int]) -> Path:
    """An ``<identity>/<image>`` dataset of small PNGs."""
    for identity, count in photos_per_identity.items():
        (root / identity).mkdir(parents=True)
        for number in range(count):
            cv2.imwrite(str(root / identity / f"{number}.png"), np.full((8, 8, 3), 10 * number, np.uint8))
    return root


def dataset_entry(root: Path, **overrides) -> dict:
    return {"format": "folder", "root": str(root), "images": "img_celeba", "face_rule": "central", "same_pairs": 12,
            "different_pairs": 12, "random_seed": 0, "min_pairs_per_label": 10, **overrides}


# --- 1. pairs of one kind (or a handful) are no verdict ----------------------------------------------


def test_a_dataset_of_one_identity_is_refused_naming_the_key(tmp_path):
    # One identity with 6 photos: C(6, 2) = 15 same-person pairs possible (12 drawn), no different-person pair.
    root = folder_dataset(tmp_path / "solo", {"only_one": 6})
    with pytest.raises(ParamError) as raised:
        datasets.ingest(dataset_entry(root), tmp_path / "out", LOG, key="datasets.solo")
    assert str(raised.value) == (
        "params.yaml: datasets.solo: 12 same-person and 0 different-person pairs (asked for 12 and 12; 6 images of "
        "1 identity), fewer than datasets.solo.min_pairs_per_label = 10 of each kind, so no verdict can rest on "
        "them; add identities (different-person pairs need two) and photos (same-person pairs need two of one "
        "identity), or lower datasets.solo.min_pairs_per_label")
    assert not (tmp_path / "out").exists()


def test_a_dataset_of_one_photo_per_identity_is_refused_naming_the_key(tmp_path):
    # 8 identities of one photo: no same-person pair, 8 * 7 / 2 = 28 different-person pairs possible (12 drawn).
    root = folder_dataset(tmp_path / "singles", {f"person_{i}": 1 for i in range(8)})
    with pytest.raises(ParamError, match=r"^params\.yaml: datasets\.singles: 0 same-person and 12 different-person "
                                         r"pairs \(asked for 12 and 12; 8 images of 8 identities\), fewer than "
                                         r"datasets\.singles\.min_pairs_per_label = 10 of each kind"):
        datasets.ingest(dataset_entry(root), tmp_path / "out", LOG, key="datasets.singles")
    assert not (tmp_path / "out").exists()


def test_a_dataset_with_the_minimum_of_each_kind_is_ingested(tmp_path):
    # 4 identities x 3 photos: 4 * 3 = 12 same-person pairs possible, asked for 10 of each: the minimum, accepted.
    root = folder_dataset(tmp_path / "four", {f"person_{i}": 3 for i in range(4)})
    summary = datasets.ingest(dataset_entry(root, same_pairs=10, different_pairs=10), tmp_path / "out", LOG,
                              key="datasets.four")
    assert (summary["same_pairs"], summary["different_pairs"]) == (10, 10)
    with pytest.raises(ParamError, match=r"10 same-person and 10 different-person pairs .*fewer than "
                                         r"datasets\.four\.min_pairs_per_label = 11 of each kind"):
        datasets.ingest(dataset_entry(root, same_pairs=10, different_pairs=10, min_pairs_per_label=11),
                        tmp_path / "out2", LOG, key="datasets.four")


def lfw_raw(raw: Path, view2_different_available: bool) -> pd.DataFrame:
    """Protocol files of 12 test people (P00..P11, 3 photos each) and 2 training people; view2's 12 different-person
    pairs name people without photos unless ``view2_different_available``. Returns the detection table."""
    raw.mkdir()
    people = [f"P{i:02d}" for i in range(12)]
    (raw / "peopleDevTrain.txt").write_text("2\nTrain_A\t2\nTrain_B\t2\n")
    same = [f"{p}\t1\t2" for p in people]
    different = [f"{p}\t1\t{people[(i + 1) % 12]}\t3" for i, p in enumerate(people)]
    gone = [f"Gone_{i}\t1\tGone_{i + 1}\t1" for i in range(12)]
    (raw / "pairsDevTest.txt").write_text("\n".join(["12", *same, *different]) + "\n")
    (raw / "pairs.txt").write_text("\n".join(["1 12", *same, *(different if view2_different_available else gone)])
                                   + "\n")
    rows = [(p, lfw.image_name(p, n)) for p in people for n in (1, 2, 3)]
    rows += [(p, lfw.image_name(p, n)) for p in ("Train_A", "Train_B") for n in (1, 2)]
    return pd.DataFrame(rows, columns=["identity", "image"])


SEED = SeedProtocol(min_images=2, test_fraction=0.5, same_pairs=12, different_pairs=12, random_seed=0)


def test_an_lfw_protocol_of_one_kind_of_pair_is_refused_naming_it(tmp_path):
    faces = lfw_raw(tmp_path / "raw", view2_different_available=False)
    with pytest.raises(ParamError) as raised:  # view1: 12 + 12 pairs, accepted; view2: 12 + 0
        protocols.lfw_protocols(tmp_path / "raw", faces, SEED, 10)
    assert str(raised.value) == (
        "params.yaml: protocols: view2: 12 same-person and 0 different-person pairs, fewer than "
        "protocols.min_pairs_per_label = 10 of each kind, so no verdict can rest on them; check data.source and "
        "data.max_people (the copy or the subset keeps too few of its pairs), or lower protocols.min_pairs_per_label")
    with pytest.raises(ParamError, match=r"^params\.yaml: protocols: view1: 12 same-person and 12 different-person "
                                         r"pairs, fewer than protocols\.min_pairs_per_label = 13 of each kind"):
        protocols.lfw_protocols(tmp_path / "raw", faces, SEED, 13)


def test_the_minimum_is_a_parameter_with_a_default_of_ten(tmp_path):
    study = load_config(REPO / "params.yaml")
    assert study.protocols.min_pairs_per_label == 10
    tiny = load_config(REPO / "params.yaml", overlays=[REPO / "profiles" / "tiny.yaml"])
    assert tiny.protocols.min_pairs_per_label == 10  # the tiny study's fewest is 12 (view1's different pairs)
    text = (REPO / "params.yaml").read_text().replace("  min_pairs_per_label: 10 ", "  min_pairs_per_label: 0  ", 1)
    (tmp_path / "params.yaml").write_text(text)
    line = next(n for n, x in enumerate(text.split("\n"), start=1) if x.startswith("  min_pairs_per_label: 0 "))
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path / "params.yaml")
    assert raised.value.problems == [f"{tmp_path / 'params.yaml'}:{line}: protocols.min_pairs_per_label: expected "
                                     "an integer >= 1 (pairs of each kind), got 0"]


# --- 2. a pixel cap, read from the header before anything decodes ------------------------------------


def test_fetch_refuses_an_image_over_the_pixel_cap_before_decoding_it(tmp_path, monkeypatch):
    person = tmp_path / "source" / "Ann_Lee"
    person.mkdir(parents=True)
    (person / "Ann_Lee_0001.jpg").write_bytes(small_jpeg())
    huge = person / "Ann_Lee_0002.jpg"
    huge.write_bytes(jpeg_declaring(20_000, 20_000))  # the 400 Mpx (1.2 GB decoded), in under 1 KB
    decoded = []
    monkeypatch.setattr(fetch, "decode_problem", lambda data: decoded.append(len(data)))
    settings = load_config(REPO / "params.yaml").data.model_copy(update={"source": str(tmp_path / "source")})
    assert settings.max_image_pixels == 50_000_000
    with pytest.raises(sources.ImageTooLargeError) as raised:
        fetch.fetch_lfw(settings, tmp_path / "raw", tmp_path / "cache")
    assert str(raised.value) == (f"{huge}: 20,000 x 20,000 px = 400,000,000 pixels, over data.max_image_pixels = "
                                 "50,000,000; refused before decoding (raise data.max_image_pixels if the photo is "
                                 "genuine)")
    assert isinstance(raised.value, ParamError)  # a stage ends with its one line (run_stage), no traceback
    assert decoded == [len(small_jpeg())]  # only the small image reached a decoder
    assert not (tmp_path / "raw").exists()


def test_ingest_refuses_a_dataset_image_over_the_pixel_cap(tmp_path):
    root = folder_dataset(tmp_path / "people", {f"person_{i}": 3 for i in range(6)})
    bomb = root / "person_3" / "1.png"
    bomb.write_bytes(png_declaring(30_000, 30_000))  # 900 Mpx (2.7 GB decoded) in 68 bytes
    assert bomb.stat().st_size < 100
    with pytest.raises(sources.ImageTooLargeError) as raised:
        datasets.ingest(dataset_entry(root), tmp_path / "out", LOG, key="datasets.people")
    assert str(raised.value) == (f"{bomb}: more than 178,956,970 pixels (past Pillow's decompression-bomb limit), "
                                 "over data.max_image_pixels = 50,000,000; refused before decoding (raise "
                                 "data.max_image_pixels if the photo is genuine)")
    assert not (tmp_path / "out").exists()
    sources.check_image_pixels(bomb, 50_000_000, png_declaring(7071, 7071))  # 49,999,041 px: under the cap
    with pytest.raises(sources.ImageTooLargeError, match=r"7,072 x 7,072 px = 50,013,184 pixels, over "
                                                         r"data\.max_image_pixels = 50,000,000"):
        sources.check_image_pixels(bomb, 50_000_000, png_declaring(7072, 7072))


# --- 3. a mistyped profile cannot become a bare `dvc exp run` ----------------------------------------


@pytest.fixture
def profiles_project(tmp_path) -> Path:
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "small.yaml").write_text("evaluate:\n  n_boot: 100\n")
    (tmp_path / "profiles" / "broken.yaml").write_text("evaluate:\n  n_boot: 0\n")
    return tmp_path


@pytest.mark.slow  # a subprocess
def test_a_mistyped_profile_prints_an_option_dvc_refuses(profiles_project):
    run = subprocess.run([sys.executable, "-m", "flup.config.profiles", "smal"], cwd=profiles_project,
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert (run.returncode, run.stdout) == (2, "--no-such-profile=smal\n")
    assert run.stderr == "error: profiles/smal.yaml: no such profile (known: broken, small)\n"
    # what `dvc exp run $(python -m flup.config.profiles smal)` becomes: refused before anything runs
    dvc = shutil.which("dvc", path=str(Path(sys.executable).parent))
    refused = subprocess.run([dvc, "exp", "run", *run.stdout.split()], cwd=profiles_project, capture_output=True,
                             text=True)
    assert refused.returncode != 0
    assert "ERROR: unrecognized arguments: --no-such-profile=smal" in refused.stderr


def test_an_invalid_or_odd_profile_name_prints_one_refused_word(profiles_project, monkeypatch, capsys):
    from flup.config import profiles

    monkeypatch.chdir(profiles_project)
    for argv, stdout in ((["broken"], "--invalid-profile=broken\n"), (["ti ny*"], "--no-such-profile=ti_ny_\n"),
                         ([], "--no-such-profile=_\n")):
        with pytest.raises(SystemExit) as stopped:
            profiles.main(argv)
        assert stopped.value.code == 2
        assert capsys.readouterr().out == stdout
    with pytest.raises(SystemExit):  # --write prints no flags, so nothing a shell could hand to dvc
        profiles.main(["broken", "--write"])
    assert capsys.readouterr().out == ""
    profiles.main(["small"])
    assert capsys.readouterr().out == "-S=evaluate.n_boot=100\n"


# --- 4-6. face_rule required, an empty params.yaml, a dataset root that is not there -------------------


def test_a_dataset_without_face_rule_is_refused_at_validation(tmp_path):
    text = (REPO / "params.yaml").read_text().replace(
        "datasets: {}", "datasets: {d: {format: folder, root: x, same_pairs: 12, different_pairs: 12, "
                        "random_seed: 0}}", 1)
    (tmp_path / "params.yaml").write_text(text)
    line = next(n for n, x in enumerate(text.split("\n"), start=1) if x.startswith("datasets: {d:"))
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path / "params.yaml")
    assert raised.value.problems == [f"{tmp_path / 'params.yaml'}:{line}: datasets.d.face_rule: required key "
                                     "missing: expected 'central', 'largest_central' or 'annotated'"]


@pytest.mark.parametrize("text", ["", "# nothing but a comment\n\n"])
def test_an_empty_params_file_is_named_empty(tmp_path, text):
    (tmp_path / "params.yaml").write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path / "params.yaml")
    assert raised.value.problems == [
        f"{tmp_path / 'params.yaml'}: empty: no parameters (expected the sections data, models, detector, protocols, "
        f"render, arcface, evaluate, identification, plot, train, variants, score_model, attack, attackers); "
        f"`git checkout -- "
        f"{tmp_path / 'params.yaml'}` restores the committed one"]


def test_a_dataset_root_that_does_not_exist_names_the_key(tmp_path, monkeypatch, capsys):
    from stages import ingest

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["datasets"] = {"people": dataset_entry(Path("no/such/folder"))}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        run_stage(ingest.main, "people")
    assert stopped.value.code == 2
    assert capsys.readouterr().err == (f"error: params.yaml: datasets.people.root: 'no/such/folder' does not exist "
                                       f"(looked for {tmp_path / 'no/such/folder'})\n")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ParamError, match=r"^params\.yaml: datasets\.x\.root: .*/empty: no images in "
                                         r"<identity>/<image> folders$"):
        datasets.ingest(dataset_entry(tmp_path / "empty"), tmp_path / "out", LOG, key="datasets.x")


# --- 7-8. LFW sources: a missing protocol file, an NFD folder name ------------------------------------


def test_a_missing_protocol_file_names_it_the_source_and_the_remedy(tmp_path):
    faces = lfw_raw(tmp_path / "raw", view2_different_available=True)
    (tmp_path / "raw" / "peopleDevTrain.txt").unlink()
    with pytest.raises(ParamError) as raised:
        protocols.lfw_protocols(tmp_path / "raw", faces, SEED, 10, "/data/lfw-partial")
    raw = tmp_path / "raw"
    assert str(raised.value) == (
        "params.yaml: data.source: '/data/lfw-partial' (with data.extra_sources) has no peopleDevTrain.txt, which "
        f"the view1 protocol needs ({raw}/peopleDevTrain.txt is missing; {raw}/report.json lists what fetch found); "
        "point data.source at a full LFW copy (pairs.txt, pairsDevTrain.txt, pairsDevTest.txt, peopleDevTrain.txt, "
        "peopleDevTest.txt beside the images) or add a source holding peopleDevTrain.txt to data.extra_sources, "
        "then rerun fetch")


def test_an_nfd_folder_name_matches_its_nfc_name_in_the_pairs_file(tmp_path):
    composed = "Jos\u00e9_Maria"  # NFC, as LFW's protocol files write names
    decomposed = unicodedata.normalize("NFD", composed)  # as macOS or some archives store the folder's name
    assert decomposed != composed
    source = tmp_path / "source"
    for person, count in ((decomposed, 2), ("Ann_Lee", 1)):
        (source / person).mkdir(parents=True)
        for number in range(1, count + 1):
            (source / person / f"{person}_{number:04d}.jpg").write_bytes(small_jpeg(40 * number))
    (source / "pairsDevTest.txt").write_text(f"1\n{composed}\t1\t2\n{composed}\t1\tAnn_Lee\t1\n")
    report = fetch.assemble([source], tmp_path / "out")
    assert report["protocols"]["pairsDevTest.txt"] == {"pairs": 2, "same": 1, "missing_images": [],
                                                       "images_outside_subset": 0, "unknown_people": []}
    assert sorted(p.relative_to(tmp_path / "out" / "images").as_posix()
                  for p in (tmp_path / "out" / "images").glob("*/*.jpg")) == \
        ["Ann_Lee/Ann_Lee_0001.jpg", f"{composed}/{composed}_0001.jpg", f"{composed}/{composed}_0002.jpg"]
    nfd_pairs = tmp_path / "nfd_pairs.txt"
    nfd_pairs.write_text(f"1\n{decomposed}\t1\t2\n{decomposed}\t1\tAnn_Lee\t1\n")
    assert [p.image_a for p in lfw.parse_pairs(nfd_pairs)] == [f"{composed}/{composed}_0001.jpg"] * 2


# --- 9-10. a pickled .npz, a wrong model digest -------------------------------------------------------


def test_a_pickled_render_store_is_refused_naming_the_file(tmp_path):
    store = tmp_path / "render" / "blur" / "8.npz"
    store.parent.mkdir(parents=True)
    np.savez(store, names=np.array([{"a": 1}], dtype=object), boxes=np.zeros((1, 4), np.int32))
    refused = "refused (flup reads plain arrays only: allow_pickle=False); restore it with `dvc checkout` or " \
              "rerun the stage that writes it"
    with pytest.raises(ValueError) as raised:
        RenderStore(store)
    assert str(raised.value) == f"{store}: array 'names' holds pickled objects (an object array); {refused}"
    store.write_bytes(pickle.dumps({"names": ["a"]}))
    with pytest.raises(ValueError) as raised:
        RenderStore(store)
    assert str(raised.value) == f"{store}: a pickle, not an .npz archive; {refused}"
    embeddings = tmp_path / "arcface.npz"
    np.savez(embeddings, model=np.array("w600k_mbf.onnx:x"), keys=np.array([b"k"], dtype=object))
    with pytest.raises(ValueError, match=rf"^{embeddings}: array 'keys' holds pickled objects"):
        engine.load_embeddings(embeddings, "w600k_mbf.onnx:x")


@pytest.mark.parametrize("kind, section, filename",
                         [("detector", "detector", "det_10g.onnx"), ("recognizer", "arcface", "w600k_r50.onnx")])
def test_a_wrong_model_digest_names_the_key_and_both_digests(tmp_path, kind, section, filename):
    (tmp_path / "buffalo_l").mkdir()
    model = tmp_path / "buffalo_l" / filename
    model.write_bytes(b"not really a model")
    actual = hashlib.sha256(b"not really a model").hexdigest()
    with pytest.raises(ParamError) as raised:
        weights.resolve(kind, "buffalo_l", tmp_path, sha256_override="0" * 64, section=section)
    assert str(raised.value) == (f"params.yaml: {section}.sha256: {'0' * 64} does not match {model}, whose sha256 "
                                 f"is {actual}; give that file's digest in {section}.sha256, or put the file it "
                                 "names there")


# --- 11. the Python API checks its arguments ----------------------------------------------------------


def test_the_api_names_a_bad_argument():
    empty = np.zeros((0, 0, 3), np.uint8)
    image = np.zeros((40, 40, 3), np.uint8)
    cases = [
        (lambda: flup.detect(empty), ValueError, "image is empty: 0x0 pixels"),
        (lambda: flup.obfuscate(empty, (0, 0, 1, 1), "blur", 4), ValueError, "image is empty: 0x0 pixels"),
        (lambda: flup.embed(np.zeros((0, 5, 3), np.uint8), np.zeros((5, 2))), ValueError,
         "image is empty: 5x0 pixels"),
        (lambda: flup.obfuscate(image, (5, 5, 30, 30), "blur", 4, region="2"), TypeError,
         "region must be a number > 0 (the face-box scale factor, 1.0 = the box), got '2' (str)"),
        (lambda: flup.obfuscate(image, (5, 5, 30, 30), "blur", 4, region=0.0), ValueError,
         "region must be a finite number > 0 (the face-box scale factor), got 0.0"),
        (lambda: flup.obfuscate(image, None, "blur", 4), TypeError,
         "box must be (x1, y1, x2, y2) or a flup.Face, got None (did flup.detect find no face?)"),
        (lambda: flup.obfuscate(image, (5, 5, 30), "blur", 4), TypeError,
         "box must be (x1, y1, x2, y2) or a flup.Face: four numbers, got (5, 5, 30)"),
        (lambda: flup.obfuscate(image, (5, 5, 30, float("nan")), "blur", 4), ValueError,
         "box must be four finite numbers, got (5, 5, 30, nan)"),
        (lambda: flup.evaluate([0.1, 0.9, 0.2, 0.8], [0, 1, 0, 1], n_boot=2.5), TypeError,
         "n_boot must be an integer >= 1 (bootstrap replicates), got 2.5 (float)"),
        (lambda: flup.evaluate([0.1, 0.9, 0.2, 0.8], [0, 1, 0, 1], n_boot=0), ValueError,
         "n_boot must be an integer >= 1 (bootstrap replicates), got 0"),
    ]
    for call, error, message in cases:
        with pytest.raises(error) as raised:
            call()
        assert str(raised.value) == message
    assert flup.evaluate([0.1, 0.9, 0.2, 0.8], [0, 1, 0, 1], n_boot=np.int64(20))["auc"] == 1.0
    assert flup.obfuscate(image, np.array([5, 5, 30, 30]), "blackbox", 1, region=np.float32(1))[5:30, 5:30].max() == 0


# --- 12. no empty file among dvc.yaml's dependencies ---------------------------------------------------


def test_no_file_dependency_of_dvc_yaml_is_empty():
    """DVC warns "'<file>' is empty" on every call for each one (flup/obfuscation/__init__.py was)."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    deps = {dep if isinstance(dep, str) else next(iter(dep))
            for stage in stages.values() for dep in (stage.get("do", stage).get("deps") or [])}
    files = sorted(d for d in deps if "${" not in d and (REPO / d).is_file())
    assert "flup/obfuscation/__init__.py" in files
    assert [f for f in files if (REPO / f).stat().st_size == 0] == []
    for package in ("flup/obfuscation", "flup/data", "flup/faces"):
        assert (REPO / package / "__init__.py").read_text().startswith('"""'), package
