"""The Bayesian (hidden-Markov) observer of probabilistic reversal learning."""

from __future__ import annotations

from cogmodels.model import CognitiveModel, State, full, onehot, softmax
from cogmodels.parameters import ParamSpec
from cogmodels.priors import inverse_temperature_prior, rate_prior, signed_prior
from cogmodels.xp import Array, namespace

__all__ = ["ReversalHMM"]


class ReversalHMM(CognitiveModel):
    r"""Bayesian inference of which option is currently correct, with softmax choice.

    The hidden state ``s`` is the correct option; it switches to one of the others with hazard
    ``h`` on each trial. The correct option pays with probability ``p_reward``, the others with
    ``1 - p_reward``. After choosing ``a`` and observing ``r`` (a reward is ``r > 0``):

    .. math::

        b'(s) \propto b(s) \, P(r \mid a, s), \qquad
        b_{t+1}(s) = (1 - h) b'(s) + h (1 - b'(s)) / (k - 1)

        P(a) \propto \exp(\beta \, E[r \mid a] + \kappa [a = a_{t-1}]), \qquad
        E[r \mid a] = b(a) p + (1 - b(a)) (1 - p)

    Free: ``hazard``, ``beta``, and as structure ``p_reward`` (fixed at 0.8 by default) and
    stickiness ``kappa``.

    References: Hampton, Bossaerts & O'Doherty (2006), J Neurosci, "The role of the ventromedial
    prefrontal cortex in abstract state-based inference during decision making in humans";
    Schlagenhauf et al. (2014), NeuroImage.
    """

    name = "reversal_hmm"
    tasks = ("cogmodels/ReversalLearning-v0",)

    def __init__(
        self,
        n_actions: int = 2,
        *,
        free_p_reward: bool = False,
        p_reward: float = 0.8,
        stickiness: bool = False,
    ) -> None:
        super().__init__(n_actions)
        self.free_p_reward = bool(free_p_reward)
        self.p_reward = float(p_reward)
        self.stickiness = bool(stickiness)
        specs = [
            ParamSpec("hazard", 0.0, 0.5, 0.05, rate_prior(0.0, 0.5), description="reversal probability per trial"),
            ParamSpec("beta", 0.0, 20.0, 5.0, inverse_temperature_prior(20.0), description="inverse temperature"),
        ]
        if self.free_p_reward:
            specs.append(ParamSpec("p_reward", 0.5, 1.0, 0.8, rate_prior(0.5, 1.0), description="believed reward rate"))
        if self.stickiness:
            specs.append(ParamSpec("kappa", -5.0, 5.0, 0.0, signed_prior(-5.0, 5.0), description="choice stickiness"))
        self.param_specs = tuple(specs)

    def _p(self, params) -> Array:
        return params["p_reward"] if self.free_p_reward else full(params["beta"], params["beta"].shape, self.p_reward)

    def initial_state(self, params) -> State:
        """Start with a uniform belief over which option is the correct one."""
        beta = params["beta"]
        shape = (beta.shape[0], self.n_actions)
        return {"params": params, "belief": full(beta, shape, 1.0 / self.n_actions, order="F"),
                "prev": full(beta, shape, order="F")}

    def action_probabilities(self, state, observation) -> Array:
        """Return ``softmax(beta E[p(reward)] + kappa prev)`` under the current belief."""
        params = state["params"]
        p = self._p(params)[:, None]
        value = state["belief"] * p + (1.0 - state["belief"]) * (1.0 - p)
        logits = params["beta"][:, None] * value
        if self.stickiness:
            logits = logits + params["kappa"][:, None] * state["prev"]
        return softmax(logits)

    def latents(self, state, observation, action, reward) -> dict[str, Array]:
        """Return the belief ``belief_i`` that option ``i`` is the correct one."""
        return {f"belief_{i}": state["belief"][:, i] for i in range(self.n_actions)}

    def update(self, state, observation, action, reward, next_observation) -> State:
        """Update the belief by Bayes' rule on the outcome, then apply the reversal ``hazard``."""
        params = state["params"]
        xp = namespace(state["belief"])
        p = self._p(params)[:, None]
        chosen = onehot(action, self.n_actions)
        rewarded = (reward > 0)[:, None]
        # P(r | a, s): the chosen option pays with p if it is the correct one (s = a)
        p_win = xp.where(chosen, p, 1.0 - p)
        like = xp.where(rewarded, p_win, 1.0 - p_win)
        post = state["belief"] * like
        post = post / xp.sum(post, axis=1, keepdims=True)
        h = params["hazard"][:, None]
        belief = (1.0 - h) * post + h * (1.0 - post) / (self.n_actions - 1)
        return {"params": params, "belief": belief, "prev": chosen}
