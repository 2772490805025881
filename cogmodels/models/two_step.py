"""Model-free, model-based and hybrid learners of the two-step task (Daw et al. 2011)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from cogmodels.model import CognitiveModel, State, onehot, pick, softmax
from cogmodels.parameters import ParamSpec
from cogmodels.priors import inverse_temperature_prior, rate_prior, signed_prior

__all__ = ["TwoStepHybrid", "TwoStepModelBased", "TwoStepModelFree"]


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

    Reference: Daw, Gershman, Seymour, Dayan & Dolan (2011), Neuron, "Model-based influences on
    humans' choices and striatal prediction errors".
    """

    name = "two_step_hybrid"
    tasks = ("cogmodels/TwoStep-v0",)
    observation_columns = ("state2",)
    choice_columns = ("choice", "choice2")
    weighting: ClassVar[str] = "hybrid"

    def __init__(self, n_actions: int = 2, *, p_common: float = 0.7, stickiness: bool = True) -> None:
        if n_actions != 2:
            raise ValueError(f"the two-step task has n_actions=2 in each stage, got {n_actions!r}")
        super().__init__(n_actions)
        self.p_common = float(p_common)
        self.stickiness = bool(stickiness)
        specs = []
        if self.weighting != "model_based":
            specs.append(ParamSpec("alpha1", 0.0, 1.0, 0.5, rate_prior(), description="first-stage learning rate"))
        specs.append(ParamSpec("alpha2", 0.0, 1.0, 0.5, rate_prior(), description="second-stage learning rate"))
        specs.append(ParamSpec("beta1", 0.0, 20.0, 3.0, inverse_temperature_prior(20.0), description="first-stage inverse temperature"))
        specs.append(ParamSpec("beta2", 0.0, 20.0, 3.0, inverse_temperature_prior(20.0), description="second-stage inverse temperature"))
        if self.weighting != "model_based":
            specs.append(ParamSpec("lam", 0.0, 1.0, 0.5, rate_prior(), description="eligibility trace"))
        if self.weighting == "hybrid":
            specs.append(ParamSpec("w", 0.0, 1.0, 0.5, rate_prior(), description="model-based weight"))
        if self.stickiness:
            specs.append(ParamSpec("kappa", -5.0, 5.0, 0.0, signed_prior(-5.0, 5.0), description="first-stage stickiness"))
        self.param_specs = tuple(specs)

    def _w(self, params) -> np.ndarray:
        if self.weighting == "hybrid":
            return params["w"]
        return np.full_like(params["beta1"], 1.0 if self.weighting == "model_based" else 0.0)

    def initial_state(self, params) -> State:
        """Start all model-free and second-stage values at 0."""
        lanes = params["beta1"].shape[0]
        return {
            "params": params,
            "q_mf": np.zeros((2, lanes)).T,
            "q2": np.zeros((lanes, 2, 2)),
            "prev": np.zeros((2, lanes)).T,
        }

    def _q_mb(self, state: State) -> np.ndarray:
        best = state["q2"].max(axis=2)  # (lanes, s2)
        p = self.p_common
        return np.stack([p * best[:, 0] + (1 - p) * best[:, 1], p * best[:, 1] + (1 - p) * best[:, 0]], axis=0).T

    def action_probabilities(self, state, observation) -> np.ndarray:
        """Return the current stage's policy: hybrid first-stage or second-stage values."""
        params = state["params"]
        if observation["stage"] == 0:
            w = self._w(params)[:, None]
            q = w * self._q_mb(state) + (1.0 - w) * state["q_mf"]
            logits = params["beta1"][:, None] * q
            if self.stickiness:
                logits = logits + params["kappa"][:, None] * state["prev"]
            return softmax(logits)
        s2 = observation["state2"].astype(np.int64)
        q2 = state["q2"][np.arange(s2.shape[0]), s2]
        return softmax(params["beta2"][:, None] * q2)

    def _deltas(self, state: State, observation, action, reward):
        a1, a2 = action[:, 0], action[:, 1]
        s2 = observation["state2"].astype(np.int64)
        lanes = np.arange(a1.shape[0])
        q2_chosen = state["q2"][lanes, s2, a2]
        d1 = q2_chosen - pick(state["q_mf"], a1)
        d2 = reward - q2_chosen
        return a1, a2, s2, lanes, d1, d2

    def latents(self, state, observation, action, reward) -> dict[str, np.ndarray]:
        """Return the errors ``delta1``, ``delta2`` and the MF and MB first-stage values."""
        *_, d1, d2 = self._deltas(state, observation, action, reward)
        q_mb = self._q_mb(state)
        return {"delta1": d1, "delta2": d2, "q_mf_0": state["q_mf"][:, 0].copy(),
                "q_mf_1": state["q_mf"][:, 1].copy(), "q_mb_0": q_mb[:, 0], "q_mb_1": q_mb[:, 1]}

    def update(self, state, observation, action, reward, next_observation) -> State:
        """Update the stage-2 value by ``alpha2 delta2`` and the stage-1 MF value by SARSA(λ)."""
        params = state["params"]
        a1, a2, s2, lanes, d1, d2 = self._deltas(state, observation, action, reward)
        chosen1 = onehot(a1, 2)
        q_mf = state["q_mf"]
        if self.weighting != "model_based":
            step = params["alpha1"] * (d1 + params["lam"] * d2)
            q_mf = q_mf + chosen1 * step[:, None]
        q2 = state["q2"].copy()
        q2[lanes, s2, a2] += params["alpha2"] * d2
        return {"params": params, "q_mf": q_mf, "q2": q2, "prev": chosen1.astype(float)}


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
