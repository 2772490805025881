"""Rescorla-Wagner / Q-learning with softmax choice and its common variants."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cogmodels.model import CognitiveModel, State, full, onehot, pick, softmax
from cogmodels.parameters import ParamSpec
from cogmodels.priors import inverse_temperature_prior, rate_prior, signed_prior
from cogmodels.xp import namespace

__all__ = ["QLearning"]


class QLearning(CognitiveModel):
    r"""Q-learning (delta rule) with softmax choice.

    .. math::

        P(a_t = a) \propto \exp(\beta Q_t(a) + \kappa [a = a_{t-1}])

        \delta_t = r_t - Q_t(a_t), \qquad Q_{t+1}(a_t) = Q_t(a_t) + \alpha \delta_t

    Only the chosen action updates. Variants (structure, fixed at construction):

    - ``dual_learning_rates``: ``alpha_pos`` for ``delta > 0``, ``alpha_neg`` otherwise
      (Frank et al. 2007, PNAS; Niv et al. 2012, J Neurosci);
    - ``stickiness``: the choice-perseveration bonus ``kappa`` (Lau & Glimcher 2005, JEAB);
    - ``forgetting``: unchosen values decay toward the initial value,
      ``Q(a') += phi (Q_0 - Q(a'))`` (Ito & Doya 2009, J Neurosci);
    - ``free_initial_value``: ``q0`` is a free parameter instead of ``initial_value``.

    With the defaults (two actions, stickiness, ``Q_0 = 0.5``) it is the model of
    ``../shared/bench/simulate_bandit.py``. Reference: Rescorla & Wagner (1972); Sutton & Barto
    (2018), ch. 2; Wilson & Collins (2019), eLife, "Ten simple rules for the computational
    modeling of behavioral data".
    """

    name = "q_learning"
    tasks = (
        "cogmodels/MultiArmedBandit-v0",
        "cogmodels/ReversalLearning-v0",
        "cogmodels/RestlessBandit-v0",
    )

    def __init__(
        self,
        n_actions: int = 2,
        *,
        dual_learning_rates: bool = False,
        stickiness: bool = True,
        forgetting: bool = False,
        free_initial_value: bool = False,
        initial_value: float = 0.5,
        beta_max: float = 20.0,
    ) -> None:
        super().__init__(n_actions)
        self.dual_learning_rates = bool(dual_learning_rates)
        self.stickiness = bool(stickiness)
        self.forgetting = bool(forgetting)
        self.free_initial_value = bool(free_initial_value)
        self.initial_value = float(initial_value)
        specs = (
            [
                ParamSpec("alpha_pos", 0.0, 1.0, 0.3, rate_prior(), description="learning rate, delta > 0"),
                ParamSpec("alpha_neg", 0.0, 1.0, 0.3, rate_prior(), description="learning rate, delta <= 0"),
            ]
            if self.dual_learning_rates
            else [ParamSpec("alpha", 0.0, 1.0, 0.3, rate_prior(), description="learning rate")]
        )
        specs.append(ParamSpec("beta", 0.0, float(beta_max), 3.0, inverse_temperature_prior(float(beta_max)),
                               description="inverse temperature"))
        if self.stickiness:
            specs.append(ParamSpec("kappa", -5.0, 5.0, 0.0, signed_prior(-5.0, 5.0), description="choice stickiness"))
        if self.forgetting:
            specs.append(ParamSpec("phi", 0.0, 1.0, 0.1, rate_prior(), description="forgetting rate"))
        if self.free_initial_value:
            specs.append(ParamSpec("q0", -1.0, 2.0, 0.5, signed_prior(-1.0, 2.0), description="initial value"))
        self.param_specs = tuple(specs)

    def _q0(self, params: Mapping[str, Any]) -> Any:
        return params["q0"] if self.free_initial_value else self.initial_value

    def initial_state(self, params: Mapping[str, Any]) -> State:
        """Start every action at the initial value and with no previous choice."""
        beta = params["beta"]
        lanes = beta.shape[0]
        q = full(beta, (lanes, self.n_actions), self._q0(params), order="F")
        prev = full(beta, (lanes, self.n_actions), order="F")  # one-hot of the previous choice
        return {"params": params, "q": q, "prev": prev}

    def action_probabilities(self, state: State, observation: Mapping[str, Any]) -> Any:
        """Return ``softmax(beta Q + kappa prev)`` (stickiness when enabled)."""
        p = state["params"]
        logits = p["beta"][:, None] * state["q"]
        if self.stickiness:
            logits = logits + p["kappa"][:, None] * state["prev"]
        return softmax(logits)

    def _chosen(self, state: State, action: Any) -> tuple[Any, Any]:
        """One-hot of the chosen action and its value ``Q(a)``."""
        return onehot(action, self.n_actions), pick(state["q"], action)

    def latents(self, state, observation, action, reward) -> dict[str, Any]:
        """Return the values ``q_i`` and the prediction error ``delta = r - Q(a)``."""
        out = {f"q_{i}": state["q"][:, i] for i in range(self.n_actions)}
        out["delta"] = reward - self._chosen(state, action)[1]
        return out

    def update(self, state, observation, action, reward, next_observation) -> State:
        """Move ``Q(a)`` by ``alpha delta`` (with forgetting, the others decay toward ``q0``)."""
        p = state["params"]
        xp = namespace(state["q"])
        chosen, q_chosen = self._chosen(state, action)
        delta = reward - q_chosen
        if self.dual_learning_rates:
            alpha = xp.where(delta > 0, p["alpha_pos"], p["alpha_neg"])
        else:
            alpha = p["alpha"]
        q = state["q"]
        if self.forgetting:
            q0 = self._q0(p)
            q0 = q0[:, None] if self.free_initial_value else q0
            q = xp.where(chosen, q, q + p["phi"][:, None] * (q0 - q))
        q = q + chosen * (alpha * delta)[:, None]
        return {"params": p, "q": q, "prev": chosen}
