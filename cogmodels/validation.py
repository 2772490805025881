"""Argument checks shared by every part of the package.

Each check returns the value in its canonical Python type or raises ``ValueError`` (``TypeError``
where the value is of a kind that can never be right) with one message that names the argument,
the allowed values and the value received, so a user's mistake is refused where it is made and
never reaches a result. Use these instead of writing a local ``_check_int``.

Notes
-----
Seeds: every ``seed`` argument accepts :data:`SeedLike` (``None``, an int >= 0, a
``SeedSequence`` or a ``Generator``), checked by :func:`check_seed`; :func:`seed_sequence` gives the
root to spawn child seeds from, :func:`as_generator` the generator to draw from and :func:`int_seed`
one integer seed (for ``env.reset(seed=...)`` or ``torch.manual_seed``), the one way the package
does each.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from cogmodels.exceptions import NotFittedError

__all__ = [
    "check_array",
    "check_bool",
    "check_choice",
    "check_int",
    "check_is_fitted",
    "check_int_pair",
    "check_ints",
    "check_interval",
    "check_number",
    "check_probability",
    "as_generator",
    "check_seed",
    "describe",
    "int_seed",
    "seed_sequence",
    "SeedLike",
]


def describe(value: Any) -> str:
    """Return a short ``repr`` of a value received, for an error message (one line, <= 80 chars)."""
    text = " ".join(repr(value).split()) if isinstance(value, np.ndarray) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


_describe = describe


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


def check_ints(name: str, value: Any, minimum: int, maximum: int) -> tuple[int, ...]:
    """Return ``value`` as a tuple of ints in ``[minimum, maximum]`` (any iterable but a string).

    Raises
    ------
    ValueError
        Naming ``name``, the range and the value received.
    """
    try:
        if isinstance(value, str | bytes):
            raise TypeError
        return tuple(check_int(name, v, minimum, maximum) for v in value)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be a sequence of integers in [{minimum}, {maximum}], got {_describe(value)}"
        ) from None


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
    """Return the member of ``allowed`` that ``value`` equals, else raise listing the allowed values.

    Only a value of the same kind matches (a string for a string, a number but not a bool for a
    number), so an array or a list never passes for one of its elements.
    """
    for choice in allowed:
        if _same_kind(value, choice) and value == choice:
            return choice
    raise ValueError(f"{name} must be one of {list(allowed)}, got {_describe(value)}")


def _same_kind(value: Any, choice: Any) -> bool:
    if isinstance(choice, str):
        return isinstance(value, str)
    if isinstance(choice, numbers.Number) and not isinstance(choice, bool):
        return isinstance(value, numbers.Number) and not isinstance(value, bool | np.bool_)
    return type(value) is type(choice)


def real_array(value: Any) -> np.ndarray | None:
    """``value`` as a numpy array if it holds only real numbers (integers or floats), else ``None``.

    Strings, bytes, booleans (also inside a list), complex numbers, ``None``, ragged sequences and
    other objects give ``None``: ``np.asarray`` would turn ``"1"`` into a float or ``[True, 2]``
    into ``[1, 2]``.
    """
    if isinstance(value, str | bytes) or (isinstance(value, list | tuple) and _holds_bool(value)):
        return None
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError, OverflowError):  # ragged or unconvertible
        return None
    return arr if arr.dtype.kind in "iuf" else None


def _holds_bool(value: Any) -> bool:
    if isinstance(value, bool | np.bool_):
        return True
    if isinstance(value, list | tuple):
        return any(_holds_bool(v) for v in value)
    return isinstance(value, np.ndarray) and value.dtype.kind == "b"


def check_array(
    name: str,
    value: Any,
    shape: tuple[int, ...] | None = None,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    finite: bool = True,
) -> np.ndarray:
    """Return ``value`` as a float64 array of real numbers in ``[low, high]`` (of ``shape`` if given).

    ``finite`` (default) refuses ±inf; NaN, strings, bytes, booleans, complex numbers, ``None`` and
    ragged sequences are always refused.

    Raises
    ------
    ValueError
        Naming ``name``, the shape and interval allowed and the value received.
    """
    arr = real_array(value)
    ok = arr is not None and (shape is None or arr.shape == tuple(shape))
    if ok:
        arr = arr.astype(np.float64)
        with np.errstate(invalid="ignore"):
            good = (arr >= low) & (arr <= high)  # False for NaN
        ok = bool(good.all()) and (not finite or bool(np.isfinite(arr).all()))
    if not ok:
        what = "an array" if shape is None else f"an array of shape {tuple(shape)}"
        raise ValueError(
            f"{name} must be {what} of {'finite ' if finite else ''}numbers in "
            f"[{low:g}, {high:g}], got {describe(value)}"
        )
    return arr


def check_interval(
    name: str,
    value: Any,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    scalar: bool = False,
    low_open: bool = False,
) -> tuple[float, float]:
    """Return a pair ``(a, b)`` of finite floats with ``low <= a <= b <= high``.

    With ``scalar`` a single number ``x`` is also accepted, as ``(x, x)``; ``low_open`` asks for
    ``low < a``.

    Raises
    ------
    ValueError
        Naming ``name``, the bounds and the value received.
    """
    one = scalar and isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)
    arr = real_array([value, value] if one else value)
    if arr is not None and arr.shape == (2,):
        a, b = float(arr[0]), float(arr[1])
        above = low < a if low_open else low <= a
        if math.isfinite(a) and math.isfinite(b) and above and a <= b <= high:
            return a, b
    what = "a number or a pair" if scalar else "a pair"
    raise ValueError(
        f"{name} must be {what} (low, high) of finite numbers with {low:g} "
        f"{'<' if low_open else '<='} low <= high <= {high:g}, got {describe(value)}"
    )


def check_int_pair(
    name: str,
    value: Any,
    minimum: int,
    maximum: int,
    *,
    scalar: bool = False,
    labels: tuple[str, str] = ("low", "high"),
) -> tuple[int, int]:
    """Return a pair ``(a, b)`` of ints with ``minimum <= a <= b <= maximum``.

    With ``scalar`` a single integer ``k`` is also accepted, as ``(k, k)``. ``labels`` name the two
    members in the message (e.g. ``("k", "n")``).

    Raises
    ------
    ValueError
        Naming ``name``, the bounds and the value received.
    """
    lo, hi = labels
    what = (
        f"{'an integer or ' if scalar else ''}a pair ({lo}, {hi}) of integers with "
        f"{minimum} <= {lo} <= {hi} <= {maximum}"
    )
    one = scalar and isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)
    try:
        a, b = (value, value) if one else value
        a, b = check_int(name, a, minimum, maximum), check_int(name, b, minimum, maximum)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {what}, got {describe(value)}") from None
    if a > b:
        raise ValueError(f"{name} must be {what}, got {describe(value)}")
    return a, b


def check_is_fitted(obj: Any, attribute: str, how: str = "fit(trials)") -> None:
    """Raise :class:`~cogmodels.exceptions.NotFittedError` unless ``obj`` has ``attribute``.

    The one "not fitted yet" check of the package (estimators, fitted networks, decoders).

    Parameters
    ----------
    obj : object
        The estimator, network or decoder.
    attribute : str
        A fitted attribute that ``fit`` sets (name ending in ``_``, scikit-learn's convention).
    how : str, default "fit(trials)"
        The call that fits ``obj``, for the message.

    Raises
    ------
    NotFittedError
        ``this <name> is not fitted yet: call <how> first``.
    """
    if not hasattr(obj, attribute):
        name = getattr(obj, "name", None)
        name = name if isinstance(name, str) else type(obj).__name__
        raise NotFittedError(f"this {name} is not fitted yet: call {how} first")


# -- seeds -----------------------------------------------------------------------------------------
SeedLike = int | np.random.SeedSequence | np.random.Generator | None
"""What every ``seed`` argument of the package accepts (see the glossary in the developer docs)."""


def check_seed(name: str, value: Any) -> SeedLike:
    """Return ``value`` if it is a valid seed: ``None``, an int >= 0, a ``SeedSequence`` or a ``Generator``.

    Raises
    ------
    ValueError
        Naming ``name``, the seed types allowed and the value received.
    """
    if value is None or isinstance(value, np.random.SeedSequence | np.random.Generator):
        return value
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise ValueError(
            f"{name} must be None, an integer >= 0, a numpy SeedSequence or a numpy Generator, "
            f"got {_describe(value)}"
        )
    return check_int(name, value, minimum=0)


def seed_sequence(seed: Any, name: str = "seed") -> np.random.SeedSequence:
    """Return the ``SeedSequence`` of a seed, the root from which parallel work spawns child seeds.

    Parameters
    ----------
    seed : int, SeedSequence, Generator or None
        An int >= 0 or ``None`` gives ``SeedSequence(seed)`` (so ``default_rng(seed_sequence(s))``
        draws what ``default_rng(s)`` draws); a ``SeedSequence`` is returned as it is; a
        ``Generator`` gives ``SeedSequence(g.integers(2**63))`` (one draw from it).
    name : str, default "seed"
        The argument's name, for the error message.

    Returns
    -------
    seed_sequence : numpy.random.SeedSequence
    """
    seed = check_seed(name, seed)
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator):
        return np.random.SeedSequence(int(seed.integers(2**63)))
    return np.random.SeedSequence(seed)


def as_generator(seed: Any, name: str = "seed") -> np.random.Generator:
    """Return a ``numpy.random.Generator`` for a seed; a ``Generator`` passed in is used as it is.

    Parameters
    ----------
    seed : int, SeedSequence, Generator or None
        As ``numpy.random.default_rng`` takes it, after :func:`check_seed`.
    name : str, default "seed"
        The argument's name, for the error message.

    Returns
    -------
    rng : numpy.random.Generator
    """
    return np.random.default_rng(check_seed(name, seed))


def int_seed(seed: Any, name: str = "seed") -> int:
    """One 32-bit integer seed from a seed, for ``env.reset(seed=...)`` or ``torch.manual_seed``.

    It is ``int(seed_sequence(seed).generate_state(1)[0])``: the one way the package turns a seed
    (an int, a ``SeedSequence`` such as a spawned child, a ``Generator`` or ``None``) into an int.

    Parameters
    ----------
    seed : int, SeedSequence, Generator or None
        See :func:`seed_sequence`.
    name : str, default "seed"
        The argument's name, for the error message.

    Returns
    -------
    seed : int
        In ``[0, 2**32)``.
    """
    return int(seed_sequence(seed, name).generate_state(1)[0])
