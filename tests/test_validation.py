"""The shared argument checks: canonical values back, a message naming argument, range and value."""

import math
from fractions import Fraction

import numpy as np
import pytest

from cogmodels.validation import (
    check_bool,
    check_choice,
    check_int,
    check_number,
    check_probability,
    check_seed,
    int_seed,
)


def test_check_int_accepts_integers_and_returns_int():
    assert check_int("n", np.int64(3), minimum=1) == 3
    assert type(check_int("n", np.int32(3))) is int


@pytest.mark.parametrize("bad", [True, 3.0, "3", None, [3], Fraction(3, 1), np.float64(3)])
def test_check_int_refuses_non_integers(bad):
    with pytest.raises(ValueError, match=r"^n must be an integer >= 1, got "):
        check_int("n", bad, minimum=1)


def test_check_int_range_message():
    with pytest.raises(ValueError, match=r"n_trials must be an integer in \[1, 100000\], got 1000000000000"):
        check_int("n_trials", 10**12, minimum=1, maximum=100_000)


def test_check_number_interval_and_finiteness():
    assert check_number("x", 2, 0, 3) == 2.0
    assert check_number("x", math.inf, 0, finite=False) == math.inf
    for bad in (math.inf, -math.inf, math.nan, "1", None, True, 1 + 0j):
        with pytest.raises(ValueError, match=r"^x must be a finite number in \[0, inf\), got "):
            check_number("x", bad, 0)
    with pytest.raises(ValueError, match=r"scale must be a finite number in \(0, inf\), got 0"):
        check_number("scale", 0, 0, low_open=True)


def test_check_probability():
    assert check_probability("p", 1) == 1.0
    with pytest.raises(ValueError, match=r"p must be a finite number in \(0, 1\), got 1"):
        check_probability("p", 1, open_interval=True)


@pytest.mark.parametrize("bad", ["false", "yes", [True], math.nan, 1, 0, None])
def test_check_bool_refuses_everything_but_bools(bad):
    with pytest.raises(ValueError, match=r"^shuffle must be True or False, got "):
        check_bool("shuffle", bad)
    assert check_bool("shuffle", np.bool_(False)) is False


def test_check_choice_lists_allowed_values():
    assert check_choice("mode", "a", ("a", "b")) == "a"
    with pytest.raises(ValueError, match=r"mode must be one of \['a', 'b'\], got 'c'"):
        check_choice("mode", "c", ("a", "b"))
    with pytest.raises(ValueError, match="mode must be one of"):
        check_choice("mode", ["a"], {"a", "b"})


def test_check_seed_and_int_seed():
    ss = np.random.SeedSequence(3)
    assert check_seed("seed", ss) is ss
    assert check_seed("seed", None) is None
    with pytest.raises(ValueError, match="seed must be an integer >= 0, got -1"):
        check_seed("seed", -1)
    assert int_seed(np.random.SeedSequence(5)) == int(np.random.SeedSequence(5).generate_state(1)[0])
    assert int_seed(5) == int_seed(np.random.SeedSequence(5))
