"""Parameter profiles: small overlays on params.yaml (profiles/<name>.yaml), validated by the same schema.

``python -m flup.config.profiles cpu`` prints the profile as ``-S key=value`` flags for
``dvc exp run``; ``python -m flup.config.profiles cpu --write`` merges it into params.yaml instead,
rewriting only the keys whose value changes (ruamel.yaml round trip: comments, order, quoting and
the flow style of lists stay as they were). Either way the merged parameters are validated first;
an invalid profile prints one line per problem, naming the profile's file and line, and exits 2.

Printing flags, a failure (an unknown profile name, an invalid profile) also prints one option to stdout that
``dvc exp run`` refuses before it runs anything (``--no-such-profile=NAME`` or ``--invalid-profile=NAME``), so
``dvc exp run $(python -m flup.config.profiles NAME)`` can never expand to a bare ``dvc exp run`` of the current
parameters.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from flup.config.loader import TABLES, load_config, merge, plain, read_yaml
from flup.config.params import PARAMS_FILE, ConfigError

__all__ = ["apply_overlay", "load_profile", "main", "merge", "profile_path", "set_flags", "write_profile"]

PROFILES = Path("profiles")


def profile_path(name: str, folder: Path = PROFILES) -> Path:
    path = folder / f"{name}.yaml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in folder.glob("*.yaml")))
        raise ConfigError(f"{path}: no such profile (known: {known or 'none'})")
    return path


def load_profile(name: str, folder: Path = PROFILES) -> dict:
    return plain(read_yaml(profile_path(name, folder)).data)


def flatten(overlay: Mapping, prefix: str = "") -> list[tuple[str, object]]:
    """Leaves of a mapping as dotted keys; lists stay whole."""
    leaves = []
    for key, value in overlay.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            leaves.extend(flatten(value, dotted + "."))
        else:
            leaves.append((dotted, value))
    return leaves


def set_flags(overlay: Mapping) -> list[str]:
    """``dvc exp run -S`` flags; values in JSON (which DVC's YAML parser reads back faithfully)."""
    return [f"-S={key}={json.dumps(value, separators=(',', ':'))}" for key, value in flatten(overlay)]


def _round_trip() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long line or comment
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.representer.add_representer(
        type(None), lambda representer, _: representer.represent_scalar("tag:yaml.org,2002:null", "null"))
    yaml.representer.add_representer(float, _represent_float)
    return yaml


def _represent_float(representer, value: float):
    """A float as YAML 1.1 readers (PyYAML) also read it: 5e-05 is a string there, 5.0e-05 a float."""
    text = repr(value)
    mantissa, _, exponent = text.partition("e")
    if exponent and "." not in mantissa:
        text = f"{mantissa}.0e{exponent}"
    return representer.represent_scalar("tag:yaml.org,2002:float", text)


def _same(old: Any, new: Any) -> bool:
    """Equal values of the same YAML kind (1 and 1.0 and true all differ)."""
    def kind(value: Any) -> str:
        for name, types in (("bool", bool), ("int", int), ("float", float), ("str", str), ("map", Mapping),
                            ("seq", list)):
            if isinstance(value, types):
                return name
        return type(value).__name__

    if kind(old) != kind(new):
        return False
    if isinstance(new, Mapping):
        return old.keys() == new.keys() and all(_same(old[k], new[k]) for k in new)
    if isinstance(new, list):
        return len(old) == len(new) and all(_same(a, b) for a, b in zip(old, new, strict=True))
    return old == new


def _flat(value: Any) -> bool:
    """Whether ``value`` fits a one-line table entry: scalars, lists of scalars, and mappings of those (an
    attacker's ``mixture: {blur: [2, 8], ...}``)."""
    if isinstance(value, Mapping):
        return all(_flat(v) for v in value.values())
    if isinstance(value, list):
        return not any(isinstance(x, (Mapping, list)) for x in value)
    return True


def _node(value: Any, like: Any = None) -> Any:
    """``value`` as round-trip YAML; a list keeps the flow style of the value it replaces."""
    if isinstance(value, Mapping):
        node = CommentedMap((k, _node(v)) for k, v in value.items())
        if isinstance(like, CommentedMap) and like.fa.flow_style() or like is None and _flat(value):
            node.fa.set_flow_style()  # like the table entries of params.yaml: one line each
        return node
    if isinstance(value, list):
        node = CommentedSeq(_node(v) for v in value)
        # An empty list (``[]``, flow style by nature, though the loader does not mark it) takes a flat value's style.
        flow = like.fa.flow_style() if isinstance(like, CommentedSeq) and like else all(
            not isinstance(v, (Mapping, list)) for v in value)
        if flow:
            node.fa.set_flow_style()
        return node
    return value


def apply_overlay(document: CommentedMap, overlay: Mapping, prefix: str = "") -> list[str]:
    """Set ``overlay``'s leaves in a round-trip ``document``; return the dotted keys that changed."""
    changed = []
    for key, value in overlay.items():
        current = document.get(key)
        if not prefix and key in TABLES and isinstance(value, Mapping) and isinstance(current, CommentedMap):
            for entry in [k for k, v in value.items() if v is None and k in current]:  # `name: null` removes it
                del current[entry]
                changed.append(f"{key}.{entry}")
            if not current:
                current.fa.set_flow_style()  # an emptied table reads `variants: {}`, not a stray `{}` line
            value = {k: v for k, v in value.items() if v is not None}
        if isinstance(value, Mapping) and isinstance(current, CommentedMap):
            if not value and not current:
                continue
            if current.fa.flow_style() and value and not current:  # `datasets: {}` gets block-style entries; a
                current.fa.set_block_style()                          # one-line entry stays on its line
            changed += apply_overlay(current, value, f"{prefix}{key}.")
        elif key not in document or not _same(current, value):
            document[key] = _node(value, current)
            changed.append(f"{prefix}{key}")
    return changed


def write_profile(name: str, params: str | os.PathLike = PARAMS_FILE, folder: Path = PROFILES) -> list[str]:
    """Merge profile ``name`` into ``params`` in place, keeping its comments; return the changed keys."""
    source = profile_path(name, folder)
    load_config(params, overlays=[source])  # the merged study must validate before anything is written
    overlay = load_profile(name, folder)
    yaml = _round_trip()
    path = Path(params)
    document = yaml.load(path.read_text())
    changed = apply_overlay(document, overlay)
    if changed:
        buffer = io.StringIO()
        yaml.dump(document, buffer)
        staging = path.with_name(f".{path.name}.tmp")
        staging.write_text(buffer.getvalue())
        os.replace(staging, path)
    return changed


def refusal(option: str, name: str) -> str:
    """An option ``dvc exp run`` refuses as unrecognised before running anything, naming the profile in one shell
    word (``$(...)`` splits words and expands globs, so any other character becomes ``_``)."""
    return f"--{option}={re.sub(r'[^A-Za-z0-9_.-]', '_', name) or '_'}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile")
    parser.add_argument("--write", action="store_true", help="merge the profile into params.yaml")
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:
        if stop.code:  # a usage error (not --help): no name, so no profile either
            print(refusal("no-such-profile", ""))
        raise
    try:
        if args.write:
            changed = write_profile(args.profile)
            print(f"{PARAMS_FILE}: {len(changed)} key(s) changed by profiles/{args.profile}.yaml"
                  + (f": {', '.join(changed)}" if changed else ""), file=sys.stderr)
        else:
            print(" ".join(_flags(args.profile)))
    except ConfigError as error:
        print(f"error: {error}".replace("\n", "\nerror: "), file=sys.stderr)
        raise SystemExit(2) from None


def _flags(name: str) -> list[str]:
    """The profile's ``-S`` flags, validated; on any failure, a refused option goes to stdout first."""
    try:
        path = profile_path(name)
    except ConfigError:
        print(refusal("no-such-profile", name))
        raise
    try:
        load_config(PARAMS_FILE, overlays=[path])
        return set_flags(load_profile(name))
    except Exception:
        print(refusal("invalid-profile", name))
        raise


if __name__ == "__main__":
    main()
