"""The one registry: registering, lookups and their errors, metadata, scopes and plugins."""

from __future__ import annotations

import sys
import textwrap

import pytest

from robustlab.common.registry import (
    DuplicateNameError,
    PluginError,
    Registry,
    UnknownNameError,
    load_plugins,
)


def make() -> Registry[object]:
    shapes: Registry[object] = Registry("shape")

    @shapes.register("circle", corners=0, tags=("round",))
    def circle() -> str:
        return "o"

    shapes.register("square", "[]", corners=4, tags=("flat", "regular"))
    return shapes


def test_register_by_decorator_and_by_call_and_look_up():
    shapes = make()
    assert shapes.get("circle")() == "o" and shapes.get("square") == "[]"
    assert shapes.metadata("square") == {"corners": 4, "tags": ("flat", "regular")}
    assert shapes.list() == ["circle", "square"] == list(shapes)
    assert shapes.list("sq*") == ["square"]
    assert shapes.list(tags="flat") == ["square"] and shapes.list(corners=0) == ["circle"]
    assert "circle" in shapes and "triangle" not in shapes and len(shapes) == 2


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
        shapes.register("square", "[ ]")
    assert shapes.get("square") == "[]"
    shapes.register("square", "[ ]", override=True, corners=4)
    assert shapes.get("square") == "[ ]"
    with pytest.raises(ValueError, match="non-empty string name"):
        shapes.register("", "x")


def test_scoped_changes_and_overrides_are_undone():
    shapes = make()
    with shapes.scoped():
        shapes.register("triangle", "/\\", corners=3)
        shapes.remove("circle")
        assert shapes.list() == ["square", "triangle"]
    assert shapes.list() == ["circle", "square"]
    with shapes.override("square", "#", corners=4):
        assert shapes.get("square") == "#"
    assert shapes.get("square") == "[]"


def test_builtin_modules_and_entry_points_load_on_first_use(tmp_path, monkeypatch):
    (tmp_path / "shape_plugin_mod.py").write_text(textwrap.dedent("""
        from shape_registry_mod import SHAPES
        SHAPES.register("star", "*", corners=10)
        def hexagon():
            return "<>"
    """))
    (tmp_path / "shape_registry_mod.py").write_text(textwrap.dedent("""
        from robustlab.common.registry import Registry
        SHAPES = Registry("shape", group="robustlab_test.shapes", builtins=("shape_builtin_mod",))
    """))
    (tmp_path / "shape_builtin_mod.py").write_text(
        "from shape_registry_mod import SHAPES\nSHAPES.register('dot', '.')\n")
    info = tmp_path / "shape_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: shape-plugin\nVersion: 0.1\n")
    # one entry point names a module (it registers on import), one an object (registered by name)
    (info / "entry_points.txt").write_text(
        "[robustlab_test.shapes]\nstars = shape_plugin_mod\nhexagon = shape_plugin_mod:hexagon\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for mod in ("shape_registry_mod", "shape_plugin_mod", "shape_builtin_mod"):
        monkeypatch.delitem(sys.modules, mod, raising=False)
    from shape_registry_mod import SHAPES

    assert SHAPES.list() == ["dot", "hexagon", "star"]
    assert SHAPES.get("hexagon")() == "<>" and SHAPES.metadata("star") == {"corners": 10}


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
