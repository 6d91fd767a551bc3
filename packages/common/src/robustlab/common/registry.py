"""One name -> function registry for every extension point of robustlab (after timm's).

Pruning methods, attribution and discovery methods, distortions, evaluation suites, radiomics
statistics and reconstruction filters are each a :class:`Registry`. A registry declares its
entry type once: a frozen dataclass derived from :class:`Entry` whose fields after ``name``
and ``fn`` are the metadata, typed, with defaults, checked in ``__post_init__`` (as timm's
``PretrainedCfg`` describes a model). A registration states the metadata once, beside the
function, as the keywords of one decorator, ``@REGISTRY.register(name, **metadata)``; the
lookup returns the typed entry (callable like its function). Better than timm's: a name is
registered once unless ``override=True``, an unknown name or metadata key gets the same error
everywhere (:class:`~robustlab.common.errors.UnknownNameError`, a ``KeyError`` and a
``ValueError``: what was asked for, the close matches and every known name), and plugins
register from outside the package.

Entries come from three places:

1. the modules that define them (importing a module registers its entries; a registry can
   name the built-in modules it imports on first use);
2. installed distributions, through the registry's entry-point group (e.g.
   ``robustlab.pruning_methods``): each entry point names a module (importing it registers its
   entries) or a function (registered under the entry point's name, with default metadata);
3. the ``plugins: [my_module, ...]`` key of an app's config: :func:`load_plugins` imports those
   modules before the run.

Example:
    >>> @dataclass(frozen=True)
    ... class Shape(Entry[Callable[[], str]]):
    ...     corners: int = 0
    >>> SHAPES = Registry("shape", Shape)
    >>> @SHAPES.register("square", corners=4)
    ... def square() -> str:
    ...     return "[]"
    >>> SHAPES.get("square").corners, SHAPES.get("square")()
    (4, '[]')
    >>> try:
    ...     SHAPES.get("sqare")
    ... except KeyError as err:      # also a ValueError
    ...     print(err)
    unknown shape 'sqare'; did you mean square? (known: square)
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import difflib
import fnmatch
import functools
import importlib
import importlib.metadata
import logging
import types
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from robustlab.common.errors import RobustlabError, UnknownNameError

F = TypeVar("F", bound=Callable[..., Any])
R = TypeVar("R")
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
class Entry(Generic[F]):
    """One registered function; a registry's entry type derives from it with the metadata fields.

    Attributes:
        name: the name configs use.
        fn: the registered function; calling the entry calls it.
    """

    name: str
    fn: F

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    @classmethod
    def metadata_keys(cls) -> builtins.list[str]:
        """The metadata fields of the entry type (every field but ``name`` and ``fn``)."""
        return [f.name for f in dataclasses.fields(cls) if f.init and f.name not in ("name", "fn")]

    @property
    def metadata(self) -> dict[str, Any]:
        """The metadata of this entry, field -> value."""
        return {key: getattr(self, key) for key in self.metadata_keys()}


E = TypeVar("E", bound=Entry[Any])


class Registry(Generic[E]):
    """Name -> typed entry, with plugins.

    Args:
        kind: what the entries are, for messages (``"pruning method"``).
        entry: the entry type (an :class:`Entry` dataclass whose extra fields are the
            metadata); :class:`Entry` itself for a registry without metadata.
        group: the entry-point group whose entry points are loaded on first use
            (``"robustlab.pruning_methods"``); None: no entry points.
        builtins: modules imported on first use, which register the built-in entries
            (for entries defined outside the registry's own module).
    """

    def __init__(self, kind: str, entry: type[E] | None = None, *, group: str | None = None,
                 builtins: Sequence[str] = ()) -> None:
        self.kind = kind
        self.entry_type: type[E] = entry if entry is not None else cast("type[E]", Entry)
        self.group = group
        self.builtins = tuple(builtins)
        self._entries: dict[str, E] = {}
        self._loaded = False

    # -- registering ---------------------------------------------------------------------------

    def register(self, name: str, *, override: bool = False, **metadata: Any) -> Callable[[F], F]:
        """A decorator: register the function it decorates as ``name`` with ``metadata`` (the
        entry type's fields); the function itself is returned unchanged.

        Raises:
            DuplicateNameError: ``name`` is taken and ``override`` is False.
            UnknownNameError: a metadata key that is not a field of the entry type.
        """
        def decorate(fn: F) -> F:
            self.add(name, fn, override=override, **metadata)
            return fn

        return decorate

    def add(self, name: str, fn: Callable[..., Any], *, override: bool = False, **metadata: Any) -> E:
        """Register ``fn`` under ``name`` and return its entry (the call form of :meth:`register`)."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind} needs a non-empty string name; got {name!r}")
        if name in self._entries and not override:
            raise DuplicateNameError(f"a {self.kind} named {name!r} is already registered "
                                     "(register with override=True to replace it)")
        known = self.entry_type.metadata_keys()
        for key in metadata:
            if key not in known:
                raise UnknownNameError(f"{self.kind} {name!r}: "
                                       + unknown_name_message("metadata key", key, known))
        entry = self.entry_type(name=name, fn=fn, **metadata)
        self._entries[name] = entry
        return entry

    def remove(self, name: str) -> None:
        """Forget the entry ``name`` (an :class:`UnknownNameError` when there is none)."""
        self.get(name)
        del self._entries[name]

    # -- looking up ----------------------------------------------------------------------------

    def get(self, name: str) -> E:
        """The entry registered as ``name``; :class:`UnknownNameError` naming the close matches
        otherwise."""
        self.load()
        if name not in self._entries:
            raise UnknownNameError(unknown_name_message(self.kind, name, self._entries))
        return self._entries[name]

    def entry(self, name: str) -> E:
        """Deprecated: :meth:`get` (which returns the entry since entries are typed)."""
        warnings.warn(f"{type(self).__name__}.entry is deprecated; use .get", DeprecationWarning,
                      stacklevel=2)
        return self.get(name)

    def metadata(self, name: str) -> dict[str, Any]:
        """The metadata of ``name``, field -> value."""
        return self.get(name).metadata

    def list(self, pattern: str = "*", **where: Any) -> builtins.list[str]:
        """Sorted names matching the glob ``pattern`` whose metadata satisfy ``where``.

        A ``where`` value matches a metadata value that equals it or, for a tuple/list/set
        metadata value, contains it: ``list(archs="vit")``; a None value matches every entry.
        """
        self.load()
        return sorted(name for name, entry in self._entries.items()
                      if fnmatch.fnmatchcase(name, pattern) and _matches(entry.metadata, where))

    def entries(self) -> builtins.list[E]:
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
    def scoped(self) -> Iterator[Registry[E]]:
        """Changes made inside the block (registrations, removals) are undone at its end.

        Example:
            >>> shapes = Registry("shape")
            >>> with shapes.scoped():
            ...     _ = shapes.add("square", lambda: "[]")
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
    def override(self, name: str, fn: Callable[..., Any], **metadata: Any) -> Iterator[E]:
        """Within the block, ``name`` is ``fn`` with ``metadata`` (replacing any entry of that name)."""
        with self.scoped():
            yield self.add(name, fn, override=True, **metadata)


def _matches(metadata: Mapping[str, Any], where: Mapping[str, Any]) -> bool:
    for key, want in where.items():
        if want is None:
            continue
        have = metadata.get(key)
        if isinstance(have, (tuple, list, set, frozenset)):
            if want not in have:
                return False
        elif have != want:
            return False
    return True


def load_plugins(modules: Iterable[str] | None) -> list[str]:
    """Import the plugin modules named in a config (``plugins: [my_pkg.methods, ...]``).

    Importing a module registers what it defines (its ``@REGISTRY.register`` decorators run).

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


def deprecated_alias(old: str, new: Callable[..., R], use: str) -> Callable[..., R]:
    """``new`` under the name ``old`` it had before; each call warns, in one line, what to use.

    Example:
        >>> get_shape = deprecated_alias("get_shape", str.upper, "SHAPES.get")
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     get_shape("o"), str(caught[0].message)
        ('O', 'get_shape is deprecated; use SHAPES.get')
    """
    @functools.wraps(new)
    def alias(*args: Any, **kwargs: Any) -> R:
        warnings.warn(f"{old} is deprecated; use {use}", DeprecationWarning, stacklevel=2)
        return new(*args, **kwargs)

    alias.__name__ = alias.__qualname__ = old
    return alias
