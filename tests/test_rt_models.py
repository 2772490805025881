"""Models of choices and reaction times: DDM and RLDDM, the likelihood's RT hook, simulation."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from cogmodels import wiener
from cogmodels.datasets import load_hddm_rlddm
from cogmodels.fits.mle import MaximumLikelihood
from cogmodels.likelihood import log_likelihood, trial_latents
from cogmodels.models import make_model
from cogmodels.models.rlddm import simulate_learning_phase
from cogmodels.simulate import simulate

RLDDM_PARAMS = {"alpha": np.array([0.1, 0.3]), "v": np.array([4.0, 2.0]), "a": np.array([1.7, 1.2]),
                "t0": np.array([0.4, 0.25])}


@pytest.fixture(scope="module")
def rlddm_table():
    model = make_model("rlddm", n_states=3)
    return model, simulate_learning_phase(model, RLDDM_PARAMS, n_trials=60, seed=0)


def test_trial_with_rt_scores_the_joint_density_and_without_rt_its_choice_probability(rlddm_table):
    model, table = rlddm_table
    table = table.copy()
    missing = np.zeros(len(table), dtype=bool)
    missing[::7] = True
    table.loc[missing, "rt"] = np.nan
    ll = log_likelihood(model, RLDDM_PARAMS, table, trialwise=True).reshape(-1)
    lat = trial_latents(model, RLDDM_PARAMS, table)
    subject = table["subject"].to_numpy()
    dens = wiener.log_density(table["rt"].to_numpy(), table["choice"].to_numpy(), lat["drift"].to_numpy(),
                              lat["threshold"].to_numpy(), 0.5, RLDDM_PARAMS["t0"][subject])
    np.testing.assert_allclose(ll[~missing], dens[~missing], rtol=1e-12)
    np.testing.assert_allclose(ll[missing], np.log(table["p_choice"].to_numpy()[missing]), rtol=1e-12)
    # summed, and trial by trial (a model that gives no rt_parameters): the same numbers
    summed = log_likelihood(model, RLDDM_PARAMS, table)
    np.testing.assert_allclose(summed, ll.reshape(2, -1).sum(axis=1), rtol=1e-12)

    class TrialByTrial(type(model)):
        def rt_parameters(self, state, observation):
            return None

    np.testing.assert_allclose(log_likelihood(TrialByTrial(n_states=3), RLDDM_PARAMS, table), summed, rtol=1e-12)
    # a table without an rt column is scored by the choices alone (and learning is unchanged)
    choices_only = log_likelihood(model, RLDDM_PARAMS, table.drop(columns="rt"))
    np.testing.assert_allclose(choices_only, np.log(table["p_choice"]).groupby(subject).sum(), rtol=1e-12)


def test_omission_is_censored_at_the_deadline():
    params = {"v": 0.5, "a": 2.0, "z": 0.5, "t0": 0.3}
    table = pd.DataFrame({"subject": 0, "trial": range(4), "choice": [1, np.nan, 0, np.nan],
                          "reward": [0.0, np.nan, 0.0, np.nan], "rt": [0.9, np.nan, 1.1, np.nan]})
    survive = float(wiener.log_survival(np.array(1.5), 0.5, 2.0, 0.5, 0.3))
    ll = log_likelihood(make_model("ddm", deadline=1.5), params, table, trialwise=True)[0]
    np.testing.assert_allclose(ll[[1, 3]], survive, rtol=1e-12)
    answered = sum(float(wiener.cdf(np.array(1.5), c, 0.5, 2.0, 0.5, 0.3)) for c in (0.0, 1.0))
    assert np.exp(survive) == pytest.approx(1.0 - answered, abs=1e-12)  # P(no response by 1.5 s)
    skipped = log_likelihood(make_model("ddm"), params, table, trialwise=True)[0]
    np.testing.assert_array_equal(skipped[[1, 3]], 0.0)  # without a deadline: skipped, as before
    np.testing.assert_allclose(skipped[[0, 2]], ll[[0, 2]], rtol=1e-12)


def test_simulated_rts_have_the_ddm_mean_decision_time():
    # unbiased start: E[T] = a / (2v) tanh(va / 2) (e.g. Palmer, Huk & Shadlen 2005, eq. A.7)
    v, a, t0 = 1.2, 1.6, 0.3
    sim = simulate(make_model("ddm"), {"v": v, "a": a, "z": 0.5, "t0": t0}, "cogmodels/MultiArmedBandit-v0",
                   n_subjects=8, seed=2, env_kwargs={"n_trials": 100}, progress=False)
    rt = sim.trials["rt"].to_numpy()
    assert rt.min() > t0
    expected = a / (2 * v) * np.tanh(v * a / 2)
    assert rt.mean() - t0 == pytest.approx(expected, abs=4 * rt.std() / np.sqrt(rt.size))
    p_upper = wiener.choice_probabilities(np.array(v), np.array(a), np.array(0.5))[1]
    n = len(rt)
    assert sim.trials["choice"].mean() == pytest.approx(float(p_upper), abs=4 * np.sqrt(0.25 / n))


def test_rlddm_runs_on_torch_with_autograd_and_matches_numpy(rlddm_table):
    torch = pytest.importorskip("torch")
    model, table = rlddm_table
    first = table[table["subject"] == 0].iloc[:20]
    names = model.param_names
    values = np.array([RLDDM_PARAMS[k][0] for k in names])

    def loglik(x):
        params = {k: x[i:i + 1] for i, k in enumerate(names)}
        state = model.initial_state(params)
        total = 0.0
        for _, row in first.iterrows():
            obs = {"state": torch.tensor([row["state"]], dtype=torch.float64)}
            c = torch.tensor([row["choice"]], dtype=torch.float64)
            total = total + model.log_density_rt(state, obs, c, torch.tensor([row["rt"]], dtype=torch.float64))
            state = model.update(state, obs, c, torch.tensor([row["reward"]], dtype=torch.float64), obs)
        return total.sum()

    x = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    value = loglik(x)
    assert isinstance(value, torch.Tensor) and value.requires_grad
    expected = log_likelihood(model, {k: RLDDM_PARAMS[k][:1] for k in names}, first)[0]
    assert float(value.detach()) == pytest.approx(expected, abs=1e-10)
    value.backward()
    h = 1e-6
    for i in range(len(names)):
        step = np.zeros(len(names))
        step[i] = h
        up = log_likelihood(model, {k: [values[j] + step[j]] for j, k in enumerate(names)}, first)[0]
        down = log_likelihood(model, {k: [values[j] - step[j]] for j, k in enumerate(names)}, first)[0]
        assert float(x.grad[i]) == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-5)


def test_variants_change_what_they_say():
    dual = make_model("rlddm", dual_learning_rates=True, threshold_modulation=True, free_starting_point=True)
    assert dual.param_names == ("alpha_pos", "alpha_neg", "v", "a", "z", "t0", "a_mod")
    p = dual.check_params({"alpha_pos": 0.5, "alpha_neg": 0.1, "v": 3.0, "a": 1.5, "z": 0.5, "t0": 0.3,
                           "a_mod": 1.0})
    state = dual.initial_state(p)
    state = dual.update(state, {}, np.array([1]), np.array([1.0]), {})  # delta = +0.5: alpha_pos
    assert state["q"][0, 0, 1] == pytest.approx(0.5 + 0.5 * 0.5)
    v, a, _, _ = dual.diffusion_parameters(state, {})
    assert v[0] == pytest.approx(3.0 * 0.25)
    assert a[0] == pytest.approx(1.5 * np.exp(1.0 * ((0.5 + 0.75) / 2 - 0.5)))  # mean value up, a up
    state = dual.update(state, {}, np.array([0]), np.array([0.0]), {})  # delta = -0.5: alpha_neg
    assert state["q"][0, 0, 0] == pytest.approx(0.5 - 0.1 * 0.5)


def test_bad_structure_is_refused_naming_the_argument():
    with pytest.raises(ValueError, match=r"deadline must be a finite number in \(0, inf\), got -1"):
        make_model("ddm", deadline=-1.0)
    with pytest.raises(ValueError, match="reward_probabilities has 3 conditions but the model has n_states=1"):
        simulate_learning_phase(make_model("rlddm"), {"alpha": 0.1, "v": 2.0, "a": 1.5, "t0": 0.3}, n_trials=5)


@pytest.mark.slow
def test_ddm_parameters_are_recovered():
    # 16 simulated subjects × 150 trials, maximum likelihood: drift and non-decision time are
    # recovered closely, the threshold (traded against the starting point) less so at this size
    # (benchmarks/bench_rt.py does 40 × 200, RESULTS.md)
    rng = np.random.default_rng(5)
    truth = {"v": rng.uniform(-2, 2, 16), "a": rng.uniform(0.8, 2.5, 16), "z": rng.uniform(0.35, 0.65, 16),
             "t0": rng.uniform(0.2, 0.5, 16)}
    model = make_model("ddm")
    table = simulate_learning_phase(model, truth, n_trials=150, reward_probabilities=((0.5, 0.5),), seed=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = MaximumLikelihood(model, n_starts=2, seed=0, standard_errors=False).fit(table, progress=False)
    r = {k: np.corrcoef(truth[k], fit.params_[k])[0, 1] for k in truth}
    assert r["v"] > 0.9 and r["t0"] > 0.9 and r["a"] > 0.75, r


def test_hddm_data_loads_with_the_published_design():
    df = load_hddm_rlddm()
    assert len(df) == 5280 and df["subject"].nunique() == 28
    assert df["rt"].notna().all() and df["choice"].notna().all()
    accuracy = df.groupby("cond")["choice"].mean()
    # the better option is chosen more often where the pair differs more (0.8/0.2 > 0.7/0.3 > 0.6/0.4)
    assert accuracy["AB"] > accuracy["CD"] > accuracy["EF"] > 0.5
    assert dict(zip(df["cond"], df["state"], strict=True)) == {"AB": 0, "CD": 1, "EF": 2}


def test_quantile_probability_matches_the_ddm_and_plots():
    from cogmodels.fits.ppc import plot_quantile_probability, quantile_probability

    v, a, z, t0 = 0.8, 1.5, 0.5, 0.3
    lanes = np.ones(3000)  # 3,000 simulated subjects of one trial each: one batched draw
    table = simulate_learning_phase(make_model("ddm"), {"v": v * lanes, "a": a, "z": z, "t0": t0}, n_trials=1,
                                    reward_probabilities=((0.5, 0.5),), seed=9)
    qp = quantile_probability(table, by=None)
    p_upper = float(wiener.choice_probabilities(np.array(v), np.array(a), np.array(z))[1])
    upper = qp[qp["choice"] == 1]
    assert upper["p"].iloc[0] == pytest.approx(p_upper, abs=4 * np.sqrt(p_upper * (1 - p_upper) / 3000))
    # each empirical quantile sits where the model's conditional CDF says (±0.03: ~1,700 RTs)
    cdf = wiener.cdf(upper["rt"].to_numpy(), 1.0, v, a, z, t0) / p_upper
    np.testing.assert_allclose(cdf, upper["quantile"], atol=0.03)
    fig = plot_quantile_probability(qp, qp)
    assert len(fig.axes[0].lines) == 2 * 5  # data and model, one line per quantile
    with pytest.raises(ValueError, match=r"quantiles must be numbers in \(0, 1\), got \(0.5, 1.0\)"):
        quantile_probability(table, by=None, quantiles=(0.5, 1.0))


@pytest.mark.slow
def test_threshold_ridge_without_lower_boundary_responses_is_resolved_by_the_group_prior():
    """A subject who never reaches the lower boundary tells the threshold ``a`` only through the
    distance ``(1 - z) a`` to the upper one (a ridge, benchmarks/RESULTS.md): maximum likelihood
    runs along it to the bound of ``a``; the hierarchical EM's group prior on ``z`` holds it near
    the truth. Subject 0 is such a subject (v = 1.9, a = 2.4, z = 0.63: P(lower) = 0.0002)."""
    from cogmodels.fits.em import HierarchicalEM

    rng = np.random.default_rng(1)
    truth = {"v": np.r_[1.92, rng.uniform(-1.5, 1.5, 11)], "a": np.r_[2.40, rng.uniform(0.8, 2.5, 11)],
             "z": np.r_[0.63, rng.uniform(0.4, 0.6, 11)], "t0": np.r_[0.45, rng.uniform(0.2, 0.5, 11)]}
    model = make_model("ddm")
    table = simulate_learning_phase(model, truth, n_trials=200, reward_probabilities=((0.5, 0.5),), seed=3)
    assert table.loc[table["subject"] == 0, "choice"].min() == 1  # no lower-boundary response
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mle = MaximumLikelihood(model, n_starts=3, seed=0, standard_errors=False).fit(table, progress=False)
        em = HierarchicalEM(model, n_starts=3, seed=0).fit(table, progress=False)
    a_mle, z_mle = mle.params_.loc[0, "a"], mle.params_.loc[0, "z"]
    assert a_mle > 3.5  # far along the ridge, toward the bound 5 ...
    assert (1 - z_mle) * a_mle == pytest.approx((1 - 0.63) * 2.40, abs=0.15)  # ... at the same distance
    assert em.params_.loc[0, "a"] == pytest.approx(2.40, abs=0.5)
    others = np.arange(1, 12)
    assert np.corrcoef(truth["a"][others], em.params_["a"].to_numpy()[others])[0, 1] > 0.9


@pytest.mark.parametrize("dual", [False, True])
def test_rlddm_update_gives_the_bits_of_the_one_hot_step(dual):
    # the update writes Q(s, c) + alpha delta in place of adding alpha delta times a one-hot of
    # (condition, choice) to every value, as it did before: the same bits
    model = make_model("rlddm", n_states=3, dual_learning_rates=dual)
    rng = np.random.default_rng(1)
    lanes = 40
    params = model.check_params({s.name: rng.uniform(0.05, 0.95, lanes) if s.name.startswith("alpha")
                                 else np.full(lanes, s.default) for s in model.param_specs})
    state = model.initial_state(params)
    for _ in range(30):
        obs = {"state": rng.integers(0, 3, lanes).astype(np.float64)}
        choice, reward = rng.integers(0, 2, lanes), rng.integers(0, 2, lanes).astype(np.float64)
        q = state["q"]
        mask = (obs["state"][:, None, None] == np.arange(3)[None, :, None]).astype(np.float64)
        c = choice.astype(np.float64)
        shown = np.sum(q * mask, axis=1)
        delta = reward - (c * shown[:, 1] + (1.0 - c) * shown[:, 0])
        alpha = np.where(delta > 0, params["alpha_pos"], params["alpha_neg"]) if dual else params["alpha"]
        old = q + (alpha * delta)[:, None, None] * np.stack([1.0 - c, c], axis=1)[:, None, :] * mask
        state = model.update(state, obs, choice, reward, obs)
        assert state["q"].tobytes() == old.tobytes()


def test_batched_rt_densities_skip_padding_and_choice_probabilities(rlddm_table):
    # subjects of unequal length (padding) and trials without an RT: the joint densities are
    # computed on the trials with an RT alone, the choice probabilities only on trials where a
    # lane is scored by its choice alone, and the numbers are those of the trial-by-trial path
    model, table = rlddm_table
    table = table[~((table["subject"] == 1) & (table["trial"] >= 35))].drop(columns="p_choice").copy()
    table.loc[table.index[3:20:6], "rt"] = np.nan  # 3 trials of subject 0 without an RT
    sizes, calls = [], [0]

    class Spy(type(model)):
        def log_density_rt_from(self, parameters, action, rt):
            sizes.append(np.size(rt))
            return super().log_density_rt_from(parameters, action, rt)

        def action_probabilities(self, state, observation):
            calls[0] += 1
            return super().action_probabilities(state, observation)

    class TrialByTrial(type(model)):
        def rt_parameters(self, state, observation):
            return None

    got = log_likelihood(Spy(n_states=3), RLDDM_PARAMS, table, trialwise=True)
    assert sizes == [int(table["rt"].notna().sum())] and calls[0] == 3
    ref = log_likelihood(TrialByTrial(n_states=3), RLDDM_PARAMS, table, trialwise=True)
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    assert (got[1, 35:] == 0.0).all()


def test_p_outlier_mixes_in_uniform_contaminants_and_the_simulator_draws_them():
    """p(c, rt) = (1 - p) f_c(rt) + p / 10 on (0, 5) s (HDDM's w_outlier = 0.1): the joint density integrates
    to 1 over both choices, the choice probability of a trial without RT is the mixture's, a response faster
    than t0 costs log(p / 10) instead of ruling t0 out, and the simulated RTs follow the density (their
    fraction below t0 is the contaminants' p t0 / 5, their choice rate the mixture's)."""
    p, params = 0.2, {"v": 1.0, "a": 1.5, "z": 0.5, "t0": 0.3}
    plain, mixed = make_model("ddm"), make_model("ddm", p_outlier=p)
    assert repr(mixed) == "DDM(deadline=None, p_outlier=0.2)"
    arrays = {k: np.array([v]) for k, v in params.items()}
    state = mixed.initial_state(mixed.check_params(arrays))
    grid = np.linspace(1e-4, 12.0, 120_001)
    total = 0.0
    for c in (0, 1):
        lp = mixed.log_density_rt_from(tuple(np.full(grid.size, x) for x in mixed.diffusion_parameters(state, {})),
                                       np.full(grid.size, float(c)), grid)
        total += np.trapezoid(np.exp(lp), grid)
    assert total == pytest.approx(1.0, abs=2e-3)
    fast = mixed.log_density_rt_from(mixed.diffusion_parameters(state, {}), np.array([1.0]), np.array([0.2]))
    assert float(fast[0]) == pytest.approx(np.log(p / 10.0), abs=1e-12)
    upper = float(plain.action_probabilities(plain.initial_state(plain.check_params(arrays)), {})[0, 1])
    assert float(mixed.action_probabilities(state, {})[0, 1]) == pytest.approx((1 - p) * upper + p / 2, abs=1e-12)
    table = pd.DataFrame({"subject": 0, "trial": range(2), "choice": [1.0, 0.0], "reward": 0.0,
                          "rt": [np.nan, 0.2]})
    ll = log_likelihood(mixed, arrays, table, trialwise=True)[0]
    np.testing.assert_allclose(ll, [np.log((1 - p) * upper + p / 2), np.log(p / 10.0)], rtol=1e-12)
    sim = simulate(mixed, params, "cogmodels/MultiArmedBandit-v0", n_subjects=20, seed=3,
                   env_kwargs={"n_trials": 300}, progress=False).trials
    rt, n = sim["rt"].to_numpy(), len(sim)
    assert (rt < 0.3).mean() == pytest.approx(p * 0.3 / 5.0, abs=4 * np.sqrt(0.012 / n))
    assert (rt > 5.0).mean() < 0.01 and rt.max() < 30
    assert sim["choice"].mean() == pytest.approx((1 - p) * upper + p / 2, abs=4 * np.sqrt(0.25 / n))
    censored = make_model("ddm", p_outlier=p, deadline=1.5)
    survive = float(wiener.log_survival(np.array(1.5), 1.0, 1.5, 0.5, 0.3))
    omission = pd.DataFrame({"subject": 0, "trial": [0], "choice": [np.nan], "reward": [np.nan], "rt": [np.nan]})
    assert log_likelihood(censored, arrays, omission)[0] == pytest.approx(
        np.log((1 - p) * np.exp(survive) + p * (1 - 1.5 / 5.0)), abs=1e-12)  # late contaminants are omissions too
    with pytest.raises(ValueError, match=r"p_outlier must be a finite number in \[0, 1\), got 1"):
        make_model("rlddm", p_outlier=1.0)


def test_p_outlier_on_torch_matches_numpy_with_its_gradient(rlddm_table):
    pytest.importorskip("torch")
    _, table = rlddm_table
    model = make_model("rlddm", n_states=3, p_outlier=0.05)
    first = table[table["subject"] == 0].iloc[:15].copy()
    first.loc[first.index[3], "rt"] = 0.05  # faster than t0: only a contaminant explains it
    from cogmodels.fits.autodiff import LaneLogLikelihood
    from cogmodels.likelihood import trial_arrays
    data = trial_arrays(first, model)
    z = np.array([[-1.0, -1.5, -1.0, np.log(0.3)]])
    value, grad = LaneLogLikelihood(model, data, np.array([0]), "autograd")(z)
    ref, ref_grad = LaneLogLikelihood(model, data, np.array([0]), "finite_difference")(z)
    assert np.isfinite(value).all() and float(value[0]) == pytest.approx(float(ref[0]), abs=1e-10)
    np.testing.assert_allclose(grad, ref_grad, atol=1e-5)
