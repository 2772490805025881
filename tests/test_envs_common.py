"""Every registered environment: both env checkers, seeding, docstrings, wrappers, vector entry."""

from __future__ import annotations

import re
import warnings

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import cogmodels  # noqa: F401
from cogmodels.envs import ENV_IDS, SessionEndedError
from cogmodels.envs.wrappers import PreviousActionReward, RecordTrials, record_session

SECTIONS = (
    "## Description",
    "## Action Space",
    "## Observation Space",
    "## Rewards",
    "## Starting State",
    "## Episode End",
    "## Information",
    "## Arguments",
    "## References",
)
VECTOR_IDS = [i for i in ENV_IDS if gym.spec(i).vector_entry_point is not None]
#: short sessions for the tasks whose default session is long under random actions
SHORT = {i: {"n_trials": 4, "timeout": 1.0} for i in ENV_IDS if "CursorBCI" in i}


def _make(env_id: str, **kwargs) -> gym.Env:
    return gym.make(env_id, **{**SHORT.get(env_id, {}), **kwargs})


def _make_vec(env_id: str, num_envs: int) -> gym.vector.VectorEnv:
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point",
                        **SHORT.get(env_id, {}))


def _null_actions(space: gym.Space, n: int | None = None) -> np.ndarray:
    """Action 0 (discrete) or the zero vector (continuous), for one env or ``n`` copies."""
    shape = () if n is None else (n,)
    if isinstance(space, gym.spaces.Discrete):
        return np.zeros(shape, dtype=np.int64) if n is not None else 0
    return np.zeros(shape + space.shape, dtype=space.dtype)


def _rollout(env: gym.Env, seed: int, steps: int = 300) -> list:
    env.action_space.seed(seed)
    obs, info = env.reset(seed=seed)
    out = [obs.tobytes()]
    for _ in range(steps):
        obs, r, term, trunc, info = env.step(env.action_space.sample())
        out.append((obs.tobytes(), float(r), term, trunc))
        if term or trunc:
            obs, info = env.reset()
            out.append(obs.tobytes())
    return out


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_gymnasium_env_checker(env_id):
    env = gym.make(env_id)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check_env(env.unwrapped, skip_render_check=True)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_sb3_env_checker(env_id):
    env = gym.make(env_id)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sb3_check_env(env.unwrapped, warn=True)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_same_seed_same_rollout(env_id):
    a = _rollout(_make(env_id), seed=3)
    b = _rollout(_make(env_id), seed=3)
    c = _rollout(_make(env_id), seed=4)
    assert a == b
    assert a != c


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_docstring_sections(env_id):
    doc = type(gym.make(env_id).unwrapped).__doc__
    missing = [s for s in SECTIONS if s not in doc]
    assert not missing, f"{env_id} docstring lacks {missing}"


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_session_ends_with_terminated_and_records_trial_table(env_id):
    env = _make(env_id)
    env.action_space.seed(0)
    df = record_session(env, lambda obs, info: env.action_space.sample(), seed=1, subject="s1")
    n_trials = env.unwrapped.n_trials
    if env.unwrapped.fixed_length:
        assert len(df) == n_trials
    else:  # n_trials is the most a session can last
        assert 0 < len(df) <= n_trials
    assert list(df["trial"]) == list(range(len(df)))
    assert (df["subject"] == "s1").all() and (df["session"] == 0).all()
    for col in ("state", "choice", "reward"):
        assert col in df.columns
    if isinstance(env.action_space, gym.spaces.Discrete):
        assert df["choice"].dtype == pd.Int64Dtype()
    else:  # continuous control: no discrete choice
        assert df["choice"].isna().all()


def test_record_trials_counts_sessions():
    env = RecordTrials(gym.make("cogmodels/MultiArmedBandit-v0", n_trials=5), subject=7)
    for s in range(3):
        env.reset(seed=s)
        for _ in range(5):
            env.step(0)
    df = env.table()
    assert df.groupby("session").size().tolist() == [5, 5, 5]
    assert (df["choice"] == 0).all()


def test_record_trials_rejects_foreign_env():
    with pytest.raises(ValueError, match="cogmodels task environment"):
        RecordTrials(gym.make("CartPole-v1"))


def test_previous_action_reward_wrapper():
    env = PreviousActionReward(gym.make("cogmodels/MultiArmedBandit-v0", means=[1.0, 0.0]))
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs, [1.0, 0.0, 0.0, 0.0])
    obs, r, *_ = env.step(0)
    np.testing.assert_array_equal(obs, [1.0, 1.0, 0.0, 1.0])
    obs, r, *_ = env.step(1)
    np.testing.assert_array_equal(obs, [1.0, 0.0, 1.0, 0.0])
    assert env.observation_space.contains(obs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=".*different from the unwrapped version")
        gym_check_env(env, skip_render_check=True)


def test_previous_action_reward_needs_discrete_actions():
    with pytest.raises(ValueError, match="Discrete action space"):
        PreviousActionReward(gym.make("MountainCarContinuous-v0"))


@pytest.mark.parametrize("env_id", VECTOR_IDS)
def test_vector_entry_point(env_id):
    envs = _make_vec(env_id, 16)
    assert not isinstance(envs, gym.vector.SyncVectorEnv)
    single = gym.make(env_id)
    assert envs.single_observation_space == single.observation_space
    assert envs.single_action_space == single.action_space
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (16, *single.observation_space.shape)
    envs.action_space.seed(0)
    for _ in range(10):
        obs, r, term, trunc, _ = envs.step(envs.action_space.sample())
        assert obs.shape[0] == r.shape[0] == term.shape[0] == 16
        assert envs.observation_space.contains(obs)


@pytest.mark.parametrize("env_id", VECTOR_IDS)
def test_vector_same_seed_same_rollout(env_id):
    def run(seed):
        envs = _make_vec(env_id, 8)
        envs.action_space.seed(seed)
        obs, _ = envs.reset(seed=seed)
        out = [obs.tobytes()]
        for _ in range(50):
            obs, r, term, trunc, _ = envs.step(envs.action_space.sample())
            out.append(obs.tobytes() + r.tobytes() + term.tobytes())
        return out

    assert run(5) == run(5)
    assert run(5) != run(6)


@pytest.mark.parametrize("env_id", VECTOR_IDS)
def test_vector_next_step_autoreset(env_id):
    """After the last step of a session every copy resets on the next step (Gymnasium default)."""
    single = _make(env_id).unwrapped
    steps_per_session = None
    single.reset(seed=0)
    for k in range(1, 10_000):
        *_, term, _, _ = single.step(_null_actions(single.action_space))
        if term:
            steps_per_session = k
            break
    envs = _make_vec(env_id, 4)
    envs.reset(seed=0)
    zeros = _null_actions(single.action_space, 4)
    for k in range(1, steps_per_session + 1):
        _, r, term, _, _ = envs.step(zeros)
        assert term.all() == (k == steps_per_session)
    obs, r, term, trunc, _ = envs.step(zeros)  # the reset step: reward 0, not terminated
    assert (r == 0).all() and not term.any() and not trunc.any()
    reset_obs, _ = envs.reset(seed=1)
    random_first = (*SHORT, "cogmodels/DelayedMatchToSample-v0", "cogmodels/NBack-v0")
    if env_id in random_first:  # spikes or a random first stimulus: a fresh draw at every reset
        assert obs.shape == reset_obs.shape
    else:
        np.testing.assert_array_equal(obs, reset_obs)


def test_vector_rejects_bad_actions_shape():
    envs = gym.make_vec("cogmodels/MultiArmedBandit-v0", num_envs=4, vectorization_mode="vector_entry_point")
    envs.reset(seed=0)
    with pytest.raises(ValueError, match="num_envs=4"):
        envs.step(np.zeros(3, dtype=np.int64))


@pytest.mark.parametrize(
    "env_id, kwargs",
    [(i, {}) for i in ENV_IDS]
    + [("cogmodels/DelayedMatchToSample-v0", {"delay_steps": (1, 3)}),
       ("cogmodels/PavlovianConditioning-v0", {"iti_steps": 4, "n_trials": 10}),
       ("cogmodels/RLWM-v0", {"iterations": 2, "set_sizes": (2, 3)})],
)
def test_steps_per_session_counts_the_steps_of_a_session(env_id, kwargs):
    env = _make(env_id, **kwargs).unwrapped
    env.reset(seed=0)
    env.action_space.seed(0)
    steps, done = 0, False
    while not done:
        *_, term, trunc, _ = env.step(env.action_space.sample())
        steps += 1
        done = term or trunc
    expected = env.steps_per_session
    if expected is None:  # varies: delays or ITIs drawn per trial, or a criterion
        assert env_id in ("cogmodels/DelayedMatchToSample-v0", "cogmodels/PavlovianConditioning-v0",
                          "cogmodels/RLWM-v0", *SHORT) and not kwargs.get("iterations")
    else:
        assert steps == expected


# -- bad input never becomes a wrong answer (issue 16) ---------------------------------------------
DISCRETE_MSG = "MultiArmedBandit.step: action must be an integer in [0, 1] (action_space Discrete(2)), got "


@pytest.mark.parametrize("action", [1.5, "1", b"1", None, True, np.float64(1.0), np.array([1]), -1, 2])
def test_bandit_refuses_what_is_not_an_arm(action):
    env = gym.make("cogmodels/MultiArmedBandit-v0").unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match="^" + re.escape(DISCRETE_MSG + repr(action)) + "$"):
        env.step(action)


@pytest.mark.parametrize("action", [1, np.int64(1), np.int32(1), np.uint8(1), np.array(1)])
def test_bandit_takes_python_and_numpy_integers(action):
    env = gym.make("cogmodels/MultiArmedBandit-v0", means=[0.0, 1.0]).unwrapped
    env.reset(seed=0)
    assert env.step(action)[1] == 1.0


@pytest.mark.parametrize("env_id", ["cogmodels/NBack-v0", "cogmodels/DelayedMatchToSample-v0"])
def test_vector_working_memory_refuses_nan_actions(env_id):
    envs = _make_vec(env_id, 2)
    envs.reset(seed=0)
    name = type(envs).__name__
    n = envs.single_action_space.n
    with pytest.raises(ValueError, match="^" + re.escape(
        f"{name}.step: actions must be an array of shape (2,), one action per copy (num_envs=2), "
        f"each an integer in [0, {n - 1}] (single_action_space Discrete({n})), got "
        "array([ 0., nan]) (shape (2,), dtype float64)") + "$"):
        envs.step(np.array([0, np.nan]))


@pytest.mark.parametrize("shape", [(2, 1), (2, 2), (3,), ()])
def test_vector_refuses_actions_of_the_wrong_shape(shape):
    envs = _make_vec("cogmodels/MultiArmedBandit-v0", 2)
    envs.reset(seed=0)
    with pytest.raises(ValueError, match=re.escape(
        "MultiArmedBanditVector.step: actions must be an array of shape (2,), one action per copy "
        "(num_envs=2), each an integer in [0, 1] (single_action_space Discrete(2)), got array(")
        + ".*" + re.escape(f"(shape {shape}, dtype int64)")):
        envs.step(np.zeros(shape, dtype=np.int64))


def _finish(env: gym.Env) -> None:
    """Play one session to its end with valid actions."""
    env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(100_000):
        if env.step(env.action_space.sample())[2]:
            return
    raise AssertionError("the session did not end")


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_stepping_a_finished_session_raises(env_id):
    env = _make(env_id, n_trials=2).unwrapped if "RLWM" not in env_id else _make(
        env_id, set_sizes=(1,), iterations=1).unwrapped
    name = type(env).__name__
    msg = (f"{name}.step: no session is running (the last one ended, or reset() was never called): "
           "call reset() before step()")
    fresh = type(env)(**({"set_sizes": (1,), "iterations": 1} if "RLWM" in env_id else {}))
    with pytest.raises(SessionEndedError, match="^" + re.escape(msg) + "$"):
        fresh.step(_null_actions(fresh.action_space))
    _finish(env)
    for _ in range(2):
        with pytest.raises(SessionEndedError, match="^" + re.escape(msg) + "$"):
            env.step(_null_actions(env.action_space))
    assert isinstance(SessionEndedError(msg), RuntimeError | gym.error.ResetNeeded)
    env.reset()
    env.step(_null_actions(env.action_space))  # a new session runs


@pytest.mark.parametrize("env_id", VECTOR_IDS)
def test_vector_without_autoreset_refuses_a_finished_copy_until_it_is_reset(env_id):
    kwargs = {**SHORT.get(env_id, {}), "n_trials": 1}
    envs = gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point",
                        autoreset_mode="disabled", **kwargs)
    name = type(envs).__name__
    with pytest.raises(SessionEndedError, match=re.escape(f"{name}.step: no session is running "
                                                          "(reset() was never called)")):
        envs.step(envs.action_space.sample())
    envs.reset(seed=0)
    zeros = _null_actions(envs.single_action_space, 2)
    term = np.zeros(2, dtype=bool)
    while not term.any():
        *_, term, _, _ = envs.step(zeros)
    ended = np.flatnonzero(term).tolist()
    with pytest.raises(SessionEndedError, match="^" + re.escape(
        f"{name}.step: no session is running (the sessions of copies {ended} ended and "
        "autoreset_mode='disabled'; reset them with reset(options={'reset_mask': mask}) or "
        "reset()): call reset() before step()") + "$"):
        envs.step(zeros)
    envs.reset(options={"reset_mask": term.copy()})
    envs.step(zeros)  # runs again
    with pytest.raises(
        ValueError, match=rf'^{name}.reset: options\["reset_mask"\] must be a bool array of shape \(2,\)'
    ):
        envs.reset(options={"reset_mask": [True, False]})


@pytest.mark.parametrize(
    ("env_id", "kwargs", "message"),
    [
        ("TwoStep", {"drift_std": np.inf}, "TwoStep: drift_std must be a finite number in [0, 1], got inf"),
        ("RestlessBandit", {"reward_scale": np.inf},
         "RestlessBandit: reward_scale must be a finite number in (0, 1e+06], got inf"),
        ("RestlessBandit", {"payoff_bounds": (np.inf, np.inf)},
         "RestlessBandit: payoff_bounds must be a pair (low, high) of finite numbers with "
         "-1e+06 <= low <= high <= 1e+06, got (inf, inf)"),
        ("RestlessBandit", {"payoff_std": np.inf},
         "RestlessBandit: payoff_std must be a finite number in [0, 1e+06], got inf"),
        *[("RLWM", {"shuffle_blocks": v}, f"RLWM: shuffle_blocks must be True or False, got {v!r}")
          for v in ("false", "yes", [True], np.nan)],
        ("RLWM", {"max_set_size": 10**12},
         "RLWM: max_set_size must be an integer in [1, 1000], got 1000000000000"),
        ("ReversalLearning", {"n_trials": 10**12},
         "ReversalLearning: n_trials must be an integer in [1, 1000000], got 1000000000000"),
        ("MultiArmedBandit", {"means": "abc"},
         "MultiArmedBandit: means must be an array of shape (2,) of finite numbers in [0, 1], "
         "got 'abc'"),
    ],
)
def test_constructor_values_that_would_break_the_task_later_are_refused(env_id, kwargs, message):
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        gym.make(f"cogmodels/{env_id}-v0", **kwargs)
    if gym.spec(f"cogmodels/{env_id}-v0").vector_entry_point is not None:
        with pytest.raises(ValueError, match="^" + re.escape(message.replace(": ", "Vector: ", 1)) + "$"):
            gym.make_vec(f"cogmodels/{env_id}-v0", num_envs=2,
                         vectorization_mode="vector_entry_point", **kwargs)


def test_vector_sizes_are_bounded():
    with pytest.raises(ValueError, match=re.escape(
            "MultiArmedBanditVector: num_envs must be an integer in [1, 100000], got 1000000")):
        _make_vec("cogmodels/MultiArmedBandit-v0", 10**6)
    with pytest.raises(ValueError, match=re.escape(
            "CursorBCIVector: num_envs must be at most 10000 here (num_envs times the 10000 values "
            "each copy holds must be <= 100000000), got 20000")):
        gym.make_vec("cogmodels/CursorBCI-v0", num_envs=20_000, n_units=10_000,
                     vectorization_mode="vector_entry_point")
