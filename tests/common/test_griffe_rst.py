"""The docs site's griffe extension: reST math, roles, simple tables and shared items as Markdown."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("griffe")
pytest.importorskip("latex2mathml")

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "griffe_rst.py"
spec = importlib.util.spec_from_file_location("griffe_rst", SCRIPT)
griffe_rst = importlib.util.module_from_spec(spec)
spec.loader.exec_module(griffe_rst)

DOCSTRING = """Intraclass correlation.

========  =========
model     McGraw-Wong
========  =========
oneway    ICC(1)
twoway    ICC(A,1)
========  =========

With :math:`MS_R` from :func:`~robustlab.common.stats.icc`:

.. math::

    a = \\frac{1}{2}, \\qquad b = 2

Args:
    x, y: paired ratings,
        one row per target.
    alpha: the level.

Example:
    >>> 1 + 1
    2
"""


def test_every_rest_piece_becomes_markdown():
    md = griffe_rst.to_markdown(DOCSTRING)
    assert "| model | McGraw-Wong |\n|---|---|\n| oneway | ICC(1) |\n| twoway | ICC(A,1) |" in md
    assert '<span class="math"><math' in md and "`robustlab.common.stats.icc`" in md
    assert md.count('display="block"') == 2 and "<mfrac>" in md and "qquad" not in md
    assert "    x: paired ratings,\n        one row per target.\n    y: paired ratings,\n" in md
    assert "Examples:\n    >>> 1 + 1" in md and "Example:" not in md
    assert ":math:" not in md and ".. math::" not in md and ":func:" not in md and "====" not in md


def test_a_formula_latex2mathml_cannot_read_stays_visible_as_code():
    assert griffe_rst.mathml("\\frac{1}{", block=False) == "<code>\\frac{1}{</code>"


def test_the_same_docstring_twice_is_unchanged():
    once = griffe_rst.to_markdown(DOCSTRING)
    assert griffe_rst.to_markdown(once) == once
