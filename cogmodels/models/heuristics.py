"""Baseline models of choice: random responding with a bias, and noisy win-stay/lose-shift."""

from __future__ import annotations

from cogmodels.model import CognitiveModel, State, full, onehot, softmax
from cogmodels.parameters import ParamSpec
from cogmodels.priors import rate_prior, signed_prior
from cogmodels.xp import Array, namespace

__all__ = ["RandomBias", "WinStayLoseShift"]

_BANDIT_TASKS = (
    "cogmodels/MultiArmedBandit-v0",
    "cogmodels/ReversalLearning-v0",
    "cogmodels/RestlessBandit-v0",
)


class RandomBias(CognitiveModel):
    r"""Random responding with a bias toward some actions.

    .. math:: P(a) = \mathrm{softmax}(b)_a, \qquad b_0 = 0

    The logits ``bias_1 … bias_{k-1}`` are relative to action 0; with two actions
    ``P(a = 1) = 1 / (1 + exp(-bias_1))``. The choice ignores rewards entirely (Wilson & Collins
    2019, eLife, model 1).
    """

    name = "random"
    tasks = _BANDIT_TASKS

    def __init__(self, n_actions: int = 2) -> None:
        super().__init__(n_actions)
        self.param_specs = tuple(
            ParamSpec(f"bias_{i}", -10.0, 10.0, 0.0, signed_prior(-10.0, 10.0), description=f"logit of action {i} vs 0")
            for i in range(1, self.n_actions)
        )

    def initial_state(self, params) -> State:
        """Return the fixed choice probabilities ``softmax(0, bias_1, ...)``."""
        xp = namespace(params)
        biases = [params[f"bias_{i}"] for i in range(1, self.n_actions)]
        logits = xp.stack([xp.zeros_like(biases[0]), *biases], axis=0).T  # Fortran order (numpy)
        return {"params": params, "p": softmax(logits)}

    def action_probabilities(self, state, observation) -> Array:
        """Return the fixed choice probabilities."""
        return state["p"]

    def update(self, state, observation, action, reward, next_observation) -> State:
        """Return ``state`` unchanged: the choice ignores outcomes."""
        return state


class WinStayLoseShift(CognitiveModel):
    r"""Noisy win-stay / lose-shift.

    After a win (``r > win_threshold``) repeat the previous choice, after a loss switch to one of
    the other actions uniformly; with probability ``epsilon`` choose uniformly at random instead:

    .. math::

        P(a_t = a_{t-1}) = 1 - \epsilon + \epsilon / k \text{ after a win}, \qquad
        P(a_t = a') = (1 - \epsilon) / (k - 1) + \epsilon / k \text{ for } a' \ne a_{t-1}
        \text{ after a loss}

    The first choice is uniform. Wilson & Collins (2019), eLife, model 2.
    """

    name = "wsls"
    tasks = _BANDIT_TASKS

    def __init__(self, n_actions: int = 2, *, win_threshold: float = 0.0) -> None:
        super().__init__(n_actions)
        self.win_threshold = float(win_threshold)
        self.param_specs = (ParamSpec("epsilon", 0.0, 1.0, 0.1, rate_prior(), description="lapse rate"),)

    def initial_state(self, params) -> State:
        """Start with uniform choice probabilities."""
        eps = params["epsilon"]
        uniform = full(eps, (eps.shape[0], self.n_actions), 1.0 / self.n_actions, order="F")
        return {"params": params, "p": uniform}

    def action_probabilities(self, state, observation) -> Array:
        """Return the probabilities set by the last outcome."""
        return state["p"]

    def update(self, state, observation, action, reward, next_observation) -> State:
        """Stay after a win, shift after a loss, with lapse ``epsilon``."""
        eps = state["params"]["epsilon"][:, None]
        k = self.n_actions
        chosen = onehot(action, k)
        win = (reward > self.win_threshold)[:, None]
        # intended action distribution: stay on a win, spread over the others on a loss
        intended = namespace(eps).where(win, chosen, (~chosen) / (k - 1))
        return {"params": state["params"], "p": (1.0 - eps) * intended + eps / k}
