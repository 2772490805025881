r"""Bias correction of the decoded velocity (Jarosiewicz et al. 2015).

Nonstationary baselines make a fixed decoder push the cursor steadily one way. Jarosiewicz et al.
(2015) subtract a running estimate of that bias: while the user moves, the intended velocities
point every way and average out, so the mean of the decoded velocity over the bins in which it
is fast is the bias. Per bin, with ``v_t`` the decoder's output:

.. math::

    b_t = b_{t-1} + \frac{dt}{τ}\,(v_t - b_{t-1}) \ \ \text{if } |v_t - b_{t-1}| > s_{min},
    \text{ else } b_{t-1}; \qquad \tilde v_t = v_t - b_t

(``τ = tau``: the running mean's time constant, ``s_min = min_speed``). The corrected
``ṽ_t`` moves the cursor; the estimate carries over from session to session (the bias is the
day's, not the trial's) until :meth:`BiasCorrection.reset`.

- Jarosiewicz, B., et al. (2015). Virtual typing by people with tetraplegia using a
  self-calibrating intracortical brain-computer interface. Sci Transl Med 7:313ra179.
"""

from __future__ import annotations

import numpy as np

from cogmodels.agents.saving import Saveable
from cogmodels.validation import check_number

__all__ = ["BiasCorrection"]


class BiasCorrection(Saveable):
    """Running bias estimate of the decoded velocity, subtracted every bin (module docstring).

    Parameters
    ----------
    tau : float
        Time constant (s) of the running mean (Jarosiewicz et al.: tens of seconds).
    min_speed : float
        Bins whose corrected speed is at most this (widths/s) do not update the estimate: a user
        holding still has no reason to average out.
    dt : float
        Bin width (s).

    Attributes
    ----------
    bias_ : numpy.ndarray or None
        ``(L, 2)`` the current estimate (None before the first bin).

    Notes
    -----
    ``save(path)`` writes the settings and ``bias_`` (JSON + ``.npz``);
    :func:`~cogmodels.agents.decoders.base.load_decoder` reads them back.
    """

    def __init__(self, tau: float = 30.0, min_speed: float = 0.1, dt: float = 0.02) -> None:
        self.dt = check_number("dt", dt, 0.0, low_open=True)
        self.tau = check_number("tau", tau, self.dt)
        self.min_speed = check_number("min_speed", min_speed, 0.0)
        self.bias_: np.ndarray | None = None

    def reset(self) -> BiasCorrection:
        """Forget the estimate."""
        self.bias_ = None
        return self

    def __call__(self, velocity: np.ndarray) -> np.ndarray:
        """Update the estimate with decoded velocities ``(L, 2)``; return them corrected."""
        v = np.asarray(velocity, dtype=np.float64)
        if v.ndim != 2 or v.shape[1] != 2:
            raise ValueError(f"velocity must have shape (L, 2), got shape {v.shape}")
        if self.bias_ is None or self.bias_.shape != v.shape:
            self.bias_ = np.zeros_like(v)
        moving = np.hypot(*(v - self.bias_).T) > self.min_speed
        self.bias_ = self.bias_ + np.where(moving[:, None], (self.dt / self.tau) * (v - self.bias_),
                                           0.0)
        return v - self.bias_
