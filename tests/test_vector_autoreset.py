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


def test_a_step_that_resets_every_cognitive_copy_returns_their_reset_info():
    """The native bandit's reset info is the single bandit's (``means``, ``best_arm``), so the
    next_step step that resets every copy returns it, masks all True, the new sessions' means
    (before, the cognitive vector envs returned an empty info there)."""
    vec = gym.make_vec("cogmodels/MultiArmedBandit-v0", num_envs=3, vectorization_mode="vector_entry_point",
                       n_trials=2)
    _, first = vec.reset(seed=0)
    assert sorted(first) == ["_best_arm", "_means", "best_arm", "means"]
    actions = np.zeros(3, dtype=np.int64)
    vec.step(actions)
    _, _, terminated, _, _ = vec.step(actions)
    assert terminated.all()
    _, reward, terminated, _, info = vec.step(actions)
    assert sorted(info) == sorted(first) and info["_means"].all() and info["_best_arm"].all()
    means = vec.unwrapped.means
    np.testing.assert_array_equal(info["means"], means)
    np.testing.assert_array_equal(info["best_arm"], means.argmax(axis=1))
    assert not np.array_equal(means, first["means"])  # the new sessions' arms
    assert reward.tolist() == [0.0] * 3 and not terminated.any()


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
    ``means`` and ``regret``, and the reset copies hold their reset's ``means`` and
    ``best_arm`` (masks True there only)."""
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
        np.testing.assert_array_equal(info["means"], _batched(sync_info["means"]))
        np.testing.assert_array_equal(info["_means"], sync_info["_means"])
        if resets.any() and not resets.all():
            partial += 1
            assert info["_means"].all()
            np.testing.assert_array_equal(info["_best_arm"], resets)
            np.testing.assert_array_equal(info["best_arm"][resets], 2)
    assert partial >= 4


# -- one generator per copy: the single tasks, copy by copy ---------------------------------------

#: the cognitive vector tasks, with settings whose draws are masked by copy (criterion delays and
#: reversal probabilities, the switch schedule, delays of varying length so that copies'
#: sessions end on different steps) and sessions short enough to end several times
LANE_TASKS = {
    "bandit": ("cogmodels/MultiArmedBandit-v0", {"n_actions": 3, "n_trials": 5}),
    "bandit_gaussian": ("cogmodels/MultiArmedBandit-v0", {"n_trials": 4, "reward_type": "gaussian"}),
    "reversal_criterion": ("cogmodels/ReversalLearning-v0", {
        "n_actions": 3, "n_trials": 9, "mode": "criterion", "criterion": (2, 3), "criterion_delay": (0, 2),
        "p_reversal": 0.5}),
    "two_step": ("cogmodels/TwoStep-v0", {"n_trials": 4}),
    "two_step_switch": ("cogmodels/TwoStep-v0", {"n_trials": 4, "schedule": "switch", "p_switch": 0.4}),
    "delayed_match": ("cogmodels/DelayedMatchToSample-v0", {"n_trials": 3, "delay_steps": (1, 3)}),
    "nback": ("cogmodels/NBack-v0", {"n_trials": 6}),
}
MODES = {"next_step": gym.vector.AutoresetMode.NEXT_STEP, "same_step": gym.vector.AutoresetMode.SAME_STEP}


def _assert_same_info(ours: dict, theirs: dict, where: str) -> None:
    """Every entry of SyncVectorEnv's info is in ours with the same ``_key`` mask and, where the
    mask is True, the same value (a tuple of the single task is a row of ours); ours reports
    nothing SyncVectorEnv does not (an extra entry is masked off everywhere)."""
    for key, value in theirs.items():
        if key.startswith("_") or key == "final_obs":
            continue
        if isinstance(value, dict):  # same_step's final_info
            _assert_same_info(ours[key], value, f"{where} {key}")
            continue
        np.testing.assert_array_equal(ours[f"_{key}"], theirs[f"_{key}"], err_msg=f"{where} _{key}")
        for i in np.flatnonzero(theirs[f"_{key}"]):
            np.testing.assert_array_equal(np.asarray(ours[key][i]), np.asarray(value[i]),
                                          err_msg=f"{where} {key}[{i}]")
    for key in ours:
        if not key.startswith("_") and key not in theirs and key != "final_obs":
            assert not np.asarray(ours[f"_{key}"]).any(), f"{where}: {key} only in ours"


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("task", list(LANE_TASKS))
def test_copies_seeded_one_by_one_are_the_single_tasks_of_sync_vector_env(task, mode):
    """``reset(seed=[s_0, ...])`` gives every copy its own generator, seeded as the single task's
    ``reset(seed=s_i)``: observations, rewards, ends and info are SyncVectorEnv's over the single
    task with the same seeds, lane by lane, on every step of random actions (two copies restarted
    early, so sessions end on different steps: next_step's discarded steps draw nothing from the
    copies' streams; same_step's final_info), at the reset and at resets of some copies; reset
    info included (the five cognitive vector tasks had none)."""
    env_id, kw = LANE_TASKS[task]
    vec = gym.make_vec(env_id, num_envs=4, vectorization_mode="vector_entry_point", autoreset_mode=mode, **kw)
    sync = gym.vector.SyncVectorEnv([lambda: gym.make(env_id, **kw)] * 4, autoreset_mode=MODES[mode])
    seeds = [3, 9, 27, 81]
    (obs, info), (sync_obs, sync_info) = vec.reset(seed=seeds), sync.reset(seed=seeds)
    np.testing.assert_array_equal(obs, sync_obs)
    assert info and sorted(info) == sorted(sync_info)
    _assert_same_info(info, sync_info, "reset")
    rng = np.random.default_rng(0)
    ends = 0
    for t in range(60):
        if t == 2:  # restart two copies: sessions of fixed length then end on different steps
            mask = np.array([True, False, False, True])
            (obs, info), (sync_obs, sync_info) = (env.reset(options={"reset_mask": mask}) for env in (vec, sync))
            np.testing.assert_array_equal(obs, sync_obs)
            _assert_same_info(info, sync_info, "reset of copies 0 and 3")
        actions = rng.integers(0, vec.single_action_space.n, 4)
        *out, info = vec.step(actions)
        *sync_out, sync_info = sync.step(actions)
        for ours, theirs in zip(out, sync_out):
            np.testing.assert_array_equal(ours, theirs, err_msg=f"step {t}")
        _assert_same_info(info, sync_info, f"step {t}")
        ends += int(out[2].sum())
    assert ends >= 8
    mask = np.array([True, False, True, False])
    (obs, info), (sync_obs, sync_info) = (env.reset(options={"reset_mask": mask}) for env in (vec, sync))
    np.testing.assert_array_equal(obs, sync_obs)
    _assert_same_info(info, sync_info, "partial reset")


def test_an_int_seed_keeps_one_generator_for_every_copy():
    """``reset(seed=int)`` keeps the shared generator (the streams of every recorded seed), also
    after copies were seeded one by one; a later reset without a seed goes on with the copies'
    own streams."""
    kw = {"num_envs": 3, "n_trials": 4, "vectorization_mode": "vector_entry_point"}
    make = lambda: gym.make_vec("cogmodels/MultiArmedBandit-v0", **kw)  # noqa: E731
    fresh, reseeded = make(), make()
    reseeded.reset(seed=[1, 2, 3])
    np.testing.assert_array_equal(fresh.reset(seed=5)[1]["means"], reseeded.reset(seed=5)[1]["means"])
    one = gym.make("cogmodels/MultiArmedBandit-v0", n_trials=4)
    one.reset(seed=2)
    lanes = make()
    lanes.reset(seed=[1, 2, 3])
    np.testing.assert_array_equal(lanes.reset()[1]["means"][1], one.reset()[1]["means"])


def test_seeds_one_per_copy_are_checked():
    from cogmodels.envs.bci import CursorBCIVector

    vec = gym.make_vec("cogmodels/TwoStep-v0", num_envs=2, vectorization_mode="vector_entry_point")
    for bad in ([1], [1, 2, 3], [1, -1], [True, 2], [1.5, 2], ["1", 2]):
        with pytest.raises(ValueError, match=r"TwoStepVector.reset: seed must be an int >= 0, None or "
                                             r"a list of 2 of them \(one per copy\), got"):
            vec.reset(seed=bad)
    with pytest.raises(ValueError, match=r'a list of seeds with options\["reset_mask"\] needs per-copy '
                                         "generators already"):
        vec.reset(seed=[1, 2], options={"reset_mask": np.array([True, False])})
    vec.reset(seed=[1, None])  # None: a copy seeded from fresh entropy, as SyncVectorEnv
    with pytest.raises(ValueError, match=r"CursorBCIVector.reset: seed must be an int >= 0 or None "
                                         r"\(this task's copies share one generator\), got"):
        CursorBCIVector(num_envs=2, n_units=8).reset(seed=[1, 2])


def test_lane_generators_draw_lanes_first_from_each_copys_stream():
    from cogmodels.envs.core import LaneGenerators, lane_draws

    lanes = LaneGenerators([np.random.default_rng(s) for s in (1, 2, 3)])
    picked = lane_draws(lanes, np.array([True, False, True]))
    np.testing.assert_array_equal(picked.uniform(0.0, 2.0, size=(2, 4)),
                                  [np.random.default_rng(s).uniform(0.0, 2.0, 4) for s in (1, 3)])
    # then one integer per copy, each from its own stream (copy 1 drew nothing before)
    streams = [np.random.default_rng(s) for s in (1, 2, 3)]
    for g in streams[::2]:
        g.uniform(0.0, 2.0, 4)
    np.testing.assert_array_equal(lanes.integers(5, size=3), [g.integers(5) for g in streams])
    assert picked.select(np.zeros(2, dtype=bool)).random(0).shape == (0,)
    shared = np.random.default_rng(0)
    assert lane_draws(shared, np.array([True])) is shared  # one generator: one call, as before
    with pytest.raises(ValueError, match=r"LaneGenerators: size must start with the 3 copies drawn "
                                         r"for \(lanes first\), got \(4,\)"):
        lanes.random(4)
