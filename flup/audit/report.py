"""An audit's page: ``audits/<name>/audit.html``, self-contained (every image inlined as a ``data:`` URI), from its
summary (:func:`flup.audit.score.summarize`, the content of ``audit.json``).

Written as the study's report is: markdown lines, turned into HTML by :func:`flup.report.markdown.to_html` (no
template engine: the project does not depend on one). Pure: the summary and the thumbnails' PNG bytes in, text out.
"""

from __future__ import annotations

from collections.abc import Mapping

from flup.report.markdown import table, to_html

MODE_NAMES = {"oracle_box": "knows where the face was (oracle box)", "end_to_end": "finds the face itself (end to end)"}
HEADLINE = {"private": "Private", "leaks": "Leaks", "undecided": "Undecided"}


def _interval(metric: Mapping | None, digits: int = 3) -> str:
    if not metric or metric.get("estimate") is None:
        return "—"
    text = f"{metric['estimate']:.{digits}f}"
    if metric.get("low") is not None and metric.get("high") is not None:
        text += f" [{metric['low']:.{digits}f}, {metric['high']:.{digits}f}]"
    return text


def _recognizer(name: str) -> str:
    return "ArcFace" if name == "arcface" else f"`{name}`"


def audit_markdown(summary: Mapping) -> str:
    """The page's markdown; thumbnails are linked by their paths in ``summary["coverage"]["missed_faces"]``."""
    name, judged = summary["audit"], summary["verdict"]
    candidates = summary["rule"]["candidates"]
    lines = [f"# Audit of `{name}`: {HEADLINE.get(judged['status'], judged['status'])}", ""]
    command = (summary.get("tool") or {}).get("command")
    if command:
        lines += [f"Tool: `{command}`, on {summary['probes']['n']} probe photos of "
                  f"{summary['probes']['identities']} people (the study's identification probes).", ""]
    lines += [f"**Verdict:** {judged['text']}.", ""]
    if summary.get("risk"):
        lines += [f"**Risk:** {summary['risk']['text']}.", ""]
    else:
        lines += [f"**Risk:** not available: a fold has fewer than {candidates} people to pick from.", ""]
    coverage = summary["coverage"]
    lines += [f"**Coverage:** {coverage['text']}.", ""]
    if summary.get("suggestion"):
        lines += [f"**What would hide them:** {summary['suggestion']['text']}.", ""]
    lines += ["## Every attacker", "",
              "Identification AUC (0.5: the attacker learns nothing; 1: it always ranks the right person first) and "
              f"the right person picked out of {candidates}, with 95% identity-cluster bootstrap intervals; the "
              "difference to a black box is paired over the same faces (positive: more revealing than a black box).",
              ""]
    comparison = {(row["recognizer"], row["mode"]): row for row in summary.get("vs_blackbox", [])}
    rows = []
    for cell in summary["cells"]:
        entry = cell["levels"][0]
        rank = entry["metrics"].get(f"rank1@{candidates}")
        verdict = (cell.get("absolute") or {}).get("status", "—")
        versus = comparison.get((cell["recognizer"], cell["mode"]))
        rows.append([_recognizer(cell["recognizer"]), MODE_NAMES.get(cell["mode"], cell["mode"]),
                     _interval(entry["metrics"]["auc"]), "—" if rank is None else _interval(rank),
                     _interval(entry["metrics"].get("detected"), 2), _interval(versus), verdict])
    lines += table(["Attacker", "The attacker…", "AUC", f"right person out of {candidates}", "face found",
                    "vs black box", "verdict"], rows)
    sharp = summary.get("sharp_auc") or {}
    if sharp:
        lines += ["For scale, ArcFace on the same photos unredacted: AUC "
                  + "; ".join(f"{_interval(v)} ({MODE_NAMES.get(k, k)})" for k, v in sharp.items()) + ".", ""]
    missed = [face for face in coverage["missed_faces"] if face.get("thumbnail")]
    if missed:
        lines += ["## Faces the tool missed", "",
                  f"As the attacker sees them (the first {len(missed)} of {coverage['n_missed']}):", ""]
        lines += [" ".join(f"![probe {face['probe_id']}{' (the tool failed)' if face['failed'] else ''}]"
                           f"({face['thumbnail']})" for face in missed), ""]
    return "\n".join(lines)


def audit_html(summary: Mapping, images: Mapping[str, bytes]) -> str:
    """The self-contained page: ``images`` maps each thumbnail path of the summary to its PNG bytes."""
    return to_html(audit_markdown(summary), images, title=f"flup audit: {summary['audit']}")
