"""The field checks every config dataclass uses: a failed one is one ConfigError line,
``field: got VALUE; allowed: ...``. Shared by config/ and data/ (whose data-set dataclasses
validate themselves), so it sits beside errors.py below both."""

from __future__ import annotations

import math
from typing import Any

from dlexp.errors import ConfigError


def check(ok: bool, name: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError(name, value, allowed)


def positive_int(name: str, value: int) -> None:
    check(value >= 1, name, value, "an integer >= 1")


# A generated data set's values stay within this size: beyond it, the squares training computes
# (losses, batch-norm variances) overflow float32 and the run only diverges.
MAX_DATA_SCALE = 1e6


def data_scale(name: str, value: float, *, low: float = 0.0, open_low: bool = False) -> None:
    """A noise, scale or offset of a generated data set: from ``low`` to MAX_DATA_SCALE."""
    check(not math.isinf(value), name, value, "a finite number")  # inf's message is the one every float field gives
    low_ok = value > low if open_low else value >= low
    check(low_ok and value <= MAX_DATA_SCALE, name, value,
          f"a number {'>' if open_low else '>='} {low:g} and at most {MAX_DATA_SCALE:g}")


def fraction(name: str, value: float, *, open_low: bool = True) -> None:
    low_ok = value > 0 if open_low else value >= 0
    check(low_ok and value < 1, name, value, "a number in (0, 1)" if open_low else "a number in [0, 1)")
