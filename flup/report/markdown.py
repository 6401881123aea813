"""The report's markdown: its pipe tables, and the page it becomes (markdown -> self-contained HTML).

Pure: strings in, strings out; every image of the page is embedded as a base64 ``data:`` URI.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Mapping, Sequence


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A pipe table's lines (``|`` in a cell escaped), then a blank line."""
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines + [""]


# --- markdown -> HTML ----------------------------------------------------------------------------
# Only what build_markdown emits: headings, paragraphs, pipe tables, "- " lists, images, `code`, **bold**.

_INLINE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)|`([^`]+)`|\*\*(.+?)\*\*|\*([^*]+)\*")
_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em;line-height:1.45}"
    "table{border-collapse:collapse;margin:0.5em 0 1em;display:block;overflow-x:auto;font-size:0.9em}"
    "th,td{border:1px solid #bbb;padding:0.25em 0.5em;"
    "vertical-align:top;text-align:left}th{background:#eee}img{max-width:100%;margin:0.2em}td img{display:block}"
    "code{background:#f3f3f3;padding:0 0.2em}"
)


def _data_uri(src: str, images: Mapping[str, bytes]) -> str:
    if src not in images:
        raise ValueError(f"the report refers to image {src!r}, which was not supplied")
    return "data:image/png;base64," + base64.b64encode(images[src]).decode("ascii")


def _inline(text: str, images: Mapping[str, bytes]) -> str:
    out, pos = [], 0
    for match in _INLINE.finditer(text):
        out.append(html.escape(text[pos:match.start()]))
        alt, src, code, bold, italic = match.groups()
        if src is not None:
            out.append(f'<img src="{_data_uri(src, images)}" alt="{html.escape(alt)}" title="{html.escape(alt)}">')
        elif code is not None:
            out.append(f"<code>{html.escape(code)}</code>")
        elif bold is not None:
            out.append(f"<strong>{_inline(bold, images)}</strong>")
        else:
            out.append(f"<em>{_inline(italic, images)}</em>")
        pos = match.end()
    out.append(html.escape(text[pos:]))
    return "".join(out)


def _split_row(line: str) -> list[str]:
    cells = re.split(r"(?<!\\)\|", line.strip()[1:-1])
    return [c.strip().replace("\\|", "|") for c in cells]


def to_html(markdown: str, images: Mapping[str, bytes], title: str = "flup privacy report") -> str:
    """A self-contained HTML page: every image embedded as a base64 ``data:`` URI, no external link.

    ``images`` maps each image path used in ``markdown`` to its PNG bytes; a missing one raises ValueError.
    """
    body, paragraph = [], []
    lines = markdown.splitlines()

    def flush():
        if paragraph:
            body.append(f"<p>{_inline(' '.join(paragraph), images)}</p>")
            paragraph.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        heading = re.match(r"(#{1,6}) (.*)", line)
        if not line.strip():
            flush()
        elif heading:
            flush()
            level = len(heading.group(1))
            body.append(f"<h{level}>{_inline(heading.group(2), images)}</h{level}>")
        elif line.startswith("|"):
            flush()
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                block.append(lines[i])
                i += 1
            header, rows = _split_row(block[0]), [_split_row(r) for r in block[2:]]
            body.append("<table><thead><tr>" + "".join(f"<th>{_inline(c, images)}</th>" for c in header)
                        + "</tr></thead><tbody>"
                        + "".join("<tr>" + "".join(f"<td>{_inline(c, images)}</td>" for c in r) + "</tr>"
                                  for r in rows)
                        + "</tbody></table>")
            continue
        elif line.startswith("- "):
            flush()
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{_inline(lines[i][2:], images)}</li>")
                i += 1
            body.append("<ul>" + "".join(items) + "</ul>")
            continue
        else:
            paragraph.append(line.strip())
        i += 1
    flush()
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
