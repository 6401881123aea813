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

