"""The shared argument checks: canonical values back, a message naming argument, range and value."""

import math
from fractions import Fraction

import numpy as np
import pytest

from cogmodels.validation import (
    check_array,
    check_bool,
    check_choice,
    check_int,
    check_int_pair,
    check_interval,
    check_ints,
    check_number,
    check_probability,
    check_seed,
    describe,
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


def test_check_choice_needs_the_same_kind_and_returns_the_member():
    assert check_choice("mode", np.str_("a"), ("a", "b")) == "a"
    assert type(check_choice("mode", np.str_("a"), ("a", "b"))) is str
    assert check_choice("k", np.int64(2), (1, 2)) == 2
    for bad in (np.array(["a"]), np.array(["a", "b"]), True, b"a"):
        with pytest.raises(ValueError, match=r"^mode must be one of \['a', 'b'\], got "):
            check_choice("mode", bad, ("a", "b"))
    with pytest.raises(ValueError, match=r"k must be one of \[0, 1\], got True"):
        check_choice("k", True, (0, 1))


def test_describe_is_one_short_line():
    assert describe("x" * 100) == repr("x" * 100)[:77] + "..."
    assert "\n" not in describe(np.zeros((3, 3)))


def test_check_array():
    out = check_array("means", [0, 0.5], (2,), 0, 1)
    assert out.dtype == np.float64 and out.tolist() == [0.0, 0.5]
    assert check_array("m", np.ones((2, 2), dtype=np.int32), (2, 2)).dtype == np.float64
    msg = r"^means must be an array of shape \(2,\) of finite numbers in \[0, 1\], got "
    for bad in ("abc", b"ab", ["0.1", "0.2"], [True, False], [True, 0], (0, np.bool_(True)),
                [0.1, math.nan], [0.1, 2.0],
                [1j, 0], None, [[0.1], [0.2, 0.3]], [0.1, None], [0.1, 0.2, 0.3]):
        with pytest.raises(ValueError, match=msg):
            check_array("means", bad, (2,), 0, 1)
    assert check_array("x", [math.inf], finite=False).tolist() == [math.inf]
    with pytest.raises(ValueError, match=r"^x must be an array of finite numbers in \[-inf, inf\]"):
        check_array("x", [math.inf])


def test_check_interval():
    assert check_interval("prior", (0, 1), 0, 1) == (0.0, 1.0)
    assert check_interval("r", 0.5, 0, 1, scalar=True) == (0.5, 0.5)
    msg = r"^prior must be a pair \(low, high\) of finite numbers with 0 <= low <= high <= 1, got "
    for bad in ((0.6, 0.4), (0, 2), (math.nan, 1), 0.5, "ab", (True, True), (0, 1, 1), None):
        with pytest.raises(ValueError, match=msg):
            check_interval("prior", bad, 0, 1)
    with pytest.raises(ValueError, match=r"^b must be a number or a pair \(low, high\) of finite "
                                         r"numbers with 0 < low <= high <= 5, got 0"):
        check_interval("b", 0, 0, 5, scalar=True, low_open=True)
    with pytest.raises(ValueError, match="got inf"):
        check_interval("b", math.inf, scalar=True)


def test_check_int_pair():
    assert check_int_pair("d", (1, 3), 0, 10) == (1, 3)
    assert check_int_pair("d", np.array([1, 3]), 0, 10) == (1, 3)
    assert check_int_pair("d", 2, 0, 10, scalar=True) == (2, 2)
    msg = r"^c must be a pair \(k, n\) of integers with 1 <= k <= n <= 10, got "
    for bad in ((5, 3), (0, 3), (1, 11), (1.0, 2), (True, 2), 3, "ab", None, (1, 2, 3)):
        with pytest.raises(ValueError, match=msg):
            check_int_pair("c", bad, 1, 10, labels=("k", "n"))
    with pytest.raises(ValueError, match=r"^d must be an integer or a pair \(low, high\)"):
        check_int_pair("d", 11, 0, 10, scalar=True)


def test_check_ints():
    assert check_ints("s", [1, np.int64(2)], 0, 5) == (1, 2)
    assert check_ints("s", range(3), 0, 5) == (0, 1, 2)
    for bad in ([1, 6], [1.0], [True], "12", b"12", 3, None, [[1]]):
        with pytest.raises(ValueError, match=r"^s must be a sequence of integers in \[0, 5\], got "):
            check_ints("s", bad, 0, 5)
