"""Gymnasium's next_step autoreset when every copy of a native vector env resets on one step."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

import cogmodels  # noqa: F401
from cogmodels.envs.bci import CursorBCI, CursorBCIVector

#: two lanes whose one-trial sessions time out on the same bin (a still cursor never reaches
#: its target): a 1 s timeout = 50 bins of 20 ms (hold 0.1 s)
KW = {"n_units": 16, "n_trials": 1, "timeout": 1.0, "hold_time": 0.1}


def _play_until_every_lane_ends(env, n_lanes: int):
    still = np.zeros((n_lanes, 2))
    for _ in range(100):
        _, _, terminated, _, info = env.step(still)
        if terminated.all():
            return info
    raise AssertionError("the sessions did not end together")


def test_a_step_that_resets_every_copy_returns_the_reset_info_as_gymnasium_does():
    """SyncVectorEnv's next_step autoreset returns the reset info of every copy it resets, so the
    step that resets all of them holds the new sessions' latents (cursor, target ...) with their
    ``_key`` masks all True; before, it returned an empty info and the next bin's
    ``info["cursor"]`` was a KeyError."""
    vec = CursorBCIVector(num_envs=2, **KW)
    _, first = vec.reset(seed=4)
    _play_until_every_lane_ends(vec, 2)
    _, reward, terminated, truncated, info = vec.step(np.ones((2, 2)))  # the autoreset step
    assert sorted(info) == sorted(first)
    for key in ("cursor", "target", "intended_velocity", "day"):
        assert info[f"_{key}"].tolist() == [True, True]
    np.testing.assert_array_equal(info["cursor"], np.zeros((2, 2)))  # centre-out starts at the centre
    np.testing.assert_array_equal(info["cursor"], vec._loop.cursor)
    np.testing.assert_array_equal(info["target"], vec._loop.target)
    assert reward.tolist() == [0.0, 0.0] and not terminated.any() and not truncated.any()
    # the same keys as Gymnasium's own vector env of the single task on its autoreset step
    sync = gym.vector.SyncVectorEnv([lambda: CursorBCI(**KW)] * 2)
    sync.reset(seed=4)
    _play_until_every_lane_ends(sync, 2)
    _, _, _, _, sync_info = sync.step(np.ones((2, 2)))
    assert sorted(info) == sorted(sync_info)


def test_a_vector_env_without_reset_info_keeps_an_empty_one():
    """The cognitive tasks' reset info is empty, so the step that resets every copy has none."""
    vec = gym.make_vec("cogmodels/MultiArmedBandit-v0", num_envs=3, vectorization_mode="vector_entry_point",
                       n_trials=2)
    vec.reset(seed=0)
    actions = np.zeros(3, dtype=np.int64)
    vec.step(actions)
    _, _, terminated, _, _ = vec.step(actions)
    assert terminated.all()
    _, reward, terminated, _, info = vec.step(actions)
    assert info == {} and reward.tolist() == [0.0] * 3 and not terminated.any()
