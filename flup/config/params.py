"""Reading params.yaml: one section per stage; errors name the offending parameter."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

PARAMS_FILE = "params.yaml"


class ParamError(ValueError):
    """A parameter in params.yaml is missing or has a bad value."""


def load_params(path: str | os.PathLike = PARAMS_FILE) -> dict:
    source = Path(path)
    if not source.exists():
        raise ParamError(f"{source}: parameter file not found")
    data = yaml.safe_load(source.read_text()) or {}
    if not isinstance(data, dict):
        raise ParamError(f"{source}: expected a mapping of sections at the top level")
    return data


_MISSING = object()


def get(params: dict, dotted: str, default: Any = _MISSING) -> Any:
    """``get(params, "detect.det_size")``; raise ParamError naming the key if absent."""
    node: Any = params
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            if default is _MISSING:
                raise ParamError(f"params.yaml: missing parameter '{dotted}'")
            return default
        node = node[part]
    return node


def choice(params: dict, dotted: str, allowed: tuple[str, ...], default: Any = _MISSING) -> str:
    value = get(params, dotted, default)
    if value not in allowed:
        raise ParamError(f"params.yaml: '{dotted}' is {value!r}; expected one of {', '.join(allowed)}")
    return value
