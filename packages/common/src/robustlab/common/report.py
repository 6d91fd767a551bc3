"""Reports: a document of blocks written as ``report.md`` and a self-contained ``report.html``.

A :class:`Document` is a title and a list of blocks (:class:`Heading`, :class:`Paragraph`,
:class:`Table`, :class:`Figure`, :class:`LinkList`); :meth:`Document.write` renders it twice
into a run folder: Markdown linking the figures, and one HTML file with every PNG embedded as
base64 (one file to share), its paragraphs rendered from Markdown (Python-Markdown). Tables
format numbers by kind (a column of whole numbers as integers, a ``pct`` column with one
decimal, other numbers with three significant digits), leave out columns with no value, scroll
sideways in the page when wide, and may be folded (``collapsed``: a ``<details>`` block).
Figures are saved atomically by :func:`save_figure`. matplotlib and pandas are imported by the
functions that need them.

Example:
    >>> import pandas as pd, tempfile, pathlib
    >>> doc = Document("Demo", [Heading("Numbers"), Paragraph(["**two** rows"]),
    ...                         Table(pd.DataFrame({"n": [3.0, 4.0], "pct_ok": [12.345, 50.0],
    ...                                             "x": [0.12345, float("nan")],
    ...                                             "empty": [None, None]}))])
    >>> print(doc.markdown(pathlib.Path(tempfile.mkdtemp())))
    # Demo
    <BLANKLINE>
    ## Numbers
    <BLANKLINE>
    **two** rows
    <BLANKLINE>
    | n | pct_ok | x |
    |---|---|---|
    | 3 | 12.3 | 0.123 |
    | 4 | 50.0 |  |
    <BLANKLINE>
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from robustlab.common.io import atomic_path, write_text

if TYPE_CHECKING:
    import pandas as pd

MARKDOWN_NAME, HTML_NAME = "report.md", "report.html"
STYLE = ("body{font-family:sans-serif;max-width:72em;margin:auto;padding:0 1em;line-height:1.4}"
         ".table{overflow-x:auto;margin:.5em 0}"
         "table{border-collapse:collapse;font-size:80%}td,th{border:1px solid #ccc;padding:2px 6px}"
         "th{max-width:10em;white-space:normal;overflow-wrap:anywhere;vertical-align:bottom;text-align:left}"
         "td.num{text-align:right;font-variant-numeric:tabular-nums}"
         "details{margin:.5em 0}summary{cursor:pointer;font-weight:bold}"
         "figure{margin:1.5em 0}figcaption{font-weight:bold;margin-bottom:.3em}"
         "img{max-width:100%}code{background:#f4f4f4;padding:0 .2em}")

Formatter = Callable[[float], str]


def significant(value: float) -> str:
    """Three significant digits (``1.23e+04`` from 10,000 on); ``""`` for NaN and infinities."""
    if not math.isfinite(value):
        return ""
    return f"{value:.3g}" if abs(value) < 1e4 else f"{value:.3e}"


def percent(value: float) -> str:
    """One decimal, for a percentage; ``""`` for NaN and infinities."""
    return f"{value:.1f}" if math.isfinite(value) else ""


def whole(value: float) -> str:
    """A whole number (a count); ``""`` for NaN and infinities."""
    return f"{value:.0f}" if math.isfinite(value) else ""


@dataclass
class Heading:
    """A section title (level 2 unless said otherwise; the document's title is level 1)."""

    text: str
    level: int = 2

    def markdown(self, out_dir: Path) -> str:
        return "#" * self.level + " " + self.text

    def html(self) -> str:
        return f"<h{self.level}>{html.escape(self.text)}</h{self.level}>"


@dataclass
class Paragraph:
    """Lines of Markdown: one paragraph in ``report.md``, rendered to HTML in ``report.html``."""

    lines: Sequence[str]

    def markdown(self, out_dir: Path) -> str:
        return "\n".join(self.lines)

    def html(self) -> str:
        import markdown

        return markdown.markdown("\n".join(self.lines), extensions=["tables"])


@dataclass
class Table:
    """A table without its index.

    Attributes:
        frame: the rows.
        fmt: the format of every number (None: by column kind, :func:`column_formats`).
        formats: formats of single columns, over ``fmt`` and the kind.
        collapsed: a one-line summary: the table is folded under it (``<details>``).
        keep_empty: keep columns that have no value in any row (left out otherwise).
    """

    frame: pd.DataFrame
    fmt: Formatter | None = None
    formats: Mapping[str, Formatter] = field(default_factory=dict)
    collapsed: str | None = None
    keep_empty: bool = False

    def shown(self) -> pd.DataFrame:
        """The columns shown: those with at least one value unless ``keep_empty``."""
        if self.keep_empty:
            return self.frame
        blank = [c for c in self.frame.columns
                 if self.frame[c].isna().all() or (self.frame[c].astype(str) == "").all()]
        return self.frame.drop(columns=blank)

    def formatters(self, df: pd.DataFrame) -> dict[str, Formatter]:
        """Column -> formatter of its numbers."""
        kinds = column_formats(df) if self.fmt is None else {c: self.fmt for c in df.columns}
        return {**kinds, **{c: f for c, f in self.formats.items() if c in df.columns}}

    def markdown(self, out_dir: Path) -> str:
        df = self.shown()
        table = markdown_table(df, self.formatters(df))
        return f"<details><summary>{self.collapsed}</summary>\n\n{table}\n\n</details>" if self.collapsed else table

    def html(self) -> str:
        df = self.shown()
        table = html_table(df, self.formatters(df))
        return (f"<details><summary>{html.escape(self.collapsed)}</summary>{table}</details>"
                if self.collapsed else table)


@dataclass
class Figure:
    """A PNG inside the report folder, with its caption (and its HTML ``alt`` text, default the caption)."""

    path: Path
    caption: str
    alt: str | None = None

    def markdown(self, out_dir: Path) -> str:
        return f"![{self.caption}]({Path(self.path).relative_to(out_dir).as_posix()})"

    def html(self) -> str:
        esc = html.escape
        data = base64.b64encode(Path(self.path).read_bytes()).decode("ascii")
        return (f"<figure><figcaption>{esc(self.caption)}</figcaption>"
                f"<img alt='{esc(self.alt or self.caption)}' src='data:image/png;base64,{data}'></figure>")


@dataclass
class LinkList:
    """A titled list of links to files of the report folder: ``(target, description)`` pairs.

    A link to ``report.html`` appears in the Markdown only.
    """

    title: str
    links: Sequence[tuple[str, str]]

    def markdown(self, out_dir: Path) -> str:
        return "\n".join([f"## {self.title}", "", *(f"- [{t}]({t}): {w}" for t, w in self.links)])

    def html(self) -> str:
        esc = html.escape
        items = [f"<li><a href='{esc(t)}'>{esc(t)}</a>: {esc(w)}</li>" for t, w in self.links
                 if t != HTML_NAME]  # the page does not link to itself
        return f"<h2>{esc(self.title)}</h2><ul>{''.join(items)}</ul>"


Block = Heading | Paragraph | Table | Figure | LinkList


def column_formats(df: pd.DataFrame) -> dict[str, Formatter]:
    """A formatter per numeric column of ``df`` by its kind: whole numbers (counts, even when
    stored as floats beside a missing value) as integers, a column named ``pct``/``percent``
    with one decimal, any other number with three significant digits."""
    import numpy as np
    import pandas as pd

    out: dict[str, Formatter] = {}
    for col in df.columns:
        values = df[col]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue
        finite = values[np.isfinite(values.to_numpy(np.float64))]
        name = str(col).lower()
        if len(finite) and (finite == np.round(finite)).all() and not name.startswith(("pct", "median", "mean")):
            out[col] = whole
        elif "pct" in name or "percent" in name:
            out[col] = percent
        else:
            out[col] = significant
    return out


def _cell(value: Any, fmt: Formatter | None) -> str:
    import numpy as np
    import pandas as pd

    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if fmt is not None and isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return fmt(float(value))
    return str(value)


def markdown_table(df: pd.DataFrame, formats: Mapping[str, Formatter] | None = None) -> str:
    """A GitHub-flavoured Markdown table of ``df`` (no index); ``|`` in cells escaped."""
    formats = column_formats(df) if formats is None else formats
    head = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(_cell(v, formats.get(c)).replace("|", "\\|")
                              for c, v in zip(df.columns, row, strict=True)) + " |"
            for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def html_table(df: pd.DataFrame, formats: Mapping[str, Formatter]) -> str:
    """An HTML table of ``df`` (no index), numbers right-aligned, in a sideways-scrolling box."""
    esc = html.escape
    head = "".join(f"<th>{esc(str(c))}</th>" for c in df.columns)
    rows = []
    for row in df.itertuples(index=False):
        cells = [f"<td class='num'>{esc(_cell(v, formats[c]))}</td>" if c in formats
                 else f"<td>{esc(_cell(v, None))}</td>" for c, v in zip(df.columns, row, strict=True)]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<div class='table'><table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"


@dataclass
class Document:
    """A report: its title (the ``<h1>``), the blocks, and the HTML page's ``<title>``."""

    title: str
    blocks: list[Block] = field(default_factory=list)
    page_title: str | None = None

    def markdown(self, out_dir: Path) -> str:
        """The Markdown text; figures are linked relative to ``out_dir``."""
        return "\n\n".join([f"# {self.title}", *(block.markdown(out_dir) for block in self.blocks)]) + "\n"

    def html(self) -> str:
        """One self-contained HTML page: every figure embedded as a base64 PNG."""
        esc = html.escape
        head = ("<!doctype html><html><head><meta charset='utf-8'>"
                "<meta name='viewport' content='width=device-width, initial-scale=1'>"
                f"<title>{esc(self.page_title or self.title)}</title><style>{STYLE}</style></head><body>")
        return "\n".join([head, f"<h1>{esc(self.title)}</h1>", *(block.html() for block in self.blocks)]) \
            + "</body></html>"

    def write(self, out_dir: Path) -> dict[str, Path]:
        """Write ``report.md`` and ``report.html`` into ``out_dir`` (atomically); return their paths."""
        out_dir = Path(out_dir)
        return {MARKDOWN_NAME: write_text(out_dir / MARKDOWN_NAME, self.markdown(out_dir)),
                HTML_NAME: write_text(out_dir / HTML_NAME, self.html())}


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the file-only ``Agg`` backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: Path, tight: bool = True, dpi: int = 110) -> Path:
    """Save ``fig`` as a PNG atomically (then close it); ``tight`` trims the margins."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight" if tight else None)
    pyplot().close(fig)
    return Path(path)
