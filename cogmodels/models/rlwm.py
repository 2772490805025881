"""The reinforcement-learning + working-memory model of Collins & Frank (2012)."""

from __future__ import annotations

from typing import ClassVar

from cogmodels.model import CognitiveModel, State, full, onehot, pick, put, softmax, take
from cogmodels.parameters import ParamSpec
from cogmodels.priors import inverse_temperature_prior, rate_prior, signed_prior
from cogmodels.xp import Array, namespace

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

    def _beta(self, params) -> Array:
        return params["beta"] if self.free_beta else self.beta

    def initial_state(self, params) -> State:
        """Start the RL (and WM) values of every stimulus at ``1 / n_actions``."""
        alpha = params["alpha"]
        lanes = alpha.shape[0]
        v0 = 1.0 / self.n_actions
        table = (lanes, self.max_set_size, self.n_actions)
        state = {"params": params, "q": full(alpha, table, v0), "prev": full(alpha, (lanes, self.n_actions))}
        if self.working_memory:
            state["wm"] = full(alpha, table, v0)
        return state

    def wm_weight(self, params, set_size: Array) -> Array:
        """``rho * min(1, K / set_size)`` per lane."""
        alpha = params["alpha"]
        if not self.working_memory:
            return full(alpha, alpha.shape)
        xp = namespace(alpha)
        return params["rho"] * xp.minimum(1.0, params["K"] / xp.maximum(set_size, 1.0))

    def action_probabilities(self, state, observation) -> Array:
        """Return the lapse-mixed RL (and WM-weighted) softmax policy for the current stimulus."""
        params = state["params"]
        s = observation["state"]
        beta = self._beta(params)
        beta = beta[:, None] if self.free_beta else beta
        bonus = params["kappa"][:, None] * state["prev"] if self.stickiness else 0.0
        pol = softmax(beta * (take(state["q"], s) + bonus))
        if self.working_memory:
            w = self.wm_weight(params, observation["set_size"])[:, None]
            pol = w * softmax(beta * (take(state["wm"], s) + bonus)) + (1.0 - w) * pol
        eps = params["epsilon"][:, None]
        return (1.0 - eps) * pol + eps / self.n_actions

    def latents(self, state, observation, action, reward) -> dict[str, Array]:
        """Return the prediction errors ``delta_rl`` (and ``delta_wm``, ``wm_weight``)."""
        params = state["params"]
        s = observation["state"]
        out = {"delta_rl": reward - pick(take(state["q"], s), action)}
        if self.working_memory:
            out["delta_wm"] = reward - pick(take(state["wm"], s), action)
            out["wm_weight"] = self.wm_weight(params, observation["set_size"])
        return out

    def update(self, state, observation, action, reward, next_observation) -> State:
        """Update the chosen action's RL value (and WM, after its decay toward 1 / n_actions)."""
        params = state["params"]
        xp = namespace(state["q"])
        s = observation["state"]
        chosen = onehot(action, self.n_actions)
        q_s = take(state["q"], s)  # the values of the trial's stimulus
        delta = reward - pick(q_s, action)
        alpha = params["alpha"]
        if self.negative_feedback_bias:
            alpha = xp.where(delta < 0, alpha * (1.0 - params["neg_rl"]), alpha)
        q = put(state["q"], s, q_s + chosen * (alpha * delta)[:, None])
        out = {"params": params, "q": q, "prev": chosen}
        if self.working_memory:
            v0 = 1.0 / self.n_actions
            wm = state["wm"] + params["phi"][:, None, None] * (v0 - state["wm"])
            wm_s = take(wm, s)
            delta = reward - pick(wm_s, action)
            a_wm = 1.0
            if self.negative_feedback_bias:
                a_wm = xp.where(delta < 0, 1.0 - params["neg_wm"], 1.0)
            out["wm"] = put(wm, s, wm_s + chosen * (a_wm * delta)[:, None])
        return out


class StimulusRL(RLWM):
    """The RL-only reduction of :class:`RLWM` (no working memory: ``w = 0``).

    Per-stimulus Q-learning with a fixed ``beta`` of 25, lapse, stickiness and a
    negative-feedback bias ``neg_rl`` (on a negative prediction error, as in :class:`RLWM`) — the
    baseline the RLWM model must beat (Collins & Frank 2012, Eur J Neurosci).
    """

    name = "rl_stimulus"
    working_memory = False
