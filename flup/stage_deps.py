"""The code each DVC stage runs, read from its imports: dvc.yaml's code dependencies are generated from it.

    python -m flup.stage_deps            # print the stages whose code dependencies differ from their imports
    python -m flup.stage_deps --write    # rewrite those dependencies in dvc.yaml (data dependencies kept)

A stage's code is its module (``python -m stages.<name>``) and every ``flup``/``stages`` module it imports,
transitively, with the packages' ``__init__.py`` that Python runs on the way: so a code change reruns exactly
the stages that run the changed code. A folder stands for its modules where the stage runs every one of them.
``flup/__init__.py`` (the notebook API) and ``flup/log.py`` are left out: they cannot change what a stage
writes. tests/test_pipeline_definition.py checks that dvc.yaml matches.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections.abc import Iterable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("flup", "stages")
NOT_RESULTS = frozenset({"flup/__init__.py", "flup/log.py"})
VALIDATED = "data/validated"  # stage validate's token (stages/validate.py): every other stage depends on it
WIDTH = 118


def _runs(node: ast.AST) -> bool:
    """False for ``if TYPE_CHECKING:`` blocks (imports for type annotations only)."""
    test = node.test if isinstance(node, ast.If) else None
    return not (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"
                or isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk(node: ast.AST) -> Iterable[ast.AST]:
    yield node
    for child in ast.iter_child_nodes(node):
        if _runs(child):
            yield from _walk(child)


def _imported_names(path: Path) -> Iterable[str]:
    """The modules ``path`` imports, at the top or inside functions (those run too), not for type checking."""
    for node in _walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def _module_files(name: str, root: Path) -> list[str]:
    """The files Python runs to import ``name`` (a module or package of ours): its packages' ``__init__.py``
    from the top down, then the module itself. Empty for a name that is not ours (or an attribute)."""
    parts = name.split(".")
    if parts[0] not in PACKAGES:
        return []
    files = []
    for depth in range(1, len(parts) + 1):
        stem = "/".join(parts[:depth])
        for candidate in (f"{stem}/__init__.py", f"{stem}.py"):
            if (root / candidate).is_file():
                files.append(candidate)
                break
        else:
            return files if depth > 1 else []  # ``from flup.x import some_function``: the rest is not a file
    return files


def stage_code(module: str, root: Path = ROOT) -> set[str]:
    """Every file of ours that ``python -m <module>`` runs (repository-relative), ``NOT_RESULTS`` included."""
    seen: set[str] = set()
    todo = _module_files(module, root)
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        if path in NOT_RESULTS:  # the API's lazy imports run only when a notebook calls it
            continue
        for name in _imported_names(root / path):
            todo.extend(_module_files(name, root))
    return seen


def code_deps(module: str, root: Path = ROOT) -> list[str]:
    """``stage_code`` as dvc.yaml lists it: without ``NOT_RESULTS``, a folder for a folder whose modules
    (recursively) the stage all runs, sorted."""
    code = stage_code(module, root) - NOT_RESULTS
    listed: list[str] = []
    for path in sorted(code):
        folder = _widest_whole_folder(path, code, root)
        entry = folder or path
        if entry not in listed:
            listed.append(entry)
    return sorted(listed)


def _widest_whole_folder(path: str, code: set[str], root: Path) -> str | None:
    parts = path.split("/")
    for depth in range(2, len(parts)):  # never a top-level package (flup/, stages/): their __init__ differs
        folder = "/".join(parts[:depth])
        modules = {p.relative_to(root).as_posix() for p in (root / folder).rglob("*.py")
                   if "__pycache__" not in p.parts}
        if modules and modules <= code:
            return folder
    return None


def stage_module(stage: dict) -> str:
    return re.search(r"python -m (\S+)", stage["cmd"]).group(1)


def stage_definitions(root: Path = ROOT) -> dict[str, dict]:
    """dvc.yaml's stages, a ``foreach``/``matrix`` stage by its ``do`` body."""
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    return {name: stage.get("do", stage) for name, stage in stages.items()}


def _dep_name(dep) -> str:
    return (dep if isinstance(dep, str) else next(iter(dep))).rstrip("/")


def is_code(dep: str) -> bool:
    return dep.split("/")[0] in PACKAGES


def expected_deps(name: str, stage: dict, root: Path = ROOT) -> list[str]:
    """The deps a stage should list: the validation token, its code, then its data deps as listed."""
    data = [_dep_name(d) for d in stage.get("deps", []) if not is_code(_dep_name(d)) and _dep_name(d) != VALIDATED]
    token = [] if name == "validate" else [VALIDATED]
    return token + code_deps(stage_module(stage), root) + data


def differences(root: Path = ROOT) -> dict[str, tuple[list[str], list[str]]]:
    """Stage -> (listed deps, expected deps) for each stage whose deps differ."""
    out = {}
    for name, stage in stage_definitions(root).items():
        listed = [_dep_name(d) for d in stage.get("deps", [])]
        expected = expected_deps(name, stage, root)
        if listed != expected:
            out[name] = (listed, expected)
    return out


def _flow_list(items: list[str], indent: int) -> str:
    """``deps: [a, b, ...]`` wrapped at :data:`WIDTH`, continuation lines under the first item."""
    quoted = [f'"{item}"' if "$" in item else item for item in items]
    lines, line = [], " " * indent + "deps: ["
    pad = " " * (indent + len("deps: ["))
    for i, item in enumerate(quoted):
        piece = item + ("]" if i == len(quoted) - 1 else ",")
        if len(line) + len(piece) + 1 > WIDTH and line.strip() not in ("deps: [",):
            lines.append(line.rstrip())
            line = pad
        line += piece if line.endswith("[") or line == pad else " " + piece
    lines.append(line)
    return "\n".join(lines)


def rewrite(text: str, root: Path = ROOT) -> str:
    """dvc.yaml's text with every stage's ``deps: [...]`` replaced by its expected deps (comments after the
    closing bracket kept)."""
    stages = stage_definitions(root)
    out, position = [], 0
    current = None
    stage_line = re.compile(r"^  ([A-Za-z0-9_-]+):\s*$", re.M)
    deps_line = re.compile(r"^( +)deps: \[", re.M)
    for match in deps_line.finditer(text):
        before = [m.group(1) for m in stage_line.finditer(text, 0, match.start())]
        current = before[-1]
        end = text.index("]", match.end())
        while text.count("[", match.end(), end) > 0:  # no nested lists in deps; guard anyway
            end = text.index("]", end + 1)
        out.append(text[position:match.start()])
        out.append(_flow_list(expected_deps(current, stages[current], root), len(match.group(1))))
        position = end + 1
    out.append(text[position:])
    return "".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flup.stage_deps", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite dvc.yaml's deps")
    args = parser.parse_args(argv)
    path = ROOT / "dvc.yaml"
    if args.write:
        path.write_text(rewrite(path.read_text()))
    differ = differences()
    for name, (listed, expected) in differ.items():
        print(f"{name}: listed {len(listed)}, expected {len(expected)}: "
              f"missing {sorted(set(expected) - set(listed))}, extra {sorted(set(listed) - set(expected))}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
