"""Argument checks shared by every part of the package.

Each check returns the value in its canonical Python type or raises ``ValueError`` (``TypeError``
where the value is of a kind that can never be right) with one message that names the argument,
the allowed values and the value received, so a user's mistake is refused where it is made and
never reaches a result. Use these instead of writing a local ``_check_int``.

Seeds
-----
:func:`int_seed` turns a ``SeedSequence`` into one integer seed (for ``env.reset(seed=...)`` or
``torch.manual_seed``), the one way the package does it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "check_bool",
    "check_choice",
    "check_int",
    "check_number",
    "check_probability",
    "check_seed",
    "int_seed",
]


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_int(name: str, value: Any, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``value`` as an ``int`` in ``[minimum, maximum]``.

    Booleans, floats (even ``3.0``), strings and anything not an integer are refused.

    Raises
    ------
    ValueError
        Naming ``name``, the allowed range and the value received.
    """
    what = _int_range(minimum, maximum)
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be {what}, got {_describe(value)}")
    v = int(value)
    if (minimum is not None and v < minimum) or (maximum is not None and v > maximum):
        raise ValueError(f"{name} must be {what}, got {_describe(value)}")
    return v


def _int_range(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f"an integer in [{minimum}, {maximum}]"
    if minimum is not None:
        return f"an integer >= {minimum}"
    if maximum is not None:
        return f"an integer <= {maximum}"
    return "an integer"


def check_number(
    name: str,
    value: Any,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
    finite: bool = True,
) -> float:
    """Return ``value`` as a ``float`` in the interval ``low .. high``.

    ``low_open`` / ``high_open`` exclude the end points; ``finite`` (default) refuses ±inf even
    when the interval is unbounded. NaN, booleans, strings and non-real numbers are refused.

    Raises
    ------
    ValueError
        Naming ``name``, the allowed interval and the value received.
    """
    lb = "(" if low_open or low == -math.inf else "["
    rb = ")" if high_open or high == math.inf else "]"
    what = f"a {'finite ' if finite else ''}number in {lb}{low:g}, {high:g}{rb}"
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be {what}, got {_describe(value)}")
    v = float(value)
    ok = not math.isnan(v) and (not finite or math.isfinite(v))
    ok = ok and (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    if not ok:
        raise ValueError(f"{name} must be {what}, got {_describe(value)}")
    return v


def check_probability(name: str, value: Any, *, open_interval: bool = False) -> float:
    """Return ``value`` as a ``float`` in [0, 1] (in (0, 1) when ``open_interval``)."""
    return check_number(name, value, 0.0, 1.0, low_open=open_interval, high_open=open_interval)


def check_bool(name: str, value: Any) -> bool:
    """Return ``value`` as a ``bool``; only ``True`` / ``False`` (or numpy's) are accepted.

    Strings such as ``"false"``, numbers, NaN and lists are refused: a truthy ``"false"`` would
    silently switch an option on.
    """
    if isinstance(value, bool | np.bool_):
        return bool(value)
    raise ValueError(f"{name} must be True or False, got {_describe(value)}")


def check_choice(name: str, value: Any, allowed: Sequence[Any]) -> Any:
    """Return ``value`` if it is one of ``allowed``, else raise listing the allowed values."""
    try:
        ok = value in allowed
    except TypeError:  # unhashable value against a set
        ok = False
    if not ok:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {_describe(value)}")
    return value


SeedLike = int | np.random.SeedSequence | np.random.Generator | None


def check_seed(name: str, value: Any) -> SeedLike:
    """Return ``value`` if it is a valid seed: ``None``, an int >= 0, a ``SeedSequence`` or a ``Generator``."""
    if value is None or isinstance(value, np.random.SeedSequence | np.random.Generator):
        return value
    return check_int(name, value, minimum=0)


def int_seed(seed: np.random.SeedSequence | int | None) -> int:
    """One 32-bit integer seed drawn from a ``SeedSequence`` (or built from an int / ``None``)."""
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return int(ss.generate_state(1)[0])
