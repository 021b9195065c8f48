"""The field checks every config dataclass uses: a failed one is one ConfigError line,
``field: got VALUE; allowed: ...``. Shared by config/ and data/ (whose data-set dataclasses
validate themselves), so it sits beside errors.py below both."""

from __future__ import annotations

from typing import Any

from dlexp.errors import ConfigError


def check(ok: bool, name: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError(name, value, allowed)


def positive_int(name: str, value: int) -> None:
    check(value >= 1, name, value, "an integer >= 1")


def fraction(name: str, value: float, *, open_low: bool = True) -> None:
    low_ok = value > 0 if open_low else value >= 0
    check(low_ok and value < 1, name, value, "a number in (0, 1)" if open_low else "a number in [0, 1)")
