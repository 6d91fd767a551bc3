"""A persistent, content-addressed cache of extracted ROIs.

The key of an entry is the SHA-256 of the content hashes of the image, the mask and the
pyradiomics parameter file, the label, the pyradiomics version, and the perturbation (for the
texture test: the shuffling seed). Renaming or moving a file keeps its entries; changing one
voxel, one setting or the pyradiomics version makes new ones.

An entry is one JSON file ``<dir>/<key[:2]>/<key>.json`` holding the key, the payload
(feature values, or the error of a failed extraction) and the SHA-256 of the payload. It is
written atomically (temp file + rename) and verified on read: a truncated, altered or
mismatched entry reads as missing, so the ROI is extracted again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from robustlab.common.io import write_text

log = logging.getLogger(__name__)
FORMAT = 1


def make_key(**parts: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of ``parts``; equal parts, equal keys."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _checksum(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class FeatureCache:
    """Cache entries under one directory (shared by runs, shards and workers).

    Args:
        root: the cache directory (created when missing).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        """Where the entry ``key`` lives."""
        return self.root / key[:2] / f"{key}.json"

    def contains(self, key: str) -> bool:
        """True when a valid entry for ``key`` exists (it is read and verified)."""
        return self.get(key) is not None

    def get(self, key: str) -> dict[str, Any] | None:
        """The payload of ``key``, or None when absent or corrupt (a corrupt one is logged)."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            ok = (isinstance(entry, dict) and entry.get("format") == FORMAT
                  and entry.get("key") == key and entry.get("checksum") == _checksum(entry["payload"]))
        except (OSError, ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            log.warning("cache entry %s is corrupt; it will be extracted again", path)
            return None
        return entry["payload"]

    def put(self, key: str, payload: dict[str, Any]) -> Path:
        """Write ``payload`` under ``key`` atomically; return the entry's path."""
        entry = {"format": FORMAT, "key": key, "checksum": _checksum(payload), "payload": payload}
        return write_text(self.path(key), json.dumps(entry, allow_nan=True))
