"""Is the committed ``dvc.lock`` the record of this tree? Checked without running a stage or reading data.

For every stage of ``dvc.yaml`` (``foreach``/``matrix`` stages expanded, as DVC names them: ``train@random_blur``)
the lock must hold an entry whose

- command is the stage's command;
- dependency, parameter and output lists are the ones ``dvc.yaml`` declares now;
- recorded parameter values equal ``params.yaml``'s current values;
- recorded hashes of the files and folders that git tracks (code such as ``stages/*.py`` or ``flup/<package>``,
  and committed results such as ``metrics/*.json``) equal their current hashes, computed by DVC's own hashing
  (a folder's ``.dir`` hash, ``.dvcignore`` honoured) without writing anything to the cache.

Data that git does not track (``data/...``) is not compared, so the check runs on a fresh clone without data or
cache, as CI has it. A stale stage is named with the reasons and the command that refreshes it.

Run it by hand: ``python -m flup.lockcheck [project folder]`` (exit status 1 when the lock is stale).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import yaml


@dataclass
class Stale:
    """A stage whose ``dvc.lock`` entry does not describe the current tree, and why."""

    stage: str
    reasons: list[str] = field(default_factory=list)
    leftover: bool = False  # an entry of dvc.lock for a stage dvc.yaml no longer has (repro does not remove it)


def git_tracked(root: Path) -> set[str]:
    """Paths (relative to ``root``, posix) of files git tracks below ``root``, and every folder above them."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--", "."], cwd=root, capture_output=True, check=True,
                                text=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", "") or error
        raise RuntimeError(f"{root}: cannot list the files git tracks ({str(detail).strip()}); "
                           "the lock check compares only git-tracked dependencies") from error
    tracked: set[str] = set()
    for name in filter(None, listed.split("\0")):
        path = PurePosixPath(name)
        tracked.add(path.as_posix())
        tracked.update(parent.as_posix() for parent in path.parents if parent.as_posix() != ".")
    return tracked


def _plain(value):
    """YAML-comparable form: tuples become lists (DVC treats them alike)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _current_hash(item) -> str | None:
    """DVC's hash of a dependency's or output's workspace path (None when it does not exist); writes nothing."""
    from dvc_data.hashfile.build import build

    if not item.fs.exists(item.fs_path):
        return None
    _, _, obj = build(item.local_cache, item.fs_path, item.fs, item.hash_name, ignore=item.dvcignore,
                      dry_run=True)
    return obj.hash_info.value


def _lock_entries(lock_path: Path) -> dict:
    """The lock's stages, read as DVC reads them: YAML 1.2 (PyYAML's 1.1 reads DVC's ``5e-05`` as a string)."""
    from dvc.utils.serialize import parse_yaml

    if not lock_path.is_file():
        return {}
    return (parse_yaml(lock_path.read_text(), str(lock_path)) or {}).get("stages") or {}


def _differences(path: str, before, after) -> list[tuple[str, str, str]]:
    """Dotted paths of the leaves that differ between two parameter values (missing shown as 'absent')."""
    if before == after:
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        found = []
        for key in [*before, *(k for k in after if k not in before)]:
            if key not in after:
                found.append((f"{path}.{key}", _short(before[key]), "absent"))
            elif key not in before:
                found.append((f"{path}.{key}", "absent", _short(after[key])))
            else:
                found += _differences(f"{path}.{key}", before[key], after[key])
        return found
    return [(path, _short(before), _short(after))]


def _short(value) -> str:
    text = yaml.safe_dump(_plain(value), default_flow_style=True, width=10_000).strip()
    text = text.removesuffix("\n...").strip()
    return text if len(text) <= 80 else text[:77] + "..."


def _compare_stage(stage, entry: dict, tracked: set[str], root: Path) -> list[str]:
    from dvc.dependency.param import ParamsDependency

    reasons: list[str] = []
    if entry.get("cmd") != stage.cmd:
        reasons.append(f"command changed: {entry.get('cmd')!r} -> {stage.cmd!r}")

    # Files and folders: declared lists, then hashes of what git tracks.
    file_deps = [d for d in stage.deps if not isinstance(d, ParamsDependency)]
    for kind, items, recorded_list in (("deps", file_deps, entry.get("deps") or []),
                                       ("outs", stage.outs, entry.get("outs") or [])):
        recorded = {str(r["path"]).rstrip("/"): r for r in recorded_list}
        declared = {str(item.def_path).rstrip("/"): item for item in items}
        added = sorted(set(declared) - set(recorded))
        removed = sorted(set(recorded) - set(declared))
        if added:
            reasons.append(f"{kind} not recorded in the lock: {', '.join(added)}")
        if removed:
            reasons.append(f"{kind} recorded but no longer declared: {', '.join(removed)}")
        changed = []
        for path, item in declared.items():
            if path not in recorded or not item.is_in_repo:
                continue
            relative = Path(item.fs_path).resolve().relative_to(root).as_posix()
            if relative not in tracked:
                continue  # data: not in git, so not in a fresh clone; `dvc status` compares it where it exists
            now = _current_hash(item)
            if now is None:
                changed.append(f"{path} (deleted)")
            elif now != recorded[path].get("md5"):
                changed.append(path)
        if changed:
            what = "code or inputs changed" if kind == "deps" else "committed outputs differ from the lock"
            reasons.append(f"{what}: {', '.join(changed)}")

    # Parameters: per file, the declared keys and their values.
    recorded_params = entry.get("params") or {}
    declared_files = set()
    for dep in (d for d in stage.deps if isinstance(d, ParamsDependency)):
        name = str(dep.def_path)
        declared_files.add(name)
        recorded = _plain(recorded_params.get(name, {}))
        current = _plain(dep.read_params())
        keys = list(dep.params) or sorted(set(current) | set(recorded))
        for key in keys:
            if key not in current:
                reasons.append(f"{name}: {key} is missing from {name}")
            elif key not in recorded:
                reasons.append(f"{name}: {key} not recorded in the lock")
            else:
                reasons += [f"{name}: {path} was {before} in the run, is {after} now"
                            for path, before, after in _differences(key, recorded[key], current[key])]
        extra = sorted(set(recorded) - set(keys))
        if extra:
            reasons.append(f"{name}: recorded but no longer declared: {', '.join(extra)}")
    for name in sorted(set(recorded_params) - declared_files):
        reasons.append(f"params recorded from {name}, which the stage no longer declares")
    return reasons


def check(root: str | Path = ".") -> tuple[list[str], list[Stale]]:
    """All pipeline stages (DVC's names, in ``dvc.yaml`` order) and those whose lock entry is stale."""
    from dvc.repo import Repo
    from dvc.stage import PipelineStage

    root = Path(root).resolve()
    tracked = git_tracked(root)
    names: list[str] = []
    stale: list[Stale] = []
    locks: dict[Path, dict] = {}
    with Repo(str(root)) as repo:
        for stage in repo.index.stages:
            if not isinstance(stage, PipelineStage):
                continue  # a .dvc file (dvc add / import) has no dvc.lock entry
            lock_path = Path(stage.dvcfile.path).resolve().with_name("dvc.lock")
            if lock_path not in locks:
                locks[lock_path] = _lock_entries(lock_path)
            # as `dvc repro` takes it from the project folder: `train@a`, or `sub/dvc.yaml:train@a`
            dvcfile = Path(stage.dvcfile.path).resolve().relative_to(root).as_posix()
            name = stage.name if dvcfile == "dvc.yaml" else f"{dvcfile}:{stage.name}"
            names.append(name)
            entry = locks[lock_path].get(stage.name)
            if entry is None:
                stale.append(Stale(name, [f"not in {lock_path.relative_to(root).as_posix()}"]))
                continue
            reasons = _compare_stage(stage, entry, tracked, root)
            if reasons:
                stale.append(Stale(name, reasons))
        for lock_path, entries in locks.items():
            current = {stage.name for stage in repo.index.stages if isinstance(stage, PipelineStage)
                       and Path(stage.dvcfile.path).resolve().with_name("dvc.lock") == lock_path}
            where = lock_path.relative_to(root).as_posix()
            stale += [Stale(name, [f"in {where} but no longer a stage of the pipeline: delete its entry"],
                            leftover=True) for name in entries if name not in current]
    return names, stale


def report(names: list[str], stale: list[Stale]) -> str:
    """What a person reads: the stale stages with reasons, and the command that refreshes them."""
    if not stale:
        return f"dvc.lock records the current tree: {len(names)} stages, params and git-tracked files match"
    leftovers = [s.stage for s in stale if s.leftover]
    current = [s for s in stale if not s.leftover]
    head = f"dvc.lock is stale for {len(current)} of {len(names)} stages"
    if leftovers:
        head += f" and records {len(leftovers)} stage{'s' * (len(leftovers) != 1)} the pipeline no longer has"
    lines = [head + " (it does not record what this tree's code and params.yaml produce):"]
    for item in stale:
        lines.append(f"  {item.stage}:")
        lines += [f"    - {reason}" for reason in item.reasons]
    if leftovers:
        lines.append(f"Delete the leftover entries ({', '.join(leftovers)}) from dvc.lock.")
    stale = current
    if not stale:
        return "\n".join(lines)
    if len(stale) == len(names):
        command = "`dvc repro` (the whole default run)"
    else:
        command = f"`dvc repro {' '.join(s.stage for s in stale)}` (or `dvc repro` for the whole default run)"
    lines.append(f"Refresh: {command}, then commit dvc.lock together with the outputs it records "
                 "(metrics/, plots/).")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1 or (args and args[0] in ("-h", "--help")):
        print(__doc__.strip().splitlines()[0] + "\nusage: python -m flup.lockcheck [project folder]")
        return 2
    names, stale = check(args[0] if args else ".")
    print(report(names, stale))
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
