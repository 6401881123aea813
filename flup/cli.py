"""The ``flup`` command (``python -m flup``): the study's tools by one name.

    flup profile NAME [--write]   # a profile as dvc exp run flags (flup.config.profiles)
    flup grid NAME [--dry-run]    # queue a parameter grid as experiments (flup.config.grid)
    flup lockcheck                # do the committed results match the tree? (flup.lockcheck)
    flup audit --name N --command "tool {input} -o {output}"   # audit a redaction tool (flup.audit.command)
    flup stage-deps [--write]     # dvc.yaml's code dependencies against the imports (flup.stage_deps)

Each subcommand takes its module's own options (``flup profile --help``). Run them from the repository root:
they read its params.yaml, dvc.yaml and profiles/.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "profile": "flup.config.profiles",
    "grid": "flup.config.grid",
    "lockcheck": "flup.lockcheck",
    "stage-deps": "flup.stage_deps",
    "audit": "flup.audit.command",
}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help") or args[0] not in COMMANDS:
        print(__doc__.strip().split("\n\n")[1], file=sys.stdout if args[:1] in (["-h"], ["--help"]) else sys.stderr)
        if args and args[0] not in ("-h", "--help"):
            print(f"flup: unknown command {args[0]!r} (commands: {', '.join(COMMANDS)})", file=sys.stderr)
            return 2
        return 0 if args else 2
    module = importlib.import_module(COMMANDS[args[0]])
    sys.argv = [f"flup {args[0]}", *args[1:]]
    code = module.main(args[1:])
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
