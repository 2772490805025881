"""The closed loop shared by the single and the vector BCI environments, over a lane axis.

One bin of ``dt`` seconds, in every lane at once:

1. the decoder's velocity ``a_t`` (the action, clipped to ``[-v_max, v_max]``; not clipped with
   ``v_max=None``) moves the cursor, ``p_{t+1} = clip(p_t + dt a_t, -workspace, workspace)``
   (not clipped without walls, ``walls=False``: :mod:`.task`);
2. the task scores the bin (inside the target, hold, success, timeout) and, when a trial ends,
   shows the next target;
3. the user (:mod:`~cogmodels.envs.bci.user`) sees the cursor and target ``delay`` late and
   chooses the intended velocity ``u_{t+1}``;
4. the population (:mod:`~cogmodels.envs.bci.encoder`) fires for ``u_{t+1}``: the counts are the
   next observation.

The single environment is one lane, so both run the same code and draw from their generator in
the same order: with ``num_envs=1`` the vector environment reproduces the single one.

**Open-loop calibration blocks** (``reset(options={"calibration": "observation" | "attempt"})``),
as calibration is done in people (Hochberg et al. 2006; Jarosiewicz et al. 2013) and as the
experimenter records it: the decoder's action is ignored and the cursor moves by itself to each
cued target along a minimum-jerk path (Flash & Hogan 1985) of ``cue_time`` seconds (option, 1 s),
``p(t) = p_0 + (g - p_0)(10 s^3 - 15 s^4 + 6 s^5)``, ``s = min(t / cue_time, 1)``, then holds on
it; the experimenter's labels are these cued kinematics (``info["cursor_velocity"]``), never the
user's intention. With ``"observation"`` the user watches and imagines the movement it sees: its
intended velocity is the cued velocity of ``delay`` seconds before (what it has seen so far), plus
its intention noise. With ``"attempt"`` the user attempts the movement with its own controller
toward the target (it still sees the automatic cursor). In both the units fire with their
open-loop code (:meth:`~cogmodels.envs.bci.encoder.Population.in_context`: weaker modulation,
turned preferred directions, shifted baselines), and the user's forward model does not learn
from the automatic cursor.

**A white-noise block** (``reset(options={"calibration": "white_noise", "velocity_sd": 1.0})``),
Wilson et al. (2023)'s simulated day-0 calibration (``simulate_OpenLoopRecalibration``: velocities
``x_t ~ N(0, I)`` encoded by the closed-loop tuning, no user): in every bin the user's intended
velocity is a fresh draw ``x_t ~ N(0, velocity_sd^2 I)`` (widths/s, plus its intention noise), the
units fire with their **closed-loop** code, and the cursor follows the intention as in an
idealised ``"intention"`` block, ignoring the decoder; the labels are the intended velocities.
An idealisation, like the ``"intention"`` block: no user intends white noise.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from cogmodels.envs.bci.drift import MAX_DAY, DriftModel, NeuralTrajectory, check_day, make_drift
from cogmodels.envs.bci.encoder import (
    EncoderArrays,
    PoissonCounter,
    PopulationSpec,
    additive_counts,
    gaussian_counts,
    wilson_noise_sd,
)
from cogmodels.envs.bci.error_signal import ErrorChannel, ErrorSignalSpec, make_error_signal
from cogmodels.envs.bci.session_drift import SessionDrift, SessionProcess, make_session_drift
from cogmodels.envs.bci.task import MAX_TIMEOUT, TargetSchedule, TaskSpec
from cogmodels.envs.bci.user import USER_MODELS, WILSON_USER, Reaiming, User, UserSpec
from cogmodels.validation import check_bool, check_choice, check_int, check_number, describe

__all__ = ["MAX_DAYS_PER_SESSION", "MAX_V", "BCIConfig", "ClosedLoop", "config_signature",
           "make_config"]

#: the open-loop calibration paradigms (``reset(options={"calibration": ...})``)
CALIBRATION_PARADIGMS = ("observation", "attempt", "white_noise")
#: the default duration of an automatic movement to a cued target (s)
CUE_TIME = 1.0

#: the largest SD per axis of a white-noise block's intended velocity (widths/s)
MAX_VELOCITY_SD = 100.0

#: the largest bound of the decoded velocity (workspace widths/s)
MAX_V = 1e3
#: the most days one session may move a subject's drift on
MAX_DAYS_PER_SESSION = 1_000

#: what a completed trial reports (vector info keys, masked by ``trial_completed``)
RESULT_KEYS = ("success", "timed_out", "time_to_target", "dial_in_time", "trial_time",
               "path_length", "distance", "path_efficiency", "n_entries")


@dataclass(frozen=True)
class BCIConfig:
    """Validated static configuration of the closed loop."""

    task: TaskSpec
    population: PopulationSpec
    user: UserSpec
    drift: DriftModel
    v_max: float | None
    days_per_session: int
    error_signal: ErrorSignalSpec | None
    session_drift: tuple[SessionProcess, ...] = ()

    @property
    def noise_sd(self) -> float:
        """The additive channels' noise SD (counts per bin).

        The population's ``noise_sd``, or Wilson et al.'s signal-to-noise scale for this
        population, bin and user's top push (:func:`~cogmodels.envs.bci.encoder.wilson_noise_sd`).
        """
        pop = self.population
        return (pop.noise_sd if pop.noise_sd is not None
                else wilson_noise_sd(pop, self.task.dt, self.user.top_speed))

    @property
    def speed_bound(self) -> float:
        """The bound of each velocity component: ``v_max``, or inf without a speed limit."""
        return float(np.inf) if self.v_max is None else self.v_max

    def clip_velocity(self, action: np.ndarray) -> np.ndarray:
        """Return the decoded velocity as it moves the cursor, within ``[-v_max, v_max]``."""
        if self.v_max is None:
            return np.array(action)
        return np.minimum(np.maximum(action, -self.v_max), self.v_max)

    def clip_position(self, position: np.ndarray) -> np.ndarray:
        """Return the cursor ``position`` stopped at the walls (unchanged without walls)."""
        if not self.task.walls:
            return position
        ws = self.task.workspace
        return np.minimum(np.maximum(position, -ws), ws)


#: keyword overrides of the :class:`TaskSpec` (its :meth:`TaskSpec.create` arguments)
TASK_OVERRIDES = ("n_trials", "dt", "target_distance", "target_radius", "hold_time", "timeout",
                  "return_to_center", "workspace", "grid_size", "selection", "click_rate",
                  "false_click_rate", "walls", "target_draw")
#: keyword overrides of the :class:`PopulationSpec`: environment name -> field
POPULATION_OVERRIDES = {"n_units": "n_units", "tuning": "tuning", "baseline_rate": "baseline",
                        "modulation_depth": "depth", "noise": "noise", "noise_sd": "noise_sd",
                        "observation_gain": "observation_gain",
                        "observation_rotation": "observation_rotation",
                        "observation_offset": "observation_offset"}


def make_config(
    *,
    task: str | TaskSpec = "center_out",
    population: PopulationSpec | None = None,
    user: str | UserSpec = "feedback",
    drift: Any = "none",
    n_trials: int | None = None,
    dt: float | None = None,
    target_distance: float | None = None,
    target_radius: float | tuple[float, float] | None = None,
    hold_time: float | None = None,
    timeout: float | None = None,
    return_to_center: bool | None = None,
    workspace: float | None = None,
    grid_size: int | None = None,
    selection: str | None = None,
    click_rate: float | None = None,
    false_click_rate: float | None = None,
    walls: bool | None = None,
    target_draw: str | None = None,
    n_units: int | None = None,
    tuning: str | None = None,
    baseline_rate: float | tuple[float, float] | None = None,
    modulation_depth: float | tuple[float, float] | None = None,
    noise: str | None = None,
    noise_sd: float | None = None,
    observation_gain: float | None = None,
    observation_rotation: float | None = None,
    observation_offset: float | None = None,
    v_max: float | None = 1.0,
    days_per_session: int = 0,
    error_signal: Any = None,
    error_interval: float = 0.2,
    session_drift: Any = None,
) -> BCIConfig:
    """Build the closed loop's configuration from the specs and keyword overrides.

    ``task`` is a :class:`TaskSpec` or a task name (``"center_out"``, ``"random_targets"``,
    ``"grid"``),
    ``population`` a :class:`PopulationSpec` (None: the defaults), ``user`` a :class:`UserSpec` or
    a model name, ``drift`` a preset name or drift processes, ``session_drift`` None or
    within-session processes (:mod:`~cogmodels.envs.bci.session_drift`). Each override that is not None
    replaces that field of its spec (``baseline_rate`` and ``modulation_depth`` are the
    population's ``baseline`` and ``depth``). ``v_max`` None: no speed limit (with
    ``walls=False``, Wilson et al. 2023's unbounded cursor; :func:`.realism.wilson_task`). Every
    value is checked: ``ValueError`` names the bad argument.

    Returns
    -------
    BCIConfig
        The validated configuration.
    """
    given = locals()
    task_over = {k: given[k] for k in TASK_OVERRIDES if given[k] is not None}
    if isinstance(task, TaskSpec):
        spec = task.replace(**task_over) if task_over else task
    else:
        spec = TaskSpec.create(task=task, **task_over)
    pop_over = {f: given[k] for k, f in POPULATION_OVERRIDES.items() if given[k] is not None}
    if population is None:
        pop = PopulationSpec(**pop_over)
    elif isinstance(population, PopulationSpec):
        pop = replace(population, **pop_over) if pop_over else population
    else:
        raise ValueError(f"population must be a PopulationSpec or None, got {describe(population)}")
    if isinstance(user, str):  # "wilson": their user with their decoder's smoothing
        user = WILSON_USER if user == "wilson" else UserSpec(model=user)
    elif not isinstance(user, UserSpec):
        raise ValueError(
            f"user must be one of {list(USER_MODELS)} or a UserSpec, got {describe(user)}"
        )
    if v_max is not None:
        try:
            v_max = check_number("v_max", v_max, 0.0, MAX_V, low_open=True)
        except ValueError as err:  # name None among the allowed values
            raise ValueError(str(err).replace(", got", " or None (no speed limit), got", 1)) from None
    days_per_session = check_int("days_per_session", days_per_session, 0, MAX_DAYS_PER_SESSION)
    # a preset name, an ErrorSignalSpec, or the older (hit, fa) pair with ``error_interval``
    check_number("error_interval", error_interval, spec.dt, MAX_TIMEOUT)
    return BCIConfig(spec, pop, user, make_drift(drift), v_max, days_per_session,
                     make_error_signal(error_signal, error_interval),
                     make_session_drift(session_drift))


def config_signature(*leading: inspect.Parameter, trailing: tuple[inspect.Parameter, ...] = (),
                     defaults: dict[str, Any] | None = None) -> inspect.Signature:
    """Return the signature of an environment built by :func:`make_config`.

    ``self`` and ``leading`` first, then every argument of :func:`make_config` (keyword only,
    with ``defaults`` replacing some defaults), then ``trailing``: the one signature that the
    single and vector environments share.
    """
    self_ = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    defaults = defaults or {}
    params = [p.replace(default=defaults.get(p.name, p.default))
              for p in inspect.signature(make_config).parameters.values()]
    return inspect.Signature([self_, *leading, *params, *trailing])


def _lane_values(value: Any, n: int, name: str) -> np.ndarray:
    """Return one checked day per lane from an option given once for every lane or once per lane."""
    if not isinstance(value, list | tuple | np.ndarray) or getattr(value, "ndim", 1) == 0:
        return np.full(n, check_day(value, name), dtype=np.int64)
    if len(value) != n:
        raise ValueError(
            f"{name} must be one integer in [0, {MAX_DAY}] or one per copy ({n}), got "
            f"{describe(value)}"
        )
    return np.array([check_day(v, name) for v in value], dtype=np.int64)


class ClosedLoop:
    """The state of ``n`` sessions and the step that advances them all (see the module docstring)."""

    def __init__(self, cfg: BCIConfig, n: int) -> None:
        self.cfg, self.n = cfg, n
        spec, units = cfg.task, cfg.population.n_units
        self.dt = spec.dt
        self.user = User(cfg.user, spec.dt, n)
        self.reaim = Reaiming(cfg.user.session_learning, n) if cfg.user.session_learning else None
        self.encoder = EncoderArrays(n, units, spec.dt, cfg.population)
        pop = cfg.population
        self._covariates = pop.covariates
        self.latent = np.zeros((n, pop.latent_dim if "latent" in pop.covariates else 0))
        self._latent_r = float(np.exp(-spec.dt / pop.latent_tau)) if pop.latent_tau > 0 else 0.0
        self.spikes = PoissonCounter(n, units)
        self.noise_sd = cfg.noise_sd
        self.obs = np.zeros((n, units), dtype=np.float32)
        self._expected = np.empty((n, units), dtype=np.float32)  # a bin's expected counts, all lanes
        self.subjects: list[NeuralTrajectory | None] = [None] * n
        self.day = np.zeros(n, dtype=np.int64)
        self._encoded = np.full(n, -1, dtype=np.int64)  # the day whose population the lane uses
        self.targets = TargetSchedule(spec, n)
        self.cursor = np.zeros((n, 2))
        self.velocity = np.zeros((n, 2))
        self.target = np.zeros((n, 2))
        self.radius = np.zeros(n)
        self.index = np.zeros(n, dtype=np.int64)
        self.trial = np.zeros(n, dtype=np.int64)
        self.steps = np.zeros(n, dtype=np.int64)
        self.hold = np.zeros(n, dtype=np.int64)
        self.inside = np.zeros(n, dtype=bool)
        self.first_entry = np.full(n, -1, dtype=np.int64)
        self.last_entry = np.full(n, -1, dtype=np.int64)
        self.n_entries = np.zeros(n, dtype=np.int64)
        self.path = np.zeros(n)
        self.start = np.zeros((n, 2))
        self.distance = np.zeros(n)
        self.ref_distance = np.zeros(n)  # distance at the last error-signal evaluation
        self.open_loop = np.zeros(n, dtype=bool)  # lanes in an open-loop calibration block
        self.observing = np.zeros(n, dtype=bool)  # ... of the observation paradigm
        self.white = np.zeros(n, dtype=bool)  # ... of a white-noise block
        self.velocity_sd = np.ones(n)  # the white-noise intention's SD per axis (widths/s)
        self._any_white = False
        self.cue_steps = np.ones(n)  # bins of an automatic movement
        self._any_open = False
        self._context = np.zeros(n, dtype=bool)  # whether the lane's encoder is the open-loop one
        self.errors = None if cfg.error_signal is None else ErrorChannel(cfg.error_signal, spec.dt, n)
        self.dwell = np.zeros(n, dtype=np.int64)  # bins on the same grid cell (dwell selection)
        self.dwell_cell = np.full(n, -1, dtype=np.int64)
        self.clicked = np.zeros(n, dtype=bool)  # whether a selection happened this bin
        self.session = SessionDrift(cfg.session_drift, n, units, spec.dt) if cfg.session_drift else None

    # -- sessions ----------------------------------------------------------------------------
    def reset(self, mask: np.ndarray, rng: np.random.Generator, options: dict | None) -> None:
        """Start a new session in the lanes of ``mask``.

        Options: ``new_subject`` (draw new populations), ``day`` (one int or one per lane),
        ``calibration`` (None: closed loop; ``"observation"``, ``"attempt"`` or
        ``"white_noise"``: an open-loop calibration block, see the module docstring),
        ``cue_time`` (s, the automatic movement's duration, in [dt, 3600]), ``velocity_sd``
        (widths/s, a white-noise block's SD per axis, in [0, 100]; default 1) and
        ``decoder_gain`` (the output gain the session applies to the decoder, one number > 0 or
        one per lane: told to Wilson et al.'s user, ``UserSpec(model="wilson")``, as their
        simulator's user knows ``beta``; the other users keep ``forward_gain`` or learn theirs).
        ``calibration_block`` (bool, default False: the session is a calibration block, which the
        day's clock of the within-session drift runs through; open-loop paradigms always are,
        :mod:`.session_drift`).
        Without ``day`` a lane moves on by ``days_per_session``; a new subject starts on day 0.
        """
        options = options or {}
        lanes = mask.nonzero()[0]
        days = None  # checked before anything changes
        if options.get("day") is not None:
            days = _lane_values(options["day"], self.n, 'options["day"]')[lanes]
        paradigm = options.get("calibration")
        if paradigm is not None:
            paradigm = check_choice('options["calibration"]', paradigm, CALIBRATION_PARADIGMS)
        cue = check_number('options["cue_time"]', options.get("cue_time", CUE_TIME), self.dt,
                           MAX_TIMEOUT)
        velocity_sd = check_number('options["velocity_sd"]', options.get("velocity_sd", 1.0), 0.0,
                                   MAX_VELOCITY_SD)
        calibrating = check_bool('options["calibration_block"]',
                                 options.get("calibration_block", False))
        gain = options.get("decoder_gain")
        if gain is not None:
            gain = np.broadcast_to(np.asarray(gain, dtype=np.float64), (self.n,)) \
                if np.ndim(gain) == 0 or np.size(gain) == self.n else None
            if gain is None or not (np.isfinite(gain).all() and (gain > 0).all()):
                raise ValueError(f'options["decoder_gain"] must be a number > 0 or one per copy '
                                 f'({self.n}), got {describe(options["decoder_gain"])}')
        new = np.array([self.subjects[i] is None for i in lanes], dtype=bool)
        if options.get("new_subject"):
            new[:] = True
        if self.reaim is not None:
            self.reaim.end_session(lanes[~new])
            self.reaim.new_subject(lanes[new])
        if new.any():
            seeds = rng.integers(0, 2**63 - 1, size=int(new.sum()))
            for i, seed in zip(lanes[new], seeds.tolist()):
                self.subjects[i] = NeuralTrajectory(self.cfg.population, self.cfg.drift, seed)
                self._encoded[i] = -1
        if days is None:
            days = np.where(new, 0, self.day[lanes] + self.cfg.days_per_session)
        self.day[lanes] = days
        self.open_loop[lanes] = paradigm is not None
        self.observing[lanes] = paradigm == "observation"
        self.white[lanes] = paradigm == "white_noise"
        self.velocity_sd[lanes] = velocity_sd
        self.cue_steps[lanes] = cue / self.dt
        self._any_open = bool(self.open_loop.any())
        self._any_white = bool(self.white.any())
        self.user.adapting[lanes] = paradigm is None
        code = self.open_loop & ~self.white  # a white-noise block fires with the closed-loop code
        stale = (self._encoded[lanes] != days) | (self._context[lanes] != code[lanes])
        for i in lanes[stale]:
            sub, day = self.subjects[i], int(self.day[i])
            pop = sub.open_loop(day) if code[i] else sub.on_day(day)
            self.encoder.set_lane(int(i), pop)
            self._encoded[i], self._context[i] = day, code[i]
        seeds = [self.subjects[i].seed for i in lanes]
        if self.errors is not None:
            self.errors.start_session(lanes, seeds, self.day[lanes])
        if self.session is not None:
            block = self.open_loop[lanes] | calibrating
            self.session.start(lanes, seeds, self.day[lanes].tolist(), new.tolist(),
                               block.tolist())

        self.trial[lanes] = 0
        self.cursor[lanes] = 0.0
        self.velocity[lanes] = 0.0
        self.targets.start(lanes, rng)
        self._show_target(lanes)
        self._start_trial(lanes)
        if gain is not None and self.cfg.user.model == "wilson":
            self.user.set_gain(lanes, gain[lanes])
        self.user.reset(lanes, self.cursor[lanes], self.target[lanes], rng)
        self.spikes.reset(lanes, rng)
        self.encoder.reset_history(lanes)
        u = self.user.start(lanes, rng)
        if self._any_open:
            u = self.user.imagine(lanes[self.observing[lanes]], 0.0)[lanes]
            if self.white[lanes].any():
                u = self._intend_white_noise(lanes[self.white[lanes]], rng)[lanes]
        self.obs[lanes] = self._fire(u, rng, lanes)

    def _intend_white_noise(self, lanes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Users in ``lanes`` (a white-noise block) intend a fresh ``N(0, velocity_sd^2 I)``."""
        v = rng.standard_normal((len(lanes), 2))
        v *= self.velocity_sd[lanes, None]
        return self.user.imagine(lanes, v)

    def _show_target(self, lanes: np.ndarray) -> None:
        tg = self.targets
        self.target[lanes], self.radius[lanes], self.index[lanes] = (
            tg.pos[lanes], tg.radius[lanes], tg.index[lanes])

    def _start_trial(self, lanes: np.ndarray) -> None:
        self.steps[lanes] = 0
        self.hold[lanes] = 0
        self.dwell[lanes] = 0
        self.dwell_cell[lanes] = -1  # a new trial's dwell starts afresh, even on the same cell
        self.inside[lanes] = False
        self.first_entry[lanes] = -1
        self.last_entry[lanes] = -1
        self.n_entries[lanes] = 0
        self.path[lanes] = 0.0
        self.start[lanes] = self.cursor[lanes]
        d = self.target[lanes] - self.cursor[lanes]
        self.distance[lanes] = np.hypot(d[:, 0], d[:, 1])
        self.ref_distance[lanes] = self.distance[lanes]

    def _fire(self, u: np.ndarray, rng: np.random.Generator, lanes: np.ndarray | None = None):
        enc = self.encoder
        if self.reaim is not None:
            u = self.reaim.encode(u, lanes)
        covariates = self._covariate_values(u, rng, lanes) if self._covariates else None
        expected = enc.expected_counts(u, lanes, covariates,
                                       out=self._expected if lanes is None else None)
        if enc.has_history:
            expected = enc.history_factor(expected, lanes)
        if self.session is not None:
            expected = self.session.apply(expected, lanes)
        noise = self.cfg.population.noise
        if noise == "poisson":
            counts = self.spikes.sample(expected, rng, lanes)
        elif noise == "gaussian":
            counts = gaussian_counts(expected, rng)
        else:
            counts = additive_counts(expected, rng, self.noise_sd)
        if enc.has_history:
            enc.record(counts, lanes)
        return counts

    def _covariate_values(self, u: np.ndarray, rng: np.random.Generator,
                          lanes: np.ndarray | None) -> np.ndarray:
        """Return the extra covariates of the bin (speed, cursor position, latent drive), per lane.

        The latent drive is an AR(1) process of unit variance per dimension,
        ``x <- r x + sqrt(1 - r^2) z`` with ``r = exp(-dt / latent_tau)``; a session starts it
        from its stationary distribution.
        """
        parts = []
        for name in self._covariates:
            if name == "speed":
                parts.append(np.hypot(u[:, 0], u[:, 1])[:, None])
            elif name == "position":
                parts.append(self.cursor if lanes is None else self.cursor[lanes])
            else:
                if lanes is None:
                    r = self._latent_r
                    self.latent *= r
                    self.latent += np.sqrt(1.0 - r * r) * rng.standard_normal(self.latent.shape)
                    parts.append(self.latent)
                else:
                    self.latent[lanes] = rng.standard_normal((len(lanes), self.latent.shape[1]))
                    parts.append(self.latent[lanes])
        return np.concatenate(parts, axis=1)

    # -- one bin -----------------------------------------------------------------------------
    def step(
        self, actions: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict | None, dict | None]:
        """Advance every lane one bin.

        Returns ``(reward, terminated, done, results, signal)``: ``done`` marks the lanes whose
        trial ended; ``results`` (None when no trial ended) holds the arrays of
        :data:`RESULT_KEYS` plus ``state``, ``start``, ``completed_target`` and
        ``completed_radius``; ``signal`` (None without an error signal) ``error_signal`` and
        ``movement_error``.
        """
        cfg, spec = self.cfg, self.cfg.task
        a = cfg.clip_velocity(actions)
        if self.reaim is not None:  # the decoder's answer to the command of the last bin
            self.reaim.observe(a, ~self.open_loop)
        if self._any_open:  # the automatic cursor of a calibration block ignores the decoder
            a = np.where(self.open_loop[:, None], self.cued_velocity(self.steps + 1), a)
            if self._any_white:  # ... and in a white-noise block follows the intention
                a[self.white] = self.user.intended[self.white]
        before = self.cursor
        cursor = cfg.clip_position(before + self.dt * a)
        moved = cursor - before
        self.cursor, self.velocity = cursor, a
        self.path += np.hypot(moved[:, 0], moved[:, 1])
        self.steps += 1
        off = cursor - self.target
        dist = np.hypot(off[:, 0], off[:, 1])
        if spec.grid:
            inside = np.maximum(np.abs(off[:, 0]), np.abs(off[:, 1])) <= self.radius
        else:
            inside = dist <= self.radius
        entered = inside > self.inside
        self.inside = inside
        if entered.any():
            self.first_entry = np.where(entered & (self.first_entry < 0), self.steps, self.first_entry)
            self.last_entry = np.where(entered, self.steps, self.last_entry)
            self.n_entries += entered
        self.hold = (self.hold + 1) * inside
        if spec.selects:
            success, wrong = self._select(cursor, inside, rng)
            done = success | wrong | (self.steps >= spec.timeout_steps)
        else:
            success = self.hold > spec.hold_steps  # inside on entry and hold_steps bins after
            done = success | (self.steps >= spec.timeout_steps)
        reward = success.astype(np.float64)
        signal = None
        if cfg.error_signal is not None:
            signal = self._error_signal(dist, done, rng)
            reward += signal["error_signal"]
        results = None
        if done.any():
            results = self._results(success, done)
            lanes = done.nonzero()[0]
            self.trial[lanes] += 1
            self.user.new_trial(lanes)
            self.targets.advance(lanes, self.trial[lanes], rng)
            self._show_target(lanes)
            if spec.recenter:
                self.cursor[lanes] = 0.0
            self._start_trial(lanes)
        terminated = self.trial >= spec.n_trials
        if self.session is not None:
            self.session.advance()
        u = self.user.act(self.cursor, self.target, rng, self.velocity)
        if self._any_open:  # observers imagine the cued movement they have seen so far
            watch = self.observing.nonzero()[0]
            u = self.user.imagine(watch, self.cued_velocity(self.steps - self.user.k)[watch])
            if self._any_white:
                u = self._intend_white_noise(self.white.nonzero()[0], rng)
        self.obs = self._fire(u, rng)
        return reward, terminated, done, results, signal

    def _select(self, cursor: np.ndarray, inside: np.ndarray,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Return the lanes that selected the target and those that selected something else.

        Holding: a dwell of ``hold_steps`` further bins on one grid cell selects it. Clicking: a
        click (module :mod:`.task`) selects what is under the cursor; the user intends one while
        its estimate of the cursor is on the target and it has seen that target (``delay``
        after the trial started).
        """
        spec = self.cfg.task
        if spec.selection == "hold":
            cell = spec.cell_of(cursor)
            self.dwell = np.where(cell == self.dwell_cell, self.dwell + 1, 1)
            self.dwell_cell = cell
            selected = self.dwell > spec.hold_steps
        else:
            e = self.user.believed_error
            if spec.grid:
                believed = np.maximum(np.abs(e[:, 0]), np.abs(e[:, 1])) <= self.radius
            else:
                believed = np.hypot(e[:, 0], e[:, 1]) <= self.radius
            believed &= self.steps > self.user.k  # it has seen this trial's target
            hazard = np.where(believed, spec.click_rate, spec.false_click_rate)
            selected = rng.random(self.n) < -np.expm1(-hazard * self.dt)
        self.clicked = selected
        return selected & inside, selected & ~inside

    def cued_velocity(self, bins: np.ndarray) -> np.ndarray:
        """Return the automatic cursor's velocity ``(n, 2)`` in bin ``bins`` of each lane's trial.

        The minimum-jerk path from the trial's start to its target (module docstring) moved on by
        one bin, divided by ``dt``; 0 before the trial's first bin and after the movement ended.
        """
        def phase(b: np.ndarray) -> np.ndarray:
            s = np.clip(b / self.cue_steps, 0.0, 1.0)
            return s**3 * (10.0 - 15.0 * s + 6.0 * s * s)

        b = np.asarray(bins, dtype=np.float64)
        moved = phase(b) - phase(b - 1.0)
        return (self.target - self.start) * (moved / self.dt)[:, None]

    def _error_signal(
        self, dist: np.ndarray, done: np.ndarray, rng: np.random.Generator
    ) -> dict[str, np.ndarray]:
        """Return the error signal due in this bin (:class:`.error_signal.ErrorChannel`).

        Scores this bin's events (window evaluations of the progress since ``ref_distance``,
        target entries and exits, trial outcomes) and returns the evaluations due now, ``latency``
        bins after their events: ``error_signal`` (-1, 0, +1) and ``movement_error``.
        """
        success = self.hold > self.cfg.task.hold_steps
        out = self.errors.step(self.steps, dist, self.ref_distance, self.inside, success, done, rng)
        self.ref_distance = np.where(out.pop("window"), dist, self.ref_distance)
        return out

    def _results(self, success: np.ndarray, done: np.ndarray) -> dict[str, np.ndarray]:
        dt = self.dt
        ttt = np.where(success, self.last_entry * dt, np.nan)
        path = self.path.copy()
        net = self.cursor - self.start
        with np.errstate(divide="ignore", invalid="ignore"):
            efficiency = np.where(done & (path > 0), np.hypot(net[:, 0], net[:, 1]) / path, np.nan)
        out = {
            "state": self.index.copy(),
            "success": success,
            "timed_out": done & ~success & ~self.clicked,
            "time_to_target": ttt,
            "dial_in_time": np.where(success, (self.last_entry - self.first_entry) * dt, np.nan),
            "trial_time": np.where(done, self.steps * dt, np.nan),
            "path_length": np.where(done, path, np.nan),
            "distance": np.where(done, self.distance, np.nan),
            "path_efficiency": efficiency,
            "n_entries": np.where(done, self.n_entries, 0),
            "start": self.start.copy(),
            "completed_target": self.target.copy(),
            "completed_radius": self.radius.copy(),
        }
        if self.cfg.task.selects:
            out["wrong_selection"] = done & self.clicked & ~success
        return out

    def empty_results(self) -> dict[str, np.ndarray]:
        """Results of a bin in which no trial ended (what :meth:`_results` gives with no lane done)."""
        no = np.zeros(self.n, dtype=bool)
        return self._results(no, no)

    def latents(self) -> dict[str, np.ndarray]:
        """Return what the experimenter knows now: cursor, target, intended velocity, ..."""
        return {
            "cursor": self.cursor.copy(),
            "cursor_velocity": self.velocity.copy(),
            "target": self.target.copy(),
            "target_radius": self.radius.copy(),
            "intended_velocity": self.user.intended.copy(),
            "trial": self.trial.copy(),
            "in_target": self.inside.copy(),
            "day": self.day.copy(),
        }
