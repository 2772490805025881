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

And one learner of the decoder's online settings rather than its weights:

- :class:`GainBandit` — Thompson sampling over a small grid of output gains and smoothing
  constants (the few parameters that matter online; Willett et al. 2019), one arm per trial,
  learnt from the trial outcomes alone (success and duration).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cogmodels.agents.continuous import GaussianActorCritic
from cogmodels.deprecation import renamed_arguments, renamed_attribute
from cogmodels.validation import as_generator, check_array, check_int, check_number

__all__ = ["ActorCriticLanes", "GainBandit", "OutcomeWeightedLanes"]


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

    def carry(self, M: np.ndarray) -> None:
        """Re-express the weights on re-estimated features ``y_new`` (``y_old ≈ M y_new``).

        ``M`` is ``(n_lanes, n_features, n_features)``: the actor's and the critic's feature
        weights become ``W M`` and ``w M`` (the intercepts stay); the eligibility traces, gradients
        of the old features, are cleared.
        """
        for i, ag in enumerate(self.agents):
            k = ag.n_features
            ag.W[:, :k] = ag.W[:, :k] @ M[i]
            ag.w[:k] = ag.w[:k] @ M[i]
            ag.clear_traces()

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

    def carry(self, M: np.ndarray) -> None:
        """Re-express the weights on re-estimated features ``y_new`` (``y_old ≈ M y_new``).

        ``M`` is ``(n_lanes, n_features, n_features)``: the feature weights become ``W M`` (the
        intercepts stay), so ``W M y_new ≈ W y_old``; the features remembered for the windows
        still to be judged become ``M^T y``, so that an evaluation that arrives after the carry
        moves the weights exactly as learning from it before the carry and then carrying would
        (``(W + c ε y^T) M = W M + c ε (M^T y)^T``).
        """
        self.W[:, :, :-1] = np.einsum("lik,lkj->lij", self.W[:, :, :-1], M)
        self._y[:, :, :-1] = np.einsum("lsk,lkj->lsj", self._y[:, :, :-1], M)

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


class GainBandit:
    r"""Thompson sampling over (gain, smoothing) arms, one arm per trial, from trial outcomes.

    The quantity a cursor user cares about is the success rate per unit time. Each arm ``a`` (an
    output gain ``g_a`` and an output smoothing ``s_a``: the cursor moves with
    ``u_t = s_a u_{t-1} + (1 - s_a) c g_a v_t`` for the decoded velocity ``v_t``, ``c`` the
    lane's centre below) is modelled as a
    Poisson process of successes with rate ``λ_a``; a trial of duration ``τ`` with ``k`` (0 or 1)
    successes adds ``k`` and ``τ`` to the arm's counts, so with a Gamma prior the posterior is

    .. math::

        λ_a \mid \text{trials} \sim \mathrm{Gamma}(a_0 + S_a,\ b_0 + T_a), \qquad
        S_a \leftarrow γ S_a + k, \quad T_a \leftarrow γ T_a + τ

    (``γ`` discounts every arm of a lane at each of its trials, so the evidence of ``1 / (1 -
    γ)`` trials counts: a drifting decoder's best gain can move). The gains are relative to a
    per-lane centre ``c`` (1 until :meth:`recentre` moves it), so a grid whose edge keeps
    winning can follow the evidence past it. Before each trial one rate is
    drawn per arm and the arm with the largest draw is played (Thompson 1933; Russo et al.
    2018): the exploration falls as the posterior concentrates. Only the trial's outcome (was a
    target selected) and its duration are used — what the BCI software itself knows.

    Willett et al. (2019) show that the gain and the smoothing of a linear cursor decoder set
    most of its closed-loop performance and that their best values change with the decoder and
    the user; this bandit tunes them online from outcomes, as their offline model-based search does
    from a model of the user.

    Parameters
    ----------
    n_lanes : int
        Independent bandits (subjects).
    gains : sequence of float
        Output gains of the grid (> 0).
    smoothing : sequence of float
        Output smoothing constants of the grid, in [0, 1); the arms are every (gain, smoothing)
        pair.
    prior_successes, prior_s : float
        ``a_0 > 0`` and ``b_0 > 0``: the prior is worth ``a_0`` successes in ``b_0`` seconds.
    discount : float
        ``γ`` in (0, 1].
    seed : int, SeedSequence, Generator or None
        Seeds the Thompson draws.

    Attributes
    ----------
    arms : numpy.ndarray
        ``(A, 2)``: gain and smoothing of each arm.
    successes_, seconds_ : numpy.ndarray
        ``(n_lanes, A)`` discounted success counts and durations.
    arm_ : numpy.ndarray
        ``(n_lanes,)`` the arm being played.
    centre_ : numpy.ndarray
        ``(n_lanes,)`` the factor on every arm's gain of each lane (its grid's middle gain is
        ``centre_`` times the grid's geometric mean).

    References
    ----------
    - Thompson, W. R. (1933). On the likelihood that one unknown probability exceeds another in
      view of the evidence of two samples. Biometrika 25, 285–294.
    - Russo, D. J., Van Roy, B., Kazerouni, A., Osband, I., & Wen, Z. (2018). A tutorial on
      Thompson sampling. Found Trends Mach Learn 11, 1–96.
    - Willett, F. R., Young, D. R., Murphy, B. A., et al. (2019). Principled BCI decoder design
      and parameter selection using a feedback control model. Sci Rep 9, 8881.
    """

    prior_seconds = renamed_attribute("prior_seconds", "prior_s")

    @renamed_arguments(prior_seconds="prior_s")
    def __init__(self, n_lanes: int, gains: Any = (0.5, 0.7, 1.0, 1.4, 2.0), smoothing: Any = (0.0,),
                 *, prior_successes: float = 1.0, prior_s: float = 2.0,
                 discount: float = 0.98, seed: Any = None) -> None:
        self.n_lanes = check_int("n_lanes", n_lanes, 1)
        g = check_array("gains", gains, None, 0.0, 1e3).ravel()
        s = check_array("smoothing", smoothing, None, 0.0, 0.999).ravel()
        if g.size == 0 or (g <= 0).any() or s.size == 0:
            raise ValueError(f"gains must be a non-empty sequence of numbers > 0 and smoothing a "
                             f"non-empty one in [0, 0.999], got gains={gains!r}, "
                             f"smoothing={smoothing!r}")
        self.arms = np.array([(gi, si) for si in s for gi in g])
        self.prior_successes = check_number("prior_successes", prior_successes, 0.0, low_open=True)
        self.prior_s = check_number("prior_s", prior_s, 0.0, low_open=True)
        self.discount = check_number("discount", discount, 0.0, 1.0, low_open=True)
        self.rng = as_generator(seed)
        self.successes_ = np.zeros((self.n_lanes, len(self.arms)))
        self.seconds_ = np.zeros((self.n_lanes, len(self.arms)))
        self.arm_ = np.zeros(self.n_lanes, dtype=np.int64)
        self.centre_ = np.ones(self.n_lanes)
        self.choose()

    @property
    def gain(self) -> np.ndarray:
        """The gain of each lane's current arm, ``(n_lanes,)``: the lane's centre times the arm's."""
        centre = getattr(self, "centre_", None)  # a bandit saved before centres: 1
        gain = self.arms[self.arm_, 0]
        return gain if centre is None else centre * gain

    def recentre(self, threshold: float = 0.5, n_draws: int = 1000) -> np.ndarray:
        r"""Move each lane's grid a step toward an edge gain that is probably the best.

        For each lane, ``P(g is the best gain)`` is estimated from ``n_draws`` Thompson draws of
        the posterior (this bandit's generator; arms of one gain pooled). Where the grid's
        largest or smallest gain is the best with a probability above ``threshold``, the lane's
        centre moves so that this gain becomes the grid's geometric middle,

        .. math::

            c \leftarrow c \, g_\text{edge} / \bar g, \qquad
            \bar g = \Big(\prod_{i=1}^{G} g_i\Big)^{1/G}

        over the grid's ``G`` distinct gains, and that lane's evidence is cleared (it was
        gathered at other gains). Every other lane keeps its centre and its evidence: a grid
        whose best gain lies inside it moves only when chance makes an edge look best (a flat
        outcome curve can walk it, a whole step at a time), and one whose edge keeps winning
        follows the outcomes past it, a step per call. For a decoder whose speed nothing anchors (one first
        fit to another decoder's session) the gain can then travel as far as the outcomes ask,
        session by session, where a fixed grid stops at its edge. The centre stays in
        ``[1e-3, 1e3]``.

        Returns
        -------
        numpy.ndarray
            ``(n_lanes,)`` each lane's factor (1 where it did not move).
        """
        threshold = check_number("threshold", threshold, 0.5, 1.0)
        n_draws = check_int("n_draws", n_draws, 1)
        gains, arm_gain = np.unique(self.arms[:, 0], return_inverse=True)
        factor = np.ones(self.n_lanes)
        if len(gains) < 2:
            return factor
        shape = self.prior_successes + self.successes_
        scale = 1.0 / (self.prior_s + self.seconds_)
        draws = self.rng.gamma(shape, scale, size=(n_draws, *shape.shape))
        best = arm_gain[np.argmax(draws, axis=2)]  # (n_draws, n_lanes): the best draw's gain
        middle = np.exp(np.log(gains).mean())
        for edge in (0, len(gains) - 1):
            moves = (best == edge).mean(axis=0) > threshold
            factor[moves] = gains[edge] / middle
        centre = getattr(self, "centre_", np.ones(self.n_lanes))
        self.centre_ = np.clip(centre * factor, 1e-3, 1e3)
        factor = self.centre_ / centre
        moved = factor != 1.0
        self.successes_[moved] = 0.0
        self.seconds_[moved] = 0.0
        return factor

    @property
    def smoothing(self) -> np.ndarray:
        """The smoothing of each lane's current arm, ``(n_lanes,)``."""
        return self.arms[self.arm_, 1]

    def rate(self) -> np.ndarray:
        """Return the posterior mean success rate (per second) of every arm, ``(n_lanes, A)``."""
        return ((self.prior_successes + self.successes_)
                / (self.prior_s + self.seconds_))

    def choose(self, lanes: Any = None) -> np.ndarray:
        """Draw the next trial's arm of ``lanes`` (all when None); return every lane's arm."""
        idx = np.arange(self.n_lanes) if lanes is None else np.flatnonzero(lanes) if (
            np.asarray(lanes).dtype == bool) else np.asarray(lanes, dtype=np.int64)
        if idx.size:
            shape = self.prior_successes + self.successes_[idx]
            scale = 1.0 / (self.prior_s + self.seconds_[idx])
            self.arm_[idx] = np.argmax(self.rng.gamma(shape, scale), axis=1)
        return self.arm_.copy()

    def observe(self, lanes: Any, success: Any, seconds: Any) -> None:
        """Credit one finished trial per lane of the mask ``lanes`` to its current arm.

        Parameters
        ----------
        lanes : numpy.ndarray
            ``(n_lanes,)`` booleans: the lanes whose trial ended.
        success : numpy.ndarray
            ``(n_lanes,)`` booleans: the trial ended with a selection of the target.
        seconds : numpy.ndarray
            ``(n_lanes,)`` durations of the trials (s).
        """
        idx = np.flatnonzero(np.asarray(lanes, dtype=bool))
        if not idx.size:
            return
        self.successes_[idx] *= self.discount
        self.seconds_[idx] *= self.discount
        arm = self.arm_[idx]
        self.successes_[idx, arm] += np.asarray(success, dtype=np.float64)[idx]
        self.seconds_[idx, arm] += np.asarray(seconds, dtype=np.float64)[idx]
