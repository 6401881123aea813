"""Getting a dataset source onto local disk, safely.

A source (``data.source`` in params.yaml) is one of:

* a local directory, used as is;
* a local archive (``.tgz``, ``.tar.gz``, ``.tar``, ``.zip``, ...), extracted into the cache;
* an http(s) URL, downloaded into the cache (resumably, verified against ``data.sha256``)
  and extracted there if it is an archive.

Downloads are never used unverified, and archives are checked member by member before
anything is written: absolute paths, ``..`` components, links and special files are refused.
Extraction happens in a temporary directory renamed into place, so a failure leaves nothing.

Sizes are capped (:class:`SizeLimits`, params ``data.max_download_mb``, ``data.max_member_mb``,
``data.max_extract_mb``): a download stops at its cap, and an archive whose members would expand
beyond theirs is refused before anything is written, so a server sending an endless body or a
small archive of a huge zero-filled file cannot fill the disk. An image is capped in pixels too
(``data.max_image_pixels``, :func:`check_image_pixels`): its header is read before anything decodes it,
so a small file declaring 20,000 x 20,000 px is refused instead of taking gigabytes to decode.
"""

from __future__ import annotations

import gzip
import http.client
import io
import lzma
import os
import re
import shutil
import stat
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import simplejpeg
from tqdm import tqdm

from flup.config.params import ParamError
from flup.config.schema import DEFAULT_MAX_IMAGE_PIXELS
from flup.io import atomic_path, read_json, sha256_file, write_json

# Longest suffixes first, so "x.tar.gz" is not taken for a ".gz" file.
TAR_SUFFIXES = (".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".tbz2", ".txz", ".tar")
ZIP_SUFFIXES = (".zip",)
ARCHIVE_SUFFIXES = TAR_SUFFIXES + ZIP_SUFFIXES

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_DRIVE_RE = re.compile(r"^[A-Za-z]:")
_USER_AGENT = "flup-sources/1.0 (+python urllib)"


class ArchiveError(ValueError):
    """An archive cannot be read or extracted."""


class UnsafeArchiveError(ArchiveError):
    """An archive member would escape the destination or is a link / special file."""


class ChecksumError(ValueError):
    """A file's sha256 digest differs from the expected one."""


class DownloadError(OSError):
    """A download failed or was cut short (a partial ``.part`` file is kept for resuming)."""


class SizeLimitError(ValueError):
    """A download or an archive's contents would exceed a size cap (nothing of it is kept)."""


class ImageTooLargeError(SizeLimitError, ParamError):
    """An image whose header declares more pixels than ``data.max_image_pixels`` (refused before decoding)."""


MB = 1 << 20


@dataclass(frozen=True)
class SizeLimits:
    """Size caps in MB (2**20 bytes), named as their params.yaml keys under ``data``.

    The defaults fit LFW (a 0.2 GB archive of 13,233 small JPEGs) and CelebA (about 10 GB, images of
    a few MB at most) with room to spare.
    """

    max_download_mb: float = 20000  # one downloaded file
    max_member_mb: float = 64  # one file inside an archive
    max_extract_mb: float = 20000  # all files of one archive together

    def __post_init__(self):
        for name in ("max_download_mb", "max_member_mb", "max_extract_mb"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"data.{name} must be a number > 0, got {value!r}")

    @staticmethod
    def _bytes(mb: float) -> int:
        return int(mb * MB)

    @property
    def download_bytes(self) -> int:
        return self._bytes(self.max_download_mb)

    @property
    def member_bytes(self) -> int:
        return self._bytes(self.max_member_mb)

    @property
    def extract_bytes(self) -> int:
        return self._bytes(self.max_extract_mb)

    def name(self, key: str) -> str:
        """How a cap reads in messages, e.g. ``data.max_member_mb = 64``."""
        return f"data.{key} = {getattr(self, key):g}"


DEFAULT_LIMITS = SizeLimits()


def check_image_pixels(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
                       data: bytes | None = None) -> None:
    """Refuse an image of more than ``max_pixels`` (width x height, params ``data.max_image_pixels``), read from
    its header (``data``: the file's bytes, if already read) before any decoder allocates its pixels:
    ImageTooLargeError naming the file and the parameter. A file Pillow cannot identify passes: the decoder
    that reads it next reports it as unreadable. JPEG bytes are read by libjpeg-turbo (simplejpeg, 20 us an
    LFW image, 13x faster than Pillow)."""
    from PIL import Image

    if data is not None and data[:2] == b"\xff\xd8":
        try:
            height, width, _, _ = simplejpeg.decode_jpeg_header(data)
        except ValueError:
            pass  # Pillow below, or the decoder, says what is wrong
        else:
            if width * height <= max_pixels:
                return
            raise ImageTooLargeError(_over_pixel_cap(path, f"{width:,} x {height:,} px = {width * height:,} pixels",
                                                     max_pixels))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the cap below decides
        try:
            with Image.open(io.BytesIO(data) if data is not None else path) as image:
                width, height = image.size
            size = f"{width:,} x {height:,} px = {width * height:,} pixels"
            if width * height <= max_pixels:
                return
        except Image.DecompressionBombError:  # past Pillow's own limit, which is above any data.max_image_pixels
            size = f"more than {2 * Image.MAX_IMAGE_PIXELS:,} pixels (past Pillow's decompression-bomb limit)"
        except (OSError, SyntaxError, ValueError):
            return
    raise ImageTooLargeError(_over_pixel_cap(path, size, max_pixels))


def _over_pixel_cap(path: str | os.PathLike, size: str, max_pixels: int) -> str:
    return (f"{path}: {size}, over data.max_image_pixels = {max_pixels:,}; refused before decoding (raise "
            "data.max_image_pixels if the photo is genuine)")


# --------------------------------------------------------------------------- helpers


def _archive_suffix(path: str | os.PathLike) -> str | None:
    name = Path(path).name.lower()
    for suffix in ARCHIVE_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return suffix
    return None


def is_archive(path: str | os.PathLike) -> bool:
    """True if ``path`` names a supported archive (judged by its name, e.g. ``.tgz``, ``.zip``)."""
    return _archive_suffix(path) is not None


def _archive_stem(path: Path) -> str:
    suffix = _archive_suffix(path)
    return path.name[: -len(suffix)] if suffix else path.name


def _is_url(location: str) -> bool:
    return urllib.parse.urlsplit(location).scheme.lower() in ("http", "https")


def _normalise_sha256(sha256: str, prefix_ok: bool = False) -> str:
    value = str(sha256).strip().lower()
    if prefix_ok and re.fullmatch(r"[0-9a-f]{8,64}", value):
        return value
    if not _SHA256_RE.match(value):
        raise ValueError(f"sha256 must be 64 hexadecimal characters, got {sha256!r}")
    return value


def _url_basename(url: str) -> str:
    path = urllib.parse.unquote(urllib.parse.urlsplit(url).path)
    name = PurePosixPath(path.replace("\\", "/")).name
    if name in ("", ".", "..") or name.startswith("."):
        raise ValueError(f"{url}: cannot derive a file name from the URL path")
    return name


# --------------------------------------------------------------------------- download


def download(
    url: str, dest: Path, sha256: str, timeout: float = 60, chunk_size: int = 1 << 20, prefix_ok: bool = False,
    max_bytes: int = DEFAULT_LIMITS.download_bytes, cap_name: str = "the download size cap",
) -> Path:
    """Download ``url`` to ``dest``, verified against ``sha256``; return ``dest``.

    ``prefix_ok`` accepts the first 8+ hex digits of the digest instead of all 64, for publishers
    that only give a prefix (torchvision's weight files carry 8 in their names).

    At most ``max_bytes`` are accepted: a server declaring more is refused before the body is read, and
    one sending more (an endless body) is cut off at the cap; either way the ``.part`` is deleted and
    SizeLimitError names the URL and the cap (``cap_name``, e.g. ``data.max_download_mb = 20000``).

    The body is streamed into ``dest`` + ``.part``. If a ``.part`` file is already there
    (an interrupted earlier run), the download resumes with ``Range: bytes=N-`` when the
    server answers 206, and restarts from zero when it answers 200. A transfer cut short
    keeps the ``.part`` for the next attempt. On a digest mismatch the ``.part`` is deleted
    and ChecksumError is raised; on success it is renamed atomically onto ``dest``.
    If ``dest`` already exists with the expected digest, nothing is downloaded.
    """
    if urllib.parse.urlsplit(url).scheme.lower() not in ("http", "https"):
        raise ValueError(f"{url}: only http(s) URLs can be downloaded")
    expected = _normalise_sha256(sha256, prefix_ok)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_file() and sha256_file(dest).startswith(expected):
        return dest

    part = dest.with_suffix(dest.suffix + ".part")
    try:
        _fetch_to_part(url, part, timeout=timeout, chunk_size=chunk_size, max_bytes=max_bytes, cap_name=cap_name)
    except SizeLimitError:
        part.unlink(missing_ok=True)
        raise

    actual = sha256_file(part)
    if not actual.startswith(expected):
        part.unlink(missing_ok=True)
        raise ChecksumError(
            f"{url}: sha256 mismatch: expected {expected}, got {actual} "
            "(the download was deleted; check the URL and the expected digest)"
        )
    os.replace(part, dest)
    return dest


def _over_cap(url: str, size: int, max_bytes: int, cap_name: str, declared: bool) -> SizeLimitError:
    what = (f"declares {size:,} bytes, over the {max_bytes:,}-byte cap" if declared
            else f"sent more than the {max_bytes:,}-byte cap allows")
    return SizeLimitError(
        f"{url}: the server {what} ({cap_name}); download stopped and the partial file deleted "
        "(raise the cap if the file is really that large)"
    )


def _fetch_to_part(
    url: str, part: Path, timeout: float, chunk_size: int, max_bytes: int, cap_name: str
) -> None:
    offset = part.stat().st_size if part.is_file() else 0
    if offset > max_bytes:
        raise _over_cap(url, offset, max_bytes, cap_name, declared=False)
    headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:
            # Range not satisfiable: the .part is most likely already complete. The checksum
            # decides; if it is wrong the caller deletes the .part and the next run restarts.
            error.close()
            return
        raise DownloadError(f"{url}: HTTP {error.code} {error.reason}") from error
    except urllib.error.URLError as error:
        raise DownloadError(f"{url}: {error.reason}") from error

    with response:
        status = response.status
        if status == 206 and offset:
            content_range = response.headers.get("Content-Range", "")
            match = re.match(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", content_range)
            if not match or int(match.group(1)) != offset:
                # Not the range we asked for: the partial file cannot be trusted, start over.
                part.unlink()
                return _fetch_to_part(url, part, timeout, chunk_size, max_bytes, cap_name)
            total = int(match.group(3)) if match.group(3) != "*" else None
            mode = "ab"
        elif status == 200:
            offset = 0  # the server ignored the Range header (or there was none): start over
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            mode = "wb"
        else:
            raise DownloadError(f"{url}: unexpected HTTP status {status}")
        if total is not None and total > max_bytes:
            raise _over_cap(url, total, max_bytes, cap_name, declared=True)

        received = offset
        with (
            open(part, mode) as handle,
            tqdm(
                total=total,
                initial=offset,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=part.name[: -len(".part")],
                leave=False,
            ) as bar,
        ):
            while True:
                try:
                    chunk = response.read(chunk_size)
                except (OSError, http.client.HTTPException) as error:  # timeout, reset, IncompleteRead
                    handle.flush()
                    raise DownloadError(
                        f"{url}: transfer interrupted after {received} bytes: {error}"
                    ) from error
                if not chunk:
                    break
                if received + len(chunk) > max_bytes:
                    raise _over_cap(url, received + len(chunk), max_bytes, cap_name, declared=False)
                handle.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
            handle.flush()
            os.fsync(handle.fileno())

    if total is not None and received != total:
        raise DownloadError(
            f"{url}: transfer ended after {received} of {total} bytes; run again to resume from {part}"
        )


# --------------------------------------------------------------------------- extraction


def _check_member_name(archive: Path, name: str) -> PurePosixPath:
    """Return the member's relative path, or raise if it could land outside the destination."""
    unified = name.replace("\\", "/")
    if not unified or "\x00" in unified:
        raise UnsafeArchiveError(
            f"{archive}: member {name!r} has an empty or invalid name; refusing to extract"
        )
    if unified.startswith("/") or _DRIVE_RE.match(unified):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute path; refusing to extract")
    parts = [part for part in unified.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"{archive}: member {name!r} contains '..'; refusing to extract")
    # Belt and braces: the normalised join must stay below the destination.
    root = os.path.normpath("/__dest__")
    joined = os.path.normpath(os.path.join(root, *parts)) if parts else root
    if joined != root and not joined.startswith(root + os.sep):
        raise UnsafeArchiveError(f"{archive}: member {name!r} resolves outside the destination")
    return PurePosixPath(*parts) if parts else PurePosixPath(".")


def _member_over_cap(archive: Path, name: str, size: int, limits: SizeLimits) -> SizeLimitError:
    return SizeLimitError(
        f"{archive}: member {name!r} would expand to {size:,} bytes, over the {limits.member_bytes:,}-byte "
        f"cap per member ({limits.name('max_member_mb')}); refusing to extract"
    )


def _total_over_cap(archive: Path, total: int, limits: SizeLimits) -> SizeLimitError:
    return SizeLimitError(
        f"{archive}: members would expand to {total:,} bytes in all, over the {limits.extract_bytes:,}-byte "
        f"cap ({limits.name('max_extract_mb')}); refusing to extract"
    )


def _check_tar(archive: Path, tar: tarfile.TarFile, limits: SizeLimits) -> list[tarfile.TarInfo]:
    # Members are checked as their headers are read, so an oversized one is refused before its data
    # is decompressed (getmembers() would first inflate the whole archive).
    members, total = [], 0
    for member in tar:
        members.append(member)
        _check_member_name(archive, member.name)
        if member.issym() or member.islnk():
            raise UnsafeArchiveError(
                f"{archive}: member {member.name!r} is a {'symbolic' if member.issym() else 'hard'} link "
                f"to {member.linkname!r}; links are not allowed in dataset archives"
            )
        if not (member.isfile() or member.isdir()):
            raise UnsafeArchiveError(
                f"{archive}: member {member.name!r} is a device, fifo or other special file; refusing to extract"
            )
        if member.size > limits.member_bytes:
            raise _member_over_cap(archive, member.name, member.size, limits)
        total += member.size
        if total > limits.extract_bytes:
            raise _total_over_cap(archive, total, limits)
    return members


def _check_zip(archive: Path, zf: zipfile.ZipFile, limits: SizeLimits) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    checked, total = [], 0
    for info in zf.infolist():
        relative = _check_member_name(archive, info.filename)
        mode = info.external_attr >> 16
        if info.create_system == 3 and stat.S_IFMT(mode):  # unix attributes present
            if stat.S_ISLNK(mode):
                raise UnsafeArchiveError(
                    f"{archive}: member {info.filename!r} is a symbolic link; links are not allowed"
                )
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise UnsafeArchiveError(
                    f"{archive}: member {info.filename!r} is a special file; refusing to extract"
                )
        if info.file_size > limits.member_bytes:
            raise _member_over_cap(archive, info.filename, info.file_size, limits)
        total += info.file_size
        if total > limits.extract_bytes:
            raise _total_over_cap(archive, total, limits)
        checked.append((info, relative))
    return checked


def _extract_zip(archive: Path, zf: zipfile.ZipFile, members, target: Path, limits: SizeLimits) -> None:
    total = 0
    for info, relative in members:
        out = target / relative
        if info.is_dir() or info.filename.replace("\\", "/").endswith("/"):
            out.mkdir(parents=True, exist_ok=True)
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        written = 0
        with zf.open(info) as src, open(out, "wb") as dst:
            # The declared sizes were checked; count what really comes out too (belt and braces).
            while chunk := src.read(1 << 20):
                written += len(chunk)
                total += len(chunk)
                if written > limits.member_bytes:
                    raise _member_over_cap(archive, info.filename, written, limits)
                if total > limits.extract_bytes:
                    raise _total_over_cap(archive, total, limits)
                dst.write(chunk)


# What a truncated or damaged compressed tar raises from deep inside tarfile / gzip / bz2 / lzma.
_CORRUPT_TAR = (EOFError, zlib.error, gzip.BadGzipFile, lzma.LZMAError, tarfile.TarError)


def extract_archive(archive: Path, dest: Path, limits: SizeLimits = DEFAULT_LIMITS) -> Path:
    """Extract ``archive`` (tar or zip) into the directory ``dest``, atomically; return ``dest``.

    Every member is checked before anything is written; an unsafe one raises
    UnsafeArchiveError naming the archive and the member, and one past a size cap (``limits``)
    SizeLimitError. A truncated or corrupt archive raises ArchiveError naming it. Extraction goes
    into a temporary directory next to ``dest`` that is renamed into place only when complete (an
    existing ``dest`` is replaced).
    """
    archive = Path(archive)
    dest = Path(dest)
    suffix = _archive_suffix(archive)
    if suffix in ZIP_SUFFIXES or (suffix is None and zipfile.is_zipfile(archive)):
        try:
            with zipfile.ZipFile(archive) as zf:
                members = _check_zip(archive, zf, limits)
                with atomic_path(dest) as tmp:
                    tmp.mkdir()
                    _extract_zip(archive, zf, members, tmp, limits)
        except (zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError) as error:
            raise ArchiveError(f"{archive}: not a valid zip archive (truncated or corrupt): {error}") from error
        return dest

    try:
        with tarfile.open(archive, "r:*") as tar:
            members = _check_tar(archive, tar, limits)
            with atomic_path(dest) as tmp:
                tmp.mkdir()
                try:
                    tar.extractall(tmp, members=members, filter="data")
                except tarfile.FilterError as error:  # second line of defence
                    member = getattr(error, "tarinfo", None)
                    name = member.name if member is not None else "?"
                    raise UnsafeArchiveError(f"{archive}: member {name!r} refused: {error}") from error
    except _CORRUPT_TAR as error:
        raise ArchiveError(
            f"{archive}: truncated or corrupt archive ({type(error).__name__}: {error}); "
            "delete it and get it again"
        ) from error
    except OSError as error:
        if error.errno is not None:  # a real I/O error (disk full, permissions): not the archive's fault
            raise
        # bz2 reports damaged data as a plain OSError("Invalid data stream")
        raise ArchiveError(f"{archive}: truncated or corrupt archive ({error}); delete it and get it again") from error
    return dest


def _extract_cached(archive: Path, digest: str, dest: Path, limits: SizeLimits = DEFAULT_LIMITS) -> Path:
    """Extract ``archive`` to ``dest`` unless a completed extraction of the same digest is there."""
    marker = dest.with_name(dest.name + ".extracted.json")
    if dest.is_dir() and marker.is_file():
        try:
            recorded = read_json(marker)
        except (OSError, ValueError):
            recorded = {}
        if isinstance(recorded, dict) and recorded.get("sha256") == digest:
            return dest
    marker.unlink(missing_ok=True)
    extract_archive(archive, dest, limits)
    write_json(marker, {"archive": archive.name, "sha256": digest})
    return dest


def _materialise_file(path: Path, digest: str, dest: Path) -> Path:
    """Place a (non-archive) downloaded file alone in directory ``dest``, atomically."""
    marker = dest.with_name(dest.name + ".extracted.json")
    if dest.is_dir() and marker.is_file() and (dest / path.name).is_file():
        try:
            if read_json(marker).get("sha256") == digest:
                return dest
        except (OSError, ValueError, AttributeError):
            pass
    marker.unlink(missing_ok=True)
    with atomic_path(dest) as tmp:
        tmp.mkdir()
        shutil.copy2(path, tmp / path.name)
    write_json(marker, {"file": path.name, "sha256": digest})
    return dest


# --------------------------------------------------------------------------- resolve


def resolve_source(
    location: str, sha256: str | None, cache_dir: Path, param_name: str = "data.source",
    limits: SizeLimits = DEFAULT_LIMITS,
) -> Path:
    """Return a local directory holding the contents of the source ``location``.

    * http(s) URL: downloaded to ``cache_dir/downloads/<basename>`` (``sha256`` is required),
      then extracted to ``cache_dir/extracted/<basename-without-ext>/`` if it is an archive,
      or copied alone into ``cache_dir/extracted/<basename>/`` if not;
    * local directory: returned as is (absolute);
    * local archive: verified against ``sha256`` when given, extracted like a download.

    A completed extraction is reused (a ``<dir>.extracted.json`` marker next to it records
    the archive's sha256). Errors in the parameters raise ParamError naming ``param_name``
    (and its sibling ``.sha256`` parameter, e.g. ``data.sha256``). Downloads and extraction are
    capped by ``limits`` (SizeLimitError names the cap's parameter).
    """
    section = param_name.rsplit(".", 1)[0] if "." in param_name else ""
    sha_param = f"{section}.sha256" if section else "sha256"
    cache_dir = Path(cache_dir).expanduser().resolve()
    location = "" if location is None else str(location).strip()
    if not location:
        raise ParamError(f"params.yaml: {param_name} is empty; give a directory, an archive or a URL")

    expected = None
    if sha256 is not None and str(sha256).strip():
        try:
            expected = _normalise_sha256(sha256)
        except ValueError as error:
            raise ParamError(f"params.yaml: {sha_param} is invalid: {error}") from None

    if _is_url(location):
        if expected is None:
            raise ParamError(
                f"params.yaml: {param_name} is a URL ({location}) but {sha_param} is not set; "
                "downloads are only used when verified (set it to the file's sha256 digest)"
            )
        try:
            name = _url_basename(location)
        except ValueError as error:
            raise ParamError(f"params.yaml: {param_name}: {error}") from None
        try:
            downloaded = download(location, cache_dir / "downloads" / name, expected,
                                  max_bytes=limits.download_bytes, cap_name=limits.name("max_download_mb"))
        except ChecksumError as error:
            raise ChecksumError(f"{error}; see {sha_param} in params.yaml") from error
        if is_archive(downloaded):
            return _extract_cached(downloaded, expected, cache_dir / "extracted" / _archive_stem(downloaded), limits)
        return _materialise_file(downloaded, expected, cache_dir / "extracted" / name)

    if "://" in location:
        raise ParamError(f"params.yaml: {param_name} is {location!r}; only http(s) URLs are supported")

    path = Path(location).expanduser()
    if not path.is_absolute():
        path = Path.cwd() / path
    path = path.resolve()
    if not path.exists():
        raise ParamError(f"params.yaml: {param_name} points to '{path}', which does not exist")
    if path.is_dir():
        return path
    if not is_archive(path):
        raise ParamError(
            f"params.yaml: {param_name} points to '{path}', which is neither a directory nor a "
            f"supported archive ({', '.join(ARCHIVE_SUFFIXES)})"
        )
    actual = sha256_file(path)
    if expected is not None and actual != expected:
        raise ChecksumError(
            f"{path}: sha256 mismatch: expected {expected}, got {actual}; see {sha_param} in params.yaml"
        )
    return _extract_cached(path, actual, cache_dir / "extracted" / _archive_stem(path), limits)
