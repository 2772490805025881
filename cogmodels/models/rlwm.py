"""The reinforcement-learning + working-memory model of Collins & Frank (2012)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from cogmodels.model import CognitiveModel, State, onehot, softmax
from cogmodels.parameters import ParamSpec
from cogmodels.priors import inverse_temperature_prior, rate_prior, signed_prior

__all__ = ["RLWM", "StimulusRL"]

MAX_SET_SIZE = 6


class RLWM(CognitiveModel):
    r"""A slow incremental RL module and a fast, capacity-limited, decaying working memory.

    Per block (new stimuli, so the state resets) with ``n_s`` stimuli and ``n_A`` actions,
    values start at ``1/n_A``. After choosing ``a`` to stimulus ``s`` with reward ``r``:

    .. math::

        Q(s,a) \mathrel{+}= \alpha_r (r - Q(s,a)), \qquad
        W(s,a) \mathrel{+}= \alpha^{WM}_r (r - W(s,a)), \qquad
        W \leftarrow W + \phi (1/n_A - W)

    with ``alpha_r = alpha`` and ``alpha^WM_r = 1`` for a non-negative prediction error, scaled
    by ``1 - neg_rl`` when the module's own prediction error is negative (``r < Q(s,a)``) and by
    ``1 - neg_wm`` when ``r < W(s,a)`` (the negative-feedback biases; ``W`` after its decay).
    With the task's binary feedback (``r`` in {0, 1}, values in [0, 1]) this is the rule of
    Collins' code, which scales on ``r = 0``; with graded rewards (points scaled to [0, 1], say)
    the prediction error decides, as for :class:`~cogmodels.models.QLearning`'s ``alpha_neg``,
    so that ``neg_rl`` stays identifiable when every reward is positive.
    The policy mixes the two modules with the working-memory weight
    ``w = rho * min(1, K / n_s)``:

    .. math::

        \pi = (1 - \epsilon) [w\, \mathrm{softmax}(\beta W(s) + \kappa c)
              + (1 - w)\, \mathrm{softmax}(\beta Q(s) + \kappa c)] + \epsilon / n_A

    where ``c`` is the one-hot previous choice (stickiness). ``beta`` is fixed at 25 unless
    ``free_beta``.

    References: Collins & Frank (2012), Eur J Neurosci, "How much of reinforcement learning is
    working memory, not reinforcement learning?"; Collins & Frank (2018), PNAS, "Within- and
    across-trial dynamics of human EEG reveal cooperative interplay between reinforcement learning
    and working memory" (negative-feedback biases); Collins (2018), J Cogn Neurosci, "The
    tortoise and the hare: interactions between reinforcement learning and working memory".
    """

    name = "rlwm"
    tasks = ("cogmodels/RLWM-v0",)
    observation_columns = ("state", "set_size")
    reset_on_block = True
    working_memory: ClassVar[bool] = True

    def __init__(
        self,
        n_actions: int = 3,
        *,
        free_beta: bool = False,
        beta: float = 25.0,
        stickiness: bool = True,
        negative_feedback_bias: bool = True,
        max_set_size: int = MAX_SET_SIZE,
    ) -> None:
        super().__init__(n_actions)
        self.free_beta = bool(free_beta)
        self.beta = float(beta)
        self.stickiness = bool(stickiness)
        self.negative_feedback_bias = bool(negative_feedback_bias)
        self.max_set_size = int(max_set_size)
        specs = [ParamSpec("alpha", 0.0, 1.0, 0.1, rate_prior(), description="RL learning rate")]
        if self.free_beta:
            specs.append(ParamSpec("beta", 0.0, 100.0, 25.0, inverse_temperature_prior(100.0), description="inverse temperature"))
        if self.working_memory:
            specs += [
                ParamSpec("rho", 0.0, 1.0, 0.8, rate_prior(), description="working-memory reliance"),
                ParamSpec("K", 1.0, float(self.max_set_size), 3.0, rate_prior(1.0, float(self.max_set_size)),
                          description="WM capacity"),
                ParamSpec("phi", 0.0, 1.0, 0.1, rate_prior(), description="WM decay"),
            ]
        specs.append(ParamSpec("epsilon", 0.0, 1.0, 0.01, rate_prior(), description="lapse rate"))
        if self.stickiness:
            specs.append(ParamSpec("kappa", -1.0, 1.0, 0.0, signed_prior(-1.0, 1.0), description="stickiness (in value units)"))
        if self.negative_feedback_bias:
            specs.append(ParamSpec("neg_rl", 0.0, 1.0, 0.0, rate_prior(), description="RL neglect of negative prediction errors"))
            if self.working_memory:
                specs.append(ParamSpec("neg_wm", 0.0, 1.0, 0.0, rate_prior(), description="WM neglect of negative prediction errors"))
        self.param_specs = tuple(specs)

    def _beta(self, params) -> np.ndarray:
        return params["beta"] if self.free_beta else np.full_like(params["alpha"], self.beta)

    def initial_state(self, params) -> State:
        """Start the RL (and WM) values of every stimulus at ``1 / n_actions``."""
        lanes = params["alpha"].shape[0]
        v0 = 1.0 / self.n_actions
        state = {
            "params": params,
            "q": np.full((lanes, self.max_set_size, self.n_actions), v0),
            "prev": np.zeros((lanes, self.n_actions)),
        }
        if self.working_memory:
            state["wm"] = np.full((lanes, self.max_set_size, self.n_actions), v0)
        return state

    def wm_weight(self, params, set_size: np.ndarray) -> np.ndarray:
        """``rho * min(1, K / set_size)`` per lane."""
        if not self.working_memory:
            return np.zeros_like(params["alpha"])
        return params["rho"] * np.minimum(1.0, params["K"] / np.maximum(set_size, 1.0))

    def _rows(self, observation) -> np.ndarray:
        """Flat indices of each lane's current stimulus row in a (lanes, stimuli, actions) table."""
        s = observation["state"].astype(np.int64)
        width = self.max_set_size * self.n_actions
        base = np.arange(s.shape[0]) * width + s * self.n_actions
        return base[:, None] + np.arange(self.n_actions)

    def action_probabilities(self, state, observation) -> np.ndarray:
        """Return the lapse-mixed RL (and WM-weighted) softmax policy for the current stimulus."""
        params = state["params"]
        rows = self._rows(observation)
        beta = self._beta(params)[:, None]
        bonus = params["kappa"][:, None] * state["prev"] if self.stickiness else 0.0
        pol = softmax(beta * (state["q"].reshape(-1)[rows] + bonus))
        if self.working_memory:
            w = self.wm_weight(params, observation["set_size"])[:, None]
            pol = w * softmax(beta * (state["wm"].reshape(-1)[rows] + bonus)) + (1.0 - w) * pol
        eps = params["epsilon"][:, None]
        return (1.0 - eps) * pol + eps / self.n_actions

    def latents(self, state, observation, action, reward) -> dict[str, np.ndarray]:
        """Return the prediction errors ``delta_rl`` (and ``delta_wm``, ``wm_weight``)."""
        params = state["params"]
        s = observation["state"].astype(np.int64)
        lanes = np.arange(s.shape[0])
        out = {"delta_rl": reward - state["q"][lanes, s, action]}
        if self.working_memory:
            out["delta_wm"] = reward - state["wm"][lanes, s, action]
            out["wm_weight"] = self.wm_weight(params, observation["set_size"])
        return out

    def update(self, state, observation, action, reward, next_observation) -> State:
        """Update the chosen action's RL value (and WM, after its decay toward 1 / n_actions)."""
        params = state["params"]
        cell = self._rows(observation)[:, 0] + action  # flat index of (lane, stimulus, action)
        q = state["q"].copy()
        flat = q.reshape(-1)
        delta = reward - flat[cell]
        alpha = params["alpha"]
        if self.negative_feedback_bias:
            alpha = np.where(delta < 0, alpha * (1.0 - params["neg_rl"]), alpha)
        flat[cell] += alpha * delta
        out = {"params": params, "q": q, "prev": onehot(action, self.n_actions).astype(float)}
        if self.working_memory:
            v0 = 1.0 / self.n_actions
            wm = state["wm"] + params["phi"][:, None, None] * (v0 - state["wm"])
            flat = wm.reshape(-1)
            delta = reward - flat[cell]
            a_wm = np.ones_like(alpha)
            if self.negative_feedback_bias:
                a_wm = np.where(delta < 0, 1.0 - params["neg_wm"], 1.0)
            flat[cell] += a_wm * delta
            out["wm"] = wm
        return out


class StimulusRL(RLWM):
    """The RL-only reduction of :class:`RLWM` (no working memory: ``w = 0``).

    Per-stimulus Q-learning with a fixed ``beta`` of 25, lapse, stickiness and a
    negative-feedback bias ``neg_rl`` (on a negative prediction error, as in :class:`RLWM`) — the
    baseline the RLWM model must beat (Collins & Frank 2012, Eur J Neurosci).
    """

    name = "rl_stimulus"
    working_memory = False
