"""The errors a bad parameter raises; the schema is :mod:`flup.config.schema`, the loader :mod:`flup.config.loader`."""

from __future__ import annotations

from collections.abc import Sequence

PARAMS_FILE = "params.yaml"
Path_ = tuple  # a key's path: section names, table keys and list indices
Where = dict  # path -> (file, line)


class ParamError(ValueError):
    """A parameter in params.yaml is missing or has a bad value."""


class ConfigError(ParamError):
    """params.yaml (or a profile merged onto it) failed validation: one line per problem,
    ``<file>:<line>: <dotted.key>: <what was expected>, got <value>``."""

    def __init__(self, problems: Sequence[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


def dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def location(where: Where, path: Path_, source: str = PARAMS_FILE) -> str:
    """``file:line`` of ``path``, or of its closest parent that the file writes."""
    for end in range(len(path), -1, -1):
        if path[:end] in where:
            file, line = where[path[:end]]
            return f"{file}:{line}"
    return f"{source}:1"
