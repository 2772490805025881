"""Reference policies for the two-armed Bernoulli bandit, and one scorer for every agent.

The meta-reinforcement-learning benchmark of Wang et al. (2018, Nat Neurosci) and Duan et al.
(2016, RL², arXiv:1611.02779): each session draws two arm probabilities ``p_0, p_1 ~ U(0, 1)``
independently and lasts ``T = 100`` trials. A policy is scored by its *pseudo-regret*

    R = sum_t (max(p_0, p_1) - p_{a_t}),

the sum of ``info["regret"]`` of :class:`cogmodels.envs.bandit.MultiArmedBanditVector` over the
session (the expected regret given the drawn probabilities). Its mean over sessions estimates the
Bayesian regret ``T·E[max(p_0, p_1)] - E[sum_t p_{a_t}] = 200/3 - E[reward]``.

Policies (vectorised over sessions with numpy; all read the Beta posterior counts):

- :class:`BayesOptimal`: the exact Bayes-optimal policy, by finite-horizon dynamic programming over
  the posterior counts ``(s_0, f_0, s_1, f_1)`` (Bellman 1956; Berry & Fristedt 1985, *Bandit
  Problems*). Its expected regret is exactly ``T·E[max] - V_0``; see :func:`bayes_optimal_regret`.
- :class:`ThompsonSampling`: act greedily on one draw from the posterior (Thompson 1933).
- :class:`UCB1`: ``mean_i + sqrt(2 ln t / n_i)`` after one pull of each arm (Auer, Cesa-Bianchi &
  Fischer 2002, Machine Learning 47).
- :class:`Greedy`: the largest posterior mean ``(s_i + 1) / (n_i + 2)``, ties broken at random.
- :class:`RandomPolicy`: uniform choices; expected regret ``T·E|p_0 - p_1| / 2 = T/6``.

For learners: :class:`PosteriorTracker` gives, from the observed counts only, the posterior-predictive
reward of a choice and the Bayes-optimal value-to-go (a baseline and a variance-reduced return for
meta-RL trainers, :mod:`cogmodels.agents.a2c`).

Every policy follows the session protocol :class:`cogmodels.agent.SessionPolicy`
(``start`` / ``choose`` / ``observe``; re-exported here), and :func:`evaluate` plays it as an
agent with :func:`cogmodels.rollout.rollout` on the real vector environment; recurrent agents
(:meth:`cogmodels.agents.rnn.RecurrentPolicy.as_session_policy`) follow it too, so baselines and
networks are scored by the same code on the same sessions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from scipy import integrate, special, stats

import cogmodels.envs  # noqa: F401  (registers the environments)
from cogmodels.agent import (  # re-exported: their import path before the move
    SessionAgent,
    SessionPolicy,
)
from cogmodels.deprecation import renamed_arguments, renamed_attribute
from cogmodels.rollout import rollout
from cogmodels.validation import check_int, check_number

__all__ = [
    "BayesOptimal",
    "CountAgent",
    "CountPolicy",
    "Greedy",
    "RandomPolicy",
    "RegretResult",
    "SessionAgent",
    "SessionPolicy",
    "PosteriorTracker",
    "ThompsonSampling",
    "UCB1",
    "bayes_optimal_regret",
    "evaluate",
    "expected_max_mean",
]

ENV_ID = "cogmodels/MultiArmedBandit-v0"


def _check_counts(counts: Any, n_arms: int | None = None) -> np.ndarray:
    c = np.asarray(counts)
    if c.ndim != 3 or c.shape[2] != 2 or (n_arms is not None and c.shape[1] != n_arms):
        arms = "n_arms" if n_arms is None else str(n_arms)
        raise ValueError(
            f"counts must have shape (sessions, {arms}, 2) holding (successes, failures) per arm, "
            f"got shape {c.shape}"
        )
    return c


def _argmax_random_ties(x: np.ndarray, rng: np.random.Generator, tol: float = 0.0) -> np.ndarray:
    """Row-wise argmax of ``(sessions, arms)`` with ties (within ``tol``) broken uniformly."""
    best = x.max(axis=1, keepdims=True)
    tied = x >= best - tol
    if tied.sum(axis=1).max() == 1:
        return tied.argmax(axis=1)
    # a random key per candidate, -1 for non-candidates: the argmax is a uniform tied arm
    key = np.where(tied, rng.random(x.shape), -1.0)
    return key.argmax(axis=1)


class CountAgent:
    """A :class:`CountPolicy` as an :class:`~cogmodels.agent.Agent` whose state is the counts.

    The state is ``(lanes, n_actions, 2)`` integer counts of (successes, failures) per arm; ``act``
    is the policy's choice from the counts and ``learn`` adds each stepped lane's outcome (rewards
    must be 0 or 1). The policy itself is not modified, so one policy can drive many rollouts.

    Parameters
    ----------
    policy : CountPolicy
        The policy.
    n_actions : int
        Arms of the task.
    """

    def __init__(self, policy: CountPolicy, n_actions: int = 2) -> None:
        if not isinstance(policy, CountPolicy):
            raise TypeError(f"policy must be a CountPolicy, got {type(policy).__name__}")
        n_actions = check_int("n_actions", n_actions, 2)
        if policy.n_actions is not None and n_actions != policy.n_actions:
            raise ValueError(f"{type(policy).__name__} plays {policy.n_actions} arms, got n_actions={n_actions}")
        self.policy = policy
        self.n_actions = n_actions
        self.name = policy.name

    def initial_state(self, n_lanes: int) -> np.ndarray:
        """Return zero counts of shape ``(n_lanes, n_actions, 2)``."""
        return np.zeros((n_lanes, self.n_actions, 2), dtype=np.int64)

    def act(self, observation: Any, state: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Return the policy's choice from the counts ``state`` and the unchanged counts."""
        return np.asarray(self.policy.act(state, rng), dtype=np.int64), state

    def learn(self, transition: Any) -> np.ndarray:
        """Add each stepped lane's success or failure to its arm's counts and return them."""
        counts, stepped = transition.state, transition.stepped
        _add_outcomes(counts, np.flatnonzero(stepped), transition.action[stepped],
                      transition.reward[stepped], type(self.policy).__name__)
        return counts

    def __repr__(self) -> str:
        return f"CountAgent({self.policy!r}, n_actions={self.n_actions})"


def _add_outcomes(counts: np.ndarray, lanes: np.ndarray, actions: np.ndarray, rewards: Any, who: str) -> None:
    """Add one success (reward 1) or failure (reward 0) to ``counts[lane, action]`` per lane."""
    r = np.asarray(rewards)
    if not np.isin(r, (0.0, 1.0)).all():
        raise ValueError(f"{who} needs Bernoulli (0/1) rewards, got {r[:8]!r}")
    np.add.at(counts, (lanes, np.asarray(actions), (r == 0).astype(np.int64)), 1)


class CountPolicy(SessionPolicy):
    """A Bernoulli-bandit policy that reads only the counts of successes and failures per arm.

    Subclasses implement ``act(counts, rng) -> actions`` with ``counts`` of shape
    ``(sessions, n_actions, 2)`` holding ``(successes, failures)``; the session protocol keeps the
    counts. ``n_actions`` is the number of arms the policy plays (None: any); ``n_arms`` is its
    deprecated spelling.
    """

    n_actions: int | None = None  # None: any number of arms
    n_arms = renamed_attribute("n_arms", "n_actions")

    def act(self, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return one action per session from ``counts`` ``(sessions, n_actions, 2)``."""
        raise NotImplementedError

    def start(self, n_sessions: int, n_actions: int) -> None:
        """Begin new sessions with all counts at zero."""
        if self.n_actions is not None and n_actions != self.n_actions:
            raise ValueError(f"{type(self).__name__} plays {self.n_actions} arms, got n_actions={n_actions}")
        self._counts = np.zeros((n_sessions, n_actions, 2), dtype=np.int64)
        self._lanes = np.arange(n_sessions)

    def choose(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return :meth:`act` on the counts so far (the observation carries nothing)."""
        return self.act(self._counts, rng)

    def observe(self, actions: np.ndarray, rewards: np.ndarray) -> None:
        """Count each reward as a success (1) or a failure (0) of the arm pulled."""
        _add_outcomes(self._counts, self._lanes, actions, rewards, type(self).__name__)

    def as_agent(self, n_actions: int = 2) -> CountAgent:
        """Return this policy as an :class:`~cogmodels.agent.Agent` whose state is the counts.

        The agent (:class:`CountAgent`) plays with :func:`cogmodels.rollout.rollout`.
        """
        return CountAgent(self, n_actions)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class RandomPolicy(CountPolicy):
    """Uniformly random choices: expected pseudo-regret ``T·E|p_0 - p_1| / 2 = T/6`` for U(0,1) arms."""

    name = "random"

    def act(self, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return a uniformly random arm per session."""
        c = _check_counts(counts)
        return rng.integers(0, c.shape[1], size=c.shape[0])


class Greedy(CountPolicy):
    """Choose the largest posterior mean ``(s_i + 1) / (s_i + f_i + 2)`` (Beta(1, 1) prior).

    Ties are broken uniformly at random. Without exploration it locks onto the first arm that
    looks good and often misses a better one.
    """

    name = "greedy"

    def act(self, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return the arm with the largest posterior mean per session (ties at random)."""
        c = _check_counts(counts)
        mean = (c[..., 0] + 1.0) / (c.sum(axis=2) + 2.0)
        return _argmax_random_ties(mean, rng, tol=1e-12)


class ThompsonSampling(CountPolicy):
    """Thompson (1933) sampling: draw ``p_i ~ Beta(s_i + a, f_i + b)`` and choose the largest.

    ``prior = (a, b)`` are the Beta prior's parameters; ``(1, 1)`` is the uniform prior of the
    task. Agrawal & Goyal (2012, COLT) prove its logarithmic regret.
    """

    name = "thompson"

    def __init__(self, prior: tuple[float, float] = (1.0, 1.0)) -> None:
        self.prior = _check_beta_prior(prior)

    def act(self, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return the arm with the largest posterior draw per session."""
        c = _check_counts(counts)
        draw = rng.beta(c[..., 0] + self.prior[0], c[..., 1] + self.prior[1])
        return draw.argmax(axis=1)

    def __repr__(self) -> str:
        return f"ThompsonSampling(prior={self.prior})"


class UCB1(CountPolicy):
    """UCB1 (Auer, Cesa-Bianchi & Fischer 2002): pull each arm once, then maximise a bound.

    The upper confidence bound of arm ``i`` is

        mean_i + sqrt(c · ln t / n_i),

    with ``t`` the number of pulls so far and ``c = 2`` in the paper. Ties (and the order of the
    initial pulls) are broken at random.
    """

    name = "ucb1"

    def __init__(self, c: float = 2.0) -> None:
        if not (isinstance(c, int | float) and c >= 0):
            raise ValueError(f"c must be a number >= 0, got {c!r}")
        self.c = float(c)

    def act(self, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return an unpulled arm, else the arm with the largest upper bound, per session."""
        c = _check_counts(counts)
        n = c.sum(axis=2)
        t = n.sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            index = c[..., 0] / n + np.sqrt(self.c * np.log(np.maximum(t, 1)) / n)
        index = np.where(n == 0, np.inf, index)
        return _argmax_random_ties(index, rng, tol=1e-12)

    def __repr__(self) -> str:
        return f"UCB1(c={self.c})"


def _check_beta_prior(prior: Any) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in prior)
    except (TypeError, ValueError):
        raise ValueError(f"prior must be Beta parameters (a, b) > 0, got {prior!r}") from None
    if not (a > 0 and b > 0):
        raise ValueError(f"prior must be Beta parameters (a, b) > 0, got {prior!r}")
    return a, b


def expected_max_mean(prior: tuple[float, float] = (1.0, 1.0)) -> float:
    """``E[max(p_0, p_1)]`` for independent ``p_i ~ Beta(a, b)``: ``∫ 2 x f(x) F(x) dx`` (2/3 for U(0,1))."""
    a, b = _check_beta_prior(prior)
    if a == b == 1.0:
        return 2.0 / 3.0
    dist = stats.beta(a, b)
    val, _ = integrate.quad(lambda x: 2.0 * x * dist.pdf(x) * dist.cdf(x), 0.0, 1.0, limit=200)
    return float(val)


class BayesOptimal(CountPolicy):
    """The exact Bayes-optimal policy of the two-armed Bernoulli bandit with horizon ``n_trials``.

    Finite-horizon dynamic programming over the posterior counts (Bellman 1956; Berry & Fristedt
    1985). With ``t`` pulls made, the state is ``(s_0, f_0, s_1, f_1)``, ``s_0 + f_0 + s_1 + f_1 =
    t``; the posterior mean of arm ``i`` is ``m_i = (s_i + a) / (n_i + a + b)`` and

        Q_t(x, i) = m_i (1 + V_{t+1}(x + success_i)) + (1 - m_i) V_{t+1}(x + failure_i),
        V_t(x) = max_i Q_t(x, i),    V_T = 0.

    ``V_0`` is the expected total reward of the optimal policy, so its expected pseudo-regret is
    ``T·E[max(p_0, p_1)] - V_0`` (:attr:`expected_regret`). The backward pass keeps only two levels
    of values; the greedy action of each state is stored as ``int8`` (-1 marks an exact tie,
    broken at random when acting) under a compact index: level ``t``, arm-0 pulls ``n_0``, then
    ``s_0`` and ``s_1``, ``C(t + 3, 3)`` states per level, ``C(T + 3, 4)`` in all (4.4 M bytes for
    ``T = 100``; about a second to build). The values ``V_t`` of every state are kept too (as
    ``float32``, 18 MB for ``T = 100``): :meth:`value_to_go` reads them for counts observed.

    With a discount ``gamma < 1`` the future terms are weighted by ``gamma``,

        Q_t(x, i) = m_i (1 + γ V_{t+1}(x + success_i)) + (1 - m_i) γ V_{t+1}(x + failure_i),

    the Bayes-optimal value of the discounted return over the remaining trials (what a learner
    trained with discount ``γ`` estimates; :class:`PosteriorTracker`). The policy is then the
    discounted-optimal one, and :attr:`expected_regret` is the undiscounted pseudo-regret of *that*
    policy (its undiscounted value, by policy evaluation in the same backward pass).

    Attributes: ``value_`` (= ``V_0``, discounted with ``gamma``), ``expected_regret``,
    ``n_trials``, ``prior``, ``gamma``.
    """

    name = "bayes_optimal"
    n_actions = 2

    def __init__(
        self, n_trials: int = 100, prior: tuple[float, float] = (1.0, 1.0), gamma: float = 1.0
    ) -> None:
        if isinstance(n_trials, bool) or not isinstance(n_trials, int | np.integer) or not (
            1 <= n_trials <= 2000
        ):
            raise ValueError(f"n_trials must be an integer in [1, 2000], got {n_trials!r}")
        self.n_trials = int(n_trials)
        self.prior = _check_beta_prior(prior)
        self.gamma = check_number("gamma", gamma, 0.0, 1.0, low_open=True)
        T = self.n_trials
        # offset of block n0 within level t: sum_{k < n0} (k + 1)(t - k + 1)
        t = np.arange(T + 1)[:, None]
        k = np.arange(T + 2)[None, :]
        sizes = np.where(k <= t, (k + 1) * (t - k + 1), 0)
        self._block = np.concatenate([np.zeros((T + 1, 1), np.int64), np.cumsum(sizes, 1)], 1)
        level_size = self._block[:, -1]  # C(t + 3, 3)
        self._level = np.concatenate([[0], np.cumsum(level_size)])
        self._policy = np.empty(int(self._level[T]), dtype=np.int8)
        self._values = np.empty(int(self._level[T]), dtype=np.float32)
        self.value_, undiscounted = self._solve()
        self.expected_regret = T * expected_max_mean(self.prior) - undiscounted

    def _index(self, t: int, n0: np.ndarray, s0: np.ndarray, s1: np.ndarray) -> np.ndarray:
        """Index of states ``(n0, s0, s1)`` within level ``t`` (``n1 = t - n0``)."""
        return self._block[t, n0] + s0 * (t - n0 + 1) + s1

    def _states(self, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n0 = np.repeat(np.arange(t + 1), (np.arange(t + 1) + 1) * (t - np.arange(t + 1) + 1))
        n1 = t - n0
        start = self._block[t, n0]
        pos = np.arange(n0.size) - start
        s0, s1 = np.divmod(pos, n1 + 1)
        return n0, s0, s1

    def _solve(self) -> tuple[float, float]:
        """Run the backward pass; return ``V_0`` and the policy's undiscounted value ``W_0``."""
        a, b = self.prior
        T, g = self.n_trials, self.gamma
        v_next = np.zeros(int(self._block[T, -1]))
        w_next = v_next  # undiscounted value of the same policy (= v_next when gamma = 1)
        for t in range(T - 1, -1, -1):
            n0, s0, s1 = self._states(t)
            n1 = t - n0
            m0 = (s0 + a) / (n0 + a + b)
            m1 = (s1 + a) / (n1 + a + b)
            nxt = [self._index(t + 1, n0 + 1, s0 + 1, s1), self._index(t + 1, n0 + 1, s0, s1),
                   self._index(t + 1, n0, s0, s1 + 1), self._index(t + 1, n0, s0, s1)]
            q0, q1 = _q_values(m0, m1, v_next, nxt, g)
            tie = np.abs(q0 - q1) <= 1e-10 * np.maximum(1.0, np.abs(q0))
            choice = np.where(tie, -1, (q1 > q0).astype(np.int8))
            self._policy[self._level[t] : self._level[t + 1]] = choice
            if g < 1.0:  # policy evaluation without the discount; ties are broken at random
                w0, w1 = _q_values(m0, m1, w_next, nxt, 1.0)
                w_next = np.where(choice < 0, 0.5 * (w0 + w1), np.where(choice == 1, w1, w0))
            v_next = np.maximum(q0, q1)
            if g == 1.0:
                w_next = v_next
            self._values[self._level[t] : self._level[t + 1]] = v_next
        return float(v_next[0]), float(w_next[0])

    def value_to_go(self, counts: np.ndarray) -> np.ndarray:
        """Return ``V_t`` of the counts: the Bayes-optimal (discounted) value of the trials left.

        Parameters
        ----------
        counts : numpy.ndarray
            ``(sessions, 2, 2)`` integer (successes, failures) per arm; ``t`` = their sum.

        Returns
        -------
        values : numpy.ndarray
            ``(sessions,)`` float64; 0 where all ``n_trials`` trials are played.
        """
        c = _check_counts(counts, n_arms=2)
        n = c.sum(axis=2)
        t = n.sum(axis=1)
        if t.max(initial=0) > self.n_trials:
            raise ValueError(f"counts must sum to at most n_trials={self.n_trials}, got {int(t.max())}")
        out = np.zeros(c.shape[0])
        live = t < self.n_trials
        tl, nl, cl = t[live], n[live], c[live]
        out[live] = self._values[self._level[tl] + self._index(tl, nl[:, 0], cl[:, 0, 0], cl[:, 1, 0])]
        return out

    def act(self, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return the Bayes-optimal arm per session from the solved policy (ties at random)."""
        c = _check_counts(counts, n_arms=2)
        n = c.sum(axis=2)
        t = n.sum(axis=1)
        if t.max(initial=0) >= self.n_trials:
            raise ValueError(
                f"BayesOptimal was solved for n_trials={self.n_trials}; got a session with "
                f"{int(t.max())} pulls already made (build it with a longer horizon)"
            )
        idx = self._level[t] + self._index(t, n[:, 0], c[:, 0, 0], c[:, 1, 0])
        action = self._policy[idx].astype(np.int64)
        tie = action < 0
        if tie.any():
            action[tie] = rng.integers(0, 2, size=int(tie.sum()))
        return action

    def __repr__(self) -> str:
        return f"BayesOptimal(n_trials={self.n_trials}, prior={self.prior}, gamma={self.gamma})"


def _q_values(m0: np.ndarray, m1: np.ndarray, v: np.ndarray, nxt: list[np.ndarray],
              gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """Return ``Q(x, 0), Q(x, 1)`` from the next level's values ``v`` at the successor states ``nxt``.

    ``nxt`` indexes (success on 0, failure on 0, success on 1, failure on 1).
    """
    return (m0 * (1.0 + gamma * v[nxt[0]]) + (1.0 - m0) * gamma * v[nxt[1]],
            m1 * (1.0 + gamma * v[nxt[2]]) + (1.0 - m1) * gamma * v[nxt[3]])


def bayes_optimal_regret(n_trials: int = 100, prior: tuple[float, float] = (1.0, 1.0)) -> float:
    """Exact expected pseudo-regret of the Bayes-optimal policy: ``T·E[max(p_0, p_1)] - V_0``."""
    return BayesOptimal(n_trials, prior).expected_regret


class PosteriorTracker:
    r"""Observable Bayes statistics of a batch of two-armed Bernoulli-bandit sessions.

    Keeps the counts ``c_t = (s_0, f_0, s_1, f_1)`` of the rewards observed in each session and,
    for the trial about to be scored, returns two functions of them (nothing of the hidden arm
    probabilities is read):

    - the posterior-predictive mean of the reward of the chosen arm ``a_t`` given the counts
      *before* the trial, under the task's prior ``p_i ~ Beta(a, b)``,

      .. math:: \hat r_t = E[r_t \mid c_t, a_t] = \frac{s_{a_t} + a}{s_{a_t} + f_{a_t} + a + b};

      replacing ``r_t`` by ``\hat r_t`` in a policy-gradient return is a Rao-Blackwellisation
      (Casella & Robert 1996): every score term ``∇ log π(a_k | h_k)`` with ``k ≤ t`` is a
      function of ``(h_t, a_t)``, so ``E[∇ log π(a_k | h_k) r_t] = E[∇ log π(a_k | h_k) \hat r_t]``
      and the gradient estimate stays unbiased for the *sampled*-reward objective while the reward
      noise ``r_t - \hat r_t`` leaves it;
    - the Bayes-optimal value-to-go ``V^*_γ(c_t)`` of the remaining trials
      (:meth:`BayesOptimal.value_to_go` with discount ``γ``), a baseline that depends only on the
      observed history and so leaves the policy gradient unbiased (Williams 1992; Greensmith,
      Bartlett & Baxter 2004, JMLR 5);
    - at the end of a session, the *hindsight* posterior means ``E[p_i | c_T]``
      (:meth:`posterior_means`) and ``E[max(p_0, p_1) | c_T]`` (:meth:`expected_max`), from all
      the session's counts: :meth:`hindsight_signal` turns them into the hindsight
      posterior-expected pseudo-regret of each choice, ``E[p_{a_t} - max(p_0, p_1) | c_T]``, an
      unbiased, low-variance stand-in for the sampled rewards in a policy-gradient return (the
      argument is in :meth:`hindsight_signal`).

    Parameters
    ----------
    n_trials : int
        Trials per session (the horizon of the values).
    gamma : float
        Discount of the values, in (0, 1].
    prior : tuple of float
        Beta prior ``(a, b)`` of the arm probabilities; ``(1, 1)`` is the task's ``U(0, 1)``.
    """

    def __init__(self, n_trials: int = 100, gamma: float = 1.0, prior: tuple[float, float] = (1.0, 1.0)) -> None:
        self.optimal = BayesOptimal(n_trials, prior, gamma=gamma)
        self.counts = np.zeros((0, 2, 2), dtype=np.int64)
        # Gauss-Legendre on [0, 1], exact for polynomials of degree <= n_trials + 3: the integrand
        # of expected_max with a Beta(1, 1) prior has degree n_0 + n_1 + 2 <= n_trials + 2
        z, w = np.polynomial.legendre.leggauss(n_trials // 2 + 3)
        self._nodes, self._weights = (z + 1.0) / 2.0, w / 2.0

    def start(self, n_sessions: int) -> None:
        """Begin ``n_sessions`` new sessions with all counts at zero."""
        n_sessions = check_int("n_sessions", n_sessions, 1)
        self.counts = np.zeros((n_sessions, 2, 2), dtype=np.int64)

    def value(self) -> np.ndarray:
        """Return ``V^*_γ`` of the counts now, ``(sessions,)``."""
        return self.optimal.value_to_go(self.counts)

    def observe(self, actions: Any, rewards: Any) -> tuple[np.ndarray, np.ndarray]:
        r"""Score one trial of every session, then add its outcome to the counts.

        Parameters
        ----------
        actions : array_like
            ``(sessions,)`` arms chosen (0 or 1).
        rewards : array_like
            ``(sessions,)`` rewards paid (0 or 1).

        Returns
        -------
        predictive_mean : numpy.ndarray
            ``(sessions,)``: ``\hat r_t`` of the chosen arm, from the counts before the trial.
        value_before : numpy.ndarray
            ``(sessions,)``: ``V^*_γ(c_t)``, the value-to-go before the trial.
        """
        a = np.asarray(actions, dtype=np.int64)
        lanes = np.arange(self.counts.shape[0])
        if a.shape != lanes.shape or not np.isin(a, (0, 1)).all():
            raise ValueError(f"actions must be {lanes.size} arms in {{0, 1}}, got {a[:8]!r}")
        pa, pb = self.optimal.prior
        chosen = self.counts[lanes, a]
        predictive = (chosen[:, 0] + pa) / (chosen.sum(axis=1) + pa + pb)
        value = self.value()
        _add_outcomes(self.counts, lanes, a, rewards, type(self).__name__)
        return predictive, value

    def posterior_means(self) -> np.ndarray:
        """Return ``E[p_i | c]`` of the counts now, ``(sessions, 2)``: ``(s_i + a) / (n_i + a + b)``."""
        pa, pb = self.optimal.prior
        return (self.counts[..., 0] + pa) / (self.counts.sum(axis=2) + pa + pb)

    def expected_max(self) -> np.ndarray:
        r"""Return ``E[max(p_0, p_1) | c]`` of the counts now, ``(sessions,)``.

        With independent Beta posteriors ``p_i ~ Beta(s_i + a, f_i + b)`` and their CDFs ``F_i``
        (regularised incomplete Beta functions),

        .. math:: E[\max(p_0, p_1) \mid c] = \int_0^1 (1 - F_0(z) F_1(z))\, dz,

        computed by Gauss-Legendre quadrature: exact (to rounding) under the task's ``U(0, 1)``
        prior, where the integrand is a polynomial of degree ``n_0 + n_1 + 2``; 2/3 before any
        trial.

        Returns
        -------
        expected_max : numpy.ndarray
            ``(sessions,)`` float64.
        """
        pa, pb = self.optimal.prior
        a = (self.counts[..., 0] + pa)[:, :, None]
        b = (self.counts[..., 1] + pb)[:, :, None]
        cdf = special.betainc(a, b, self._nodes[None, None, :])
        return 1.0 - (cdf[:, 0] * cdf[:, 1]) @ self._weights

    def hindsight_signal(self, actions: Any) -> np.ndarray:
        r"""Return ``E[p_{a_t} - max(p_0, p_1) | c_T]`` of every trial of the sessions just played.

        Call at the end of the sessions (the counts are ``c_T``); ``actions`` are the arms chosen,
        ``(trials, sessions)``. In a policy-gradient return the signal replaces the sampled reward
        ``r_t`` without changing the expectation of the gradient of the sampled-reward objective
        (the argument is that of Rao-Blackwellisation, Casella & Robert 1996, with the tower
        property of conditional expectations). Write ``F_k`` for the history up to and including ``a_k``
        and ``F_T`` for the whole session; every score term ``∇ log π(a_t | h_t)`` with
        ``t ≤ k`` is ``F_k``-measurable, and the counts are sufficient for ``p`` given the history
        (the policy's terms of the likelihood do not depend on ``p``), so ``E[· | c_T] =
        E[· | F_T]``:

        - ``E[ E[p_{a_k} | F_T] | F_k ] = E[p_{a_k} | F_k] = E[r_k | F_k]``: the first term may
          replace ``r_k``;
        - ``E[ E[max p | F_T] | F_t ] = E[max p | F_t] = E[max p | h_t]``, because ``a_t`` is drawn
          independently of ``p`` given ``h_t``: the second term, a function of ``h_t`` in
          expectation, is a baseline of every earlier score term and leaves it unbiased.

        The session's level (``p_0 + p_1``, which dominates the variance of sampled returns)
        cancels between the two terms, much as in the latent pseudo-regret ``p_{a_t} - max p``.

        Parameters
        ----------
        actions : array_like
            ``(trials, sessions)`` arms chosen (0 or 1).

        Returns
        -------
        signal : numpy.ndarray
            ``(trials, sessions)`` float64, each ``<= 0``.
        """
        a = np.asarray(actions, dtype=np.int64)
        if a.ndim != 2 or a.shape[1] != self.counts.shape[0] or not np.isin(a, (0, 1)).all():
            raise ValueError(f"actions must be (trials, {self.counts.shape[0]}) arms in {{0, 1}}, "
                             f"got shape {a.shape}")
        means = self.posterior_means()
        return np.take_along_axis(means.T, a, axis=0) - self.expected_max()[None, :]

    def __repr__(self) -> str:
        o = self.optimal
        return f"PosteriorTracker(n_trials={o.n_trials}, gamma={o.gamma}, prior={o.prior})"


@dataclass(frozen=True)
class RegretResult:
    """Mean pseudo-regret per session with its normal-theory 95% confidence interval.

    ``regrets`` holds the per-session pseudo-regret ``sum_t (max p - p_{a_t})``.
    """

    mean: float
    ci: tuple[float, float]
    sem: float
    n_episodes: int
    regrets: np.ndarray = field(repr=False)

    def as_dict(self) -> dict[str, float | int]:
        """Return the summary as a flat dict (``mean_regret``, ``ci_low``, ``ci_high``, ...)."""
        return {
            "mean_regret": self.mean,
            "ci_low": self.ci[0],
            "ci_high": self.ci[1],
            "sem": self.sem,
            "n_episodes": self.n_episodes,
        }


@renamed_arguments(n_arms="n_actions")
def evaluate(
    policy: SessionPolicy,
    n_episodes: int = 10_000,
    *,
    seed: int | np.random.SeedSequence = 0,
    n_trials: int = 100,
    n_actions: int = 2,
    batch_size: int = 10_000,
    env_kwargs: dict | None = None,
) -> RegretResult:
    """Play ``n_episodes`` sessions of the vector bandit and return the mean pseudo-regret.

    Plays ``policy`` (as an agent, :meth:`SessionPolicy.as_agent`) with
    :func:`cogmodels.rollout.rollout` in :class:`~cogmodels.envs.bandit.MultiArmedBanditVector`
    (``batch_size`` copies at a time, one session each; batch ``b`` seeded by the ``b``-th child of
    ``SeedSequence(seed)``) and sums the ``regret`` column over each session. The environment draws
    the same arm probabilities and the same reward uniforms whatever the actions, so every policy
    evaluated with the same ``seed``, ``n_episodes`` and ``batch_size`` faces the same sessions
    (common random numbers). The policy's own randomness (ties, sampling) comes from a generator
    spawned from the same seed.

    Returns a :class:`RegretResult`: mean, 95% CI ``mean ± 1.96·sd/sqrt(n)``, SEM, per-session
    regrets. ``n_actions`` is the number of arms (``n_arms``, its old spelling, still works with a
    ``DeprecationWarning``).
    """
    if not isinstance(policy, SessionPolicy):
        raise TypeError(
            f"policy must be a SessionPolicy (start/choose/observe), e.g. ThompsonSampling() or "
            f"RecurrentPolicy.as_session_policy(), got {type(policy).__name__}"
        )
    for name, value in (("n_episodes", n_episodes), ("n_trials", n_trials), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    agent = policy.as_agent(n_actions)
    batch = min(int(batch_size), int(n_episodes))
    env = gym.make_vec(
        ENV_ID,
        num_envs=batch,
        vectorization_mode="vector_entry_point",
        n_actions=n_actions,
        n_trials=n_trials,
        autoreset_mode="same_step",
        **(env_kwargs or {}),
    )
    regrets = []
    for batch_seed in ss.spawn(math.ceil(n_episodes / batch)):
        table = rollout(agent, env, seed=batch_seed)  # one session per copy
        regrets.append(table.groupby("subject", sort=False)["regret"].sum().to_numpy())
    env.close()
    r = np.concatenate(regrets)[:n_episodes]
    mean = float(r.mean())
    sem = float(r.std(ddof=1) / math.sqrt(r.size)) if r.size > 1 else float("nan")
    return RegretResult(mean, (mean - 1.96 * sem, mean + 1.96 * sem), sem, int(r.size), r)
