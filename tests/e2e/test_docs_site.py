"""The documentation site as the README says to open it: ``site/index.html`` from disk.

The site is built (``mkdocs build --strict``) into a temporary folder and opened from
``file://`` in headless Chromium driven by Playwright: every link of the navigation lands on a
page (not a directory listing), and the search box finds pages. Skipped, with the reason, where
the docs dependencies (``make docs``), Playwright or a Chromium are not installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.slow


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    pytest.skip("no Chromium on this machine (Debian: apt-get install chromium)")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("mkdocs", reason="the docs dependencies are not installed (make docs)")
    if not (REPO / ".cache" / "docs" / "iframe-worker").is_dir():
        pytest.skip("the offline search shim is not fetched (make docs fetches it)")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


@pytest.fixture(scope="module")
def page(site: Path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (make docs)")
    executable = _chromium()
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        yield page
        browser.close()


def _nav_links(page, site: Path) -> list[str]:
    page.goto((site / "index.html").as_uri())
    hrefs = page.eval_on_selector_all("nav.md-nav--primary a.md-nav__link[href]",
                                      "links => links.map(a => a.href)")
    return sorted({h.split("#")[0] for h in hrefs if h.startswith("file://")})


def test_every_navigation_link_opens_a_page_from_disk(page, site: Path):
    links = _nav_links(page, site)
    assert len(links) >= 20, links
    for link in links:
        assert link.endswith(".html"), f"navigation link {link} is a folder: from disk it shows a listing"
        page.goto(link)
        assert page.locator("article h1").count() >= 1, f"{link}: no page heading"


def test_search_works_from_disk(page, site: Path):
    page.goto((site / "index.html").as_uri())
    search = page.locator("input.md-search__input")
    search.click()
    search.press_sequentially("intraclass", delay=20)  # keystrokes: the search listens to them
    results = page.locator("li.md-search-result__item")
    results.first.wait_for(timeout=15000)
    assert results.count() >= 1
    target = page.locator("li.md-search-result__item a").first.get_attribute("href")
    assert target and ".html" in target, target
    page.locator("li.md-search-result__item a").first.click()
    page.wait_for_load_state()
    assert page.url.startswith("file://") and page.locator("article h1").count() >= 1
