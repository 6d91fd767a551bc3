"""MkDocs hook: the site works from disk with no network, search included.

Material's ``offline`` plugin lets search run from ``file://`` by loading the iframe-worker shim
(a browser refuses to start a web worker from disk; the shim runs it in an iframe), but it loads
that shim from unpkg.com, which an offline reader cannot reach. ``make docs`` fetches the shim's
npm package (iframe-worker, MIT) into ``.cache/docs``; after the build this hook copies it into
the site and points every page at the copy, by a path relative to the page.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

SHIM_URL = "https://unpkg.com/iframe-worker/shim"
SHIM = Path(__file__).resolve().parents[1] / ".cache" / "docs" / "iframe-worker" / "package" / "shim" / "index.js"
SITE_PATH = Path("assets") / "javascripts" / "iframe-worker-shim.js"


def on_post_build(config: Any, **kwargs: Any) -> None:
    site = Path(config["site_dir"])
    if not SHIM.is_file():
        raise PluginError(f"offline search: the iframe-worker shim is missing ({SHIM.name} under "
                          ".cache/docs); run `make docs`, which fetches it with npm")
    shutil.copyfile(SHIM, site / SITE_PATH)
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        if SHIM_URL in text:
            local = Path(os.path.relpath(site / SITE_PATH, page.parent)).as_posix()
            page.write_text(text.replace(SHIM_URL, local), encoding="utf-8")
