"""Tests of Pavlovian conditioning: timing, omissions, action independence, the TD signature."""

from __future__ import annotations

import warnings
from collections import Counter

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import cogmodels  # noqa: F401  (registers the environments)
from cogmodels.envs.pavlovian import PavlovianConditioning
from cogmodels.envs.wrappers import record_session

ENV_ID = "cogmodels/PavlovianConditioning-v0"
Z = 4.0  # width of the binomial confidence intervals, in standard errors


def assert_rate_in_ci(successes: int, n: int, p: float) -> None:
    assert n > 0
    assert abs(successes / n - p) <= Z * np.sqrt(p * (1 - p) / n) + 1e-12, (successes, n, p)


def play(env: PavlovianConditioning, policy, seed: int | None = 0, options=None) -> list[dict]:
    """One session with ``policy(t) -> action``, ``t`` the time in trial of the coming step."""
    obs, info = env.reset(seed=seed, options=options)
    t, steps, done = info["time_in_trial"], [], False
    while not done:
        a = policy(t)
        nxt, r, done, truncated, info = env.step(a)
        assert truncated is False and env.observation_space.contains(nxt)
        assert info["time_in_trial"] == t
        steps.append({"obs": obs, "action": a, "reward": r, "done": done, **info})
        obs = nxt
        t = t + 1 if t + 1 < env.trial_steps + info["iti"] else 0
    return steps


def never(t):
    return 0


def always(t):
    return 1


CONFIGS = [
    {},
    {"cue_duration": 10, "iti_steps": 0, "p_omission": 0.5},
    {"trial_steps": 2, "cue_step": 0, "delay": 1, "iti_steps": (1, 1), "omission_trials": [0]},
]


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_env_checkers_pass_without_warnings(kwargs):
    env = gym.make(ENV_ID, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=True)
        sb3_check_env(env.unwrapped)


def test_defaults_and_spaces():
    env = gym.make(ENV_ID).unwrapped
    assert isinstance(env, PavlovianConditioning)
    assert (env.trial_steps, env.cue_step, env.delay, env.reward_time) == (20, 5, 10, 15)
    assert (env.reward_size, env.p_omission, env.iti_steps) == (1.0, 0.0, (0, 10))
    assert env.action_space == gym.spaces.Discrete(2)
    assert env.observation_space == gym.spaces.Box(0, 1, (2,), np.float32)
    obs, info = env.reset(seed=0)
    np.testing.assert_array_equal(obs, [0.0, 0.0])
    assert info["time_in_trial"] == 0 and info["trial"] == 0 and not info["cue"]


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"cue_step": 0, "delay": 3, "cue_duration": 4, "trial_steps": 6, "iti_steps": (2, 5)},
     {"trial_steps": 8, "cue_step": 6, "delay": 1, "cue_duration": 2, "reward_size": 2.5}],
)
def test_cue_and_reward_appear_exactly_at_the_configured_steps(kwargs):
    env = gym.make(ENV_ID, n_trials=120, **kwargs).unwrapped
    cue = set(range(env.cue_step, env.cue_step + env.cue_duration))
    rt = env.cue_step + env.delay
    steps = play(env, never, seed=1)
    low, high = env.iti_steps
    by_trial: dict[int, list[dict]] = {}
    for s in steps:
        by_trial.setdefault(s["trial"], []).append(s)
    assert sorted(by_trial) == list(range(120))
    for trial in by_trial.values():
        iti = trial[0]["iti"]
        assert low <= iti <= high and len(trial) == env.trial_steps + iti
        assert [s["time_in_trial"] for s in trial] == list(range(len(trial)))
        for s in trial:
            k = s["time_in_trial"]
            assert s["cue"] == (k in cue) and s["obs"][0] == float(k in cue)
            assert s["us"] == (k == rt) and s["obs"][1] == float(k == rt)
            assert s["reward"] == (env.reward_size if k == rt else 0.0)
            assert s["reward_time"] == rt
    assert sum(s["reward"] for s in steps) == pytest.approx(120 * env.reward_size)
    assert [s["done"] for s in steps].count(True) == 1 and steps[-1]["done"]
    itis = Counter(t[0]["iti"] for t in by_trial.values())
    assert set(itis) == set(range(low, high + 1))


def test_omission_probability_within_binomial_ci():
    env = gym.make(ENV_ID, n_trials=4000, trial_steps=3, cue_step=0, delay=1, iti_steps=0,
                   p_omission=0.3).unwrapped
    steps = play(env, never, seed=2)
    omitted = [s["omitted"] for s in steps if s["time_in_trial"] == 0]
    assert len(omitted) == 4000
    assert_rate_in_ci(sum(omitted), 4000, 0.3)
    rewarded = [s["reward"] for s in steps if s["time_in_trial"] == 1]
    assert rewarded == [0.0 if o else 1.0 for o in omitted]  # omission <=> no US
    assert not any(s["us"] for s in steps if s["omitted"])


def test_forced_omissions_and_reset_options():
    kw = {"n_trials": 60, "trial_steps": 5, "cue_step": 1, "delay": 2, "iti_steps": (0, 2)}
    env = gym.make(ENV_ID, omission_trials=[40, 41, 55], **kw).unwrapped
    df = record_session(env, lambda obs, info: 0, seed=3)
    assert df.index[df["omitted"]].tolist() == [40, 41, 55]
    assert (df["reward"] == np.where(df["omitted"], 0.0, 1.0)).all()
    steps = play(env, never, seed=3, options={"omission_trials": [0, 59]})
    omitted = sorted({s["trial"] for s in steps if s["omitted"]})
    assert omitted == [0, 59]
    assert sum(s["reward"] for s in steps) == 58.0
    # the override lasts one session: the next reset goes back to the constructor's list
    steps = play(env, never, seed=3)
    assert sorted({s["trial"] for s in steps if s["omitted"]}) == [40, 41, 55]


def test_reward_and_observations_do_not_depend_on_the_action():
    env = gym.make(ENV_ID, n_trials=50, p_omission=0.4).unwrapped
    rng = np.random.default_rng(0)
    runs = [play(env, p, seed=4) for p in (never, always, lambda t: int(rng.integers(2)))]
    keys = ("obs", "reward", "time_in_trial", "cue", "us", "omitted", "iti", "trial", "done")
    views = [[tuple(np.asarray(s[k]).tobytes() for k in keys) for s in run] for run in runs]
    assert views[0] == views[1] == views[2]


def test_anticipatory_licks_count_only_between_cue_and_reward():
    env = gym.make(ENV_ID, n_trials=30).unwrapped  # cue at 5, reward at 15
    outside = play(env, lambda t: int(t in (4, 15, 16)), seed=5)
    ends = [s for s in outside if env.trial_row(s["action"], s["reward"], s) is not None]
    assert len(ends) == 30
    assert all(s["anticipatory_licks"] == 0 for s in ends)
    inside = play(env, lambda t: int(t in (5, 9, 14)), seed=5)
    rows = [r for s in inside if (r := env.trial_row(s["action"], s["reward"], s)) is not None]
    assert [r["anticipatory_licks"] for r in rows] == [3] * 30
    assert [r["choice"] for r in rows] == [1] * 30


def test_trial_table():
    env = gym.make(ENV_ID, n_trials=40, omission_trials=[39])
    df = record_session(env, lambda obs, info: 1, seed=6, subject="m1")
    assert len(df) == 40 and list(df["trial"]) == list(range(40))
    assert (df["state"] == 0).all() and (df["choice"] == 1).all()
    assert (df["anticipatory_licks"] == 10).all()  # licking at every step of [5, 15)
    assert df["reward"].tolist() == [1.0] * 39 + [0.0]
    assert df["omitted"].tolist() == [False] * 39 + [True]
    assert df["iti"].between(0, 10).all()


def test_td_prediction_error_moves_from_reward_to_cue():
    """Schultz, Dayan & Montague (1997): a TD(0) learner with a tapped delay line from cue onset."""
    env = gym.make(ENV_ID, n_trials=300, trial_steps=10, cue_step=2, delay=4,
                   iti_steps=(0, 3)).unwrapped
    gamma, alpha, length = 0.95, 0.3, env.trial_steps - env.cue_step
    w = np.zeros(length)

    def features(obs, since):  # since: steps since the last cue onset, None when inactive
        since = 0 if obs[0] == 1.0 and since is None else None if since is None else since + 1
        since = since if since is not None and since < length else None
        x = np.zeros(length)
        if since is not None:
            x[since] = 1.0
        return x, since

    obs, _ = env.reset(seed=7, options={"omission_trials": [299]})
    x, since = features(obs, None)
    deltas: dict[tuple[int, int], float] = {}
    done = False
    while not done:
        obs, r, done, _, info = env.step(0)
        x_next, since = features(obs, since)
        delta = r + (0.0 if done else gamma * w @ x_next) - w @ x
        w += alpha * delta * x
        deltas[info["trial"], info["time_in_trial"]] = delta
        x = x_next

    cue_transition, rt = env.cue_step - 1, env.reward_time
    first = {k: d for (trial, k), d in deltas.items() if trial == 0}
    assert first[rt] == pytest.approx(1.0)
    assert all(d == 0 for k, d in first.items() if k != rt)
    late = range(250, 299)
    assert np.allclose([deltas[t, cue_transition] for t in late], gamma ** (env.delay + 1), atol=0.02)
    assert np.allclose([deltas[t, rt] for t in late], 0.0, atol=0.02)
    assert deltas[299, rt] == pytest.approx(-1.0, abs=0.02)  # omission after learning: a dip


def test_same_seed_same_rollout():
    def run(seed):
        env = gym.make(ENV_ID, n_trials=20, p_omission=0.3)
        env.action_space.seed(seed)
        obs, _ = env.reset(seed=seed)
        out, done = [obs.tobytes()], False
        while not done:
            obs, r, done, _, info = env.step(env.action_space.sample())
            out.append((obs.tobytes(), r, tuple(info.values())))
        return out

    assert run(1) == run(1)
    assert run(1) != run(2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_trials": 0}, r"^PavlovianConditioning: n_trials must be an integer in \[1, 1000000\], got 0$"),
        ({"trial_steps": 1}, r"trial_steps must be an integer in \[2, 1000000\], got 1"),
        ({"cue_step": -1}, r"cue_step must be an integer in \[0, 1000000\], got -1"),
        ({"delay": 0}, r"delay must be an integer in \[1, 1000000\], got 0"),
        ({"cue_step": 5, "delay": 15}, "cue_step \\+ delay must be < trial_steps=20"),
        ({"cue_duration": 0}, r"cue_duration must be an integer in \[1, 1000000\], got 0"),
        ({"cue_duration": 16}, "cue_duration must be <= trial_steps - cue_step = 15, got 16"),
        ({"reward_size": float("nan")}, r"reward_size must be a finite number in \[-1e\+06, 1e\+06\], got nan"),
        ({"reward_size": "big"}, "reward_size must be a finite number .*, got 'big'"),
        ({"reward_size": 1e7}, "reward_size must be .*, got 10000000.0"),
        ({"p_omission": 1.2}, r"p_omission must be a finite number in \[0, 1\], got 1.2"),
        ({"omission_trials": [100]}, r"omission_trials must be .* in \[0, 99\], got \[100\]"),
        ({"omission_trials": [-1]}, r"omission_trials must be .*, got \[-1\]"),
        ({"omission_trials": 3}, "omission_trials must be .*, got 3"),
        ({"iti_steps": (5, 2)}, r"iti_steps must be .*low <= high <= 1000000, got \(5, 2\)"),
        ({"iti_steps": -1}, r"iti_steps must be an integer or a pair \(low, high\) of integers with 0 <= low <= high <= 1000000, got -1"),
        ({"iti_steps": 10**7}, "iti_steps must be .*, got 10000000"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PavlovianConditioning(**kwargs)


def test_bad_reset_option_and_action():
    env = PavlovianConditioning(n_trials=10)
    with pytest.raises(
        ValueError,
        match=r"^PavlovianConditioning.reset: options\[\"omission_trials\"\] must be .* \[0, 9\], got \[10\]$",
    ):
        env.reset(seed=0, options={"omission_trials": [10]})
    env.reset(seed=0)
    with pytest.raises(
        ValueError,
        match=r"^PavlovianConditioning.step: action must be an integer in \[0, 1\] \(action_space Discrete\(2\)\), got 2$",
    ):
        env.step(2)
