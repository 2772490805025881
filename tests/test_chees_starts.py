"""ChEES's chain starts: redrawn, as Stan's, until the log density is finite (reaction-time models)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("arviz")  # ChEES is NumPy: no Pyro

from cogmodels.fits import HierarchicalNUTS  # noqa: E402
from cogmodels.fits.mle import interior_start  # noqa: E402
from cogmodels.likelihood import trial_arrays  # noqa: E402
from cogmodels.models import make_model  # noqa: E402
from cogmodels.simulate import simulate  # noqa: E402

DDM = make_model("ddm")


@pytest.fixture(scope="module")
def fast_responses():
    """6 DDM subjects x 30 trials with t0 = 0.05 s: every subject answers once in 0.09-0.22 s."""
    rng = np.random.default_rng(5)
    truth = {"v": rng.uniform(-1, 1, 6), "a": rng.uniform(1, 2, 6), "z": 0.5, "t0": np.full(6, 0.05)}
    return simulate(DDM, truth, "cogmodels/MultiArmedBandit-v0", n_subjects=6, seed=1, env_kwargs={"n_trials": 30},
                    latents=False, progress=False).trials


def _uniform_starts(est, data, n, seed):
    size = sum(int(np.prod(shape)) for _, shape in est._log_density_layout(data))
    init = np.random.default_rng(seed).uniform(-2.0, 2.0, (n, size))
    init[:, :DDM.n_params] += [interior_start(s) for s in DDM.param_specs]
    return init


def test_infinite_starts_are_redrawn_and_finite_ones_kept(fast_responses):
    est = HierarchicalNUTS(DDM, sampler="chees", n_chains=8, seed=0)
    data = trial_arrays(fast_responses, DDM)
    init = _uniform_starts(est, data, 8, 0)
    density, _ = est._log_density(data, [0], n_chains=8)
    before, _ = density(init)
    assert (~np.isfinite(before)).sum() >= 2  # a t0 start above some subject's fastest response
    fixed = est._finite_starts(data, init, np.random.default_rng(1))
    after, grad = density(fixed)
    assert np.isfinite(after).all() and np.isfinite(grad).all()
    kept = np.isfinite(before)
    assert np.array_equal(fixed[kept], init[kept]) and not np.array_equal(fixed[~kept], init[~kept])


def test_a_fit_with_bad_uniform_starts_samples(fast_responses):
    fit = HierarchicalNUTS(DDM, sampler="chees", n_chains=4, n_warmup=20, n_draws=10, seed=0)
    with pytest.warns(Warning):  # 30 iterations cannot converge: the diagnostics warn, the fit runs
        fit.fit(fast_responses, progress=False)
    assert np.isfinite(fit.params_.to_numpy()).all()


def test_no_finite_start_raises_naming_the_model(fast_responses):
    table = fast_responses.copy()
    table.loc[table.index[0], "rt"] = 1e-9  # below every t0 a uniform(-2, 2) start can reach
    est = HierarchicalNUTS(DDM, sampler="chees", n_chains=2, seed=0)
    data = trial_arrays(table, DDM)
    with pytest.raises(RuntimeError, match="ddm nuts: 2 of 2 chains found no start with a finite log density in 5"):
        est._finite_starts(data, _uniform_starts(est, data, 2, 0), np.random.default_rng(0), tries=5)


def test_finite_starts_leave_a_seeded_fit_byte_identical(monkeypatch):
    """Where every uniform start is finite (Q-learning), the draws are the bytes of the sampler
    without the redraw (``_finite_starts`` as the identity, the code before it existed)."""
    model = make_model("q_learning")
    rng = np.random.default_rng(3)
    params = {"alpha": rng.uniform(0.2, 0.5, 4), "beta": rng.uniform(2.0, 5.0, 4), "kappa": rng.normal(0.2, 0.2, 4)}
    trials = simulate(model, params, "cogmodels/ReversalLearning-v0", n_subjects=4, seed=4,
                      env_kwargs={"n_trials": 40}, latents=False, progress=False).trials

    def draws():
        fit = HierarchicalNUTS(model, sampler="chees", n_chains=2, n_warmup=20, n_draws=20, seed=0)
        with pytest.warns(Warning):  # 40 iterations: the diagnostics warn
            fit.fit(trials, progress=False)
        return fit.inference_data_.posterior["params"].to_numpy().tobytes()

    now = draws()
    monkeypatch.setattr(HierarchicalNUTS, "_finite_starts", lambda self, data, init, rng: init)
    assert draws() == now
