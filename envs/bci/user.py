"""The simulated BCI user: a feedback controller that sees the cursor late and predicts it.

After Willett et al. (2019, Sci Rep 9:8881, "Principled BCI decoder design and parameter
selection using a feedback control model"): the user sees the cursor and the target ``delay``
seconds late (``k`` bins), and estimates where the cursor is now with an internal forward model of
how the cursor answers its own recent commands (a Smith predictor): with ``p`` the seen (delayed)
cursor position,

    p_hat_t = p_{t-k} + sum_{j=t-k+1..t} dt v_j,   v_j = a v_{j-1} + (1 - a) g u_j,

where ``u`` is the user's intended velocity, ``g`` (``forward_gain``) and ``a = exp(-dt / tau)``
(``forward_tau``) the user's belief about the decoder's gain and smoothing (``tau = 0``: the
cursor moves as intended). From the error ``e = target_seen - p_hat`` the intended velocity is

- ``"feedback"`` (Willett's saturating push): ``u = f(|e|) e / |e|`` with
  ``f(d) = max_speed tanh(d / saturation)``, a smooth stand-in for their fitted piecewise-linear
  ``f_targ``;
- ``"lqr"``: the discrete-time LQR of the same forward model, per axis, state ``(p - target, v)``,
  cost ``sum (p - target)^2 + effort u^2`` (gain from ``scipy.linalg.solve_discrete_are``), the
  command then limited to ``|u| <= max_speed``.

Everything is vectorised over a leading axis of lanes (independent users).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_discrete_are

from cogmodels.validation import check_choice, check_number

__all__ = ["USER_MODELS", "User", "UserSpec", "lqr_gain"]

USER_MODELS = ("feedback", "lqr")


#: the longest sensory delay of the user (s): the delay line holds ``delay / dt`` bins
MAX_DELAY = 2.0
#: bound of the speeds, the saturation, the forward-model time constant and gain
MAX_USER_VALUE = 1e3
#: bounds of the LQR effort cost (the Riccati equation stays well conditioned within them)
EFFORT_RANGE = (1e-6, 1e6)


@dataclass(frozen=True)
class UserSpec:
    """The user's control model (see the module docstring); times in s, speeds in widths/s.

    ``delay`` in [0, 2] s; ``max_speed``, ``saturation`` and ``forward_gain`` in (0, 1000];
    ``forward_tau`` in [0, 1000] s; ``effort`` in [1e-6, 1e6].
    """

    model: str = "feedback"
    delay: float = 0.2
    max_speed: float = 0.8
    saturation: float = 0.1
    effort: float = 0.015
    forward_tau: float = 0.0
    forward_gain: float = 1.0

    def __post_init__(self) -> None:
        check_choice("user", self.model, USER_MODELS)
        limits = {
            "delay": (0.0, MAX_DELAY, False),
            "max_speed": (0.0, MAX_USER_VALUE, True),
            "saturation": (0.0, MAX_USER_VALUE, True),
            "effort": (*EFFORT_RANGE, False),
            "forward_tau": (0.0, MAX_USER_VALUE, False),
            "forward_gain": (0.0, MAX_USER_VALUE, True),
        }
        for name, (low, high, low_open) in limits.items():
            value = check_number(name, getattr(self, name), low, high, low_open=low_open)
            object.__setattr__(self, name, value)


def forward_model(spec: UserSpec, dt: float) -> tuple[float, np.ndarray, np.ndarray]:
    """Return the user's forward model: smoothing ``a`` and per-axis matrices ``A, B``.

    The model of state ``(p, v)`` is ``v' = a v + (1 - a) g u``, ``p' = p + dt v'``.
    """
    a = float(np.exp(-dt / spec.forward_tau)) if spec.forward_tau > 0 else 0.0
    b = (1.0 - a) * spec.forward_gain
    return a, np.array([[1.0, dt * a], [0.0, a]]), np.array([[dt * b], [b]])


def lqr_gain(spec: UserSpec, dt: float) -> np.ndarray:
    """Return the LQR feedback gain ``(k_p, k_v)``: ``u = -k_p (p - target) - k_v v`` per axis."""
    _, a_mat, b_mat = forward_model(spec, dt)
    q = np.diag([1.0, 0.0])
    r = np.array([[spec.effort]])
    p = solve_discrete_are(a_mat, b_mat, q, r)
    k = np.linalg.solve(r + b_mat.T @ p @ b_mat, b_mat.T @ p @ a_mat)
    return k[0]


class User:
    """``n_lanes`` simulated users stepped together (see the module docstring).

    :meth:`act` takes the true cursor and target of this bin, stores them as seen ``k`` bins later,
    and returns the intended velocities ``(n_lanes, 2)`` from the delayed view and the forward model.
    """

    def __init__(self, spec: UserSpec, dt: float, n_lanes: int) -> None:
        self.spec, self.dt = spec, dt
        self.k = int(round(spec.delay / dt))
        self.a, _, _ = forward_model(spec, dt)
        self._g = (1.0 - self.a) * spec.forward_gain
        self._gain = lqr_gain(spec, dt) if spec.model == "lqr" else None
        self._seen_pos = np.zeros((self.k + 1, n_lanes, 2))
        self._seen_target = np.zeros((self.k + 1, n_lanes, 2))
        self._ptr = 0
        self._disp = np.zeros((max(self.k, 1), n_lanes, 2))  # forward-model moves not yet seen
        self._disp_sum = np.zeros((n_lanes, 2))
        self._dptr = 0
        self._v = np.zeros((n_lanes, 2))
        self.intended = np.zeros((n_lanes, 2))

    def reset(self, lanes: np.ndarray, cursor: np.ndarray, target: np.ndarray) -> None:
        """Users in ``lanes`` start a session having seen ``cursor`` and ``target`` for long."""
        self._seen_pos[:, lanes] = cursor
        self._seen_target[:, lanes] = target
        self._disp[:, lanes] = 0.0
        self._disp_sum[lanes] = 0.0
        self._v[lanes] = 0.0
        self.intended[lanes] = 0.0

    def act(self, cursor: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Intended velocities for the next bin (also kept in :attr:`intended`)."""
        n = self.k + 1
        self._ptr = (self._ptr + 1) % n
        self._seen_pos[self._ptr] = cursor
        self._seen_target[self._ptr] = target
        old = (self._ptr + 1) % n
        error = self._seen_target[old] - self._seen_pos[old] - self._disp_sum
        u = self._policy(error, self._v)
        self._v *= self.a
        self._v += self._g * u
        if self.k:
            step = self.dt * self._v
            self._disp_sum += step - self._disp[self._dptr]
            self._disp[self._dptr] = step
            self._dptr = (self._dptr + 1) % self.k
        self.intended = u
        return u

    def start(self, lanes: np.ndarray) -> np.ndarray:
        """Intended velocities of the users in ``lanes`` (just reset) for a session's first bin."""
        error = self._seen_target[self._ptr, lanes] - self._seen_pos[self._ptr, lanes]
        u = self._policy(error, self._v[lanes])
        self._v[lanes] = self._g * u
        if self.k:
            step = self.dt * self._v[lanes]
            self._disp[(self._dptr - 1) % self.k, lanes] = step  # the newest forward-model move
            self._disp_sum[lanes] = step
        self.intended[lanes] = u
        return u

    def _policy(self, error: np.ndarray, v: np.ndarray) -> np.ndarray:
        s = self.spec
        dist = np.hypot(error[:, 0], error[:, 1])
        if self._gain is None:
            scale = s.max_speed * np.tanh(dist / s.saturation) / (dist + 1e-12)
            return error * scale[:, None]
        u = self._gain[0] * error - self._gain[1] * v
        speed = np.hypot(u[:, 0], u[:, 1])
        return u * np.minimum(1.0, s.max_speed / np.maximum(speed, 1e-12))[:, None]
