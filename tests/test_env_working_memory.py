"""Tests of the working-memory tasks: delayed match-to-sample and n-back."""

from __future__ import annotations

import warnings
from collections import Counter, deque

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import cogmodels  # noqa: F401  (registers the environments)
from cogmodels.envs.delayed_match import DelayedMatchToSample, DelayedMatchToSampleVector
from cogmodels.envs.nback import NBack, NBackVector
from cogmodels.envs.wrappers import record_session

DMS_ID = "cogmodels/DelayedMatchToSample-v0"
NBACK_ID = "cogmodels/NBack-v0"
Z = 4.0  # width of the binomial confidence intervals, in standard errors


def assert_rate_in_ci(successes: int, n: int, p: float) -> None:
    assert n > 0
    assert abs(successes / n - p) <= Z * np.sqrt(p * (1 - p) / n) + 1e-12, (successes, n, p)


def play(env: gym.Env, policy, seed: int | None = 0) -> list[dict]:
    """One session with ``policy(obs) -> action``; one dict per step (obs seen, action, reward, info)."""
    obs, _ = env.reset(seed=seed)
    steps, done = [], False
    while not done:
        a = policy(obs)
        nxt, r, done, truncated, info = env.step(a)
        assert truncated is False
        assert env.observation_space.contains(nxt)
        steps.append({"obs": obs, "action": a, "reward": r, "done": done, **info})
        obs = nxt
    return steps


def rollout_bytes(env_id: str, seed: int, **kwargs) -> list:
    env = gym.make(env_id, **kwargs)
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    out, done = [obs.tobytes()], False
    while not done:
        obs, r, done, _, info = env.step(env.action_space.sample())
        out.append((obs.tobytes(), r, done, tuple(info.values())))
    return out


# -- delayed match-to-sample ---------------------------------------------------------------------
class DMSOracle:
    """Answers from the observation alone: remembers the sample, compares it with the probe."""

    def __init__(self, n_stimuli: int) -> None:
        self.n_stimuli = n_stimuli
        self.sample = None

    def __call__(self, obs: np.ndarray) -> int:
        stim = obs[: self.n_stimuli]
        if obs[-1] == 1.0:
            return 1 if int(stim.argmax()) == self.sample else 2
        if stim.any():
            self.sample = int(stim.argmax())
        return 0


def trials_of(steps: list[dict]) -> list[list[dict]]:
    """Split a session's steps into trials."""
    out: list[list[dict]] = []
    for s in steps:
        if s["time_in_trial"] == 0:
            out.append([])
        out[-1].append(s)
    return out


DMS_CONFIGS = [
    {},
    {"n_stimuli": 2, "sample_steps": 3, "delay_steps": (0, 4)},
    {"n_stimuli": 8, "delay_steps": 0, "p_match": 1.0, "penalty": -1.0, "early_penalty": -0.5},
]


@pytest.mark.parametrize("kwargs", DMS_CONFIGS)
def test_dms_env_checkers_pass_without_warnings(kwargs):
    env = gym.make(DMS_ID, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=True)
        sb3_check_env(env.unwrapped)


def test_dms_spaces_and_reset_info():
    env = gym.make(DMS_ID).unwrapped
    assert isinstance(env, DelayedMatchToSample)
    assert env.action_space == gym.spaces.Discrete(3)
    assert env.observation_space == gym.spaces.Box(0, 1, (5,), np.float32)
    obs, info = env.reset(seed=0)
    assert info["period"] == "sample" and info["trial"] == 0 and info["time_in_trial"] == 0
    expected = np.zeros(5, dtype=np.float32)
    expected[info["sample"]] = 1.0
    np.testing.assert_array_equal(obs, expected)
    assert info["correct_action"] == (1 if info["match"] else 2)


@pytest.mark.parametrize("kwargs", DMS_CONFIGS[:2])
def test_dms_trial_timeline_and_observations(kwargs):
    env = gym.make(DMS_ID, n_trials=200, **kwargs).unwrapped
    n, k = env.n_stimuli, env.sample_steps
    low, high = env.delay_steps
    steps = play(env, lambda obs: 0, seed=1)
    trials = trials_of(steps)
    assert len(trials) == 200
    assert sum(s["done"] for s in steps) == 1 and steps[-1]["done"]
    for trial in trials:
        d = trial[0]["delay"]
        assert low <= d <= high
        assert [s["period"] for s in trial] == ["sample"] * k + ["delay"] * d + ["test"]
        assert len({(s["trial"], s["sample"], s["probe"], s["match"]) for s in trial}) == 1
        for s in trial:
            stim, respond = s["obs"][:n], s["obs"][-1]
            if s["period"] == "sample":
                assert respond == 0 and stim.argmax() == s["sample"] and stim.sum() == 1
            elif s["period"] == "delay":
                assert not s["obs"].any()
            else:
                assert respond == 1 and stim.argmax() == s["probe"] and stim.sum() == 1
    delays = Counter(t[0]["delay"] for t in trials)
    assert set(delays) == set(range(low, high + 1))  # every delay of the range occurs
    for d in range(low, high + 1):
        assert_rate_in_ci(delays[d], len(trials), 1 / (high - low + 1))


def test_dms_stimulus_statistics():
    env = gym.make(DMS_ID, n_trials=4000, delay_steps=0, p_match=0.3).unwrapped
    tests = [s for s in play(env, lambda obs: 0, seed=2) if s["period"] == "test"]
    matches = [s for s in tests if s["match"]]
    assert_rate_in_ci(len(matches), len(tests), 0.3)
    assert all(s["probe"] == s["sample"] for s in matches)
    non = [s for s in tests if not s["match"]]
    assert all(s["probe"] != s["sample"] for s in non)
    samples = Counter(s["sample"] for s in tests)
    offsets = Counter((s["probe"] - s["sample"]) % 4 for s in non)
    for i in range(4):
        assert_rate_in_ci(samples[i], len(tests), 1 / 4)
    for o in (1, 2, 3):  # non-match probes uniform over the other stimuli
        assert_rate_in_ci(offsets[o], len(non), 1 / 3)


@pytest.mark.parametrize("p_match", [0.0, 1.0])
def test_dms_extreme_match_probabilities(p_match):
    env = gym.make(DMS_ID, n_trials=50, p_match=p_match).unwrapped
    tests = [s for s in play(env, lambda obs: 0, seed=3) if s["period"] == "test"]
    assert all(s["match"] == bool(p_match) for s in tests)


def test_dms_rewards_oracle_anti_oracle_and_miss():
    kw = {"n_trials": 300, "delay_steps": (1, 3), "penalty": -0.5}
    env = gym.make(DMS_ID, **kw).unwrapped
    steps = play(env, DMSOracle(env.n_stimuli), seed=4)
    test = [s for s in steps if s["period"] == "test"]
    assert all(s["action"] == s["correct_action"] and s["reward"] == 1.0 for s in test)
    assert sum(s["reward"] for s in steps) == 300  # nothing outside the test steps

    oracle = DMSOracle(env.n_stimuli)
    steps = play(env, lambda obs: 3 - a if (a := oracle(obs)) else 0, seed=4)
    assert [s["reward"] for s in steps if s["period"] == "test"] == [-0.5] * 300

    steps = play(env, lambda obs: 0, seed=4)  # waiting through the test step is a miss
    assert [s["reward"] for s in steps if s["period"] == "test"] == [-0.5] * 300


def test_dms_random_responses_are_correct_one_third_of_the_time():
    env = gym.make(DMS_ID, n_trials=3000, delay_steps=0).unwrapped
    rng = np.random.default_rng(0)
    steps = play(env, lambda obs: int(rng.integers(3)), seed=5)
    test = [s for s in steps if s["period"] == "test"]
    assert_rate_in_ci(sum(s["reward"] == 1.0 for s in test), len(test), 1 / 3)


def test_dms_early_responses_cost_early_penalty_and_do_not_decide_the_trial():
    env = gym.make(DMS_ID, n_trials=100, sample_steps=2, delay_steps=3, early_penalty=-0.25,
                   penalty=-1.0).unwrapped
    oracle = DMSOracle(env.n_stimuli)

    def impulsive(obs):  # answers the oracle's way at the test step, presses 1 on every other step
        a = oracle(obs)
        return a if obs[-1] == 1.0 else 1

    steps = play(env, impulsive, seed=6)
    early = [s for s in steps if s["period"] != "test"]
    assert len(early) == 100 * 5 and all(s["reward"] == -0.25 for s in early)
    assert all(s["reward"] == 1.0 for s in steps if s["period"] == "test")
    assert all(s["early_responses"] == 5 for s in steps if s["period"] == "test")
    # the same seed gives the same trials whatever the agent does
    calm = play(env, DMSOracle(env.n_stimuli), seed=6)
    assert [s["probe"] for s in calm] == [s["probe"] for s in steps]


def test_dms_trial_table():
    env = gym.make(DMS_ID, n_trials=60, delay_steps=(0, 2))
    oracle = DMSOracle(4)
    df = record_session(env, lambda obs, info: oracle(obs), seed=7, subject="a")
    assert len(df) == 60 and list(df["trial"]) == list(range(60))
    for col in ("state", "probe", "match", "choice", "reward", "correct_action", "delay"):
        assert col in df.columns
    assert (df["choice"] == df["correct_action"]).all() and (df["reward"] == 1.0).all()
    assert (df["correct_action"] == np.where(df["match"], 0, 1)).all()
    assert ((df["state"] == df["probe"]) == df["match"]).all()
    assert df["delay"].between(0, 2).all()
    waiting = record_session(env, lambda obs, info: 0, seed=7)
    assert waiting["choice"].isna().all() and waiting["choice"].dtype == pd.Int64Dtype()
    assert waiting["state"].tolist() == df["state"].tolist()


def test_dms_same_seed_same_rollout():
    kw = {"n_trials": 20, "delay_steps": (0, 3)}
    assert rollout_bytes(DMS_ID, 1, **kw) == rollout_bytes(DMS_ID, 1, **kw)
    assert rollout_bytes(DMS_ID, 1, **kw) != rollout_bytes(DMS_ID, 2, **kw)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_stimuli": 1}, r"^DelayedMatchToSample: n_stimuli must be an integer in \[2, 1000\], got 1$"),
        ({"n_trials": 0}, r"n_trials must be an integer in \[1, 1000000\], got 0"),
        ({"sample_steps": 0}, r"sample_steps must be an integer in \[1, 1000000\], got 0"),
        ({"delay_steps": -1}, r"delay_steps must be an integer or a pair .* got -1"),
        ({"delay_steps": (3, 1)}, r"delay_steps must be .*low <= high <= 1000000, got \(3, 1\)"),
        ({"delay_steps": (1, 2, 3)}, r"delay_steps must be .* got \(1, 2, 3\)"),
        ({"delay_steps": 1.5}, r"delay_steps must be .* got 1.5"),
        ({"p_match": 1.5}, r"p_match must be a finite number in \[0, 1\], got 1.5"),
        ({"penalty": 0.5}, r"penalty must be a finite number in \[-1e\+06, 0\], got 0.5"),
        ({"early_penalty": "x"}, "early_penalty must be a finite number .*, got 'x'"),
    ],
)
def test_dms_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DelayedMatchToSample(**kwargs)


def test_dms_invalid_action():
    env = DelayedMatchToSample()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"^DelayedMatchToSample.step: action must be an integer in \[0, 2\]"):
        env.step(3)


# -- n-back --------------------------------------------------------------------------------------
class NBackOracle:
    """Answers from the observation alone, keeping the last ``n`` items."""

    def __init__(self, n_stimuli: int, n: int) -> None:
        self.n_stimuli = n_stimuli
        self.items: deque[int] = deque(maxlen=n)

    def __call__(self, obs: np.ndarray) -> int:
        if obs[-1] != 1.0:
            return 0
        x = int(obs[: self.n_stimuli].argmax())
        match = len(self.items) == self.items.maxlen and self.items[0] == x
        self.items.append(x)
        return int(match)


NBACK_CONFIGS = [{}, {"n": 1, "n_stimuli": 2}, {"n": 3, "stimulus_steps": 2, "delay_steps": 2}]


@pytest.mark.parametrize("kwargs", NBACK_CONFIGS)
def test_nback_env_checkers_pass_without_warnings(kwargs):
    env = gym.make(NBACK_ID, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=True)
        sb3_check_env(env.unwrapped)


def test_nback_defaults_and_spaces():
    env = gym.make(NBACK_ID).unwrapped
    assert isinstance(env, NBack)
    assert (env.n_stimuli, env.n, env.stimulus_steps, env.delay_steps) == (4, 2, 1, 0)
    assert env.p_match == pytest.approx(1 / 3)
    assert env.action_space == gym.spaces.Discrete(2)
    assert env.observation_space == gym.spaces.Box(0, 1, (5,), np.float32)
    obs, info = env.reset(seed=0)
    assert obs[-1] == 1.0 and obs[info["stimulus"]] == 1.0 and obs.sum() == 2.0
    assert info["item"] == info["trial"] == 0 and info["respond"]


def test_nback_stream_statistics():
    n_items, n = 6000, 2
    env = gym.make(NBACK_ID, n_trials=n_items, n=n, p_match=0.4).unwrapped
    steps = play(env, lambda obs: 0, seed=1)
    assert len(steps) == n_items
    x = np.array([s["stimulus"] for s in steps])
    match = np.array([s["match"] for s in steps])
    assert not match[:n].any()  # the first n items have nothing n back
    assert_rate_in_ci(int(match[n:].sum()), n_items - n, 0.4)
    np.testing.assert_array_equal(match[n:], x[n:] == x[:-n])
    assert [s["n_back_stimulus"] for s in steps[:n]] == [-1] * n
    np.testing.assert_array_equal([s["n_back_stimulus"] for s in steps[n:]], x[:-n])
    for i in range(4):  # the marginal stays uniform
        assert_rate_in_ci(int((x == i).sum()), n_items, 1 / 4)


@pytest.mark.parametrize("kwargs", NBACK_CONFIGS)
def test_nback_timeline_and_observations(kwargs):
    env = gym.make(NBACK_ID, n_trials=50, **kwargs).unwrapped
    k, d, m = env.stimulus_steps, env.delay_steps, env.n_stimuli
    steps = play(env, lambda obs: 0, seed=2)
    assert len(steps) == 50 * (k + d)
    assert [s["done"] for s in steps] == [False] * (len(steps) - 1) + [True]
    for j, s in enumerate(steps):
        t = j % (k + d)
        assert s["item"] == s["trial"] == j // (k + d) and s["time_in_trial"] == t
        assert s["respond"] == (t == k - 1) and s["obs"][-1] == float(t == k - 1)
        if t < k:
            assert s["period"] == "stimulus" and s["obs"][:m].argmax() == s["stimulus"]
            assert s["obs"][:m].sum() == 1.0
        else:
            assert s["period"] == "delay" and not s["obs"].any()


@pytest.mark.parametrize("kwargs", NBACK_CONFIGS)
def test_nback_rewards(kwargs):
    env = gym.make(NBACK_ID, n_trials=400, **kwargs).unwrapped
    steps = play(env, NBackOracle(env.n_stimuli, env.n), seed=3)
    resp = [s for s in steps if s["respond"]]
    assert len(resp) == 400
    assert all(s["action"] == s["correct_action"] and s["reward"] == 1.0 for s in resp)
    assert sum(s["reward"] for s in steps) == 400.0  # nothing off the response steps
    # always "no match": correct on every non-match, i.e. 1 - p_match on items after the first n
    steps = play(env, lambda obs: 0, seed=3)
    resp = [s for s in steps if s["respond"]]
    assert all(s["reward"] == float(not s["match"]) for s in resp)
    after = resp[env.n:]
    assert_rate_in_ci(sum(s["reward"] for s in after), len(after), 1 - env.p_match)
    assert all(s["reward"] == 1.0 for s in resp[: env.n])


def test_nback_actions_off_response_steps_are_ignored():
    env = gym.make(NBACK_ID, n_trials=100, stimulus_steps=2, delay_steps=1).unwrapped
    oracle = NBackOracle(env.n_stimuli, env.n)
    steps = play(env, lambda obs: oracle(obs) if obs[-1] == 1.0 else 1, seed=4)
    assert all(s["reward"] == float(s["respond"]) for s in steps)


def test_nback_trial_table():
    env = gym.make(NBACK_ID, n_trials=80, delay_steps=1)
    oracle = NBackOracle(4, 2)
    df = record_session(env, lambda obs, info: oracle(obs), seed=5, subject=3)
    assert len(df) == 80 and list(df["trial"]) == list(range(80))
    assert (df["choice"] == df["correct_action"]).all() and (df["reward"] == 1.0).all()
    assert (df["correct_action"] == df["match"].astype(int)).all()
    assert not df["match"].iloc[:2].any()
    assert df["choice"].dtype == pd.Int64Dtype()


def test_nback_same_seed_same_rollout():
    kw = {"n_trials": 30, "delay_steps": 1}
    assert rollout_bytes(NBACK_ID, 1, **kw) == rollout_bytes(NBACK_ID, 1, **kw)
    assert rollout_bytes(NBACK_ID, 1, **kw) != rollout_bytes(NBACK_ID, 2, **kw)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_stimuli": 1}, r"^NBack: n_stimuli must be an integer in \[2, 1000\], got 1$"),
        ({"n": 0}, r"n must be an integer in \[1, 1000000\], got 0"),
        ({"n_trials": 0}, r"n_trials must be an integer in \[1, 1000000\], got 0"),
        ({"stimulus_steps": 0}, r"stimulus_steps must be an integer in \[1, 1000000\], got 0"),
        ({"delay_steps": -1}, r"delay_steps must be an integer in \[0, 1000000\], got -1"),
        ({"p_match": -0.1}, r"p_match must be a finite number in \[0, 1\], got -0.1"),
    ],
)
def test_nback_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NBack(**kwargs)


def test_nback_invalid_action():
    env = NBack()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"^NBack.step: action must be an integer in \[0, 1\] .*, got 2$"):
        env.step(2)


# -- native vector versions ----------------------------------------------------------------------
def _lockstep(single: gym.Env, vector: gym.vector.VectorEnv, seed: int, steps: int) -> None:
    """With one copy, the vector env reproduces the single env (reset after each session)."""
    rng = np.random.default_rng(seed)
    o1, i1 = single.reset(seed=seed)
    o2, _ = vector.reset(seed=seed)
    np.testing.assert_array_equal(o1, o2[0])
    sessions = 0
    for _ in range(steps):
        a = int(rng.integers(single.action_space.n))
        o1, r1, t1, _, i1 = single.step(a)
        o2, r2, t2, tr2, i2 = vector.step(np.array([a]))
        np.testing.assert_array_equal(o1, o2[0])
        assert (r1, t1, False) == (r2[0], t2[0], tr2[0])
        assert {k: i1[k] for k in i1} == {k: i2[k][0].item() for k in i1}
        assert all(i2[f"_{k}"].all() for k in i1)
        if t1:
            sessions += 1
            o1, _ = single.reset()
            o2, r2, t2, _, _ = vector.step(np.array([0]))  # the autoreset step
            np.testing.assert_array_equal(o1, o2[0])
            assert r2[0] == 0.0 and not t2[0]
    assert sessions >= 2


@pytest.mark.parametrize("kwargs", DMS_CONFIGS)
def test_dms_vector_one_copy_reproduces_single(kwargs):
    kw = {"n_trials": 7, **kwargs}
    _lockstep(DelayedMatchToSample(**kw), DelayedMatchToSampleVector(1, **kw), seed=3, steps=400)


@pytest.mark.parametrize("kwargs", NBACK_CONFIGS)
def test_nback_vector_one_copy_reproduces_single(kwargs):
    kw = {"n_trials": 9, **kwargs}
    _lockstep(NBack(**kw), NBackVector(1, **kw), seed=4, steps=400)


def test_vector_entry_points_are_native():
    for env_id, cls in ((DMS_ID, DelayedMatchToSampleVector), (NBACK_ID, NBackVector)):
        envs = gym.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point")
        assert isinstance(envs.unwrapped, cls)


def test_dms_vector_statistics_and_oracle_rewards():
    n, k = 64, 4
    envs = DelayedMatchToSampleVector(n, n_stimuli=k, n_trials=50, delay_steps=(0, 3), p_match=0.3,
                                      penalty=-0.5)
    obs, _ = envs.reset(seed=0)
    oracles = [DMSOracle(k) for _ in range(n)]
    tests, rewards, done = [], [], np.zeros(n, dtype=bool)
    while not done.all():
        a = np.array([o(x) for o, x in zip(oracles, obs)])
        obs, r, term, _, info = envs.step(a)
        test = (info["period"] == "test") & ~done
        tests += [(info["sample"][i], info["probe"][i], info["match"][i]) for i in np.flatnonzero(test)]
        rewards.append(np.where(done, np.nan, r))
        assert (r[~test & ~done] == 0).all() and (r[test] == 1.0).all()  # oracle always right
        done |= term
    assert len(tests) == n * 50
    match = np.array([m for *_, m in tests])
    assert_rate_in_ci(int(match.sum()), match.size, 0.3)
    assert all((s == p) == m for s, p, m in tests)
    samples = Counter(int(s) for s, *_ in tests)
    for i in range(k):
        assert_rate_in_ci(samples[i], len(tests), 1 / k)
    # an always-"match" agent is right exactly on the match trials, penalised on the others
    got = []
    envs = DelayedMatchToSampleVector(n, n_trials=40, delay_steps=1, penalty=-0.5)
    envs.reset(seed=1)
    for _ in range(envs.steps_per_session):
        _, r, _, _, info = envs.step(np.full(n, 1))
        t = info["period"] == "test"
        assert (r[t] == np.where(info["match"][t], 1.0, -0.5)).all()
        got += list(r[t] == 1.0)
    assert_rate_in_ci(int(np.sum(got)), len(got), 0.5)


def test_nback_vector_target_rate_and_rewards():
    n_env, n = 64, 2
    envs = NBackVector(n_env, n=n, n_trials=100, delay_steps=1, p_match=0.4)
    obs, _ = envs.reset(seed=0)
    oracles = [NBackOracle(4, n) for _ in range(n_env)]
    stim, match, total = [], [], 0.0
    for _ in range(envs.steps_per_session):
        a = np.array([o(x) for o, x in zip(oracles, obs)])
        obs, r, term, _, info = envs.step(a)
        total += r.sum()
        resp = info["respond"]
        assert (r[resp] == 1.0).all() and (r[~resp] == 0.0).all()
        assert resp.all() or not resp.any()  # fixed-length trials: the copies stay in lockstep
        if resp.all():
            stim.append(info["stimulus"])
            match.append(info["match"])
    assert term.all() and total == n_env * 100
    x, m = np.stack(stim, axis=1), np.stack(match, axis=1)  # (copies, items)
    assert not m[:, :n].any()
    np.testing.assert_array_equal(m[:, n:], x[:, n:] == x[:, :-n])
    assert_rate_in_ci(int(m[:, n:].sum()), m[:, n:].size, 0.4)
    # always "no match": correct exactly on the non-matches
    envs.reset(seed=1)
    for _ in range(envs.steps_per_session):
        _, r, _, _, info = envs.step(np.zeros(n_env, dtype=np.int64))
        resp = info["respond"]
        assert (r[resp] == (~info["match"][resp]).astype(float)).all()


def test_vector_invalid_actions():
    dms = DelayedMatchToSampleVector(2)
    dms.reset(seed=0)
    with pytest.raises(ValueError, match=r"^DelayedMatchToSampleVector.step: actions must be .* each an integer in \[0, 2\]"):
        dms.step(np.array([0, 3]))
    with pytest.raises(ValueError, match=r"^DelayedMatchToSampleVector.step: actions must be"):
        dms.step(np.array([0, np.nan]))
    nb = NBackVector(2)
    nb.reset(seed=0)
    with pytest.raises(ValueError, match=r"^NBackVector.step: actions must be .* each an integer in \[0, 1\]"):
        nb.step(np.array([2, 0]))
    with pytest.raises(ValueError, match=r"^NBackVector.step: actions must be"):
        nb.step(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match=r"^DelayedMatchToSampleVector: n_stimuli must be an integer in \[2, 1000\], got 1$"):
        DelayedMatchToSampleVector(2, n_stimuli=1)
    with pytest.raises(ValueError, match=r"^NBackVector: n must be an integer in \[1, 1000000\], got 0$"):
        NBackVector(2, n=0)
    with pytest.raises(ValueError, match=r"^NBackVector: num_envs must be at most 100 here"):
        NBackVector(101, n_trials=10**6)
