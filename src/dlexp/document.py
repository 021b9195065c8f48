"""A tiny document model rendered to Markdown and to self-contained HTML (figures embedded).

The report is built once as a list of blocks; both renderings come from it,
so report.md and report.html can never disagree.
"""

from __future__ import annotations

import base64
import html
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import pandas as pd


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Para:
    text: str


@dataclass
class Code:
    text: str


@dataclass
class Table:
    frame: pd.DataFrame
    digits: int = 3


@dataclass
class Image:
    path: Path
    caption: str = ""


Block = Union[Heading, Para, Code, Table, Image]


def _cell(v, digits: int) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "-"
        if v != 0 and (abs(v) < 10 ** -digits or abs(v) >= 1e6):
            return f"{v:.2e}"
        return f"{v:.{digits}f}"
    return "-" if v is None else str(v)


def to_markdown(blocks: list[Block], base: Path) -> str:
    out = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append("#" * b.level + " " + b.text)
        elif isinstance(b, Para):
            out.append(b.text)
        elif isinstance(b, Code):
            out.append("```\n" + b.text + "\n```")
        elif isinstance(b, Table):
            cols = list(b.frame.columns)
            lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
            for _, r in b.frame.iterrows():
                lines.append("| " + " | ".join(_cell(r[c], b.digits).replace("|", "\\|") for c in cols) + " |")
            out.append("\n".join(lines))
        elif isinstance(b, Image):
            rel = os.path.relpath(b.path, base)
            out.append(f"![{b.caption}]({rel})" + (f"\n\n*{b.caption}*" if b.caption else ""))
    return "\n\n".join(out) + "\n"


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45} table{border-collapse:collapse;margin:1em 0;font-size:.9em} th,td{border:1px solid #ccc;
padding:.3em .6em;text-align:left} th{background:#f3f3f3} img{max-width:100%;border:1px solid #eee}
code,pre{background:#f6f8fa;padding:.2em .4em;border-radius:4px} pre{padding:.8em;overflow-x:auto}
.supported{background:#e6f4ea}.contradicted{background:#fce8e6}.inconclusive{background:#fef7e0}
figcaption{font-size:.85em;color:#555;margin-bottom:1.5em}
"""


def _html_table(t: Table) -> str:
    cols = list(t.frame.columns)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    rows = []
    for _, r in t.frame.iterrows():
        verdict = str(r.get("verdict", "")) if "verdict" in cols else ""
        cls = f' class="{verdict}"' if verdict in ("supported", "contradicted", "inconclusive") else ""
        rows.append(f"<tr{cls}>" + "".join(f"<td>{html.escape(_cell(r[c], t.digits))}</td>" for c in cols) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _inline(text: str) -> str:
    """Escape, then render `code` spans and **bold** (the only inline markup the report uses)."""
    import re

    s = html.escape(text)
    s = re.sub(r"`([^`]+)`", r"<code>\1</code>", s)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", s)


def to_html(blocks: list[Block], title: str) -> str:
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
           f"<style>{CSS}</style></head><body>"]
    for b in blocks:
        if isinstance(b, Heading):
            out.append(f"<h{b.level}>{_inline(b.text)}</h{b.level}>")
        elif isinstance(b, Para):
            out.append(f"<p>{_inline(b.text)}</p>")
        elif isinstance(b, Code):
            out.append(f"<pre><code>{html.escape(b.text)}</code></pre>")
        elif isinstance(b, Table):
            out.append(_html_table(b))
        elif isinstance(b, Image):
            data = base64.b64encode(Path(b.path).read_bytes()).decode()
            out.append(f"<figure><img alt='{html.escape(b.caption)}' src='data:image/png;base64,{data}'>"
                       f"<figcaption>{html.escape(b.caption)}</figcaption></figure>")
    out.append("</body></html>")
    return "\n".join(out)
