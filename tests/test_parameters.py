"""Parameter specs: transforms round-trip, Jacobians match finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from cogmodels.parameters import ParamSpec, pack, unpack

SPECS = [
    ParamSpec("a", 0.0, 1.0, 0.5),
    ParamSpec("b", 0.0, np.inf, 1.0),
    ParamSpec("c", -np.inf, 2.0, 0.0),
    ParamSpec("d", -np.inf, np.inf, 0.0),
    ParamSpec("e", -5.0, 5.0, 0.0),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.kind)
@given(u=st.floats(0.001, 0.999))
@settings(max_examples=50, deadline=None)
def test_round_trip(spec, u):
    lo = spec.low if np.isfinite(spec.low) else -50.0
    hi = spec.high if np.isfinite(spec.high) else 50.0
    x = lo + u * (hi - lo)
    z = spec.to_unconstrained(x)
    assert np.isfinite(z)
    np.testing.assert_allclose(spec.from_unconstrained(z), x, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.kind)
def test_log_jacobian_matches_finite_difference(spec):
    z = np.linspace(-3, 3, 13)
    h = 1e-6
    fd = (spec.from_unconstrained(z + h) - spec.from_unconstrained(z - h)) / (2 * h)
    np.testing.assert_allclose(np.exp(spec.log_jacobian(z)), np.abs(fd), rtol=1e-6)


def test_kinds_follow_bounds():
    assert [s.kind for s in SPECS] == ["logit", "log", "neglog", "identity", "logit"]


def test_bounds_map_to_infinity_and_back():
    s = SPECS[0]
    assert s.to_unconstrained(0.0) == -np.inf and s.to_unconstrained(1.0) == np.inf
    assert s.from_unconstrained(-np.inf) == 0.0 and s.from_unconstrained(np.inf) == 1.0


def test_pack_unpack():
    params = {"a": [0.2, 0.7], "b": 3.0, "c": 1.0, "d": -4.0, "e": [1.0, -1.0]}
    z = pack(SPECS, params)
    assert z.shape == (2, 5)
    back = unpack(SPECS, z)
    np.testing.assert_allclose(back["a"], [0.2, 0.7])
    np.testing.assert_allclose(back["b"], [3.0, 3.0])


def test_on_bound_and_prior():
    s = ParamSpec("beta", 0.0, 20.0, 3.0, prior=stats.gamma(2, scale=2))
    np.testing.assert_array_equal(s.on_bound([0.0, 10.0, 19.999]), [True, False, True])
    np.testing.assert_allclose(s.log_prior(2.0), stats.gamma(2, scale=2).logpdf(2.0))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"name": "x", "low": 1.0, "high": 0.0, "default": 0.5}, "need low < high"),
        ({"name": "x", "low": 0.0, "high": 1.0, "default": 2.0}, "default 2.0 outside"),
    ],
)
def test_bad_specs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ParamSpec(**kwargs)
