"""The record of a run: ``run_info.json`` in every run directory.

It holds what is needed to tell two runs apart and to redo one: git commit and dirty flag,
package versions, platform, CUDA device, a hash of the resolved config, start and end time,
the command line and the final status.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from robustlab.common.hashing import json_hash
from robustlab.common.io import write_json

RUN_INFO = "run_info.json"

#: Distributions whose versions are recorded when installed.
TRACKED_DISTRIBUTIONS = (
    "numpy", "scipy", "pandas", "torch", "torchvision", "timm", "pyradiomics", "SimpleITK",
    "hydra-core", "robustlab-common", "robustlab-pruning", "robustlab-radiomics",
)


def config_hash(config: Mapping[str, Any]) -> str:
    """SHA-256 of the config as canonical JSON (sorted keys), hex; equal configs, equal hashes."""
    return json_hash(config)


def git_state(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The commit and dirty flag of the git work tree holding ``path`` (default: this file)."""
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    if where.is_file():
        where = where.parent

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args], cwd=where, capture_output=True, text=True, timeout=10, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip()

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def package_versions() -> dict[str, str]:
    """Installed versions of :data:`TRACKED_DISTRIBUTIONS` (absent ones are left out)."""
    versions = {"python": platform.python_version()}
    for name in TRACKED_DISTRIBUTIONS:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def device_info() -> dict[str, Any]:
    """CUDA devices when torch is already imported and sees one; else ``{"cuda": False}``."""
    torch = sys.modules.get("torch")  # never import torch just to describe the machine
    if torch is None or not torch.cuda.is_available():
        return {"cuda": False}
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {"cuda": True, "devices": names, "cuda_version": torch.version.cuda}


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class RunRecord:
    """Context manager writing ``run_info.json`` at the start and the end of a run.

    Example:
        >>> import tempfile
        >>> with RunRecord(tempfile.mkdtemp(), {"seed": 0}) as record:
        ...     pass
        >>> record.info["status"]
        'completed'
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        config: Mapping[str, Any],
        command: list[str] | None = None,
    ):
        self.path = Path(run_dir) / RUN_INFO
        self.info: dict[str, Any] = {
            "command": command or [Path(sys.argv[0]).name, *sys.argv[1:]],
            "cwd": os.getcwd(),
            "config_hash": config_hash(config),
            "git": git_state(),
            "versions": package_versions(),
            "platform": {
                "system": platform.system(),
                "release": platform.release(),
                "machine": platform.machine(),
                "processor": platform.processor(),
                "cpu_count": os.cpu_count(),
            },
            "device": device_info(),
            "start_time": None,
            "end_time": None,
            "status": "running",
        }

    def __enter__(self) -> RunRecord:
        self.info["start_time"] = _now()
        write_json(self.path, self.info)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.info["end_time"] = _now()
        self.info["device"] = device_info()  # torch may have been imported by the run
        self.info["status"] = "completed" if exc_type is None else "failed"
        if exc is not None:
            self.info["error"] = f"{exc_type.__name__}: {exc}"
        try:
            write_json(self.path, self.info)
        except OSError:
            if exc is None:
                raise
            # a failed run (a full disk, say) whose record cannot be written either: the run's
            # own error, the one that names what failed first, is the one reported
