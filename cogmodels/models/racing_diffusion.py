r"""The reinforcement-learning racing diffusion model: Q-learning whose choice is a race of Wald accumulators.

Each option has an accumulator whose drift grows with the option's learned value; the first to
reach the common threshold gives the choice and, with the non-decision time, the reaction time.
The race is the racing diffusion model of Tillman, Van Zandt & Logan (2020); value-driven drifts
in a race of accumulators follow McDougle & Collins (2021) and Miletić, Boag, Trutti, Stevenson,
Forstmann & Heathcote (2021). Density, survival, choice probabilities and the sampler are in
:mod:`cogmodels.models.wald`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from cogmodels.model import CognitiveModel, State, onehot, pick, put, take
from cogmodels.models import wald
from cogmodels.models.ddm import non_decision_time_spec
from cogmodels.parameters import ParamSpec
from cogmodels.priors import inverse_temperature_prior, rate_prior
from cogmodels.validation import check_int, check_number
from cogmodels.xp import namespace

__all__ = ["RLRacingDiffusion"]


class RLRacingDiffusion(CognitiveModel):
    r"""Q-learning with a racing-diffusion choice rule over ``n_actions`` options (N >= 2).

    On trial ``t`` in condition ``s_t`` the accumulator of option ``i`` drifts at

    .. math::

        v_{t,i} = \max\left(v_0 + w \, Q_t(s_t, i),\; v_{min}\right)

    toward the threshold ``b`` (unit diffusion coefficient); its finishing time has the Wald
    density ``f`` and survival ``S`` (Tillman, Van Zandt & Logan 2020, eqs. 1-2), and the first
    to finish gives the choice:

    .. math::

        p(c_t, rt_t) = f(rt_t - t_0 \mid v_{t,c_t}, b) \prod_{j \ne c_t} S(rt_t - t_0 \mid v_{t,j}, b)

        \delta_t = r_t - Q_t(s_t, c_t), \qquad Q_{t+1}(s_t, c_t) = Q_t(s_t, c_t) + \alpha \delta_t

    (Tillman et al. 2020, eq. 3; the value-to-drift mapping ``v_0 + w Q`` of McDougle & Collins
    2021's accumulator model of instrumental learning and of Miletić et al. 2021's RL racing
    diffusion, here without their advantage term). Values start at ``initial_value``; only the
    chosen option's value is updated. With rewards in ``[0, 1]`` the values stay in ``[0, 1]`` and
    every drift is at least ``v_0``; the floor ``min_drift`` keeps an accumulator finite-timed
    when negative rewards push ``v_0 + w Q`` to 0 or below (an accumulator with drift ``<= 0``
    may never finish, and the race would leave probability to no response at all).

    Missing data as :class:`~cogmodels.models.DDM`: a trial with a choice and no RT contributes
    its choice probability ``P(c)`` (:func:`cogmodels.models.wald.choice_probabilities`); an
    omission contributes ``log ∏_j S(deadline - t0 | v_j, b)`` when ``deadline`` is given
    (censoring), and is skipped otherwise. RTs are simulated by racing Wald finishing times
    (:func:`cogmodels.models.wald.sample_rt_given_choice`).

    Parameters
    ----------
    n_actions : int
        Options, one accumulator each (>= 2).
    n_states : int
        Conditions with their own values (the trial table then needs a ``state`` column).
    initial_value : float
        ``Q_0``.
    min_drift : float
        ``v_min`` (> 0).
    deadline : float, optional
        Response deadline, seconds: omissions are censored there.

    References
    ----------
    Tillman, G., Van Zandt, T. & Logan, G. D. (2020). Sequential sampling models without random
    between-trial variability: the racing diffusion model of speeded decision making.
    *Psychonomic Bulletin & Review*, 27(5), 911-936.
    McDougle, S. D. & Collins, A. G. E. (2021). Modeling the influence of working memory,
    reinforcement, and action uncertainty on reaction time and choice during instrumental
    learning. *Psychonomic Bulletin & Review*, 28(1), 20-39.
    Miletić, S., Boag, R. J., Trutti, A. C., Stevenson, N., Forstmann, B. U. & Heathcote, A.
    (2021). A new model of decision processing in instrumental learning tasks. *eLife*, 10, e63055.
    """

    name = "rlrd"
    rt_column = "rt"

    def __init__(
        self,
        n_actions: int = 2,
        *,
        n_states: int = 1,
        initial_value: float = 0.5,
        min_drift: float = 1e-3,
        deadline: float | None = None,
    ) -> None:
        super().__init__(n_actions)
        self.n_states = check_int("n_states", n_states, minimum=1)
        self.initial_value = check_number("initial_value", initial_value)
        self.min_drift = check_number("min_drift", min_drift, 0.0, low_open=True)
        self.deadline = None if deadline is None else check_number("deadline", deadline, 0.0, low_open=True)
        self.observation_columns = ("state",) if self.n_states > 1 else ()
        self.param_specs = (
            ParamSpec("alpha", 0.0, 1.0, 0.3, rate_prior(), description="learning rate"),
            ParamSpec("v0", 0.0, 20.0, 1.0, inverse_temperature_prior(20.0), description="drift at value 0"),
            ParamSpec("w", 0.0, 20.0, 2.0, inverse_temperature_prior(20.0), description="drift per unit of value"),
            ParamSpec("b", 0.3, 5.0, 1.5, rate_prior(0.3, 5.0), description="threshold"),
            non_decision_time_spec(),
        )

    def initial_state(self, params: Mapping[str, Any]) -> State:
        """Start every value at ``initial_value``: ``q`` is ``(lanes, n_states, n_actions)``."""
        b = params["b"]
        xp = namespace(b)
        q = self.initial_value * xp.ones((b.shape[0], self.n_states, self.n_actions), dtype=b.dtype,
                                         device=getattr(b, "device", None))
        return {"params": params, "q": q}

    def _condition(self, state: State, observation: Mapping[str, Any]) -> Any:
        """``(lanes,)`` index of the trial's condition (0 with one condition)."""
        if self.n_states == 1:
            q = state["q"]
            return namespace(q).zeros(q.shape[0], dtype=namespace(q).int64, device=getattr(q, "device", None))
        return observation["state"]

    def drifts(self, state: State, observation: Mapping[str, Any]) -> Any:
        """Return the ``(lanes, n_actions)`` drift rates ``max(v0 + w Q(s_t, .), min_drift)``."""
        p = state["params"]
        q = take(state["q"], self._condition(state, observation))
        return namespace(q).clip(p["v0"][:, None] + p["w"][:, None] * q, min=self.min_drift)

    def rt_parameters(self, state: State, observation: Mapping[str, Any]) -> tuple[Any, Any, Any]:
        """Return ``(v, b, t0)``: the likelihood then scores all trials' RTs in one call."""
        p = state["params"]
        return self.drifts(state, observation), p["b"], p["t0"]

    def action_probabilities(self, state: State, observation: Mapping[str, Any]) -> Any:
        """Return ``P(option i finishes first)`` per lane (:func:`~cogmodels.models.wald.choice_probabilities`)."""
        v, b, _ = self.rt_parameters(state, observation)
        return wald.choice_probabilities(v, b)

    def log_density_rt(self, state: State, observation: Mapping[str, Any], action: Any, rt: Any) -> Any:
        """Return the log joint density of ``action`` at ``rt`` (:func:`~cogmodels.models.wald.race_log_density`)."""
        return self.log_density_rt_from(self.rt_parameters(state, observation), action, rt)

    def log_density_rt_from(self, parameters: tuple[Any, ...], action: Any, rt: Any) -> Any:
        """Return the log joint density of ``action`` at ``rt`` given ``(v, b, t0)`` of any leading shape."""
        return wald.race_log_density(rt, action, *parameters)

    def log_omission(self, state: State, observation: Mapping[str, Any]) -> Any:
        """Return ``log P(no accumulator finished by the deadline)`` (None without a deadline)."""
        if self.deadline is None:
            return None
        return wald.race_log_survival(self.deadline, *self.rt_parameters(state, observation))

    def sample_rt(self, state: State, observation: Mapping[str, Any], action: Any,
                  rng: np.random.Generator) -> np.ndarray:
        """Draw the RT of a race won by ``action`` (:func:`~cogmodels.models.wald.sample_rt_given_choice`)."""
        v, b, t0 = (np.asarray(x, dtype=np.float64) for x in self.rt_parameters(state, observation))
        return wald.sample_rt_given_choice(np.asarray(action), v, b, t0, rng)

    def latents(self, state, observation, action, reward) -> dict[str, Any]:
        """Return the condition's values ``q_i``, the drifts ``drift_i`` and ``delta``."""
        q = take(state["q"], self._condition(state, observation))
        v = self.drifts(state, observation)
        out = {f"q_{i}": q[:, i] for i in range(self.n_actions)}
        out.update({f"drift_{i}": v[:, i] for i in range(self.n_actions)})
        out["delta"] = reward - pick(q, action)
        return out

    def update(self, state: State, observation, action, reward, next_observation) -> State:
        """Move the chosen option's value by ``alpha delta``."""
        p = state["params"]
        s = self._condition(state, observation)
        q = take(state["q"], s)
        delta = reward - pick(q, action)
        q = q + onehot(action, self.n_actions) * (p["alpha"] * delta)[:, None]
        return {"params": p, "q": put(state["q"], s, q)}

    def __repr__(self) -> str:
        return (f"RLRacingDiffusion(n_actions={self.n_actions}, n_states={self.n_states}, "
                f"deadline={self.deadline})")
