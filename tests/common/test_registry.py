"""The one registry: the decorator form, typed metadata stated once, lookups and their errors,
scopes, plugins and the deprecated names of the former wrappers."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from robustlab.common.registry import (
    DuplicateNameError,
    Entry,
    PluginError,
    Registry,
    UnknownNameError,
    deprecated_alias,
    load_plugins,
)


@dataclass(frozen=True)
class Shape(Entry[Callable[[], str]]):
    corners: int = 0
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.corners < 0:
            raise ValueError(f"shape {self.name!r}: corners must be >= 0; got {self.corners}")


def make() -> Registry[Shape]:
    shapes = Registry("shape", Shape)

    @shapes.register("circle", tags=("round",))
    def circle() -> str:
        return "o"

    @shapes.register("square", corners=4, tags=("flat", "regular"))
    def square() -> str:
        return "[]"

    return shapes


def test_the_decorator_registers_a_typed_entry_and_returns_the_function_unchanged():
    shapes = Registry("shape", Shape)

    def triangle() -> str:
        return "/\\"

    assert shapes.register("triangle", corners=3)(triangle) is triangle
    entry = shapes.get("triangle")
    assert isinstance(entry, Shape) and entry.fn is triangle and entry() == "/\\"
    assert (entry.name, entry.corners, entry.tags) == ("triangle", 3, ())


def test_metadata_is_stated_once_and_read_from_the_entry():
    shapes = make()
    # the keywords of the decorator are the entry's fields, defaults filled in, nothing else
    assert shapes.get("square").metadata == {"corners": 4, "tags": ("flat", "regular")}
    assert shapes.metadata("circle") == {"corners": 0, "tags": ("round",)}
    assert shapes.list() == ["circle", "square"] == list(shapes)
    assert shapes.list("sq*") == ["square"]
    assert shapes.list(tags="flat") == ["square"] and shapes.list(corners=0) == ["circle"]
    assert shapes.list(tags=None) == ["circle", "square"]  # None: no filter
    assert "circle" in shapes and "triangle" not in shapes and len(shapes) == 2


def test_metadata_is_checked_by_the_entry_type():
    shapes = make()
    with pytest.raises(UnknownNameError, match=r"^shape 'hexagon': unknown metadata key 'corner'; "
                                               r"did you mean corners\? \(known: corners, tags\)$"):
        shapes.register("hexagon", corner=6)(lambda: "<>")
    with pytest.raises(ValueError, match="shape 'hexagon': corners must be >= 0; got -6"):
        shapes.register("hexagon", corners=-6)(lambda: "<>")
    assert "hexagon" not in shapes
    plain = Registry("filter")  # no entry type: Entry, no metadata
    with pytest.raises(UnknownNameError, match="unknown metadata key 'width'.*known: none"):
        plain.register("box", width=2)(lambda: 1)


def test_unknown_name_is_one_error_that_both_excepts_catch():
    shapes = make()
    for kind in (KeyError, ValueError, UnknownNameError):
        with pytest.raises(kind, match=r"^unknown shape 'circel'; did you mean circle\? \(known: circle, square\)$"):
            shapes.get("circel")
    with pytest.raises(UnknownNameError, match=r"unknown shape 'hexagon' \(known: circle, square\)"):
        shapes.metadata("hexagon")


def test_a_name_is_registered_once_unless_overridden():
    shapes = make()
    with pytest.raises(DuplicateNameError, match="a shape named 'square' is already registered"):
        shapes.register("square", corners=4)(lambda: "[ ]")
    assert shapes.get("square")() == "[]"
    shapes.register("square", override=True, corners=4)(lambda: "[ ]")
    assert shapes.get("square")() == "[ ]"
    with pytest.raises(ValueError, match="non-empty string name"):
        shapes.register("")(lambda: "x")


def test_scoped_changes_and_overrides_are_undone():
    shapes = make()
    with shapes.scoped():
        shapes.register("triangle", corners=3)(lambda: "/\\")
        shapes.remove("circle")
        assert shapes.list() == ["square", "triangle"]
    assert shapes.list() == ["circle", "square"]
    with shapes.override("square", lambda: "#", corners=4) as entry:
        assert shapes.get("square") is entry and entry() == "#"
    assert shapes.get("square")() == "[]"


def test_builtin_modules_and_entry_points_load_on_first_use(tmp_path, monkeypatch):
    (tmp_path / "shape_plugin_mod.py").write_text(textwrap.dedent("""
        from shape_registry_mod import SHAPES

        @SHAPES.register("star", corners=10)
        def star():
            return "*"

        def hexagon():
            return "<>"
    """))
    (tmp_path / "shape_registry_mod.py").write_text(textwrap.dedent("""
        from dataclasses import dataclass
        from robustlab.common.registry import Entry, Registry

        @dataclass(frozen=True)
        class Shape(Entry):
            corners: int = 0

        SHAPES = Registry("shape", Shape, group="robustlab_test.shapes", builtins=("shape_builtin_mod",))
    """))
    (tmp_path / "shape_builtin_mod.py").write_text(
        "from shape_registry_mod import SHAPES\nSHAPES.register('dot')(lambda: '.')\n")
    info = tmp_path / "shape_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: shape-plugin\nVersion: 0.1\n")
    # one entry point names a module (it registers on import), one a function (registered by name)
    (info / "entry_points.txt").write_text(
        "[robustlab_test.shapes]\nstars = shape_plugin_mod\nhexagon = shape_plugin_mod:hexagon\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for mod in ("shape_registry_mod", "shape_plugin_mod", "shape_builtin_mod"):
        monkeypatch.delitem(sys.modules, mod, raising=False)
    from shape_registry_mod import SHAPES

    assert SHAPES.list() == ["dot", "hexagon", "star"]
    assert SHAPES.get("hexagon")() == "<>" and SHAPES.get("hexagon").corners == 0  # defaults
    assert SHAPES.get("star").corners == 10


def test_broken_entry_point_names_itself(tmp_path, monkeypatch):
    info = tmp_path / "broken_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[robustlab_test.broken]\nnope = no_such_module_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError, match="entry point 'nope' = 'no_such_module_xyz' of group 'robustlab_test.broken'"):
        Registry("thing", group="robustlab_test.broken").list()


def test_load_plugins_imports_modules_and_names_a_missing_one(tmp_path, monkeypatch):
    (tmp_path / "plugin_probe_mod.py").write_text("LOADED = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "plugin_probe_mod", raising=False)
    assert load_plugins(["plugin_probe_mod"]) == ["plugin_probe_mod"]
    assert sys.modules["plugin_probe_mod"].LOADED
    assert load_plugins(None) == [] and load_plugins([]) == []
    with pytest.raises(PluginError, match="config key 'plugins': module 'no_such_plugin_xyz' cannot be imported"):
        load_plugins(["no_such_plugin_xyz"])


def test_a_former_wrapper_keeps_working_with_a_one_line_deprecation_warning():
    shapes = make()
    register_shape = deprecated_alias("register_shape", shapes.register, "SHAPES.register")
    with pytest.warns(DeprecationWarning, match=r"^register_shape is deprecated; use SHAPES.register$") as caught:
        register_shape("line", corners=2)(lambda: "-")
    assert shapes.get("line").corners == 2 and register_shape.__name__ == "register_shape"
    assert caught[0].filename == __file__  # the warning points at the caller's line
