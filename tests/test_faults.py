"""The faults found by the adversarial run of issue 11, each pinned by a test that failed before its fix.

Expected values are worked out by hand from the inputs each test builds (sizes, counts, which face lies
where), never recomputed with the code under test.
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
import yaml
from torch import nn

from flup import io as fio
from flup.config.params import ParamError
from flup.data import datasets, fetch, sources
from flup.faces import weights
from flup.faces.detection import BOX_COLUMNS, Detector
from flup.models import trainer
from flup.training import weight_files
from flup.training.checkpoint import CHECKPOINT, CHECKPOINT_FORMAT, load_checkpoint
from flup.training.holdout import split_identities
from flup.verify import recognition
from tests.conftest import make_celeba

REPO = Path(__file__).resolve().parents[1]


# --- atomic_path: concurrent rewrites, staging that a kill strands ----------------------------------


def _rewrite_dir(target: str, tag: str, files: int = 5) -> None:
    with fio.atomic_path(target) as tmp:
        tmp.mkdir()
        for i in range(files):
            (tmp / f"part{i}.txt").write_text(tag)


def _rewrite_many(args: tuple[str, str, int]) -> list[str]:
    target, tag, times = args
    errors = []
    for n in range(times):
        try:
            _rewrite_dir(target, f"{tag}-{n}")
        except Exception as error:  # noqa: BLE001 - every failure is the finding
            errors.append(f"{type(error).__name__}: {error}")
    return errors


# The same rewrite loop in a fresh interpreter that imports flup.io alone (spawning this test module
# would import torch and OpenCV in every worker).
_REWRITER = """
import sys
from pathlib import Path
from flup.io import atomic_path
target, tag, times = sys.argv[1], sys.argv[2], int(sys.argv[3])
for n in range(times):
    try:
        with atomic_path(target) as tmp:
            tmp.mkdir()
            for i in range(5):
                (tmp / f"part{i}.txt").write_text(f"{tag}-{n}")
    except Exception as error:
        print(f"{type(error).__name__}: {error}")
"""


def _assert_one_whole_output(target: Path) -> None:
    """The output is one writer's complete directory, and no staging or old copy is left beside it."""
    contents = {p.name: p.read_text() for p in target.iterdir()}
    assert sorted(contents) == [f"part{i}.txt" for i in range(5)]
    assert len(set(contents.values())) == 1, contents
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]


@pytest.mark.slow  # a subprocess
def test_concurrent_processes_rewriting_one_directory_all_succeed(tmp_path):
    # Before: rmtree-then-replace; 10 of 60 concurrent rewrites failed (ENOTEMPTY, FileNotFoundError).
    target = tmp_path / "out" / "render"
    # Each starts its loop once flup.io is imported, so the 4 x 15 rewrites overlap.
    writers = [subprocess.Popen([sys.executable, "-c", _REWRITER, str(target), f"p{i}", "15"], cwd=REPO,
                                stdout=subprocess.PIPE, text=True) for i in range(4)]
    errors = [line for writer in writers for line in writer.communicate(timeout=300)[0].splitlines()]
    assert [writer.returncode for writer in writers] == [0] * 4
    assert errors == []
    _assert_one_whole_output(target)


def test_concurrent_threads_rewriting_one_directory_all_succeed(tmp_path):
    target = tmp_path / "out" / "render"
    errors: list[str] = []
    threads = [threading.Thread(target=lambda i=i: errors.extend(_rewrite_many((str(target), f"t{i}", 15))))
               for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    _assert_one_whole_output(target)


def test_file_output_replaced_by_a_directory_and_back(tmp_path):
    target = tmp_path / "thing"
    fio.write_json(target, {"a": 1})
    _rewrite_dir(target, "dir")
    assert target.is_dir()
    fio.write_json(target, {"b": 2})
    assert fio.read_json(target) == {"b": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thing"]


_KILLED_WRITER = """
import os, signal, sys
from flup.io import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    tmp.mkdir()
    (tmp / "blur").mkdir()
    (tmp / "blur" / "4.npz").write_bytes(b"half a store")
    os.kill(os.getpid(), signal.SIGKILL)
"""


def _killed_writer(target: Path) -> None:
    done = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(target)], cwd=REPO, check=False)
    assert done.returncode == -signal.SIGKILL


@pytest.mark.slow  # a subprocess
def test_staging_stranded_by_sigkill_is_removed_by_the_next_run(tmp_path):
    data = tmp_path / "data"
    target = data / "render"
    _killed_writer(target)
    stranded = [p for p in data.iterdir() if p.name != "render"]
    assert len(stranded) == 1 and stranded[0].name.startswith(".render.")  # the kill left partial files
    assert list(stranded[0].rglob("4.npz"))
    _rewrite_dir(target, "second run")
    assert sorted(p.name for p in data.iterdir()) == ["render"]  # the next run cleaned it up
    assert (target / "part0.txt").read_text() == "second run"


def test_staging_left_by_the_old_atomic_path_is_removed(tmp_path):
    # flup before the fix staged in tempfile.mkdtemp(prefix=".render."): ".render.<8 chars>/render/".
    legacy = tmp_path / ".render.k2x_9qab" / "render" / "blur"
    legacy.mkdir(parents=True)
    (legacy / "4.npz").write_bytes(b"half a store")
    unrelated = tmp_path / ".render.notes"  # not a staging folder's name: left alone
    unrelated.mkdir()
    _rewrite_dir(tmp_path / "render", "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".render.notes", "render"]


def test_live_writers_staging_is_never_cleaned(tmp_path):
    target = tmp_path / "render"
    entered, release = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def slow_writer():
        try:
            with fio.atomic_path(target) as tmp:
                tmp.mkdir()
                entered.set()
                release.wait(30)
                for i in range(5):
                    (tmp / f"part{i}.txt").write_text("slow")
        except BaseException as error:  # noqa: BLE001
            failures.append(error)

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert entered.wait(30)
    _rewrite_dir(target, "fast")  # must not remove the slow writer's staging folder
    release.set()
    thread.join()
    assert failures == []
    assert (target / "part0.txt").read_text() == "slow"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["render"]


def test_failed_writer_leaves_the_old_output_and_no_staging(tmp_path):
    target = tmp_path / "render"
    _rewrite_dir(target, "old")
    with pytest.raises(RuntimeError), fio.atomic_path(target) as tmp:
        tmp.mkdir()
        raise RuntimeError("stage failed")
    assert (target / "part0.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["render"]


def test_staging_folder_is_named_after_the_output(tmp_path):
    with fio.atomic_path(tmp_path / "render") as tmp:
        assert tmp.parent.parent == tmp_path and tmp.parent.name.startswith(".render.")
        tmp.write_text("x")
    assert os.listdir(tmp_path) == ["render"]


# --- size caps on downloads and archives; truncated archives -----------------------------------------

MIB = 1 << 20


class _EndlessHandler(BaseHTTPRequestHandler):
    """200 with no Content-Length, then zeros until the client hangs up (or a 256 MiB safety stop)."""

    sent: ClassVar[list[int]] = []
    declared_length: ClassVar[int | None] = None

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if self.declared_length is not None:
            self.send_header("Content-Length", str(self.declared_length))
        self.end_headers()
        chunk, sent = bytes(64 * 1024), 0
        try:
            while sent < 256 * MIB:
                self.wfile.write(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.sent.append(sent)


@pytest.fixture
def endless_server():
    def start(declared_length: int | None = None):
        handler = type("Handler", (_EndlessHandler,), {"sent": [], "declared_length": declared_length})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        servers.append((httpd, thread))
        return f"http://127.0.0.1:{httpd.server_address[1]}", handler.sent

    servers: list = []
    yield start
    for httpd, thread in servers:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def test_endless_download_stops_at_the_cap_and_leaves_no_part(endless_server, tmp_path):
    # Before: an endless body filled a 1.8 GB .part in 5 s.
    base, sent = endless_server()
    url = f"{base}/lfw.tgz"
    dest = tmp_path / "downloads" / "lfw.tgz"
    with pytest.raises(sources.SizeLimitError) as caught:
        sources.download(url, dest, "0" * 64, max_bytes=MIB, cap_name="data.max_download_mb = 1")
    message = str(caught.value)
    assert message.startswith(f"{url}: ") and "1,048,576-byte cap" in message and "data.max_download_mb = 1" in message
    assert sorted(p.name for p in dest.parent.iterdir()) == []  # no .part left, no dest
    time.sleep(0.2)
    assert not sent or sent[0] < 64 * MIB  # the client hung up long before the safety stop


def test_declared_length_over_the_cap_is_refused_before_reading(endless_server, tmp_path):
    base, _ = endless_server(declared_length=5 * (1 << 30))
    url = f"{base}/big.tgz"
    with pytest.raises(sources.SizeLimitError, match=r"5,368,709,120 bytes.*over.*1,048,576"):
        sources.download(url, tmp_path / "big.tgz", "0" * 64, max_bytes=MIB)
    assert list(tmp_path.iterdir()) == []


def test_url_source_names_the_download_cap_parameter(endless_server, tmp_path):
    base, _ = endless_server()
    limits = sources.SizeLimits(max_download_mb=1)
    with pytest.raises(sources.SizeLimitError, match=r"data\.max_download_mb = 1\b"):
        sources.resolve_source(f"{base}/lfw.tgz", "0" * 64, tmp_path / "cache", limits=limits)
    assert list((tmp_path / "cache" / "downloads").iterdir()) == []


def _tgz(path: Path, members: dict[str, int]) -> Path:
    """A .tgz of zero-filled members ``{name: size}``: highly compressible, small on disk."""
    with tarfile.open(path, "w:gz") as tar:
        for name, size in members.items():
            info = tarfile.TarInfo(name)
            info.size = size
            tar.addfile(info, io.BytesIO(bytes(size)))
    return path


def _zip(path: Path, members: dict[str, int]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, size in members.items():
            zf.writestr(name, bytes(size))
    return path


@pytest.mark.parametrize("make", [_tgz, _zip], ids=["tgz", "zip"])
def test_archive_member_over_the_cap_is_refused_and_nothing_written(make, tmp_path):
    # 3 MiB of zeros packs into a few KiB; with max_member_mb = 1 (1,048,576 bytes) it must be refused.
    archive = make(tmp_path / f"bomb.{'tgz' if make is _tgz else 'zip'}", {"lfw/a.jpg": 10, "lfw/big.bin": 3 * MIB})
    assert archive.stat().st_size < 64 * 1024
    limits = sources.SizeLimits(max_member_mb=1)
    with pytest.raises(sources.SizeLimitError) as caught:
        sources.resolve_source(str(archive), None, tmp_path / "cache", limits=limits)
    message = str(caught.value)
    assert str(archive) in message and "'lfw/big.bin'" in message
    assert "3,145,728 bytes" in message and "data.max_member_mb = 1" in message
    assert not (tmp_path / "cache" / "extracted").exists() or not any((tmp_path / "cache" / "extracted").iterdir())


@pytest.mark.parametrize("make", [_tgz, _zip], ids=["tgz", "zip"])
def test_archive_total_over_the_cap_is_refused(make, tmp_path):
    # Three members of 0.75 MiB: each under a 1 MiB member cap, 2,359,296 bytes in all over a 2 MiB total cap.
    archive = make(tmp_path / f"many.{'tgz' if make is _tgz else 'zip'}",
                   {f"lfw/part{i}.bin": 3 * MIB // 4 for i in range(3)})
    limits = sources.SizeLimits(max_member_mb=1, max_extract_mb=2)
    with pytest.raises(sources.SizeLimitError, match=r"2,359,296 bytes.*2,097,152.*data\.max_extract_mb = 2"):
        sources.extract_archive(archive, tmp_path / "out", limits=limits)
    assert sorted(p.name for p in tmp_path.iterdir()) == [archive.name]


def test_default_member_cap_stops_a_65_mib_member(tmp_path):
    archive = _tgz(tmp_path / "bomb.tgz", {"lfw/big.bin": 65 * MIB})
    with pytest.raises(sources.SizeLimitError, match=r"68,157,440 bytes.*data\.max_member_mb = 64"):
        sources.extract_archive(archive, tmp_path / "out")


def test_archives_within_the_caps_extract(tmp_path):
    members = {"lfw/a.bin": 1000, "lfw/b/c.bin": 2000}
    for make, name in ((_tgz, "ok.tgz"), (_zip, "ok.zip")):
        out = sources.extract_archive(make(tmp_path / name, members), tmp_path / name.replace(".", "_"),
                                      limits=sources.SizeLimits(max_member_mb=1, max_extract_mb=1))
        assert {p.relative_to(out).as_posix(): p.stat().st_size for p in out.rglob("*.bin")} == members


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_truncated_tgz_names_the_archive(cut, tmp_path):
    # Before: a bare EOFError ("Compressed file ended before the end-of-stream marker was reached").
    # Random bytes do not compress: the cut lands inside member data, not in a run of zeros
    rng = np.random.default_rng(0)
    with tarfile.open(tmp_path / "whole.tgz", "w:gz") as tar:
        for i in range(4):
            data = rng.integers(0, 256, 50_000, dtype=np.uint8).tobytes()
            info = tarfile.TarInfo(f"lfw/p{i}.bin")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    whole = (tmp_path / "whole.tgz").read_bytes()
    archive = tmp_path / "lfw.tgz"
    archive.write_bytes(whole[: int(len(whole) * cut)])
    with pytest.raises(sources.ArchiveError) as caught:
        sources.resolve_source(str(archive), None, tmp_path / "cache")
    message = str(caught.value)
    assert message.startswith(f"{archive}: ") and "truncated or corrupt" in message
    extracted = tmp_path / "cache" / "extracted"
    assert not extracted.exists() or sorted(p.name for p in extracted.iterdir()) == []


# --- truncated JPEG that still ends in FF D9; pairs naming unknown people ---------------------------


def _lfw_image(lfw_root: Path, person: str = "Abdullah_Gul", number: int = 1) -> bytes:
    return (lfw_root / "lfw-deepfunneled" / person / f"{person}_{number:04d}.jpg").read_bytes()


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_jpeg_cut_mid_scan_but_ending_in_eoi_is_corrupt(lfw_root, keep):
    # Before: accepted (libjpeg fills the missing rows flat grey and only says so on stderr).
    good = _lfw_image(lfw_root)
    cut = good[: int(len(good) * keep)] + b"\xff\xd9"
    assert cut[:2] == b"\xff\xd8" and cut[-2:] == b"\xff\xd9"  # both markers there: only the scan is short
    assert fetch.decode_problem(cut) == "corrupt JPEG (Corrupt JPEG data: premature end of data segment)"
    assert fetch.decode_problem(good) is None


def test_corrupt_jpeg_is_excluded_by_assemble(lfw_root, tmp_path):
    root = tmp_path / "source" / "lfw-deepfunneled" / "Abdullah_Gul"
    root.mkdir(parents=True)
    for number in (1, 2):
        (root / f"Abdullah_Gul_{number:04d}.jpg").write_bytes(_lfw_image(lfw_root, number=number))
    second = root / "Abdullah_Gul_0002.jpg"
    second.write_bytes(second.read_bytes()[:4000] + b"\xff\xd9")
    report = fetch.assemble([tmp_path / "source"], tmp_path / "out")
    assert report["unreadable"] == [{"image": "Abdullah_Gul/Abdullah_Gul_0002.jpg",
                                     "reason": "corrupt JPEG (Corrupt JPEG data: premature end of data segment)"}]
    assert sorted(p.name for p in (tmp_path / "out" / "images" / "Abdullah_Gul").iterdir()) == ["Abdullah_Gul_0001.jpg"]


@pytest.fixture
def lfw_with_unknown_people(lfw_root, tmp_path) -> Path:
    """Two real people and a pairs file whose lines 2 and 3 name people that exist nowhere."""
    root = tmp_path / "source"
    for person in ("Aaron_Peirsol", "Abdullah_Gul"):
        shutil.copytree(lfw_root / "lfw-deepfunneled" / person, root / "lfw-deepfunneled" / person)
    (root / "lfw-names.txt").write_text("Aaron_Peirsol\t4\nAbdullah_Gul\t19\n")
    (root / "pairs.txt").write_text(
        "1\t2\n"  # one fold of 2 same-person then 2 different-person pairs
        "Nobody_Here\t1\t2\n"  # line 2: same-person pair of a person who does not exist
        "Abdullah_Gul\t1\t2\n"
        "Aaron_Peirsol\t1\tGhost_Person\t1\n"  # line 4: one real, one unknown
        "Abdullah_Gul\t3\tAaron_Peirsol\t2\n"
    )
    return root


def test_pair_naming_an_unknown_person_is_a_warning_not_outside_the_subset(lfw_with_unknown_people, tmp_path):
    # Before: the three images of unknown people were counted as "outside the subset" with max_people: null.
    pairs_file = lfw_with_unknown_people / "pairs.txt"
    report = fetch.assemble([lfw_with_unknown_people], tmp_path / "out", max_people=None)
    info = report["protocols"]["pairs.txt"]
    assert info["images_outside_subset"] == 0
    assert info["missing_images"] == []
    assert info["unknown_people"] == [
        f"{pairs_file}:2: unknown person 'Nobody_Here' (no folder in the source, not in lfw-names.txt)",
        f"{pairs_file}:4: unknown person 'Ghost_Person' (no folder in the source, not in lfw-names.txt)",
    ]


def test_subset_still_counts_real_people_outside_it(lfw_with_unknown_people, tmp_path):
    report = fetch.assemble([lfw_with_unknown_people], tmp_path / "out", max_people=2)
    assert report["protocols"]["pairs.txt"]["images_outside_subset"] == 0  # both real people fit in 2
    # a person listed in lfw-names.txt whose folder is absent is missing, not unknown and not outside
    (lfw_with_unknown_people / "lfw-names.txt").write_text("Aaron_Peirsol\t4\nAbdullah_Gul\t19\nGhost_Person\t1\n")
    info = fetch.assemble([lfw_with_unknown_people], tmp_path / "out2")["protocols"]["pairs.txt"]
    assert info["missing_images"] == ["pairs.txt:4: Ghost_Person/Ghost_Person_0001.jpg"]
    assert [u.split(": ", 1)[1] for u in info["unknown_people"]] == [
        "unknown person 'Nobody_Here' (no folder in the source, not in lfw-names.txt)"]


def test_fetch_stage_warns_about_unknown_people_with_file_and_line(lfw_with_unknown_people, tmp_path, monkeypatch,
                                                                    caplog):
    from stages import fetch as fetch_stage

    work = tmp_path / "work"
    work.mkdir()
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data"].update(source=str(lfw_with_unknown_people), sha256=None, max_people=None)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    monkeypatch.chdir(work)
    with caplog.at_level(logging.WARNING):
        fetch_stage.main()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    pairs_file = lfw_with_unknown_people / "pairs.txt"
    assert f"{pairs_file}:2: unknown person 'Nobody_Here' (no folder in the source, not in lfw-names.txt)" in warnings
    assert f"{pairs_file}:4: unknown person 'Ghost_Person' (no folder in the source, not in lfw-names.txt)" in warnings


# --- model and checkpoint files ---------------------------------------------------------------------


class _TinyDual(nn.Module):
    """A dual-stream stand-in small enough to train in milliseconds (8x8 inputs, 4-d embeddings)."""

    def __init__(self) -> None:
        super().__init__()
        self.blur_net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4))
        self.sharp_net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4))

    def embed_blurred(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.blur_net(x), dim=1)

    def embed_sharp(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.sharp_net(x), dim=1)


class _Pixels(torch.utils.data.Dataset):
    """Eight fixed quadruplets of random uint8 8x8 images (the same for every epoch)."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, key) -> dict:
        _, index = key if isinstance(key, tuple) else (0, key)
        out = {}
        for j, name in enumerate(trainer.INPUT_KEYS):
            generator = torch.Generator().manual_seed(4 * index + j)
            out[name] = torch.randint(0, 256, (3, 8, 8), dtype=torch.uint8, generator=generator)
        return out


_CFG = {"epochs": 2, "batch_size": 4, "lr": 1e-2, "seed": 0, "device": "cpu", "feed": "cpu", "num_workers": 0}


def _tiny() -> _TinyDual:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        return _TinyDual()


def _train(out: Path, epochs: int) -> tuple[_TinyDual, list[dict]]:
    net = _tiny()
    history = trainer.train(net, _Pixels(), None, {**_CFG, "epochs": epochs}, out)
    return net, history


def _same_weights(a: nn.Module, b: nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


def _full_text(error: BaseException | None) -> str:
    """The messages a user sees of an uncaught error: its own and every chained exception shown."""
    shown = []
    while error is not None:
        shown.append(f"{type(error).__name__}: {error}")
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    return "\n".join(shown)


@pytest.fixture
def pickled_checkpoint(tmp_path) -> Path:
    path = tmp_path / "run" / CHECKPOINT
    path.parent.mkdir()
    torch.save({"format": CHECKPOINT_FORMAT, "epoch": 1, "model": nn.Linear(2, 2)}, path)
    return path


def test_pickle_checkpoint_names_the_file_and_never_suggests_weights_only_false(pickled_checkpoint):
    # Before: torch's "Re-running `torch.load` with `weights_only` set to `False` will likely succeed".
    with pytest.raises(weight_files.WeightsFileError) as caught:
        load_checkpoint(pickled_checkpoint)
    assert str(caught.value).startswith(f"{pickled_checkpoint}: ")
    assert "refusing to unpickle" in str(caught.value)
    assert "weights_only" not in _full_text(caught.value)


def test_pickle_weights_file_never_suggests_weights_only_false(tmp_path):
    path = tmp_path / "module.pt"
    torch.save(nn.Linear(2, 2), path)
    with pytest.raises(weight_files.WeightsFileError) as caught:
        weight_files.load_weights(nn.Linear(2, 2), path)
    assert str(caught.value).startswith(f"{path}: ") and "weights_only" not in _full_text(caught.value)


@pytest.mark.parametrize("payload", ["torch", "pickle"])
def test_pickle_named_model_safetensors_names_the_file(tmp_path, payload):
    # Before: "SafetensorError: Error while deserializing header: header too large", no file named.
    path = tmp_path / "model.safetensors"
    if payload == "torch":
        torch.save(nn.Linear(2, 2).state_dict(), path)
    else:
        path.write_bytes(pickle.dumps({"weight": [1.0, 2.0]}))
    with pytest.raises(weight_files.WeightsFileError) as caught:
        weight_files.load_weights(nn.Linear(2, 2), path)
    message = str(caught.value)
    assert message.startswith(f"{path}: not a safetensors file")
    assert "pickle" in message and "weights_only" not in _full_text(caught.value)


def test_truncated_checkpoint_names_the_file(tmp_path):
    # Before: "PytorchStreamReader failed reading zip archive: failed finding central directory", no file named.
    _train(tmp_path / "run", 1)
    path = tmp_path / "run" / CHECKPOINT
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(weight_files.WeightsFileError) as caught:
        load_checkpoint(path)
    assert str(caught.value).startswith(f"{path}: truncated or corrupt")
    with pytest.raises(weight_files.WeightsFileError, match=re.escape(f"{path}: truncated or corrupt")):
        weight_files.load_weights(_tiny(), path)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "pickle"])
def test_corrupt_checkpoint_is_discarded_with_a_warning_and_training_starts_over(tmp_path, caplog, damage,
                                                                                  pickled_checkpoint):
    # Before: every later run failed on the checkpoint until someone deleted it by hand.
    fresh, fresh_history = _train(tmp_path / "fresh", 2)
    out = tmp_path / "run"
    checkpoint = out / CHECKPOINT  # holds the pickle of pickled_checkpoint
    if damage == "truncated":
        checkpoint.unlink()
        _train(out, 1)
        checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    elif damage == "garbage":
        checkpoint.write_bytes(b"not a checkpoint at all")
    bad = checkpoint.read_bytes()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        net, history = _train(out, 2)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith(f"{checkpoint}: ") and "training starts over" in warnings[0]
    assert [h["epoch"] for h in history] == [1, 2] and history == fresh_history
    assert _same_weights(net, fresh)  # exactly a fresh run, nothing of the damaged file
    assert (out / (CHECKPOINT + ".discarded")).read_bytes() == bad  # moved aside, kept to inspect
    assert load_checkpoint(checkpoint)["epoch"] == 2


def test_lowering_epochs_discards_the_longer_trained_checkpoint(tmp_path, caplog):
    # Before: epochs 3 -> 1 returned the 3-epoch weights ("nothing to train") while meta.json said 1.
    _train(tmp_path / "run", 3)
    one, one_history = _train(tmp_path / "one", 1)
    with caplog.at_level(logging.WARNING):
        net, history = _train(tmp_path / "run", 1)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "epoch 3" in warnings[0] and "train.epochs = 1" in warnings[0]
    assert history == one_history and _same_weights(net, one)
    assert load_checkpoint(tmp_path / "run" / CHECKPOINT)["epoch"] == 1


def test_raising_epochs_still_resumes(tmp_path, caplog):
    _train(tmp_path / "run", 1)
    two, two_history = _train(tmp_path / "two", 2)
    with caplog.at_level(logging.INFO, logger="flup.training.checkpoint"):
        net, history = _train(tmp_path / "run", 2)
    assert any("resuming" in r.getMessage() for r in caplog.records)
    assert not any(r.levelno >= logging.WARNING for r in caplog.records)
    assert history == two_history and _same_weights(net, two)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [CHECKPOINT]


# --- small subsets: errors that name data.max_people ------------------------------------------------


def _people(counts: dict[str, int]) -> pd.DataFrame:
    rows = [(f"{person}/{person}_{i:04d}.jpg", person) for person, n in counts.items() for i in range(1, n + 1)]
    frame = pd.DataFrame(rows, columns=["path", "identity"])
    frame[["x1", "y1", "x2", "y2"]] = (70.0, 70.0, 180.0, 180.0)
    return frame


def test_too_few_validation_identities_names_max_people_and_val_fraction():
    # Before: "validation needs >= 2 identities with >= 2 images, got 0", later, naming no parameter.
    # 4 identities with 2+ images x 0.1 = 0.4, rounds to 0 held out; validation needs 2.
    frame = _people({"A": 2, "B": 3, "C": 2, "D": 2, "E": 1})
    with pytest.raises(ParamError) as caught:
        split_identities(frame, 0.1, 0)
    message = str(caught.value)
    assert "train.val_fraction = 0.1" in message and "data.max_people" in message
    assert "holds out 0 of the 4 identities with >= 2 images" in message and "raise" in message


def test_too_few_training_identities_names_max_people_and_val_fraction():
    # 3 identities x 0.67 = 2.01 -> 2 held out, 1 left to train on; training needs 2.
    frame = _people({"A": 2, "B": 2, "C": 2})
    with pytest.raises(ParamError, match=r"leaves 1 of the 3 identities.*data\.max_people.*attack\.val_fraction"):
        split_identities(frame, 0.67, 0, fraction_param="attack.val_fraction")


def test_enough_identities_split_as_asked():
    # 10 identities x 0.2 = 2 held out, 8 kept; the single-image person always trains.
    frame = _people({**{p: 2 for p in "ABCDEFGHIJ"}, "K": 1})
    train, val = split_identities(frame, 0.2, 0)
    assert val["identity"].nunique() == 2 and train["identity"].nunique() == 9
    assert set(train["identity"]).isdisjoint(val["identity"]) and "K" in set(train["identity"])


# --- a partial CelebA copy: one coverage line, real problems apart ----------------------------------


def test_partial_celeba_copy_is_one_coverage_line_not_problems(tmp_path, lfw_root):
    # Before: each listed image not on disk was a "problem" (196,299 of them for a 6,300-image copy).
    root = tmp_path / "celeba"
    make_celeba(root, lfw_root)  # 16 people x 3 images on disk, 2 more listed but absent, 1 malformed line
    index = datasets.read_celeba(root, "img_celeba")
    identity_file = root / "Anno" / "identity_CelebA.txt"
    assert index.problems == [f"{identity_file}:6: expected an image name and 1 value(s), got 'this line is malformed'"]
    assert index.coverage() == "48 of 50 listed images are on disk"


def test_coverage_line_of_a_mostly_absent_copy(tmp_path):
    images = tmp_path / "Img" / "img_celeba"
    images.mkdir(parents=True)
    (tmp_path / "Anno").mkdir()
    for number in (1, 2, 3):
        (images / f"{number:06d}.jpg").write_bytes(b"\xff\xd8 not decoded here \xff\xd9")
    (tmp_path / "Anno" / "identity_CelebA.txt").write_text(
        "".join(f"{number:06d}.jpg {number % 7}\n" for number in range(1, 2001)) + "000005.jpg 1 2\n")
    index = datasets.read_celeba(tmp_path, "img_celeba")
    assert index.coverage() == "3 of 2,000 listed images are on disk"
    identity_file = tmp_path / "Anno" / "identity_CelebA.txt"
    assert index.problems == [f"{identity_file}:2001: expected an image name and 1 value(s), got '000005.jpg 1 2'"]


def test_ingest_stage_logs_coverage_once_and_only_real_problems(tmp_path, lfw_root, monkeypatch, caplog):
    from stages import ingest

    make_celeba(tmp_path / "celeba", lfw_root)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["datasets"] = {"celeba": {"format": "celeba", "root": str(tmp_path / "celeba"), "images": "img_celeba",
                                     "face_rule": "annotated", "same_pairs": 5, "different_pairs": 5,
                                     "random_seed": 0, "min_pairs_per_label": 5}}
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    monkeypatch.chdir(tmp_path / "work")
    with caplog.at_level(logging.INFO):
        ingest.main("celeba")
    messages = [(r.levelno, r.getMessage()) for r in caplog.records if r.name.startswith("ingest")]
    assert [m for level, m in messages if level >= logging.WARNING] == [
        f"{tmp_path / 'celeba' / 'Anno' / 'identity_CelebA.txt'}:6: expected an image name and 1 value(s), "
        "got 'this line is malformed'"]
    coverage = [m for _, m in messages if "listed images are on disk" in m]
    assert len(coverage) == 1 and "48 of 50 listed images are on disk" in coverage[0]


# --- end-to-end re-detection follows the dataset's face rule ----------------------------------------

_SMALL = (280, 150, 380, 250)  # x1, y1, x2, y2 of the pasted faces on an 800 x 400 canvas (centre 400, 200)
_LARGE = (410, 90, 630, 310)


@pytest.fixture(scope="module")
def two_faces(lfw_root) -> np.ndarray:
    """A small face near the centre (centre x 330) and a large one further out (centre x 520), both inside
    the middle half of the image (x 200..600, y 100..300): ``central`` picks the small one,
    ``largest_central`` the large one."""
    canvas = np.full((400, 800, 3), 128, np.uint8)
    for person, (x1, y1, x2, y2) in (("Abdullah_Gul", _SMALL), ("Aaron_Eckhart", _LARGE)):
        image = cv2.imread(str(lfw_root / "lfw-deepfunneled" / person / f"{person}_0001.jpg"))
        canvas[y1:y2, x1:x2] = cv2.resize(image[60:190, 60:190], (x2 - x1, y2 - y1), interpolation=cv2.INTER_AREA)
    return canvas


@pytest.fixture(scope="module")
def detector():
    return Detector(weights.resolve("detector", "scrfd_500m", "~/.insightface/models"), 320, 0.5)


def _which(landmarks: np.ndarray | None) -> str | None:
    if landmarks is None:
        return None
    x = float(np.mean(landmarks[:, 0]))
    return "small" if _SMALL[0] <= x <= _SMALL[2] else "large" if _LARGE[0] <= x <= _LARGE[2] else "elsewhere"


def _row(rule: str, box=(np.nan,) * 4) -> dict:
    return {"face_rule": rule, **dict(zip(BOX_COLUMNS, box, strict=True))}


@pytest.mark.parametrize(("row", "expected"), [
    (None, "small"),  # no detection row: LFW's rule, central
    (_row("central", _LARGE), "small"),  # central ignores boxes
    (_row("largest_central", _SMALL), "large"),
    (_row("annotated", _SMALL), "small"),  # the face overlapping the sharp image's face
    (_row("annotated", _LARGE), "large"),
    (_row("annotated", (0, 0, 50, 50)), "large"),  # no overlap: largest_central, as detection falls back
], ids=["default", "central", "largest_central", "annotated_small", "annotated_large", "annotated_fallback"])
def test_redetection_follows_the_images_face_rule(two_faces, detector, row, expected):
    # Before: always the central face, so a largest_central dataset embedded another (unobfuscated) person.
    assert len(detector.detect(two_faces)) == 2
    assert _which(recognition.redetect(detector, two_faces, row)) == expected


def test_redetection_finds_nothing_on_a_blank_image(detector):
    assert recognition.redetect(detector, np.full((200, 200, 3), 128, np.uint8), _row("largest_central")) is None
