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

- ``"feedback"`` (Willett's control policy, their Fig. 2B): a push toward the target plus a
  damping term along the cursor's estimated heading::

      u = f_targ(|e|) e / |e| + f_vel(|v_hat|) v_hat / |v_hat|,
      f_targ(d) = max_speed tanh(d / saturation),   f_vel(s) = -damping s,

  with ``f_targ`` by default a smooth stand-in for their fitted piecewise-linear push
  (``push="willett"``, as in :data:`WILLETT_USER`: that fitted push itself, :data:`WILSON_PUSH`,
  stronger near the target: 0.50 against the stand-in's 0.21 widths/s at 0.027 widths, a
  plateau near 1 against 0.8) and ``f_vel`` their
  negative (braking) velocity term made linear; ``v_hat`` is the forward model's estimate of the
  current cursor velocity, ``g`` times the smoothed past commands. The command then feeds back on
  itself through ``v_hat`` with the factor ``-damping g`` per bin, so the braking is capped at
  ``damping g <= 0.9`` (a user never brakes harder than it pushes);
- ``"lqr"``: the discrete-time LQR of the same forward model, per axis, state ``(p - target, v)``,
  cost ``sum (p - target)^2 + effort u^2`` (gain from ``scipy.linalg.solve_discrete_are``), the
  command then limited to ``|u| <= max_speed``;
- ``"wilson"``: Wilson et al. (2023)'s simulated user (``getBCIFittsKF`` and
  ``simulateFitts_Numba`` in ``utils/simulation/simulation.py`` of github
  guyhwilson/nonstationarities, HEAD 844f489). Its belief about the cursor is a steady-state
  Kalman estimate of the cursor's plant ``v' = a v + (1 - a) β u``, ``p' = p + dt v'`` (``a``
  from ``forward_tau``; ``β`` the gain the session applies, told to the user: ``reset(options=
  {"decoder_gain": β})``), augmented with the ``k`` bins of delay, driven by the user's own
  commands (an efference copy: it assumes the decoder outputs the command) and corrected by the
  true cursor state ``k`` bins ago (its position and the velocity that moved it there), with
  unit process and measurement noise:

      x <- A x + B u + L (y - C x),   L = P Cᵀ (C P Cᵀ + I)⁻¹,

  ``P`` the solution of the filtering Riccati equation (:func:`delayed_cursor_estimator`; ``L``
  does not depend on ``β``). The command pushes toward the *current* target (their user sees a
  new target at once) from the estimated present position, ``u = f(|e|) e / |e|``,
  ``e = target - x_p``, with ``f`` their piecewise-linear push (:data:`WILSON_PUSH`, Willett
  et al. 2019's fit); no damping. One difference, kept on purpose: the plant is this
  environment's, where the decoded velocity moves the cursor in the bin it is decoded; their
  simulator's moves it one bin later (``p' = p + dt v``, then ``v' = a v + (1 - a) β u``). Each
  user models its own simulator's cursor exactly (up to the decoder).

Further pieces of Willett et al.'s model (all off by default, so the ideal decoder reproduces
the noiseless controller; :data:`WILLETT_USER` switches on all but the last):

- **intention noise**: their model adds autoregressive noise to the control vector (fitted per
  participant, correlated over ~100 ms). Here ``u + n_t`` with
  ``n_t = r n_{t-1} + sqrt(1 - r^2) noise_sd z_t``, ``r = exp(-dt / noise_tau)``, ``z ~ N(0, I)``:
  stationary standard deviation ``noise_sd`` per axis.
- **a forward model that adapts to the decoder's gain**: the user's belief ``g`` about how far
  the cursor moves per unit of command is the recursive least-squares slope, with forgetting
  time constant ``adaptation_time`` (s), of the cursor displacement it sees on the command it gave
  ``k + 1`` bins before (``g = S_du / S_uu``, both sums decaying by ``exp(-dt / adaptation_time)``
  per bin and starting from ``forward_gain`` with one time constant's weight of unit commands;
  moves across a trial boundary, where the cursor may jump, are skipped). Users re-learn a new
  gain within seconds (Willett et al. 2019 re-fit their model per gain block; Chase et al. 2009
  show compensation for a changed mapping within a session); 2 s is the value used here.
- **... and to its smoothing** (``learn_smoothing``): Willett et al.'s forward model is one of
  the cursor's dynamics, the decoder's first-order smoothing included (their Fig. 2A: "the
  decoder output is smoothed by first order smoothing dynamics and integrated"), and monkeys'
  internal models of a BCI track the mapping they use (Golub et al. 2015, eLife 4:e10015). The
  user then fits both ``a`` and ``g`` of its forward model to the moves ``m`` it sees, by the same
  forgetting least squares: ``m_t = a m_{t-1} + (1 - a) g dt u_t`` (``a`` in [0, 0.995]; where
  the joint solution leaves that range, ``a`` is held at the bound and ``(1 - a) g`` re-solved
  for it; the prior ``a`` from ``forward_tau`` with the gain's weight). A decoder that smooths more (a Kalman
  filter fit to slow cued kinematics) is then believed to, and the user stops pushing before the
  cursor has caught up; a user who believes the cursor unsmoothed over-drives it and, as its
  intention points from a place the cursor has not yet reached, corrupts the labels of
  closed-loop recalibration (ReFIT).

- **the seen velocity** (``see_velocity``, off in :data:`WILLETT_USER`): Willett et al.'s user
  sees the delayed velocity as well as the position (their Fig. 2A) and propagates both through
  its forward model. With it the sum above starts from the velocity seen ``k`` bins late,
  ``v_{t-k} = (p_{t-k} - p_{t-k-1}) / dt``, instead of the forward model's own velocity, so
  decoder noise stays in the estimate for the delay only (across a trial boundary, where the
  cursor jumped, the last seen velocity is carried one bin through the forward model).

A third, slower piece is learning **across sessions** (off by default: ``session_learning``
0): users re-aim. When a decoder maps their commands wrongly (a rotated or sheared decoder),
people and monkeys learn over sessions to aim so that the cursor goes where they intend —
by re-aiming within the existing neural repertoire (Jarosiewicz et al. 2008, PNAS 105:19486;
Golub et al. 2018, Nat Neurosci 21:607), and, with an adaptive decoder, together with it
(co-adaptation: Orsborn et al. 2014, Neuron 82:1380). Here the neurons encode the aimed
command ``c = A u`` instead of ``u``; during each closed-loop session the loop regresses the
decoded velocity on the command, ``a ≈ G c``, and at the start of the next session the user
moves its aim a fraction ``session_learning`` of the way to the aim that would have made the
session's map a scaled identity::

    A <- (1 - eta) A + eta s G^{-1},   s = sqrt(|det G|)

(``det A* = 1``: the re-aimed command is no stronger than the plain one). ``A`` starts at the
identity for a new subject and is kept across the subject's sessions, whatever their day.

Everything is vectorised over a leading axis of lanes (independent users).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_discrete_are

from cogmodels.envs.bci.encoder import WILSON_TOP_CONTROL
from cogmodels.validation import check_bool, check_choice, check_number

__all__ = ["PUSHES", "USER_MODELS", "WILLETT_USER", "WILSON_PUSH", "WILSON_USER", "Reaiming", "User",
           "UserSpec", "delayed_cursor_estimator", "lqr_gain"]

USER_MODELS = ("feedback", "lqr", "wilson")

#: Wilson et al. (2023)'s push ``f_targ`` (``fTarg`` in their ``simulateFitts_Numba``; Willett et
#: al. 2019's fitted control policy): distance to the target (widths) -> command speed (widths/s),
#: interpolated linearly and held at the last value beyond 100
WILSON_PUSH = np.array([
    [0.0, 0.0], [3.4325e-4, 0.0], [0.0274175, 0.500624667], [0.1026545, 0.602977667],
    [0.17212075, 0.833672667], [0.2618185, 0.834671333], [0.37741625, 0.868126333],
    [0.511568, 0.907594], [0.65950075, 0.936572667], [0.82384525, 1.03224767],
    [0.99964425, 0.997908667], [100.0, 0.997908667]])


#: the feedback user's push ``f_targ``: a tanh stand-in, or Willett et al.'s fitted table
PUSHES = ("tanh", "willett")

#: the longest sensory delay of the user (s): the delay line holds ``delay / dt`` bins
MAX_DELAY = 2.0
#: bound of the speeds, the saturation, the forward-model time constant and gain
MAX_USER_VALUE = 1e3
#: the largest smoothing per bin a learning forward model believes in (the gain ``c / (1 - a)``
#: stays finite)
MAX_SMOOTHING = 0.995
#: the largest braking slope (the command's feedback through the forward model stays stable)
MAX_DAMPING = 0.99
#: bounds of the LQR effort cost (the Riccati equation stays well conditioned within them)
EFFORT_RANGE = (1e-6, 1e6)


@dataclass(frozen=True)
class UserSpec:
    """The user's control model (see the module docstring); times in s, speeds in widths/s.

    ``delay`` in [0, 2] s; ``max_speed``, ``saturation`` and ``forward_gain`` in (0, 1000];
    ``forward_tau`` in [0, 1000] s; ``effort`` in [1e-6, 1e6]; ``damping`` (the slope of
    ``-f_vel``, dimensionless) in [0, 1); ``noise_sd`` (widths/s), ``noise_tau`` and
    ``adaptation_time`` (s; 0: no adaptation) in [0, 1000]; ``session_learning`` (the fraction
    of the way to the compensating aim learnt per session; 0: none) in [0, 1];
    ``learn_smoothing`` (bool; the forward model learns the decoder's smoothing with its gain;
    needs ``model="feedback"`` and ``adaptation_time > 0``); ``see_velocity`` (bool; the forward
    model starts from the seen velocity as well as the seen position; not with ``"wilson"``);
    ``push`` (one of :data:`PUSHES`: the feedback user's ``f_targ``, the ``tanh`` stand-in or
    Willett et al.'s fitted ``"willett"`` push, when ``max_speed`` and ``saturation`` are unused).
    """

    model: str = "feedback"
    delay: float = 0.2
    max_speed: float = 0.8
    saturation: float = 0.1
    effort: float = 0.015
    forward_tau: float = 0.0
    forward_gain: float = 1.0
    damping: float = 0.0
    noise_sd: float = 0.0
    noise_tau: float = 0.1
    adaptation_time: float = 0.0
    session_learning: float = 0.0
    learn_smoothing: bool = False
    see_velocity: bool = False
    push: str = "tanh"

    def __post_init__(self) -> None:
        check_choice("user", self.model, USER_MODELS)
        check_choice("push", self.push, PUSHES)
        if self.push != "tanh" and self.model != "feedback":
            raise ValueError(f"push={self.push!r} needs user='feedback' (the push of the feedback "
                             f"policy), got user={self.model!r}")
        limits = {
            "delay": (0.0, MAX_DELAY, False),
            "max_speed": (0.0, MAX_USER_VALUE, True),
            "saturation": (0.0, MAX_USER_VALUE, True),
            "effort": (*EFFORT_RANGE, False),
            "forward_tau": (0.0, MAX_USER_VALUE, False),
            "forward_gain": (0.0, MAX_USER_VALUE, True),
            "damping": (0.0, MAX_DAMPING, False),
            "noise_sd": (0.0, MAX_USER_VALUE, False),
            "noise_tau": (0.0, MAX_USER_VALUE, False),
            "adaptation_time": (0.0, MAX_USER_VALUE, False),
            "session_learning": (0.0, 1.0, False),
        }
        for name, (low, high, low_open) in limits.items():
            value = check_number(name, getattr(self, name), low, high, low_open=low_open)
            object.__setattr__(self, name, value)
        object.__setattr__(self, "learn_smoothing",
                           check_bool("learn_smoothing", self.learn_smoothing))
        object.__setattr__(self, "see_velocity", check_bool("see_velocity", self.see_velocity))
        if self.see_velocity and self.model == "wilson":
            raise ValueError(f"see_velocity=True needs user='feedback' or 'lqr' (Wilson et al.'s "
                             f"user sees the velocity already, through its Kalman estimate), got "
                             f"user={self.model!r}")
        if self.learn_smoothing and (self.model != "feedback" or self.adaptation_time == 0):
            raise ValueError(f"learn_smoothing=True needs user='feedback' and adaptation_time > 0 "
                             f"(the smoothing is learnt with the gain), got user={self.model!r}, "
                             f"adaptation_time={self.adaptation_time!r}")
        if self.model == "wilson":
            for name in ("damping", "adaptation_time"):
                if getattr(self, name):
                    raise ValueError(f"{name} must be 0 with user='wilson' (Wilson et al.'s user "
                                     f"neither brakes nor learns the gain: it is told it), got "
                                     f"{getattr(self, name)!r}")

    @property
    def top_speed(self) -> float:
        """The user's top push (widths/s).

        ``max_speed``; for Wilson et al.'s user, and for ``push="willett"``, the plateau of their
        push :data:`WILSON_PUSH`, their control unit 1
        (:data:`~cogmodels.envs.bci.encoder.WILSON_TOP_CONTROL`), in which their SNR is defined
        (``max_speed`` is unused there). It sets the additive noise's SD at Wilson et al.'s SNR
        (:func:`~cogmodels.envs.bci.encoder.wilson_noise_sd`).
        """
        return WILSON_TOP_CONTROL if self.model == "wilson" or self.push == "willett" else self.max_speed


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


def delayed_cursor_estimator(a: float, gain: float, k: int, dt: float
                             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Return Wilson et al.'s user estimator: the delay-augmented plant ``A, B`` and its gain ``L``.

    The plant's state per bin is ``s = (p_x, p_y, v_x, v_y)`` with ``v' = a v + (1 - a) g u`` and
    ``p' = p + dt v'`` (this environment's cursor); the augmented state stacks ``s_t, s_{t-1},
    ..., s_{t-k}`` (``4 (k + 1)`` entries), the noise enters the first block, the measurement is
    the last block. ``L`` is the steady-state filter gain with unit covariances,
    ``P Cᵀ (C P Cᵀ + I)⁻¹``, ``P`` from ``solve_discrete_are(Aᵀ, Cᵀ, G Gᵀ, I)`` (as
    ``getBCIFittsKF`` in Wilson et al.'s simulator, whose plant is ``p' = p + dt v``,
    ``v' = a v + (1 - a) g u``).

    Parameters
    ----------
    a : float
        The decoder's smoothing per bin (their ``alpha``), in [0, 1).
    gain : float
        The gain ``g`` (their ``beta``) in ``B``; ``A`` and ``L`` do not depend on it.
    k : int
        Bins of visual delay (their ``nDelaySteps``).
    dt : float
        The bin width (s).

    Returns
    -------
    tuple of numpy.ndarray
        ``A`` ``(4 (k + 1), 4 (k + 1))``, ``B`` ``(4 (k + 1), 2)`` and ``L`` ``(4 (k + 1), 4)``.
    """
    n = 4 * (k + 1)
    A = np.zeros((n, n))
    A[:4, :4] = [[1, 0, dt * a, 0], [0, 1, 0, dt * a], [0, 0, a, 0], [0, 0, 0, a]]
    A[4:, :-4] = np.eye(n - 4)  # each block takes the previous one's state
    B = np.zeros((n, 2))
    B[0, 0] = B[1, 1] = dt * gain * (1.0 - a)
    B[2, 0] = B[3, 1] = gain * (1.0 - a)
    C = np.zeros((4, n))
    C[:, -4:] = np.eye(4)
    G = np.zeros((n, 4))
    G[:4] = np.eye(4)
    P = solve_discrete_are(A.T, C.T, G @ G.T, np.eye(4))
    L = P @ C.T @ np.linalg.inv(C @ P @ C.T + np.eye(4))
    return A, B, L


#: Willett et al. (2019)'s user with every piece switched on but the seen velocity: their fitted
#: push (``push="willett"``, :data:`WILSON_PUSH`; the tanh stand-in until 2026-12-07), damping,
#: intention noise and a forward model that re-learns the decoder's gain and smoothing. Their
#: push is the fitted table their code carries; their other fits differ per participant and are
#: given in their units (screen fractions, per-second control vectors), so these values are set
#: on this workspace, not fitted: braking ``damping`` 0.3 (their ``f_vel`` is negative and
#: smaller than the push), noise 0.1 widths/s per axis (1/10 of the push's plateau near 1; their
#: AR noise is a sizeable fraction of the push) correlated over 100 ms, gain and smoothing
#: re-learnt over 2 s (the prior: no smoothing, ``forward_tau = 0``). With the ideal decoder this
#: user reaches a 0.35 target in about 1 s, as their participants did in 1-2 s with optimised
#: decoders. What their public code settles (github fwillett/bciSim, and the paper's analysis
#: scripts in the NPTL code; the per-participant fits are in unpublished result files, checked
#: 2026-12-07): the delay is an input of the fit, 200 ms by default and for T5 (as here; their
#: T8 example fit used 400 ms); the
#: forward model's delay equals it; the fitted velocity damping is constrained <= 0 (braking);
#: their only AR-noise numbers are illustrative (coefficient 0.8 per 20 ms, about 90 ms, as
#: ``noise_tau`` here; SD 0.5 per axis where the far push is 1). In their model that noise is
#: the decoded output's whole noise, the neural noise through the decoder included; here the
#: spikes make that part, so the user's own intention noise is set smaller. Willett et al.
#: (2017, J Neural Eng 14:026010) found the noise largely independent of the command, as here.
WILLETT_USER = UserSpec(damping=0.3, noise_sd=0.1, noise_tau=0.1, adaptation_time=2.0,
                        learn_smoothing=True, push="willett")

#: Wilson et al. (2023)'s simulated user: 200 ms delay (``nDelaySteps = 10`` of 20 ms), their
#: decoder's smoothing ``alpha = 0.94`` per 20 ms as ``forward_tau = -0.02 / log(0.94)`` s
WILSON_USER = UserSpec(model="wilson", delay=0.2, forward_tau=-0.02 / float(np.log(0.94)))


class User:
    """``n_lanes`` simulated users stepped together (see the module docstring).

    :meth:`act` takes the true cursor and target of this bin, stores them as seen ``k`` bins later,
    and returns the intended velocities ``(n_lanes, 2)`` from the delayed view and the forward model.
    ``gain_belief`` holds each user's current belief ``g`` about the decoder's gain.
    """

    def __init__(self, spec: UserSpec, dt: float, n_lanes: int) -> None:
        self.spec, self.dt = spec, dt
        self.k = int(round(spec.delay / dt))
        self.a, _, _ = forward_model(spec, dt)
        self._gain = lqr_gain(spec, dt) if spec.model == "lqr" else None
        # the views of the last k + 3 bins: the oldest two give the move the user sees now, the
        # oldest three the two last moves (what the smoothing is learnt from)
        self._ring = self.k + 3
        self._seen_pos = np.zeros((self._ring, n_lanes, 2))
        self._seen_target = np.zeros((self._ring, n_lanes, 2))
        self._trial = np.zeros(n_lanes, dtype=np.int64)  # trials begun (new_trial)
        self._seen_trial = np.zeros((self._ring, n_lanes), dtype=np.int64)
        self._ptr = 0
        self._disp = np.zeros((max(self.k, 1), n_lanes, 2))  # forward-model moves not yet seen
        self._disp_sum = np.zeros((n_lanes, 2))
        self._dptr = 0
        self._v = np.zeros((n_lanes, 2))
        self.intended = np.zeros((n_lanes, 2))
        self.gain_belief = np.full(n_lanes, spec.forward_gain)
        self._noise = np.zeros((n_lanes, 2))
        self._noise_r = float(np.exp(-dt / spec.noise_tau)) if spec.noise_tau > 0 else 0.0
        self._noise_scale = float(np.sqrt(1.0 - self._noise_r**2) * spec.noise_sd)
        self._adapt = spec.adaptation_time > 0
        if self._adapt:
            self._forget = float(np.exp(-dt / spec.adaptation_time))
            self._prior = (spec.adaptation_time / dt) * dt**2  # one time constant of unit commands
            self._s_uu = np.full(n_lanes, self._prior)
            self._s_du = self._s_uu * spec.forward_gain
            if spec.learn_smoothing:  # the prior: one time constant of moves at the prior's a
                a0 = self.a
                self.a = np.full(n_lanes, a0)
                self._s_mm = self._s_uu * spec.forward_gain**2
                self._s_mu = np.zeros(n_lanes)
                self._s_dm = self._s_mm * a0
                self._s_du *= 1.0 - a0
        self._keeps_commands = self._adapt or spec.see_velocity
        if self._keeps_commands:
            self._commands = np.zeros((self.k + 2, n_lanes, 2))  # dt u of the last k + 2 bins
            self._cptr = 0
        if spec.see_velocity:  # the velocity k bins ago: seen, or carried over a trial boundary
            self._anchor = np.zeros((n_lanes, 2))
        self.adapting = np.ones(n_lanes, dtype=bool)  # lanes whose user is in control
        #: target minus the user's estimate of the present cursor (what it acts on; clicks)
        self.believed_error = np.zeros((n_lanes, 2))
        self._kalman = spec.model == "wilson"
        if self._kalman:  # Wilson et al.'s user: a Kalman estimate of the delayed plant
            self._estimate = np.zeros((n_lanes, 4 * (self.k + 1)))
            self._plant, self._input, self._L = delayed_cursor_estimator(self.a, 1.0, self.k, dt)
            self._seen_vel = np.zeros((self._ring, n_lanes, 2))
            self._last_u = np.zeros((n_lanes, 2))

    def new_trial(self, lanes: np.ndarray) -> None:
        """Mark a new trial in ``lanes``: the cursor may jump (re-centred), even to the same target.

        The forward model learns from no move that spans the boundary.
        """
        self._trial[lanes] += 1

    def set_gain(self, lanes: np.ndarray, gain: np.ndarray) -> None:
        """Tell the users in ``lanes`` the decoder's output gain (Wilson et al.'s ``beta``)."""
        self.gain_belief[lanes] = gain

    def reset(self, lanes: np.ndarray, cursor: np.ndarray, target: np.ndarray,
              rng: np.random.Generator | None = None) -> None:
        """Users in ``lanes`` start a session having seen ``cursor`` and ``target`` for long.

        Their belief about the decoder's gain is kept (the same user, a new session).
        """
        self._seen_pos[:, lanes] = cursor
        self._seen_target[:, lanes] = target
        self._disp[:, lanes] = 0.0
        self._disp_sum[lanes] = 0.0
        self._v[lanes] = 0.0
        self.intended[lanes] = 0.0
        if self.spec.noise_sd > 0 and rng is not None:
            self._noise[lanes] = self.spec.noise_sd * rng.standard_normal((len(lanes), 2))
        if self._keeps_commands:
            self._commands[:, lanes] = 0.0
        if self.spec.see_velocity:
            self._anchor[lanes] = 0.0
        if self._kalman:  # at rest where it has long seen the cursor
            est = self._estimate.reshape(len(self._estimate), self.k + 1, 4)
            est[lanes] = 0.0
            est[lanes, :, :2] = np.asarray(cursor)[:, None, :]
            self._seen_vel[:, lanes] = 0.0
            self._last_u[lanes] = 0.0

    def _estimate_cursor(self, old: int) -> np.ndarray:
        """Advance Wilson et al.'s Kalman estimate; return the estimated present position.

        The estimate is corrected by the true state ``k`` bins ago (ring slot ``old``) and driven
        by the last command; the position is ``(n_lanes, 2)``.
        """
        seen = np.concatenate([self._seen_pos[old], self._seen_vel[old]], axis=1)
        x = self._estimate
        innovation = seen - x[:, -4:]
        x = x @ self._plant.T + innovation @ self._L.T
        x += (self._last_u * self.gain_belief[:, None]) @ self._input.T
        self._estimate = x
        return x[:, :2]

    @staticmethod
    def _push(error: np.ndarray) -> np.ndarray:
        """``f(|e|) e / |e|`` with Wilson et al.'s push :data:`WILSON_PUSH` (0 at the target)."""
        dist = np.hypot(error[:, 0], error[:, 1])
        speed = np.interp(dist, WILSON_PUSH[:, 0], WILSON_PUSH[:, 1])
        return error * (speed / np.maximum(dist, 1e-20) * (dist >= 1e-20))[:, None]

    def act(self, cursor: np.ndarray, target: np.ndarray,
            rng: np.random.Generator | None = None,
            velocity: np.ndarray | None = None) -> np.ndarray:
        """Intended velocities for the next bin (also kept in :attr:`intended`).

        ``velocity``: the velocity that moved the cursor in this bin (what Wilson et al.'s user
        sees, ``k`` bins later, with the position; the other users ignore it).
        """
        if self._kalman and velocity is None:
            raise ValueError("velocity must be the cursor's velocity of this bin (n_lanes, 2) "
                             "for user='wilson', got None")
        n = self._ring
        self._ptr = (self._ptr + 1) % n
        self._seen_pos[self._ptr] = cursor
        self._seen_target[self._ptr] = target
        self._seen_trial[self._ptr] = self._trial
        old = (self._ptr - self.k) % n  # the view of k bins ago
        if self._kalman:  # Wilson et al.'s user: the estimate, then the push to the target now
            self._seen_vel[self._ptr] = velocity
            error = np.asarray(target) - self._estimate_cursor(old)
            u = self._last_u = self._add_noise(self._push(error), rng)
            return self._acted(u, error)
        if self._adapt:
            self._learn_forward_model(old, (old - 1) % n, (old - 2) % n)
        if self.spec.see_velocity:
            error, v_now = self._from_seen_velocity(old, (old - 1) % n)
            u = self._add_noise(self._policy(error, v_now, self.gain_belief), rng)
            return self._acted(u, error)
        error = self._seen_target[old] - self._seen_pos[old] - self._disp_sum
        u = self._policy(error, self._v, self.gain_belief)
        u = self._add_noise(u, rng)
        a = self.a if np.ndim(self.a) == 0 else self.a[:, None]
        self._v *= a
        self._v += ((1.0 - self.a) * self.gain_belief)[:, None] * u
        if self.k:
            step = self.dt * self._v
            self._disp_sum += step - self._disp[self._dptr]
            self._disp[self._dptr] = step
            self._dptr = (self._dptr + 1) % self.k
        return self._acted(u, error)

    def _one_trial(self, i: int, j: int) -> np.ndarray:
        """Return the lanes whose views in ring slots ``i`` and ``j`` are of one trial.

        Same target, no :meth:`new_trial` between: the move between them is the decoder's.
        """
        tgt, trial = self._seen_target, self._seen_trial
        return ((tgt[i, :, 0] == tgt[j, :, 0]) & (tgt[i, :, 1] == tgt[j, :, 1])
                & (trial[i] == trial[j]))

    def _from_seen_velocity(self, old: int, before: int) -> tuple[np.ndarray, np.ndarray]:
        """Willett et al.'s forward model from the seen position *and* velocity (``see_velocity``).

        The velocity seen now, ``v = m_{t-k} / dt``, is propagated through the last ``k``
        commands, ``v_j = a v_{j-1} + (1 - a) g u_j`` (``j = t-k .. t-1``), and the estimated
        position is the seen one plus ``dt`` times their sum. Where the seen move spans a trial
        boundary (the cursor jumped), the last anchor is carried one bin through the forward
        model instead. Returns the error to the seen target and the estimated present velocity.
        """
        pos, tgt = self._seen_pos, self._seen_target
        m = self.k + 2
        a = self.a if np.ndim(self.a) == 0 else self.a[:, None]
        push = ((1.0 - self.a) * self.gain_belief)[:, None] / self.dt  # on dt u
        valid = self._one_trial(old, before)
        carried = a * self._anchor + push * self._commands[(self._cptr - self.k) % m]
        self._anchor = np.where(valid[:, None], (pos[old] - pos[before]) / self.dt, carried)
        v, disp = self._anchor, np.zeros_like(self._anchor)
        for j in range(self.k, 0, -1):  # the commands of calls t-k .. t-1
            v = a * v + push * self._commands[(self._cptr - j + 1) % m]
            disp += v
        return tgt[old] - pos[old] - self.dt * disp, v

    def _acted(self, u: np.ndarray, error: np.ndarray) -> np.ndarray:
        """Keep this bin's command and the error it acted on (every lane); return ``u``."""
        self._keep_command(u, slice(None))
        self.intended = u
        self.believed_error = error
        return u

    def imagine(self, lanes: np.ndarray, velocity: np.ndarray | float) -> np.ndarray:
        """Users in ``lanes`` intend ``velocity`` (plus their intention noise) instead.

        What an observer of an automatic cursor does; returns :attr:`intended`, all lanes.
        """
        if len(lanes):
            noise = self._noise[lanes] if self.spec.noise_sd > 0 else 0.0
            self.intended[lanes] = velocity + noise
        return self.intended

    def _add_noise(self, u: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        s = self.spec
        if s.noise_sd <= 0 or rng is None:
            return u
        z = rng.standard_normal(u.shape)
        z *= self._noise_scale
        self._noise *= self._noise_r
        self._noise += z
        return u + self._noise

    def _learn_forward_model(self, old: int, before: int, earlier: int) -> None:
        """Update the forward model from the move seen now and the command that caused it.

        The seen move ``m_t = p_{t-k} - p_{t-k-1}`` is the decoder's answer to the command of bin
        ``t - k - 1`` (times ``dt``: ``c_t``); moves across a trial boundary (:meth:`new_trial`,
        or a changed target: the cursor may have jumped) and lanes not in control
        (:attr:`adapting` False) are skipped.
        With ``learn_smoothing`` the regression is ``m_t = a m_{t-1} + (1 - a) g c_t`` (both
        ``a`` and ``g``), else ``m_t = g c_t``.
        """
        pos = self._seen_pos
        moved = pos[old] - pos[before]
        use = self._one_trial(old, before) & self.adapting
        if self.spec.learn_smoothing:  # the move before this one must be of the same trial too
            prev = pos[before] - pos[earlier]
            use &= self._one_trial(before, earlier)
        cmd = self._commands[(self._cptr + 2) % (self.k + 2)]  # dt u of k + 1 calls ago
        decay = np.where(use, self._forget, 1.0)
        self._s_uu *= decay
        self._s_uu += use * (cmd[:, 0] * cmd[:, 0] + cmd[:, 1] * cmd[:, 1])
        self._s_du *= decay
        self._s_du += use * (moved[:, 0] * cmd[:, 0] + moved[:, 1] * cmd[:, 1])
        if not self.spec.learn_smoothing:
            self.gain_belief = np.minimum(np.maximum(self._s_du / self._s_uu, 0.05),
                                          MAX_USER_VALUE)
            return
        for name, x, y in (("_s_mm", prev, prev), ("_s_mu", prev, cmd), ("_s_dm", moved, prev)):
            total = getattr(self, name)
            total *= decay
            total += use * (x[:, 0] * y[:, 0] + x[:, 1] * y[:, 1])
        det = self._s_mm * self._s_uu - self._s_mu**2
        a = (self._s_uu * self._s_dm - self._s_mu * self._s_du) / det
        c = (self._s_mm * self._s_du - self._s_mu * self._s_dm) / det
        held = np.minimum(np.maximum(a, 0.0), MAX_SMOOTHING)
        # with a held at a bound, c is the least-squares slope given that a
        c = np.where(held == a, c, (self._s_du - held * self._s_mu) / self._s_uu)
        self.a = held
        self.gain_belief = np.minimum(np.maximum(c / (1.0 - held), 0.05), MAX_USER_VALUE)

    def _keep_command(self, u: np.ndarray, lanes: np.ndarray | slice) -> None:
        """Keep this bin's command (what the decoder will answer) for the forward model.

        Its learning reads it, and with ``see_velocity`` its propagation too. The ring advances
        once per :meth:`act`; :meth:`start` writes into the newest slot.
        """
        if not self._keeps_commands:
            return
        if isinstance(lanes, slice):
            self._cptr = (self._cptr + 1) % (self.k + 2)
        self._commands[self._cptr, lanes] = self.dt * u

    def start(self, lanes: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Intended velocities of the users in ``lanes`` (just reset) for a session's first bin."""
        error = self._seen_target[self._ptr, lanes] - self._seen_pos[self._ptr, lanes]
        if self._kalman:
            u = self._push(error)
            if self.spec.noise_sd > 0 and rng is not None:
                u = u + self._noise[lanes]
            self._last_u[lanes] = u
            self.intended[lanes] = u
            self.believed_error[lanes] = error
            return u
        u = self._policy(error, self._v[lanes], self.gain_belief[lanes])
        if self.spec.noise_sd > 0 and rng is not None:
            u = u + self._noise[lanes]
        a = self.a if np.ndim(self.a) == 0 else self.a[lanes]
        self._v[lanes] = ((1.0 - a) * self.gain_belief[lanes])[:, None] * u
        if self.k:
            step = self.dt * self._v[lanes]
            self._disp[(self._dptr - 1) % self.k, lanes] = step  # the newest forward-model move
            self._disp_sum[lanes] = step
        self._keep_command(u, lanes)
        self.intended[lanes] = u
        self.believed_error[lanes] = error
        return u

    def _policy(self, error: np.ndarray, v: np.ndarray, gain: np.ndarray) -> np.ndarray:
        s = self.spec
        dist = np.hypot(error[:, 0], error[:, 1])
        if self._gain is None:
            if s.push == "willett":
                u = self._push(error)
            else:
                u = error * (s.max_speed * np.tanh(dist / s.saturation) / (dist + 1e-12))[:, None]
            if s.damping > 0:  # f_vel(|v|) v / |v| with f_vel(s) = -damping s, damping g <= 0.9
                brake = np.minimum(s.damping, 0.9 / gain)
                u -= brake[:, None] * v
            return u
        u = self._gain[0] * error - self._gain[1] * v
        speed = np.hypot(u[:, 0], u[:, 1])
        return u * np.minimum(1.0, s.max_speed / np.maximum(speed, 1e-12))[:, None]


#: the fewest closed-loop bins of a session from which the user re-aims (a second of bins)
MIN_LEARNING_BINS = 50


class Reaiming:
    """The users' learning across sessions: the aim ``A`` per lane (see the module docstring).

    :meth:`encode` turns intended velocities into the commands the neurons encode,
    :meth:`observe` accumulates the session's regression of decoded velocity on command, and
    :meth:`end_session` moves the aim toward the compensating one.
    """

    def __init__(self, rate: float, n_lanes: int) -> None:
        self.rate = rate
        self.aim = np.tile(np.eye(2), (n_lanes, 1, 1))
        self.command = np.zeros((n_lanes, 2))
        self._s_ac = np.zeros((n_lanes, 2, 2))
        self._s_cc = np.zeros((n_lanes, 2, 2))
        self._count = np.zeros(n_lanes, dtype=np.int64)

    def new_subject(self, lanes: np.ndarray) -> None:
        """Start new users in ``lanes``: they aim at what they intend."""
        self.aim[lanes] = np.eye(2)
        self._clear(lanes)

    def _clear(self, lanes: np.ndarray) -> None:
        self._s_ac[lanes] = 0.0
        self._s_cc[lanes] = 0.0
        self._count[lanes] = 0

    def end_session(self, lanes: np.ndarray) -> None:
        """Re-aim the users of ``lanes`` from the session just played: ``A <- (1-eta) A + eta s G^-1``.

        Lanes with fewer than ``MIN_LEARNING_BINS`` closed-loop bins, or whose map ``G`` is
        singular, keep their aim.
        """
        for lane in lanes.tolist():
            s_cc = self._s_cc[lane]
            if self._count[lane] >= MIN_LEARNING_BINS and abs(np.linalg.det(s_cc)) > 1e-12:
                g = self._s_ac[lane] @ np.linalg.inv(s_cc)
                det = np.linalg.det(g)
                if abs(det) > 1e-9:
                    target = np.sqrt(abs(det)) * np.linalg.inv(g)
                    self.aim[lane] = (1.0 - self.rate) * self.aim[lane] + self.rate * target
        self._clear(lanes)

    def encode(self, u: np.ndarray, lanes: np.ndarray | None = None) -> np.ndarray:
        """Return the commands ``A u`` (for ``lanes`` only if given) and keep them."""
        aim = self.aim if lanes is None else self.aim[lanes]
        c = np.einsum("nij,nj->ni", aim, u)
        if lanes is None:
            self.command = c
        else:
            self.command[lanes] = c
        return c

    def observe(self, decoded: np.ndarray, closed: np.ndarray) -> None:
        """Add a bin's decoded velocities and the commands behind them, in ``closed`` lanes."""
        w = closed.astype(np.float64)[:, None, None]
        c = self.command
        self._s_ac += w * decoded[:, :, None] * c[:, None, :]
        self._s_cc += w * c[:, :, None] * c[:, None, :]
        self._count += closed
