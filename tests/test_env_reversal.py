"""Tests of probabilistic reversal learning, single and natively vectorised."""

from __future__ import annotations

import warnings
from collections import deque

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import cogmodels  # noqa: F401  (registers the environments)
from cogmodels.envs.reversal import ReversalLearning, ReversalLearningVector
from cogmodels.envs.wrappers import record_session

ENV_ID = "cogmodels/ReversalLearning-v0"
Z = 4.0  # width of the binomial / normal confidence intervals, in standard errors


def make_vec(num_envs: int, **kwargs) -> ReversalLearningVector:
    return gym.make_vec(ENV_ID, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)


def play(env: ReversalLearning, policy, seed: int | None = 0) -> list[dict]:
    """One session; ``policy(correct_action, t, rng) -> action``; one dict per trial."""
    rng = np.random.default_rng(1000 if seed is None else seed + 1000)
    env.reset(seed=seed)
    rows, done, t = [], False, 0
    while not done:
        a = policy(env.correct_action, t, rng)
        _, r, done, truncated, info = env.step(a)
        assert truncated is False
        rows.append({"action": a, "reward": r, **info})
        t += 1
    return rows


def oracle(correct, t, rng):
    return correct


def random_policy(correct, t, rng):
    return int(rng.integers(2))


def reversal_trials(rows: list[dict]) -> list[int]:
    return [r["trial"] for r in rows if r["reversal"]]


def assert_rate_in_ci(successes: int, n: int, p: float) -> None:
    assert n > 0
    assert abs(successes / n - p) <= Z * np.sqrt(p * (1 - p) / n) + 1e-12, (successes, n, p)


# -- conformance ---------------------------------------------------------------------------------
CONFIGS = [
    {},
    {"schedule": [10, 30, 31]},
    {"mode": "criterion"},
    {"mode": "criterion", "n_actions": 3, "criterion": (3, 3), "criterion_delay": (1, 4),
     "p_reversal": 0.5, "p_low": 0.1},
]


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_env_checkers_pass_without_warnings(kwargs):
    env = gym.make(ENV_ID, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=True)
        sb3_check_env(env.unwrapped)


def test_spaces_defaults_and_reset_info():
    env = gym.make(ENV_ID).unwrapped
    assert isinstance(env, ReversalLearning)
    assert env.action_space == gym.spaces.Discrete(2)
    assert env.observation_space == gym.spaces.Box(0, 1, (1,), np.float32)
    obs, info = env.reset(seed=0)
    np.testing.assert_array_equal(obs, np.ones(1, np.float32))
    c = info["correct_action"]
    assert info["block"] == 0
    assert info["p_reward"] == pytest.approx(tuple(0.8 if i == c else 0.2 for i in range(2)))
    rows = play(env, random_policy)
    assert len(rows) == 200 and reversal_trials(rows) == [40, 80, 120, 160]


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_same_seed_same_rollout(kwargs):
    policy = random_policy if kwargs.get("n_actions", 2) == 2 else (lambda c, t, rng: t % 3)
    a = play(gym.make(ENV_ID, **kwargs).unwrapped, policy, seed=11)
    b = play(gym.make(ENV_ID, **kwargs).unwrapped, policy, seed=11)
    assert a == b


def test_session_ends_after_n_trials():
    env = gym.make(ENV_ID, n_trials=4)
    env.reset(seed=0)
    assert [env.step(0)[2] for _ in range(4)] == [False, False, False, True]


def test_first_correct_option_from_argument_option_or_draw():
    env = gym.make(ENV_ID, initial_correct=1).unwrapped
    assert env.reset(seed=0)[1]["correct_action"] == 1
    assert env.reset(options={"correct_action": 0})[1]["correct_action"] == 0
    drawn = [gym.make(ENV_ID).unwrapped.reset(seed=s)[1]["correct_action"] for s in range(400)]
    assert_rate_in_ci(sum(drawn), 400, 0.5)


# -- schedule mode -------------------------------------------------------------------------------
def check_schedule(rows: list[dict], starts: list[int], n_actions: int = 2) -> None:
    """Reversal flags exactly on ``starts``; the correct option constant within, new across."""
    assert reversal_trials(rows) == starts
    correct = np.array([r["correct_action"] for r in rows])
    blocks = np.array([r["block"] for r in rows])
    expected_block = np.searchsorted(starts, np.arange(len(rows)), side="right")
    np.testing.assert_array_equal(blocks, expected_block)
    changed = np.flatnonzero(np.diff(correct)) + 1
    assert changed.tolist() == starts  # a reversal always changes the correct option
    assert all(r["p_reward"][r["correct_action"]] == max(r["p_reward"]) for r in rows)
    assert all(r["trial"] == t for t, r in enumerate(rows))
    assert set(correct) <= set(range(n_actions))


def test_reversal_every_happens_exactly_on_schedule():
    env = gym.make(ENV_ID, n_trials=100, reversal_every=25).unwrapped
    rows = play(env, random_policy)
    check_schedule(rows, [25, 50, 75])
    # alternating between the two options, whatever the agent does
    assert [rows[t]["correct_action"] for t in (0, 25, 50, 75)] == [rows[0]["correct_action"],
                                                                     1 - rows[0]["correct_action"]] * 2


def test_explicit_schedule_happens_exactly_on_schedule():
    env = gym.make(ENV_ID, n_trials=90, schedule=[10, 37, 38, 80], n_actions=4).unwrapped
    for seed in range(5):
        check_schedule(play(env, oracle, seed=seed), [10, 37, 38, 80], n_actions=4)


def test_new_correct_option_uniform_among_the_others():
    env = gym.make(ENV_ID, n_actions=3, n_trials=3000, reversal_every=1).unwrapped
    rows = play(env, oracle)
    correct = np.array([r["correct_action"] for r in rows])
    steps = (np.diff(correct) % 3)  # 1 or 2: which of the two other options
    assert set(steps) == {1, 2}
    assert_rate_in_ci(int((steps == 1).sum()), steps.size, 0.5)


# -- reward probabilities ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "p_hi", "p_lo"),
    [({}, 0.8, 0.2), ({"n_actions": 3, "p_reward": 0.7, "p_low": 0.1}, 0.7, 0.1)],
)
def test_reward_rates_match_p_reward(kwargs, p_hi, p_lo):
    env = gym.make(ENV_ID, n_trials=10_000, reversal_every=30, **kwargs).unwrapped
    n = env.n_actions
    rows = play(env, lambda c, t, rng: int(rng.integers(n)))
    hit = np.array([r["action"] == r["correct_action"] for r in rows])
    reward = np.array([r["reward"] for r in rows])
    assert set(reward) == {0.0, 1.0}
    assert_rate_in_ci(int(reward[hit].sum()), int(hit.sum()), p_hi)
    assert_rate_in_ci(int(reward[~hit].sum()), int((~hit).sum()), p_lo)
    for r in rows[:100]:
        expected = tuple(p_hi if i == r["correct_action"] else p_lo for i in range(n))
        assert r["p_reward"] == pytest.approx(expected)


# -- criterion mode ------------------------------------------------------------------------------
@pytest.mark.parametrize(("criterion", "period"), [((8, 10), 8), ((5, 5), 5), ((1, 3), 1)])
def test_oracle_reverses_right_after_the_criterion(criterion, period):
    env = gym.make(ENV_ID, mode="criterion", criterion=criterion, n_trials=60).unwrapped
    rows = play(env, oracle)
    # k correct choices in a row meet the criterion: the new contingency starts k trials later
    check_schedule(rows, list(range(period, 60, period)))


def test_always_wrong_agent_never_triggers_a_reversal():
    env = gym.make(ENV_ID, mode="criterion", n_trials=200).unwrapped
    rows = play(env, lambda c, t, rng: 1 - c)
    assert reversal_trials(rows) == [] and {r["block"] for r in rows} == {0}


def expected_reversals(hits: list[bool], k: int, n: int) -> list[int]:
    """Reference: reverse after the trial where k of the last n choices since reversal are right."""
    window: deque[bool] = deque(maxlen=n)
    starts = []
    for t, hit in enumerate(hits):
        window.append(hit)
        if sum(window) >= k:
            starts.append(t + 1)
            window.clear()
    return [s for s in starts if s < len(hits)]


@pytest.mark.parametrize("criterion", [(8, 10), (3, 4), (4, 4)])
def test_criterion_counts_k_of_the_last_n_choices_since_reversal(criterion):
    env = gym.make(ENV_ID, mode="criterion", criterion=criterion, n_trials=400).unwrapped
    rows = play(env, lambda c, t, rng: c if rng.random() < 0.75 else 1 - c, seed=3)
    hits = [r["action"] == r["correct_action"] for r in rows]
    starts = reversal_trials(rows)
    assert len(starts) > 10
    assert starts == expected_reversals(hits, *criterion)


def test_criterion_counts_choices_not_outcomes():
    """An oracle reverses on the same trials whatever the (probabilistic) outcomes were."""
    a = play(gym.make(ENV_ID, mode="criterion", n_trials=100).unwrapped, oracle, seed=1)
    b = play(gym.make(ENV_ID, mode="criterion", n_trials=100, p_reward=0.55).unwrapped, oracle, seed=2)
    assert [r["reward"] for r in a] != [r["reward"] for r in b]
    assert reversal_trials(a) == reversal_trials(b) == list(range(8, 100, 8))


def block_lengths(rows: list[dict]) -> np.ndarray:
    starts = [0, *reversal_trials(rows)]
    return np.diff(starts)


def test_fixed_extra_delay():
    env = gym.make(ENV_ID, mode="criterion", criterion=(5, 5), criterion_delay=(2, 2),
                   n_trials=100).unwrapped
    assert set(block_lengths(play(env, oracle))) == {7}


def test_uniform_extra_delay():
    env = gym.make(ENV_ID, mode="criterion", criterion=(5, 5), criterion_delay=(0, 3),
                   n_trials=8000).unwrapped
    extra = block_lengths(play(env, oracle)) - 5
    assert set(extra) == {0, 1, 2, 3}
    for d in range(4):
        assert_rate_in_ci(int((extra == d).sum()), extra.size, 0.25)


def test_per_trial_reversal_probability_gives_geometric_delay():
    p = 0.25
    env = gym.make(ENV_ID, mode="criterion", criterion=(4, 4), p_reversal=p, n_trials=8000).unwrapped
    extra = block_lengths(play(env, oracle)) - 4
    # extra trials ~ Geometric(p) - 1 on {0, 1, ...}: mean (1-p)/p, P(0) = p
    assert extra.min() == 0
    mean, var = (1 - p) / p, (1 - p) / p**2
    assert abs(extra.mean() - mean) < Z * np.sqrt(var / extra.size)
    assert_rate_in_ci(int((extra == 0).sum()), extra.size, p)


# -- trial table ---------------------------------------------------------------------------------
def test_trial_row_and_recorded_table():
    env = gym.make(ENV_ID, n_trials=30, reversal_every=10)
    df = record_session(env, lambda obs, info: 0, seed=0, subject="s1")
    assert list(df.columns) == ["subject", "session", "trial", "block", "state", "choice",
                                "reward", "correct_action", "reversal"]
    assert df["block"].tolist() == [0] * 10 + [1] * 10 + [2] * 10
    assert df.index[df["reversal"]].tolist() == [10, 20]
    assert df["trial"].tolist() == list(range(30))


# -- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_actions": 1}, r"n_actions must be an integer in \[2, 1000\], got 1"),
        ({"n_trials": 0}, r"n_trials must be an integer in \[1, 1000000\], got 0"),
        ({"n_trials": 10**12}, r"n_trials must be an integer in \[1, 1000000\], got 1000000000000$"),
        ({"p_reward": 1.5}, r"p_reward must be a finite number in \[0, 1\], got 1.5"),
        ({"p_low": 0.9}, "p_low must be <= p_reward=0.8"),
        ({"p_low": -0.1}, r"p_low must be a finite number in \[0, 1\]"),
        ({"mode": "random"}, r"mode must be one of \['schedule', 'criterion'\], got 'random'"),
        ({"reversal_every": 0}, r"reversal_every must be an integer in \[1, 1000000\], got 0"),
        ({"schedule": [30, 10]}, r"schedule must be a strictly increasing sequence of integers in \[1, 199\], got \[30, 10\]"),
        ({"schedule": [0, 10]}, r"schedule must be a sequence of integers in \[1, 199\], got \[0, 10\]"),
        ({"schedule": [10, 200]}, r"integers in \[1, 199\], got \[10, 200\]"),
        ({"schedule": [10, 20.5]}, r"integers in \[1, 199\], got \[10, 20.5\]"),
        ({"schedule": 5}, "schedule must be a sequence of integers"),
        ({"schedule": "15"}, "schedule must be a sequence of integers"),
        ({"schedule": [10], "reversal_every": 5}, "give one of reversal_every or schedule"),
        ({"criterion": (3, 5)}, "criterion applies only to mode='criterion'"),
        ({"criterion_delay": (1, 2)}, "criterion_delay applies only to mode='criterion'"),
        ({"p_reversal": 0.5}, "p_reversal applies only to mode='criterion'"),
        ({"mode": "criterion", "reversal_every": 5}, "reversal_every applies only to mode='schedule'"),
        ({"mode": "criterion", "schedule": [5]}, "schedule applies only to mode='schedule'"),
        ({"mode": "criterion", "criterion": (5, 3)}, r"criterion must be a pair \(k, n\) of integers with 1 <= k <= n <= 1000, got \(5, 3\)"),
        ({"mode": "criterion", "criterion": (0, 3)}, r"criterion must be a pair \(k, n\)"),
        ({"mode": "criterion", "criterion": 5}, r"criterion must be a pair \(k, n\)"),
        ({"mode": "criterion", "criterion": (1, 10**9)}, r"criterion must be a pair \(k, n\).*<= 1000, got"),
        ({"mode": "criterion", "criterion_delay": (3, 1)}, r"criterion_delay must be a pair \(low, high\)"),
        ({"mode": "criterion", "criterion_delay": (-1, 2)}, r"criterion_delay must be a pair \(low, high\)"),
        ({"mode": "criterion", "p_reversal": 0}, r"p_reversal must be a finite number in \(0, 1\], got 0"),
        ({"initial_correct": 2}, r"initial_correct must be an option index in \[0, 1\], got 2"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gym.make(ENV_ID, **kwargs)
    with pytest.raises(ValueError, match=match):
        make_vec(2, **kwargs)


def test_bad_action_and_bad_reset_option_raise():
    env = gym.make(ENV_ID).unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"^ReversalLearning.step: action must be an integer in \[0, 1\]"):
        env.step(2)
    with pytest.raises(
        ValueError,
        match=r"^ReversalLearning.reset: options\[\"correct_action\"\] must be an option index in \[0, 1\]",
    ):
        env.reset(options={"correct_action": 5})
    vec = make_vec(3)
    with pytest.raises(
        ValueError, match=r"^ReversalLearningVector.reset: options\[\"correct_action\"\] must be"
    ):
        vec.reset(options={"correct_action": 5})
    vec.reset(seed=0)
    with pytest.raises(
        ValueError, match=r"^ReversalLearningVector.step: actions must be .* each an integer in \[0, 1\]"
    ):
        vec.step(np.array([0, 1, 2]))


# -- vector version ------------------------------------------------------------------------------
def test_make_vec_returns_the_native_vector_env():
    vec = make_vec(4, n_actions=3)
    assert isinstance(vec, ReversalLearningVector)
    assert vec.single_action_space == gym.spaces.Discrete(3)
    assert vec.single_observation_space == gym.spaces.Box(0, 1, (1,), np.float32)
    obs, _ = vec.reset(seed=0)
    assert obs.shape == (4, 1) and obs.dtype == np.float32


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_vector_with_one_copy_reproduces_the_single_rollout(kwargs):
    """Both run the same array code: one copy and the same seed give the same session."""
    n_actions = kwargs.get("n_actions", 2)

    def policy(c, t, rng):
        return c if rng.random() < 0.8 else int(rng.integers(n_actions))

    single = play(gym.make(ENV_ID, **kwargs).unwrapped, policy, seed=5)
    vec = make_vec(1, **kwargs)
    vec.reset(seed=5)
    actions = [r["action"] for r in single]
    for t, (a, row) in enumerate(zip(actions, single)):
        _, r, term, trunc, info = vec.step(np.array([a]))
        assert r[0] == row["reward"] and term[0] == (t == len(single) - 1) and not trunc[0]
        for key in ("correct_action", "reversal", "block", "trial"):
            assert info[key][0] == row[key]
        assert tuple(info["p_reward"][0]) == row["p_reward"]


def test_vector_schedule_and_termination_with_next_step_autoreset():
    n, n_trials = 5, 12
    vec = make_vec(n, n_trials=n_trials, reversal_every=4)
    vec.reset(seed=0)
    rng = np.random.default_rng(0)
    for t in range(n_trials):
        _, _, term, trunc, info = vec.step(rng.integers(2, size=n))
        np.testing.assert_array_equal(info["trial"], np.full(n, t))
        np.testing.assert_array_equal(info["block"], np.full(n, t // 4))
        np.testing.assert_array_equal(info["reversal"], np.full(n, t in (4, 8)))
        np.testing.assert_array_equal(term, np.full(n, t == n_trials - 1))
        assert not trunc.any()
    # next step: every copy resets, zero reward, not terminated
    obs, reward, term, _, _ = vec.step(np.zeros(n, dtype=int))
    np.testing.assert_array_equal(reward, 0.0)
    assert not term.any() and obs.shape == (n, 1)
    _, _, _, _, info = vec.step(np.zeros(n, dtype=int))
    np.testing.assert_array_equal(info["trial"], 0)
    np.testing.assert_array_equal(info["block"], 0)


def test_vector_same_step_autoreset_reports_final_obs():
    vec = make_vec(2, n_trials=3, autoreset_mode="same_step")
    vec.reset(seed=0)
    for _ in range(2):
        *_, info = vec.step(np.zeros(2, dtype=int))
    _, _, term, _, info = vec.step(np.zeros(2, dtype=int))
    assert term.all() and info["_final_obs"].all()
    *_, info = vec.step(np.zeros(2, dtype=int))
    np.testing.assert_array_equal(info["trial"], 0)


def test_vector_criterion_is_tracked_per_copy():
    """Copy 0 plays the oracle, copy 1 always errs, copy 2 is correct 3 times in 4."""
    vec = make_vec(3, mode="criterion", criterion=(3, 4), n_trials=80)
    vec.reset(seed=0)
    flags, hits = [], []
    for t in range(80):
        c = vec.correct_action
        a = np.array([c[0], 1 - c[1], c[2] if t % 4 != 1 else 1 - c[2]])
        *_, info = vec.step(a)
        flags.append(info["reversal"])
        hits.append(a == info["correct_action"])
    flags, hits = np.array(flags), np.array(hits)
    assert np.flatnonzero(flags[:, 0]).tolist() == list(range(3, 80, 3))
    assert not flags[:, 1].any()
    assert np.flatnonzero(flags[:, 2]).tolist() == expected_reversals(hits[:, 2].tolist(), 3, 4)


def test_vector_matches_single_statistically():
    """Reward rates within binomial CIs; criterion block lengths distributed as in the single task."""
    n, n_trials, kwargs = 64, 300, {"mode": "criterion", "criterion": (4, 4),
                                    "criterion_delay": (0, 2), "n_trials": 300}
    vec = make_vec(n, **kwargs)
    vec.reset(seed=1)
    rng = np.random.default_rng(1)
    hits, rewards, flags = [], [], []
    for _ in range(n_trials):
        c = vec.correct_action
        a = np.where(rng.random(n) < 0.9, c, 1 - c)
        _, r, _, _, info = vec.step(a)
        hits.append(a == info["correct_action"])
        rewards.append(r)
        flags.append(info["reversal"])
    hits, rewards, flags = np.array(hits), np.array(rewards), np.array(flags)
    assert_rate_in_ci(int(rewards[hits].sum()), int(hits.sum()), 0.8)
    assert_rate_in_ci(int(rewards[~hits].sum()), int((~hits).sum()), 0.2)
    # copies are independent: their reversal trials differ
    assert len({tuple(np.flatnonzero(flags[:, i])) for i in range(n)}) > n // 2
    vec_lengths = np.concatenate([np.diff(np.flatnonzero(flags[:, i])) for i in range(n)])
    single = gym.make(ENV_ID, **kwargs).unwrapped

    def policy(c, t, rng):
        return c if rng.random() < 0.9 else 1 - c

    one_lengths = np.concatenate([np.diff(reversal_trials(play(single, policy, seed=s)))
                                  for s in range(n // 2)])
    assert vec_lengths.min() >= 4 and one_lengths.min() >= 4
    se = np.sqrt(vec_lengths.var() / vec_lengths.size + one_lengths.var() / one_lengths.size)
    assert abs(vec_lengths.mean() - one_lengths.mean()) < Z * se
