r"""The learning rules of the reward-trained decoder, batched over lanes (one subject per lane).

Both map features ``ỹ_t = [y_t, 1]`` to a cursor velocity and learn from the scalar reward
``r_t`` alone (the error signal's ±1 plus 1 for a success); both follow one protocol:
``act(y, greedy) -> a``, ``learn(y, a, r, y_next, ends)`` once per bin after the step,
``restart(lanes)`` at a new session and ``weights()``.

- :class:`ActorCriticLanes` — the original decoder (one
  :class:`~cogmodels.agents.continuous.GaussianActorCritic` per lane): white exploration noise in
  every bin, REINFORCE with a learnt baseline over the bins since the previous nonzero reward
  (Williams 1992; DiGiovanna et al. 2009; Pohlmeyer et al. 2014). It needs evaluations every
  few bins: the credit of one evaluation is spread over every bin of its window.
- :class:`OutcomeWeightedLanes` — for sparse, late evaluations. Exploration is held for one
  evaluation window (``a_t = W ỹ_t + ε_k``, one ``ε_k ~ N(0, σ² I)`` per window, redrawn on the
  evaluation clock inferred from the arrivals), so a window's whole displacement carries the
  exploration the evaluation judges. An evaluation arriving in bin ``t`` judges the window of bins
  ``(t - L - w, t - L]`` (latency ``L``, window ``w``, both known properties of the channel), and
  weights an update of the decoder by the evaluation's advantage over a running baseline:

  .. math::

      W \mathrel{+}= \frac{\alpha}{k + 1}\, (r_t - b)\,
      \frac{1}{w} \sum_{j = t - L - w + 1}^{t - L} \frac{\varepsilon_j}{\sigma_j}\, y_j^\top,
      \qquad b \mathrel{+}= \eta\, (r_t - b).

  (no intercept: the features are centred, and an intercept's gradient is noise only).

  It is the weight-perturbation / reward-modulated form of the policy gradient (Williams 1992,
  with the exploration held as in node perturbation, Fiete & Seung 2006, Phys Rev Lett 97,
  048104): with hit and false-alarm rates ``h``, ``f`` the expected evaluation of a move is
  ``1 - 2f`` if it made progress and ``1 - 2h`` if not, so the update follows
  ``(h - f)`` times the gradient of the probability of progress, whatever the rates. The
  evaluation weights the update (``r - b``, larger for a rarer outcome) and gates the
  exploration: ``σ_i = σ clip(2 e_i, σ_min/σ, 1)`` with ``e_i`` the running fraction of -1
  evaluations (rate ``η``), so a lane that rarely hears "error" explores less and scores more,
  and one whose errors come back (a new day's drift) explores again.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cogmodels.agents.continuous import GaussianActorCritic
from cogmodels.validation import check_int, check_number

__all__ = ["ActorCriticLanes", "OutcomeWeightedLanes"]


def _with_bias(y: np.ndarray) -> np.ndarray:
    return np.concatenate([y, np.ones((y.shape[0], 1))], axis=1)


class ActorCriticLanes:
    """One windowed :class:`GaussianActorCritic` per lane (see the module docstring).

    Parameters
    ----------
    n_features, n_lanes : int
        Features per lane and lanes.
    std : float
        Exploration noise (widths/s), fixed.
    alpha_actor, alpha_critic : float
        Normalised step sizes: each agent gets ``alpha / (n_features + 1)``.
    credit : str
        ``"window"`` (traces with γ = λ = 1 cleared at each nonzero reward) or ``"step"``
        (γ = 0: each reward credits the last action only).
    max_window : int
        Bins after which traces are cut without a reward.
    seeds : list of numpy.random.SeedSequence
        One per lane.
    agent_kwargs
        Passed on to every agent.
    """

    def __init__(self, n_features: int, n_lanes: int, *, std: float, alpha_actor: float,
                 alpha_critic: float, credit: str, max_window: int,
                 seeds: list[np.random.SeedSequence], **agent_kwargs: Any) -> None:
        n_inputs = n_features + 1
        kw: dict[str, Any] = {
            "alpha_actor": alpha_actor / n_inputs, "alpha_critic": alpha_critic / n_inputs,
            "std": std, "learn_std": False, "normalize_delta": True,
            "gamma": 1.0 if credit == "window" else 0.0, "lam": 1.0, **agent_kwargs,
        }
        self.agents = [GaussianActorCritic(n_features, 2, seed=s, **kw) for s in seeds]
        self.max_window = max_window
        self.window = np.zeros(n_lanes, dtype=np.int64)

    def seed(self, seeds: list[np.random.SeedSequence]) -> None:
        """Reseed every lane's exploration noise."""
        for a, s in zip(self.agents, seeds):
            a.rng = np.random.default_rng(s)

    def weights(self) -> np.ndarray:
        """Return the policies' mean weights ``(n_lanes, 2, n_features + 1)``."""
        return np.stack([a.W for a in self.agents])

    def act(self, y: np.ndarray, greedy: bool) -> np.ndarray:
        """Return one velocity per lane: the mean, plus noise unless ``greedy``."""
        return np.stack([a.act(y[i], greedy=greedy) for i, a in enumerate(self.agents)])

    def explore(self) -> np.ndarray:
        """Return exploration noise only (while the features calibrate)."""
        return np.stack([a.std * a.rng.standard_normal(2) for a in self.agents])

    def restart(self, lanes: np.ndarray) -> None:
        """Clear the traces of ``lanes`` (a new session)."""
        for i in np.asarray(lanes).tolist():
            self.agents[i].clear_traces()
            self.window[i] = 0

    def learn(self, y: np.ndarray, a: np.ndarray, r: np.ndarray, y_next: np.ndarray,
              ends: np.ndarray) -> None:
        """One TD update per lane; a nonzero reward or a session end closes the window."""
        self.window += 1
        for i, ag in enumerate(self.agents):
            boundary = bool(r[i] != 0.0 or ends[i])
            ag.update(y[i], a[i], float(r[i]), y_next[i], terminal=boundary)
            if boundary:
                self.window[i] = 0
            elif self.window[i] >= self.max_window:  # truncate (bootstrapped, not terminal)
                ag.clear_traces()
                self.window[i] = 0


class OutcomeWeightedLanes:
    """Held exploration, latency-aligned credit, outcome-weighted updates (module docstring).

    Parameters
    ----------
    n_features, n_lanes : int
        Features per lane and lanes.
    std : float
        Exploration noise ``σ`` (widths/s), held over each window.
    alpha : float
        Normalised step size (divided by ``n_features + 1``).
    window : int
        Bins of one evaluation window (the channel's interval).
    latency : int
        Bins from the end of a window to its evaluation.
    baseline_rate : float
        ``η``, the rate of the running mean of the evaluations.
    seeds : list of numpy.random.SeedSequence
        One per lane.
    """

    def __init__(self, n_features: int, n_lanes: int, *, std: float, alpha: float, window: int,
                 latency: int, baseline_rate: float, min_std_fraction: float,
                 seeds: list[np.random.SeedSequence]) -> None:
        self.n_inputs, self.n_lanes = n_features + 1, n_lanes
        self.std = check_number("std", std, 0.0, low_open=True)
        self.alpha = check_number("alpha", alpha, 0.0)
        self.window = check_int("window", window, 1)
        self.latency = check_int("latency", latency, 0)
        self.baseline_rate = check_number("baseline_rate", baseline_rate, 0.0, 1.0)
        self.min_std_fraction = check_number("min_std_fraction", min_std_fraction, 0.0, 1.0,
                                             low_open=True)
        self.error_rate = np.full(n_lanes, 0.5)  # running fraction of -1 evaluations
        self.W = np.zeros((n_lanes, 2, self.n_inputs))
        self.baseline = np.zeros(n_lanes)
        self._size = self.latency + self.window + 1
        self._y = np.zeros((n_lanes, self._size, self.n_inputs))
        self._noise = np.zeros((n_lanes, self._size, 2))  # ε_j / σ_j
        self._start = np.zeros(n_lanes, dtype=np.int64)  # first bin of the session
        self._phase = np.zeros(n_lanes, dtype=np.int64)  # bins since the window began
        self._eps = np.zeros((n_lanes, 2))
        self._sigma = np.full(n_lanes, self.std)  # σ_i of the current window
        self._t = 0
        self.seed(seeds)

    def seed(self, seeds: list[np.random.SeedSequence]) -> None:
        """Reseed every lane's exploration noise."""
        self.rngs = [np.random.default_rng(s) for s in seeds]

    def weights(self) -> np.ndarray:
        """Return the decoders' weights ``(n_lanes, 2, n_features + 1)``."""
        return self.W.copy()

    def _draw(self) -> np.ndarray:
        new = self._phase % self.window == 0
        scale = self.noise_scale()
        for i in new.nonzero()[0].tolist():
            self._sigma[i] = scale[i]
            self._eps[i] = scale[i] * self.rngs[i].standard_normal(2)
        self._phase += 1
        return self._eps

    def noise_scale(self) -> np.ndarray:
        """Return each lane's exploration scale ``σ_i = σ clip(2 e_i, min_std_fraction, 1)``.

        ``e_i`` is the running fraction of -1 evaluations: fewer errors, less exploration; more
        errors (a new day's drift), more.
        """
        return self.std * np.clip(2.0 * self.error_rate, self.min_std_fraction, 1.0)

    def explore(self) -> np.ndarray:
        """Return held exploration noise only (while the features calibrate)."""
        return self._draw().copy()

    def act(self, y: np.ndarray, greedy: bool) -> np.ndarray:
        """Return ``W ỹ`` plus the held noise (unless ``greedy``) and remember both."""
        yt = _with_bias(y)
        mean = np.einsum("lij,lj->li", self.W, yt)  # the intercept column stays 0
        if greedy:
            return mean
        eps = self._draw()
        slot = self._t % self._size
        self._y[:, slot], self._noise[:, slot] = yt, eps / self._sigma[:, None]
        return mean + eps

    def restart(self, lanes: np.ndarray) -> None:
        """Start a new session in ``lanes``: forget the bins before it, begin a new window."""
        self._start[lanes] = self._t
        self._phase[lanes] = 0

    def learn(self, y: np.ndarray, a: np.ndarray, r: np.ndarray, y_next: np.ndarray,
              ends: np.ndarray) -> None:
        """Credit each nonzero evaluation to the window it judges; then advance the clock."""
        t = self._t
        for i in np.flatnonzero(r != 0.0).tolist():
            last = t - self.latency
            first = max(last - self.window + 1, int(self._start[i]))
            if last < first:
                continue
            slots = np.arange(first, last + 1) % self._size
            g = np.einsum("ji,jk->ik", self._noise[i, slots], self._y[i, slots, :-1])
            advantage = r[i] - self.baseline[i]
            self.W[i, :, :-1] += self.alpha / self.n_inputs * advantage * g / len(slots)
            self.baseline[i] += self.baseline_rate * (r[i] - self.baseline[i])
            self.error_rate[i] += self.baseline_rate * (float(r[i] < 0) - self.error_rate[i])
            # the evaluation clock: the judged window ended L bins ago, the next began then
            self._phase[i] = self.latency % self.window
        self._t += 1
