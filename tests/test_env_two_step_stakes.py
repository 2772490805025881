"""The two-step task with stakes (Kool, Gershman & Cushman 2017)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import cogmodels  # noqa: F401
from cogmodels.envs.two_step_stakes import TwoStepStakes
from cogmodels.models import make_model
from cogmodels.simulate import simulate

ENV_ID = "cogmodels/TwoStepStakes-v0"


def _play(env: TwoStepStakes, n_trials: int, seed: int) -> list[tuple]:
    obs, info = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_trials):
        shown = float(obs[3])
        _, r0, _, _, i0 = env.step(int(rng.integers(2)))
        obs, r1, term, _, i1 = env.step(int(rng.integers(2)))
        out.append((shown, i0["stakes"], i1["stakes"], r0, r1))
        if term:
            break
    return out


def test_passes_gymnasium_env_checker():
    check_env(gym.make(ENV_ID, n_trials=10).unwrapped, skip_render_check=True)


def test_stake_is_shown_before_the_trial_and_multiplies_the_win():
    env = TwoStepStakes(n_trials=400, low_stakes=1.0, high_stakes=5.0, p_high=0.3)
    rows = _play(env, 400, seed=3)
    shown, stake0, stake1, r0, r1 = map(np.array, zip(*rows))
    assert (shown == stake0).all() and (stake0 == stake1).all()
    assert (r0 == 0).all() and set(np.unique(r1)) <= {0.0, 1.0, 5.0}
    assert ((r1 == 0) | (r1 == stake1)).all()
    # P(high) = 0.3 over 400 trials: s.d. of the share 0.023, so ±0.08 is beyond 3 s.d.
    assert (stake0 == 5.0).mean() == pytest.approx(0.3, abs=0.08)


def test_same_seed_same_session():
    a, b = TwoStepStakes(n_trials=50), TwoStepStakes(n_trials=50)
    assert _play(a, 50, seed=7) == _play(b, 50, seed=7)


def test_simulated_table_has_stakes_and_points():
    sim = simulate(make_model("two_step_stakes"), make_model("two_step_stakes").default_params(), ENV_ID,
                   n_subjects=2, seed=0, env_kwargs={"n_trials": 40}, latents=False, progress=False)
    t = sim.trials
    assert set(t["stakes"]) == {1.0, 5.0} and len(t) == 80
    assert ((t["reward"] == 0) | (t["reward"] == t["stakes"])).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"high_stakes": 0.0}, r"^TwoStepStakes: high_stakes must be a finite number in \(0"),
     ({"p_high": 1.5}, r"^TwoStepStakes: p_high must be a finite number in \[0, 1\], got 1\.5")],
)
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TwoStepStakes(**kwargs)
