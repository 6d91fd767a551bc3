"""A griffe extension for the docs site: the docstrings' reStructuredText pieces as Markdown.

The docstrings are Google style with a few reStructuredText constructs that Markdown would show
as plain text: ``.. math::`` blocks and ``:math:`` roles, Sphinx cross-reference roles
(``:func:`icc```) and simple tables (columns under ``====`` rules). Before mkdocstrings renders a
docstring, :class:`RestToMarkdown` turns the math into MathML (latex2mathml; a browser draws it
without JavaScript), the roles into inline code and the tables into Markdown tables; an
``Example:`` of doctests becomes an ``Examples:`` section (rendered as code), and an
``a, b: text`` item one item per name. The
docstrings themselves stay as they are for ``help()`` and the doctests.

mkdocs.yml loads it: ``extensions: [scripts/griffe_rst.py:RestToMarkdown]``.
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe
from latex2mathml.converter import convert

ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|attr|data|obj|exc):`~?([^`]+)`")
MATH_ROLE = re.compile(r":math:`([^`]+)`")
RULE = re.compile(r"^(\s*)=+(?: +=+)+\s*$")
# Google style reads "Example:" as a note (its ">>>" as quotes) and "Examples:" as doctests
DOCTEST = re.compile(r"^(\s*)Example:[ \t]*\n(\s+>>>)", re.M)
SECTION = re.compile(r"^\s*(?:Args|Arguments|Parameters|Attributes|Other Parameters|Keyword Args):\s*$")
SHARED = re.compile(r"^(\s+)(\w+(?:, \w+)+)(\s*\([^)]*\))?: (.*)$")


def mathml(tex: str, block: bool) -> str:
    """MathML for one LaTeX expression; the LaTeX as code when latex2mathml cannot read it."""
    try:
        out = convert(tex.strip(), display="block" if block else "inline")
        return out if block else f'<span class="math">{out}</span>'
    except Exception:  # noqa: BLE001 - any parse failure falls back to showing the source
        return f"<code>{html.escape(tex.strip())}</code>"


def math_blocks(lines: list[str]) -> list[str]:
    """Each ``.. math::`` block (its indented paragraphs) as display MathML, one per paragraph."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        found = re.match(r"^(\s*)\.\. math::\s*$", lines[i])
        if not found:
            out.append(lines[i])
            i += 1
            continue
        indent, body, i = len(found.group(1)), [], i + 1
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
            body.append(lines[i].strip())
            i += 1
        paragraphs = [p for p in "\n".join(body).split("\n\n") if p.strip()]
        for paragraph in paragraphs:  # one equation per line where \\qquad set several side by side
            for equation in re.split(r"\\qquad", paragraph.replace("\n", " ")):
                out += ["", " " * indent + mathml(equation, block=True), ""]
    return out


def split_row(line: str, starts: list[int]) -> list[str]:
    bounds = [*starts[1:], max(len(line), starts[-1]) + 1]
    return [line[a:b].strip() for a, b in zip(starts, bounds, strict=True)]


def simple_tables(lines: list[str]) -> list[str]:
    """Each reST simple table (rule, header, rule, rows, rule) as a Markdown table."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        rule = RULE.match(lines[i])
        ends = [j for j in range(i + 1, min(i + 60, len(lines))) if RULE.match(lines[j])] if rule else []
        if len(ends) < 2 or ends[0] != i + 2:
            out.append(lines[i])
            i += 1
            continue
        indent = rule.group(1)
        starts = [m.start() for m in re.finditer(r"=+", lines[i])]
        rows = [split_row(lines[i + 1], starts)]
        rows += [split_row(line, starts) for line in lines[ends[0] + 1:ends[1]] if line.strip()]
        out += ["", indent + "| " + " | ".join(rows[0]) + " |", indent + "|" + "---|" * len(starts)]
        out += [indent + "| " + " | ".join(r) + " |" for r in rows[1:]]
        out.append("")
        i = ends[1] + 1
    return out


def shared_items(lines: list[str]) -> list[str]:
    """``a, b: text`` in an Args or Attributes section as one item per name, each with the text."""
    out: list[str] = []
    section: int | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        indent = len(line) - len(line.lstrip())
        if line.strip() and section is not None and indent <= section:
            section = None
        if SECTION.match(line):
            section = indent
        item = SHARED.match(line) if section is not None else None
        if not item:
            out.append(line)
            i += 1
            continue
        more = []
        while (i + 1 < len(lines) and lines[i + 1].strip()
               and len(lines[i + 1]) - len(lines[i + 1].lstrip()) > len(item.group(1))):
            more.append(lines[i + 1])
            i += 1
        for name in item.group(2).split(", "):
            out += [f"{item.group(1)}{name}{item.group(3) or ''}: {item.group(4)}", *more]
        i += 1
    return out


def to_markdown(text: str) -> str:
    """The Markdown of one docstring (see the module docstring)."""
    text = DOCTEST.sub(r"\1Examples:\n\2", text)
    lines = simple_tables(math_blocks(shared_items(text.splitlines())))
    text = "\n".join(lines)
    text = MATH_ROLE.sub(lambda m: mathml(m.group(1), block=False), text)
    return ROLE.sub(lambda m: f"`{m.group(1)}`", text)


class RestToMarkdown(griffe.Extension):
    """Rewrites every docstring's reST pieces as Markdown before mkdocstrings parses it."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)
