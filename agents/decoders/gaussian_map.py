r"""In-session inference of a ``2 x k`` read-out map from the error signal: a Gaussian posterior.

The grid learner of :mod:`~cogmodels.agents.decoders.map_inference` holds a posterior over the
scaled rotations and reflections of **two** features. On a population whose shared variance is
near recorded motor cortex's (the ``full_m1`` realism) two components lose the velocity: a
supervised read-out of 10 components keeps 0.84–0.93 of a fresh Kalman filter where 2 keep
0.32–0.47 (RESULTS, the meta-decoder's fourteenth step). This learner reads ``k`` features
(10, say) and holds a Gaussian posterior over the whole map ``W`` (``2 k`` numbers), updated by
each evaluation of the channel; it is not trained, and it adapts without any weight update of a
network.

Model (the channel's ``"window"`` events, :mod:`cogmodels.envs.bci.error_signal`): an evaluation
arriving after bin ``t`` judges the displacement ``D = \sum_s a_s`` of the bins
``s \in (t - L - I, t - L]`` (interval ``I``, latency ``L``) while the features summed to
``S = \sum_s z_s`` over the same bins, and

.. math::

    P(\text{error} \mid W) = f + (h - f)\, \sigma(-\eta), \qquad
    \eta = \kappa\, \hat D^\top W \hat S = x^\top w, \quad x = \kappa\, \operatorname{vec}(\hat D \hat S^\top)

(``\hat D``, ``\hat S`` unit vectors; ``h``, ``f`` the channel's nominal hit and false-alarm rates;
:func:`~cogmodels.agents.decoders.map_inference.error_probability` with ``\eta`` for
``\kappa \cos``; ``w = \operatorname{vec}(W)``, the rows of ``W`` one after the other): a
generalised linear model of the map, with the channel as its link. The posterior is its Laplace
approximation ``N(\mu, \Sigma)``, refitted every ``refit_every`` evaluations on all of the
session's evaluations with the session's starting posterior ``N(\mu_0, \Sigma_0)`` as the prior:
a few Fisher-scoring steps from the current mean, each halved until the log posterior rises,

.. math::

    \Sigma^{-1} = \Sigma_0^{-1} + \sum_i F_i\, x_i x_i^\top, \qquad
    \mu \leftarrow \mu + \Sigma \Big(\sum_i \ell_i'\, x_i - \Sigma_0^{-1} (\mu - \mu_0)\Big),

``\ell_i'`` the derivative of evaluation ``i``'s log likelihood in ``\eta_i`` and ``F_i`` its
Fisher information (the Laplace approximation of Bayesian logistic regression that Chapelle & Li
2011 sample for Thompson sampling; Spiegelhalter & Lauritzen 1990 for the sequential form).
Two forms were tried first and dropped (RESULTS, the meta-decoder's fifteenth step): one update
per evaluation linearised at the mean, and a likelihood in ``\cos(D, W S)``; on evaluations drawn
from the channel with a known 2 x 6 map (white features; the channel of
``tests/test_gaussian_map.py``, 12 lanes, a scratch run), after 200 evaluations the second's
posterior mean had a median cosine of 0.54 to the true map where this one's had 0.89 (with full
Thompson draws and a fixed speed). The first session's prior is centred on a small random map
(``init_sd``): the draws need a direction to start from.

The feedback is read as the network reads it: a positive value is a "correct" evaluation, a
negative one an error (a success adds 1 to the bin's value, so a success without an evaluation
counts as "correct" and a success judged an error, 0, is not seen: the simplification of
:class:`~cogmodels.agents.decoders.map_inference.ErrorMapInference` too).

Acting (tempered Thompson sampling): every ``I`` bins of the session (the learner's own clock,
not locked to the channel's windows) a map ``\tilde W`` is drawn from ``N(\mu, c^2 \Sigma)``
(``c``, the ``spread``, 0.3) and held for ``I`` bins; the velocity sent is

.. math::

    a_t = \tanh\!\big(g\, \rho\, \tilde W z_t / \lVert \tilde W \rVert_F\big), \qquad
    \rho = \frac{\lVert \mu \rVert^2}{\lVert \mu \rVert^2 + \operatorname{tr} \Sigma}

(``g`` the ``speed``; the features are whitened, so ``\tilde W z_t / \lVert \tilde W \rVert_F`` has
unit scale whatever the evidence; ``\rho``, the mean's share of the posterior's second moment,
keeps the cursor slow while the map is uncertain: a wrong direction at a high speed costs more
than it teaches). Early on the draws are far apart and explore; as the posterior narrows they
agree and exploit. (Playing the mean instead confounds the data: every move then follows the
learner's own map, and learning stalls; full Thompson sampling, ``c = 1``, explores more than
pays on the training subject-days.)

Through the features' re-estimates (``features``, :attr:`~cogmodels.agents.spike_features.SpikeFeatures.carry_`:
``y_old \approx M y_new``) the map is carried, ``W \to W M``: ``\mu \to T \mu``,
``\Sigma \to T \Sigma T^\top``, ``T = I_2 \otimes M^\top`` (the session's prior likewise), the held
draw too, and the stored (unit) and the judged window's features are re-expressed
(``M^+ S``), so each stored evaluation keeps its ``\eta``. Two guards keep that stable: the
features' re-estimates shrink some directions again and again (on ``full_m1`` ``M``'s smallest
singular value is 0.007–0.7), so ``M^+`` drops singular values below 1 % of the largest and a
stored feature's norm is capped at 10. The cap binds on a long session's older evaluations (their
re-expressed norm grows carry after carry; by the end of a 13-minute session half keep less than
0.1 of their ``\eta``): it works as a forgetting of the session's older evidence, which the
session's prior does not share (what earlier sessions taught is in the prior). Without the
guards the stored features of a 13-minute session grew to 1e9 and the refit's precision became
singular. (Normalising them again after each carry is stable too, but changes every
stored evaluation's ``\eta`` by ``\lVert M^+ \hat S \rVert``: a review measured the carried log
posterior falling by up to 46 nats at one carry.)
Between sessions (:meth:`GaussianMapInference.new_session`) the posterior becomes the next
session's prior, with ``gap_days`` ``G`` widened by ``\Sigma \mathrel{+}= q\, G\, I``: the map's
drift, ``q`` per day.

The defaults (``speed`` 0.4, ``spread`` 0.3, ``sharpness`` 3, ``prior_sd`` 1, ``drift_per_day`` 0.05,
a refit every 5 evaluations of 3 steps) were chosen on training-stream subject-days (seeds 7, 8
and 9, 8 or 16 each) of the ``full_m1`` realism with 10 components, never on held-out ones.

References
----------
- Spiegelhalter, D. J., & Lauritzen, S. L. (1990). Sequential updating of conditional
  probabilities on directed graphical structures. Networks 20, 579–605.
- Chapelle, O., & Li, L. (2011). An empirical evaluation of Thompson sampling. NIPS 24.
- Iturrate, I., Chavarriaga, R., Montesano, L., Minguez, J., & Millán, J. d. R. (2015).
  Teaching brain-machine interfaces as an alternative paradigm to neuroprosthetics control.
  Sci Rep 5, 13893.
- Sadtler, P. T., et al. (2014). Neural constraints on learning. Nature 512, 423–426. (The
  intrinsic manifold: the velocity spread over ~10 dimensions.)

Examples
--------
>>> import numpy as np
>>> from cogmodels.agents.decoders.gaussian_map import GaussianMapInference
>>> learner = GaussianMapInference(4, 10, seed=0)
>>> learner.act(np.zeros((4, 10))).shape
(4, 2)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from cogmodels.agents.decoders.map_inference import (
    JudgedWindow,
    channel_kwargs,
    check_channel_rates,
    check_gap_days,
    error_probability,
    learner_sessions,
)
from cogmodels.agents.decoders.meta_rnn import MetaDecoderConfig, MetaDecoderEnv
from cogmodels.validation import SeedLike, as_generator, check_bool, check_int, check_number

__all__ = ["GaussianMapInference", "gaussian_map_sessions"]


class GaussianMapInference:
    """Laplace posterior over a ``2 x k`` read-out map, refitted on the feedback (module docstring).

    Batched over lanes (one subject each).

    Parameters
    ----------
    n_lanes : int
        Independent sessions.
    n_features : int
        ``k``, the features read (whitened principal components of the spikes).
    speed : float
        ``g``: the velocity is ``tanh(g rho W z / ||W||_F)`` (widths/s before the ``tanh``;
        ``rho``, :meth:`confidence`).
    sharpness : float
        ``kappa``: the scale of ``eta`` (with ``prior_sd``, the prior's reach in it).
    prior_sd : float
        SD of the prior over each of the map's entries.
    init_sd : float
        SD of the random start of the posterior mean (its first Thompson draws); > 0.
    hit_rate, false_alarm_rate : float
        The channel's nominal ``h`` > ``f``.
    interval_bins, latency_bins : int
        The channel's evaluation interval ``I`` and latency ``L`` in bins.
    drift_per_day : float
        ``q``: variance added to each entry per day between sessions.
    refit_every : int
        Evaluations of a lane between refits of its posterior.
    steps : int
        Fisher-scoring steps per refit.
    spread : float
        ``c``, the scale of the draws' deviation from the mean (1: Thompson sampling; 0: the
        mean, which confounds the data).
    features : SpikeFeatures or None
        The features' estimator, whose re-estimates the map is carried through (None: not
        carried).
    seed : int, SeedSequence, Generator or None
        The start of the mean and the posterior draws.

    Attributes
    ----------
    mean : numpy.ndarray
        ``(n_lanes, 2 k)`` the posterior mean of ``vec(W)``.
    cov : numpy.ndarray
        ``(n_lanes, 2 k, 2 k)`` its covariance.
    n_evaluations : numpy.ndarray
        ``(n_lanes,)`` evaluations in the session so far.
    n_carried : int
        Re-estimates of the features the map was carried through.
    """

    def __init__(self, n_lanes: int, n_features: int, *, speed: float = 0.4,
                 sharpness: float = 3.0, prior_sd: float = 1.0, init_sd: float = 0.1,
                 hit_rate: float = 0.75, false_alarm_rate: float = 0.03, interval_bins: int = 20,
                 latency_bins: int = 6, drift_per_day: float = 0.05, refit_every: int = 5,
                 steps: int = 3, spread: float = 0.3, features: Any = None,
                 seed: SeedLike = None) -> None:
        self.n_lanes = check_int("n_lanes", n_lanes, 1)
        self.n_features = check_int("n_features", n_features, 1)
        self.speed = check_number("speed", speed, 0.0, low_open=True)
        self.sharpness = check_number("sharpness", sharpness, 0.0, low_open=True)
        self.prior_sd = check_number("prior_sd", prior_sd, 0.0, low_open=True)
        self.init_sd = check_number("init_sd", init_sd, 0.0, low_open=True)
        self.hit_rate, self.false_alarm_rate = check_channel_rates(hit_rate, false_alarm_rate)
        self.interval_bins = check_int("interval_bins", interval_bins, 1)
        self.latency_bins = check_int("latency_bins", latency_bins, 0)
        self.drift_per_day = check_number("drift_per_day", drift_per_day, 0.0)
        self.refit_every = check_int("refit_every", refit_every, 1)
        self.steps = check_int("steps", steps, 1)
        self.spread = check_number("spread", spread, 0.0)
        if features is not None and getattr(features, "n_features", None) != self.n_features:
            raise ValueError(f"features must give n_features={self.n_features} features, got "
                             f"{getattr(features, 'n_features', features)!r}")
        self.features = features
        self.rng = as_generator(seed)
        self.n_params = 2 * self.n_features
        self.reset()

    def reset(self) -> GaussianMapInference:
        """Forget everything: the prior (a new subject), empty histories."""
        p = self.n_params
        self.mean = self.init_sd * self.rng.standard_normal((self.n_lanes, p))
        self.cov = np.tile(self.prior_sd**2 * np.eye(p), (self.n_lanes, 1, 1))
        self.n_carried = 0
        self._seen = None if self.features is None else self.features.n_refits
        return self.new_session()

    def new_session(self, gap_days: int | Sequence[int] | None = None) -> GaussianMapInference:
        """Start a new session of the same subjects: the posterior becomes the session's prior.

        ``gap_days`` (one int, or one per lane; None: none) first widens each lane's posterior by
        ``drift_per_day * gap_days`` per entry (the map's drift between sessions). The session's
        evaluations and the judged window start empty.
        """
        if gap_days is not None:
            gaps = check_gap_days(gap_days, self.n_lanes)
            self.cov = self.cov + (self.drift_per_day * gaps)[:, None, None] * np.eye(self.n_params)
        self._prior_mean = self.mean.copy()
        self._set_prior_cov(self.cov)
        self._s: list[list[np.ndarray]] = [[] for _ in range(self.n_lanes)]  # unit summed features
        self._d: list[list[np.ndarray]] = [[] for _ in range(self.n_lanes)]  # unit displacements
        self._error: list[list[bool]] = [[] for _ in range(self.n_lanes)]
        self.n_evaluations = np.zeros(self.n_lanes, dtype=np.int64)
        self.window = JudgedWindow(self.n_lanes, self.interval_bins, self.latency_bins,
                                   self.n_features)
        self._drawn = np.zeros((self.n_lanes, 2, self.n_features))
        self._t = 0
        return self

    def confidence(self) -> np.ndarray:
        """Return the confidence ``rho = |mu|^2 / (|mu|^2 + tr Sigma)`` of each lane ``(n_lanes,)``.

        The mean's share of the posterior's second moment: near 0 at the prior, towards 1 as the
        evidence grows. It scales the speed.
        """
        m2 = (self.mean**2).sum(axis=1)
        return m2 / (m2 + np.einsum("lii->l", self.cov))

    def mean_map(self) -> np.ndarray:
        """Return the posterior mean map ``(n_lanes, 2, k)``."""
        return self.mean.reshape(self.n_lanes, 2, self.n_features).copy()

    def carry(self, M: np.ndarray) -> None:
        """Re-express the posterior on re-estimated features (``y_old ≈ M y_new``, ``W -> W M``).

        ``M`` is ``(n_lanes, k, k)``; the session's prior and the held draw follow, and the stored
        and the judged window's features become ``M^+ z`` (singular values below 1 % of the
        largest dropped; each stored feature's norm capped at 10: the module docstring).
        """
        M = np.asarray(M, dtype=float)
        k = self.n_features
        if M.shape != (self.n_lanes, k, k):
            raise ValueError(f"M must have shape {(self.n_lanes, k, k)}, got {M.shape}")
        T = np.zeros((self.n_lanes, self.n_params, self.n_params))
        T[:, :k, :k] = T[:, k:, k:] = np.transpose(M, (0, 2, 1))
        self.mean = np.einsum("lij,lj->li", T, self.mean)
        self.cov = _symmetric(T @ self.cov @ np.transpose(T, (0, 2, 1)))
        self._prior_mean = np.einsum("lij,lj->li", T, self._prior_mean)
        self._set_prior_cov(T @ self._prior_cov @ np.transpose(T, (0, 2, 1)))
        self._drawn = self._drawn @ M
        back = np.linalg.pinv(M, rcond=1e-2)
        self.window.z = np.einsum("lij,tlj->tli", back, self.window.z)
        for lane in range(self.n_lanes):
            if self._s[lane]:
                s = np.asarray(self._s[lane]) @ back[lane].T
                norm = np.linalg.norm(s, axis=1, keepdims=True)
                self._s[lane] = list(s * np.minimum(1.0, _MAX_STORED / np.maximum(norm, 1e-12)))
        self.n_carried += 1

    def _set_prior_cov(self, cov: np.ndarray) -> None:
        """Set the session's prior covariance and its precision.

        The precision has a ridge of 1e-6 prior variances: a carry through a rank-deficient
        ``M`` leaves directions the features no longer hold.
        """
        self._prior_cov = _symmetric(cov)
        ridge = 1e-6 * self.prior_sd**2 * np.eye(self.n_params)
        self._prior_precision = _symmetric(np.linalg.inv(self._prior_cov + ridge))

    def _follow_features(self) -> None:
        """Carry the map through the features' latest re-estimate, if one happened since the last call."""
        if self.features is None:
            return
        M, self._seen = self.features.carry_since(self._seen)
        if M is not None:
            self.carry(M)

    def _draw(self) -> None:
        values, vectors = np.linalg.eigh(self.cov)
        root = self.spread * vectors * np.sqrt(np.maximum(values, 0.0))[:, None, :]
        w = self.mean + np.einsum("lij,lj->li", root,
                                  self.rng.standard_normal((self.n_lanes, self.n_params)))
        w = w.reshape(self.n_lanes, 2, self.n_features)
        self._drawn = w / (np.linalg.norm(w, axis=(1, 2), keepdims=True) + 1e-12)
        self._drawn *= self.confidence()[:, None, None]

    def act(self, z: np.ndarray) -> np.ndarray:
        """Return the velocity ``(n_lanes, 2)`` for features ``z`` ``(n_lanes, k)``; remember both."""
        z = np.asarray(z, dtype=float)
        if z.shape != (self.n_lanes, self.n_features):
            raise ValueError(f"z must have shape {(self.n_lanes, self.n_features)}, got {z.shape}")
        self._follow_features()
        if self._t % self.interval_bins == 0:
            self._draw()
        action = np.tanh(self.speed * np.einsum("lij,lj->li", self._drawn, z))
        self._t += 1
        self.window.push(z, action)
        return action

    def observe(self, feedback: np.ndarray) -> None:
        """Store each nonzero ``feedback`` (the bin's reward) of a lane; refit every ``refit_every``."""
        r = np.asarray(feedback, dtype=float).reshape(self.n_lanes)
        lanes = np.flatnonzero(r != 0)
        if not lanes.size:
            return
        z, a = self.window.judged(lanes)
        s, d = z.sum(axis=0), a.sum(axis=0)
        s = s / (np.linalg.norm(s, axis=1, keepdims=True) + 1e-9)
        d = d / (np.linalg.norm(d, axis=1, keepdims=True) + 1e-9)
        for j, lane in enumerate(lanes.tolist()):
            self._s[lane].append(s[j])
            self._d[lane].append(d[j])
            self._error[lane].append(bool(r[lane] < 0))
            self.n_evaluations[lane] += 1
            if self.n_evaluations[lane] % self.refit_every == 0:
                self._refit(lane)

    def _design(self, lane: int) -> tuple[np.ndarray, np.ndarray]:
        """Return the session's ``x_i`` ``(n, 2 k)`` and errors ``(n,)`` of ``lane``."""
        s = np.asarray(self._s[lane])
        d = np.asarray(self._d[lane])
        x = self.sharpness * np.einsum("na,nb->nab", d, s).reshape(len(s), self.n_params)
        return x, np.asarray(self._error[lane])

    def _log_posterior(self, lane: int, w: np.ndarray, x: np.ndarray, error: np.ndarray) -> float:
        p_error = error_probability(x @ w, self.hit_rate, self.false_alarm_rate, 1.0)
        dw = w - self._prior_mean[lane]
        return float(np.log(np.where(error, p_error, 1.0 - p_error)).sum()
                     - 0.5 * dw @ self._prior_precision[lane] @ dw)

    def _curvature(self, lane: int, w: np.ndarray, x: np.ndarray, error: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
        """Return the log posterior's gradient and its Fisher precision at ``w``."""
        h, f = self.hit_rate, self.false_alarm_rate
        e = np.exp(-np.abs(x @ w))  # sigma(eta) sigma(-eta) = e / (1 + e)^2, without overflow
        slope = (h - f) * e / (1.0 + e) ** 2
        p_error = error_probability(x @ w, h, f, 1.0)
        score = np.where(error, -slope / p_error, slope / (1.0 - p_error))
        fisher = slope**2 / (p_error * (1.0 - p_error))
        precision = self._prior_precision[lane] + (x * fisher[:, None]).T @ x
        gradient = x.T @ score - self._prior_precision[lane] @ (w - self._prior_mean[lane])
        return gradient, precision

    def _refit(self, lane: int) -> None:
        """Refit the Laplace approximation of ``lane``'s session: Fisher scoring, halving steps.

        A singular precision takes a least-squares step; the covariance is the precision's
        (Hermitian) pseudo-inverse at the final map; a non-finite result leaves the lane as it was.
        """
        x, error = self._design(lane)
        w = self.mean[lane].copy()
        for _ in range(self.steps):
            gradient, precision = self._curvature(lane, w, x, error)
            try:
                step = np.linalg.solve(precision, gradient)
            except np.linalg.LinAlgError:
                step = np.linalg.lstsq(precision, gradient, rcond=None)[0]
            now, t = self._log_posterior(lane, w, x, error), 1.0
            while t > 1e-3 and not self._log_posterior(lane, w + t * step, x, error) >= now:
                t *= 0.5
            if t <= 1e-3:
                break
            w = w + t * step
        _, precision = self._curvature(lane, w, x, error)
        cov = _symmetric(np.linalg.pinv(precision, hermitian=True))
        if np.isfinite(w).all() and np.isfinite(cov).all():
            self.mean[lane], self.cov[lane] = w, cov


#: the largest norm a stored (unit at first) summed feature keeps through the carries
_MAX_STORED = 10.0


def _symmetric(a: np.ndarray) -> np.ndarray:
    """Return ``(a + a^T) / 2`` over the last two axes (rounding keeps covariances symmetric)."""
    return 0.5 * (a + np.swapaxes(a, -1, -2))


def gaussian_map_sessions(config: MetaDecoderConfig, days: Sequence[int], seconds: float = 120.0, *,
                          seed: int = 0, then: Sequence[tuple[Sequence[int], float]] = (),
                          gap_kernel: bool = True, carry: bool = True, **kwargs) -> pd.DataFrame:
    """Play :class:`GaussianMapInference` on held-out subject-days of the meta-decoder's task.

    As :func:`~cogmodels.agents.decoders.map_inference.map_inference_sessions` (the subjects of
    ``seed``, from the prior and fresh features; ``then``: later sessions of the same subjects,
    the features and the posterior carried over), on ``config.n_components`` features.

    Parameters
    ----------
    config : MetaDecoderConfig
        The task and the features (``n_components`` not None).
    days, seconds, seed, then
        As :func:`~cogmodels.agents.decoders.map_inference.map_inference_sessions`.
    gap_kernel : bool
        Widen the posterior by the days between sessions (:meth:`GaussianMapInference.new_session`).
    carry : bool
        Carry the map through the features' re-estimates (False: an ablation).
    **kwargs
        :class:`GaussianMapInference` arguments (the channel's nominal rates, interval and
        latency default to the task's ``error_signal``, at the environment's ``dt``).
    """
    if config.n_components is None:
        raise ValueError("config.n_components must be an int for the map inference, got None")
    carry = check_bool("carry", carry)

    def make(env: MetaDecoderEnv) -> GaussianMapInference:
        return GaussianMapInference(
            env.num_envs, env.n_features, features=env.features if carry else None,
            seed=np.random.default_rng([check_int("seed", seed, 0), 13]),
            **{**channel_kwargs(env), **kwargs})

    return learner_sessions(config, days, make, seconds, seed=seed, then=then,
                            gaps=check_bool("gap_kernel", gap_kernel))
