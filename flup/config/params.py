"""The errors a bad parameter raises; the schema is :mod:`flup.config.schema`, the loader :mod:`flup.config.loader`."""

from __future__ import annotations

from collections.abc import Sequence

PARAMS_FILE = "params.yaml"


class ParamError(ValueError):
    """A parameter in params.yaml is missing or has a bad value."""


class ConfigError(ParamError):
    """params.yaml (or a profile merged onto it) failed validation: one line per problem,
    ``<file>:<line>: <dotted.key>: <what was expected>, got <value>``."""

    def __init__(self, problems: Sequence[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))



# --- the raw-dict reading the stages used before the typed schema (removed once they load the schema) ---
import os  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import yaml  # noqa: E402


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
