"""Report -> one self-contained HTML file (PNG figures inlined as base64) and a Markdown file
with the PNGs written beside it."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from .model import Code, Figure, GroupRow, Paragraph, Report, Table

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1400px;
padding:0 1rem;color:#222;line-height:1.4}
table{border-collapse:collapse;margin:0.5rem 0 1.2rem;font-size:0.85rem}
th,td{border:1px solid #ccc;padding:0.2rem 0.45rem;text-align:right;white-space:nowrap}
th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}
tr.group th{background:#e4ecf7;text-align:left}
caption{caption-side:top;text-align:left;font-size:0.85rem;color:#444;padding-bottom:0.3rem}
.note{background:#fff6e0;border-left:4px solid #e0a800;padding:0.3rem 0.6rem}
figure{margin:0.5rem 0 1.5rem}figure img{max-width:100%}figcaption{font-size:0.85rem;color:#444}
pre{background:#f6f6f6;padding:0.6rem;overflow-x:auto;font-size:0.8rem}
.scroll{overflow-x:auto}
"""

_BOLD = re.compile(r"\*\*(.+?)\*\*")


def _inline(text: str) -> str:
    """Escape, then honour **bold** (the only markup paragraphs use)."""
    return _BOLD.sub(r"<strong>\1</strong>", html.escape(text))


def _html_table(t: Table) -> str:
    out = ['<div class="scroll"><table>']
    if t.caption:
        out.append(f"<caption>{html.escape(t.caption)}</caption>")
    out.append("<thead>")
    if t.column_groups:
        out.append(
            "<tr>"
            + "".join(f'<th colspan="{n}">{html.escape(g)}</th>' for g, n in t.column_groups)
            + "</tr>"
        )
    out.append(
        "<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in t.columns) + "</tr></thead><tbody>"
    )
    for row in t.rows:
        if isinstance(row, GroupRow):
            out.append(
                f'<tr class="group"><th colspan="{len(t.columns)}">{html.escape(row.label)}</th></tr>'
            )
            continue
        cells = (
            f"<td><strong>{html.escape(c.text)}</strong></td>"
            if c.bold
            else f"<td>{html.escape(c.text)}</td>"
            for c in row
        )
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    return "\n".join(out)


def _html_figure(f: Figure) -> str:
    data = base64.b64encode(f.png).decode("ascii")
    return (
        f'<figure id="fig-{html.escape(f.name)}"><img alt="{html.escape(f.caption)}" '
        f'src="data:image/png;base64,{data}"><figcaption>{html.escape(f.caption)}</figcaption></figure>'
    )


def to_html(report: Report) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(report.title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(report.title)}</h1>",
        "<nav><ul>",
        *(f'<li><a href="#{s.anchor}">{html.escape(s.title)}</a></li>' for s in report.sections),
        "</ul></nav>",
    ]
    for s in report.sections:
        parts.append(f'<section id="{s.anchor}"><h2>{html.escape(s.title)}</h2>')
        for b in s.blocks:
            if isinstance(b, Paragraph):
                parts.append(
                    f'<p class="note">{_inline(b.text)}</p>'
                    if b.note
                    else f"<p>{_inline(b.text)}</p>"
                )
            elif isinstance(b, Table):
                parts.append(_html_table(b))
            elif isinstance(b, Figure):
                parts.append(_html_figure(b))
            elif isinstance(b, Code):
                parts.append(f"<pre><code>{html.escape(b.text)}</code></pre>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _md_cell(text: str) -> str:
    return text.replace("|", r"\|").replace("\n", " ")


def _md_table(t: Table) -> str:
    cols = list(t.columns)
    if t.column_groups:
        leaves, i = [], 0
        for group, span in t.column_groups:
            leaves += [f"{group} {c}".strip() for c in cols[i : i + span]]
            i += span
        cols = leaves
    out = [f"*{_md_cell(t.caption)}*", ""] if t.caption else []
    out.append("| " + " | ".join(_md_cell(c) for c in cols) + " |")
    out.append("|" + "|".join("---" for _ in cols) + "|")
    for row in t.rows:
        if isinstance(row, GroupRow):
            out.append(
                "| " + " | ".join([f"**{_md_cell(row.label)}**"] + [""] * (len(cols) - 1)) + " |"
            )
            continue
        out.append(
            "| "
            + " | ".join(f"**{_md_cell(c.text)}**" if c.bold else _md_cell(c.text) for c in row)
            + " |"
        )
    return "\n".join(out)


def to_markdown(report: Report) -> str:
    """Markdown; figures are referenced as ``<name>.png`` beside the file."""
    parts = [f"# {report.title}", ""]
    parts += [f"- [{s.title}](#{s.anchor})" for s in report.sections] + [""]
    for s in report.sections:
        parts += [f'<a id="{s.anchor}"></a>', f"## {s.title}", ""]
        for b in s.blocks:
            if isinstance(b, Paragraph):
                parts.append(f"> **Note:** {b.text}" if b.note else b.text)
            elif isinstance(b, Table):
                parts.append(_md_table(b))
            elif isinstance(b, Figure):
                parts.append(f"![{_md_cell(b.caption)}]({b.name}.png)\n\n*{_md_cell(b.caption)}*")
            elif isinstance(b, Code):
                parts.append(f"```\n{b.text}\n```")
            parts.append("")
    return "\n".join(parts)


def write(report: Report, out_dir: Path) -> tuple[Path, Path, list[Path]]:
    """Write report.html, report.md and the PNGs; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path = out_dir / "report.html"
    md_path = out_dir / "report.md"
    html_path.write_text(to_html(report), encoding="utf-8")
    md_path.write_text(to_markdown(report), encoding="utf-8")
    pngs = []
    for f in report.figures():
        p = out_dir / f"{f.name}.png"
        p.write_bytes(f.png)
        pngs.append(p)
    return html_path, md_path, pngs
