"""Reports: a document of blocks written as ``report.md`` and a self-contained ``report.html``.

A :class:`Document` is a title and a list of blocks (:class:`Heading`, :class:`Paragraph`,
:class:`Table`, :class:`Figure`, :class:`LinkList`); :meth:`Document.write` renders it twice
into a run folder: Markdown linking the figures, and one HTML file with every PNG embedded as
base64 (one file to share). Figures are saved atomically by :func:`save_figure`. matplotlib
and pandas are imported by the functions that need them.

Example:
    >>> import pandas as pd, tempfile, pathlib
    >>> doc = Document("Demo", [Heading("Numbers"), Paragraph(["**two** rows"]),
    ...                         Table(pd.DataFrame({"x": [1.0, float("nan")]}))])
    >>> print(doc.markdown(pathlib.Path(tempfile.mkdtemp())))
    # Demo
    <BLANKLINE>
    ## Numbers
    <BLANKLINE>
    **two** rows
    <BLANKLINE>
    | x |
    |---|
    | 1 |
    |  |
    <BLANKLINE>
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from robustlab.common.io import atomic_path, write_text

if TYPE_CHECKING:
    import pandas as pd

MARKDOWN_NAME, HTML_NAME = "report.md", "report.html"
STYLE = ("body{font-family:sans-serif;max-width:70em;margin:auto}"
         "table{border-collapse:collapse;font-size:80%}td,th{border:1px solid #ccc;padding:2px 6px}"
         "img{max-width:100%}")


def significant(value: float) -> str:
    """Three significant digits (``1.23e+04`` from 10,000 on); ``""`` for NaN and infinities."""
    if not math.isfinite(value):
        return ""
    return f"{value:.3g}" if abs(value) < 1e4 else f"{value:.3e}"


@dataclass
class Heading:
    """A section title (level 2 unless said otherwise; the document's title is level 1)."""

    text: str
    level: int = 2


@dataclass
class Paragraph:
    """Lines of text: one paragraph in Markdown, one ``<p>`` each in HTML (``**`` dropped)."""

    lines: Sequence[str]


@dataclass
class Table:
    """A table without its index; floats written by ``fmt``, missing values empty."""

    frame: pd.DataFrame
    fmt: Callable[[float], str] = significant


@dataclass
class Figure:
    """A PNG inside the report folder, with its caption (and its HTML ``alt`` text, default the caption)."""

    path: Path
    caption: str
    alt: str | None = None


@dataclass
class LinkList:
    """A titled list of links to files of the report folder: ``(target, description)`` pairs.

    A link to ``report.html`` appears in the Markdown only.
    """

    title: str
    links: Sequence[tuple[str, str]]


Block = Heading | Paragraph | Table | Figure | LinkList


def markdown_table(df: pd.DataFrame, fmt: Callable[[float], str] = significant) -> str:
    """A GitHub-flavoured Markdown table of ``df`` (no index); ``|`` in cells escaped."""
    import numpy as np
    import pandas as pd

    def cell(v: Any) -> str:
        if isinstance(v, (float, np.floating)):
            return "" if np.isnan(v) else fmt(float(v))
        return "" if v is None or v is pd.NA else str(v).replace("|", "\\|")

    head = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *body])


@dataclass
class Document:
    """A report: its title (the ``<h1>``), the blocks, and the HTML page's ``<title>``."""

    title: str
    blocks: list[Block] = field(default_factory=list)
    page_title: str | None = None

    def markdown(self, out_dir: Path) -> str:
        """The Markdown text; figures are linked relative to ``out_dir``."""
        parts = [f"# {self.title}", ""]
        for block in self.blocks:
            if isinstance(block, Heading):
                parts.append("#" * block.level + " " + block.text)
            elif isinstance(block, Paragraph):
                parts += list(block.lines)
            elif isinstance(block, Table):
                parts.append(markdown_table(block.frame, block.fmt))
            elif isinstance(block, Figure):
                parts.append(f"![{block.caption}]({Path(block.path).relative_to(out_dir).as_posix()})")
            else:
                parts += ["#" * 2 + " " + block.title, ""]
                parts += [f"- [{target}]({target}): {what}" for target, what in block.links]
            parts.append("")
        return "\n".join(parts)

    def html(self) -> str:
        """One self-contained HTML page: every figure embedded as a base64 PNG."""
        esc = html.escape
        parts = ["<!doctype html><html><head><meta charset='utf-8'>",
                 f"<title>{esc(self.page_title or self.title)}</title>",
                 f"<style>{STYLE}</style></head><body>", f"<h1>{esc(self.title)}</h1>"]
        for block in self.blocks:
            if isinstance(block, Heading):
                parts.append(f"<h{block.level}>{esc(block.text)}</h{block.level}>")
            elif isinstance(block, Paragraph):
                parts += [f"<p>{esc(line).replace('**', '')}</p>" for line in block.lines]
            elif isinstance(block, Table):
                parts.append(block.frame.to_html(index=False, na_rep="", float_format=block.fmt))
            elif isinstance(block, Figure):
                data = base64.b64encode(Path(block.path).read_bytes()).decode("ascii")
                parts.append(f"<h3>{esc(block.caption)}</h3>"
                             f"<img alt='{esc(block.alt or block.caption)}' src='data:image/png;base64,{data}'>")
            else:
                parts.append(f"<h2>{esc(block.title)}</h2><ul>")
                parts += [f"<li><a href='{esc(t)}'>{esc(t)}</a>: {esc(w)}</li>" for t, w in block.links
                          if t != HTML_NAME]  # the page does not link to itself
                parts.append("</ul>")
        return "\n".join(parts) + "</body></html>"

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
