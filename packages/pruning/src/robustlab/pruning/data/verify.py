"""Image files checked before training: every file decoded once, a bad one named.

A corrupt or truncated file in an on-disk split would otherwise be found by the data loader
hours into training (or, in a validation split, after dense training), with an error that
names no file. :func:`check_images` decodes every image of a split once, in threads (Pillow
releases the GIL while it decodes), with a progress bar, before any training; each bad file is
named with Pillow's reason. :func:`open_rgb` is the loaders' reader: a file that goes bad later
is named too.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from robustlab.common.errors import DataError

log = logging.getLogger(__name__)
SKIP_HINT = "fix or remove the file(s), or set data.skip_bad_images=true to leave them out"


def open_rgb(path: str | os.PathLike[str]) -> Any:
    """The image at ``path`` decoded as RGB (a PIL image); a file Pillow cannot decode raises
    :class:`DataError` naming it."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"{path}: cannot decode the image ({exc}); {SKIP_HINT}") from exc


def _problem(path: str) -> str | None:
    """Pillow's reason why ``path`` does not decode, or None when it does."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            img.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def check_images(paths: Sequence[str], what: str, threads: int | None = None,
                 progress: bool = True) -> dict[str, str]:
    """Decode every file of ``paths`` once; return ``{path: reason}`` of those that fail.

    Args:
        paths: image files.
        what: the split, for the progress bar (e.g. ``"imagefolder val"``).
        threads: decoding threads (None: one per core, at most 32).
        progress: show a tqdm progress bar.
    """
    from tqdm.auto import tqdm

    threads = threads or min(32, os.cpu_count() or 1)
    bad: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=threads) as pool, \
            tqdm(total=len(paths), desc=f"check {what}", unit="img", disable=not progress) as bar:
        for path, reason in zip(paths, pool.map(_problem, paths, chunksize=64), strict=True):
            if reason is not None:
                bad[path] = reason
            bar.update()
    return bad


def refuse_or_skip(bad: dict[str, str], what: str, skip: bool,
                   report_dir: Path | None = None) -> None:
    """Raise naming the bad files, or (``skip``) log them and list them in ``bad_images.csv``."""
    if not bad:
        return
    first, reason = next(iter(bad.items()))
    more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
    if not skip:
        raise DataError(f"{what}: {first} cannot be decoded ({reason}){more}; {SKIP_HINT}")
    log.warning("%s: leaving out %d image(s) that cannot be decoded, e.g. %s (%s)",
                what, len(bad), first, reason)
    if report_dir is not None:
        import pandas as pd

        from robustlab.common.io import write_table

        rows = pd.DataFrame({"split": what, "path": list(bad), "reason": list(bad.values())})
        path = Path(report_dir) / "bad_images.csv"
        if path.exists():
            rows = pd.concat([pd.read_csv(path).query("split != @what"), rows], ignore_index=True)
        write_table(rows, path, formats=("csv",))
