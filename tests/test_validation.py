"""The shared argument checks: canonical values back, a message naming argument, range and value."""

import math
from fractions import Fraction

import numpy as np
import pytest

from cogmodels.exceptions import NotFittedError
from cogmodels.validation import (
    as_generator,
    check_array,
    check_bool,
    check_choice,
    check_int,
    check_int_pair,
    check_interval,
    check_ints,
    check_is_fitted,
    check_number,
    check_probability,
    check_seed,
    describe,
    int_seed,
    seed_sequence,
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


# -- seeds: one set of accepted types, one way to turn each into what the code needs ------------
@pytest.mark.parametrize("bad", [1.5, "3", True, [1, 2], np.float64(2)])
def test_check_seed_names_every_accepted_type(bad):
    with pytest.raises(ValueError, match=r"^seed must be None, an integer >= 0, a numpy SeedSequence "
                                         r"or a numpy Generator, got "):
        check_seed("seed", bad)


def test_seed_sequence_keeps_the_draws_of_an_int_seed():
    # default_rng(n) seeds PCG64 with SeedSequence(n): going through seed_sequence changes nothing
    a = np.random.default_rng(seed_sequence(7)).random(3)
    np.testing.assert_array_equal(a, np.random.default_rng(7).random(3))
    ss = np.random.SeedSequence(1)
    assert seed_sequence(ss) is ss
    assert seed_sequence(None).entropy != seed_sequence(None).entropy  # fresh OS entropy


def test_a_generator_seed_is_one_draw_from_it():
    g1, g2 = np.random.default_rng(3), np.random.default_rng(3)
    assert seed_sequence(g1).entropy == int(g2.integers(2**63))
    draw = int(np.random.default_rng(3).integers(2**63))
    assert int_seed(np.random.default_rng(3)) == int_seed(np.random.SeedSequence(draw))
    g = np.random.default_rng(0)
    assert as_generator(g) is g  # a Generator passed in is used, as numpy's default_rng does
    with pytest.raises(ValueError, match="rng must be None, an integer >= 0"):
        as_generator(0.5, "rng")


def test_int_seed_is_a_32_bit_integer():
    seeds = [int_seed(s) for s in np.random.SeedSequence(0).spawn(100)]
    assert all(type(s) is int and 0 <= s < 2**32 for s in seeds) and len(set(seeds)) == 100


# -- not fitted: one exception class, caught by the except clauses of every former variant -------
class _Estimator:
    pass


def test_check_is_fitted_raises_the_one_not_fitted_error():
    est = _Estimator()
    with pytest.raises(NotFittedError, match=r"^this _Estimator is not fitted yet: call fit\(trials\) first$"):
        check_is_fitted(est, "params_")
    for former in (ValueError, RuntimeError, AttributeError):
        with pytest.raises(former):
            check_is_fitted(est, "params_", "fit()")
    est.params_ = 1
    assert check_is_fitted(est, "params_") is None
