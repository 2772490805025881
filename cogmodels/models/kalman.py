"""The Kalman-filter learner of the restless bandit (Daw et al. 2006)."""

from __future__ import annotations

from cogmodels.model import CognitiveModel, State, full, onehot, pick, softmax
from cogmodels.parameters import ParamSpec
from cogmodels.priors import inverse_temperature_prior, signed_prior
from cogmodels.xp import Array, namespace

__all__ = ["KalmanFilter"]


class KalmanFilter(CognitiveModel):
    r"""Bayesian learner of decaying Gaussian random-walk payoffs, with softmax choice.

    Each arm's mean payoff is tracked by a Kalman filter whose generative model is the task's:
    ``mu_{t+1} = lambda mu_t + (1 - lambda) theta + N(0, sigma_d^2)``, payoff ``~ N(mu, sigma_o^2)``.

    .. math::

        P(a) \propto \exp(\beta \hat\mu_a + \phi \hat\sigma_a + \kappa [a = a_{t-1}])

        K = \hat\sigma_a^2 / (\hat\sigma_a^2 + \sigma_o^2), \quad
        \hat\mu_a \leftarrow \hat\mu_a + K (r - \hat\mu_a), \quad
        \hat\sigma_a^2 \leftarrow (1 - K) \hat\sigma_a^2

    then every arm diffuses: ``mu <- lambda mu + (1 - lambda) theta``,
    ``sigma^2 <- lambda^2 sigma^2 + sigma_d^2``. Free parameters: ``beta`` and, as structure,
    the exploration bonus ``phi`` and stickiness ``kappa``. The dynamics default to the task's
    (Daw et al. 2006: lambda 0.9836, theta 50, sigma_d 2.8, sigma_o 4; initial mean 50 and
    standard deviation 4).

    Reference: Daw, O'Doherty, Dayan, Seymour & Dolan (2006), Nature, "Cortical substrates for
    exploratory decisions in humans".
    """

    name = "kalman"
    tasks = ("cogmodels/RestlessBandit-v0",)

    def __init__(
        self,
        n_actions: int = 4,
        *,
        exploration_bonus: bool = False,
        stickiness: bool = False,
        decay: float = 0.9836,
        decay_center: float = 50.0,
        diffusion_std: float = 2.8,
        payoff_std: float = 4.0,
        initial_mean: float = 50.0,
        initial_std: float = 4.0,
    ) -> None:
        super().__init__(n_actions)
        self.exploration_bonus = bool(exploration_bonus)
        self.stickiness = bool(stickiness)
        self.decay, self.decay_center = float(decay), float(decay_center)
        self.diffusion_var, self.payoff_var = float(diffusion_std) ** 2, float(payoff_std) ** 2
        self.initial_mean, self.initial_var = float(initial_mean), float(initial_std) ** 2
        specs = [ParamSpec("beta", 0.0, 5.0, 0.2, inverse_temperature_prior(5.0), description="inverse temperature (per point)")]
        if self.exploration_bonus:
            specs.append(ParamSpec("phi", -5.0, 5.0, 0.0, signed_prior(-5.0, 5.0), description="bonus per sd of uncertainty"))
        if self.stickiness:
            specs.append(ParamSpec("kappa", -5.0, 5.0, 0.0, signed_prior(-5.0, 5.0), description="choice stickiness"))
        self.param_specs = tuple(specs)

    def initial_state(self, params) -> State:
        """Start every arm at ``initial_mean`` with variance ``initial_var``."""
        beta = params["beta"]
        shape = (beta.shape[0], self.n_actions)
        return {
            "params": params,
            "mu": full(beta, shape, self.initial_mean, order="F"),
            "var": full(beta, shape, self.initial_var, order="F"),
            "prev": full(beta, shape, order="F"),
        }

    def action_probabilities(self, state, observation) -> Array:
        """Return ``softmax(beta mu + phi sd + kappa prev)`` (bonus and stickiness when enabled)."""
        p = state["params"]
        logits = p["beta"][:, None] * state["mu"]
        if self.exploration_bonus:
            logits = logits + p["phi"][:, None] * namespace(logits).sqrt(state["var"])
        if self.stickiness:
            logits = logits + p["kappa"][:, None] * state["prev"]
        return softmax(logits)

    def latents(self, state, observation, action, reward) -> dict[str, Array]:
        """Return the arms' posterior means ``mu_i``, sds ``sd_i`` and the choice's ``delta``."""
        xp = namespace(state["mu"])
        out = {f"mu_{i}": state["mu"][:, i] for i in range(self.n_actions)}
        out.update({f"sd_{i}": xp.sqrt(state["var"][:, i]) for i in range(self.n_actions)})
        out["delta"] = reward - pick(state["mu"], action)
        return out

    def update(self, state, observation, action, reward, next_observation) -> State:
        """Update the chosen arm with the Kalman gain, then let every arm diffuse."""
        chosen = onehot(action, self.n_actions)
        mu, var = state["mu"], state["var"]
        gain = namespace(mu).where(chosen, var / (var + self.payoff_var), 0.0)
        mu = mu + gain * (reward[:, None] - mu)
        var = (1.0 - gain) * var
        lam = self.decay
        mu = lam * mu + (1.0 - lam) * self.decay_center
        var = lam**2 * var + self.diffusion_var
        return {"params": state["params"], "mu": mu, "var": var, "prev": chosen}
