"""The racing diffusion (Wald race) and the RL racing diffusion model: density, probabilities, sampler."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from cogmodels.likelihood import log_likelihood
from cogmodels.models import make_model, wald
from cogmodels.simulate import simulate

# drifts (N = 2, 3, 4; close, far apart, slow, fast) and thresholds
RACES = [([1.0, 2.0], 1.0), ([2.5, 2.5], 2.0), ([0.2, 0.05], 0.8), ([8.0, 1.0, 3.0], 1.5),
         ([4.0, 4.2, 3.9, 0.5], 3.0), ([15.0, 12.0], 4.0)]


def _joint(t, c, v, b):
    """p(c, t) by the formula, one accumulator at a time (scipy's norm, not log_ndtr)."""
    v = np.asarray(v, dtype=float)

    def dens(s, vi):
        return b / np.sqrt(2 * np.pi * s**3) * np.exp(-(b - vi * s) ** 2 / (2 * s))

    def surv(vi):  # 1 - F by the integral of the density: independent of the closed form tested
        return 1.0 - integrate.quad(dens, 0, t, args=(vi,), epsabs=1e-14, limit=200)[0]

    return dens(t, v[c]) * np.prod([surv(vj) for j, vj in enumerate(v) if j != c])


@pytest.mark.parametrize("v, b", [(1.5, 1.0), (-0.7, 1.2), (0.0, 0.9), (12.0, 3.0), (0.05, 2.0)])
def test_wald_survival_is_one_minus_the_integral_of_the_density(v, b):
    for t in (0.05, 0.3, 1.0, 4.0):
        integral = integrate.quad(lambda s: np.exp(wald.log_density(np.array(s), v, b)), 0, t,
                                  epsabs=1e-14, epsrel=1e-12, limit=200)[0]
        assert float(np.exp(wald.log_survival(np.array(t), v, b))) == pytest.approx(1 - integral, abs=1e-10)
    # P(finish at all) = 1 for v >= 0, e^{2vb} for v < 0 (Wald 1947)
    total = integrate.quad(lambda s: np.exp(wald.log_density(np.array(s), v, b)), 0, np.inf, limit=400)[0]
    assert total == pytest.approx(min(1.0, np.exp(2 * v * b)), abs=1e-7)
    # the log survival stays finite far into the right tail (no cancellation to 0)
    far = wald.log_survival(np.array(200.0), v, b)
    assert np.isfinite(far) and far < 0


@pytest.mark.parametrize("v, b", RACES)
def test_choice_probabilities_equal_adaptive_quadrature_of_the_joint_density(v, b):
    p = wald.choice_probabilities(np.array([v]), np.array([b]))[0]
    v_arr = np.array(v)
    for c in range(len(v)):
        f = lambda t, c=c: float(np.exp(wald.race_log_density(np.array(t), np.array(c), v_arr, np.array(b),  # noqa: E731
                                                               np.array(0.0))))
        ref = integrate.quad(f, 0, np.inf, epsabs=1e-13, epsrel=1e-11, limit=400)[0]
        assert p[c] == pytest.approx(ref, abs=1e-9)
    assert p.sum() == pytest.approx(1.0, abs=1e-14)


def test_race_density_equals_the_product_of_wald_terms():
    v, b = np.array([1.2, 0.6, 2.0]), 1.3
    for c in range(3):
        for t in (0.2, 0.9, 2.5):
            got = float(np.exp(wald.race_log_density(np.array(t + 0.3), np.array(c), v, np.array(b), np.array(0.3))))
            assert got == pytest.approx(_joint(t, c, v, b), rel=1e-8)
    assert wald.race_log_density(np.array(0.2), np.array(0), v, np.array(b), np.array(0.3)) == -np.inf


def _conditional_cdf(c, v, b, t0):
    """The CDF of the RT given choice c, on a grid from the joint density (cumulative Simpson)."""
    grid = np.linspace(1e-6, 30.0, 60_001)
    dens = np.exp(wald.race_log_density(grid, np.full(grid.shape, c), np.broadcast_to(v, (*grid.shape, len(v))),
                                        np.full(grid.shape, b), np.zeros(grid.shape)))
    cum = integrate.cumulative_simpson(dens, x=grid, initial=0.0)
    return lambda x: np.interp(np.asarray(x) - t0, grid, cum / cum[-1])


@pytest.mark.parametrize("v, b", [([1.0, 2.0], 1.0), ([3.0, 1.0, 2.0], 1.6)])
def test_simulated_races_match_the_density(v, b):
    """Choices within 4 SE of P(c); each choice's RTs pass a KS test against the density's CDF."""
    rng = np.random.default_rng(1)
    n, t0 = 10_000, 0.25
    v_arr = np.array(v)
    choice, rt = wald.sample_race(np.tile(v_arr, (n, 1)), np.full(n, b), np.full(n, t0), rng)
    p = wald.choice_probabilities(v_arr[None], np.array([b]))[0]
    for c in range(len(v)):
        share = np.mean(choice == c)
        assert share == pytest.approx(p[c], abs=4 * np.sqrt(p[c] * (1 - p[c]) / n))
        assert stats.kstest(rt[choice == c], _conditional_cdf(c, v_arr, b, t0)).pvalue > 0.01


def test_rt_given_an_unlikely_choice_matches_its_conditional_density():
    """The model's sampler (rejection on simulated races) for the slow option, P(c) ~ 0.06."""
    v, b, t0 = np.array([4.0, 0.8]), 1.5, 0.3
    p = wald.choice_probabilities(v[None], np.array([b]))[0]
    assert 0.02 < p[1] < 0.1
    n = 3000
    rt = wald.sample_rt_given_choice(np.ones(n, dtype=int), np.tile(v, (n, 1)), np.full(n, b), np.full(n, t0),
                                     np.random.default_rng(2))
    assert stats.kstest(rt, _conditional_cdf(1, v, b, t0)).pvalue > 0.01
    with pytest.raises(ValueError, match=r"won none of 64 simulated races"):
        wald.sample_rt_given_choice(np.array([1]), np.array([[40.0, 0.01]]), np.array([3.0]), np.array([0.2]),
                                    np.random.default_rng(3), max_draws=64)


def _table(model, params, n_trials, seed):
    return simulate(model, params, "cogmodels/MultiArmedBandit-v0", seed=seed,
                    env_kwargs={"n_trials": n_trials, "n_actions": model.n_actions}, progress=False).trials


def test_likelihood_scores_rt_trials_by_the_race_density_and_the_rest_by_choice_probability():
    model = make_model("rlrd", n_actions=3, deadline=2.0)
    params = {"alpha": [0.3, 0.1], "v0": [1.0, 2.0], "w": [3.0, 1.0], "b": [1.2, 1.8], "t0": [0.3, 0.2]}
    table = _table(model, params, 30, 0)
    assert table["rt"].notna().all() and set(table["choice"]) <= {0, 1, 2}
    no_rt, omitted = [3, 40], [5, 41]
    table.loc[no_rt, "rt"] = np.nan
    table["choice"] = table["choice"].astype("Float64")
    table.loc[omitted, ["choice", "rt"]] = np.nan
    ll = log_likelihood(model, params, table, trialwise=True).reshape(-1)
    state = model.initial_state(model.check_params(params))
    lane = table["subject"].to_numpy()
    for t in range(30):  # trial by trial, the model's own pieces
        rows = np.flatnonzero(table["trial"].to_numpy() == t)
        v, b, t0 = model.rt_parameters(state, {})
        choice = table["choice"].to_numpy(dtype=float, na_value=np.nan)[rows]
        for r, lane_r in zip(rows, lane[rows], strict=True):
            if r in omitted:
                expected = wald.race_log_survival(2.0, v[lane_r:lane_r + 1], b[lane_r:lane_r + 1], t0[lane_r:lane_r + 1])[0]
            elif r in no_rt:
                expected = np.log(wald.choice_probabilities(v[lane_r:lane_r + 1], b[lane_r:lane_r + 1])[0, int(choice[lane_r])])
            else:
                expected = wald.race_log_density(table["rt"].to_numpy()[r:r + 1], choice[lane_r:lane_r + 1],
                                                 v[lane_r:lane_r + 1], b[lane_r:lane_r + 1], t0[lane_r:lane_r + 1])[0]
            assert ll[r] == pytest.approx(float(expected), rel=1e-12, abs=1e-12)
        answered = np.nan_to_num(choice).astype(int)
        new = model.update(state, {}, answered, table["reward"].to_numpy(dtype=float, na_value=0.0)[rows], {})
        keep = ~np.isnan(choice)
        state = {"params": state["params"], "q": np.where(keep[:, None, None], new["q"], state["q"])}
    # omission at the deadline: P(nobody by 2 s) = 1 - sum_c P(c, RT <= 2 s)
    v, b, t0 = np.array([1.0, 0.5, 0.4]), 1.5, 0.3
    answered = sum(integrate.quad(lambda s, c=c: np.exp(wald.race_log_density(np.array(s), np.array(c), v, np.array(b),
                                                                               np.array(t0))), t0, 2.0)[0]
                   for c in range(3))
    assert np.exp(wald.race_log_survival(2.0, v, np.array(b), np.array(t0))) == pytest.approx(1 - answered, abs=1e-9)


def test_n_options_states_and_torch_agree_with_numpy():
    torch = pytest.importorskip("torch")
    model = make_model("rlrd", n_actions=4, n_states=2)
    rng = np.random.default_rng(4)
    params = {"alpha": [0.2, 0.5], "v0": [1.0, 0.5], "w": [2.0, 4.0], "b": [1.0, 2.0], "t0": [0.2, 0.3]}
    n = 25
    state = model.initial_state(model.check_params(params))
    rows = []
    for t in range(n):
        obs = {"state": rng.integers(0, 2, 2).astype(float)}
        probs = model.action_probabilities(state, obs)
        choice = np.array([rng.choice(4, p=p) for p in probs])
        rt = model.sample_rt(state, obs, choice, rng)
        reward = rng.random(2).round()
        rows += [{"subject": i, "trial": t, "state": obs["state"][i], "choice": choice[i], "reward": reward[i],
                  "rt": rt[i]} for i in range(2)]
        state = model.update(state, obs, choice, reward, obs)
    table = pd.DataFrame(rows)
    tensors = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    ll = log_likelihood(model, tensors, table)
    np.testing.assert_allclose(ll.detach().numpy(), log_likelihood(model, params, table), rtol=1e-14, atol=1e-10)
    ll.sum().backward()
    h = 1e-6
    for k in params:
        up = {**params, k: np.array(params[k]) + h}
        down = {**params, k: np.array(params[k]) - h}
        fd = (log_likelihood(model, up, table) - log_likelihood(model, down, table)) / (2 * h)
        np.testing.assert_allclose(tensors[k].grad.numpy(), fd, rtol=1e-6, atol=1e-6)


def test_bad_structure_is_refused_naming_the_argument():
    with pytest.raises(ValueError, match=r"min_drift must be a finite number in \(0, inf\), got 0"):
        make_model("rlrd", min_drift=0.0)
    with pytest.raises(ValueError, match=r"n_actions"):
        make_model("rlrd", n_actions=1)


@pytest.mark.slow
def test_rlrd_parameters_are_recovered():
    # 16 simulated subjects × 200 trials of a 2-armed Bernoulli bandit, maximum likelihood (~5 CPU s):
    # this seed gives r = 0.90 (w), 0.76 (b), 0.83 (t0); the threshold trades against the
    # non-decision time (benchmarks/bench_rt.py --part rlrd does 40 × 200: 0.93, 0.86, 0.87)
    from cogmodels.fits.mle import MaximumLikelihood

    rng = np.random.default_rng(5)
    model = make_model("rlrd")
    truth = {"alpha": rng.uniform(0.1, 0.5, 16), "v0": rng.uniform(0.5, 2.0, 16), "w": rng.uniform(1.0, 5.0, 16),
             "b": rng.uniform(1.0, 2.5, 16), "t0": rng.uniform(0.2, 0.5, 16)}
    table = _table(model, truth, 200, 6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = MaximumLikelihood(model, n_starts=2, seed=0, standard_errors=False).fit(table, progress=False)
    r = {k: np.corrcoef(truth[k], fit.params_[k])[0, 1] for k in truth}
    assert r["w"] > 0.8 and r["b"] > 0.65 and r["t0"] > 0.7, r
