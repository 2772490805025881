r"""The reinforcement-learning drift-diffusion model (RLDDM): Q-learning with a DDM choice rule.

Pedersen, Frank & Biele (2017), *Psychonomic Bulletin & Review* 24(4), 1234-1251, "The drift
diffusion model as the choice rule in reinforcement learning"; Fontanesi, Gluth, Spektor &
Rieskamp (2019), *Psychonomic Bulletin & Review* 26(4), 1099-1121; HDDM's ``HDDMrl`` (Fengler,
Bera, Pedersen & Frank 2022). :func:`simulate_learning_phase` plays it in the learning phase of
the probabilistic selection task (Frank, Seeberger & O'Reilly 2004), the design of HDDM's data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from cogmodels import wiener
from cogmodels.model import State, pick, put, take
from cogmodels.models.ddm import DiffusionChoice, diffusion_specs
from cogmodels.parameters import ParamSpec
from cogmodels.priors import inverse_temperature_prior, rate_prior, signed_prior
from cogmodels.validation import as_generator, check_int, check_number

__all__ = ["RLDDM", "simulate_learning_phase"]


class RLDDM(DiffusionChoice):
    r"""Q-learning whose choice rule is a diffusion with drift scaled by the value difference.

    Each condition (``state``, e.g. the option pair shown) holds the values of its two options:
    ``Q(s, 1)`` of the option coded 1 (upper boundary) and ``Q(s, 0)`` of the other. On trial ``t``

    .. math::

        v_t = v \, [Q_t(s_t, 1) - Q_t(s_t, 0)], \qquad
        a_t = a \exp\!\left(m \left[\tfrac{Q_t(s_t, 0) + Q_t(s_t, 1)}{2} - Q_0\right]\right)

        p(c_t, rt_t) = f_{c_t}(rt_t - t_0 \mid v_t, a_t, z)

        \delta_t = r_t - Q_t(s_t, c_t), \qquad Q_{t+1}(s_t, c_t) = Q_t(s_t, c_t) + \alpha \delta_t

    with ``f_c`` the Wiener first-passage-time density (:mod:`cogmodels.wiener`). The plain
    model is HDDM's ``HDDMrl`` (Pedersen et al. 2017; ``z = 0.5``, values start at ``Q_0 =
    initial_value``). Variants (structure, fixed at construction):

    - ``dual_learning_rates``: ``alpha_pos`` for ``delta > 0``, ``alpha_neg`` otherwise
      (Fontanesi et al. 2019; HDDMrl's ``dual=True``);
    - ``threshold_modulation``: the threshold changes from trial to trial with the mean value
      of the options shown, through ``m`` (``a_mod``; Fontanesi et al. 2019's value-modulated
      threshold, here with an exponential link that keeps it positive; ``a`` is the threshold
      while the values are at ``Q_0``);
    - ``free_starting_point``: ``z`` is free (else 0.5);
    - ``deadline``: omissions are censored at the response deadline (seconds);
    - ``p_outlier``: the probability of a contaminant response (HDDM's ``p_outlier``, 0.05 in
      ``HDDMrl``'s default; :class:`~cogmodels.models.ddm.DiffusionChoice`).

    Only the chosen option's value is updated (HDDMrl). ``n_states`` is the number of
    conditions; with more than one the trial table needs a ``state`` column.
    """

    name = "rlddm"

    def __init__(
        self,
        n_states: int = 1,
        *,
        dual_learning_rates: bool = False,
        threshold_modulation: bool = False,
        free_starting_point: bool = False,
        initial_value: float = 0.5,
        v_max: float = 20.0,
        deadline: float | None = None,
        p_outlier: float = 0.0,
    ) -> None:
        super().__init__(deadline=deadline, p_outlier=p_outlier)
        self.n_states = check_int("n_states", n_states, minimum=1)
        self.dual_learning_rates = bool(dual_learning_rates)
        self.threshold_modulation = bool(threshold_modulation)
        self.free_starting_point = bool(free_starting_point)
        self.initial_value = check_number("initial_value", initial_value)
        v_max = check_number("v_max", v_max, 0.0, low_open=True)
        self.observation_columns = ("state",) if self.n_states > 1 else ()
        if self.dual_learning_rates:
            specs = [ParamSpec("alpha_pos", 0.0, 1.0, 0.3, rate_prior(), description="learning rate, delta > 0"),
                     ParamSpec("alpha_neg", 0.0, 1.0, 0.3, rate_prior(), description="learning rate, delta <= 0")]
        else:
            specs = [ParamSpec("alpha", 0.0, 1.0, 0.3, rate_prior(), description="learning rate")]
        specs.append(ParamSpec("v", 0.0, v_max, 3.0, inverse_temperature_prior(v_max),
                               description="drift scaling of the value difference"))
        specs += diffusion_specs(drift=False, starting_point=self.free_starting_point)
        if self.threshold_modulation:
            specs.append(ParamSpec("a_mod", -5.0, 5.0, 0.0, signed_prior(-5.0, 5.0),
                                   description="threshold modulation by the mean value"))
        self.param_specs = tuple(specs)

    def initial_state(self, params: Mapping[str, Any]) -> State:
        """Start every value at ``initial_value``: ``q`` is ``(lanes, n_states, 2)``."""
        a = params["a"]
        xp = wiener.namespace_of(a)
        q = self.initial_value * xp.ones((a.shape[0], self.n_states, 2), dtype=a.dtype)
        return {"params": params, "q": q}

    def _condition(self, observation: Mapping[str, Any], like: Any) -> Any:
        """``(lanes,)`` index of the trial's condition (0 with a single condition)."""
        if self.n_states == 1:
            xp = wiener.namespace_of(like)
            return xp.zeros(like.shape[0], dtype=xp.int64, device=getattr(like, "device", None))
        return observation["state"]

    def _values(self, state: State, observation: Mapping[str, Any]) -> tuple[Any, Any]:
        """``Q(s_t, 0)`` and ``Q(s_t, 1)`` of the trial's condition."""
        shown = take(state["q"], self._condition(observation, state["q"]))
        return shown[:, 0], shown[:, 1]

    def diffusion_parameters(self, state: State, observation: Mapping[str, Any]) -> tuple[Any, Any, Any, Any]:
        """Return ``(v_t, a_t, z, t0)`` of the coming trial (class docstring)."""
        p = state["params"]
        q0, q1 = self._values(state, observation)
        a = p["a"]
        if self.threshold_modulation:
            a = a * wiener.namespace_of(a).exp(p["a_mod"] * ((q0 + q1) / 2.0 - self.initial_value))
        return p["v"] * (q1 - q0), a, self._start(p), p["t0"]

    def latents(self, state, observation, action, reward) -> dict[str, np.ndarray]:
        """Return ``q_0``, ``q_1`` (the condition's values), ``delta``, ``drift`` and ``threshold``."""
        q0, q1 = self._values(state, observation)
        v, a, _, _ = self.diffusion_parameters(state, observation)
        chosen = np.where(np.asarray(action) == 1, q1, q0)
        return {"q_0": q0, "q_1": q1, "delta": reward - chosen, "drift": v, "threshold": a}

    def update(self, state: State, observation, action, reward, next_observation) -> State:
        """Move the chosen option's value by ``alpha delta`` (dual rates by the sign of ``delta``).

        Written as indexed writes (:func:`~cogmodels.model.put`) of the one value that changes:
        ``Q(s_t, c_t) + alpha delta``, the bits of adding a one-hot step to every value.
        """
        p, q = state["params"], state["q"]
        xp = wiener.namespace_of(q)
        condition = self._condition(observation, q)
        shown = take(q, condition)  # (lanes, 2): Q(s_t, 0), Q(s_t, 1)
        chosen = pick(shown, action)
        delta = xp.asarray(reward, dtype=q.dtype) - chosen
        if self.dual_learning_rates:
            alpha = xp.where(delta > 0, p["alpha_pos"], p["alpha_neg"])
        else:
            alpha = p["alpha"]
        return {"params": p, "q": put(q, condition, put(shown, action, chosen + alpha * delta))}

    def __repr__(self) -> str:
        outlier = f", p_outlier={self.p_outlier}" if self.p_outlier else ""
        return f"RLDDM(n_states={self.n_states}{outlier})"


#: Reward probabilities of the option coded 1 and of the other in the learning phase of the
#: probabilistic selection task (pairs AB, CD, EF; Frank et al. 2004).
SELECTION_PAIRS: tuple[tuple[float, float], ...] = ((0.8, 0.2), (0.7, 0.3), (0.6, 0.4))


def simulate_learning_phase(
    model: DiffusionChoice,
    params: Mapping[str, Any],
    *,
    n_trials: int = 200,
    reward_probabilities: Sequence[tuple[float, float]] = SELECTION_PAIRS,
    seed: int | np.random.SeedSequence | np.random.Generator | None = None,
) -> pd.DataFrame:
    """Play a model of choices and RTs in a learning phase of the probabilistic selection task.

    Each subject (one per lane of ``params``) sees ``n_trials`` trials, the conditions in
    shuffled rounds (each round shows every pair once); choosing option 1 of pair ``s`` pays 1
    with probability ``reward_probabilities[s][0]``, option 0 with ``[s][1]``. The choice is
    drawn from ``model.action_probabilities`` and the state advanced by ``model.update``, the
    code that scores the data; the RTs, which do not change what is learned, are drawn at the
    end, each given its trial's choice and diffusion parameters
    (:func:`cogmodels.wiener.sample_rt`, as ``model.sample_rt`` does trial by trial).

    Parameters
    ----------
    model : DiffusionChoice
        A model of choices and RTs (its ``n_states`` at least the number of pairs).
    params : Mapping[str, Any]
        One scalar per parameter, or one value per subject.
    n_trials : int
        Trials per subject.
    reward_probabilities : sequence of (float, float)
        Per condition, the reward probabilities of option 1 and option 0.
    seed : int, SeedSequence, Generator or None
        Seeds the task and the draws.

    Returns
    -------
    pandas.DataFrame
        A trial table: ``subject, trial, state, choice, reward, rt`` and ``p_choice`` (the
        probability of the choice drawn).
    """
    n_trials = check_int("n_trials", n_trials, minimum=1)
    probs = np.asarray(reward_probabilities, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != 2 or ((probs < 0) | (probs > 1)).any():
        raise ValueError(f"reward_probabilities must be pairs of probabilities, got {reward_probabilities!r}")
    n_states = getattr(model, "n_states", 1)
    if probs.shape[0] > n_states:
        raise ValueError(f"reward_probabilities has {probs.shape[0]} conditions but the model has "
                         f"n_states={n_states}; build it with n_states={probs.shape[0]}")
    rng = as_generator(seed)
    p = model.check_params(params)
    lanes = next(iter(p.values())).shape[0]
    n_pairs = probs.shape[0]
    rounds = -(-n_trials // n_pairs)
    states = np.stack([np.concatenate([rng.permutation(n_pairs) for _ in range(rounds)])[:n_trials]
                       for _ in range(lanes)], axis=1)  # (trials, lanes)
    state = model.initial_state(p)
    names = ("choice", "reward", "p_choice", "v", "a", "z", "t0")
    columns = {k: np.zeros((n_trials, lanes)) for k in names}
    for t in range(n_trials):
        obs = {"state": states[t].astype(np.float64)}
        pr = model.action_probabilities(state, obs)
        choice = (rng.random(lanes) < pr[:, 1]).astype(np.int64)
        pay = probs[states[t], 1 - choice]
        reward = (rng.random(lanes) < pay).astype(np.float64)
        diffusion = model.diffusion_parameters(state, obs)
        for k, value in zip(names, (choice, reward, np.where(choice == 1, pr[:, 1], pr[:, 0]), *diffusion),
                            strict=True):
            columns[k][t] = value
        state = model.update(state, obs, choice, reward, obs)
    # the RT does not change what is learned: draw every trial's at once, given its choice
    diffusion = [columns.pop(k) for k in ("v", "a", "z", "t0")]
    columns["rt"] = wiener.sample_rt(columns["choice"], *diffusion, rng)
    table = pd.DataFrame({"subject": np.repeat(np.arange(lanes), n_trials),
                          "trial": np.tile(np.arange(n_trials), lanes),
                          "state": states.T.reshape(-1)})
    for k, v in columns.items():
        table[k] = v.T.reshape(-1)
    table["choice"] = table["choice"].astype(np.int64)
    return table
