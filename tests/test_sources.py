"""Tests for flup.data.sources: local folders, archives, verified resumable downloads, unsafe archives."""

from __future__ import annotations

import functools
import hashlib
import io
import shutil
import tarfile
import threading
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from flup.config.params import ParamError
from flup.data import sources
from flup.data.sources import (
    ChecksumError,
    UnsafeArchiveError,
    download,
    extract_archive,
    is_archive,
    resolve_source,
)
from tests.conftest import LFW as LFW_ROOT

LFW = LFW_ROOT / "lfw-deepfunneled"  # checked by the fixtures that read it (lfw_root), not at import
PEOPLE = ("AJ_Cook", "Aaron_Eckhart")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _tree(root: Path) -> dict[str, bytes]:
    """Relative path -> contents for every file below ``root``."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def dataset(tmp_path: Path, lfw_root: Path) -> Path:
    """A tiny LFW-like folder: two people's real images and a pairs file."""
    root = tmp_path / "src" / "lfw"
    for person in PEOPLE:
        (root / "images" / person).mkdir(parents=True)
        name = f"{person}_0001.jpg"
        shutil.copyfile(LFW / person / name, root / "images" / person / name)
    (root / "pairs.txt").write_text(f"1\t1\n{PEOPLE[0]}\t1\t{PEOPLE[1]}\t1\n")
    return root


@pytest.fixture
def tgz(dataset: Path, tmp_path: Path) -> Path:
    path = tmp_path / "archives" / "lfw-mini.tgz"
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        tar.add(dataset, arcname="lfw")
    return path


@pytest.fixture
def zip_archive(dataset: Path, tmp_path: Path) -> Path:
    path = tmp_path / "archives" / "lfw-mini.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for file in sorted(dataset.rglob("*")):
            zf.write(file, arcname=f"lfw/{file.relative_to(dataset).as_posix()}")
    return path


def _expected_tree(dataset: Path) -> dict[str, bytes]:
    return {f"lfw/{name}": data for name, data in _tree(dataset).items()}


# --------------------------------------------------------------------------- HTTP server


class RangeHandler(SimpleHTTPRequestHandler):
    """Serves files from ``directory``; honours ``Range: bytes=N-`` (206) unless ranges are off.

    ``behaviour`` is a dict shared with the test: ``ranges`` (bool), ``truncate_once`` (send a
    full Content-Length but only half the body, once) and ``log`` (list of (path, Range) seen).
    """

    behaviour: ClassVar[dict] = {}

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        behaviour = self.behaviour
        range_header = self.headers.get("Range")
        behaviour["log"].append((self.path, range_header))
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        if range_header and behaviour.get("ranges", True):
            assert range_header.startswith("bytes=") and range_header.endswith("-")
            start = int(range_header[len("bytes=") : -1])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if behaviour.pop("truncate_once", False):
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        behaviour.setdefault("bytes_sent", []).append(len(body))
        self.wfile.write(body)


@pytest.fixture
def server(tmp_path: Path):
    """A local HTTP server on 127.0.0.1 (port 0) serving ``tmp_path / 'www'``."""
    root = tmp_path / "www"
    root.mkdir()
    behaviour: dict = {"log": [], "ranges": True}
    handler = type("Handler", (RangeHandler,), {"behaviour": behaviour})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield base, root, behaviour
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


# --------------------------------------------------------------------------- local sources


def test_is_archive() -> None:
    for name in ("a.tgz", "a.tar.gz", "a.tar", "a.zip", "dir/A.TAR.GZ"):
        assert is_archive(name), name
    for name in ("a.jpg", "a.gz", "folder", "a.txt", ".tgz"):
        assert not is_archive(name), name


def test_local_folder_is_returned_as_is(dataset: Path, tmp_path: Path) -> None:
    result = resolve_source(str(dataset), None, tmp_path / "cache")
    assert result == dataset.resolve()
    assert not (tmp_path / "cache").exists()


def test_relative_local_folder_resolved_against_cwd(dataset: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(dataset.parent)
    result = resolve_source("lfw", None, Path("cache"))
    assert result == dataset.resolve()
    assert result.is_absolute()


def test_missing_path_names_the_parameter(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "lfw.tgz"
    with pytest.raises(ParamError) as info:
        resolve_source(str(missing), None, tmp_path / "cache")
    assert "data.source" in str(info.value)
    assert str(missing) in str(info.value)
    with pytest.raises(ParamError, match="detect.images"):
        resolve_source(str(missing), None, tmp_path / "cache", param_name="detect.images")


def test_local_tgz_extracts_exact_tree_and_reuses_it(
    dataset: Path, tgz: Path, tmp_path: Path, monkeypatch
) -> None:
    cache = tmp_path / "cache"
    result = resolve_source(str(tgz), None, cache)
    assert result == cache.resolve() / "extracted" / "lfw-mini"
    assert _tree(result) == _expected_tree(dataset)
    marker = result.with_name("lfw-mini.extracted.json")
    assert marker.is_file() and _sha(tgz.read_bytes()) in marker.read_text()

    def boom(*args, **kwargs):
        raise AssertionError("completed extraction should have been reused")

    monkeypatch.setattr(sources, "extract_archive", boom)
    assert resolve_source(str(tgz), _sha(tgz.read_bytes()), cache) == result


def test_local_archive_reextracted_when_marker_missing(dataset: Path, tgz: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    result = resolve_source(str(tgz), None, cache)
    (result / "lfw" / "pairs.txt").write_text("tampered")
    result.with_name("lfw-mini.extracted.json").unlink()  # as if a run died before the marker
    assert _tree(resolve_source(str(tgz), None, cache)) == _expected_tree(dataset)


def test_local_zip_extracts_exact_tree(dataset: Path, zip_archive: Path, tmp_path: Path) -> None:
    result = resolve_source(str(zip_archive), _sha(zip_archive.read_bytes()), tmp_path / "cache")
    assert result.name == "lfw-mini"
    assert _tree(result) == _expected_tree(dataset)


def test_local_archive_wrong_sha_raises_before_extracting(tgz: Path, tmp_path: Path) -> None:
    with pytest.raises(ChecksumError, match="data.sha256"):
        resolve_source(str(tgz), "0" * 64, tmp_path / "cache")
    assert not (tmp_path / "cache" / "extracted" / "lfw-mini").exists()


def test_local_plain_file_is_rejected(dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(ParamError, match="neither a directory nor"):
        resolve_source(str(dataset / "pairs.txt"), None, tmp_path / "cache")


# --------------------------------------------------------------------------- URL sources


def test_url_without_sha256_is_refused(tmp_path: Path) -> None:
    for sha in (None, ""):
        with pytest.raises(ParamError, match="data.sha256"):
            resolve_source("https://example.org/lfw.tgz", sha, tmp_path / "cache")
    with pytest.raises(ParamError, match="data.sha256"):
        resolve_source("https://example.org/lfw.tgz", "not-a-digest", tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_url_source_downloads_verifies_and_extracts(dataset: Path, tgz: Path, server, tmp_path: Path) -> None:
    base, root, behaviour = server
    shutil.copyfile(tgz, root / tgz.name)
    cache = tmp_path / "cache"
    result = resolve_source(f"{base}/{tgz.name}", _sha(tgz.read_bytes()), cache)
    assert result == cache.resolve() / "extracted" / "lfw-mini"
    assert _tree(result) == _expected_tree(dataset)
    assert (cache / "downloads" / tgz.name).read_bytes() == tgz.read_bytes()
    assert not (cache / "downloads" / f"{tgz.name}.part").exists()
    assert len(behaviour["log"]) == 1

    # A second resolution reuses both the download and the extraction: no request at all.
    assert resolve_source(f"{base}/{tgz.name}", _sha(tgz.read_bytes()), cache) == result
    assert len(behaviour["log"]) == 1


def test_url_non_archive_gives_a_directory_with_the_file(server, tmp_path: Path) -> None:
    base, root, _ = server
    payload = b"name\tindex\nAJ_Cook\t1\n"
    (root / "people.tsv").write_bytes(payload)
    result = resolve_source(f"{base}/people.tsv", _sha(payload), tmp_path / "cache")
    assert result.is_dir()
    assert _tree(result) == {"people.tsv": payload}


def test_wrong_sha256_raises_and_leaves_nothing(tgz: Path, server, tmp_path: Path) -> None:
    base, root, _ = server
    shutil.copyfile(tgz, root / tgz.name)
    dest = tmp_path / "dl" / tgz.name
    url = f"{base}/{tgz.name}"
    wrong = "ab" * 32
    with pytest.raises(ChecksumError) as info:
        download(url, dest, wrong)
    message = str(info.value)
    assert url in message and wrong in message and _sha(tgz.read_bytes()) in message
    assert not dest.exists()
    assert not dest.with_name(dest.name + ".part").exists()
    with pytest.raises(ChecksumError):
        resolve_source(url, wrong, tmp_path / "cache")
    assert not (tmp_path / "cache" / "extracted").exists()


def test_resume_sends_range_and_appends(tgz: Path, server, tmp_path: Path) -> None:
    base, root, behaviour = server
    data = tgz.read_bytes()
    shutil.copyfile(tgz, root / tgz.name)
    dest = tmp_path / "dl" / tgz.name
    dest.parent.mkdir()
    half = len(data) // 2
    dest.with_name(dest.name + ".part").write_bytes(data[:half])

    assert download(f"{base}/{tgz.name}", dest, _sha(data), chunk_size=1024) == dest
    assert dest.read_bytes() == data
    assert behaviour["log"] == [(f"/{tgz.name}", f"bytes={half}-")]
    assert behaviour["bytes_sent"] == [len(data) - half]  # only the missing half travelled
    assert not dest.with_name(dest.name + ".part").exists()


def test_server_ignoring_range_restarts_from_zero(tgz: Path, server, tmp_path: Path) -> None:
    base, root, behaviour = server
    behaviour["ranges"] = False
    data = tgz.read_bytes()
    shutil.copyfile(tgz, root / tgz.name)
    dest = tmp_path / "dl" / tgz.name
    dest.parent.mkdir()
    dest.with_name(dest.name + ".part").write_bytes(data[: len(data) // 2])

    download(f"{base}/{tgz.name}", dest, _sha(data))
    assert dest.read_bytes() == data
    assert behaviour["log"][0][1] == f"bytes={len(data) // 2}-"
    assert behaviour["bytes_sent"] == [len(data)]


def test_complete_part_file_with_416_is_accepted(tgz: Path, server, tmp_path: Path) -> None:
    base, root, _ = server
    data = tgz.read_bytes()
    shutil.copyfile(tgz, root / tgz.name)
    dest = tmp_path / "dl" / tgz.name
    dest.parent.mkdir()
    dest.with_name(dest.name + ".part").write_bytes(data)
    download(f"{base}/{tgz.name}", dest, _sha(data))
    assert dest.read_bytes() == data


def test_interrupted_transfer_keeps_part_and_resumes(tgz: Path, server, tmp_path: Path) -> None:
    base, root, behaviour = server
    data = tgz.read_bytes()
    shutil.copyfile(tgz, root / tgz.name)
    dest = tmp_path / "dl" / tgz.name
    part = dest.with_name(dest.name + ".part")
    behaviour["truncate_once"] = True
    with pytest.raises(sources.DownloadError):
        download(f"{base}/{tgz.name}", dest, _sha(data), chunk_size=256)
    assert not dest.exists()
    assert part.is_file() and 0 < part.stat().st_size < len(data)
    assert data.startswith(part.read_bytes())

    download(f"{base}/{tgz.name}", dest, _sha(data), chunk_size=256)
    assert dest.read_bytes() == data
    assert behaviour["log"][-1][1] == f"bytes={len(data) // 2}-"


def test_existing_verified_dest_skips_download(tgz: Path, server, tmp_path: Path) -> None:
    base, _, behaviour = server
    dest = tmp_path / "dl" / tgz.name
    dest.parent.mkdir()
    shutil.copyfile(tgz, dest)  # note: the server does not even have the file
    assert download(f"{base}/{tgz.name}", dest, _sha(tgz.read_bytes())) == dest
    assert behaviour["log"] == []


# --------------------------------------------------------------------------- unsafe archives


def _tar_with(path: Path, *members: tuple[tarfile.TarInfo, bytes | None]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        ok = tarfile.TarInfo("data/ok.txt")
        ok.size = 2
        tar.addfile(ok, io.BytesIO(b"ok"))
        for info, payload in members:
            if payload is not None:
                info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload) if payload is not None else None)
    return path


def _file_info(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def _link_info(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def _assert_refused(archive: Path, dest: Path, member: str, outside: list[Path]) -> None:
    before = sorted(p.name for p in dest.parent.iterdir()) if dest.parent.exists() else []
    with pytest.raises(UnsafeArchiveError) as info:
        extract_archive(archive, dest)
    assert str(archive) in str(info.value) and repr(member) in str(info.value)
    assert not dest.exists()
    after = sorted(p.name for p in dest.parent.iterdir()) if dest.parent.exists() else []
    assert after == before  # no temporary directory left behind
    for path in outside:
        assert not path.exists(), path


@pytest.mark.parametrize(
    "label, make_member",
    [
        ("dotdot", lambda out: (_file_info("../evil.txt"), b"evil")),
        ("nested-dotdot", lambda out: (_file_info("data/../../evil.txt"), b"evil")),
        ("absolute", lambda out: (_file_info(str(out / "evil.txt")), b"evil")),
        ("symlink", lambda out: (_link_info("data/passwd", "/etc/passwd", tarfile.SYMTYPE), None)),
        ("hardlink", lambda out: (_link_info("data/passwd", "/etc/passwd", tarfile.LNKTYPE), None)),
        # Links that stay inside are harmless to tarfile's "data" filter, but a dataset has no use for them.
        ("symlink-inside", lambda out: (_link_info("data/link.txt", "ok.txt", tarfile.SYMTYPE), None)),
        ("hardlink-inside", lambda out: (_link_info("data/link.txt", "data/ok.txt", tarfile.LNKTYPE), None)),
        ("fifo", lambda out: (_link_info("data/pipe", "", tarfile.FIFOTYPE), None)),
    ],
)
def test_unsafe_tar_is_refused(label: str, make_member, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    dest = work / "extracted" / "x"
    info, payload = make_member(tmp_path)
    archive = _tar_with(tmp_path / f"{label}.tgz", (info, payload))
    _assert_refused(
        archive, dest, info.name, [tmp_path / "evil.txt", work / "evil.txt", work / "extracted" / "evil.txt"]
    )
    if "link" in label:
        assert "link" in str(pytest.raises(UnsafeArchiveError, extract_archive, archive, dest).value)


def test_unsafe_tar_via_resolve_source_writes_nothing(tmp_path: Path) -> None:
    archive = _tar_with(tmp_path / "evil.tgz", (_file_info("../evil.txt"), b"evil"))
    cache = tmp_path / "cache"
    with pytest.raises(UnsafeArchiveError, match=r"\.\./evil\.txt"):
        resolve_source(str(archive), None, cache)
    assert not (cache / "extracted" / "evil").exists()
    assert not (cache / "extracted" / "evil.extracted.json").exists()
    assert not (cache / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()


def _zip_with(path: Path, info: zipfile.ZipInfo, payload: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("data/ok.txt", b"ok")
        zf.writestr(info, payload)
    return path


def _zip_symlink(name: str, target: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = 0o120777 << 16
    return info


@pytest.mark.parametrize(
    "label, info",
    [
        ("dotdot", zipfile.ZipInfo("../evil")),
        ("backslash-dotdot", zipfile.ZipInfo("data\\..\\..\\evil")),
        ("absolute", zipfile.ZipInfo("/tmp/evil")),
        ("drive", zipfile.ZipInfo("C:/evil")),
        ("symlink", _zip_symlink("data/passwd", "/etc/passwd")),
    ],
)
def test_unsafe_zip_is_refused(label: str, info: zipfile.ZipInfo, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    dest = work / "extracted" / "x"
    payload = b"/etc/passwd" if label == "symlink" else b"evil"
    archive = _zip_with(tmp_path / f"{label}.zip", info, payload)
    _assert_refused(
        archive, dest, info.filename, [tmp_path / "evil", work / "evil", work / "extracted" / "evil"]
    )


def test_zip_backslash_names_become_directories(tmp_path: Path) -> None:
    archive = _zip_with(tmp_path / "win.zip", zipfile.ZipInfo("data\\sub\\a.txt"), b"A")
    dest = extract_archive(archive, tmp_path / "out")
    assert _tree(dest) == {"data/ok.txt": b"ok", "data/sub/a.txt": b"A"}


def test_extract_replaces_existing_destination_atomically(tgz: Path, dataset: Path, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "stale.txt").write_text("old")
    extract_archive(tgz, dest)
    assert _tree(dest) == _expected_tree(dataset)


# --------------------------------------------------------------------------- ImageNet V2 weights


def test_v2_weights_download_is_verified_against_the_name_prefix(server, tmp_path):
    """`pretrained: v2` downloads torchvision's file once, checked against the sha256 prefix in its name."""
    import torch

    from flup.models import model

    base, root, behaviour = server
    v1 = model.locate_mobilenet_v1_weights()  # a real mobilenet_v2 state_dict stands in for V2's
    prefix = sources.sha256_file(v1)[:8]
    (root / f"mobilenet_v2-{prefix}.pth").write_bytes(v1.read_bytes())
    cache = tmp_path / "hub"
    path = model.fetch_mobilenet_v2_weights(f"{base}/mobilenet_v2-{prefix}.pth", cache)
    assert path == cache / f"mobilenet_v2-{prefix}.pth" and path.read_bytes() == v1.read_bytes()
    assert model.fetch_mobilenet_v2_weights(f"{base}/mobilenet_v2-{prefix}.pth", cache) == path
    assert len(behaviour["log"]) == 1  # the second call found the verified file
    net = model.build_dual_stream("gap", 64, path)
    assert torch.equal(net.sharp_net.features[0][0].weight, torch.load(v1, weights_only=True)["features.0.0.weight"])

    # A file whose content does not match its name's prefix is refused and not kept.
    (root / "mobilenet_v2-00000000.pth").write_bytes(v1.read_bytes())
    with pytest.raises(sources.ChecksumError, match="sha256 mismatch"):
        model.fetch_mobilenet_v2_weights(f"{base}/mobilenet_v2-00000000.pth", cache)
    assert not list(cache.glob("mobilenet_v2-00000000*"))
    with pytest.raises(ValueError, match="sha256 prefix"):
        model.fetch_mobilenet_v2_weights(f"{base}/mobilenet_v2.pth", cache)
