"""``python -m flup audit``: add a redaction tool to params.yaml's ``audits:`` table and run its audit.

    python -m flup audit --name deface_default --command "deface {input} -o {output}"
    python -m flup audit --name deface_solid --command "deface {input} -o {output} --replacewith solid" \\
        --version-command "deface --version" --max-probes 200 --keep-going

The command template is checked first (``{input}`` and ``{output}`` or ``{output_dir}``, no unknown placeholder),
then the whole study with the new entry is validated as ``params.yaml`` would be: a bad template, name or option is
refused before anything changes or runs. The entry is then written into params.yaml (a round trip that keeps its
comments; an entry of the same name is replaced) and ``dvc repro audit@NAME`` runs with its output streamed: the
tool on the probes (redact@NAME, cached per photo), then the scoring (audit@NAME), and whatever of the study they
need and is not up to date. ``--no-run`` only writes the entry. The verdict is in audits/NAME/audit.json and
audit.html (docs/audit.md).
"""

from __future__ import annotations

import argparse
import io
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from flup.audit.tool import CommandTool, TemplateError
from flup.config.params import PARAMS_FILE, ConfigError


def entry_of(args: argparse.Namespace) -> dict:
    """The params.yaml entry the options describe (only what was given; the schema has the defaults)."""
    entry: dict = {"command": args.command}
    if args.version_command is not None:
        entry["version_command"] = args.version_command
    if args.timeout_s is not None:
        entry["timeout_s"] = args.timeout_s
    if args.workers is not None:
        entry["workers"] = args.workers
    if args.keep_going:
        entry["keep_going"] = True
    if args.max_probes is not None:
        entry["max_probes"] = args.max_probes
    return entry


def check_entry(name: str, entry: dict, params: str | os.PathLike = PARAMS_FILE) -> None:
    """TemplateError or ConfigError unless params.yaml with ``audits.<name>`` set to ``entry`` (replacing an entry
    of that name) is a valid study."""
    CommandTool(entry["command"], name=name, version_command=entry.get("version_command"))
    from flup.config.loader import merge_documents, read_yaml, validate

    document = read_yaml(params)
    audits = document.data.get("audits")
    if isinstance(audits, dict):
        audits.pop(name, None)
    with tempfile.TemporaryDirectory(prefix="flup-audit-") as folder:
        overlay = Path(folder) / "options.yaml"
        overlay.write_text(yaml.safe_dump({"audits": {name: entry}}, sort_keys=False))
        try:
            validate(merge_documents(document, read_yaml(overlay)), str(params))
        except ConfigError as error:  # the new entry's lines are the options', not a file's
            raise ConfigError([re.sub(rf"^{re.escape(str(overlay))}:\d+", "the options", problem)
                               for problem in error.problems]) from None


def write_entry(name: str, entry: dict, params: str | os.PathLike = PARAMS_FILE) -> None:
    """Set ``audits.<name>`` to ``entry`` in params.yaml (replacing an entry of that name), keeping its comments."""
    from flup.config.profiles import _node, _round_trip, apply_overlay

    yaml_rt = _round_trip()
    path = Path(params)
    document = yaml_rt.load(path.read_text())
    if "audits" not in document:
        document["audits"] = {}
    if isinstance(document["audits"], dict) and name in document["audits"]:
        document["audits"][name] = _node(entry)  # replaced whole, where it was
    else:
        apply_overlay(document, {"audits": {name: entry}})
    buffer = io.StringIO()
    yaml_rt.dump(document, buffer)
    staging = path.with_name(f".{path.name}.tmp")
    staging.write_text(buffer.getvalue())
    os.replace(staging, path)


def repro(name: str) -> int:
    """``dvc repro audit@NAME``, its output streamed to this terminal; its exit status."""
    command = [sys.executable, "-m", "dvc", "repro", f"audit@{name}"]
    print(f"$ dvc repro audit@{name}", file=sys.stderr, flush=True)
    return subprocess.run(command, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flup audit", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:5]))
    parser.add_argument("--name", required=True, help="the audit's name (letters, digits, _ and -): its stages "
                                                      "redact@NAME and audit@NAME, its folder audits/NAME")
    parser.add_argument("--command", required=True, help="the tool's command line with {input} and {output} "
                                                         "(or {output_dir}); split like a shell, never run by one")
    parser.add_argument("--version-command", help="a command printing the tool's version (a new version reruns "
                                                  "every photo)")
    parser.add_argument("--timeout-s", type=float, help="limit per photo in seconds (default 120)")
    parser.add_argument("--workers", type=int, help="photos redacted at once (default 1)")
    parser.add_argument("--keep-going", action="store_true", help="count photos the tool fails on as faces it "
                                                                  "missed instead of stopping")
    parser.add_argument("--max-probes", type=int, help="audit a seeded subset of this many probes (whole people)")
    parser.add_argument("--params", default=PARAMS_FILE, help=argparse.SUPPRESS)
    parser.add_argument("--no-run", action="store_true", help="only write the entry into params.yaml")
    args = parser.parse_args(argv)
    entry = entry_of(args)
    try:
        check_entry(args.name, entry, args.params)
    except (TemplateError, ConfigError) as error:
        print(f"error: {error}".replace("\n", "\nerror: "), file=sys.stderr)
        print(f"error: nothing was changed ({args.params} is as it was) and nothing ran", file=sys.stderr)
        return 2
    write_entry(args.name, entry, args.params)
    print(f"{args.params}: audits.{args.name} = {entry}", file=sys.stderr)
    if args.no_run:
        return 0
    return repro(args.name)


if __name__ == "__main__":
    sys.exit(main())
