"""The tabular actor-critic as a model of choices in trial-based tasks (bandits, reversal)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from cogmodels.model import CognitiveModel, State, full, onehot, put, softmax, take
from cogmodels.parameters import ParamSpec
from cogmodels.priors import inverse_temperature_prior, rate_prior, signed_prior
from cogmodels.validation import check_int
from cogmodels.xp import Array, namespace, to_numpy

__all__ = ["ActorCritic"]


class ActorCritic(CognitiveModel):
    r"""Actor-critic: a critic learns state values, an actor learns action preferences from its error.

    .. math::

        P(a_t = a) \propto \exp(\beta H_t(s_t, a) + \kappa [a = a_{t-1}])

        \delta_t = r_t - V_t(s_t), \qquad V_{t+1}(s_t) = V_t(s_t) + \alpha_c \delta_t,
        \qquad H_{t+1}(s_t, a_t) = H_t(s_t, a_t) + \alpha_a \delta_t

    The critic's prediction error ``δ`` (the dopamine signal) trains both; unlike Q-learning, the
    error compares the outcome with the value of the *state*, not of the chosen action (Barto,
    Sutton & Anderson 1983; Houk, Adams & Barto 1995; O'Doherty et al. 2004, Science 304,
    452–454; in patients, Gold et al. 2012, Arch Gen Psychiatry 69, 129–138). Values start at
    ``initial_value``, preferences at 0. Variants (structure, fixed at construction):

    - ``forgetting``: the preferences of the unchosen actions (in the current state) decay toward
      0, ``H(s, a') -= phi H(s, a')``;
    - ``stickiness``: the choice-perseveration bonus ``kappa``;
    - ``free_beta``: ``beta`` is a free parameter instead of fixed at ``beta`` (default 1).
      Preferences start at 0 and move by ``alpha_a δ``, so only the product ``beta·alpha_a``
      shapes the choices: with ``free_beta`` the likelihood is flat along
      ``(c·beta, alpha_a/c)``; use it only with priors (MAP, hierarchical EM).
    - ``n_states``: tasks with several states read the ``state`` column (0-based); the default
      single state fits bandit and reversal tasks without one.

    Latents: ``v`` (the critic's value of the trial's state), ``h_0 ... h_{n-1}`` (the actor's
    preferences) and ``delta``, all before the update.
    """

    name = "actor_critic"
    tasks = ("cogmodels/MultiArmedBandit-v0", "cogmodels/ReversalLearning-v0")

    def __init__(
        self,
        n_actions: int = 2,
        *,
        n_states: int = 1,
        forgetting: bool = False,
        stickiness: bool = False,
        free_beta: bool = False,
        beta: float = 1.0,
        initial_value: float = 0.5,
        beta_max: float = 20.0,
    ) -> None:
        super().__init__(n_actions)
        self.n_states = check_int("n_states", n_states, 1)
        self.forgetting = bool(forgetting)
        self.stickiness = bool(stickiness)
        self.free_beta = bool(free_beta)
        if not (np.isfinite(beta) and beta > 0):
            raise ValueError(f"beta must be a finite number > 0, got {beta!r}")
        self.beta = float(beta)
        self.initial_value = float(initial_value)
        self.observation_columns = ("state",) if self.n_states > 1 else ()
        specs = [
            ParamSpec("alpha_c", 0.0, 1.0, 0.3, rate_prior(), description="critic learning rate"),
            ParamSpec("alpha_a", 0.0, 1.0, 0.3, rate_prior(), description="actor learning rate"),
        ]
        if self.free_beta:
            specs.append(ParamSpec("beta", 0.0, float(beta_max), 3.0, inverse_temperature_prior(float(beta_max)),
                                   description="inverse temperature"))
        if self.stickiness:
            specs.append(ParamSpec("kappa", -5.0, 5.0, 0.0, signed_prior(-5.0, 5.0), description="choice stickiness"))
        if self.forgetting:
            specs.append(ParamSpec("phi", 0.0, 1.0, 0.1, rate_prior(), description="decay of unchosen preferences"))
        self.param_specs = tuple(specs)

    # -- helpers ------------------------------------------------------------------------------
    def _beta(self, params: Mapping[str, Array]) -> Array | float:
        return params["beta"] if self.free_beta else self.beta

    def _state_index(self, observation: Mapping[str, Array], lanes: int) -> Array | None:
        if self.n_states == 1:
            return None
        obs = observation["state"]
        xp = namespace(obs)
        s = xp.astype(obs, xp.int64)
        if s.shape != (lanes,) or bool(xp.any(s < 0)) or bool(xp.any(s >= self.n_states)):
            raise ValueError(
                f"actor_critic with n_states={self.n_states}: column 'state' must hold integers in "
                f"[0, {self.n_states - 1}], got {np.unique(to_numpy(s))[:10].tolist()}"
            )
        return s

    def _current(self, state: State, observation) -> tuple[Array, Array, Array | None]:
        """Return the value ``(lanes,)`` and preferences ``(lanes, actions)`` of the state."""
        lanes = state["prev"].shape[0]
        s = self._state_index(observation, lanes)
        if s is None:
            return state["v"], state["h"], None
        return take(state["v"], s), take(state["h"], s), s

    # -- protocol -----------------------------------------------------------------------------
    def initial_state(self, params: Mapping[str, Array]) -> State:
        """Start with values ``initial_value``, zero preferences and no previous choice."""
        like = params["alpha_c"]
        lanes = like.shape[0]
        prev = full(like, (lanes, self.n_actions), order="F")
        if self.n_states == 1:
            v = full(like, (lanes,), self.initial_value)
            h = full(like, (lanes, self.n_actions), order="F")
        else:
            v = full(like, (lanes, self.n_states), self.initial_value, order="F")
            h = full(like, (lanes, self.n_states, self.n_actions), order="F")
        return {"params": params, "v": v, "h": h, "prev": prev}

    def action_probabilities(self, state: State, observation: Mapping[str, Array]) -> Array:
        """Return ``softmax(beta H(s, ·) + kappa prev)`` of the current state's preferences."""
        p = state["params"]
        _, h, _ = self._current(state, observation)
        beta = self._beta(p)
        logits = (beta[:, None] if self.free_beta else beta) * h
        if self.stickiness:
            logits = logits + p["kappa"][:, None] * state["prev"]
        return softmax(logits)

    def latents(self, state, observation, action, reward) -> dict[str, Array]:
        """Return the value ``v``, preferences ``h_i`` and prediction error ``delta = r - v``."""
        v, h, _ = self._current(state, observation)
        out = {"v": v}
        out.update({f"h_{i}": h[:, i] for i in range(self.n_actions)})
        out["delta"] = reward - v
        return out

    def update(self, state, observation, action, reward, next_observation) -> State:
        """Update the critic by ``alpha_c delta`` and the chosen preference by ``alpha_a delta``."""
        p = state["params"]
        v, h, s = self._current(state, observation)
        chosen = onehot(action, self.n_actions)
        delta = reward - v
        v_new = v + p["alpha_c"] * delta
        h_new = h
        if self.forgetting:
            h_new = namespace(h).where(chosen, h_new, h_new - p["phi"][:, None] * h_new)
        h_new = h_new + chosen * (p["alpha_a"] * delta)[:, None]
        if s is None:
            return {"params": p, "v": v_new, "h": h_new, "prev": chosen}
        return {"params": p, "v": put(state["v"], s, v_new), "h": put(state["h"], s, h_new), "prev": chosen}

    def __repr__(self) -> str:
        return (
            f"ActorCritic(n_actions={self.n_actions}, n_states={self.n_states}, "
            f"forgetting={self.forgetting}, stickiness={self.stickiness}, free_beta={self.free_beta})"
        )
