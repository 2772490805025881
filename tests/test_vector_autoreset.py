"""Gymnasium's next_step autoreset in native vector envs: the info of the copies a step resets."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest

import cogmodels  # noqa: F401
from cogmodels.envs.bci import CursorBCI, CursorBCIVector
from cogmodels.envs.bci.task import TaskSpec

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


# -- steps that reset some copies ---------------------------------------------------------------

def _desynchronised(vec, sync, actions, n_before: int) -> None:
    """Reset both with the same seed, play ``n_before`` steps, restart lane 0 only."""
    for env in (vec, sync):
        env.reset(seed=4)
        for _ in range(n_before):
            env.step(actions)
        env.reset(options={"reset_mask": np.array([True] + [False] * (env.num_envs - 1))})


def _partial_steps(vec, sync, actions, n_steps: int):
    """Yield ``(reset lanes, native info, SyncVectorEnv info)`` of the steps that reset some lanes."""
    for _ in range(n_steps):
        resets = vec.unwrapped._needs_reset.copy()
        _, _, term, _, info = vec.step(actions)
        _, _, sync_term, _, sync_info = sync.step(actions)
        np.testing.assert_array_equal(term, sync_term)
        yield resets, info, sync_info


def _batched(value: np.ndarray) -> np.ndarray:
    """A SyncVectorEnv entry as numbers: its object arrays (tuples per copy) stacked."""
    return np.stack([np.asarray(v, dtype=float) for v in value]) if value.dtype == object else value


@pytest.mark.parametrize("n_trials", [1, 2])
def test_lanes_reset_on_a_step_hold_the_reset_info_lane_by_lane_as_in_sync_vector_env(n_trials):
    """Where some copies reset under next_step, their info is the reset's (SyncVectorEnv's
    ``_add_info``), not the discarded step's: every entry both envs report (cursor, its velocity,
    target, intended velocity, trial, day, ...) is equal lane by lane with equal ``_key`` masks on
    every step, and the native env's step-only entries (trial_completed, the outcomes) are masked
    off (and 0) in the reset lanes. One target direction and fixed decoded velocities (lane 0
    reaches the target, lane 1 times out) keep these latents free of the random stream, so the two
    envs agree although their streams differ. Before, the restarted lane's first bin reported the
    old session's cursor, velocities and trial counter."""
    task = dataclasses.replace(TaskSpec.create(n_trials=n_trials, timeout=1.0, hold_time=0.1),
                               n_directions=1)
    vec = CursorBCIVector(num_envs=2, n_units=16, task=task)
    sync = gym.vector.SyncVectorEnv([lambda: CursorBCI(n_units=16, task=task)] * 2)
    actions = np.array([[0.6, 0.0], [0.3, 0.1]])
    _desynchronised(vec, sync, actions, 10)
    partial = 0
    for resets, info, sync_info in _partial_steps(vec, sync, actions, 300):
        common = set(info) & set(sync_info)
        assert {"cursor", "intended_velocity", "trial", "_cursor"} <= common
        for key in common:
            np.testing.assert_array_equal(info[key], _batched(sync_info[key]), err_msg=key)
        if resets.any() and not resets.all():
            partial += 1
            for key in ("trial_completed", "success", "state", "time_to_target"):
                assert not info[f"_{key}"][resets].any()
                assert not np.asarray(info[key])[resets].any()  # 0, as _add_info leaves it
            np.testing.assert_array_equal(info["cursor"][resets], 0.0)  # the new session's centre
    assert partial >= 4  # each lane restarted alone, several times


def test_a_cognitive_vector_env_masks_the_discarded_step_in_the_lanes_it_resets():
    """The bandit with fixed means (its info then does not depend on the random stream): on a
    step that resets some copies, ``regret`` is 0 with its mask False there, exactly as
    SyncVectorEnv over the single task gives it; in the other copies both hold the step's
    ``means`` and ``regret``. (The single bandit's reset info holds ``means``; the native one has
    no reset info, so its ``_means`` is False in the reset copies.)"""
    kw = {"n_actions": 3, "n_trials": 3, "means": (0.2, 0.5, 0.9)}
    vec = gym.make_vec("cogmodels/MultiArmedBandit-v0", num_envs=3,
                       vectorization_mode="vector_entry_point", **kw)
    sync = gym.vector.SyncVectorEnv([lambda: gym.make("cogmodels/MultiArmedBandit-v0", **kw)] * 3)
    actions = np.array([0, 1, 2])
    _desynchronised(vec, sync, actions, 1)
    partial = 0
    for resets, info, sync_info in _partial_steps(vec, sync, actions, 12):
        np.testing.assert_array_equal(info["regret"], sync_info["regret"])
        np.testing.assert_array_equal(info["_regret"], sync_info["_regret"])
        played = ~resets
        np.testing.assert_array_equal(info["means"][played], np.stack(sync_info["means"][played]))
        if resets.any() and not resets.all():
            partial += 1
            assert not info["_means"][resets].any() and not info["means"][resets].any()
            assert info["_means"][played].all()
    assert partial >= 4
