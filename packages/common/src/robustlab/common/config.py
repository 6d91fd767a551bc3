"""Typed configs bound once: a config mapping -> a tree of dataclasses, strictly.

The command-line apps compose a config with Hydra and bind it here, once, into the dataclasses
their library takes; library code never sees the mapping. A dataclass states each key's type
and default, once, and its constraints beside it (:mod:`robustlab.common.constraints`).
Binding is strict, and checks every value before any work: an unknown key, a missing required
key, a value of the wrong type or one that breaks its constraints is a
:class:`~robustlab.common.errors.ConfigError` naming the key by its full path, what was
expected and what was given, and for an unknown key the close matches.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Optim:
    ...     lr: float = 0.1
    ...     betas: tuple[float, float] = (0.9, 0.999)
    >>> from_dict(Optim, {"betas": [0.8, 0.9]})
    Optim(lr=0.1, betas=(0.8, 0.9))
    >>> for bad in ({"lrr": 1.0}, {"lr": float("nan")}):
    ...     try:
    ...         from_dict(Optim, bad, "train.optim")
    ...     except ValueError as err:
    ...         print(err)
    train.optim: unknown key 'lrr'; did you mean lr? (known: betas, lr)
    train.optim.lr: must be a finite number; got nan
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import numbers
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, TypeVar, Union, cast

from robustlab.common.constraints import Constraint, Interval, OneOf, admits_infinity
from robustlab.common.errors import ConfigError
from robustlab.common.registry import unknown_name_message

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
_MISSING = dataclasses.MISSING


def from_dict(cls: type[T], data: Mapping[str, Any] | None, where: str = "") -> T:
    """An instance of dataclass ``cls`` from ``data``, nested dataclasses bound recursively.

    Every value is checked against its field's type and declared constraints
    (:mod:`robustlab.common.constraints`) before the instance is made.

    Args:
        cls: the dataclass.
        data: its keys (None: every default).
        where: the path of ``data`` in the whole config, for messages (``"train"``).

    Raises:
        ConfigError: an unknown key (with the close matches), a missing required key, or a
            value that does not fit the field's type or breaks its constraints.
    """
    data = {} if data is None else data
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or 'config'}: expected a mapping of keys, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]  # T: a dataclass
    for key in data:
        if key not in fields:
            raise ConfigError(f"{where or 'config'}: " + unknown_name_message("key", str(key), fields))
    hints = _hints(cls)  # type: ignore[arg-type]  # a class is hashable: mypy issue 11470
    values = {}
    for name, f in fields.items():
        path = f"{where}.{name}" if where else name
        if name in data:
            values[name] = _convert(data[name], hints[name], path)
        elif f.default is _MISSING and f.default_factory is _MISSING:
            raise ConfigError(f"{path}: missing (required)")
    return cls(**values)


def check_fields(instance: Any, where: str = "", keys: Mapping[str, str] | None = None) -> None:
    """Check a dataclass instance made in code (not bound) against its fields' types and
    declared constraints, as :func:`from_dict` checks a mapping.

    Args:
        instance: the dataclass instance.
        where: its path in the config (``"train"``).
        keys: field -> the config key it comes from, for fields named otherwise in the config
            (``{"eval_batch_size": "eval.batch_size"}``).

    Raises:
        ConfigError: the first field that does not fit, named by its config key
            (``<where>.<field>`` unless ``keys`` names it).
    """
    hints = _hints(type(instance))  # type: ignore[arg-type]  # as in from_dict: mypy issue 11470
    for f in dataclasses.fields(instance):
        if f.init:
            path = (keys or {}).get(f.name) or (f"{where}.{f.name}" if where else f.name)
            _convert(getattr(instance, f.name), hints[f.name], path)


def check_value(value: Any, hint: Any, path: str) -> Any:
    """``value`` checked against the type ``hint`` (with its constraints) and shaped into it."""
    return _convert(value, hint, path)


def arg_type(hint: Any, parse: Callable[[str], Any] | None = None) -> Callable[[str], Any]:
    """An ``argparse`` ``type=`` for a script's argument declared as a config field is:
    ``parse`` (default: the declared type, ``int`` or ``float``) then the declared constraints.

    A text that does not parse, or a value that breaks a constraint, is argparse's one-line
    usage error (``error: argument --jobs: must be in [1, inf); got 0``).

    Example:
        >>> from robustlab.common.constraints import PositiveInt
        >>> import argparse
        >>> try:
        ...     arg_type(PositiveInt)("0")
        ... except argparse.ArgumentTypeError as err:
        ...     print(err)
        must be in [1, inf); got 0
    """
    import argparse

    base = typing.get_args(hint)[0] if typing.get_origin(hint) is Annotated else hint

    def convert(text: str) -> Any:
        try:
            value = (parse or base)(text)
        except ValueError as exc:
            said = str(exc) if parse is not None else f"expected {_describe(hint)}; got {text!r}"
            raise argparse.ArgumentTypeError(said) from None
        try:
            return _convert(value, hint, "")
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix(": ")) from None

    convert.__name__ = getattr(parse or base, "__name__", "value")  # argparse names it on a failure
    return convert


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


@functools.cache
def function_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    """The annotations of ``fn``'s parameters with their constraints; none when they do not
    resolve (an annotation naming a type imported for type checkers only)."""
    try:
        return typing.get_type_hints(fn, include_extras=True)
    except (NameError, TypeError):
        return {}


def checked_arguments(where: str) -> Callable[[F], F]:
    """A decorator: each call checks the arguments whose annotations declare constraints, as
    :func:`from_dict` checks a config, before the body runs (after scikit-learn's
    ``validate_params``); a ``ConfigError`` names ``<where>.<parameter>``.

    Example:
        >>> from robustlab.common.constraints import PositiveInt
        >>> @checked_arguments("eval.suites.mine")
        ... def suite(n_images: PositiveInt = 64) -> int:
        ...     return n_images
        >>> try:
        ...     suite(n_images=0)
        ... except ValueError as err:
        ...     print(err)
        eval.suites.mine.n_images: must be in [1, inf); got 0
    """
    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def checked(*args: Any, **kwargs: Any) -> Any:
            hints = function_hints(fn)
            for name, value in signature.bind(*args, **kwargs).arguments.items():
                if name in hints and _declares(hints[name]):
                    _convert(value, hints[name], f"{where}.{name}")
            return fn(*args, **kwargs)

        return cast(F, checked)

    return decorate


def _declares(hint: Any) -> bool:
    """Whether ``hint`` declares a constraint anywhere in it."""
    if typing.get_origin(hint) is Annotated:
        return True
    return any(_declares(a) for a in typing.get_args(hint))


def _broken(path: str, expected: str, value: Any, hint: str = "") -> ConfigError:
    """The error of a value that breaks a declared constraint; it keeps its parts
    (``.broken``) so that a union can add "or null"."""
    error = ConfigError(f"{path}: must be {expected}; got {value!r}{hint}")
    error.broken = (path, expected, hint)  # type: ignore[attr-defined]  # read back by _union only
    return error


def _convert(value: Any, hint: Any, path: str) -> Any:
    """``value`` checked against (and shaped into) the type ``hint``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Annotated:
        return _constrained(value, args[0], hint.__metadata__, path)
    if origin in (Union, types.UnionType):
        return _union(value, hint, args, path)
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):  # type: ignore[arg-type]  # a dataclass type, checked above
            check_fields(value, path)
            return value
        return from_dict(hint, value, path)  # type: ignore[arg-type]  # a dataclass type, checked above
    if hint is Any or hint is object:
        return value
    if origin in (tuple, list, Sequence):
        return _sequence(value, origin, args, path)
    if origin in (dict, Mapping) or hint is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: expected a mapping, got {value!r}")
        if len(args) == 2 and args[1] is not Any:
            return {k: _convert(v, args[1], key_path(path, k)) for k, v in value.items()}
        return dict(value)
    return _scalar(value, hint, path)


def key_path(path: str, key: Any) -> str:
    """``path.key``, or ``path['key']`` where the key would not read as one on one line (empty,
    not printable, spaces at its ends: a key ``"\\n"`` must not break a one-line error)."""
    if isinstance(key, str) and (not key or not key.isprintable() or key.strip() != key):
        return f"{path}[{key!r}]"
    return f"{path}.{key}"


def _constrained(value: Any, base: Any, marks: tuple[Any, ...], path: str) -> Any:
    constraints = [m for m in marks if isinstance(m, Constraint)]
    shaped = value if base is float and admits_infinity(constraints, value) else _convert(value, base, path)
    for constraint in constraints:
        if not constraint.holds(shaped):
            raise _broken(path, str(constraint), value, constraint.hint(shaped))  # the value as written
    return shaped


def _union(value: Any, hint: Any, args: tuple[Any, ...], path: str) -> Any:
    if value is None and type(None) in args:
        return None
    errors: list[ConfigError] = []
    for option in (a for a in args if a is not type(None)):
        try:
            return _convert(value, option, path)
        except ConfigError as exc:
            errors.append(exc)
    inside = [e for e in errors if str(e).startswith((f"{path}[", f"{path}."))]
    if inside:  # the value has the shape of one member and fails within it: say where
        raise inside[0]
    if len(errors) == 1:
        first = errors[0]
        broken = getattr(first, "broken", None)
        if broken is not None and broken[0] == path and type(None) in args:
            raise _broken(path, f"{broken[1]} or null", value, broken[2]) from None
        raise first
    raise ConfigError(f"{path}: must be {' or '.join(_describe(a) for a in args)}; got {value!r}")


def _sequence(value: Any, origin: Any, args: tuple[Any, ...], path: str) -> Any:
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{path}: expected a list, got {value!r}")
    item = args[0] if args and (origin is not tuple or (len(args) == 2 and args[1] is Ellipsis)) else None
    if origin is tuple and args and item is None:
        if len(args) != len(value):
            raise ConfigError(f"{path}: expected {len(args)} values, got {len(value)}: {list(value)}")
        return tuple(_convert(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
    items = [v if item is None else _convert(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
    return tuple(items) if origin is tuple else items


def _scalar(value: Any, hint: Any, path: str) -> Any:
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise _broken(path, "a finite number", value)
            return value  # an int stays an int: the recorded config keeps what was written
    elif hint is str:
        if isinstance(value, str):
            return value
    else:
        return value
    raise ConfigError(f"{path}: expected {hint.__name__}, got {value!r}")


_WORDS = {bool: "true or false", int: "a whole number", float: "a number", str: "a string", type(None): "null"}


def _describe(hint: Any) -> str:
    """The type ``hint`` in words, for a value that fits no member of a union."""
    if typing.get_origin(hint) is Annotated:
        base, *marks = typing.get_args(hint)
        said = [str(m) for m in marks if isinstance(m, Constraint)]
        if said and all(isinstance(m, OneOf) for m in marks):
            return " or ".join(said)
        return " ".join([_describe(base), *said])
    if dataclasses.is_dataclass(hint) or typing.get_origin(hint) in (dict, Mapping):
        return "a mapping"
    if typing.get_origin(hint) in (list, tuple, Sequence):
        return "a list"
    return _WORDS.get(hint, str(hint))


#: The largest seed every generator takes (torch's is a 64-bit integer).
MAX_SEED = 2**63 - 1
#: A seed, as a config declares it.
Seed = Annotated[int, Interval(0, MAX_SEED)]


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
