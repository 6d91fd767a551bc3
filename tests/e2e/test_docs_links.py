"""Every relative link of the READMEs and of the docs pages leads to a file, and its anchor to a heading.

`make docs` (mkdocs build --strict) checks the links between docs pages; this checks the READMEs
too, without the docs dependencies, as part of `make test`.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGES = sorted([REPO / "README.md", *REPO.glob("packages/*/README.md"), *(REPO / "docs").rglob("*.md")])
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def slug(heading: str) -> str:
    """The anchor of a heading as Python-Markdown's toc (and GitHub, for these headings) makes it."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.*?)\s*$", text, re.M)}


def links(page: Path) -> list[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return [t for t in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def broken_links(page: Path, root: Path = REPO) -> list[str]:
    """Each relative link of ``page`` whose file is missing or whose anchor is no heading there."""
    broken = []
    for target in links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no file {dest.relative_to(root) if dest.is_relative_to(root) else dest}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading '#{anchor}' in {dest.relative_to(root)}")
    return broken


def test_the_pages_are_found():
    assert REPO / "docs" / "index.md" in PAGES and len(PAGES) > 10


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(page: Path):
    broken = broken_links(page)
    assert not broken, f"{page.relative_to(REPO)}: " + "; ".join(broken)


def test_a_broken_link_and_a_broken_anchor_are_found(tmp_path: Path):
    (tmp_path / "b.md").write_text("## Other `page`\n")
    page = tmp_path / "a.md"
    page.write_text("# A title: `code`\n\n[ok](#a-title-code) [ok](b.md#other-page) [gone](c.md) "
                    "[bad](#nope) [bad](b.md#other) [web](https://example.org)\n```\n[in code](d.md)\n```\n")
    assert broken_links(page, tmp_path) == ["c.md: no file c.md", "#nope: no heading '#nope' in a.md",
                                            "b.md#other: no heading '#other' in b.md"]
