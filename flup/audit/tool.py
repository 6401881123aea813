"""What a redaction tool is, for an audit: a command line, or a Python function.

A **command tool** is a template such as ``deface {input} -o {output}``. It is split into arguments with
:func:`shlex.split` (POSIX quoting: quote a path with spaces) and never run through a shell, so no pipe,
redirection, ``~`` or ``$VAR`` is expanded. The placeholders are replaced inside each argument (``--out={output}``
works), and ``{{`` / ``}}`` stand for literal braces:

* ``{input}``: the photo, a read-only copy in a private work folder (the tool never sees the user's file);
* ``{output}``: the file the tool must write, in an empty private folder, named like the input with the
  *same suffix* (``x.jpg`` -> ``.../x.jpg``): a tool that writes another format must still write this name;
* ``{output_dir}``: instead of ``{output}``, an empty folder where the tool must write exactly one file, of
  any name and image format (for a tool that only takes an output folder, or picks its own suffix).

A template needs ``{input}`` and exactly one of ``{output}`` / ``{output_dir}``; any other placeholder is refused
when the tool is described (:class:`TemplateError`, naming the template), before anything runs.

A **Python tool** is a function ``redact(image) -> image`` on OpenCV's BGR ``uint8`` arrays (height x width x 3);
it must return an array of the same shape, stored losslessly as PNG.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import shlex
import shutil
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

INPUT, OUTPUT, OUTPUT_DIR = "input", "output", "output_dir"
PLACEHOLDERS = (INPUT, OUTPUT, OUTPUT_DIR)


class TemplateError(ValueError):
    """A command template that cannot describe a tool run (refused before anything runs)."""


class ToolNotFoundError(FileNotFoundError):
    """The program of a command tool is not installed (or not executable)."""


def _placeholders(template: str, argument: str) -> list[str]:
    """The placeholders of one argument; TemplateError for anything but a plain known name."""
    found = []
    try:
        parts = list(string.Formatter().parse(argument))
    except ValueError as error:  # a lone { or }
        raise TemplateError(f"command template {template!r}: {error} in argument {argument!r} (write a literal "
                            "brace as {{ or }})") from None
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in PLACEHOLDERS or spec or conversion:
            shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise TemplateError(f"command template {template!r}: unknown placeholder {shown} (known: "
                                f"{', '.join('{' + p + '}' for p in PLACEHOLDERS)}; a literal brace is {{{{ or }}}})")
        found.append(name)
    return found


@dataclass(frozen=True)
class CommandTool:
    """A command-line tool, e.g. ``CommandTool("deface {input} -o {output}", version="1.5.0")``.

    ``name`` (default: the program's name) is how messages call it. ``version`` and ``version_command`` (a
    command, no placeholders, whose output names the installed version, e.g. ``deface --version``) only feed the
    cache key: a new version of the tool reruns every photo.
    """

    template: str
    name: str = ""
    version: str | None = None
    version_command: str | None = None
    arguments: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        try:
            arguments = tuple(shlex.split(self.template))
        except ValueError as error:
            raise TemplateError(f"command template {self.template!r}: {error}") from None
        if not arguments:
            raise TemplateError("command template is empty: expected e.g. 'deface {input} -o {output}'")
        used = [p for argument in arguments for p in _placeholders(self.template, argument)]
        if _placeholders(self.template, arguments[0]):
            raise TemplateError(f"command template {self.template!r}: the program ({arguments[0]!r}) cannot be a "
                                "placeholder")
        missing = [f"{{{p}}}" for p in (INPUT,) if p not in used]
        if OUTPUT not in used and OUTPUT_DIR not in used:
            missing.append("{output} (or {output_dir})")
        if missing:
            raise TemplateError(f"command template {self.template!r} has no {' and no '.join(missing)}: flup "
                                "must tell the tool which photo to read and where to write, e.g. "
                                "'deface {input} -o {output}'")
        if OUTPUT in used and OUTPUT_DIR in used:
            raise TemplateError(f"command template {self.template!r} has both {{output}} and {{output_dir}}: use "
                                "one")
        if self.version_command is not None:
            try:
                version_arguments = shlex.split(self.version_command)
            except ValueError as error:
                raise TemplateError(f"version command {self.version_command!r}: {error}") from None
            if not version_arguments:
                raise TemplateError(f"version command of {self.template!r} is empty")
        object.__setattr__(self, "arguments", arguments)
        if not self.name:
            object.__setattr__(self, "name", Path(arguments[0]).name)

    @property
    def program(self) -> str:
        return self.arguments[0]

    @property
    def writes_folder(self) -> bool:
        """Whether the tool takes ``{output_dir}`` (a folder) rather than ``{output}`` (a file)."""
        return any(OUTPUT_DIR in _placeholders(self.template, a) for a in self.arguments)

    def argv(self, input_path: Path, output_path: Path) -> list[str]:
        """The arguments for one photo; ``output_path`` is the file, or the folder for ``{output_dir}``."""
        values = {INPUT: str(input_path), OUTPUT: str(output_path), OUTPUT_DIR: str(output_path)}
        return [argument.format(**values) for argument in self.arguments]

    def version_argv(self) -> list[str] | None:
        return None if self.version_command is None else shlex.split(self.version_command)

    def check_installed(self) -> None:
        """ToolNotFoundError naming the tool unless its program (and its version command's) can be run."""
        for program in dict.fromkeys([self.program, *(self.version_argv() or [])[:1]]):
            if os.sep in program or (os.altsep and os.altsep in program):
                runnable = Path(program).is_file() and os.access(program, os.X_OK)
            else:
                runnable = shutil.which(program) is not None
            if not runnable:
                raise ToolNotFoundError(f"tool {self.name!r}: program {program!r} (command {self.template!r}) is "
                                        "not installed or not executable on this machine's PATH")

    def identity(self, version_output: str | None = None) -> dict:
        """What the cache key hashes: the template as written, the declared version, and ``version_output``
        (what ``version_command`` printed)."""
        return {"kind": "command", "template": self.template, "version": self.version,
                "version_command": self.version_command, "version_output": version_output}


Redact = Callable[[np.ndarray], np.ndarray]


def _source_sha256(function: Callable) -> str | None:
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):  # built in, or defined where no source is kept (a REPL)
        return None
    return hashlib.sha256(source.encode()).hexdigest()


@dataclass(frozen=True)
class PythonTool:
    """A Python function ``redact(image) -> image`` (BGR ``uint8``, height x width x 3, same shape out).

    Its cache key is the function's module and qualified name, ``version`` and the sha256 of its source where
    Python can read it: editing the function reruns every photo, but a change in something it *calls* does
    not, so bump ``version`` then. Runs in threads of this process, so the time limit is not enforced on it
    (a thread cannot be killed); its duration is recorded.
    """

    redact: Redact
    name: str = ""
    version: str | None = None

    def __post_init__(self) -> None:
        if not callable(self.redact):
            raise TypeError(f"a Python tool must be a function redact(image) -> image, got {self.redact!r}")
        if not self.name:
            object.__setattr__(self, "name", getattr(self.redact, "__qualname__", type(self.redact).__name__))

    def identity(self) -> dict:
        function = self.redact
        return {"kind": "python", "function": f"{getattr(function, '__module__', '?')}."
                                              f"{getattr(function, '__qualname__', type(function).__qualname__)}",
                "version": self.version, "source_sha256": _source_sha256(function)}


Tool = CommandTool | PythonTool


def as_tool(spec: str | Redact | Tool, name: str = "", version: str | None = None) -> Tool:
    """A tool from a command template, a ``redact`` function, or a tool already described."""
    if isinstance(spec, CommandTool | PythonTool):
        return spec
    if isinstance(spec, str):
        return CommandTool(spec, name=name, version=version)
    return PythonTool(spec, name=name, version=version)
