"""The hybrid learner of Kool, Cushman & Gershman (2016)'s two-step task, with stakes."""

from __future__ import annotations

from cogmodels.model import CognitiveModel, State, full, onehot, pick, put, softmax, take
from cogmodels.models.two_step import (
    check_value_stickiness,
    stake_weight,
    sticky_logits,
    unscaled_outcome,
)
from cogmodels.parameters import ParamSpec
from cogmodels.priors import inverse_temperature_prior, rate_prior, signed_prior
from cogmodels.validation import check_bool, check_number
from cogmodels.xp import Array

__all__ = ["KoolTwoStep"]


class KoolTwoStep(CognitiveModel):
    r"""The hybrid model-based / model-free learner of Kool et al.'s deterministic two-step task.

    Each trial starts in one of two first-stage states ``s1`` (``state``), each with two actions;
    in both states action ``a`` leads deterministically to second-stage state ``a``, which pays
    drifting points (no second-stage choice). With ``Q_2(s_2)`` the second-stage values and
    ``Q_{MF}(s_1, a)`` the model-free first-stage values, the model-based value is
    ``Q_{MB}(s_1, a) = Q_2(a)`` and

    .. math::

        P(a \mid s_1) \propto \exp\big(\beta [w_t Q_{MB}(s_1, a) + (1 - w_t) Q_{MF}(s_1, a)
            + \kappa [(s_1, a) = (s_1, a)^{prev}]]\big)

        \delta_1 = Q_2(s_2) - Q_{MF}(s_1, a), \quad \delta_2 = r - Q_2(s_2), \quad
        Q_{MF}(s_1, a) \mathrel{+}= \alpha (\delta_1 + \lambda \delta_2), \quad
        Q_2(s_2) \mathrel{+}= \alpha \delta_2

    with ``w_t = w_high`` on high-stakes trials (``stakes = high_stakes``) and ``w_low`` otherwise,
    ``r = reward / stakes`` the points before the stake multiplied them, and the stickiness on the
    previous trial's state and action (it acts only when the same first-stage state returns).
    Model-free values are learnt per first-stage state while the model-based values generalise
    across them: this is what makes model-based control pay off in this task (Kool et al. 2016).
    Parameters ``alpha, beta, lam, w_low, w_high, kappa``; ``initial_value`` (4.5, the middle of
    the 0-9 points) starts every value, as in the authors' code. ``value_stickiness=False`` puts
    ``κ`` outside the product with β (logit units). For a session without stakes (Kool et al.
    2016) give every trial ``stakes = 1``: ``w_low`` is then the model-based weight.

    References: Kool, Cushman & Gershman (2016), PLoS Comput Biol 12, e1005090, "When does
    model-based control pay off?"; Kool, Gershman & Cushman (2017), Psychological Science 28,
    1321-1333 (the stakes, Experiment 2); code: github.com/wkool/arbitration.
    """

    name = "kool_two_step"
    tasks = ("cogmodels/KoolTwoStep-v0",)
    observation_columns = ("state", "stakes")

    def __init__(
        self,
        n_actions: int = 2,
        *,
        stickiness: bool = True,
        value_stickiness: bool = True,
        initial_value: float = 4.5,
        high_stakes: float = 5.0,
    ) -> None:
        if n_actions != 2:
            raise ValueError(f"Kool et al.'s two-step task has n_actions=2, got {n_actions!r}")
        super().__init__(n_actions)
        self.n_states = 2
        self.stickiness = check_bool("stickiness", stickiness)
        self.value_stickiness = check_value_stickiness(value_stickiness, self.stickiness)
        self.initial_value = check_number("initial_value", initial_value)
        self.high_stakes = check_number("high_stakes", high_stakes, 0.0, low_open=True)
        specs = [
            ParamSpec("alpha", 0.0, 1.0, 0.5, rate_prior(), description="learning rate"),
            ParamSpec("beta", 0.0, 20.0, 1.0, inverse_temperature_prior(20.0), description="inverse temperature"),
            ParamSpec("lam", 0.0, 1.0, 0.5, rate_prior(), description="eligibility trace"),
            ParamSpec("w_low", 0.0, 1.0, 0.5, rate_prior(), description="model-based weight, low stakes"),
            ParamSpec("w_high", 0.0, 1.0, 0.5, rate_prior(), description="model-based weight, high stakes"),
        ]
        if self.stickiness:
            units = "value units (multiplied by beta)" if self.value_stickiness else "logit units"
            specs.append(ParamSpec("kappa", -5.0, 5.0, 0.0, signed_prior(-5.0, 5.0), description=f"stickiness, {units}"))
        self.param_specs = tuple(specs)

    def initial_state(self, params) -> State:
        """Start every value at ``initial_value`` and with no previous choice."""
        alpha = params["alpha"]
        lanes = alpha.shape[0]
        return {
            "params": params,
            "q_mf": full(alpha, (lanes, 2, 2), self.initial_value),
            "q2": full(alpha, (lanes, 2), self.initial_value, order="F"),
            "prev": full(alpha, (lanes, 2, 2)),
        }

    def action_probabilities(self, state, observation) -> Array:
        """Return the softmax of the stake's mix ``w_t Q_MB + (1 - w_t) Q_MF`` (with stickiness)."""
        params = state["params"]
        s1 = observation["state"]
        w = stake_weight(params, observation["stakes"], self.high_stakes)[:, None]
        q = w * state["q2"] + (1.0 - w) * take(state["q_mf"], s1)
        sticky = params["kappa"][:, None] * take(state["prev"], s1) if self.stickiness else None
        return softmax(sticky_logits(params["beta"][:, None], q, sticky, self.value_stickiness))

    def _deltas(self, state: State, observation, action, reward):
        s1 = observation["state"]
        q_mf_s = take(state["q_mf"], s1)  # the model-free values of the trial's first-stage state
        q2_reached = pick(state["q2"], action)  # action a leads to second-stage state a
        d1 = q2_reached - pick(q_mf_s, action)
        d2 = unscaled_outcome(reward, observation["stakes"]) - q2_reached
        return s1, q_mf_s, d1, d2

    def latents(self, state, observation, action, reward) -> dict[str, Array]:
        """Return ``delta1``, ``delta2`` and the state's values ``q_mf_i`` and ``q_mb_i``."""
        _, q_mf, d1, d2 = self._deltas(state, observation, action, reward)
        return {"delta1": d1, "delta2": d2, "q_mf_0": q_mf[:, 0], "q_mf_1": q_mf[:, 1],
                "q_mb_0": state["q2"][:, 0], "q_mb_1": state["q2"][:, 1]}

    def update(self, state, observation, action, reward, next_observation) -> State:
        """Move ``Q_MF`` by ``alpha (delta1 + lam delta2)`` and ``Q_2`` by ``alpha delta2``."""
        params = state["params"]
        s1, q_mf_s, d1, d2 = self._deltas(state, observation, action, reward)
        alpha = params["alpha"]
        chosen = onehot(action, 2)
        q_mf = put(state["q_mf"], s1, q_mf_s + chosen * (alpha * (d1 + params["lam"] * d2))[:, None])
        q2 = state["q2"] + chosen * (alpha * d2)[:, None]
        prev = put(full(alpha, state["prev"].shape), s1, chosen)
        return {"params": params, "q_mf": q_mf, "q2": q2, "prev": prev}
