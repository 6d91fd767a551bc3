"""Typed configs bound once: a config mapping -> a tree of dataclasses, strictly.

The command-line apps compose a config with Hydra and bind it here, once, into the dataclasses
their library takes; library code never sees the mapping. A dataclass states each key's type
and default, once. Binding is strict: an unknown key, a missing required key or a value of the
wrong type is a :class:`~robustlab.common.errors.ConfigError` naming the key by its full path
and, for an unknown key, the close matches.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Optim:
    ...     lr: float = 0.1
    ...     betas: tuple[float, float] = (0.9, 0.999)
    >>> from_dict(Optim, {"betas": [0.8, 0.9]})
    Optim(lr=0.1, betas=(0.8, 0.9))
    >>> try:
    ...     from_dict(Optim, {"lrr": 1.0}, "train.optim")
    ... except ValueError as err:
    ...     print(err)
    train.optim: unknown key 'lrr'; did you mean lr? (known: betas, lr)
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar, Union

from robustlab.common.errors import ConfigError
from robustlab.common.registry import unknown_name_message

T = TypeVar("T")
_MISSING = dataclasses.MISSING


def from_dict(cls: type[T], data: Mapping[str, Any] | None, where: str = "") -> T:
    """An instance of dataclass ``cls`` from ``data``, nested dataclasses bound recursively.

    Args:
        cls: the dataclass.
        data: its keys (None: every default).
        where: the path of ``data`` in the whole config, for messages (``"train"``).

    Raises:
        ConfigError: an unknown key (with the close matches), a missing required key, or a
            value that does not fit the field's type.
    """
    data = {} if data is None else data
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or 'config'}: expected a mapping of keys, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    for key in data:
        if key not in fields:
            raise ConfigError(f"{where or 'config'}: " + unknown_name_message("key", str(key), fields))
    hints = typing.get_type_hints(cls)
    values = {}
    for name, f in fields.items():
        path = f"{where}.{name}" if where else name
        if name in data:
            values[name] = _convert(data[name], hints[name], path)
        elif f.default is _MISSING and f.default_factory is _MISSING:
            raise ConfigError(f"{path}: missing (required)")
    return cls(**values)


def _convert(value: Any, hint: Any, path: str) -> Any:
    """``value`` checked against (and shaped into) the type ``hint``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _convert(value, option, path)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{path}: {value!r} fits none of {hint}")
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, path)  # type: ignore[arg-type]
    if hint is Any or hint is object:
        return value
    if origin is tuple or origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        item = args[0] if args and (origin is list or (len(args) == 2 and args[1] is Ellipsis)) else None
        if origin is tuple and args and item is None:
            if len(args) != len(value):
                raise ConfigError(f"{path}: expected {len(args)} values, got {len(value)}: {list(value)}")
            return tuple(_convert(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
        items = [v if item is None else _convert(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict or origin is Mapping or hint is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: expected a mapping, got {value!r}")
        return dict(value)
    return _scalar(value, hint, path)


def _scalar(value: Any, hint: Any, path: str) -> Any:
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value  # an int stays an int: the recorded config keeps what was written
    elif hint is str:
        if isinstance(value, str):
            return value
    else:
        return value
    raise ConfigError(f"{path}: expected {hint.__name__}, got {value!r}")


#: The largest seed every generator takes (torch's is a 64-bit integer).
MAX_SEED = 2**63 - 1


def check_seed(value: Any, key: str = "seed") -> int:
    """``value`` as a seed: a whole number in ``[0, 2**63 - 1]``.

    Raises:
        ConfigError: anything else (``-1``, ``"abc"``, ``1.5``, ``true``), naming ``key``.

    Example:
        >>> check_seed(7)
        7
        >>> try:
        ...     check_seed(-1)
        ... except ValueError as err:
        ...     print(err)
        seed: must be a whole number in [0, 2**63 - 1]; got -1
    """
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise ConfigError(f"{key}: must be a whole number in [0, 2**63 - 1]; got {value!r}")
    return int(value)
