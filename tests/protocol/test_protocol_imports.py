"""The sans-I/O rule (style.md §8.3): the rendering/parsing modules import the standard library,
orjson, ``venue.core`` and each other — never the gateway, views, store, or any I/O library."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PROTOCOL = Path(__file__).resolve().parents[2] / "venue" / "protocol"
MODULES = ["errors", "wire", "serialize", "rest", "orders", "conf"]
ALLOWED_THIRD_PARTY = {"orjson"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_only_core_protocol_stdlib_and_orjson(module: str) -> None:
    for name in _imports(PROTOCOL / f"{module}.py"):
        top = name.split(".")[0]
        if top == "venue":
            assert name.startswith(("venue.core", "venue.protocol")), f"{module} imports {name}"
            assert name not in (
                "venue.protocol.ws",
                "venue.protocol.account_stream",
            ), f"{module} imports {name}"
        else:
            assert (
                top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY or top == "__future__"
            ), f"{module} imports {name}"
