"""Wilson et al. (2023)'s task: no walls, no speed limit, no re-centring (``walls``, ``v_max=None``)."""

from __future__ import annotations

import numpy as np
import pytest

from cogmodels.agents.decoders.wilson_study import rti_wilson_selection
from cogmodels.envs.bci import CursorBCI, CursorBCIVector, TaskSpec, wilson_task
from cogmodels.envs.bci.loop import make_config

SHORT = {"n_units": 8, "n_trials": 4, "timeout": 0.5, "hold_time": 0.1}


def _push(env: CursorBCI, action, steps: int) -> tuple[np.ndarray, list[dict]]:
    """Step ``env`` with a constant action; return the cursor path and the trial rows."""
    path, rows = [], []
    for _ in range(steps):
        _, _, terminated, _, info = env.step(np.asarray(action, dtype=np.float32))
        path.append(np.array(info["cursor"], dtype=np.float64))
        if "trial_result" in info:
            rows.append(info["trial_result"])
        if terminated:
            break
    return np.array(path), rows


def test_wilson_task_is_their_simulators():
    kw = wilson_task()
    assert kw == {"task": "random_targets", "workspace": 0.5, "target_radius": 0.075,
                  "hold_time": 0.5, "timeout": 10.0, "walls": False, "v_max": None}
    cfg = make_config(**kw)
    assert not cfg.task.walls and cfg.v_max is None and not cfg.task.recenter
    assert cfg.task.target_radius == (0.075, 0.075)
    assert cfg.task.hold_steps == 25 and cfg.task.timeout_steps == 500
    assert cfg.speed_bound == np.inf and cfg.task.position_bound == np.inf
    assert wilson_task() is not wilson_task()  # a fresh dict each call


def test_unbounded_cursor_leaves_the_workspace_at_full_speed_and_is_not_recentred():
    env = CursorBCI(**{**wilson_task(), **SHORT})
    env.reset(seed=0)
    dt = env.config.task.dt
    path, rows = _push(env, (3.0, -2.0), 80)
    # no speed limit: each bin moves dt * action exactly, past the old v_max of 1
    steps = np.diff(path, axis=0)
    np.testing.assert_allclose(steps, np.tile([3.0 * dt, -2.0 * dt], (len(steps), 1)), atol=1e-12)
    # no walls: the cursor is far outside [-0.5, 0.5]^2
    assert path[-1, 0] > 3.0 and path[-1, 1] < -2.0
    # no re-centring: every trial after the first starts where the last one ended
    assert len(rows) >= 3 and all(not r["success"] for r in rows)
    ends = [path[round(sum(r["trial_time"] for r in rows[:i + 1]) / dt) - 1] for i in range(len(rows))]
    for prev_end, row in zip(ends[:-1], rows[1:]):
        np.testing.assert_allclose([row["start_x"], row["start_y"]], prev_end, atol=1e-9)
    assert rows[-1]["start_x"] > 1.0


def test_vector_environment_is_unbounded_too():
    env = CursorBCIVector(num_envs=3, **{**wilson_task(), **SHORT})
    env.reset(seed=1)
    assert env.single_action_space.high.tolist() == [np.inf, np.inf]
    for _ in range(40):
        _, _, _, _, info = env.step(np.full((3, 2), 5.0, dtype=np.float32))
    np.testing.assert_allclose(info["cursor"], 40 * 5.0 * env.config.task.dt, atol=1e-9)


@pytest.mark.parametrize(("walls", "v_max"), [(False, 1.0), (True, None)])
def test_walls_and_speed_limit_are_separate_switches(walls, v_max):
    env = CursorBCI(task="random_targets", walls=walls, v_max=v_max, **SHORT)
    env.reset(seed=0)
    path, _ = _push(env, (4.0, 0.0), 40)
    speed = np.abs(np.diff(path[:, 0])).max() / env.config.task.dt
    if walls:  # unlimited speed, stopped at the wall
        assert speed == pytest.approx(4.0) and path[:, 0].max() == 0.5
    else:  # limited speed, past the wall
        assert speed == pytest.approx(1.0) and path[-1, 0] > 0.5


def test_defaults_keep_walls_speed_limit_and_recentring():
    spec = TaskSpec.create()
    assert spec.walls and spec.recenter and spec.position_bound == spec.workspace
    assert spec.replace(walls=False).arguments()["walls"] is False
    cfg = make_config()
    assert cfg.v_max == 1.0 and cfg.speed_bound == 1.0
    bounded = []
    for kw in ({}, {"walls": True, "v_max": 1.0}):
        env = CursorBCI(task="random_targets", **SHORT, **kw)
        env.reset(seed=3)
        bounded.append(_push(env, (5.0, 5.0), 60)[0])
    np.testing.assert_array_equal(bounded[0], bounded[1])  # the explicit defaults change nothing
    assert bounded[0].max() == 0.5
    assert np.abs(np.diff(bounded[0], axis=0)).max() <= env.config.task.dt + 1e-12


def test_bad_walls_and_v_max_are_refused_by_name():
    with pytest.raises(ValueError, match=r"^CursorBCI: walls must be True or False, got 'no'"):
        CursorBCI(walls="no")
    with pytest.raises(ValueError, match=r"walls must be True with task='grid'.*got walls=False"):
        CursorBCI(task="grid", walls=False)
    with pytest.raises(ValueError, match=r"^CursorBCIVector: v_max must be a finite number in "
                       r"\(0, 1000\] or None \(no speed limit\), got inf"):
        CursorBCIVector(num_envs=2, v_max=float("inf"))


def test_rti_wilson_end_points_follow_the_bounds():
    """Wilson et al.'s RTI rule places the trial's end as the environment moves the cursor."""
    rec = {"cursor": np.array([[[0.45, 0.0]], [[0.49, 0.0]]]),
           "applied": np.array([[[3.0, 0.0]], [[3.0, 0.0]]]),
           "trial_end": np.array([[False], [True]])}
    bounded = make_config()
    free = make_config(**wilson_task())
    for cfg, x in ((bounded, 0.5), (free, 0.49 + 0.02 * 3.0)):
        goal, _ = rti_wilson_selection(rec, 0.02, look_back_s=0.04, min_time_s=0.0,
                                       v_max=cfg.speed_bound, workspace=cfg.task.position_bound)
        assert goal[1, 0, 0] == pytest.approx(x)
