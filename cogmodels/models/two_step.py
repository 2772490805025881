"""Model-free, model-based and hybrid learners of the two-step task (Daw et al. 2011)."""

from __future__ import annotations

from typing import Any, ClassVar

from cogmodels.model import CognitiveModel, State, full, onehot, pick, put, softmax, take
from cogmodels.parameters import ParamSpec
from cogmodels.priors import inverse_temperature_prior, rate_prior, signed_prior
from cogmodels.validation import check_bool, check_number, check_probability
from cogmodels.xp import Array, namespace

__all__ = [
    "TwoStepHybrid",
    "TwoStepModelBased",
    "TwoStepModelFree",
    "TwoStepStakes",
    "check_value_stickiness",
    "stake_weight",
    "sticky_logits",
    "unscaled_outcome",
]


def stake_weight(params, stakes: Array, high_stakes: float) -> Array:
    """Return the model-based weight of each lane on a trial with ``stakes``.

    The weight is ``w_high`` where the stake is ``high_stakes``, else ``w_low`` (Kool, Gershman &
    Cushman 2017).
    """
    return namespace(params).where(stakes == high_stakes, params["w_high"], params["w_low"])


def unscaled_outcome(reward: Array, stakes: Array) -> Array:
    """Return ``reward / stakes``, the outcome before the stake multiplied it.

    The outcome is 0 where ``stakes`` is 0, i.e. on padding.
    """
    xp = namespace(reward, stakes)
    staked = stakes > 0
    return xp.where(staked, reward / xp.where(staked, stakes, 1.0), 0.0)


def check_value_stickiness(value_stickiness: Any, stickiness: bool) -> bool:
    """Check ``value_stickiness``: a bool, and ``True`` only with stickiness to put in value units."""
    value_stickiness = check_bool("value_stickiness", value_stickiness)
    if value_stickiness and not stickiness:
        raise ValueError(
            "value_stickiness=True puts the stickiness in value units, which needs stickiness=True; "
            "got stickiness=False"
        )
    return value_stickiness


def sticky_logits(beta: Array, q: Array, sticky: Array | None, value_units: bool) -> Array:
    """Return the logits ``β Q + κ·prev`` (logit units) or ``β (Q + κ·prev)`` (value units).

    ``sticky`` is ``κ·prev``, or None without stickiness. ``beta`` is ``(lanes, 1)``.
    """
    if sticky is None:
        return beta * q
    return beta * (q + sticky) if value_units else beta * q + sticky


class TwoStepHybrid(CognitiveModel):
    r"""The hybrid model-based / model-free learner of Daw et al. (2011).

    A trial has two choices: ``a1`` in the first stage, then ``a2`` in second-stage state
    ``s2 ∈ {0, 1}`` (``state2``; action ``a`` leads commonly, with probability ``p_common``, to
    ``s2 = a``). With ``Q_2(s2, a2)`` the second-stage values and ``Q_MF(a1)`` the model-free
    first-stage values:

    .. math::

        Q_{MB}(a) = p\,\max_{a'} Q_2(a, a') + (1-p)\,\max_{a'} Q_2(1-a, a')

        P(a_1) \propto \exp\big(\beta_1 [w Q_{MB}(a_1) + (1-w) Q_{MF}(a_1)]
            + \kappa [a_1 = a_1^{prev}]\big), \qquad
        P(a_2 \mid s_2) \propto \exp(\beta_2 Q_2(s_2, a_2))

        \delta_1 = Q_2(s_2, a_2) - Q_{MF}(a_1), \quad \delta_2 = r - Q_2(s_2, a_2)

        Q_{MF}(a_1) \mathrel{+}= \alpha_1 \delta_1 + \alpha_1 \lambda \delta_2, \quad
        Q_2(s_2, a_2) \mathrel{+}= \alpha_2 \delta_2

    Parameters ``alpha1, alpha2, beta1, beta2, lam, w, kappa``. The model-free variant fixes
    ``w = 0`` (SARSA(λ)); the model-based one fixes ``w = 1`` (``alpha1`` and ``lam`` drop out).

    Structure options:

    - ``shared_alpha_beta``: one learning rate ``alpha`` and one inverse temperature ``beta`` for
      both stages (``alpha1 = alpha2``, ``beta1 = beta2``): the reduced form of Daw et al.'s
      model that Kool, Cushman & Gershman (2016) and Kool, Gershman & Cushman (2017) fit;
    - ``value_stickiness``: the stickiness is in value units, inside the softmax's product with
      β, ``P(a_1) ∝ exp(β_1 [w Q_{MB} + (1-w) Q_{MF} + κ [a_1 = a_1^{prev}]])`` (Kool et al.
      2016, 2017), instead of in logit units (Daw et al. 2011); with it ``κ`` is comparable
      across subjects with different β;
    - ``initial_value``: the value every ``Q_{MF}`` and ``Q_2`` starts from (0; Kool et al.'s
      code starts at 0.5, the middle of the 0/1 rewards).

    Missing responses: a trial whose first-stage choice was made but whose second-stage choice
    was missed (``choice2`` NaN) counts its first-stage choice in the likelihood and nothing for
    the second stage, and the state is left unchanged. Without ``a_2`` and ``r`` neither
    ``δ_1`` (SARSA: it needs ``Q_2(s_2, a_2)``) nor ``δ_2`` exists, so no value is updated and
    the stickiness keeps the previous completed trial's choice. Missed trials are thus left out of
    learning, as in the analyses of Daw et al. (2011), which leave out trials with a missed
    response, and in Kool et al.'s released model code (``if choice1 == -1 || choice2 == -1:
    continue``); those also leave the first-stage choice out of the likelihood, while here the
    choice that was made is scored: it depends only on values learnt before the trial.

    References: Daw, Gershman, Seymour, Dayan & Dolan (2011), Neuron 69, 1204-1215,
    "Model-based influences on humans' choices and striatal prediction errors"; Kool, Cushman &
    Gershman (2016), PLoS Comput Biol 12, e1005090, "When does model-based control pay off?".
    """

    name = "two_step_hybrid"
    tasks = ("cogmodels/TwoStep-v0",)
    observation_columns = ("state2",)
    choice_columns = ("choice", "choice2")
    weighting: ClassVar[str] = "hybrid"

    def __init__(
        self,
        n_actions: int = 2,
        *,
        p_common: float = 0.7,
        stickiness: bool = True,
        shared_alpha_beta: bool = False,
        value_stickiness: bool = False,
        initial_value: float = 0.0,
    ) -> None:
        if n_actions != 2:
            raise ValueError(f"the two-step task has n_actions=2 in each stage, got {n_actions!r}")
        super().__init__(n_actions)
        self.p_common = check_probability("p_common", p_common)
        self.stickiness = check_bool("stickiness", stickiness)
        self.shared_alpha_beta = check_bool("shared_alpha_beta", shared_alpha_beta)
        self.value_stickiness = check_value_stickiness(value_stickiness, self.stickiness)
        self.initial_value = check_number("initial_value", initial_value)
        self.param_specs = tuple(self._specs())

    def _specs(self) -> list[ParamSpec]:
        free = self.weighting != "model_based"  # the model-free values and their trace
        specs = []
        if self.shared_alpha_beta:
            specs.append(ParamSpec("alpha", 0.0, 1.0, 0.5, rate_prior(), description="learning rate of both stages"))
            specs.append(ParamSpec("beta", 0.0, 20.0, 3.0, inverse_temperature_prior(20.0), description="inverse temperature of both stages"))
        else:
            if free:
                specs.append(ParamSpec("alpha1", 0.0, 1.0, 0.5, rate_prior(), description="first-stage learning rate"))
            specs.append(ParamSpec("alpha2", 0.0, 1.0, 0.5, rate_prior(), description="second-stage learning rate"))
            specs.append(ParamSpec("beta1", 0.0, 20.0, 3.0, inverse_temperature_prior(20.0), description="first-stage inverse temperature"))
            specs.append(ParamSpec("beta2", 0.0, 20.0, 3.0, inverse_temperature_prior(20.0), description="second-stage inverse temperature"))
        if free:
            specs.append(ParamSpec("lam", 0.0, 1.0, 0.5, rate_prior(), description="eligibility trace"))
        specs.extend(self._weight_specs())
        if self.stickiness:
            units = "value units (multiplied by beta)" if self.value_stickiness else "logit units"
            specs.append(ParamSpec("kappa", -5.0, 5.0, 0.0, signed_prior(-5.0, 5.0), description=f"first-stage stickiness, {units}"))
        return specs

    def _weight_specs(self) -> list[ParamSpec]:
        if self.weighting == "hybrid":
            return [ParamSpec("w", 0.0, 1.0, 0.5, rate_prior(), description="model-based weight")]
        return []

    def _alpha(self, params, stage: int) -> Array:
        return params["alpha" if self.shared_alpha_beta else f"alpha{stage}"]

    def _beta(self, params, stage: int) -> Array:
        return params["beta" if self.shared_alpha_beta else f"beta{stage}"]

    def _w(self, params, observation) -> Array:
        """Return the model-based weight of each lane on this trial."""
        if self.weighting == "hybrid":
            return params["w"]
        like = next(iter(params.values()))
        return full(like, like.shape, 1.0 if self.weighting == "model_based" else 0.0)

    def _outcome(self, reward: Array, observation) -> Array:
        """Return the outcome the values learn from: the reward as it is."""
        return reward

    def initial_state(self, params) -> State:
        """Start all model-free and second-stage values at ``initial_value``."""
        like = next(iter(params.values()))
        lanes = like.shape[0]
        return {
            "params": params,
            "q_mf": full(like, (lanes, 2), self.initial_value, order="F"),
            "q2": full(like, (lanes, 2, 2), self.initial_value),
            "prev": full(like, (lanes, 2), order="F"),
        }

    def _q_mb(self, state: State) -> Array:
        xp = namespace(state["q2"])
        best = xp.max(state["q2"], axis=2)  # (lanes, s2)
        p = self.p_common
        return xp.stack([p * best[:, 0] + (1 - p) * best[:, 1], p * best[:, 1] + (1 - p) * best[:, 0]], axis=0).T

    def action_probabilities(self, state, observation) -> Array:
        """Return the current stage's policy: hybrid first-stage or second-stage values."""
        params = state["params"]
        if observation["stage"] == 0:
            w = self._w(params, observation)[:, None]
            q = w * self._q_mb(state) + (1.0 - w) * state["q_mf"]
            sticky = params["kappa"][:, None] * state["prev"] if self.stickiness else None
            return softmax(sticky_logits(self._beta(params, 1)[:, None], q, sticky, self.value_stickiness))
        q2 = take(state["q2"], observation["state2"])
        return softmax(self._beta(params, 2)[:, None] * q2)

    def _deltas(self, state: State, observation, action, reward):
        a1, a2 = action[:, 0], action[:, 1]
        s2 = observation["state2"]
        q2_s = take(state["q2"], s2)  # the values of the second-stage state reached
        q2_chosen = pick(q2_s, a2)
        d1 = q2_chosen - pick(state["q_mf"], a1)
        d2 = self._outcome(reward, observation) - q2_chosen
        return a1, a2, s2, q2_s, d1, d2

    def latents(self, state, observation, action, reward) -> dict[str, Array]:
        """Return the errors ``delta1``, ``delta2`` and the MF and MB first-stage values."""
        *_, d1, d2 = self._deltas(state, observation, action, reward)
        q_mb = self._q_mb(state)
        return {"delta1": d1, "delta2": d2, "q_mf_0": state["q_mf"][:, 0],
                "q_mf_1": state["q_mf"][:, 1], "q_mb_0": q_mb[:, 0], "q_mb_1": q_mb[:, 1]}

    def update(self, state, observation, action, reward, next_observation) -> State:
        """Update the stage-2 value by ``alpha2 delta2`` and the stage-1 MF value by SARSA(λ)."""
        params = state["params"]
        a1, a2, s2, q2_s, d1, d2 = self._deltas(state, observation, action, reward)
        chosen1 = onehot(a1, 2)
        q_mf = state["q_mf"]
        if self.weighting != "model_based":
            step = self._alpha(params, 1) * (d1 + params["lam"] * d2)
            q_mf = q_mf + chosen1 * step[:, None]
        q2 = put(state["q2"], s2, q2_s + onehot(a2, 2) * (self._alpha(params, 2) * d2)[:, None])
        return {"params": params, "q_mf": q_mf, "q2": q2, "prev": chosen1}


class TwoStepModelFree(TwoStepHybrid):
    """Model-free SARSA(λ) learner of the two-step task: the hybrid with ``w = 0``.

    Reference: Daw et al. (2011), Neuron; see :class:`TwoStepHybrid` for the equations.
    """

    name = "two_step_mf"
    weighting = "model_free"


class TwoStepModelBased(TwoStepHybrid):
    """Model-based learner of the two-step task: the hybrid with ``w = 1``.

    Reference: Daw et al. (2011), Neuron; see :class:`TwoStepHybrid` for the equations.
    """

    name = "two_step_mb"
    weighting = "model_based"


class TwoStepStakes(TwoStepHybrid):
    r"""The hybrid learner of the two-step task with stakes: a model-based weight per stake.

    Kool, Gershman & Cushman (2017) announced before each trial of the Daw two-step task whether
    its points were multiplied by 1 (low stakes) or by 5 (high stakes) and asked whether people
    rely more on model-based control when more is at stake. The model is
    :class:`TwoStepHybrid` with ``w`` replaced by ``w_low`` and ``w_high``:

    .. math::

        w_t = w_{high} \text{ if } stakes_t = high\_stakes \text{ else } w_{low}

    and the values learn from the unscaled outcome ``r_t = reward_t / stakes_t`` (the win, 0 or
    1, of the trial table's ``reward`` in points), as in the authors' model code. The defaults
    are their model: ``shared_alpha_beta=True`` (one α, one β), ``value_stickiness=True`` and
    ``initial_value=0.5`` (their response stickiness, repeating the same key, is not included). It reads the trial
    table's ``stakes`` column (:func:`cogmodels.io.read_kool_arbitration`, or the environment
    ``cogmodels/TwoStepStakes-v0``).

    References: Kool, Gershman & Cushman (2017), Psychological Science 28, 1321-1333,
    "Cost-benefit arbitration between multiple reinforcement-learning systems"; Kool, Cushman &
    Gershman (2016), PLoS Comput Biol 12, e1005090; code and data: github.com/wkool/arbitration.
    """

    name = "two_step_stakes"
    tasks = ("cogmodels/TwoStepStakes-v0",)
    observation_columns = ("state2", "stakes")
    weighting = "stakes"

    def __init__(
        self,
        n_actions: int = 2,
        *,
        p_common: float = 0.7,
        stickiness: bool = True,
        shared_alpha_beta: bool = True,
        value_stickiness: bool = True,
        initial_value: float = 0.5,
        high_stakes: float = 5.0,
    ) -> None:
        self.high_stakes = check_number("high_stakes", high_stakes, 0.0, low_open=True)
        super().__init__(n_actions, p_common=p_common, stickiness=stickiness,
                         shared_alpha_beta=shared_alpha_beta, value_stickiness=value_stickiness,
                         initial_value=initial_value)

    def _weight_specs(self) -> list[ParamSpec]:
        return [ParamSpec("w_low", 0.0, 1.0, 0.5, rate_prior(), description="model-based weight, low stakes"),
                ParamSpec("w_high", 0.0, 1.0, 0.5, rate_prior(), description="model-based weight, high stakes")]

    def _w(self, params, observation) -> Array:
        return stake_weight(params, observation["stakes"], self.high_stakes)

    def _outcome(self, reward: Array, observation) -> Array:
        return unscaled_outcome(reward, observation["stakes"])
