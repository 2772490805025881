"""Q-learning with gain and loss learning rates for the probabilistic selection task."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scipy import stats

from cogmodels.model import CognitiveModel, State, full, onehot, pick, softmax
from cogmodels.parameters import ParamSpec
from cogmodels.validation import check_int
from cogmodels.xp import Array, namespace

__all__ = ["GainLossQ"]


class GainLossQ(CognitiveModel):
    r"""Gain-loss Q-learning of the probabilistic selection task (Frank, Moustafa et al. 2007).

    Each trial shows two of ``n_stimuli`` stimuli, ``option1`` and ``option2`` (0-based ids,
    columns of the trial table); ``choice`` 0 takes option 1 and 1 option 2. With :math:`E`
    the stimulus values (all start at 0),

    .. math::

        P(\text{option 1}) = \sigma\big(\beta (E(o_1) - E(o_2))\big), \qquad
        E(c_t) \leftarrow E(c_t) + \alpha_\pm (r_t - E(c_t))

    where :math:`c_t` is the chosen stimulus, :math:`\alpha_+` (``alpha_pos``) applies when the
    prediction error :math:`r_t - E(c_t) \ge 0` and :math:`\alpha_-` (``alpha_neg``) otherwise.

    As hBayesDM's ``pst_gainloss_Q`` (``commons/stan_files/pst_gainloss_Q.stan``): ``alpha_pos``,
    ``alpha_neg`` in [0, 1] and ``beta`` in [0, 10], each with the uniform prior over its range
    (hBayesDM's ``Phi_approx(N(0, 1))`` scaled to the range).

    References
    ----------
    Frank, M. J., Seeberger, L. C., & O'Reilly, R. C. (2004). By carrot or by stick: cognitive
    reinforcement learning in parkinsonism. Science, 306(5703), 1940-1943.

    Frank, M. J., Moustafa, A. A., Haughey, H. M., Curran, T., & Hutchison, K. E. (2007). Genetic
    triple dissociation reveals multiple roles for dopamine in reinforcement learning. PNAS,
    104(41), 16311-16316.
    """

    name = "pst_gainloss_Q"
    tasks = ()
    observation_columns = ("option1", "option2")

    def __init__(self, *, n_stimuli: int = 6) -> None:
        super().__init__(2)
        self.n_stimuli = check_int("n_stimuli", n_stimuli, 2)
        self.param_specs = (
            ParamSpec("alpha_pos", 0.0, 1.0, 0.5, prior=stats.uniform(0.0, 1.0),
                      description="learning rate, prediction error >= 0"),
            ParamSpec("alpha_neg", 0.0, 1.0, 0.5, prior=stats.uniform(0.0, 1.0),
                      description="learning rate, prediction error < 0"),
            ParamSpec("beta", 0.0, 10.0, 1.0, prior=stats.uniform(0.0, 10.0),
                      description="inverse temperature"),
        )

    @property
    def observation_limits(self) -> dict[str, tuple[int, int]]:
        """``option1`` and ``option2`` are stimulus ids in ``0 .. n_stimuli - 1``."""
        return {"option1": (0, self.n_stimuli), "option2": (0, self.n_stimuli)}

    def initial_state(self, params: Mapping[str, Array]) -> State:
        """Start every stimulus value at zero."""
        beta = params["beta"]
        return {"params": params, "ev": full(beta, (beta.shape[0], self.n_stimuli), order="F")}

    def _shown(self, observation: Mapping[str, Any]) -> Array:
        """``(lanes, 2)`` stimulus ids of option 1 and option 2."""
        xp = namespace(observation["option1"])
        return xp.astype(xp.stack([observation["option1"], observation["option2"]], axis=1), xp.int64)

    def action_probabilities(self, state: State, observation: Mapping[str, Array]) -> Array:
        """Return ``softmax(beta E)`` of the two stimuli shown."""
        shown = self._shown(observation)
        ev = state["ev"]
        values = namespace(ev).stack([pick(ev, shown[:, 0]), pick(ev, shown[:, 1])], axis=1)
        return softmax(state["params"]["beta"][:, None] * values)

    def latents(self, state, observation, action, reward) -> dict[str, Array]:
        """Return the chosen stimulus's value ``ev_chosen`` and the prediction error ``delta``."""
        chosen = pick(self._shown(observation), action)
        return {"ev_chosen": pick(state["ev"], chosen), "delta": reward - pick(state["ev"], chosen)}

    def update(self, state, observation, action, reward, next_observation) -> State:
        """Move the chosen stimulus's value by ``alpha_pos delta`` or ``alpha_neg delta``."""
        p = state["params"]
        ev = state["ev"]
        chosen = pick(self._shown(observation), action)
        delta = reward - pick(ev, chosen)
        alpha = namespace(ev).where(delta >= 0, p["alpha_pos"], p["alpha_neg"])
        return {"params": p, "ev": ev + onehot(chosen, self.n_stimuli) * (alpha * delta)[:, None]}
