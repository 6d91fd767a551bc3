"""Hydra's and OmegaConf's complaints about a command line, as the project's one-line errors.

- An interpolation that cannot be resolved (``${oc.env:UNSET}``, ``${missing.key}``, a ``???``
  left unset), in a config file or an override, is a :class:`ConfigError` naming the key that
  holds it (followed through plain references: ``hydra.run.dir`` built from ``${seed}`` names
  ``seed`` when ``seed`` is the one at fault), the interpolation and OmegaConf's reason.
- A value with a comma is a sweep to Hydra (``key=a,b``); without ``-m`` Hydra answers with a
  page of usage text. :func:`quote_comma_paths` quotes such a value when it is a path (an
  existing one, or one in an existing folder), so that a study or run folder whose name holds
  a comma works, and raises a one-line error naming the key otherwise.
- An option of a config group that does not exist (``method=nope``): Hydra prints a page of
  options and search paths; :func:`check_group_options` refuses it in one line with the close
  matches, before Hydra starts.
- Hydra's complaints when it composes a config outside its own entry point (``compose``: an
  option of a config group that does not exist, a key not in the config, an override it cannot
  parse) are several lines and a traceback; :func:`composition_error` makes each one line.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from robustlab.common.errors import ConfigError
from robustlab.common.registry import unknown_name_message

#: A plain reference to another key: ``${seed}``, ``${model.label}`` (no resolver, not relative).
REFERENCE = re.compile(r"\$\{([A-Za-z_][\w\-]*(?:\.[\w\-]+|\[\d+\])*)\}")
_WRAPPED = re.compile(r"^\w+ raised while resolving interpolation: ")


def raw_value(cfg: Any, key: str) -> Any:
    """The unresolved value of dotted ``key`` (``a.b``, ``l[1]``) in ``cfg``; None if absent."""
    from omegaconf import OmegaConf

    node: Any = OmegaConf.to_container(cfg, resolve=False)
    for part in re.findall(r"[^.\[\]]+", key):
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError, TypeError):
            return None
    return node


def unresolvable(cfg: Any, exc: Exception, depth: int = 0) -> ConfigError:
    """The one-line error of an OmegaConf resolution failure ``exc`` raised from ``cfg``."""
    from omegaconf import OmegaConf
    from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

    key = str(getattr(exc, "full_key", "") or "?")
    raw = raw_value(cfg, key)
    for ref in REFERENCE.findall(str(raw)) if depth < 8 else []:
        try:
            OmegaConf.select(cfg, ref, throw_on_missing=True)
        except OmegaConfBaseException as inner:
            if str(getattr(inner, "full_key", "") or "") not in ("", key):
                return unresolvable(cfg, inner, depth + 1)
    if isinstance(exc, MissingMandatoryValue):
        return ConfigError(f"{key}: no value given (the config leaves it '???'); set it with {key}=<value>")
    reason = _WRAPPED.sub("", str(exc).splitlines()[0] if str(exc) else type(exc).__name__).strip("\"'")
    return ConfigError(f"{key}: cannot resolve {raw} ({reason}); set what it names, or give {key} "
                       f"a value with {key}=<value>")


def resolve_config(cfg: Any) -> dict[str, Any]:
    """``cfg`` as a plain dict with every interpolation resolved (string keys).

    Raises:
        ConfigError: an interpolation cannot be resolved (:func:`unresolvable`).
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        composed = OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as exc:
        raise unresolvable(cfg, exc) from exc
    return {str(k): v for k, v in composed.items()} if isinstance(composed, dict) else {}


def select(cfg: Any, key: str) -> Any:
    """The resolved value of dotted ``key``; raises :func:`unresolvable`'s error when it fails."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        return OmegaConf.select(cfg, key, throw_on_missing=True)
    except OmegaConfBaseException as exc:
        raise unresolvable(cfg, exc) from exc


def _path_like(text: str) -> bool:
    """Whether ``text`` names an existing path or a path in an existing folder."""
    path = Path(text).expanduser()
    return path.exists() or (os.sep in text and path.parent.is_dir())


def composition_error(exc: Exception) -> ConfigError:
    """Hydra's error composing a config (a ``HydraException``) as a one-line :class:`ConfigError`:
    a missing config group option names the group, the close options and every option
    (``method=nope: unknown method option 'nope'; did you mean ...?``); any other is Hydra's
    message on one line."""
    missing, options = getattr(exc, "missing_cfg_file", None), getattr(exc, "options", None)
    if missing and options:
        group, _, name = str(missing).rpartition("/")
        said = unknown_name_message(f"{group} option", name, options)
        return ConfigError(f"{group}={name}: {said}")
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return ConfigError(" ".join(lines) or type(exc).__name__)


@contextlib.contextmanager
def composition_errors() -> Iterator[None]:
    """Inside the block, Hydra's errors (``HydraException``) are :func:`composition_error`'s."""
    from hydra.errors import HydraException

    try:
        yield
    except HydraException as exc:
        raise composition_error(exc) from exc


def check_group_options(args: Sequence[str], groups: dict[str, list[str]]) -> None:
    """Refuse an override choosing an option its config group does not have.

    Args:
        args: the command line's overrides (``model=vit_small``, ``+logger=mlflow``,
            ``method=snip,random`` in a sweep); flags, deletions (``~``) and values Hydra
            computes (``${...}``) are left to Hydra.
        groups: config group -> its options (:func:`robustlab.common.hydra_app.config_groups`).

    Raises:
        ConfigError: naming the group, the option and the close matches.
    """
    for arg in args:
        key, eq, text = arg.lstrip("+").partition("=")
        if arg.startswith(("-", "~")) or not eq or key not in groups or "$" in text or "(" in text:
            continue
        for option in (o.strip().strip("'\"") for o in text.strip("[]").split(",")):
            if option and option != "null" and option not in groups[key]:
                raise ConfigError(f"{key}: " + unknown_name_message("option", option, groups[key]))


def user_config_dirs(args: Sequence[str]) -> list[Path] | None:
    """The folders ``--config-dir`` / ``-cd`` add to Hydra's search path (their config groups
    hold options too); None where ``hydra.searchpath`` is set on the command line (a search path
    may name a package: the options it adds are not listed here)."""
    dirs: list[Path] = []
    for i, arg in enumerate(args):
        if arg.lstrip("+").startswith("hydra.searchpath"):
            return None
        flag, eq, value = arg.partition("=")
        if flag in ("--config-dir", "-cd"):
            text = value if eq else (args[i + 1] if i + 1 < len(args) else "")
            if text:
                dirs.append(Path(text).expanduser())
    return dirs


def quote_comma_paths(args: Sequence[str], sweeps_from_files: Callable[[], bool]) -> list[str]:
    """The overrides ``args`` with every path holding a comma quoted (one value, not a sweep).

    Only without ``-m``: there, an override that Hydra reads as a sweep (``key=a,b``) is refused
    by Hydra unless a config file sets ``hydra.mode`` (``sweeps_from_files()``, asked only then).
    Such a value that is a path is quoted (``key='a,b'``); any other raises a one-line error.

    Raises:
        ConfigError: naming the key, when the value is not a path.
    """
    if any(a in ("-m", "--multirun") for a in args) or not any("," in a for a in args):
        return list(args)
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    out = []
    for arg in args:
        key, _, text = arg.partition("=")
        if arg.startswith("-") or "," not in text:
            out.append(arg)
            continue
        try:
            sweep = parser.parse_override(arg).is_sweep_override()
        except Exception:  # a syntax error: Hydra reports it as it does
            sweep = False
        if not sweep or sweeps_from_files():
            out.append(arg)
        elif _path_like(text) and not any(c in text for c in "'\\$"):
            out.append(f"{key}='{text}'")
        else:
            raise ConfigError(f"{key}: {text!r} holds a comma, which Hydra reads as values to sweep "
                              f"over; add -m to sweep, write {key}=[{text}] for a list, or quote one "
                              f"value: {key}=\"'{text}'\"")
    return out
