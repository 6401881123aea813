"""Parameter profiles: small overlays on params.yaml (profiles/<name>.yaml).

``python -m flup.config.profiles cpu`` prints the profile as ``-S key=value`` flags for
``dvc exp run``; ``python -m flup.config.profiles cpu --write`` merges it into params.yaml instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from flup.config.params import PARAMS_FILE, load_params

PROFILES = Path("profiles")


def load_profile(name: str) -> dict:
    path = PROFILES / f"{name}.yaml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in PROFILES.glob("*.yaml")))
        raise FileNotFoundError(f"{path}: no such profile (known: {known})")
    return yaml.safe_load(path.read_text()) or {}


def merge(base: dict, overlay: dict) -> dict:
    """Deep-merge ``overlay`` into a copy of ``base`` (mappings merge, everything else replaces)."""
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def flatten(overlay: dict, prefix: str = "") -> list[tuple[str, object]]:
    """Leaves of a mapping as dotted keys; lists stay whole."""
    leaves = []
    for key, value in overlay.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            leaves.extend(flatten(value, dotted + "."))
        else:
            leaves.append((dotted, value))
    return leaves


def set_flags(overlay: dict) -> list[str]:
    """``dvc exp run -S`` flags; values in JSON (which DVC's YAML parser reads back faithfully)."""
    return [f"-S={key}={json.dumps(value, separators=(',', ':'))}" for key, value in flatten(overlay)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile")
    parser.add_argument("--write", action="store_true", help="merge the profile into params.yaml")
    args = parser.parse_args(argv)
    overlay = load_profile(args.profile)
    if args.write:
        merged = merge(load_params(), overlay)
        Path(PARAMS_FILE).write_text(yaml.safe_dump(merged, sort_keys=False))
    else:
        sys.stdout.write(" ".join(set_flags(overlay)) + "\n")


if __name__ == "__main__":
    main()
