"""Who may import whom (style.md §8.3), checked by reading every module's imports.

| module   | may import (inside venue)                       |
|----------|-------------------------------------------------|
| core     | core only — and only the standard library       |
| protocol | core, protocol                                  |
| views    | core, views; protocol (wire rendering helpers)  |
| store    | core, store                                     |
| gateway  | core, protocol, views, store, gateway, config   |
| sim, cli | everything; nothing imports them                |

Imports are found with ``ast`` (module level and inside functions alike), so a lazy import
cannot sneak past the rule.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

VENUE = Path(__file__).resolve().parent.parent / "venue"

ALLOWED: dict[str, set[str]] = {
    "core": {"core"},
    "protocol": {"core", "protocol"},
    "views": {"core", "views", "protocol"},
    "store": {"core", "store"},
    "gateway": {"core", "protocol", "views", "store", "gateway", "config"},
    "config": set(),
    "sim": {"core", "protocol", "views", "store", "gateway", "config", "sim"},
    "cli": {"core", "protocol", "views", "store", "gateway", "config", "sim", "cli"},
}
TOP_LEVEL = {"venue", "__init__", "__main__"}  # the package itself: version, entry point


def _layer(path: Path) -> str:
    rel = path.relative_to(VENUE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _module_name(path: Path) -> str:
    rel = path.relative_to(VENUE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of the modules ``path`` imports (relative imports resolved)."""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    return _imports_in(path.read_text("utf-8"), package)


def _imports_in(source: str, package: list[str]) -> set[str]:
    """Absolute names imported by ``source``, a module of ``package`` (for relative imports)."""
    tree = ast.parse(source)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.add(name)
            # ``from venue import cli`` names the module in the alias
            found.update(f"{name}.{alias.name}" for alias in node.names)
    return found


def _venue_layers(names: set[str]) -> set[str]:
    layers = set()
    for name in names:
        parts = name.split(".")
        if parts[0] != "venue" or len(parts) < 2:
            continue
        if (VENUE / parts[1]).is_dir() or (VENUE / f"{parts[1]}.py").exists():
            layers.add(parts[1])
    return layers


MODULES = sorted(p for p in VENUE.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(VENUE)))
def test_module_imports_only_the_layers_below_it(path: Path) -> None:
    layer = _layer(path)
    if layer in TOP_LEVEL:
        return
    assert layer in ALLOWED, f"{layer!r} is a new layer: add it to ALLOWED with its rule"
    used = _venue_layers(_imports(path)) - {layer}
    forbidden = used - ALLOWED[layer]
    assert not forbidden, f"venue/{path.relative_to(VENUE)} ({layer}) imports {sorted(forbidden)}"


@pytest.mark.parametrize(
    "path", [p for p in MODULES if _layer(p) == "core"], ids=lambda p: str(p.relative_to(VENUE))
)
def test_core_uses_only_the_standard_library(path: Path) -> None:
    outside = {
        name.split(".")[0]
        for name in _imports(path)
        if name.split(".")[0] not in sys.stdlib_module_names and name.split(".")[0] != "venue"
    }
    outside.discard("__future__")
    assert not outside, f"venue/{path.relative_to(VENUE)} imports {sorted(outside)}"


def test_the_import_walker_sees_lazy_and_relative_imports() -> None:
    source = "from . import book\n\ndef f():\n    from venue.gateway import app\n    import orjson\n"
    names = _imports_in(source, ["venue", "core"])
    assert {"venue.core.book", "venue.gateway", "venue.gateway.app", "orjson"} <= names
    assert _venue_layers(names) == {"core", "gateway"}
