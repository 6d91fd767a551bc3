"""Extraction settings of an acquisition: a pyradiomics parameter file plus overrides.

A study file's ``extraction:`` (at the study, a scanner group or an acquisition) is either the
name of a parameter file (bundled, or a path) or a mapping of pyradiomics ``setting:`` keys
that override the file inherited from the level above, optionally with its own ``file``::

    extraction: paper2d                                  # a whole parameter file
    extraction: {binWidth: 10}                           # the inherited file, binWidth 10
    extraction: {file: paper2d.yaml, resampledPixelSpacing: [0.625, 0.625, 0],
                 interpolator: sitkBSpline}

The keys are pyradiomics' own (its parameter schema validates them, before any extraction):
the study file speaks no second settings dialect. Overrides apply to the ``setting:`` section
of the file; ``imageType`` and ``featureClass`` come from the file.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robustlab.common import safe_yaml


@dataclass(frozen=True)
class Extraction:
    """The effective extraction settings of an acquisition.

    Attributes:
        file: the pyradiomics parameter file (absolute).
        overrides: ``setting:`` keys replacing the file's, as canonical JSON (``""``: none).
    """

    file: Path
    overrides: str = ""

    @property
    def override_dict(self) -> dict[str, Any]:
        """The overrides as a mapping."""
        return json.loads(self.overrides) if self.overrides else {}

    def params(self) -> dict[str, Any]:
        """The whole parameter document, overrides applied to its ``setting`` section."""
        doc = dict(_read_params(self.file))
        doc["setting"] = {**(doc.get("setting") or {}), **self.override_dict}
        return doc

    @property
    def label(self) -> str:
        """A short description: the file name, then each override (``paper2d.yaml binWidth=10``)."""
        extra = " ".join(f"{k}={json.dumps(v, separators=(',', ':'))}"
                         for k, v in self.override_dict.items())
        return f"{self.file.name} {extra}".strip()

    @property
    def family(self) -> str:
        """``"2D"`` when the settings extract slice by slice (``force2D``), else ``"3D"``."""
        return "2D" if self.params()["setting"].get("force2D", False) else "3D"

    def feature_signature(self) -> str:
        """What decides the feature names: image types, feature classes and ``force2D``."""
        doc = self.params()
        return json.dumps({"imageType": sorted(doc.get("imageType") or {"Original": {}}),
                           "featureClass": doc.get("featureClass"),
                           "force2D": bool(doc["setting"].get("force2D", False))},
                          sort_keys=True, default=str)


@dataclass(frozen=True)
class ExtractionSpec:
    """An ``extraction:`` value being resolved down the levels (file and overrides so far)."""

    file: Path | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def resolve(self) -> Extraction | None:
        """The effective :class:`Extraction` (None without a file)."""
        if self.file is None:
            return None
        text = json.dumps(dict(self.overrides), sort_keys=True) if self.overrides else ""
        return Extraction(self.file, text)


@functools.lru_cache(maxsize=64)
def _read_params(path: Path) -> dict[str, Any]:
    doc = safe_yaml.load(path) or {}
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: a pyradiomics parameter file is a mapping")
    return doc


def parse_extraction(value: Any, base: Path, where: str, inherited: ExtractionSpec,
                     resolve_file: Any) -> ExtractionSpec:
    """One level's ``extraction:`` applied to what the level above gave.

    Args:
        value: a parameter-file name or path, or a mapping of overrides (with an optional
            ``file``), or None (inherit).
        base: the folder paths are relative to.
        where: the location for error messages.
        inherited: the spec of the level above.
        resolve_file: ``(value, base, where) -> Path`` for a bundled name or a path.
    """
    if value is None:
        return inherited
    if isinstance(value, str):
        return ExtractionSpec(resolve_file(value, base, where))
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: 'extraction' is a parameter file or a mapping of pyradiomics "
                         f"settings; got {value!r}")
    overrides = {str(k): v for k, v in value.items() if k != "file"}
    if "file" in value:
        return ExtractionSpec(resolve_file(str(value["file"]), base, f"{where}, key 'file'"), overrides)
    return ExtractionSpec(inherited.file, {**inherited.overrides, **overrides})


def check_extraction(extraction: Extraction, where: str) -> Any:
    """Validate the effective settings with pyradiomics' own schema; ValueError naming ``where``.

    Returns:
        The extractor pyradiomics built from them (extraction may take it rather than have
        pyradiomics read and validate the settings again).
    """
    from radiomics.featureextractor import RadiomicsFeatureExtractor
    from robustlab.radiomics.extraction.pyradiomics_env import quiet_pyradiomics

    quiet_pyradiomics()
    params = extraction.params()
    # pyradiomics' schema (pykwalify) takes NaN and infinity as floats: binWidth .nan passes it.
    for key, value in (params.get("setting") or {}).items():
        if any(isinstance(v, float) and not math.isfinite(v) for v in (value if isinstance(value, list) else [value])):
            raise ValueError(f"{where}: setting {key} must be finite; got {value!r} ({extraction.label})")
    try:
        return RadiomicsFeatureExtractor(params)
    except Exception as exc:  # noqa: BLE001 - pykwalify's SchemaError and pyradiomics' ValueError
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{where}: pyradiomics rejects the settings {extraction.label}: {first}") from None
