"""A calibration block longer than the environment's session: it goes on in fresh sessions."""

from __future__ import annotations

import numpy as np
import pytest

import cogmodels  # noqa: F401
from cogmodels.agents.decoders.session import calibration_block
from cogmodels.envs.bci import CursorBCIVector

#: sessions of two short trials: the cursor reaches a target well within a second, and a trial
#: times out after 1 s, so a 4 s block spans several sessions of every lane
KW = {"num_envs": 2, "n_units": 16, "n_trials": 2, "hold_time": 0.1, "timeout": 1.0}


@pytest.mark.parametrize("mode", ["next_step", "same_step", "disabled"])
@pytest.mark.parametrize("paradigm", ["intention", "observation"])
def test_a_block_longer_than_the_session_goes_on_in_sessions_of_its_own_day_and_paradigm(mode, paradigm):
    """A 4 s block gives 200 bins of 20 ms in every lane whatever the session's length and the
    env's autoreset mode; a lane whose session runs out of trials starts a new one on the
    block's day and in the block's paradigm (autoreset alone would move it on by
    ``days_per_session`` and into closed loop). Before: ``KeyError: 'intended_velocity'`` where
    every lane ended on one step, and a ``SessionEndedError`` with autoreset disabled."""
    env = CursorBCIVector(**KW, autoreset_mode=mode, days_per_session=3)
    env.reset(seed=1)
    counts, labels = calibration_block(env, 4.0, day=5, paradigm=paradigm)
    assert counts.shape == (200, 2, 16) and labels.shape == (200, 2, 2)
    assert env.day.tolist() == [5, 5]
    assert env._loop.open_loop.tolist() == [paradigm != "intention"] * 2
    assert env._loop.trial.max() <= 1  # the trials of the current session: the sessions restarted
    assert np.isfinite(labels).all() and (np.abs(labels).sum(axis=(0, 2)) > 0).all()


def test_the_block_keeps_its_bins_where_no_session_ends():
    """Where no session ends inside the block, the block is the one played before the fix: the
    same counts and labels as stepping the env by hand with the intended velocity."""
    env = CursorBCIVector(num_envs=2, n_units=16, n_trials=10**6)
    env.reset(seed=2)
    counts, labels = calibration_block(env, 1.0)
    env.reset(seed=2)
    obs, info = env.reset(options={"day": env.day})
    for t in range(50):
        np.testing.assert_array_equal(counts[t], obs)
        np.testing.assert_array_equal(labels[t], info["intended_velocity"])
        obs, _, _, _, info = env.step(info["intended_velocity"])
