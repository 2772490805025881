"""Hyperbolic delay discounting with a logistic choice between a sooner and a later reward."""

from __future__ import annotations

from collections.abc import Mapping

from scipy import stats

from cogmodels.model import CognitiveModel, State, softmax
from cogmodels.parameters import ParamSpec
from cogmodels.xp import Array, namespace

__all__ = ["HyperbolicDiscounting"]

SOONER, LATER = 0, 1


class HyperbolicDiscounting(CognitiveModel):
    r"""Hyperbolic discounting of delayed rewards (Mazur 1987).

    A reward :math:`A` after delay :math:`D` is worth :math:`A / (1 + k D)`, and

    .. math::

        P(\text{later}) = \sigma\big(\beta (V_\text{later} - V_\text{sooner})\big).

    Each trial offers ``amount_sooner`` after ``delay_sooner`` and ``amount_later`` after
    ``delay_later`` (columns of the trial table); ``choice`` 1 is the later option, 0 the sooner.
    Nothing is learned from trial to trial. As hBayesDM's ``dd_hyperbolic``
    (``commons/stan_files/dd_hyperbolic.stan``): ``k`` in [0, 1] and ``beta`` in [0, 5], each with
    the uniform prior over its range (hBayesDM's ``Phi_approx(N(0, 1))`` scaled to the range).

    References
    ----------
    Mazur, J. E. (1987). An adjustment procedure for studying delayed reinforcement. In Commons,
    Mazur, Nevin & Rachlin (Eds.), Quantitative analyses of behavior, vol. 5, 55-73.
    """

    name = "dd_hyperbolic"
    tasks = ()
    observation_columns = ("delay_later", "amount_later", "delay_sooner", "amount_sooner")

    def __init__(self) -> None:
        super().__init__(2)
        self.param_specs = (
            ParamSpec("k", 0.0, 1.0, 0.1, prior=stats.uniform(0.0, 1.0), description="discounting rate"),
            ParamSpec("beta", 0.0, 5.0, 1.0, prior=stats.uniform(0.0, 5.0), description="inverse temperature"),
        )

    def initial_state(self, params: Mapping[str, Array]) -> State:
        """Return a state that holds only the parameters: nothing is learned."""
        return {"params": params}

    def values(self, params: Mapping[str, Array], observation: Mapping[str, Array]) -> Array:
        """``(lanes, 2)`` discounted values of the sooner and the later option."""
        k = params["k"]
        return namespace(k).stack([
            observation["amount_sooner"] / (1.0 + k * observation["delay_sooner"]),
            observation["amount_later"] / (1.0 + k * observation["delay_later"]),
        ], axis=1)

    def action_probabilities(self, state: State, observation: Mapping[str, Array]) -> Array:
        """Return ``softmax(beta V)`` of the sooner and the later option's discounted values."""
        p = state["params"]
        return softmax(p["beta"][:, None] * self.values(p, observation))

    def latents(self, state, observation, action, reward) -> dict[str, Array]:
        """Return the discounted values ``value_sooner`` and ``value_later``."""
        v = self.values(state["params"], observation)
        return {"value_sooner": v[:, SOONER], "value_later": v[:, LATER]}

    def update(self, state, observation, action, reward, next_observation) -> State:
        """Return ``state`` unchanged: nothing is learned from trial to trial."""
        return state
