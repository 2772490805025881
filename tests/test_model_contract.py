"""The contract of every registered model: simulation and likelihood agree; params validated."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import cogmodels  # noqa: F401
from cogmodels.constrain import constrain
from cogmodels.likelihood import log_likelihood, trial_arrays
from cogmodels.models import MODELS, make_model
from cogmodels.parameters import pack, unpack
from cogmodels.simulate import simulate

# The first task each model lists is where it is simulated; small sessions keep this fast.
SMALL = {
    "cogmodels/MultiArmedBandit-v0": {"n_trials": 60},
    "cogmodels/ReversalLearning-v0": {"n_trials": 60},
    "cogmodels/RestlessBandit-v0": {"n_trials": 60},
    "cogmodels/TwoStep-v0": {"n_trials": 60},
    "cogmodels/TwoStepStakes-v0": {"n_trials": 60},
    "cogmodels/KoolTwoStep-v0": {"n_trials": 60},
    "cogmodels/RLWM-v0": {},
    "cogmodels/GoNoGo-v0": {"n_trials": 60},
}


# every registered model with its defaults, plus the structural variants
CASES = [(name, {}) for name in sorted(MODELS)] + [
    ("q_learning", {"dual_learning_rates": True, "forgetting": True, "free_initial_value": True}),
    ("q_learning", {"stickiness": False, "n_actions": 3}),
    ("actor_critic", {"n_states": 3, "forgetting": True, "stickiness": True, "free_beta": True}),
    ("kalman", {"exploration_bonus": True, "stickiness": True}),
    ("reversal_hmm", {"free_p_reward": True, "stickiness": True}),
    ("two_step_hybrid", {"shared_alpha_beta": True}),
    ("two_step_hybrid", {"value_stickiness": True, "initial_value": 0.5}),
    ("two_step_mb", {"shared_alpha_beta": True, "value_stickiness": True}),
    ("two_step_stakes", {"shared_alpha_beta": False, "value_stickiness": False}),
    ("kool_two_step", {"value_stickiness": False, "initial_value": 0.0}),
    ("wsls", {"n_actions": 3}),
    ("random", {"n_actions": 4}),
    ("gng", {"go_bias": False, "separate_sensitivities": False}),  # Pavlovian bias alone
    ("igt_pvl_delta", {"n_actions": 2, "payscale": 1.0}),
]
CASE_IDS = [f"{n}-{'-'.join(k for k in s) or 'default'}" for n, s in CASES]

# models wrapped by constrain(): fixed, tied, and split by a condition column the task gives
WRAPPED = {
    "q_learning-fix": lambda: constrain(make_model("q_learning"), fix={"kappa": 0.5}),
    "two_step-fix-tie": lambda: constrain(
        make_model("two_step_hybrid"), fix={"lam": 1.0}, tie=[("alpha1", "alpha2"), ("beta1", "beta2")]
    ),
    "rlwm-by-set_size": lambda: constrain(
        make_model("rlwm"), by={"alpha": "set_size", "epsilon": "set_size"},
        levels={"set_size": range(1, 7)}, tie=[("neg_rl", "neg_wm")]
    ),
}
MODEL_CASES = [pytest.param(lambda n=n, s=s: make_model(n, **s), id=i) for (n, s), i in zip(CASES, CASE_IDS)]
MODEL_CASES += [pytest.param(build, id=f"constrained-{i}") for i, build in WRAPPED.items()]


def _env_kwargs(model, env):
    kwargs = dict(SMALL.get(env, {}))
    if env in ("cogmodels/MultiArmedBandit-v0", "cogmodels/RestlessBandit-v0", "cogmodels/ReversalLearning-v0"):
        kwargs["n_actions"] = model.n_actions
    return kwargs


def _random_params(model, n, rng):
    out = {}
    for s in model.param_specs:
        lo = s.low if np.isfinite(s.low) else s.default - 2
        hi = s.high if np.isfinite(s.high) else s.default + 2
        out[s.name] = rng.uniform(lo + 0.1 * (hi - lo), hi - 0.1 * (hi - lo), n)
    return out


def _observation(model, col, n, rng):
    """Random values of an observation column for models without an environment (hBayesDM tasks)."""
    if col == "state":
        return rng.integers(0, model.n_states, n).astype(float)
    if col in ("option1", "option2"):  # two different stimuli; option2 drawn with option1
        return None
    if col.startswith("delay_"):
        return np.zeros(n) if col.endswith("sooner") else rng.uniform(1, 180, n)
    if col.startswith("amount_"):
        return np.full(n, 10.0) if col.endswith("sooner") else rng.uniform(10.5, 50, n)
    raise AssertionError(f"no generator for observation column {col!r}")


def _play_without_env(model, params, n_trials, rng, with_rt=False):
    """Draw each lane's choices from ``model.action_probabilities`` on random observations and
    random outcomes (the same draw-then-update loop as :func:`simulate`, without a task env);
    ``with_rt``: a model of choices and RTs also draws each trial's RT (``rt`` column)."""
    p = model.check_params(params)
    lanes = next(iter(p.values())).shape[0]
    rows = []
    for lane in range(lanes):
        obs = {c: _observation(model, c, n_trials, rng) for c in model.observation_columns}
        if "option1" in obs:
            pairs = np.array([rng.choice(model.n_stimuli, 2, replace=False) for _ in range(n_trials)])
            obs["option1"], obs["option2"] = pairs[:, 0].astype(float), pairs[:, 1].astype(float)
        rows.append(pd.DataFrame({"subject": lane, "trial": np.arange(n_trials),
                                  "reward": rng.choice([-250.0, -1.0, 0.0, 1.0, 100.0], n_trials), **obs}))
    table = pd.concat(rows, ignore_index=True)
    n = table.groupby("subject").size().iloc[0]
    state = model.initial_state(p)
    choice = np.zeros((lanes, n), dtype=int)
    p_choice = np.zeros((lanes, n))
    rt = np.zeros((lanes, n))
    for t in range(n):
        obs_t = {c: table[c].to_numpy()[t::n] for c in model.observation_columns}
        probs = model.action_probabilities(state, obs_t)
        choice[:, t] = [rng.choice(model.n_actions, p=probs[i] / probs[i].sum()) for i in range(lanes)]
        p_choice[:, t] = probs[np.arange(lanes), choice[:, t]]
        if with_rt:
            # 50 ms added: a decision time near 0 puts t0 +- h outside the support and the
            # finite differences of the gradient check at inf
            rt[:, t] = model.sample_rt(state, obs_t, choice[:, t], rng) + 0.05
        state = model.update(state, obs_t, choice[:, t], table["reward"].to_numpy()[t::n], obs_t)
    table["choice"] = choice.reshape(-1)
    table["p_choice"] = p_choice.reshape(-1)
    if with_rt:
        table[model.rt_column] = rt.reshape(-1)
    return table


def _simulated(model, n_lanes, seed, with_rt=False):
    """Random parameters of ``n_lanes`` lanes and the trial table they simulate (``with_rt``:
    with the RTs of a model of choices and RTs)."""
    rng = np.random.default_rng(seed)
    params = _random_params(model, n_lanes, rng)
    if model.tasks:
        env = model.tasks[0]
        sim = simulate(model, params, env, seed=seed + 1, env_kwargs=_env_kwargs(model, env),
                       record_probabilities=True)
        if set(model.observation_columns) <= set(sim.trials.columns):
            return params, sim.trials
    # hBayesDM's tasks have no environment (yet), and a bandit shows no states to a model with
    # several: play the model on random observations
    return params, _play_without_env(model, params, 60, rng, with_rt and model.rt_column is not None)


@pytest.mark.parametrize("build", MODEL_CASES)
def test_likelihood_of_simulated_choices_equals_product_of_draw_probabilities(build):
    model = build()
    params, trials = _simulated(model, 4, 0)
    data = trial_arrays(trials, model)
    ll_trials = log_likelihood(model, params, data, trialwise=True)
    for i, subject in enumerate(data.subjects):
        p = trials.loc[trials["subject"] == subject, "p_choice"].to_numpy()
        np.testing.assert_allclose(ll_trials[i, : len(p)], np.log(p), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        log_likelihood(model, params, data), ll_trials.sum(axis=1), rtol=1e-12
    )


@pytest.mark.parametrize("build", MODEL_CASES)
def test_torch_likelihood_equals_numpy_and_autograd_equals_finite_differences(build):
    """One model definition, two namespaces: the torch float64 log-likelihood of every lane and
    trial equals numpy's within 1e-10, and its autograd gradient equals the central finite
    difference of the numpy likelihood along a random direction (truncation error O(h^2) ~ 1e-10
    at h = 1e-5, rounding error ~ 1e-16 |log L| / h ~ 1e-10)."""
    torch = pytest.importorskip("torch")
    model = build()
    params, trials = _simulated(model, 3, 7, with_rt=True)
    data = trial_arrays(trials.groupby("subject").head(40), model)  # 40 trials keep it fast
    tensors = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    ll = log_likelihood(model, tensors, data)
    assert isinstance(ll, torch.Tensor) and ll.shape == (3,) and ll.dtype == torch.float64
    # 1e-10 absolute, or float64 rounding (1e-14 relative) where |log L| is huge (10^6 for an RT
    # model at random parameters)
    np.testing.assert_allclose(ll.detach().numpy(), log_likelihood(model, params, data), rtol=1e-14, atol=1e-10)
    np.testing.assert_allclose(log_likelihood(model, tensors, data, trialwise=True).detach().numpy(),
                               log_likelihood(model, params, data, trialwise=True), rtol=1e-14, atol=1e-10)
    ll.sum().backward()  # lanes are independent: one backward gives every lane's gradient
    rng = np.random.default_rng(8)
    direction = {k: rng.choice([-1.0, 1.0], v.shape) * rng.uniform(0.5, 1.0, v.shape) for k, v in params.items()}
    h = 1e-5
    up = {k: v + h * direction[k] for k, v in params.items()}
    down = {k: v - h * direction[k] for k, v in params.items()}
    fd = (log_likelihood(model, up, data) - log_likelihood(model, down, data)) / (2 * h)
    autograd = sum(tensors[k].grad.numpy() * direction[k] for k in params)
    np.testing.assert_allclose(autograd, fd, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("build", MODEL_CASES)
def test_transforms_round_trip(build):
    model = build()
    params = _random_params(model, 5, np.random.default_rng(2))
    back = unpack(model.param_specs, pack(model.param_specs, params))
    for k, v in params.items():
        np.testing.assert_allclose(back[k], v, rtol=1e-9)


@pytest.mark.parametrize("build", MODEL_CASES)
def test_probabilities_are_distributions(build):
    model = build()
    params = model.check_params(_random_params(model, 7, np.random.default_rng(3)))
    state = model.initial_state(params)
    obs = {c: np.zeros(7) for c in model.observation_columns}
    if len(model.choice_columns) > 1:
        obs = {**obs, "stage": 0, "choices": np.zeros((7, 0), dtype=np.int64)}
    p = model.action_probabilities(state, obs)
    assert p.shape == (7, model.n_actions)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert (p >= 0).all()


def test_check_params_errors():
    model = make_model("q_learning")
    with pytest.raises(ValueError, match=r"missing \['kappa'\], unknown \['gamma'\]"):
        model.check_params({"alpha": 0.1, "beta": 1.0, "gamma": 2.0})
    with pytest.raises(ValueError, match=r"'alpha' must lie in \[0.0, 1.0\], got \[1.5\]"):
        model.check_params({"alpha": 1.5, "beta": 1.0, "kappa": 0.0})


def test_make_model_rejects_unknown_name():
    with pytest.raises(ValueError, match="model must be one of"):
        make_model("no_such_model")


def test_missing_choices_are_skipped_not_dropped():
    model = make_model("q_learning")
    sim = simulate(model, {"alpha": 0.3, "beta": 3.0, "kappa": 0.5}, "cogmodels/MultiArmedBandit-v0",
                   n_subjects=1, seed=0, env_kwargs={"n_trials": 30})
    df = sim.trials.copy()
    df["choice"] = df["choice"].astype("Float64")
    df.loc[[5, 6], "choice"] = np.nan
    data = trial_arrays(df, model)
    lp = log_likelihood(model, {"alpha": 0.3, "beta": 3.0, "kappa": 0.5}, data, trialwise=True)[0]
    assert lp[5] == 0.0 and lp[6] == 0.0
    assert data.n_valid[0] == 28
    # a missing trial leaves the state untouched: trial 7 is scored as if 5-6 never happened,
    # except that the previous choice for stickiness is that of trial 4
    kept = df.drop(index=[5, 6]).reset_index(drop=True)
    kept["trial"] = range(len(kept))
    lp2 = log_likelihood(model, {"alpha": 0.3, "beta": 3.0, "kappa": 0.5}, trial_arrays(kept, model), trialwise=True)[0]
    np.testing.assert_allclose(lp[lp != 0], lp2, rtol=1e-12)


def test_q_learning_matches_reference_simulator_likelihood():
    """The 2-armed Q-learner with stickiness is the model of ../shared/bench/simulate_bandit.py:
    its likelihood equals the reference program's own (naive_fit.neg_log_lik) on the same data."""
    rng = np.random.default_rng(5)
    choices = rng.integers(0, 2, 150)
    rewards = rng.integers(0, 2, 150).astype(float)
    alpha, beta, kappa = 0.37, 4.2, -0.6
    q = np.array([0.5, 0.5])
    prev = -1
    ref = 0.0
    for a, r in zip(choices, rewards):  # the reference equations, written out
        logits = beta * q + kappa * (np.arange(2) == prev)
        logits = logits - logits.max()
        ref += logits[a] - np.log(np.exp(logits).sum())
        q[a] += alpha * (r - q[a])
        prev = a
    df = pd.DataFrame({"subject": 0, "trial": range(150), "choice": choices, "reward": rewards})
    model = make_model("q_learning")
    ll = log_likelihood(model, {"alpha": alpha, "beta": beta, "kappa": kappa}, trial_arrays(df, model))
    np.testing.assert_allclose(ll[0], ref, rtol=1e-12)


@pytest.mark.parametrize(
    "df, match",
    [
        (pd.DataFrame({"subject": [0], "trial": [0], "choice": [2], "reward": [1.0]}), r"outside the 2 actions"),
        (pd.DataFrame({"subject": [0], "trial": [0], "choice": [0]}), r"missing \['reward'\]"),
        (pd.DataFrame({"subject": [0, 0], "trial": [0, 1], "choice": [0, 1], "reward": [1.0, np.nan]}),
         "no finite reward"),
    ],
)
def test_data_the_model_cannot_explain_fails_before_fitting(df, match):
    with pytest.raises(ValueError, match=match):
        trial_arrays(df, make_model("q_learning"))


def test_trial_latents_match_simulation_latents():
    """Latents recomputed from the observed choices equal those recorded while simulating."""
    model = make_model("q_learning")
    params = {"alpha": [0.2, 0.6], "beta": [3.0, 5.0], "kappa": [0.1, -0.2]}
    sim = simulate(model, params, "cogmodels/ReversalLearning-v0", seed=4,
                   env_kwargs={"n_trials": 50}, record_probabilities=True)
    from cogmodels.likelihood import trial_latents

    lat = trial_latents(model, params, sim.trials)
    assert lat.index.equals(sim.trials.index)
    for col in ("q_0", "q_1", "delta", "p_choice"):
        np.testing.assert_allclose(lat[col], sim.trials[col], rtol=1e-12)


@pytest.mark.parametrize("name, env, stages", [("rlwm", "cogmodels/RLWM-v0", ("choice",)),
                                               ("two_step_hybrid", "cogmodels/TwoStep-v0", ("choice", "choice2"))])
def test_torch_likelihood_skips_missing_choices_and_resets_blocks_as_numpy(name, env, stages):
    """The torch path takes the same branches as numpy: a missed stage scores nothing and leaves
    the state as it was, and the state starts afresh at a block boundary (RLWM's 45 + 18 trials)."""
    torch = pytest.importorskip("torch")
    model = make_model(name)
    params = _random_params(model, 2, np.random.default_rng(11))
    trials = simulate(model, params, env, seed=12, env_kwargs=SMALL.get(env, {})).trials
    trials = trials.groupby("subject").head(70).reset_index(drop=True)
    for col, rows in zip(stages, ([3, 4, 50], [10, 30])):
        trials[col] = trials[col].astype("Float64")
        trials.loc[rows, col] = np.nan
    data = trial_arrays(trials, model)
    assert data.block_start.any() == (name == "rlwm") and not data.valid.all()
    tensors = {k: torch.tensor(v, dtype=torch.float64) for k, v in params.items()}
    np.testing.assert_allclose(log_likelihood(model, tensors, data, trialwise=True).numpy(),
                               log_likelihood(model, params, data, trialwise=True), rtol=0, atol=1e-10)


@pytest.mark.parametrize("build", [c for c in MODEL_CASES if c.values[0]().rt_column is not None])
def test_autograd_gradient_is_finite_with_missing_choices(build):
    """Every 7th choice missing (no RT, scored by nothing or as an omission): the autograd gradient
    of a model of choices and RTs stays finite. The racing diffusion's was NaN for the lanes with
    such a trial while its densities were computed on every element and masked afterwards
    (``torch.where`` passes the masked elements' NaN gradient on); they are now computed on the
    elements with an RT only."""
    torch = pytest.importorskip("torch")
    model = build()
    params, trials = _simulated(model, 4, 0, with_rt=True)
    trials = trials.copy()
    position = trials.groupby("subject").cumcount().to_numpy()
    trials[model.choice_columns[0]] = trials[model.choice_columns[0]].astype("Float64")
    trials.loc[position % 7 == 3, model.choice_columns[0]] = np.nan
    tensors = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    log_likelihood(model, tensors, trial_arrays(trials, model)).sum().backward()
    for name, t in tensors.items():
        assert torch.isfinite(t.grad).all(), (name, t.grad)
