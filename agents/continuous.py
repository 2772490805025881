"""Continuous-action actor-critic: a Gaussian policy and a critic, both linear in the features.

The reward-trained decoder: any feature vector in (neural features, a task state), a
``d``-dimensional action out (a cursor velocity), trained from a scalar reward alone by the
critic's TD error (Williams 1992; Sutton & Barto 2018, §13.7; the reinforcement-learning BCI
decoders of DiGiovanna et al. 2009, IEEE TBME 56, 54–64, and Pohlmeyer et al. 2014, PLoS ONE 9,
e87253).

Examples
--------
A one-step task: the reward is highest at the action ``[0.5, -0.5]``, and the policy's mean moves
there while its exploration noise shrinks.

>>> import numpy as np
>>> from cogmodels.agents.continuous import GaussianActorCritic
>>> agent = GaussianActorCritic(n_features=2, action_dim=2, alpha_actor=0.05, seed=0)
>>> x, best = np.array([1.0, 0.0]), np.array([0.5, -0.5])
>>> for _ in range(1000):
...     a = agent.act(x)                                    # a ~ N(W [x, 1], diag(σ²))
...     delta = agent.update(x, a, -np.sum((a - best) ** 2))  # one-step task: δ = r - V(x)
>>> agent.mean(x).round(1)
array([ 0.5, -0.5])
>>> bool((agent.std < 0.5).all())
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd
from gymnasium import spaces

from cogmodels.agents import schedules
from cogmodels.validation import check_number

__all__ = ["GaussianActorCritic", "GaussianRolloutAgent", "linear_schedule"]

Schedule = Callable[[int], Any]


def linear_schedule(start: float, end: float, n_steps: int) -> Schedule:
    """``σ(t)`` going linearly from ``start`` to ``end`` over ``n_steps`` updates, then ``end``."""
    if not (start > 0 and end > 0):
        raise ValueError(f"start and end must be standard deviations > 0, got {start!r}, {end!r}")
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
        raise ValueError(f"n_steps must be a positive integer, got {n_steps!r}")
    return schedules.linear_schedule(start, end, n_steps)


class GaussianActorCritic:
    r"""Actor-critic with a Gaussian policy linear in the features and a linear critic.

    With ``x̃ = [x, 1]`` (``fit_intercept``; else ``x̃ = x``):

    .. math::

        a \sim \mathcal N(W \tilde x, \operatorname{diag}\sigma^2), \qquad
        V(x) = w \cdot \tilde x, \qquad
        \delta = r + \gamma V(x') - V(x)

        w \mathrel{+}= \alpha_c\, \delta\, e^w, \qquad
        W \mathrel{+}= \alpha_a\, \delta\, e^W, \qquad
        \log\sigma \mathrel{+}= \alpha_\sigma\, \delta\, e^\sigma

    with eligibility traces ``e ← γλ e + g`` of the gradients ``g^w = x̃``,
    ``g^W = ((a - μ) / σ²) ⊗ x̃`` (times ``σ²`` when ``scale_by_variance``: Williams's 1992
    step size ``α ∝ σ²``, which keeps the mean's step from blowing up as σ shrinks) and
    ``g^σ = (a - μ)² / σ² - 1`` (the score of ``log σ``). ``γ = 0`` (the default) is a
    contextual bandit: each step is its own episode and ``δ = r - V(x)``, the reward minus the
    critic's baseline. ``λ = 0`` is TD(0).

    The actor's steps scale with δ, hence with the reward's units, and a large error (a
    reward quadratic in the error, say) can make them diverge; ``normalize_delta`` divides the
    actor's and σ's δ by its running root mean square (updated at rate ``normalize_rate``;
    ``delta_rms``), the usual advantage normalisation, which leaves the fixed point unchanged
    and makes ``alpha_actor`` free of the reward's scale. The critic always learns from the raw δ.

    The exploration noise ``σ`` (one per action dimension) is learnt (``learn_std``, kept in
    ``[min_std, max_std]``), fixed, or follows ``std_schedule(t)`` of the number of updates ``t``
    (e.g. :func:`linear_schedule`).

    Inputs may be one sample (``x`` of shape ``(n_features,)``) or a batch ``(n, n_features)``
    of parallel lanes (e.g. a vector environment); a batch update averages the lanes' steps and
    keeps one trace per lane. ``last_delta`` is the latest δ (an array for a batch).
    """

    def __init__(
        self,
        n_features: int,
        action_dim: int,
        *,
        alpha_actor: float = 0.01,
        alpha_critic: float = 0.1,
        alpha_std: float = 0.01,
        gamma: float = 0.0,
        lam: float = 0.0,
        std: float | Any = 1.0,
        learn_std: bool = True,
        min_std: float = 0.01,
        max_std: float = 10.0,
        std_schedule: Schedule | None = None,
        fit_intercept: bool = True,
        scale_by_variance: bool = True,
        normalize_delta: bool = False,
        normalize_rate: float = 0.01,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        for name, v in (("n_features", n_features), ("action_dim", action_dim)):
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        self.n_features = int(n_features)
        self.action_dim = int(action_dim)
        self.alpha_actor = check_number("alpha_actor", alpha_actor, 0.0)
        self.alpha_critic = check_number("alpha_critic", alpha_critic, 0.0)
        self.alpha_std = check_number("alpha_std", alpha_std, 0.0)
        self.gamma = check_number("gamma", gamma, 0.0, 1.0)
        self.lam = check_number("lam", lam, 0.0, 1.0)
        if not 0 < min_std <= max_std:
            raise ValueError(f"need 0 < min_std <= max_std, got min_std={min_std!r}, max_std={max_std!r}")
        self.min_std, self.max_std = float(min_std), float(max_std)
        s = np.broadcast_to(np.asarray(std, dtype=np.float64), (self.action_dim,))
        if not ((s > 0) & np.isfinite(s)).all():
            raise ValueError(f"std must be > 0 (a scalar or one per action dimension), got {std!r}")
        self.initial_std = s.copy()
        if std_schedule is not None and not callable(std_schedule):
            raise TypeError(f"std_schedule must be callable(t) -> std, got {type(std_schedule).__name__}")
        self.std_schedule = std_schedule
        self.learn_std = bool(learn_std) and std_schedule is None
        self.fit_intercept = bool(fit_intercept)
        self.scale_by_variance = bool(scale_by_variance)
        self.normalize_delta = bool(normalize_delta)
        self.normalize_rate = check_number("normalize_rate", normalize_rate, 0.0, 1.0)
        self.rng = np.random.default_rng(seed)
        self.reset()

    # -- state ----------------------------------------------------------------------------------
    @property
    def n_inputs(self) -> int:
        """Length of ``x̃`` (the features plus the intercept)."""
        return self.n_features + int(self.fit_intercept)

    def reset(self) -> GaussianActorCritic:
        """Forget everything learnt: weights 0, σ back to its initial value, traces cleared."""
        self.W = np.zeros((self.action_dim, self.n_inputs))
        self.w = np.zeros(self.n_inputs)
        self.log_std = np.log(np.clip(self.initial_std, self.min_std, self.max_std))
        self.n_updates = 0
        self.delta_rms = float("nan")
        self.last_delta: float | np.ndarray = float("nan")
        self.clear_traces()
        return self

    def clear_traces(self) -> None:
        """Set the eligibility traces to 0 (call at the start of an episode)."""
        self._e_w = self._e_W = self._e_s = None

    @property
    def std(self) -> np.ndarray:
        """The current exploration noise σ, ``(action_dim,)``."""
        if self.std_schedule is not None:
            s = np.broadcast_to(np.asarray(self.std_schedule(self.n_updates), dtype=np.float64),
                                (self.action_dim,))
            return s.copy()
        return np.exp(self.log_std)

    # -- computation ----------------------------------------------------------------------------
    def _inputs(self, x: Any, name: str = "x") -> tuple[np.ndarray, bool]:
        a = np.asarray(x, dtype=np.float64)
        single = a.ndim == 1
        a2 = a[None, :] if single else a
        if a2.ndim != 2 or a2.shape[1] != self.n_features:
            raise ValueError(
                f"{name} must have shape (n_features,) or (n, n_features) with n_features="
                f"{self.n_features}, got shape {a.shape}"
            )
        if self.fit_intercept:
            a2 = np.concatenate([a2, np.ones((a2.shape[0], 1))], axis=1)
        return a2, single

    def mean(self, x: Any) -> np.ndarray:
        """Return the policy's mean action ``W x̃`` (the greedy decoder output)."""
        xt, single = self._inputs(x)
        m = xt @ self.W.T
        return m[0] if single else m

    def value(self, x: Any) -> float | np.ndarray:
        """Return the critic's ``V(x) = w · x̃``."""
        xt, single = self._inputs(x)
        v = xt @ self.w
        return float(v[0]) if single else v

    def act(self, x: Any, *, greedy: bool = False) -> np.ndarray:
        """Draw ``a ~ N(W x̃, σ²)`` (or return the mean if ``greedy``)."""
        m = self.mean(x)
        if greedy:
            return m
        return m + self.std * self.rng.standard_normal(m.shape)

    def log_prob(self, x: Any, action: Any) -> float | np.ndarray:
        """``log π(a | x)`` under the current policy."""
        m = self.mean(x)
        s = self.std
        z = (np.asarray(action, dtype=np.float64) - m) / s
        lp = -0.5 * (z**2).sum(-1) - np.log(s).sum() - 0.5 * self.action_dim * np.log(2 * np.pi)
        return float(lp) if np.ndim(lp) == 0 else lp

    def update(
        self,
        x: Any,
        action: Any,
        reward: Any,
        x_next: Any = None,
        *,
        terminal: Any = None,
    ) -> float | np.ndarray:
        """One actor-critic step for the transition ``x --action--> (reward, x_next)``; returns δ.

        ``x_next=None`` (or ``terminal`` true) bootstraps with value 0 (and with ``gamma=0`` the
        next state never matters). ``terminal`` may be one flag per lane; the traces of terminal
        lanes are cleared after the update.
        """
        xt, single = self._inputs(x)
        n = xt.shape[0]
        a = np.asarray(action, dtype=np.float64).reshape(n, self.action_dim)
        r = np.broadcast_to(np.asarray(reward, dtype=np.float64), (n,))
        if terminal is None:
            term = np.full(n, x_next is None)
        else:
            term = np.broadcast_to(np.asarray(terminal, dtype=bool), (n,)) | (x_next is None)
        v = xt @ self.w
        v_next = np.zeros(n)
        if x_next is not None and self.gamma > 0:
            xn, _ = self._inputs(x_next, "x_next")
            v_next = np.where(term, 0.0, xn @ self.w)
        delta = r + self.gamma * v_next - v

        s = self.std
        diff = a - xt @ self.W.T  # (n, d)
        g_W = (diff if self.scale_by_variance else diff / s**2)[:, :, None] * xt[:, None, :]
        g_s = diff**2 / s**2 - 1.0
        decay = self.gamma * self.lam
        if self._e_w is None or self._e_w.shape[0] != n or decay == 0.0:
            self._e_w, self._e_W, self._e_s = xt.copy(), g_W, g_s
        else:
            self._e_w = decay * self._e_w + xt
            self._e_W = decay * self._e_W + g_W
            self._e_s = decay * self._e_s + g_s
        self.w += self.alpha_critic * (delta[:, None] * self._e_w).mean(axis=0)
        d_actor = delta
        if self.normalize_delta:
            ms = float(np.mean(delta**2))
            if np.isnan(self.delta_rms):
                self.delta_rms = np.sqrt(ms)
            else:
                rho = self.normalize_rate
                self.delta_rms = float(np.sqrt((1 - rho) * self.delta_rms**2 + rho * ms))
            d_actor = delta / max(self.delta_rms, 1e-8)
        self.W += self.alpha_actor * (d_actor[:, None, None] * self._e_W).mean(axis=0)
        if self.learn_std and self.alpha_std > 0:
            self.log_std += self.alpha_std * (d_actor[:, None] * self._e_s).mean(axis=0)
            self.log_std = np.clip(self.log_std, np.log(self.min_std), np.log(self.max_std))
        if term.any() and decay > 0:
            self._e_w[term] = 0.0
            self._e_W[term] = 0.0
            self._e_s[term] = 0.0
        self.n_updates += 1
        self.last_delta = float(delta[0]) if single else delta
        return self.last_delta

    # -- acting in an environment ---------------------------------------------------------------
    def as_agent(
        self,
        action_space: spaces.Box,
        *,
        features: Callable[[np.ndarray], np.ndarray] | None = None,
        learn: bool = True,
        greedy: bool = False,
    ) -> GaussianRolloutAgent:
        """Return this actor-critic as an :class:`~cogmodels.agent.Agent` (:class:`GaussianRolloutAgent`).

        It plays :func:`cogmodels.rollout.rollout` in tasks with the ``Box`` ``action_space``,
        learning in this object's weights (``learn=False``: only the prediction errors).
        """
        return GaussianRolloutAgent(self, action_space, features=features, learn=learn, greedy=greedy)

    def run(
        self,
        env: gym.Env | str,
        *,
        n_steps: int,
        features: Callable[[np.ndarray], np.ndarray] | None = None,
        seed: int | None = None,
        env_kwargs: Mapping[str, Any] | None = None,
        learn: bool = True,
        greedy: bool = False,
    ) -> pd.DataFrame:
        """Play ``n_steps`` steps of a continuous-action task (resetting at episode ends).

        ``features(obs)`` maps an observation to the feature vector (default: the flattened
        observation). Actions are clipped to a ``Box`` action space's bounds before they reach the
        environment; the policy learns from the sampled (unclipped) action. ``seed`` seeds the
        environment and the action noise (``None``: both from the agent's generator). Returns one
        row per step: the step table of :func:`cogmodels.rollout.rollout` (``record="steps"``) of
        :meth:`as_agent` in one lane: ``subject`` (0), ``session`` (each episode is a session),
        ``step`` and ``trial`` (from 0 within the session), ``time`` (tasks with a bin width
        only), ``reward``, ``terminated``, ``truncated``, ``action_0 ... action_{d-1}`` (the
        clipped action the task received), the task's scalar ``info`` entries, then ``delta``,
        ``value`` and ``a_0 ... a_{d-1}`` (the sampled action the policy learns from).
        """
        from cogmodels.rollout import rollout

        if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
            raise ValueError(f"n_steps must be a positive integer, got {n_steps!r}")
        if isinstance(env, str):
            env = gym.make(env, **dict(env_kwargs or {}))
        elif env_kwargs:
            raise ValueError("env_kwargs applies only when env is an environment id")
        agent = self.as_agent(env.action_space, features=features, learn=learn, greedy=greedy)
        return rollout(agent, env, n_steps=n_steps, seed=self.rng if seed is None else seed, record="steps")

    def __repr__(self) -> str:
        return (
            f"GaussianActorCritic(n_features={self.n_features}, action_dim={self.action_dim}, "
            f"alpha_actor={self.alpha_actor}, alpha_critic={self.alpha_critic}, gamma={self.gamma}, "
            f"lam={self.lam})"
        )


class GaussianRolloutAgent:
    """A :class:`GaussianActorCritic` as an :class:`~cogmodels.agent.Agent`, batched over lanes.

    ``act`` draws ``a ~ N(W x̃, σ²)`` for each lane's features (the mean when ``greedy``) and hands
    the environment the action clipped to the ``Box`` bounds; ``learn`` is the actor-critic update
    of the sampled (unclipped) action (:meth:`GaussianActorCritic.update`, one batch over the
    lanes that stepped, bootstrapping from the observation that ended a session where one
    ended), and clears the traces where a new session began. The weights are the actor-critic's
    own, shared by all lanes, so they persist across rollouts. Reports ``delta``, ``value`` (the
    critic's value of the step's state before the update) and the sampled action ``a_0 ...``
    after every step.

    Parameters
    ----------
    agent : GaussianActorCritic
        The actor-critic.
    action_space : gymnasium.spaces.Box
        The task's action space, of shape ``(agent.action_dim,)``.
    features : callable, optional
        ``features(obs) -> (n_features,)`` of one lane's observation (default: flattened).
    learn : bool
        Update the weights (False: only compute the prediction errors).
    greedy : bool
        Act with the policy's mean instead of a draw.
    """

    def __init__(self, agent: GaussianActorCritic, action_space: spaces.Space, *,
                 features: Callable[[np.ndarray], np.ndarray] | None = None, learn: bool = True,
                 greedy: bool = False) -> None:
        if not isinstance(agent, GaussianActorCritic):
            raise TypeError(f"agent must be a GaussianActorCritic, got {type(agent).__name__}")
        if not isinstance(action_space, spaces.Box) or action_space.shape != (agent.action_dim,):
            raise ValueError(
                f"env must have a Box action space of shape ({agent.action_dim},), got {action_space!r}"
            )
        if features is not None and not callable(features):
            raise TypeError(f"features must be callable(obs) -> features or None, got {type(features).__name__}")
        self.agent = agent
        self.space = action_space
        self.features = features
        self.learn_weights = bool(learn)
        self.greedy = bool(greedy)
        self.name = "GaussianActorCritic"

    def _features(self, observations: np.ndarray) -> np.ndarray:
        if self.features is None:
            return np.asarray(observations, dtype=np.float64).reshape(len(observations), -1)
        return np.stack([np.asarray(self.features(o), dtype=np.float64) for o in observations])

    def initial_state(self, n_lanes: int) -> dict[str, Any]:
        """Clear the traces; return the state (the lanes' features and sampled actions)."""
        self.agent.clear_traces()
        return {"x": None, "a": None, "lanes": n_lanes, "columns": {}}

    def _inputs(self, x: np.ndarray, state: dict[str, Any]) -> np.ndarray:
        """One lane: the unbatched vector, as :meth:`GaussianActorCritic.update` treats one sample."""
        return x[0] if state["lanes"] == 1 else x

    def act(self, observation: Any, state: dict[str, Any], rng: np.random.Generator):
        """Draw each lane's action (the policy's, from ``rng``); return it clipped to the bounds."""
        agent = self.agent
        agent.rng = rng
        if state["x"] is None:
            state["x"] = self._features(observation["obs"])
        a = agent.act(self._inputs(state["x"], state), greedy=self.greedy)
        state["a"] = a = np.asarray(a).reshape(state["lanes"], agent.action_dim)
        return np.clip(a, self.space.low, self.space.high).astype(self.space.dtype), state

    def learn(self, transition: Any) -> dict[str, Any]:
        """Update from the stepped lanes' outcomes; start new sessions' lanes with clear traces."""
        agent, state = self.agent, transition.state
        x, a = state["x"], state["a"]
        nxt = transition.next_observation["obs"]
        terminal = np.asarray(transition.terminated, dtype=bool)
        info = transition.info
        # lanes whose session ended and restarted: their last observation is in info["final_obs"]
        reset = [i for i, d in enumerate(info) if "final_obs" in d] if isinstance(info, list) else []
        x_last = None
        if not terminal.all():  # bootstrap from the last observation of the lanes still going
            last = np.array(nxt, copy=True)
            for lane in reset:
                last[lane] = info[lane]["final_obs"]
            x_last = self._features(last)
        stepped = np.asarray(transition.stepped, dtype=bool)
        if state["lanes"] == 1:  # one sample, as GaussianActorCritic.update treats it
            value = np.array([agent.value(x[0])])
            delta = np.array([self._delta(x[0], a[0], float(transition.reward[0]),
                                          None if x_last is None else x_last[0], terminal[0], value[0])])
        else:
            value = agent.value(x)
            delta = np.full(len(x), np.nan)
            m = stepped
            delta[m] = self._delta(x[m], a[m], transition.reward[m], None if x_last is None else x_last[m],
                                   terminal[m], value[m])
        state["columns"] = {"delta": delta, "value": value, **{f"a_{j}": a[:, j] for j in range(agent.action_dim)}}
        if reset:  # a new session: clear the traces, as at the start of a rollout
            agent.clear_traces()
        state["x"] = self._features(nxt) if reset or x_last is None else x_last
        return state

    def _delta(self, x, a, r, x_next, terminal, value):
        agent = self.agent
        if self.learn_weights:
            return agent.update(x, a, r, x_next, terminal=terminal)
        v_next = 0.0 if x_next is None else np.where(terminal, 0.0, agent.value(x_next))
        delta = r + agent.gamma * v_next - value
        agent.last_delta = float(delta) if np.ndim(delta) == 0 else delta
        return agent.last_delta

    def trial_columns(self, state: dict[str, Any]) -> dict[str, np.ndarray]:
        """Return ``delta``, ``value`` and the sampled actions ``a_j`` of the step just played."""
        return state["columns"]

    def __repr__(self) -> str:
        return f"GaussianRolloutAgent({self.agent!r})"
