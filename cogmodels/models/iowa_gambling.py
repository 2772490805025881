"""The prospect-valence-learning model of the Iowa gambling task with the delta rule (PVL-delta)."""

from __future__ import annotations

from collections.abc import Mapping

from scipy import stats

from cogmodels.model import CognitiveModel, State, full, onehot, pick, softmax
from cogmodels.parameters import ParamSpec
from cogmodels.validation import check_number
from cogmodels.xp import Array, as_namespace, namespace

__all__ = ["MIN_PROBABILITY", "PVLDelta"]

#: floor of a choice probability: with ``theta`` up to 3^5 - 1 and losses of 12.5 payscale units
#: a softmax probability underflows to 0, and its log to -inf, where Stan's ``categorical_logit``
#: (on the log scale) stays finite; the floor keeps the likelihood finite for the optimisers
MIN_PROBABILITY = 1e-300


class PVLDelta(CognitiveModel):
    r"""PVL-delta: prospect utility, delta-rule expectancies, softmax with trial-independent consistency.

    The net outcome :math:`x_t` of the chosen deck (the trial table's ``reward``, hBayesDM's
    ``gain - |loss|``) divided by ``payscale`` has the prospect utility

    .. math::

        u_t = x_t^{\alpha} \text{ if } x_t \ge 0, \qquad u_t = -\lambda |x_t|^{\alpha}
        \text{ otherwise,}

    the chosen deck's expectancy follows the delta rule :math:`E(a_t) \leftarrow E(a_t) + A (u_t -
    E(a_t))` (all start at 0), and the choice is a softmax with sensitivity
    :math:`\theta = 3^c - 1`: :math:`P(a) \propto \exp(\theta E(a))`.

    As hBayesDM's ``igt_pvl_delta`` (``commons/stan_files/igt_pvl_delta.stan``; Ahn et al. 2008):
    ``A`` in [0, 1], ``alpha`` in [0, 2], ``cons`` (:math:`c`) in [0, 5], ``lambda`` in [0, 10],
    each with the uniform prior over its range (hBayesDM's ``Phi_approx(N(0, 1))`` scaled to the
    range), and ``payscale`` = 100. Choice probabilities are floored at :data:`MIN_PROBABILITY`
    (the likelihood differs from hBayesDM's only where a choice's probability is below it).

    References
    ----------
    Ahn, W.-Y., Busemeyer, J. R., Wagenmakers, E.-J., & Stout, J. C. (2008). Comparison of
    decision learning models using the generalization criterion method. Cognitive Science, 32(8),
    1376-1402.

    Bechara, A., Damasio, A. R., Damasio, H., & Anderson, S. W. (1994). Insensitivity to future
    consequences following damage to human prefrontal cortex. Cognition, 50(1-3), 7-15.
    """

    name = "igt_pvl_delta"
    tasks = ()

    def __init__(self, n_actions: int = 4, *, payscale: float = 100.0) -> None:
        super().__init__(n_actions)
        self.payscale = check_number("payscale", payscale, 0.0, low_open=True)
        self.param_specs = (
            ParamSpec("A", 0.0, 1.0, 0.5, prior=stats.uniform(0.0, 1.0), description="learning rate"),
            ParamSpec("alpha", 0.0, 2.0, 0.5, prior=stats.uniform(0.0, 2.0),
                      description="outcome sensitivity (utility exponent)"),
            ParamSpec("cons", 0.0, 5.0, 1.0, prior=stats.uniform(0.0, 5.0),
                      description="response consistency"),
            ParamSpec("lambda", 0.0, 10.0, 1.0, prior=stats.uniform(0.0, 10.0),
                      description="loss aversion"),
        )

    def initial_state(self, params: Mapping[str, Array]) -> State:
        """Start every deck's expectancy at zero."""
        a = params["A"]
        return {"params": params, "ev": full(a, (a.shape[0], self.n_actions), order="F")}

    def action_probabilities(self, state: State, observation: Mapping[str, Array]) -> Array:
        """Return ``softmax(theta ev)``, ``theta = 3^cons - 1``, floored at ``MIN_PROBABILITY``."""
        theta = 3.0 ** state["params"]["cons"] - 1.0
        xp = namespace(theta)
        probs = xp.maximum(softmax(theta[:, None] * state["ev"]), MIN_PROBABILITY)
        return probs / xp.sum(probs, axis=1, keepdims=True)

    def utility(self, params: Mapping[str, Array], reward: Array) -> Array:
        """Return the prospect utility of the outcome ``reward / payscale``."""
        xp = namespace(params)
        x = as_namespace(xp, reward, params["alpha"], xp.float64) / self.payscale
        magnitude = xp.abs(x) ** params["alpha"]
        return xp.where(x >= 0, magnitude, -params["lambda"] * magnitude)

    def latents(self, state, observation, action, reward) -> dict[str, Array]:
        """Return the decks' expectancies ``ev_i`` and the outcome's ``utility``."""
        out = {f"ev_{i}": state["ev"][:, i] for i in range(self.n_actions)}
        out["utility"] = self.utility(state["params"], reward)
        return out

    def update(self, state, observation, action, reward, next_observation) -> State:
        """Move the chosen deck's expectancy by ``A (u - ev)``, ``u`` the outcome's utility."""
        p = state["params"]
        ev = state["ev"]
        step = p["A"] * (self.utility(p, reward) - pick(ev, action))
        return {"params": p, "ev": ev + onehot(action, self.n_actions) * step[:, None]}
