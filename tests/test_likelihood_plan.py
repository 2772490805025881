"""The likelihood's data layout is built once per (data, lanes) and reused: same bits, no rebuild.

A sampler or optimiser scores the same lanes thousands of times; :func:`_lane_plan` keeps the
gathered choices, masks and rewards on the :class:`TrialArrays` so that only the model's trial
loop runs on each call. Also the two-option fast paths of :func:`pick` and :func:`softmax`.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from cogmodels.likelihood import _PLANS_KEPT, _lane_plan, log_likelihood, trial_arrays
from cogmodels.model import pick, softmax
from cogmodels.models import make_model
from cogmodels.simulate import simulate


@pytest.fixture(scope="module")
def data():
    model = make_model("q_learning")
    params = {"alpha": np.array([0.2, 0.5, 0.3]), "beta": np.array([3.0, 5.0, 2.0]),
              "kappa": np.array([0.1, -0.4, 0.0])}
    sim = simulate(model, params, "cogmodels/ReversalLearning-v0", n_subjects=3, seed=3,
                   env_kwargs={"n_trials": 60}, latents=False, progress=False)
    table = sim.trials.copy()
    table.loc[table.index[::7], "choice"] = np.nan  # missing responses take the masked path
    return model, params, table


def test_second_call_reuses_the_plan_and_gives_the_same_bits(data):
    model, params, table = data
    arrays = trial_arrays(table, model)
    lanes = np.tile(np.arange(3), 4)
    lane_params = {k: np.tile(v, 4) for k, v in params.items()}
    first = log_likelihood(model, lane_params, arrays, lanes)
    plan = _lane_plan(arrays, lanes, model)
    second = log_likelihood(model, lane_params, arrays, lanes.copy())  # equal lanes, another array
    assert _lane_plan(arrays, lanes, model) is plan
    fresh = log_likelihood(model, lane_params, trial_arrays(table, model), lanes)  # an empty cache
    assert first.tobytes() == second.tobytes() == fresh.tobytes()
    assert np.isfinite(first).all() and (first < 0).all()


def test_the_cache_is_bounded_and_its_arrays_are_read_only(data):
    model, params, table = data
    arrays = trial_arrays(table, model)
    for n in range(1, _PLANS_KEPT + 3):
        log_likelihood(model, {k: v[0] for k, v in params.items()}, arrays, np.zeros(n, dtype=int))
    assert 1 <= len(arrays._plans) <= _PLANS_KEPT  # a full cache is emptied before the next layout
    plan = _lane_plan(arrays, np.arange(3), model)
    for a in (plan.safe, plan.valid, plan.reward):
        with pytest.raises(ValueError, match="read-only"):
            a[...] = 0


def test_torch_path_on_a_cached_plan_does_not_warn_and_matches_numpy(data):
    torch = pytest.importorskip("torch")
    model, params, table = data
    arrays = trial_arrays(table, model)
    ref = log_likelihood(model, params, arrays)  # fills the cache with read-only arrays
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns when it wraps a non-writable numpy array
        got = log_likelihood(model, {k: torch.tensor(v) for k, v in params.items()}, arrays)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-12)


def test_two_option_pick_selects_the_same_bits_as_the_index_path():
    rng = np.random.default_rng(0)
    values_f = np.asfortranarray(rng.random((50, 2)))
    action = rng.integers(0, 2, 50)
    expected = np.array([values_f[i, a] for i, a in enumerate(action)])
    for values in (values_f, np.ascontiguousarray(values_f)):
        assert pick(values, action).tobytes() == expected.tobytes()
    three = rng.random((50, 3))
    a3 = rng.integers(0, 3, 50)
    assert pick(three, a3).tobytes() == three[np.arange(50), a3].tobytes()


def test_two_option_softmax_clips_extreme_logits_and_keeps_nan():
    logits = np.asfortranarray(np.array([[0.0, 1e6], [0.0, -1e6], [0.0, np.nan], [0.3, 0.1]]))
    p = softmax(logits)
    assert p[0, 1] == 1.0 and p[1, 0] == 1.0 and 0.0 < p[1, 1] < 1e-300
    assert np.isnan(p[2]).all()
    np.testing.assert_allclose(p[3], np.exp([0.3, 0.1]) / np.exp([0.3, 0.1]).sum(), rtol=1e-15)
