r"""Closed-loop decoder adaptation (CLDA): SmoothBatch and recursive maximum likelihood.

Both re-fit the encoding model ``y = H v + d + q`` of an
:class:`~cogmodels.agents.decoders.linear.EncodingDecoder` (the Kalman filters, the optimal linear
estimator, the population vector) while the user controls the cursor, from counts paired with
estimates of the user's intention, and leave the kinematic prior ``A, W`` alone — which is why
the Kalman filters' prior is by default a physical model rather than a fit to the seed's labels
(:mod:`~cogmodels.agents.decoders.kalman`):

- **SmoothBatch** (Orsborn et al. 2012): every ``batch_s`` the batch's own estimate
  ``θ̂_b`` is blended in, ``θ_b = α θ_{b-1} + (1 - α) θ̂_b`` with ``α = 0.5^{T_b / h}``:
  the old decoder's weight halves every ``half_life`` seconds ``h``.
- **RML** (Dangi et al. 2014): the sufficient statistics forget exponentially every bin,
  ``S ← λ S + z_t z_tᵀ``, ``λ = 0.5^{dt / h}``, and the decoder is re-solved from them every
  ``update_s``: the same half-life, but no waiting for a batch.

The intention estimate is ReFIT's (Gilja et al. 2012): the decoded velocity rotated toward the
target, its speed kept, and zero once the cursor is on the target (:func:`refit_intention`).
Its speed is the decoder's own, so it says nothing about the scale of the tuning: a seed that
decodes slowly (a shuffled-label or a half-undone 180° seed) yields slow labels, a tuning fitted
too large, and a decoder that stays slow. With ``intention_speed`` each rule keeps only the
labels' directions and gives every moving label that speed — BMI3D's ``CursorGoal`` learner with
a constant intended speed, as in Orsborn et al. (2012) — which anchors the scale
(:data:`INTENTION_SPEED`: the simulated user's mean intended speed off the target).

- Orsborn et al. (2012). Closed-loop decoder adaptation on intermediate time-scales facilitates
  rapid BMI performance improvements independent of decoder initialization conditions. IEEE
  TNSRE 20:468–477.
- Dangi et al. (2014). Continuous closed-loop decoder adaptation with a recursive maximum
  likelihood algorithm allows for rapid performance acquisition in brain-machine interfaces.
  Neural Comput 26:1811–1839.
- Gilja et al. (2012). Nat Neurosci 15:1752–1757.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cogmodels.agents.decoders.linear import EncodingDecoder
from cogmodels.agents.decoders.stats import RegressionStats
from cogmodels.agents.saving import Saveable
from cogmodels.deprecation import renamed_arguments, renamed_attribute
from cogmodels.validation import check_number

__all__ = ["INTENTION_SPEED", "RML", "OFCIntention", "SmoothBatch", "refit_intention"]

#: the simulated user's mean intended speed while off the target (workspace widths/s; measured
#: 0.45 in a 60 s centre-out calibration block, 4 subjects, seed 0): a ``CursorGoal`` speed. It
#: was read from the user's true intention, which no experiment has; an experiment takes the
#: speed from its own cued kinematics (:func:`cogmodels.experiments.clda_study.cued_speed`)
INTENTION_SPEED = 0.45


def refit_intention(velocity: np.ndarray, cursor: np.ndarray, target: np.ndarray,
                    radius: np.ndarray | float) -> np.ndarray:
    """Return the ReFIT intention estimate ``(L, 2)`` of decoded velocities.

    The decoded ``velocity`` is rotated to point from ``cursor`` to ``target`` with its speed
    kept, and zeroed where the cursor is within ``radius`` of the target (the user is holding
    still).
    """
    v = np.asarray(velocity, dtype=np.float64)
    err = np.asarray(target, dtype=np.float64) - np.asarray(cursor, dtype=np.float64)
    dist = np.hypot(err[..., 0], err[..., 1])
    speed = np.hypot(v[..., 0], v[..., 1])
    on_target = dist <= np.asarray(radius, dtype=np.float64)
    scale = np.where(on_target, 0.0, speed / np.maximum(dist, 1e-12))
    return err * scale[..., None]


class OFCIntention:
    r"""Intention estimate of an optimal feedback controller (Shanechi et al. 2016).

    Instead of rotating the decoded velocity toward the target (ReFIT), the intended velocity is
    what an LQR controller of the cursor would command from the cursor's current state, per axis
    (:func:`~cogmodels.envs.bci.user.lqr_gain`, cost ``Σ (p - g)^2 + effort u^2`` on the forward
    model ``v' = a v + (1 - a) u``, ``a = exp(-dt / forward_tau)``):

    .. math::

        \hat u_t = k_p (g - p_t) - k_v v_t, \qquad |\hat u_t| \le u_{max}
        \ \ (0 \text{ within the target radius})

    It models the user's speed as well as its direction: far from the target the estimate is
    fast, near it slow, whatever the decoder did.

    Parameters
    ----------
    effort : float
        The LQR's effort cost (larger: slower commands).
    forward_tau : float
        Time constant (s) of the cursor's velocity in the controller's model (0: the cursor moves
        as commanded).
    max_speed : float
        Largest intended speed (widths/s).
    dt : float
        Bin width (s).

    References
    ----------
    Shanechi, M. M., Orsborn, A. L., & Carmena, J. M. (2016). Robust brain-machine interface
    design using optimal feedback control modeling and adaptive point process filtering. PLoS
    Comput Biol 12:e1004730.
    """

    def __init__(self, effort: float = 0.015, forward_tau: float = 0.0, max_speed: float = 0.8,
                 dt: float = 0.02) -> None:
        from cogmodels.envs.bci.user import UserSpec, lqr_gain

        spec = UserSpec(model="lqr", effort=effort, forward_tau=forward_tau,
                        max_speed=max_speed)
        self.effort, self.forward_tau, self.max_speed = (spec.effort, spec.forward_tau,
                                                         spec.max_speed)
        self.dt = check_number("dt", dt, 0.0, low_open=True)
        self.gain_ = lqr_gain(spec, self.dt)

    def __call__(self, velocity: np.ndarray, cursor: np.ndarray, target: np.ndarray,
                 radius: np.ndarray | float) -> np.ndarray:
        """Return the estimates ``(L, 2)`` for cursor velocities, cursors and targets ``(L, 2)``."""
        v = np.asarray(velocity, dtype=np.float64)
        err = np.asarray(target, dtype=np.float64) - np.asarray(cursor, dtype=np.float64)
        u = self.gain_[0] * err - self.gain_[1] * v
        speed = np.hypot(u[..., 0], u[..., 1])
        u = u * np.minimum(1.0, self.max_speed / np.maximum(speed, 1e-12))[..., None]
        on_target = np.hypot(err[..., 0], err[..., 1]) <= np.asarray(radius, dtype=np.float64)
        return np.where(on_target[..., None], 0.0, u)


def _check_seconds(name: str, value: Any, dt: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = np.nan
    if not (np.isfinite(v) and v >= dt):
        raise ValueError(f"{name} must be a number of seconds >= dt ({dt}), got {value!r}")
    return v


class _Adaptation(Saveable):
    """Shared by the adaptation rules: the decoder, the statistics, observe and the clock.

    ``save(path)`` writes the settings, the decoder, the sufficient statistics, the clock and
    the update count (JSON + ``.npz``, no pickle);
    :func:`~cogmodels.agents.decoders.base.load_decoder` rebuilds the rule and its decoder, which
    then adapt as the saved ones would.
    """

    def __init__(self, decoder: EncodingDecoder, half_life: float, dt: float, ridge: float,
                 min_bins: int, intention_speed: float | None) -> None:
        if not isinstance(decoder, EncodingDecoder):
            raise TypeError(
                "decoder must be a fitted EncodingDecoder (KalmanDecoder, "
                "SteadyStateKalmanDecoder, OptimalLinearEstimator, PopulationVector), got "
                f"{type(decoder).__name__}"
            )
        decoder._check_fitted()
        try:
            self.dt = float(dt)
        except (TypeError, ValueError):
            self.dt = np.nan
        if not (np.isfinite(self.dt) and self.dt > 0):
            raise ValueError(f"dt must be a bin width in seconds > 0, got {dt!r}")
        self.decoder = decoder
        self.half_life = _check_seconds("half_life", half_life, self.dt)
        self.ridge = float(ridge)
        if isinstance(min_bins, bool) or not isinstance(min_bins, int) or min_bins < 3:
            raise ValueError(f"min_bins must be an integer >= 3, got {min_bins!r}")
        self.min_bins = min_bins
        self.intention_speed = (None if intention_speed is None else check_number(
            "intention_speed", intention_speed, 0.0, low_open=True))
        self.stats = RegressionStats(decoder.n_lanes_, decoder.n_units_)
        self.n_updates_ = 0
        self._clock = 0

    def observe(self, counts: np.ndarray, intention: np.ndarray, lanes: np.ndarray | None = None,
                weight: np.ndarray | None = None) -> None:
        """Add bins of counts and intention estimates to the statistics.

        ``(l, N)``, ``(l, 2)`` for one bin of the lanes ``lanes`` (all when None), or blocks
        ``(T, l, N)``, ``(T, l, 2)``; ``weight`` is ``(l,)`` or ``(T, l)`` (0 skips a bin).
        """
        if self.intention_speed is not None:
            u = np.asarray(intention, dtype=np.float64)
            speed = np.hypot(u[..., 0], u[..., 1])
            scale = np.where(speed > 1e-9, self.intention_speed / np.maximum(speed, 1e-12), 0.0)
            intention = u * scale[..., None]
        self.stats.add(counts, intention, lanes, weight)

    def tick(self) -> bool:
        """One bin has passed; returns True when the decoder was updated."""
        raise NotImplementedError  # pragma: no cover

    def _solve(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        H, d, q = self.stats.solve(self.ridge)
        return H, d, q, self.stats.n >= self.min_bins


class SmoothBatch(_Adaptation):
    """SmoothBatch CLDA (see the module docstring).

    Call :meth:`observe` with each bin's counts and intention estimate and :meth:`tick` once per
    bin. The first batch blends into the decoder as it is (its current ``H_, d_, q_``).

    Parameters
    ----------
    decoder : EncodingDecoder
        The fitted seed decoder, adapted in place.
    batch_s : float
        The batch period (s).
    half_life : float
        Seconds over which the old parameters' weight halves.
    dt : float
        Bin width (s).
    ridge : float
        Ridge penalty of each batch's fit.
    min_bins : int
        Lanes with fewer labelled bins in a batch keep their decoder.
    intention_speed : float or None
        CursorGoal speed given to every moving label (module docstring); None keeps the labels'
        own speed.
    """

    batch_seconds = renamed_attribute("batch_seconds", "batch_s")

    @renamed_arguments(batch_seconds="batch_s")
    def __init__(self, decoder: EncodingDecoder, batch_s: float = 60.0,
                 half_life: float = 120.0, dt: float = 0.02, ridge: float = 1e-3,
                 min_bins: int = 100, intention_speed: float | None = None) -> None:
        super().__init__(decoder, half_life, dt, ridge, min_bins, intention_speed)
        self.batch_s = _check_seconds("batch_s", batch_s, self.dt)
        self.batch_bins = int(round(self.batch_s / self.dt))
        self.alpha = 0.5 ** (self.batch_s / self.half_life)

    def tick(self) -> bool:
        """Count a bin; at the end of a batch, blend the batch's fit into the decoder."""
        self._clock += 1
        if self._clock < self.batch_bins:
            return False
        self._clock = 0
        H, d, q, ok = self._solve()
        dec, a = self.decoder, np.where(ok, self.alpha, 1.0)
        dec.set_encoding(a[:, None, None] * dec.H_ + (1 - a[:, None, None]) * H,
                         a[:, None] * dec.d_ + (1 - a[:, None]) * d,
                         a[:, None] * dec.q_ + (1 - a[:, None]) * q)
        self.stats.clear()
        self.n_updates_ += 1
        return True


class RML(_Adaptation):
    """Recursive maximum-likelihood CLDA (see the module docstring).

    The statistics start from what the decoder was given — its current ``H_, d_, q_``, as
    :meth:`RegressionStats.from_model
    <cogmodels.agents.decoders.stats.RegressionStats.from_model>` pseudo-bins with the decoder's
    expected velocity covariance (its ``prior_velocity_cov()``), worth ``prior_s`` seconds of data — never from its calibration block:
    a seed set through ``set_encoding`` is the seed. The prior then fades like any data, by
    ``λ = 0.5^{dt / half_life}`` per bin; the decoder is re-solved every ``update_s``.

    Parameters
    ----------
    decoder : EncodingDecoder
        The fitted seed decoder, adapted in place.
    half_life : float
        Seconds over which a bin's weight halves.
    update_s : float
        Seconds between re-solves of the decoder.
    dt : float
        Bin width (s).
    ridge : float
        Ridge penalty of the re-solve.
    min_bins : int
        Lanes whose statistics hold less weight keep their decoder.
    prior_s : float or None
        Weight of the seed decoder, in seconds of bins; ``None``: one ``half_life`` (after
        another half-life, the data collected in closed loop weigh as much as the seed did).
    intention_speed : float or None
        CursorGoal speed given to every moving label (module docstring); None keeps the labels'
        own speed.
    """

    update_seconds = renamed_attribute("update_seconds", "update_s")
    prior_seconds = renamed_attribute("prior_seconds", "prior_s")

    @renamed_arguments(update_seconds="update_s", prior_seconds="prior_s")
    def __init__(self, decoder: EncodingDecoder, half_life: float = 60.0,
                 update_s: float = 0.1, dt: float = 0.02, ridge: float = 1e-3,
                 min_bins: int = 50, prior_s: float | None = None,
                 intention_speed: float | None = None) -> None:
        super().__init__(decoder, half_life, dt, ridge, min_bins, intention_speed)
        self.update_s = _check_seconds("update_s", update_s, self.dt)
        self.update_bins = max(int(round(self.update_s / self.dt)), 1)
        self.forget = 0.5 ** (self.dt / self.half_life)
        self.prior_s = (self.half_life if prior_s is None
                        else check_number("prior_s", prior_s, 0.0))
        self.stats = RegressionStats.from_model(
            decoder.H_, decoder.d_, decoder.q_, self.prior_s / self.dt,
            decoder.prior_velocity_cov())

    def tick(self) -> bool:
        """Forget by ``λ`` per bin; every ``update_s``, re-solve the decoder."""
        self.stats.decay(self.forget)
        self._clock += 1
        if self._clock < self.update_bins:
            return False
        self._clock = 0
        H, d, q, ok = self._solve()
        dec = self.decoder
        m = ok[:, None]
        dec.set_encoding(np.where(m[..., None], H, dec.H_), np.where(m, d, dec.d_),
                         np.where(m, q, dec.q_))
        self.n_updates_ += 1
        return True
