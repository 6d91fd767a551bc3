"""One name -> object registry for every extension point of robustlab (after timm's).

Pruning methods, attribution and discovery methods, distortions, evaluation suites, radiomics
statistics and reconstruction filters are each a :class:`Registry`. An entry is an object and
its metadata (a suite's metric directions, a statistic's accepted number of raters); an unknown
name gets the same error everywhere (:class:`~robustlab.common.errors.UnknownNameError`, a
``KeyError`` and a ``ValueError``: what was asked for, the close matches and every known
name), and a name is registered once unless ``override=True``.

Entries come from three places:

1. the modules that define them (importing a module registers its entries; a registry can
   name the built-in modules it imports on first use);
2. installed distributions, through the registry's entry-point group (e.g.
   ``robustlab.pruning_methods``): each entry point names a module (importing it registers its
   entries) or an object (registered under the entry point's name);
3. the ``plugins: [my_module, ...]`` key of an app's config: :func:`load_plugins` imports those
   modules before the run.

Example:
    >>> shapes = Registry[str]("shape")
    >>> @shapes.register("circle", corners=0)
    ... def circle() -> str:
    ...     return "o"
    >>> shapes.get("circle")()
    'o'
    >>> shapes.metadata("circle")
    {'corners': 0}
    >>> try:
    ...     shapes.get("circel")
    ... except KeyError as err:      # also a ValueError
    ...     print(err)
    unknown shape 'circel'; did you mean circle? (known: circle)
"""

from __future__ import annotations

import builtins
import contextlib
import difflib
import fnmatch
import importlib
import importlib.metadata
import logging
import types
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, overload

from robustlab.common.errors import RobustlabError, UnknownNameError

T = TypeVar("T")
log = logging.getLogger(__name__)


class DuplicateNameError(RobustlabError, ValueError):
    """A second entry under a name already registered (pass ``override=True`` to replace it)."""


class PluginError(RobustlabError, ImportError):
    """A plugin module (config key ``plugins`` or an entry point) could not be imported."""


def unknown_name_message(kind: str, name: str, known: Iterable[str]) -> str:
    """``unknown <kind> '<name>'; did you mean ...? (known: ...)``.

    Example:
        >>> unknown_name_message("pruning method", "snp", ["snip", "random"])
        "unknown pruning method 'snp'; did you mean snip? (known: random, snip)"
    """
    known = sorted(known)
    close = difflib.get_close_matches(str(name), known, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"unknown {kind} {name!r}{hint} (known: {', '.join(known) or 'none'})"


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered object.

    Attributes:
        name: the name configs use.
        obj: the registered object (a function, a class, a description).
        metadata: what the registry's users need to know about it without calling it.
    """

    name: str
    obj: T
    metadata: Mapping[str, Any] = field(default_factory=dict)


class Registry(Generic[T]):
    """Name -> object, with metadata per entry and plugins.

    Args:
        kind: what the entries are, for messages (``"pruning method"``).
        group: the entry-point group whose entry points are loaded on first use
            (``"robustlab.pruning_methods"``); None: no entry points.
        builtins: modules imported on first use, which register the built-in entries
            (for entries defined outside the registry's own module).
    """

    def __init__(self, kind: str, *, group: str | None = None, builtins: Sequence[str] = ()) -> None:
        self.kind = kind
        self.group = group
        self.builtins = tuple(builtins)
        self._entries: dict[str, Entry[T]] = {}
        self._loaded = False

    # -- registering ---------------------------------------------------------------------------

    @overload
    def register(self, name: str, obj: None = None, *, override: bool = False,
                 **metadata: Any) -> Callable[[T], T]: ...

    @overload
    def register(self, name: str, obj: T, *, override: bool = False, **metadata: Any) -> T: ...

    def register(self, name: str, obj: T | None = None, *, override: bool = False,
                 **metadata: Any) -> T | Callable[[T], T]:
        """Register ``obj`` under ``name``; without ``obj``, a decorator that registers.

        Raises:
            DuplicateNameError: ``name`` is taken and ``override`` is False.
        """
        if obj is None:
            def decorate(target: T) -> T:
                self.add(name, target, override=override, **metadata)
                return target

            return decorate
        self.add(name, obj, override=override, **metadata)
        return obj

    def add(self, name: str, obj: T, *, override: bool = False, **metadata: Any) -> Entry[T]:
        """Register ``obj`` under ``name`` and return its entry (see :meth:`register`)."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind} needs a non-empty string name; got {name!r}")
        if name in self._entries and not override:
            raise DuplicateNameError(f"a {self.kind} named {name!r} is already registered "
                                     "(register with override=True to replace it)")
        entry = Entry(name, obj, types.MappingProxyType(dict(metadata)))
        self._entries[name] = entry
        return entry

    def remove(self, name: str) -> None:
        """Forget the entry ``name`` (an :class:`UnknownNameError` when there is none)."""
        self.entry(name)
        del self._entries[name]

    # -- looking up ----------------------------------------------------------------------------

    def entry(self, name: str) -> Entry[T]:
        """The entry ``name``; :class:`UnknownNameError` naming the close matches otherwise."""
        self.load()
        if name not in self._entries:
            raise UnknownNameError(unknown_name_message(self.kind, name, self._entries))
        return self._entries[name]

    def get(self, name: str) -> T:
        """The object registered as ``name`` (:class:`UnknownNameError` when unknown)."""
        return self.entry(name).obj

    def metadata(self, name: str) -> dict[str, Any]:
        """The metadata of ``name`` (a copy)."""
        return dict(self.entry(name).metadata)

    def list(self, pattern: str = "*", **where: Any) -> builtins.list[str]:
        """Sorted names matching the glob ``pattern`` whose metadata satisfy ``where``.

        A ``where`` value matches a metadata value that equals it or, for a tuple/list/set
        metadata value, contains it: ``list(archs="vit")``.
        """
        self.load()
        return sorted(name for name, entry in self._entries.items()
                      if fnmatch.fnmatchcase(name, pattern) and _matches(entry.metadata, where))

    def entries(self) -> builtins.list[Entry[T]]:
        """Every entry, in the order registered (built-in modules first, in their order)."""
        self.load()
        return builtins.list(self._entries.values())

    def __contains__(self, name: object) -> bool:
        self.load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.list())

    def __len__(self) -> int:
        self.load()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._entries)} entries)"

    # -- plugins and tests ---------------------------------------------------------------------

    def load(self) -> None:
        """Import the built-in modules and the entry points of the group (once)."""
        if self._loaded:
            return
        self._loaded = True  # set first: a loaded module may look entries up
        for module in self.builtins:
            importlib.import_module(module)
        if self.group is not None:
            for point in importlib.metadata.entry_points(group=self.group):
                self._load_entry_point(point)

    def _load_entry_point(self, point: importlib.metadata.EntryPoint) -> None:
        try:
            obj = point.load()
        except Exception as exc:
            raise PluginError(f"entry point {point.name!r} = {point.value!r} of group "
                              f"{self.group!r} failed to load: {type(exc).__name__}: {exc}") from exc
        if not isinstance(obj, types.ModuleType) and point.name not in self._entries:
            self.add(point.name, obj)

    @contextlib.contextmanager
    def scoped(self) -> Iterator[Registry[T]]:
        """Changes made inside the block (registrations, removals) are undone at its end.

        Example:
            >>> shapes = Registry[str]("shape")
            >>> with shapes.scoped():
            ...     _ = shapes.register("square", "[]")
            ...     "square" in shapes
            True
            >>> "square" in shapes
            False
        """
        self.load()
        saved = dict(self._entries)
        try:
            yield self
        finally:
            self._entries.clear()
            self._entries.update(saved)

    @contextlib.contextmanager
    def override(self, name: str, obj: T, **metadata: Any) -> Iterator[T]:
        """Within the block, ``name`` is ``obj`` (replacing any entry of that name)."""
        with self.scoped():
            self.add(name, obj, override=True, **metadata)
            yield obj


def _matches(metadata: Mapping[str, Any], where: Mapping[str, Any]) -> bool:
    for key, want in where.items():
        have = metadata.get(key)
        if isinstance(have, (tuple, list, set, frozenset)):
            if want not in have:
                return False
        elif have != want:
            return False
    return True


def load_plugins(modules: Iterable[str] | None) -> list[str]:
    """Import the plugin modules named in a config (``plugins: [my_pkg.methods, ...]``).

    Importing a module registers what it defines (its ``@register_*`` decorators run).

    Returns:
        The imported module names.

    Raises:
        PluginError: a module cannot be imported; the message names it.
    """
    names = [] if modules is None else ([modules] if isinstance(modules, str) else list(modules))
    for name in names:
        try:
            importlib.import_module(str(name))
        except ImportError as exc:
            raise PluginError(f"config key 'plugins': module {name!r} cannot be imported "
                              f"({type(exc).__name__}: {exc}); is its folder on PYTHONPATH?") from exc
        log.info("plugin module %s imported", name)
    return [str(n) for n in names]
