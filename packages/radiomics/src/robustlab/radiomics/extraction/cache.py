"""A persistent, content-addressed cache of extracted ROIs.

The key of an entry is the SHA-256 of the content hashes of the image, the mask and the
pyradiomics parameter file, the label, the pyradiomics version, and the perturbation (for the
texture test: the shuffling seed). Renaming or moving a file keeps its entries; changing one
voxel, one setting or the pyradiomics version makes new ones.

An entry is one file ``<dir>/<key[:2]>/<key>.json`` of two lines: a JSON header (format,
key, SHA-256 of the payload line) and the JSON payload (feature values, or the error of a
failed extraction). It is written atomically (temp file + rename) and verified on read: a
truncated, altered or mismatched entry reads as missing, so the ROI is extracted again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from robustlab.common.hashing import json_hash
from robustlab.common.io import write_text

log = logging.getLogger(__name__)
FORMAT = 2


def make_key(**parts: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of ``parts``; equal parts, equal keys."""
    return json_hash(parts)


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
        """True when a valid entry for ``key`` exists (its checksum is verified)."""
        return self._body(key) is not None

    def get(self, key: str) -> dict[str, Any] | None:
        """The payload of ``key``, or None when absent or corrupt (a corrupt one is logged)."""
        body = self._body(key)
        try:
            payload = json.loads(body) if body is not None else None
        except ValueError:
            payload = None
        if body is not None and not isinstance(payload, dict):
            log.warning("cache entry %s is corrupt; it will be extracted again", self.path(key))
        return payload if isinstance(payload, dict) else None

    def _body(self, key: str) -> bytes | None:
        """The payload line of entry ``key`` when its header and checksum verify, else None."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            head, _, body = path.read_bytes().partition(b"\n")
            header = json.loads(head)
        except (OSError, ValueError):
            header = None
        if (isinstance(header, dict) and header.get("format") == FORMAT
                and header.get("key") == key
                and header.get("sha256") == hashlib.sha256(body).hexdigest()):
            return body
        log.warning("cache entry %s is corrupt; it will be extracted again", path)
        return None

    def put(self, key: str, payload: dict[str, Any]) -> Path:
        """Write ``payload`` under ``key`` atomically; return the entry's path."""
        body = json.dumps(payload, allow_nan=True)
        header = {"format": FORMAT, "key": key,
                  "sha256": hashlib.sha256(body.encode("utf-8")).hexdigest()}
        return write_text(self.path(key), json.dumps(header) + "\n" + body)
