"""Reading params.yaml (and profile overlays) into a validated :class:`~flup.config.schema.Study`.

The YAML is composed with ruamel.yaml, so every key and list item keeps its file and line; numbers
keep the text they were written as (an all-digit sha256 without quotes is a YAML integer, and its
leading zeros would be lost). Validation runs once, over the whole document; a failure raises
:class:`ConfigError` with one line per problem::

    params.yaml:52: train.epochs: expected an integer >= 1, got -1

naming the line of the offending key (for a missing key, the line of its parent section).
"""

from __future__ import annotations

import difflib
import json
import math
import os
import sys
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

from flup.config.params import PARAMS_FILE, ConfigError, ParamError, Path_, Where, dotted, location
from flup.config.schema import Expect, Study, schema_at


class _Int(int):
    """A YAML integer with the text it was written as (``text``)."""


class _Float(float):
    """A YAML float with the text it was written as (``text``)."""


@dataclass
class Document:
    """Plain data read from YAML, with the ``(file, line)`` of every key and list item."""

    data: dict
    where: Where = field(default_factory=dict)


def read_yaml(path: str | os.PathLike) -> Document:
    """A YAML mapping with locations; syntax errors and duplicate keys name the file and line."""
    name = str(path)
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise ConfigError(f"{name}: parameter file not found") from None
    yaml = YAML(typ="safe", pure=True)
    try:
        node = yaml.compose(text)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        what = str(error.problem or error.context)
        if error.context and error.problem:
            started = f" at line {error.context_mark.line + 1}" if error.context_mark else ""
            what += f" ({error.context}{started})"
        raise ConfigError(f"{name}:{mark.line + 1 if mark else 1}: YAML syntax error: {what}") from None
    except YAMLError as error:
        raise ConfigError(f"{name}: YAML syntax error: {error}") from None
    where: Where = {(): (name, 1)}
    if node is None:
        return Document({}, where)
    if not isinstance(node, MappingNode):
        raise ConfigError(f"{name}:{node.start_mark.line + 1}: expected a mapping of sections at the top level")
    return Document(_build(node, (), yaml, name, where), where)


def _build(node: Any, path: Path_, yaml: YAML, name: str, where: Where) -> Any:
    if isinstance(node, MappingNode):
        out: dict = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, ScalarNode):
                raise ConfigError(f"{name}:{line}: {dotted(path) or 'top level'}: keys must be plain names")
            key = key_node.value
            if key in out:
                raise ConfigError(f"{name}:{line}: {dotted((*path, key))}: duplicate key "
                                  f"(first at line {where[(*path, key)][1]})")
            where[(*path, key)] = (name, line)
            out[key] = _build(value_node, (*path, key), yaml, name, where)
        return out
    if isinstance(node, SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            where[(*path, index)] = (name, item.start_mark.line + 1)
            items.append(_build(item, (*path, index), yaml, name, where))
        return items
    value = yaml.constructor.construct_object(node, deep=True)
    if isinstance(value, int) and not isinstance(value, bool):
        value = _Int(value)
    elif isinstance(value, float):
        value = _Float(value)
    else:
        return value
    value.text = node.value
    return value


# The named tables of params.yaml: an overlay (a profile) removes an entry by naming it with null (``name: null``).
TABLES = ("datasets", "variants", "attackers", "grids", "audits")


def merge(base: Mapping, overlay: Mapping, _top: bool = True) -> dict:
    """Deep-merge ``overlay`` into a copy of ``base``: mappings merge, everything else replaces; an entry of one of
    the ``TABLES`` given as null is removed (a profile's way to drop a model, an attacker or a dataset)."""
    merged = dict(base)
    for key, value in overlay.items():
        if _top and key in TABLES and isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            table = merge(merged[key], {k: v for k, v in value.items() if v is not None}, _top=False)
            merged[key] = {k: v for k, v in table.items() if not (k in value and value[k] is None)}
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value, _top=False)
        else:
            merged[key] = value
    return merged


def merge_documents(base: Document, overlay: Document) -> Document:
    """``merge`` of the data; a replaced value takes its locations from the overlay."""
    replaced = [path for path in overlay.where if path and not isinstance(_at(overlay.data, path), Mapping)]
    where = {p: w for p, w in base.where.items() if not any(p[:len(r)] == r and len(p) > len(r) for r in replaced)}
    where.update({p: w for p, w in overlay.where.items() if p})
    return Document(merge(base.data, overlay.data), where)


def _at(data: Any, path: Path_) -> Any:
    for part in path:
        data = data[part]
    return data


def plain(value: Any) -> Any:
    """The data without the loader's number types (what json and the report see)."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value


def validate(document: Document, source: str = PARAMS_FILE) -> Study:
    """The typed study, or a ConfigError listing every problem (sorted by file and line)."""
    try:
        study = Study.model_validate(document.data)
    except ValidationError as error:
        problems = sorted({describe(e, document.where, source, document.data)
                           for e in error.errors(include_url=False)}, key=_line_order)
        raise ConfigError(problems) from None
    study._source = source
    study._where = document.where
    study._document = plain(document.data)
    return study


def load_config(path: str | os.PathLike = PARAMS_FILE, overlays: Sequence[str | os.PathLike] = ()) -> Study:
    """Read and validate params.yaml (with ``overlays`` such as profiles/cpu.yaml merged onto it, in order)."""
    document = read_yaml(path)
    if not document.data:
        required = ", ".join(name for name, info in Study.model_fields.items() if info.is_required())
        raise ConfigError(f"{path}: empty: no parameters (expected the sections {required}); "
                          f"`git checkout -- {path}` restores the committed one")
    for overlay in overlays:
        document = merge_documents(document, read_yaml(overlay))
    return validate(document, str(path))


def run_stage(main: Callable[..., Any], *args: Any) -> None:
    """Run a stage's ``main``; a bad parameter ends it with its one-line message(s) and exit status 2."""
    try:
        main(*args)
    except ParamError as error:
        print(f"error: {error}".replace("\n", "\nerror: "), file=sys.stderr)
        raise SystemExit(2) from None


# --- error messages ------------------------------------------------------------------------------


def _line_order(message: str) -> tuple:
    file, _, rest = message.partition(":")
    line = rest.partition(":")[0]
    return (file, int(line) if line.isdigit() else 0, message)


def show(value: Any) -> str:
    """A value as params.yaml would write it."""
    text = getattr(value, "text", None)
    if text is not None:
        return text
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list):
        shown = "[" + ", ".join(show(v) for v in value) + "]"
        return shown if len(shown) <= 80 else shown[:77] + "..."
    if isinstance(value, dict):
        shown = json.dumps(plain(value), ensure_ascii=False, default=str)
        return shown if len(shown) <= 80 else shown[:77] + "..."
    return repr(value)


def _expected(path: Path_) -> str | None:
    annotation, metadata, _ = schema_at(path)
    expect = next((m.text for m in metadata if isinstance(m, Expect)), None)
    if expect is None and typing.get_origin(annotation) is typing.Literal:
        choices = [repr(choice) for choice in typing.get_args(annotation)]
        expect = " or ".join([", ".join(choices[:-1]), choices[-1]] if len(choices) > 1 else choices)
    return expect


GENERIC = {
    "bool_type": "expected true or false",
    "string_type": "expected a string",
    "int_type": "expected an integer",
    "float_type": "expected a number",
    "finite_number": "expected a finite number (not .nan or .inf)",
    "list_type": "expected a list",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
}


def describe(error: Mapping, where: Where, source: str = PARAMS_FILE, data: Mapping | None = None) -> str:
    """One line: ``file:line: dotted.key: expected …, got …`` (``data``: the document, to show values as written)."""
    path = tuple(p for p in error["loc"] if p != "[key]")
    kind, ctx, value, shown = error["type"], error.get("ctx") or {}, error.get("input"), True
    if kind == "missing":
        expect = _expected(path)
        what = "required key missing" + (f": expected {expect}" if expect else "")
        line, shown = location(where, path[:-1], source), False
    elif kind == "extra_forbidden":
        _, _, holder = schema_at(path)
        known = list(holder.model_fields) if holder else []
        close = difflib.get_close_matches(str(path[-1]), known, n=1, cutoff=0.6)
        what = f"unknown key, did you mean {dotted((*path[:-1], close[0]))}?" if close else \
            f"unknown key (known: {', '.join(known)})"
        line, shown = location(where, path, source), False
    elif kind == "flup" and "at" in ctx:
        path = (*path, *ctx["at"])
        what, line = error["msg"], location(where, path, source)
        shown, value = "value" in ctx, ctx.get("value")
        try:  # the value as written, rather than as validated (20, not 20.0)
            value = _at(data, path) if data is not None and shown else value
        except (KeyError, IndexError, TypeError):
            pass
    else:
        expect = _expected(path)
        if expect:
            what = f"expected {expect}"
        elif kind == "literal_error":
            what = f"expected {ctx['expected']}"
        elif kind == "too_short":
            what = f"expected at least {ctx['min_length']} item(s)"
        elif kind == "too_long":
            what = f"expected at most {ctx['max_length']} item(s)"
        else:
            what = GENERIC.get(kind) or error["msg"]
        line = location(where, path, source)
    return f"{line}: {dotted(path) or 'top level'}: {what}" + (f", got {show(value)}" if shown else "")
