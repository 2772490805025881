"""Tests of the RLWM set-size task (Collins & Frank 2012)."""

from __future__ import annotations

from collections import Counter

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest

import cogmodels  # noqa: F401  (registers the environments)
from cogmodels.envs import SessionEndedError
from cogmodels.envs.rlwm import DEFAULT_SET_SIZES, RLWM
from cogmodels.envs.wrappers import record_session
from cogmodels.fits import setsize_curves
from cogmodels.models import make_model
from cogmodels.simulate import simulate

ENV_ID = "cogmodels/RLWM-v0"


def play(env: RLWM, policy, seed: int):
    """One session; ``policy(obs, correct_action, rng) -> action``; the trial table."""
    rng = np.random.default_rng(seed)
    return record_session(
        env, lambda obs, info: policy(obs, env._correct[env._stim], rng), seed=seed
    )


def oracle(obs, correct, rng):
    return int(correct)


def random_policy(obs, correct, rng):
    return int(rng.integers(3))


def test_spaces_and_defaults():
    env = gym.make(ENV_ID).unwrapped
    assert env.action_space == gym.spaces.Discrete(3)
    assert env.observation_space == gym.spaces.Box(0, 1, (8,), np.float32)
    assert env.set_sizes == DEFAULT_SET_SIZES and len(DEFAULT_SET_SIZES) == 18
    assert env.n_trials == sum(DEFAULT_SET_SIZES) * 15
    assert not env.fixed_length


def test_blocks_follow_the_design():
    env = RLWM()
    df = play(env, random_policy, seed=0)
    blocks = df.groupby("block")
    assert Counter(blocks["set_size"].first()) == Counter(DEFAULT_SET_SIZES)
    for _, b in blocks:
        ns = b["set_size"].iloc[0]
        assert sorted(b["state"].unique()) == list(range(ns))
        per_stim = b.groupby("state")
        assert per_stim["correct_action"].nunique().eq(1).all()  # one correct action per stimulus
        shown = per_stim.size()
        assert shown.min() >= 9 and shown.max() <= 15
        # the first 9 x ns trials show every stimulus exactly 9 times
        assert (b.iloc[: 9 * ns].groupby("state").size() == 9).all()
        # iteration counts presentations
        np.testing.assert_array_equal(b["iteration"], per_stim.cumcount() + 1)
    assert (df["reward"] == (df["choice"] == df["correct_action"])).all()
    assert (df["correct"] == df["reward"]).all()


def test_criterion_ends_blocks_after_the_minimum():
    """An agent that always answers correctly meets (3, 4) at once: every block lasts 9 x n_s."""
    df = play(RLWM(), oracle, seed=1)
    sizes = df.groupby("block").agg(n=("trial", "size"), ns=("set_size", "first"))
    np.testing.assert_array_equal(sizes["n"], 9 * sizes["ns"])
    # a random agent rarely meets it: most stimuli are shown the maximum 15 times
    df = play(RLWM(), random_policy, seed=1)
    shown = df.groupby(["block", "state"]).size()
    assert (shown == 15).mean() > 0.6


def test_fixed_iterations_give_fixed_length():
    env = RLWM(set_sizes=(2, 4), iterations=5)
    assert env.fixed_length and env.n_trials == 30
    df = play(env, random_policy, seed=0)
    assert len(df) == 30


def test_observation_encodes_stimulus_set_size_and_block_start():
    env = RLWM(set_sizes=(3, 2), iterations=2, shuffle_blocks=False)
    obs, info = env.reset(seed=0)
    assert info["set_sizes"] == (3, 2)
    first = True
    for _ in range(10):
        stim = env.trial_context()["state"]
        assert obs[stim] == 1.0 and obs[:6].sum() == 1.0
        assert obs[6] == pytest.approx(env.trial_context()["set_size"] / 6)
        assert obs[7] == (1.0 if first else 0.0)
        block = env.trial_context()["block"]
        obs, _, term, _, _ = env.step(0)
        first = not term and env.trial_context()["block"] != block
    assert term


def test_block_order_is_shuffled_and_options_override_it():
    env = RLWM()
    orders = {env.reset(seed=s)[1]["set_sizes"] for s in range(5)}
    assert len(orders) > 1 and all(Counter(o) == Counter(DEFAULT_SET_SIZES) for o in orders)
    _, info = env.reset(seed=0, options={"set_sizes": [6, 1]})
    assert info["set_sizes"] == (6, 1)


def test_step_after_the_session_ends_raises():
    env = RLWM(set_sizes=(1,), iterations=1)
    env.reset(seed=0)
    *_, term, _, _ = env.step(0)
    assert term
    with pytest.raises(SessionEndedError, match=r"^RLWM.step: no session is running .*call reset"):
        env.step(0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"set_sizes": ()}, r"set_sizes must be a non-empty sequence of integers in \[1, 6\]"),
        ({"set_sizes": (2, 7)}, r"set_sizes must be .* got \(2, 7\)"),
        ({"iterations": (15, 9)}, r"iterations must be .* got \(15, 9\)"),
        ({"iterations": 0}, "iterations must be"),
        ({"criterion": (5, 4)}, r"criterion must be a pair \(k, n\).* got \(5, 4\)"),
        ({"n_actions": 1}, r"^RLWM: n_actions must be an integer in \[2, 1000\], got 1$"),
        ({"max_set_size": 10**12}, r"max_set_size must be an integer in \[1, 1000\], got 1000000000000"),
        ({"iterations": (1, 10**9)}, "iterations must be an integer or a pair"),
        ({"set_sizes": (6,) * 1000, "iterations": 1000}, "must give sessions of at most 1000000 trials"),
        ({"shuffle_blocks": "false"}, "shuffle_blocks must be True or False, got 'false'"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RLWM(**kwargs)


def test_bad_action():
    env = RLWM()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"^RLWM.step: action must be an integer in \[0, 2\] \(action_space Discrete\(3\)\), got 3$"):
        env.step(3)


def _late_accuracy(model: str, params: dict) -> pd.Series:
    m = make_model(model)
    sim = simulate(m, {k: v for k, v in params.items() if k in m.param_names}, ENV_ID,
                   n_subjects=10, seed=0)
    curve = setsize_curves(sim.trials)
    return curve[curve["iteration"].between(6, 9)].groupby("set_size")["p_correct"].mean()


def test_rlwm_model_shows_the_set_size_effect():
    """Collins & Frank (2012), Fig. 2: with capacity K = 3, accuracy late in a block falls with
    set size; the RL-only model's does not."""
    params = {"alpha": 0.03, "rho": 0.95, "K": 3.0, "phi": 0.3, "epsilon": 0.02, "kappa": 0.0,
              "neg_rl": 0.5, "neg_wm": 0.0}
    late = _late_accuracy("rlwm", params)
    assert late.loc[2] > 0.95
    assert late.loc[2] - late.loc[6] > 0.15
    assert late.is_monotonic_decreasing
    rl = _late_accuracy("rl_stimulus", params)
    assert abs(rl.loc[2] - rl.loc[6]) < 0.08
