"""The deterministic two-step task of Kool, Cushman & Gershman (2016), with stakes."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import cogmodels  # noqa: F401
from cogmodels.envs.kool_two_step import KoolTwoStep

ENV_ID = "cogmodels/KoolTwoStep-v0"


def _play(env: KoolTwoStep, seed: int) -> list[tuple]:
    obs, info = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    rows, done = [], False
    while not done:
        a = int(rng.integers(2))
        shown = obs.copy()
        obs, r, done, _, info = env.step(a)
        rows.append((int(shown[:2].argmax()), float(shown[2]), a, r, info))
    return rows


def test_passes_gymnasium_env_checker():
    check_env(gym.make(ENV_ID, n_trials=10).unwrapped, skip_render_check=True)


def test_deterministic_transitions_and_points_times_stakes():
    rows = _play(KoolTwoStep(n_trials=500, p_high=0.5), seed=2)
    for state, stake, a, r, info in rows:
        assert info["state"] == state and info["stakes"] == stake and info["state2"] == a
        assert r == info["points"][a] * stake
    points = np.array([info["points"] for *_, info in rows])
    assert points.min() >= 0 and points.max() <= 9 and (points == np.round(points)).all()
    # the walk moves: steps of round(N(0, 2)) are 0 with probability 0.19 only
    assert (np.diff(points, axis=0) != 0).mean() > 0.6
    states = np.array([s for s, *_ in rows])
    stakes = np.array([s for _, s, *_ in rows])
    # P = 1/2 each over 500 trials: s.d. of a share 0.022; ±0.08 is beyond 3.5 s.d.
    assert states.mean() == pytest.approx(0.5, abs=0.08) and (stakes == 5.0).mean() == pytest.approx(0.5, abs=0.08)


def test_same_seed_same_session_and_fixed_points():
    a, b = KoolTwoStep(n_trials=30), KoolTwoStep(n_trials=30)
    assert [r[:4] for r in _play(a, 5)] == [r[:4] for r in _play(b, 5)]
    _, info = KoolTwoStep(points=(2, 7)).reset(seed=0)
    assert info["points"] == (2.0, 7.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"points": (3, 12)}, r"^KoolTwoStep: points"),
     ({"p_high": -0.1}, r"^KoolTwoStep: p_high must be a finite number in \[0, 1\], got -0\.1")],
)
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        KoolTwoStep(**kwargs)
