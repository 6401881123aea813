"""Where the report's numbers come from: the params and data each upstream stage ran with, as ``dvc.lock``
recorded them, what changed in params.yaml since, and whether the metrics files are the ones recorded.

Pure: dvc.lock's and params.yaml's data in, markdown lines out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from flup.report.markdown import table

# Stages whose dvc.lock params and outputs say which data and settings the metrics came from.
PROVENANCE_OUTS = ("data/raw/lfw", "data/faces/lfw.parquet", "data/protocols", "data/render")


def _flat(value, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, Mapping) and value:
        out = []
        for key, sub in value.items():
            out += _flat(sub, f"{prefix}.{key}" if prefix else str(key))
        return out
    return [(prefix, json.dumps(value, separators=(", ", ": ")))]


def _get(params: Mapping, dotted: str):
    node = params
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


_MISSING = object()


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True)


def provenance(lock: Mapping | None, params: Mapping, current_md5: Mapping[str, str]) -> list[str]:
    """Markdown lines: the params and data each upstream stage ran with (from dvc.lock), where
    params.yaml has changed since, and whether the metrics files are the ones dvc.lock recorded."""
    if not lock or not lock.get("stages"):
        return ["No `dvc.lock` was found: the params and data of this run cannot be traced.", ""]
    stages = lock["stages"]
    lines = ["Parameters each stage ran with, as recorded in `dvc.lock`:", ""]
    rows, changed = [], []
    for stage, entry in stages.items():
        if stage in ("plot", "report"):
            continue
        recorded = entry.get("params", {}).get("params.yaml", {})
        for key, value in _flat(recorded):
            rows.append((stage, f"`{key}`", f"`{value}`"))
        for key, value in recorded.items():  # whole sections, so added keys count as changes too
            now = _get(params, key)
            if now is _MISSING or _canonical(now) != _canonical(value):
                changed.append(key)
    lines += table(["stage", "parameter", "value"], rows)
    if changed:
        keys = ", ".join(f"`{k}`" for k in sorted(set(changed)))
        lines += [f"**params.yaml has changed since this run** ({keys}): `dvc repro` brings the report up to date.",
                  ""]
    outs = {}
    for stage, entry in stages.items():
        for out in entry.get("outs", []):
            outs[out["path"]] = (stage, out.get("md5", "?"), out.get("nfiles"))
    data_rows = [(f"`{p}`", outs[p][0], f"`{outs[p][1]}`", "" if outs[p][2] is None else str(outs[p][2]))
                 for p in sorted(outs) if p.startswith(PROVENANCE_OUTS) or p.startswith("data/scores/")]
    if data_rows:
        lines += ["Data, by the md5 `dvc.lock` recorded:", ""]
        lines += table(["path", "stage", "md5", "files"], data_rows)
    for path, md5 in sorted(current_md5.items()):
        recorded = outs.get(path)
        if recorded is None:
            lines.append(f"- `{path}` (md5 `{md5}`) is not recorded in `dvc.lock`.")
        elif recorded[1] != md5:
            lines.append(f"- **`{path}` differs from the file `dvc.lock` recorded** (md5 `{md5}`, recorded "
                         f"`{recorded[1]}`): it was edited or not yet committed by DVC.")
        else:
            lines.append(f"- `{path}` is the file `dvc.lock` recorded (md5 `{md5}`).")
    return lines + [""]
