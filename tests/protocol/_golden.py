"""Helpers for golden tests: load tests/golden/*.json and compare wire text field by field.

Numbers are compared as their exact text (``json`` with ``parse_float``/``parse_int`` = str),
so ``100`` vs ``100.0`` or ``0.00005`` vs ``5e-05`` is a failure, not an equality.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).resolve().parent.parent / "golden"


class _Num(str):
    """A JSON number kept as its text, distinguishable from a JSON string."""

    def __repr__(self) -> str:
        return f"<num {str.__str__(self)}>"


def lossless(text: str | bytes) -> Any:
    """Parse JSON keeping every number as its exact text."""
    return json.loads(text, parse_float=_Num, parse_int=_Num)


def load_cases(name: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads((GOLDEN / name).read_text("utf-8"))["cases"]
    return cases


def case_ids(cases: list[dict[str, Any]]) -> list[str]:
    return [case["name"] for case in cases]


def assert_same_wire(actual: bytes, expected: str) -> None:
    """Equal JSON, number text included; on a difference name the first differing path."""
    got, want = lossless(actual), lossless(expected)
    _compare(got, want, "$")


def _compare(got: Any, want: Any, path: str) -> None:
    if isinstance(want, list):
        assert isinstance(got, list), f"{path}: expected an array, got {got!r}"
        assert len(got) == len(want), f"{path}: length {len(got)}, expected {len(want)}"
        for index, (g, w) in enumerate(zip(got, want, strict=False)):
            _compare(g, w, f"{path}[{index}]")
        return
    if isinstance(want, dict):
        assert isinstance(got, dict), f"{path}: expected an object, got {got!r}"
        assert list(got) == list(want), f"{path}: keys {list(got)}, expected {list(want)}"
        for key in want:
            _compare(got[key], want[key], f"{path}.{key}")
        return
    assert type(got) is type(want) and got == want, f"{path}: {got!r}, expected {want!r}"
