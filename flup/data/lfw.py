"""The LFW layout: image paths and the official protocol files.

Images live at ``<Person>/<Person>_NNNN.jpg``. Protocol files:
- ``pairs.txt`` (View 2): header ``folds n``, then per fold n same-person lines ``name i j``
  followed by n different-person lines ``name1 i name2 j``.
- ``pairsDevTrain.txt`` / ``pairsDevTest.txt`` (View 1): header ``n``, n same then n different lines.
- ``peopleDevTrain.txt`` / ``peopleDevTest.txt``: header ``count``, then ``name<TAB>images``.
- ``lfw-names.txt``: ``name<TAB>images`` for every person (no header).

Names are compared in Unicode NFC (:func:`nfc`): a folder name an archive or a file system stored decomposed
(NFD: ``e`` + combining accent) is the same person as the composed name a pairs file writes.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

PAIR_FILES = ("pairs.txt", "pairsDevTrain.txt", "pairsDevTest.txt")
PEOPLE_FILES = ("peopleDevTrain.txt", "peopleDevTest.txt")
NAMES_FILE = "lfw-names.txt"
PROTOCOL_FILES = PAIR_FILES + PEOPLE_FILES + (NAMES_FILE,)


class ProtocolFileError(ValueError):
    """A protocol file does not parse; the message names the file and line."""


def nfc(name: str) -> str:
    """``name`` in Unicode NFC, the one form names are compared in."""
    return unicodedata.normalize("NFC", name)


def image_name(person: str, number: int) -> str:
    person = nfc(person)
    return f"{person}/{person}_{number:04d}.jpg"


@dataclass(frozen=True)
class Pair:
    image_a: str
    image_b: str
    same: bool
    fold: int
    line: int


def _fields(path: Path) -> list[tuple[int, list[str]]]:
    lines = path.read_text().splitlines()
    return [(number, line.split()) for number, line in enumerate(lines, start=1) if line.strip()]


def _int(path: Path, line: int, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ProtocolFileError(f"{path}:{line}: expected an integer, got {value!r}") from None


def parse_pairs(path: str | Path) -> list[Pair]:
    """Parse a View 1 or View 2 pairs file, checking the header's counts."""
    path = Path(path)
    rows = _fields(path)
    if not rows:
        raise ProtocolFileError(f"{path}: empty pairs file")
    header_line, header = rows[0]
    if len(header) == 1:
        folds, per_half = 1, _int(path, header_line, header[0])
    elif len(header) == 2:
        folds, per_half = (_int(path, header_line, v) for v in header)
    else:
        raise ProtocolFileError(f"{path}:{header_line}: header must be 'n' or 'folds n', got {header}")
    body = rows[1:]
    expected = folds * 2 * per_half
    if len(body) != expected:
        raise ProtocolFileError(
            f"{path}: header promises {folds} fold(s) of {per_half} same + {per_half} different pairs "
            f"({expected} lines), found {len(body)}"
        )
    pairs = []
    for index, (line, fields) in enumerate(body):
        fold, within = divmod(index, 2 * per_half)
        same = within < per_half
        if same and len(fields) == 3:
            name, i, j = fields
            pair = Pair(image_name(name, _int(path, line, i)), image_name(name, _int(path, line, j)), True, fold, line)
        elif not same and len(fields) == 4:
            a, i, b, j = fields
            pair = Pair(image_name(a, _int(path, line, i)), image_name(b, _int(path, line, j)), False, fold, line)
        else:
            kind = "same-person 'name i j'" if same else "different-person 'name1 i name2 j'"
            raise ProtocolFileError(f"{path}:{line}: expected a {kind} line, got {' '.join(fields)!r}")
        pairs.append(pair)
    return pairs


def parse_people(path: str | Path, has_header: bool = True) -> dict[str, int]:
    """Parse ``name<TAB>count`` lines into {name: image count}."""
    path = Path(path)
    rows = _fields(path)
    if has_header:
        if not rows:
            raise ProtocolFileError(f"{path}: empty people file")
        (header_line, header), rows = rows[0], rows[1:]
        declared = _int(path, header_line, header[0])
        if declared != len(rows):
            raise ProtocolFileError(f"{path}: header declares {declared} people, found {len(rows)}")
    people = {}
    for line, fields in rows:
        if len(fields) != 2:
            raise ProtocolFileError(f"{path}:{line}: expected 'name<TAB>count', got {' '.join(fields)!r}")
        people[nfc(fields[0])] = _int(path, line, fields[1])
    return people


def identity_of(image: str) -> str:
    return image.split("/", 1)[0]
