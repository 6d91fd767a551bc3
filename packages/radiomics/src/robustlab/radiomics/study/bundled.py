"""Bundled names: the parameter files and studies shipped in ``conf/radiomics``, and how a name
or a path given in a study file or on the command line becomes a file."""

from __future__ import annotations

import difflib
from pathlib import Path

from robustlab.common import safe_yaml
from robustlab.common.resources import data_dir
from robustlab.radiomics.errors import StudyError


def extraction_dir() -> Path:
    """The folder of the bundled pyradiomics parameter files, ``conf/radiomics/extraction``."""
    return data_dir("radiomics", "extraction")


def study_dir() -> Path:
    """The folder of the bundled studies, ``conf/radiomics/studies``.

    Not ``conf/radiomics/study``: a folder of that name would make ``study`` a Hydra config
    group, and ``study=<path to a YAML>`` would no longer be accepted on the command line.
    """
    return data_dir("radiomics", "studies")


def list_extractions() -> list[str]:
    """Names of the bundled pyradiomics parameter files (e.g. ``paper2d``, ``paper3d``)."""
    return sorted(p.stem for p in extraction_dir().glob("*.yaml"))


def list_studies() -> list[str]:
    """Names of the bundled studies."""
    return sorted(p.stem for p in study_dir().glob("*.yaml"))


def unknown(kind: str, name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    return f"unknown {kind} {name!r}{hint} (known: {', '.join(known) or 'none'})"


def resolve_extraction(value: str, base: Path, where: str) -> Path:
    """A bundled parameter-file name or a path (relative to ``base``) -> the file's path."""
    value = str(value)
    looks_like_path = any(s in value for s in "/\\") or value.endswith((".yaml", ".yml", ".json"))
    if looks_like_path:
        path = resolve_path((base / value).expanduser(), where)
        if not path.is_file():
            raise StudyError(f"{where}: pyradiomics parameter file {value!r} not found (looked at {path})")
        try:  # pyradiomics' own reader keeps the last of two equal keys without a word
            safe_yaml.load(path)
        except (safe_yaml.DuplicateKeyError, safe_yaml.YAMLSyntaxError) as exc:
            raise StudyError(f"{where}: pyradiomics parameter file: {exc}") from None
        return path
    bundled = extraction_dir() / f"{value}.yaml"
    if not bundled.is_file():
        raise StudyError(f"{where}: " + unknown("extraction", value, list_extractions()))
    return bundled


def resolve_path(path: Path, where: str) -> Path:
    """``path`` made absolute with its links followed; a link loop is a one-line error."""
    try:
        return path.resolve()
    except (RuntimeError, OSError, ValueError) as exc:  # a link loop: RuntimeError before Python 3.13
        raise StudyError(f"{where}: cannot resolve the path {str(path)!r}: {exc}") from None


def resolve_study(study: str | Path) -> Path:
    """A bundled study name or a path to a study YAML -> the file's absolute path."""
    text = str(study)
    path = Path(text).expanduser()
    if path.suffix in (".yaml", ".yml") or path.exists() or "/" in text:
        if not path.is_file():
            raise StudyError(f"study file {text!r} not found (looked at {resolve_path(path, 'study')})")
        return resolve_path(path, "study")
    bundled = study_dir() / f"{text}.yaml"
    if not bundled.is_file():
        raise StudyError(unknown("study", text, list_studies()))
    return bundled
