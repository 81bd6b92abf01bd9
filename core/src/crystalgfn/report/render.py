"""Render a report document (a list of blocks) as Markdown or as one self-contained HTML page.

Blocks are tuples: ``("h1" | "h2" | "h3", text)``, ``("p", text)``, ``("list", [text, ...])``,
``("table", header, rows)`` and ``("img", file, caption)``. Text may hold ``**bold**`` and
```code``` spans, the only inline markup both formats share. The HTML page embeds every image
as a base64 data URI and its style inline, so it opens offline and from any folder.
"""

from __future__ import annotations

import base64
import html
import math
import re
from collections.abc import Sequence
from pathlib import Path

_INLINE = re.compile(r"\*\*(.+?)\*\*|`([^`]+)`")


def fmt(value) -> str:
    """A table cell: None and NaN as an en dash, floats to 4 significant digits."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(fmt(cell).replace("|", "\\|") for cell in row) + " |"
              for row in rows]
    return "\n".join(lines)


def to_markdown(blocks: Sequence[tuple]) -> str:
    """The document as Markdown; images are linked by file name (next to ``report.md``)."""
    out: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            out += ["#" * int(kind[1]) + " " + block[1], ""]
        elif kind == "p":
            out += [block[1], ""]
        elif kind == "list":
            out += [f"- {item}" for item in block[1]] + [""]
        elif kind == "table":
            out += [markdown_table(block[1], block[2]), ""]
        elif kind == "img":
            out += [f"![{block[1]}]({block[1]})", "", f"*{block[2]}*", ""]
        else:
            raise ValueError(f"unknown report block {kind!r}")
    return "\n".join(out).rstrip() + "\n"


def _inline(text: str) -> str:
    """Escaped text with ``**bold**`` and ```code``` turned into tags."""
    out, position = [], 0
    for match in _INLINE.finditer(text):
        out.append(html.escape(text[position:match.start()]))
        if match.group(1) is not None:
            out.append(f"<strong>{_inline(match.group(1))}</strong>")
        else:
            out.append(f"<code>{html.escape(match.group(2))}</code>")
        position = match.end()
    out.append(html.escape(text[position:]))
    return "".join(out)


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;
max-width:1200px;padding:1em 2em;color:#222;line-height:1.45}
h1{font-size:1.6em;border-bottom:2px solid #1f77b4}h2{font-size:1.3em;margin-top:1.8em;
border-bottom:1px solid #ccc}table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}th{background:#f0f4f8}
tr:nth-child(even) td{background:#fafafa}code{background:#f3f3f3;padding:0 .2em}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9em;color:#555}nav{font-size:.9em;margin:.5em 0 1em}
nav a{margin-right:1em}
"""


def _anchor(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def to_html(blocks: Sequence[tuple], image_dir: Path, title: str) -> str:
    """The document as one HTML page, images read from ``image_dir`` and embedded; a table
    of contents links the ``h2`` sections."""
    body: list[str] = []
    sections = [block[1] for block in blocks if block[0] == "h2"]
    for block in blocks:
        kind = block[0]
        if kind == "h1":
            body.append(f"<h1>{_inline(block[1])}</h1>")
            links = " ".join(
                f'<a href="#{_anchor(name)}">{html.escape(name)}</a>' for name in sections
            )
            body.append(f"<nav>{links}</nav>")
        elif kind in ("h2", "h3"):
            body.append(f'<{kind} id="{_anchor(block[1])}">{_inline(block[1])}</{kind}>')
        elif kind == "p":
            body.append(f"<p>{_inline(block[1])}</p>")
        elif kind == "list":
            body.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in block[1]) + "</ul>")
        elif kind == "table":
            head = "".join(f"<th>{_inline(str(h))}</th>" for h in block[1])
            rows = "".join(
                "<tr>" + "".join(f"<td>{html.escape(fmt(c))}</td>" for c in row) + "</tr>"
                for row in block[2]
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif kind == "img":
            body.append(
                f'<figure><img src="{_data_uri(image_dir / block[1])}" '
                f'alt="{html.escape(block[1])}"><figcaption><strong>{html.escape(block[1])}'
                f"</strong>: {_inline(block[2])}</figcaption></figure>"
            )
        else:
            raise ValueError(f"unknown report block {kind!r}")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
