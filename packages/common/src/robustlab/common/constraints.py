"""Constraints declared beside a config value; :func:`robustlab.common.config.from_dict` checks them.

A dataclass field states what its value may be in its type, with :data:`typing.Annotated`
(after scikit-learn's ``utils/_param_validation.py``: ``Interval``, ``StrOptions``)::

    @dataclass
    class TrainSpec:
        lr: Annotated[float, Interval(0, None, closed="neither")] = 0.1      # (0, inf)
        epochs: Annotated[int, Interval(0, None)] = 1                        # [0, inf)
        optimizer: Annotated[str, OneOf("sgd", "adamw")] = "sgd"
        select_on: Annotated[list[str], NonEmpty(), Unique()] | None = None  # null or a list
        statistic: Annotated[str, Registered(STATISTICS)] = "icc"            # a registered name
        n_jobs: Annotated[int, Interval(1, None) | OneOf(-1)] = -1           # -1 or >= 1
        batch_size: PositiveInt = 128                                        # the usual ranges,
        weight_decay: NonNegativeFloat = 5e-4                                # named as pydantic does

Every constraint of a field must hold (``a | b``: either); a constraint on the items of a list
goes on the item type (``list[Annotated[float, Interval(0, 1)]]``). A float is finite: NaN is
always refused, and an infinite value only where an :class:`Interval` has infinity as a closed
end (``Interval(0, math.inf)`` is ``[0, inf]``; ``Interval(0, None)`` is ``[0, inf)``). A value
that breaks a constraint is a one-line :class:`~robustlab.common.errors.ConfigError`:
``train.lr: must be in (0, inf); got -1``.

Each constraint also offers :meth:`Constraint.violations`, values that break it, as
scikit-learn's ``generate_invalid_param_val`` does for its tests.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

CLOSED = ("both", "left", "right", "neither")


class Constraint:
    """What a value must be: :meth:`holds` tests it and ``str()`` says it in words."""

    def holds(self, value: Any) -> bool:
        raise NotImplementedError

    def hint(self, value: Any) -> str:
        """More words for the message about ``value`` (a close match), or ``""``."""
        return ""

    def violations(self) -> list[Any]:
        """Values that break this constraint (for tests)."""
        return []

    def __or__(self, other: Constraint) -> AnyOf:
        return AnyOf((self, other))


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class Interval(Constraint):
    """A number between ``left`` and ``right``, ends closed as ``closed`` says: ``"both"``
    ``[left, right]``, ``"left"`` ``[left, right)``, ``"right"`` ``(left, right]``, ``"neither"``
    ``(left, right)``. An end None is unbounded (infinity excluded); ``math.inf`` as a closed
    end admits infinity (``Interval(0, math.inf)`` is ``[0, inf]``). NaN never holds."""

    left: float | None
    right: float | None
    closed: str = "both"

    def __post_init__(self) -> None:
        if self.closed not in CLOSED:
            raise ValueError(f"Interval: closed must be one of {CLOSED}; got {self.closed!r}")

    def _closed(self, side: str) -> bool:
        end = self.left if side == "left" else self.right
        return end is not None and self.closed in ("both", side)

    def holds(self, value: Any) -> bool:
        if not _number(value) or math.isnan(value):
            return False
        low = -math.inf if self.left is None else self.left
        high = math.inf if self.right is None else self.right
        left_ok = low <= value if self._closed("left") else low < value
        right_ok = value <= high if self._closed("right") else value < high
        return left_ok and right_ok

    def __str__(self) -> str:
        low = "-inf" if self.left is None else _short(self.left)
        high = "inf" if self.right is None else _short(self.right)
        return f"in {'[' if self._closed('left') else '('}{low}, {high}{']' if self._closed('right') else ')'}"

    def violations(self) -> list[Any]:
        out: list[Any] = [math.nan]
        for end, step in ((self.left, -1), (self.right, 1)):
            out.append(math.inf * step if end is None else end + step)
            if end is not None and not self.holds(end):
                out.append(end)
        return [v for v in out if not self.holds(v)]


def _short(number: float) -> str:
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    return str(int(number)) if float(number).is_integer() and abs(number) < 1e19 else repr(number)


@dataclass(frozen=True)
class OneOf(Constraint):
    """One of the given values (strings are compared as written: ``"SGD"`` is not ``"sgd"``)."""

    choices: tuple[Any, ...]

    def __init__(self, *choices: Any) -> None:
        object.__setattr__(self, "choices", tuple(choices))

    def holds(self, value: Any) -> bool:
        return any(value == c and type(value) is type(c) for c in self.choices)

    def hint(self, value: Any) -> str:
        names = [c for c in self.choices if isinstance(c, str)]
        close = difflib.get_close_matches(str(value), names, n=3) if isinstance(value, str) else []
        return f" (did you mean {', '.join(close)}?)" if close else ""

    def __str__(self) -> str:
        if len(self.choices) == 1:
            return str(self.choices[0])
        return "one of " + ", ".join(str(c) for c in self.choices)

    def violations(self) -> list[Any]:
        return ["not-" + "-".join(str(c) for c in self.choices)]


@dataclass(frozen=True)
class AnyOf(Constraint):
    """Either constraint (``Interval(1, None) | OneOf(-1)``)."""

    options: tuple[Constraint, ...]

    def holds(self, value: Any) -> bool:
        return any(c.holds(value) for c in self.options)

    def __or__(self, other: Constraint) -> AnyOf:
        return AnyOf((*self.options, other))

    def __str__(self) -> str:
        return " or ".join(str(c) for c in self.options)

    def violations(self) -> list[Any]:
        return [v for c in self.options for v in c.violations() if not self.holds(v)]


@dataclass(frozen=True)
class NonEmpty(Constraint):
    """A list, mapping or string with at least one item."""

    def holds(self, value: Any) -> bool:
        return isinstance(value, Sized) and len(value) > 0

    def __str__(self) -> str:
        return "non-empty"

    def violations(self) -> list[Any]:
        return [[]]


@dataclass(frozen=True)
class Unique(Constraint):
    """A list whose items are all different."""

    def holds(self, value: Any) -> bool:
        items = list(value) if isinstance(value, Iterable) else []
        return all(a != b for i, a in enumerate(items) for b in items[i + 1:])

    def hint(self, value: Any) -> str:
        items = list(value)
        twice = [a for i, a in enumerate(items) if a in items[:i]]
        return f" ({twice[0]!r} more than once)" if twice else ""

    def __str__(self) -> str:
        return "without repeated items"


@dataclass(frozen=True)
class Increasing(Constraint):
    """A list of numbers each larger than the one before (``strict=False``: or equal)."""

    strict: bool = True

    def holds(self, value: Any) -> bool:
        items = list(value)
        pairs = zip(items, items[1:], strict=False)
        return all(a < b if self.strict else a <= b for a, b in pairs)

    def __str__(self) -> str:
        return "increasing" if self.strict else "in increasing order (equal values allowed)"

    def violations(self) -> list[Any]:
        return [[0.9, 0.1]]


@dataclass(frozen=True)
class Exists(Constraint):
    """A path on disk: ``kind`` ``"file"``, ``"dir"`` or ``"any"`` (relative to the working folder)."""

    kind: str = "any"

    def holds(self, value: Any) -> bool:
        path = Path(str(value)).expanduser()
        return {"file": path.is_file, "dir": path.is_dir}.get(self.kind, path.exists)()

    def hint(self, value: Any) -> str:
        return f" (looked at {Path(str(value)).expanduser().resolve()})"

    def __str__(self) -> str:
        return {"file": "an existing file", "dir": "an existing folder"}.get(self.kind, "an existing path")


@dataclass(frozen=True)
class Registered(Constraint):
    """A name ``registry`` knows (a :class:`~robustlab.common.registry.Registry`), looked up when
    the value is checked, so that entries registered since (plugins) count."""

    registry: Any

    def holds(self, value: Any) -> bool:
        return isinstance(value, str) and value in self.registry

    def hint(self, value: Any) -> str:
        close = difflib.get_close_matches(str(value), self.registry.list(), n=3)
        return f" (did you mean {', '.join(close)}?)" if close else ""

    def __str__(self) -> str:
        return f"a registered {self.registry.kind} ({', '.join(self.registry.list()) or 'none'})"

    def violations(self) -> list[Any]:
        return ["not-a-registered-name"]


def admits_infinity(constraints: Iterable[Any], value: Any) -> bool:
    """Whether an infinite ``value`` is declared acceptable (an :class:`Interval` that holds it)."""
    return _number(value) and math.isinf(value) and any(
        isinstance(c, (Interval, AnyOf)) and c.holds(value) for c in constraints)


#: The usual ranges, named as pydantic names them.
PositiveInt = Annotated[int, Interval(1, None)]
NonNegativeInt = Annotated[int, Interval(0, None)]
PositiveFloat = Annotated[float, Interval(0, None, closed="neither")]
NonNegativeFloat = Annotated[float, Interval(0, None)]
