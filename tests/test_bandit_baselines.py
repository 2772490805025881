"""Reference policies of the two-armed Bernoulli bandit (U(0,1) arms, 100 trials)."""

from __future__ import annotations

import numpy as np
import pytest

from cogmodels.agent import SessionPolicy
from cogmodels.agents.bandit_baselines import (
    UCB1,
    BayesOptimal,
    Greedy,
    RandomPolicy,
    ThompsonSampling,
    bayes_optimal_regret,
    evaluate,
    expected_max_mean,
)

Z = 4.0  # width of the confidence bands, in standard errors


@pytest.fixture(scope="module")
def optimal() -> BayesOptimal:
    return BayesOptimal(100)


def test_dp_small_horizons_by_hand():
    # T = 1: a random first pull loses E|p0 - p1| / 2 = 1/6.
    assert bayes_optimal_regret(1) == pytest.approx(1 / 6, abs=1e-12)
    # T = 2: win-stay / lose-shift earns 1/2 + (1/2·2/3 + 1/2·1/2) = 13/12 of 2·2/3 = 16/12.
    assert bayes_optimal_regret(2) == pytest.approx(3 / 12, abs=1e-12)


def test_dp_regret_matches_the_literature(optimal):
    # The Bayes-optimal (Gittins-like, finite-horizon) regret of this setting is about 1.75
    # (the figure quoted for Wang et al. 2018; our exact DP gives 1.7482).
    assert optimal.value_ == pytest.approx(100 * 2 / 3 - optimal.expected_regret)
    assert optimal.expected_regret == pytest.approx(1.75, abs=0.01)
    assert expected_max_mean((1, 1)) == pytest.approx(2 / 3)
    # Beta(2, 2): ∫ 2x · 6x(1 - x) · (3x² - 2x³) dx = 22/35
    assert expected_max_mean((2, 2)) == pytest.approx(22 / 35, abs=1e-9)


def test_dp_policy_is_win_stay_lose_shift_early(optimal):
    rng = np.random.default_rng(0)
    counts = np.zeros((4, 2, 2), dtype=np.int64)
    counts[0, 0, 0] = 1  # one success on arm 0 -> stay
    counts[1, 0, 1] = 1  # one failure on arm 0 -> shift
    counts[2, 1, 0] = 1  # one success on arm 1 -> stay
    counts[3, 1, 1] = 1  # one failure on arm 1 -> shift
    np.testing.assert_array_equal(optimal.act(counts, rng), [0, 1, 1, 0])
    # the first pull is a tie, broken at random
    first = optimal.act(np.zeros((2000, 2, 2), dtype=np.int64), rng)
    assert abs(first.mean() - 0.5) < Z * 0.5 / np.sqrt(2000)


def test_dp_simulated_on_the_env_matches_its_exact_value(optimal):
    res = evaluate(optimal, 4000, seed=7)
    assert abs(res.mean - optimal.expected_regret) < Z * res.sem
    assert res.ci[0] < res.mean < res.ci[1]
    assert res.regrets.shape == (4000,)


def test_thompson_sampling_regret():
    # 2.793 ± 0.004 from 400,000 sessions of the same code (Thompson ≈ 2.8 in this setting)
    res = evaluate(ThompsonSampling(), 5000, seed=3)
    assert abs(res.mean - 2.793) < Z * res.sem
    assert 0.02 < res.sem < 0.06


def test_ordering_with_common_random_numbers(optimal):
    n = 3000
    r = {p.name: evaluate(p, n, seed=11).regrets for p in (optimal, ThompsonSampling(), UCB1(), RandomPolicy())}
    for worse in ("thompson", "ucb1", "random"):
        d = r[worse] - r["bayes_optimal"]
        assert d.mean() > Z * d.std(ddof=1) / np.sqrt(n), worse
    # random play: T · E|p0 - p1| / 2 = 100 / 6
    assert abs(r["random"].mean() - 100 / 6) < Z * r["random"].std(ddof=1) / np.sqrt(n)


def test_greedy_and_ucb1_reference_values():
    # 400,000-session references of this code: greedy 2.691 ± 0.010, UCB1 5.584 ± 0.004
    g = evaluate(Greedy(), 3000, seed=5)
    u = evaluate(UCB1(), 3000, seed=5)
    assert abs(g.mean - 2.691) < Z * g.sem
    assert abs(u.mean - 5.584) < Z * u.sem


def test_evaluate_is_reproducible_and_seeded():
    a = evaluate(ThompsonSampling(), 500, seed=1).regrets
    b = evaluate(ThompsonSampling(), 500, seed=1).regrets
    c = evaluate(ThompsonSampling(), 500, seed=2).regrets
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # batching: several env batches give the same count of episodes
    assert evaluate(Greedy(), 250, seed=1, batch_size=100).n_episodes == 250


def test_ucb1_pulls_every_arm_first():
    rng = np.random.default_rng(0)
    counts = np.zeros((3, 2, 2), dtype=np.int64)
    counts[:, 0, 0] = 5  # arm 0 pulled (and paid) 5 times, arm 1 never
    np.testing.assert_array_equal(UCB1().act(counts, rng), [1, 1, 1])


def test_bad_arguments_raise():
    with pytest.raises(TypeError, match="SessionPolicy"):
        evaluate(lambda obs: 0, 10)
    with pytest.raises(ValueError, match="n_episodes"):
        evaluate(Greedy(), 0)
    with pytest.raises(ValueError, match="n_trials"):
        BayesOptimal(0)
    with pytest.raises(ValueError, match="prior"):
        ThompsonSampling(prior=(0, 1))
    with pytest.raises(ValueError, match="c must be"):
        UCB1(c=-1)
    with pytest.raises(ValueError, match="counts must have shape"):
        Greedy().act(np.zeros((3, 2)), np.random.default_rng(0))
    with pytest.raises(ValueError, match="n_trials=5"):  # horizon shorter than the sessions
        evaluate(BayesOptimal(5), 10, n_trials=10)
    with pytest.raises(ValueError, match="plays 2 arms"):
        evaluate(BayesOptimal(10), 10, n_trials=10, n_actions=3)
    assert isinstance(Greedy(), SessionPolicy)


def test_session_policy_lives_in_the_agent_module_and_keeps_its_old_path():
    from cogmodels import agent
    from cogmodels.agents import bandit_baselines

    assert bandit_baselines.SessionPolicy is agent.SessionPolicy
    assert bandit_baselines.SessionAgent is agent.SessionAgent
    assert isinstance(Greedy().as_agent(), agent.Agent)
    with pytest.raises(TypeError, match="policy must be a SessionPolicy"):
        agent.SessionAgent(Greedy.act, 2)
