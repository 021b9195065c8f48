"""A tiny document model rendered to Markdown and to self-contained HTML (figures embedded).

The report is built once as a list of blocks; both renderings come from it,
so report.md and report.html can never disagree.
"""

from __future__ import annotations

import base64
import html
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
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


def format_value(v, digits: int = 3) -> str:
    """A table cell as text: integers (and floats with an integral value) without decimals,
    other floats with ``digits`` decimals (or in scientific notation when tiny or huge), NaN/None as "-".

    Example:
        >>> [format_value(v) for v in (20, 20.0, -0.0, 0.5, 2.5e-14, float("nan"), "x")]
        ['20', '20', '0', '0.500', '2.50e-14', '-', 'x']
    """
    if v is None or v is pd.NA:
        return "-"
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if math.isnan(v):
            return "-"
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        if v != 0 and (abs(v) < 10 ** -digits or abs(v) >= 1e6):
            return f"{v:.2e}"
        return f"{v:.{digits}f}"
    return str(v)


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _rows(frame: pd.DataFrame):
    """The rows as tuples of the values as they are in their columns (iterrows would turn a row of
    ints and floats into floats)."""
    return frame.astype(object).itertuples(index=False, name=None)


_MD_TAG = re.compile(r"<[A-Za-z/!?]")  # what CommonMark may read as raw HTML or an autolink
_MD_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")  # what it may read as an entity


def md_text(text: str) -> str:
    """``text`` as literal Markdown inside a table cell (or a caption): nothing in it becomes HTML,
    an entity, a code span, emphasis or a column break. A ``<`` that cannot start a tag (``a < b``)
    is left as it is, so comparisons stay readable in the file."""
    s = str(text).replace("\\", "\\\\")
    s = _MD_ENTITY.sub("&amp;", s)
    if _MD_TAG.search(s):
        s = s.replace("<", "&lt;").replace(">", "&gt;")
    s = re.sub(r"([`*~|])", r"\\\1", s)
    s = re.sub(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])", r"\\_", s)  # intraword _ is never emphasis
    return " ".join(s.splitlines())


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
            lines = ["| " + " | ".join(md_text(c) for c in cols) + " |", "|" + "---|" * len(cols)]
            for row in _rows(b.frame):
                lines.append("| " + " | ".join(md_text(format_value(v, b.digits)) for v in row) + " |")
            out.append("\n".join(lines))
        elif isinstance(b, Image):
            rel = os.path.relpath(b.path, base)
            caption = md_text(b.caption).replace("[", "\\[").replace("]", "\\]")
            out.append(f"![{caption}]({rel})" + (f"\n\n*{caption}*" if b.caption else ""))
    return "\n\n".join(out) + "\n"


# Tables fit the page: text wraps at spaces, then at the <wbr> after _ , / . (identifiers such as
# expected_mean_abs_gradient or learning_rate=0.003,batch_size=256), and only a cell with a longer
# unbreakable word may break anywhere (overflow-wrap:anywhere lets the table narrow that column, which
# on every cell would also squeeze short words such as "supported" into pieces). Numbers and short
# cells never wrap. A table wider than the page anyway scrolls in its own box (.table-wrap), never the page.
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45} .table-wrap{max-width:100%;overflow-x:auto;margin:1em 0}
table{border-collapse:collapse;font-size:.9em} table.wide{font-size:.8em}
th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top;overflow-wrap:break-word}
table.wide th,table.wide td{padding:.25em .35em}
table.wider{font-size:.75em} table.wider th,table.wider td{padding:.2em .25em} th{background:#f3f3f3;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums} .num,.nw{white-space:nowrap}
.long,.prose{overflow-wrap:anywhere} td.prose{min-width:13em}
img{max-width:100%;height:auto;border:1px solid #eee} figure{margin:1em 0}
code,pre{background:#f6f8fa;padding:.2em .4em;border-radius:4px} pre{padding:.8em;overflow-x:auto;white-space:pre-wrap;
overflow-wrap:anywhere} .supported{background:#e6f4ea}.contradicted{background:#fce8e6}.inconclusive{background:#fef7e0}.undecidable{background:#e8f0fe}
figcaption{font-size:.85em;color:#555;margin-bottom:1.5em}
"""
WIDE, WIDER = 10, 15  # columns from which a table is set smaller, and smaller still
SHORT = 14  # characters up to which a cell does not wrap
LONG_WORD = 20  # characters from which a word may break anywhere
PROSE = 8  # words from which the wordiest column of a table (sentences) is set at least 13em wide
_BREAK_AFTER = re.compile(r"([_,/]|\.(?=[A-Za-z]))")  # a dot only before a letter: never in 0.001
_SCI = re.compile(r"(-?\d[\d.]*e[-+]\d+)")  # 1.5e-06: never broken at its "-"


def _breakable(text: str) -> str:
    """Escaped ``text`` with a line-break opportunity after each _ , / and . (before a letter); numbers
    in scientific notation kept whole."""
    return _SCI.sub(r"<span class='nw'>\1</span>", _BREAK_AFTER.sub(r"\1<wbr>", html.escape(text)))


def _text_class(text: str) -> str:
    if any(len(w) > LONG_WORD for w in _BREAK_AFTER.sub(" ", text).split()):
        return " class='long'"
    return ""


def _html_cell(v, digits: int, prose: bool = False) -> str:
    """A <td>: a number right-aligned on one line; short text on one line; longer text breakable."""
    text = format_value(v, digits)
    if _is_number(v):
        return f"<td class='num'>{html.escape(text)}</td>"
    if prose:
        return f"<td class='prose'>{_breakable(text)}</td>"
    if len(text) <= SHORT:  # (a <wbr> would break it even under white-space:nowrap)
        return f"<td class='nw'>{html.escape(text)}</td>"
    return f"<td{_text_class(text)}>{_breakable(text)}</td>"


def _html_table(t: Table) -> str:
    cols = list(t.frame.columns)
    head = "".join(f"<th>{_breakable(str(c))}</th>" for c in cols)  # fraction_zero may break at its _
    rows = []
    vi = cols.index("verdict") if "verdict" in cols else None
    # The column of sentences (a claim) keeps a readable width; the others give way first.
    words = [t.frame[c].map(lambda v: len(v.split()) if isinstance(v, str) else 0).max() if len(t.frame) else 0
             for c in cols]
    wordiest = max(range(len(cols)), key=words.__getitem__, default=None)
    prose = [i == wordiest and w >= PROSE for i, w in enumerate(words)]
    for row in _rows(t.frame):
        verdict = str(row[vi]) if vi is not None else ""
        cls = {"supported": "supported", "contradicted": "contradicted", "inconclusive": "inconclusive",
               "undecidable here": "undecidable"}.get(verdict)
        cls = f' class="{cls}"' if cls else ""
        rows.append(f"<tr{cls}>" + "".join(_html_cell(v, t.digits, prose=p) for v, p in zip(row, prose)) + "</tr>")
    wide = " class='wide wider'" if len(cols) >= WIDER else " class='wide'" if len(cols) >= WIDE else ""
    return (f"<div class='table-wrap'><table{wide}><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def _inline(text: str) -> str:
    """Escape, then render `code` spans and **bold** (the only inline markup the report uses)."""
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
