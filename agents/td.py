"""Temporal-difference agents acting in Gymnasium tasks, with the prediction error as dopamine.

Linear TD learners over a :mod:`~cogmodels.agents.features` representation ``x_t`` (a one-hot for
tabular learning):

- :class:`TDCritic`: TD(λ) value prediction, ``V(x) = w · x`` (Sutton 1988; Sutton & Barto 1990),
  the model of phasic dopamine in classical conditioning (Montague, Dayan & Sejnowski 1996;
  Schultz, Dayan & Montague 1997);
- :class:`ActorCriticAgent`: a TD(λ) critic and a softmax actor trained by the critic's error
  (Barto, Sutton & Anderson 1983; Sutton & Barto 2018, §13.5);
- :class:`QLearningAgent` (Watkins's Q(λ)) and :class:`SarsaAgent` (SARSA(λ)), ε-greedy or
  softmax (Sutton & Barto 2018, ch. 6 and 12).

Where a learning rule is already a model of :mod:`cogmodels.models` it is not written again: a
trial-level tabular learner (``gamma = 0``, :class:`~cogmodels.agents.features.TabularOneHot`
states, softmax choices) takes its choice probabilities and its update, state by state, from
:class:`~cogmodels.models.q_learning.QLearning` (:class:`QLearningAgent`, :class:`SarsaAgent`) or
:class:`~cogmodels.models.actor_critic.ActorCritic` (:class:`ActorCriticAgent` with
``actor_update="direct"``), the same code that scores choices when fitting (:meth:`to_model`
returns that model). The TD(λ) code here is the rule of the other settings (bootstrapping,
eligibility traces, features, ε-greedy choices).

Every agent exposes the TD error of its latest step as ``last_delta`` and records it at every step
of :meth:`TDAgent.run`, which plays a task with :func:`cogmodels.rollout.rollout` (the agent as a
protocol :class:`~cogmodels.agent.Agent`: :meth:`TDAgent.as_agent`) and returns rollout's step
table (one row per step: ``subject``, ``session``, ``step``, ``trial``, ``action``, ``reward``,
``terminated``, ``truncated``, the scalar ``info`` entries of the task, then ``delta`` and
``value``). Randomness (action draws and the environment's seed) comes only from the seed: the
same seed gives the same table.

The Pavlovian-conditioning study that trains :class:`TDCritic` (``pavlovian_prediction_errors``,
``trial_deltas``) lives in :mod:`cogmodels.experiments.dopamine`; the old import path from this
module still works, with a ``DeprecationWarning``.

Examples
--------
A TD(λ) critic learns the discounted value of each step between a cue and the reward that
follows it 10 steps later, ``γ^(9 - k)`` ``k`` steps after the cue:

>>> from cogmodels.agents.features import CompleteSerialCompound
>>> from cogmodels.agents.td import TDCritic
>>> critic = TDCritic(CompleteSerialCompound(15), alpha=0.2, gamma=0.9, lam=0.5)
>>> steps = critic.run("cogmodels/PavlovianConditioning-v0", seed=0, env_kwargs={"n_trials": 300})
>>> critic.w[:10].round(2)
array([0.39, 0.43, 0.48, 0.53, 0.59, 0.66, 0.73, 0.81, 0.9 , 1.  ])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd
from gymnasium import spaces

import cogmodels.envs  # noqa: F401  (registers the environments)
from cogmodels.agents.features import (
    Representation,
    TabularOneHot,
)
from cogmodels.deprecation import moved_names
from cogmodels.model import CognitiveModel
from cogmodels.validation import check_number

__all__ = [
    "ActorCriticAgent",
    "QLearningAgent",
    "SarsaAgent",
    "TDAgent",
    "TDCritic",
    "TDRolloutAgent",
]

#: the Pavlovian study moved to :mod:`cogmodels.experiments.dopamine`: its old import path warns
__getattr__ = moved_names(__name__, ("pavlovian_prediction_errors", "trial_deltas"),
                          "cogmodels.experiments.dopamine")

PAVLOVIAN = "cogmodels/PavlovianConditioning-v0"


def _check_limit(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
    return int(value)


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max())
    return e / e.sum()


def _make_env(env: gym.Env | str, env_kwargs: Mapping[str, Any] | None) -> gym.Env:
    if isinstance(env, str):
        if env not in gym.registry:
            raise ValueError(f"env must be a gymnasium.Env or a registered environment id, got {env!r}")
        return gym.make(env, **dict(env_kwargs or {})).unwrapped  # rollout's bare task
    if not isinstance(env, gym.Env):
        raise TypeError(f"env must be a gymnasium.Env or a registered id, got {type(env).__name__}")
    if env_kwargs:
        raise ValueError("env_kwargs applies only when env is an environment id, got an env instance")
    return env


def _trial_level_failure(
    agent: TDAgent, n_states: int | None, extra: Mapping[str, tuple[bool, str, Any]]
) -> tuple[str, str, Any] | None:
    """Return the first condition under which no :mod:`cogmodels.models` model is ``agent``.

    That is ``(name, allowed, value)`` of the first failing condition, or None when a model
    reproduces the trial-level learner: ``gamma = 0`` (each trial's target is its reward), a
    tabular representation of the current observation (that has seen at most ``n_states``
    states, unless ``n_states`` is None), known actions, a finite ``beta > 0``, and the class's
    own ``extra`` conditions (name: (ok, allowed, value)).
    """
    rep = agent.representation
    tabular = isinstance(rep, TabularOneHot) and rep.history == 1
    beta = getattr(agent, "beta", float("nan"))  # a critic has no policy
    checks = {
        "gamma": (agent.gamma == 0.0, "0 (each trial's target is its reward)", agent.gamma),
        "representation": (tabular, "TabularOneHot(history=1)", rep),
        "n_states": (n_states is None or not tabular or len(rep.states) <= n_states,
                     f"at least the {len(getattr(rep, 'states', ()))} states the agent has seen",
                     n_states),
        "n_actions": (agent.n_actions is not None, "set (pass n_actions or run the agent once)",
                      agent.n_actions),
        "beta": (bool(np.isfinite(beta) and beta > 0), "a finite number > 0", beta),
        **extra,
    }
    for name, (ok, allowed, value) in checks.items():
        if not ok:
            return name, allowed, value
    return None


def _require_trial_level(
    agent: TDAgent, n_states: int, extra: Mapping[str, tuple[bool, str, Any]]
) -> None:
    """Raise unless a :mod:`cogmodels.models` model reproduces the trial-level learner ``agent``."""
    failure = _trial_level_failure(agent, n_states, extra)
    if failure is not None:
        name, allowed, value = failure
        raise ValueError(
            f"{type(agent).__name__}.to_model needs {name} = {allowed}, got {value!r}: only a "
            "trial-level tabular learner has a model of the protocol"
        )


#: no rule fixed for a run (see ``TDAgent._rule``)
_NO_RULE = object()


class _ModelRule:
    """The learning rule of a :mod:`cogmodels.models` model applied to one state of a tabular learner.

    A trial-level tabular learner (``gamma = 0``, one-hot states) learns each state's values by
    the rule of a bandit model, independently of the other states: the learner hands the model
    the weights of the current state (``slice_state``) and writes its update back. So the rule
    is written once, in :mod:`cogmodels.models`, and the learner is a thin adapter over it.
    """

    def __init__(self, model: CognitiveModel, params: Mapping[str, float]) -> None:
        self.model = model
        self.params = model.check_params(params, n_lanes=1)
        self.no_choice = np.zeros((1, model.n_actions))  # no previous choice: no stickiness

    def probabilities(self, state: dict[str, Any]) -> np.ndarray:
        """Return the model's choice probabilities in the sliced state, ``(n_actions,)``."""
        return self.model.action_probabilities(state, {})[0]

    def update(self, state: dict[str, Any], action: int, reward: float) -> dict[str, Any]:
        """Return the model's state after choosing ``action`` and receiving ``reward``."""
        return self.model.update(state, {}, np.array([action]), np.array([reward]), {})


class TDAgent:
    """Base class of the TD agents: the shared episode loop and bookkeeping.

    Subclasses implement ``_allocate(n_actions)``, ``_begin_episode()``, ``act(x)`` and
    ``_step(x, a, r, x_next, a_next, terminal, learn) -> (delta, value)``.
    """

    #: whether the agent needs a discrete action space
    discrete = True
    #: whether ``_step`` needs the next action (chosen before the update, as in SARSA)
    _needs_next_action = False
    TRACE_RESETS = ("episode", "trial")

    def __init__(
        self,
        representation: Representation,
        *,
        gamma: float,
        lam: float,
        trace_reset: str = "episode",
        seed: int | np.random.Generator | None = None,
    ) -> None:
        if not isinstance(representation, Representation):
            raise TypeError(
                "representation must be a cogmodels.agents.features.Representation (e.g. "
                f"CompleteSerialCompound, TabularOneHot), got {type(representation).__name__}"
            )
        self.representation = representation
        self.n_features = int(representation.n_features)
        self.gamma = check_number("gamma", gamma, 0.0, 1.0)
        self.lam = check_number("lam", lam, 0.0, 1.0)
        if trace_reset not in self.TRACE_RESETS:
            raise ValueError(
                f"trace_reset must be one of {list(self.TRACE_RESETS)}, got {trace_reset!r}"
            )
        self.trace_reset = trace_reset
        self.rng = np.random.default_rng(seed)
        self.last_delta = float("nan")
        self.n_actions: int | None = None
        self._rule_cache: tuple[tuple, _ModelRule | None] = ((), None)
        self._run_rule: Any = _NO_RULE

    # -- the model rule of trial-level learners ------------------------------------------------
    def _trial_checks(self) -> dict[str, tuple[bool, str, Any]]:
        """Return the class's own conditions for a trial-level model (name: (ok, allowed, value))."""
        return {"model": (False, "a class with a trial-level model", type(self).__name__)}

    def _trial_model(self, n_states: int = 1) -> tuple[CognitiveModel, dict[str, float]]:
        """Return the :mod:`cogmodels.models` model and parameters of the trial-level learner."""
        raise NotImplementedError

    def _rule_key(self) -> tuple:
        return (self.gamma, id(self.representation), self.n_actions, getattr(self, "beta", None),
                getattr(self, "initial_value", None))

    def _rule(self) -> _ModelRule | None:
        """Return the model rule this learner follows now (trial-level tabular settings), else None."""
        if self._run_rule is not _NO_RULE:  # fixed for the length of a run
            return self._run_rule
        key = self._rule_key()
        if key != self._rule_cache[0]:
            rule = None
            if _trial_level_failure(self, None, self._trial_checks()) is None:
                rule = _ModelRule(*self._trial_model())
            self._rule_cache = (key, rule)
        return self._rule_cache[1]

    # -- to implement ---------------------------------------------------------------------------
    def _allocate(self, n_actions: int) -> None:
        raise NotImplementedError

    def _begin_episode(self) -> None:
        raise NotImplementedError

    def clear_traces(self) -> None:
        """Set the eligibility traces to 0."""
        raise NotImplementedError

    def act(self, x: np.ndarray) -> int:
        """Choose an action for features ``x`` (draws from ``self.rng``)."""
        raise NotImplementedError

    def _step(self, x, a, r, x_next, a_next, terminal, learn) -> tuple[float, float]:
        raise NotImplementedError

    def _end_episode(self, x_last: np.ndarray | None, terminal: bool, learn: bool) -> None:
        """Finish an episode (a hook for subclasses; nothing by default)."""

    def _end_trial(self) -> None:
        """Finish a trial (with ``trace_reset="trial"``): clear the eligibility traces."""
        self.clear_traces()

    # -- shared ---------------------------------------------------------------------------------
    def _draw(self, probs: np.ndarray) -> int:
        c = np.cumsum(probs)
        return int(min(np.searchsorted(c, self.rng.random() * c[-1], side="right"), probs.size - 1))

    def _prepare(self, env: gym.Env) -> None:
        space = env.action_space
        if self.discrete:
            if not isinstance(space, spaces.Discrete):
                raise ValueError(
                    f"{type(self).__name__} needs a Discrete action space, got {space!r}"
                )
            n = int(space.n)
            if self.n_actions is None:
                self._allocate(n)
            elif self.n_actions != n:
                raise ValueError(
                    f"{type(self).__name__} was built for n_actions={self.n_actions}, but the env "
                    f"has {n} actions"
                )

    def as_agent(self, *, learn: bool = True) -> TDRolloutAgent:
        """Return this learner as an :class:`~cogmodels.agent.Agent` (:class:`TDRolloutAgent`).

        It plays one lane of :func:`cogmodels.rollout.rollout` with ``record="steps"`` and keeps
        learning in this object's weights (``learn=False``: only the prediction errors).
        """
        return TDRolloutAgent(self, learn=learn)

    def run(
        self,
        env: gym.Env | str,
        *,
        n_trials: int | None = None,
        n_steps: int | None = None,
        seed: int | None = None,
        env_kwargs: Mapping[str, Any] | None = None,
        learn: bool = True,
        info_keys: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Play ``env`` and learn; return one row per step.

        ``env`` is an environment or a registered id (built with ``env_kwargs``). Without limits
        the agent plays one episode; with ``n_trials`` (trials completed, as the task's
        ``trial_row`` defines them; one step per trial in tasks without it) or ``n_steps`` it
        plays episodes (resetting the environment) until the first limit is reached. The agent
        keeps what it learnt across calls (call :meth:`reset` to start afresh). ``seed`` seeds the
        environment and the agent's action draws; ``None`` draws both from the agent's generator.
        ``learn=False`` evaluates the prediction errors without changing the weights. With
        ``trace_reset="trial"`` the eligibility traces are cleared at the end of every trial.

        It is the step table of :func:`cogmodels.rollout.rollout` (``record="steps"``) of
        :meth:`as_agent`, in the glossary's vocabulary: ``subject`` (0), ``session`` (each episode
        is a session), ``step`` and ``trial`` (from 0 within the session; ``trial`` counts the
        trials completed before the step), ``time`` (tasks with a bin width only), ``action``,
        ``reward``, ``terminated``, ``truncated``, the task's scalar ``info`` entries (or those in
        ``info_keys``; the task's own ``trial`` entry is the table's ``trial`` and is left out),
        then ``delta`` (the TD error of this step) and ``value`` (the agent's value of this
        step's state, before its update). ``time_in_trial`` is such an ``info`` entry, where the
        task reports it (Pavlovian conditioning, delayed match-to-sample, n-back): the step's
        index within its trial, a count of steps and not a time in seconds.
        """
        from cogmodels.rollout import STEP_COLUMNS, rollout

        n_trials = _check_limit("n_trials", n_trials)
        n_steps = _check_limit("n_steps", n_steps)
        env = _make_env(env, env_kwargs)
        self._prepare(env)
        self._run_rule = self._rule()  # the settings do not change during the run
        try:
            table = rollout(self.as_agent(learn=learn), env, n_trials=n_trials, n_steps=n_steps,
                            seed=self.rng if seed is None else seed, record="steps")
        finally:
            self._run_rule = _NO_RULE
        fixed = {"subject", *STEP_COLUMNS, *TDRolloutAgent.COLUMNS}
        drop = []
        for col in table.columns:
            key = col[5:] if col.startswith("info_") and col[5:] in fixed else col
            if col not in fixed and (key == "trial" or (info_keys is not None and key not in info_keys)):
                drop.append(col)
        return table.drop(columns=drop)


class TDRolloutAgent:
    """A :class:`TDAgent` as an :class:`~cogmodels.agent.Agent`: one lane, learning every step.

    ``act`` returns the learner's action for the current features (``representation.observe``
    of each observation, once, in order); ``learn`` is the learner's TD update of the transition
    (``TDAgent._step``), clears the traces at trial ends (``trace_reset="trial"``) and starts a
    new episode (representation and traces reset) where the rollout started a new session. The
    weights are the learner's own, so they persist across rollouts. Reports ``delta`` (the step's
    TD error) and ``value`` (the value of the step's state before the update) after every step.

    Parameters
    ----------
    agent : TDAgent
        The learner.
    learn : bool
        Update the weights (False: only compute the prediction errors).
    """

    #: the columns it reports after every step
    COLUMNS = ("delta", "value")

    def __init__(self, agent: TDAgent, *, learn: bool = True) -> None:
        if not isinstance(agent, TDAgent):
            raise TypeError(f"agent must be a TDAgent (e.g. TDCritic, QLearningAgent), got {type(agent).__name__}")
        self.agent = agent
        self.learn_weights = bool(learn)
        self.name = type(agent).__name__
        self.n_actions = agent.n_actions

    def initial_state(self, n_lanes: int) -> dict[str, Any]:
        """Return the state of a rollout; a TD learner holds one set of weights: one lane."""
        if n_lanes != 1:
            raise ValueError(f"{self.name} learns one set of weights: roll it out in one lane, got n_lanes={n_lanes}")
        return {"x": None, "a": None, "columns": {}}

    def _begin_episode(self, obs: Any) -> np.ndarray:
        self.agent.representation.reset()
        self.agent._begin_episode()
        return self.agent.representation.observe(obs)

    def act(self, observation: Any, state: dict[str, Any], rng: np.random.Generator):
        """Return the learner's action (drawn from ``rng``) for the current observation."""
        agent = self.agent
        agent.rng = rng
        if state["x"] is None:  # the rollout's first step
            state["x"] = self._begin_episode(observation["obs"][0])
            state["a"] = agent.act(state["x"])
        return np.array([state["a"]]), state

    def learn(self, transition: Any) -> dict[str, Any]:
        """Learn from the step's outcome, choose the next action, start a new episode if needed."""
        agent, state = self.agent, transition.state
        x, a = state["x"], state["a"]
        info = transition.info[0]
        reset = "final_obs" in info
        terminal, truncated = bool(transition.terminated[0]), bool(transition.truncated[0])
        x_next = a_next = None
        if not terminal:
            x_next = agent.representation.observe(info["final_obs"] if reset else transition.next_observation["obs"][0])
            if agent._needs_next_action:  # SARSA's target: the next action, chosen first
                a_next = agent.act(x_next)
        delta, value = agent._step(x, a, float(transition.reward[0]), x_next, a_next, terminal, self.learn_weights)
        if x_next is not None and a_next is None:  # else act on what was just learnt
            a_next = agent.act(x_next)
        agent.last_delta = float(delta)
        # one-lane tuples: array-like for the rollout, cheaper to build than arrays every step
        state["columns"] = {"delta": (float(delta),), "value": (float(value),)}
        if agent.trace_reset == "trial" and (transition.trial_end is None or transition.trial_end[0]):
            agent._end_trial()
        if terminal or truncated:
            agent._end_episode(x_next if truncated else x, terminal, self.learn_weights)
        if reset:
            x_next = self._begin_episode(transition.next_observation["obs"][0])
            a_next = agent.act(x_next)
        state["x"], state["a"] = x_next, a_next
        return state

    def trial_columns(self, state: dict[str, Any]) -> dict[str, np.ndarray]:
        """Return ``delta`` and ``value`` of the step just played."""
        return state["columns"]

    def __repr__(self) -> str:
        return f"TDRolloutAgent({self.agent!r})"


class TDCritic(TDAgent):
    r"""TD(λ) value prediction with a linear value function: the dopamine prediction error.

    .. math::

        \delta_t = r_t + \gamma V(x_t) - V(x_{t-1}), \qquad
        e_t = \gamma\lambda\, e_{t-1} + x_{t-1}, \qquad w \mathrel{+}= \alpha\, \delta_t\, e_t

    with ``V(x) = w · x`` (Sutton 1988). ``δ_t`` is indexed by the step ``t`` whose observation
    reveals the reward ``r_t`` and the new state ``x_t``, as in Montague, Dayan & Sejnowski (1996)
    and Schultz, Dayan & Montague (1997): in :class:`~cogmodels.envs.pavlovian.
    PavlovianConditioning` the response to the reward is then at the reward's step and the
    response to the cue at the cue's step, and ``V(x_t)`` predicts the rewards after ``t``. (This
    is the usual TD update of the transition ``x_{t-1} -> x_t`` with the reward observed in
    ``x_t``.) The first step of an episode follows a null state of value 0, and the episode's end
    is a terminal transition to value 0.

    The traces are cleared at the end of every trial (``trace_reset="trial"``): the steps
    between trials (all-zero features under the time representations) then separate the trials
    as in the trial-by-trial simulations of Schultz et al. (1997) and Ludvig et al. (2008);
    without the reset, TD(λ > 0) would credit the states of one trial with the next trial's
    reward across the unlearnable inter-trial interval.

    With the complete serial compound and TD(λ): before learning ``δ ≈ r`` at the reward and 0 at
    the cue; after learning ``δ ≈ γ^delay · r`` at the (unpredictable) cue and ``≈ 0`` at the
    reward; an omitted reward gives ``δ ≈ -r`` at its expected time.

    The agent does not choose: it does nothing (action 0), or, with ``lick_threshold``, licks
    (action 1) whenever ``V(x_t) > lick_threshold``, the anticipatory licking that reads out the
    learnt prediction.
    """

    def __init__(
        self,
        representation: Representation,
        *,
        alpha: float = 0.1,
        gamma: float = 0.98,
        lam: float = 0.9,
        initial_weight: float = 0.0,
        lick_threshold: float | None = None,
        trace_reset: str = "trial",
        seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(representation, gamma=gamma, lam=lam, trace_reset=trace_reset, seed=seed)
        self.alpha = check_number("alpha", alpha, 0.0, 1.0)
        self.initial_weight = float(initial_weight)
        self.lick_threshold = None if lick_threshold is None else float(lick_threshold)
        self.reset()

    def reset(self) -> TDCritic:
        """Forget everything learnt (weights and traces)."""
        self.w = np.full(self.n_features, self.initial_weight)
        self.e = np.zeros(self.n_features)
        self._x_prev = np.zeros(self.n_features)
        self._clear_pending = False
        return self

    def _prepare(self, env: gym.Env) -> None:  # any action space; acts 0 / 1
        pass

    def _begin_episode(self) -> None:
        self.clear_traces()
        self._x_prev = np.zeros(self.n_features)

    def clear_traces(self) -> None:
        """Zero the eligibility traces."""
        self.e[:] = 0.0
        self._clear_pending = False

    def _end_trial(self) -> None:
        # the transition out of the trial's last step is learnt at the next step: clear after it
        self._clear_pending = True

    def value(self, x: np.ndarray) -> float:
        """``V(x) = w · x``."""
        return float(self.w @ x)

    def act(self, x: np.ndarray) -> int:
        """Return 1 (lick) when ``V(x) > lick_threshold``, else 0 (always 0 without a threshold)."""
        if self.lick_threshold is None:
            return 0
        return int(self.value(x) > self.lick_threshold)

    def update(
        self, x: np.ndarray, reward: float, x_next: np.ndarray | None = None, *,
        terminal: bool = False, learn: bool = True,
    ) -> float:
        """One TD(λ) update of the transition ``x -> x_next`` with ``reward``; returns δ.

        ``terminal`` (or ``x_next=None``) bootstraps with value 0 and clears the traces.
        """
        v_next = 0.0 if terminal or x_next is None else float(self.w @ x_next)
        delta = float(reward) + self.gamma * v_next - float(self.w @ x)
        if learn:
            self.e *= self.gamma * self.lam
            self.e += x
            self.w += self.alpha * delta * self.e
            if terminal or x_next is None:
                self.e[:] = 0.0
        self.last_delta = delta
        return delta

    def _step(self, x, a, r, x_next, a_next, terminal, learn) -> tuple[float, float]:
        value = self.value(x)
        delta = self.update(self._x_prev, r, x, learn=learn)
        self._x_prev = x
        if self._clear_pending:
            self.clear_traces()
        return delta, value

    def _end_episode(self, x_last, terminal, learn) -> None:
        if terminal:
            self.update(self._x_prev, 0.0, None, terminal=True, learn=learn)


class _ActionValueAgent(TDAgent):
    """Shared code of Q-learning and SARSA: ``Q(x, a) = θ_a · x`` and the exploration policy.

    Parameters: ``representation``; ``n_actions`` (default: from the first env played);
    ``alpha`` (step size), ``gamma`` (discount; 0 for trial-based tasks), ``lam`` (trace decay);
    ``policy`` ``"epsilon_greedy"`` (``epsilon``) or ``"softmax"`` (inverse temperature
    ``beta``); ``initial_value`` (``θ``'s initial value); ``trace_reset`` (``"episode"`` or
    ``"trial"``: when the traces are cleared); ``seed``.
    """

    POLICIES = ("epsilon_greedy", "softmax")

    def __init__(
        self,
        representation: Representation,
        *,
        n_actions: int | None = None,
        alpha: float = 0.1,
        gamma: float = 0.9,
        lam: float = 0.0,
        policy: str = "epsilon_greedy",
        epsilon: float = 0.1,
        beta: float = 5.0,
        initial_value: float = 0.0,
        trace_reset: str = "episode",
        seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(representation, gamma=gamma, lam=lam, trace_reset=trace_reset, seed=seed)
        self.alpha = check_number("alpha", alpha, 0.0, 1.0)
        if policy not in self.POLICIES:
            raise ValueError(f"policy must be one of {list(self.POLICIES)}, got {policy!r}")
        self.policy_name = policy
        self.epsilon = check_number("epsilon", epsilon, 0.0, 1.0)
        self.beta = check_number("beta", beta, 0.0, finite=False)
        self.initial_value = float(initial_value)
        if n_actions is not None:
            if isinstance(n_actions, bool) or not isinstance(n_actions, int) or n_actions < 2:
                raise ValueError(f"n_actions must be an integer >= 2 or None, got {n_actions!r}")
            self._allocate(n_actions)

    def _allocate(self, n_actions: int) -> None:
        self.n_actions = int(n_actions)
        self.reset()

    def reset(self) -> _ActionValueAgent:
        """Forget everything learnt: ``θ`` to ``initial_value`` (``Q_0`` for one-hot features)."""
        if self.n_actions is None:
            return self
        self.theta = np.full((self.n_actions, self.n_features), self.initial_value)
        self.e = np.zeros_like(self.theta)
        return self

    def _begin_episode(self) -> None:
        self.e[:] = 0.0

    def clear_traces(self) -> None:
        """Zero the eligibility traces."""
        self.e[:] = 0.0

    def q(self, x: np.ndarray) -> np.ndarray:
        """Return the action values ``Q(x, ·)``."""
        if self.n_actions is None:
            raise ValueError(f"{type(self).__name__} has no actions yet: pass n_actions or run it")
        return self.theta @ x

    def _trial_checks(self) -> dict[str, tuple[bool, str, Any]]:
        return {"policy": (self.policy_name == "softmax", "'softmax'", self.policy_name)}

    def _rule_key(self) -> tuple:
        return (*super()._rule_key(), self.alpha, self.policy_name)

    def _trial_model(self, n_states: int = 1) -> tuple[CognitiveModel, dict[str, float]]:
        from cogmodels.models.q_learning import QLearning

        model = QLearning(self.n_actions, stickiness=False, initial_value=self.initial_value,
                          beta_max=max(20.0, 2.0 * self.beta))
        return model, {"alpha": self.alpha, "beta": self.beta}

    def _model_state(self, rule: _ModelRule, s: int) -> dict[str, Any]:
        return {"params": rule.params, "q": self.theta[:, s][None, :], "prev": rule.no_choice}

    def policy(self, x: np.ndarray) -> np.ndarray:
        """Return action probabilities: ε-greedy (ties split evenly) or softmax ``exp(β Q)``.

        A trial-level softmax learner takes them from :class:`~cogmodels.models.q_learning.QLearning`.
        """
        rule = self._rule()
        if rule is not None:
            return rule.probabilities(self._model_state(rule, int(x.argmax())))
        q = self.q(x)
        if self.policy_name == "softmax":
            return _softmax(self.beta * q)
        best = q >= q.max()
        return self.epsilon / q.size + (1.0 - self.epsilon) * best / best.sum()

    def act(self, x: np.ndarray) -> int:
        q = self.q(x)
        a = self._draw(self.policy(x))
        self._was_greedy = bool(q[a] >= q.max())
        return a

    def _target(self, q_next: np.ndarray, a_next: int | None) -> float:
        raise NotImplementedError

    def _decay_traces(self) -> None:
        self.e *= self.gamma * self.lam

    def _step(self, x, a, r, x_next, a_next, terminal, learn) -> tuple[float, float]:
        rule = self._rule()
        if rule is not None:  # trial-level: the rule of cogmodels.models.QLearning, state by state
            s = int(x.argmax())
            value = float(self.theta[a, s])
            if learn:
                self.theta[:, s] = rule.update(self._model_state(rule, s), a, r)["q"][0]
            return r - value, value
        value = float(self.theta[a] @ x)
        q_next = None if x_next is None else self.theta @ x_next
        target = r if terminal or self.gamma == 0 else r + self.gamma * self._target(q_next, a_next)
        delta = target - value
        if learn:
            self._decay_traces()
            self.e[a] += x
            self.theta += self.alpha * delta * self.e
            if terminal:
                self.e[:] = 0.0
        return delta, value

    def to_model(self) -> tuple[CognitiveModel, dict[str, float]]:
        """Return this agent as a model of the protocol with its parameters: ``(model, params)``.

        A softmax learner with ``gamma = 0`` on a single-state task (bandits, reversal learning;
        the agent must have seen one observation at most) is Q-learning without stickiness (``make_model("q_learning", stickiness=False)``, the
        agent's ``initial_value``) with ``alpha`` and ``beta``: Q-learning and SARSA coincide
        there. ``cogmodels.fits`` then fits those parameters to the agent's or people's choices,
        and ``compare_models`` sets it beside the other models. Other settings raise ValueError.
        """
        _require_trial_level(self, 1, self._trial_checks())
        return self._trial_model()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.representation!r}, n_actions={self.n_actions}, "
            f"alpha={self.alpha}, gamma={self.gamma}, lam={self.lam}, policy={self.policy_name!r})"
        )


class QLearningAgent(_ActionValueAgent):
    r"""Q-learning (Watkins 1989), with Watkins's eligibility traces when ``lam > 0``.

    .. math::

        \delta_t = r_t + \gamma \max_{a'} Q(x_{t+1}, a') - Q(x_t, a_t), \qquad
        \theta \mathrel{+}= \alpha\, \delta_t\, e_t

    with ``e_t = γλ e_{t-1} + x_t`` on the chosen action's row, cut to 0 when ``a_t`` is
    exploratory (non-greedy) (Sutton & Barto 2018, §12.10). The next action is chosen after the
    update, so that in a trial-based task the choice on trial ``t + 1`` reflects the outcome of
    trial ``t``. The behaviour policy is ε-greedy or softmax
    (``policy``). For trial-based tasks (bandits, reversal) use ``gamma=0``: each trial's value
    is its immediate reward, and the TD error is the Rescorla–Wagner error ``r - Q(a)``.
    """

    def _target(self, q_next, a_next) -> float:
        return float(q_next.max())

    def _decay_traces(self) -> None:
        # Watkins: the traces survive only greedy actions (this step's action, chosen by act())
        if self.lam > 0 and getattr(self, "_was_greedy", True):
            self.e *= self.gamma * self.lam
        else:
            self.e[:] = 0.0


class SarsaAgent(_ActionValueAgent):
    r"""SARSA(λ) (Rummery & Niranjan 1994; Sutton & Barto 2018, §12.7): on-policy TD control.

    .. math::

        \delta_t = r_t + \gamma Q(x_{t+1}, a_{t+1}) - Q(x_t, a_t), \qquad
        e_t = \gamma\lambda e_{t-1} + \nabla_\theta Q(x_t, a_t), \qquad
        \theta \mathrel{+}= \alpha\, \delta_t\, e_t

    where ``a_{t+1}`` is the action actually taken next (ε-greedy or softmax), chosen before the
    update as in the textbook algorithm when ``gamma > 0`` (with ``gamma = 0`` the target is
    ``r_t`` alone and the next action is chosen after the update).
    """

    @property
    def _needs_next_action(self) -> bool:
        return self.gamma > 0

    def _target(self, q_next, a_next) -> float:
        return float(q_next[a_next])


class ActorCriticAgent(TDAgent):
    r"""Actor-critic: a TD(λ) critic and a softmax actor trained by the critic's error.

    .. math::

        \pi(a \mid x) \propto \exp(\beta\, \theta_a \cdot x), \qquad
        \delta_t = r_t + \gamma V(x_{t+1}) - V(x_t), \qquad V(x) = w \cdot x

        w \mathrel{+}= \alpha_c\, \delta_t\, e^w_t, \qquad \theta \mathrel{+}= \alpha_a\, \delta_t\, e^\theta_t

    with traces ``e^w_t = γλ e^w_{t-1} + x_t`` and ``e^θ_t = γλ e^θ_{t-1} + g_t``, where ``g_t``
    is the policy gradient ``∇_θ log π(a_t | x_t) = β (onehot(a_t) - π) ⊗ x_t``
    (``actor_update="gradient"``; Sutton & Barto 2018, §13.5) or the chosen action's features
    only, ``onehot(a_t) ⊗ x_t`` (``"direct"``: the preferences ``H(x, a) += α_a δ`` of Barto,
    Sutton & Anderson 1983, the form used as a model of the basal ganglia by Houk, Adams & Barto
    1995 and O'Doherty et al. 2004). The critic's δ is the dopamine signal that trains both.
    """

    ACTOR_UPDATES = ("gradient", "direct")

    def __init__(
        self,
        representation: Representation,
        *,
        n_actions: int | None = None,
        alpha_critic: float = 0.1,
        alpha_actor: float = 0.1,
        beta: float = 1.0,
        gamma: float = 0.9,
        lam: float = 0.0,
        actor_update: str = "gradient",
        initial_value: float = 0.0,
        trace_reset: str = "episode",
        seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(representation, gamma=gamma, lam=lam, trace_reset=trace_reset, seed=seed)
        self.alpha_critic = check_number("alpha_critic", alpha_critic, 0.0, 1.0)
        self.alpha_actor = check_number("alpha_actor", alpha_actor, 0.0, finite=False)
        self.beta = check_number("beta", beta, 0.0, finite=False)
        if actor_update not in self.ACTOR_UPDATES:
            raise ValueError(
                f"actor_update must be one of {list(self.ACTOR_UPDATES)}, got {actor_update!r}"
            )
        self.actor_update = actor_update
        self.initial_value = float(initial_value)
        if n_actions is not None:
            if isinstance(n_actions, bool) or not isinstance(n_actions, int) or n_actions < 2:
                raise ValueError(f"n_actions must be an integer >= 2 or None, got {n_actions!r}")
            self._allocate(n_actions)

    def _allocate(self, n_actions: int) -> None:
        self.n_actions = int(n_actions)
        self.reset()

    def reset(self) -> ActorCriticAgent:
        """Forget everything learnt (critic and actor weights, traces)."""
        self.w = np.full(self.n_features, self.initial_value)
        self.e_w = np.zeros(self.n_features)
        if self.n_actions is not None:
            self.theta = np.zeros((self.n_actions, self.n_features))
            self.e_theta = np.zeros_like(self.theta)
        return self

    def _begin_episode(self) -> None:
        self.clear_traces()

    def clear_traces(self) -> None:
        """Zero the critic's and the actor's eligibility traces."""
        self.e_w[:] = 0.0
        self.e_theta[:] = 0.0

    def value(self, x: np.ndarray) -> float:
        """Return the critic's ``V(x) = w · x``."""
        return float(self.w @ x)

    def preferences(self, x: np.ndarray) -> np.ndarray:
        """Return the actor's preferences ``H(x, ·) = θ x``."""
        if self.n_actions is None:
            raise ValueError("ActorCriticAgent has no actions yet: pass n_actions or run it")
        return self.theta @ x

    def _trial_checks(self) -> dict[str, tuple[bool, str, Any]]:
        return {
            "actor_update": (self.actor_update == "direct", "'direct'", self.actor_update),
            "alpha_actor": (self.alpha_actor <= 1.0, "at most 1 (the model's bound)", self.alpha_actor),
        }

    def _rule_key(self) -> tuple:
        return (*super()._rule_key(), self.alpha_critic, self.alpha_actor, self.actor_update)

    def _trial_model(self, n_states: int = 1) -> tuple[CognitiveModel, dict[str, float]]:
        from cogmodels.models.actor_critic import ActorCritic

        model = ActorCritic(self.n_actions, n_states=n_states, beta=self.beta,
                            initial_value=self.initial_value)
        return model, {"alpha_c": self.alpha_critic, "alpha_a": self.alpha_actor}

    def _model_state(self, rule: _ModelRule, s: int) -> dict[str, Any]:
        return {"params": rule.params, "v": self.w[s : s + 1], "h": self.theta[:, s][None, :],
                "prev": rule.no_choice}

    def policy(self, x: np.ndarray) -> np.ndarray:
        """``π(· | x) = softmax(β H(x, ·))``.

        A trial-level learner takes them from :class:`~cogmodels.models.actor_critic.ActorCritic`.
        """
        rule = self._rule()
        if rule is not None:
            return rule.probabilities(self._model_state(rule, int(x.argmax())))
        return _softmax(self.beta * self.preferences(x))

    def act(self, x: np.ndarray) -> int:
        """Draw an action from ``π(· | x)``."""
        return self._draw(self.policy(x))

    def to_model(self, n_states: int = 1) -> tuple[CognitiveModel, dict[str, float]]:
        """Return this agent as a model of the protocol with its parameters: ``(model, params)``.

        With ``gamma = 0``, one-hot states and ``actor_update="direct"`` the agent is the tabular
        actor-critic of :mod:`cogmodels.models.actor_critic` (``make_model("actor_critic")``
        with ``beta`` and ``initial_value`` fixed to the agent's; ``n_states``: the number of
        distinct ``state`` values in the task's trial table) with parameters ``alpha_c`` and
        ``alpha_a``. ``cogmodels.fits`` then fits them to the agent's or people's choices, and
        ``compare_models`` sets it beside the other models. Other settings raise ValueError.
        """
        _require_trial_level(self, n_states, self._trial_checks())
        return self._trial_model(n_states)

    def _step(self, x, a, r, x_next, a_next, terminal, learn) -> tuple[float, float]:
        rule = self._rule()
        if rule is not None:  # trial-level: the rule of cogmodels.models.ActorCritic, state by state
            s = int(x.argmax())
            value = float(self.w[s])
            if learn:
                new = rule.update(self._model_state(rule, s), a, r)
                self.w[s], self.theta[:, s] = new["v"][0], new["h"][0]
            return r - value, value
        value = self.value(x)
        v_next = 0.0 if terminal else self.value(x_next)
        delta = r + self.gamma * v_next - value
        if learn:
            decay = self.gamma * self.lam
            self.e_w *= decay
            self.e_w += x
            if self.actor_update == "gradient":
                g = -self.beta * self.policy(x)
                g[a] += self.beta
            else:
                g = np.zeros(self.n_actions)
                g[a] = 1.0
            self.e_theta *= decay
            self.e_theta += g[:, None] * x[None, :]
            self.w += self.alpha_critic * delta * self.e_w
            self.theta += self.alpha_actor * delta * self.e_theta
            if terminal:
                self.e_w[:] = 0.0
                self.e_theta[:] = 0.0
        return delta, value
