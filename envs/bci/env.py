"""The closed-loop cursor BCI environment: the decoder is the agent."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from cogmodels.envs.bci.encoder import MAX_COUNT
from cogmodels.envs.bci.loop import BCIConfig, ClosedLoop, config_signature, make_config
from cogmodels.envs.core import TaskEnv, named_arguments, named_errors

__all__ = ["CursorBCI", "CursorBCIRandomTargets", "spaces_of", "trial_result"]


def spaces_of(cfg: BCIConfig) -> tuple[spaces.Box, spaces.Box]:
    """Observation space (spike counts) and action space (decoded velocity) of one session."""
    low = 0.0 if cfg.population.noise == "poisson" else -MAX_COUNT
    obs = spaces.Box(low, MAX_COUNT, shape=(cfg.population.n_units,), dtype=np.float32)
    act = spaces.Box(-cfg.speed_bound, cfg.speed_bound, shape=(2,), dtype=np.float32)
    return obs, act


def trial_result(cfg: BCIConfig, info: dict[str, Any], lane: int, day: int) -> dict[str, Any]:
    """Return the trial-table fields of the trial that lane ``lane`` just completed.

    ``info`` is the ``results`` of :meth:`ClosedLoop.step`.
    """
    index = int(info["state"][lane])
    target = info["completed_target"][lane]
    start = info["start"][lane]
    radius = float(info["completed_radius"][lane])
    distance = float(info["distance"][lane])
    row = {
        "state": float("nan") if index < 0 else index,
        "day": day,
        "target_x": float(target[0]),
        "target_y": float(target[1]),
        "target_radius": radius,
        "start_x": float(start[0]),
        "start_y": float(start[1]),
        "distance": distance,
        "index_of_difficulty": float(np.log2(1.0 + distance / (2.0 * radius))),
        "is_center": cfg.task.center_out and index == cfg.task.n_directions,
        "success": bool(info["success"][lane]),
        "timed_out": bool(info["timed_out"][lane]),
        "time_to_target": float(info["time_to_target"][lane]),
        "dial_in_time": float(info["dial_in_time"][lane]),
        "trial_time": float(info["trial_time"][lane]),
        "path_length": float(info["path_length"][lane]),
        "path_efficiency": float(info["path_efficiency"][lane]),
        "n_entries": int(info["n_entries"][lane]),
    }
    if cfg.task.selects:
        row["wrong_selection"] = bool(info["wrong_selection"][lane])
        row["n_targets"] = cfg.task.n_targets
    return row


class CursorBCI(TaskEnv):
    """Closed-loop 2-D cursor control through a brain-computer interface; the agent is the decoder.

    ## Description
    A simulated user tries to move a cursor onto targets; its intended velocity drives a population
    of velocity-tuned units, and the agent, which sees only their binned spike counts, decodes a
    cursor velocity. Each step is one bin of ``dt`` seconds (20 ms):

    1. the action ``a_t`` moves the cursor, ``p_{t+1} = clip(p_t + dt a_t)`` (workspace
       ``[-workspace, workspace]^2``, widths of 1 by default; no clip with ``walls=False``);
    2. the task scores the bin: a trial succeeds once the cursor has stayed ``hold_time`` inside the
       target and fails after ``timeout``; the next target then appears;
    3. the user, who sees cursor and target ``delay`` (200 ms) late and predicts the present cursor
       with an internal forward model of its own recent commands, picks its intended velocity
       ``u_{t+1}`` — Willett et al. (2019)'s saturating push toward the target, or an LQR
       controller (``user="lqr"``; see :mod:`cogmodels.envs.bci.user`);
    4. ``n_units`` (192, a Utah array) cosine-tuned (``b + w . u``) or log-linear
       (``b exp(w . u / b)``) units fire Poisson counts (or Gaussian ones with the same mean and
       variance) for ``u_{t+1}``: the next observation.

    Tasks: ``"grid"`` (a ``grid_size`` x ``grid_size`` grid of cells tiling the workspace, one
    cued at a time, any of them selectable: Pandarinath et al. 2017's grid task, scored by the
    achieved bitrate), ``"center_out"`` (8 targets at ``target_distance``, random order in each cycle of 8,
    optionally with ``return_to_center`` trials; otherwise the cursor is re-centred at each trial
    start) and ``"random_targets"`` (Fitts-style: random positions and radii). The population
    drifts from day to day (``drift``: a preset ``"none"``, ``"stable"``, ``"typical"`` —
    consecutive-day tuning-subspace similarity ≈ 0.91 as in Wilson et al. 2023 — or
    ``"severe"``, or a list of processes from :mod:`cogmodels.envs.bci.drift`). A perfect decoder
    passes the intended velocity through: ``action = info["intended_velocity"]`` of the previous
    step (or of the reset), which is the velocity encoded in the current observation.

    ## Action Space
    ``Box(-v_max, v_max, (2,), float32)``: the decoded cursor velocity (workspace widths/s). Any
    two real numbers (a list, a tuple or an integer or float array of shape ``(2,)``) are
    accepted and clipped to the bounds, as a cursor's speed limit would (``v_max=None``:
    ``Box(-inf, inf)``, no speed limit); a wrong shape, a
    non-finite value, booleans, strings or other objects raise ``ValueError``.

    ## Observation Space
    ``Box(0, 255, (n_units,), float32)``: the spike counts of the bin (capped at 255, which a
    count with rates below 1 kHz never reaches in practice; Gaussian or additive noise:
    ``Box(-255, 255)``).
    Nothing else: the target is never observed.

    ## Rewards
    1 on the step that completes a successful trial, else 0. With ``error_signal=(hit, fa)`` a
    simulated error-potential detector adds ±1 every ``error_interval`` seconds within a trial:
    the movement counts as an error when the cursor's distance to the target has not decreased
    since the last evaluation; an error gives -1 with probability ``hit`` (else +1), a correct
    movement gives -1 with probability ``fa`` (else +1) (cf. Chavarriaga et al. 2014; Iturrate
    et al. 2015).

    ## Starting State
    The cursor at the centre, the first target shown; the user at rest. A subject (its population
    and drift trajectory) is drawn at the first reset and at every ``reset(seed=...)``, or with
    ``options={"new_subject": True}``; other resets keep it. ``options={"day": d}`` puts the
    session on day ``d`` of the subject's drift; without it each reset moves on by
    ``days_per_session`` days (0: the same day).

    ## Episode End
    One episode is one session: ``terminated`` once ``n_trials`` trials (target attempts) are done.
    ``truncated`` is always False.

    ## Information
    Every step: ``cursor``, ``cursor_velocity`` (the applied action), ``target``,
    ``target_radius``, ``intended_velocity`` (encoded in the returned observation: the label for
    supervised recalibration), ``trial`` (index of the current trial), ``in_target`` and ``day``
    (plus ``error_signal`` and ``movement_error`` with an error signal). On the step that ends a
    trial, ``trial_result``: the trial-table row (see :meth:`trial_row`). Never the observation.

    ## Arguments
    All keyword-only, one signature for the single and the vector environments (that of
    :func:`~cogmodels.envs.bci.loop.make_config`): the frozen specs, each field of which a keyword
    override replaces (None: the spec's value).

    - ``task``: a :class:`~cogmodels.envs.bci.task.TaskSpec` (``TaskSpec.create(...)``) or a task
      name, "center_out" | "random_targets" | "grid". Overrides: ``n_trials`` (int in [1, 10^6], 64):
      targets per session; ``dt`` (0.02 s, in [0.01, 0.05]); ``target_distance`` (0.35);
      ``target_radius`` (float or (low, high), None → 0.075 centre-out, (0.04, 0.1) random
      targets; centre-out targets must fit in the workspace, random ones at most
      ``(workspace - 0.05) / 3``); ``hold_time`` (0.5 s, in [0, 3600]); ``timeout`` (10 s, in
      (0, 3600], longer than ``hold_time``); ``return_to_center`` (False); ``workspace`` (0.5,
      in (0, 100]); ``grid_size`` (6, in [2, 100]); ``selection`` ("hold" | "click": a dwell
      of ``hold_time`` or a click selects; see :mod:`cogmodels.envs.bci.task`); ``click_rate``
      (5 per s, the detection hazard of an intended click) and ``false_click_rate`` (0.05 per
      s). With the grid or clicks the trial rows also hold ``wrong_selection`` (an incorrect
      selection ended the trial) and ``n_targets``. ``walls`` (True): the cursor stops at the
      workspace's edge; False (not with the grid): its position is unbounded, as in Wilson et
      al. (2023)'s simulator, whose task
      (:func:`~cogmodels.envs.bci.realism.wilson_task`: random targets, no walls, no speed
      limit) is ``CursorBCI(**wilson_task())``. ``target_draw`` ("spaced" | "uniform", random
      targets only): each target inside the workspace and 0.05 from the last, or Wilson et al.'s
      centres uniform in the whole square with no gap.
    - ``population``: a :class:`~cogmodels.envs.bci.encoder.PopulationSpec` or None. Overrides:
      ``n_units`` (int in [1, 10^4], 192), ``tuning`` ("cosine" | "log_linear" | "mixed"),
      ``baseline_rate`` ((5, 30) Hz, within (0, 1000]), ``modulation_depth`` ((2, 10) Hz per
      width/s, within [0, 10^4]), ``noise`` ("poisson" | "gaussian" | "additive": Wilson et
      al. (2023)'s fixed-SD channels), ``noise_sd`` (None: Wilson et al.'s signal-to-noise
      scale; counts per bin in [0, 255], "additive" only), and the open-loop code of
      calibration blocks, ``observation_gain`` (0.6, in [0, 10]), ``observation_rotation``
      (20 degrees, in [0, 180]) and ``observation_offset`` (2 Hz, in [0, 1000]). The spec also
      holds the encoder realism, all off by default: untuned units, speed and position terms, a
      shared latent drive (intrinsic manifold), spike history and threshold-crossing channels
      (see :class:`~cogmodels.envs.bci.encoder.PopulationSpec`).
    - ``user`` ("feedback" | "lqr" | :class:`~cogmodels.envs.bci.user.UserSpec` for delay, speed,
      damping, intention noise, forward model and its gain learning, and re-aiming across
      sessions (``session_learning``);
      :data:`~cogmodels.envs.bci.user.WILLETT_USER` switches Willett et al.'s pieces on).
    - ``drift`` (preset name — "none", "stable", "stable_implant", "typical", "severe" — Drift
      process(es) or None; "none"), ``days_per_session`` (int in [0, 1000], 0).
    - ``session_drift`` (None; a :class:`~cogmodels.envs.bci.session_drift.BaselineShift`, a
      :class:`~cogmodels.envs.bci.session_drift.TransientLoss` or a list of them): nonstationarity
      within a session — baselines that walk (Perge et al. 2013: 84 % of units, 3.8 ± 8.7 Hz)
      and channels that are lost and recover — drawn per subject and day, the same whatever the
      decoder does.
    - ``v_max`` (float in (0, 1000] or None, 1.0): bound of the action (widths/s); None: no
      speed limit.
    - ``error_signal`` ((hit_rate, false_alarm_rate) or None), ``error_interval`` (0.2 s, in
      [dt, 3600]).

    ``reset(options={"calibration": "observation" | "attempt", "cue_time": 1.0})`` starts an
    open-loop calibration block instead of a closed-loop session (see
    :mod:`cogmodels.envs.bci.loop`): the cursor moves by itself to the cued targets and ignores
    the action; ``info["cursor_velocity"]`` is the cued label.

    Bad arguments raise ``ValueError`` when the environment is built; stepping after the session
    ended raises ``SessionEndedError``.

    ## References
    - Pandarinath et al. (2017). High performance communication by people with paralysis using
      an intracortical brain-computer interface. eLife 6:e18554.
    - Willett et al. (2019). Principled BCI decoder design and parameter selection using a feedback
      control model. Sci Rep 9:8881.
    - Wilson et al. (2023). Long-term unsupervised recalibration of cursor BCIs. bioRxiv
      2023.02.03.527022.
    - Gilja et al. (2012). A high-performance neural prosthesis enabled by control algorithm
      design. Nat Neurosci 15:1752–1757.
    - Jarosiewicz et al. (2013). Advantages of closed-loop calibration in intracortical
      brain-computer interfaces for people with tetraplegia. J Neural Eng 10:046012.
    - Tkach, Reimer & Hatsopoulos (2007). Congruent activity during action and action
      observation in motor cortex. J Neurosci 27:13241–13250.
    - Flash & Hogan (1985). The coordination of arm movements. J Neurosci 5:1688–1703.
    - Nuyujukian et al. (2014). Performance sustaining intracortical neural prostheses.
      J Neural Eng 11:066003.
    - Degenhart et al. (2020). Stabilization of a brain–computer interface via the alignment of
      low-dimensional spaces of neural activity. Nat Biomed Eng 4:672–685.
    - Perge et al. (2013). Intra-day signal instabilities affect decoding performance in an
      intracortical neural interface system. J Neural Eng 10:036004.
    - Georgopoulos et al. (1986). Neuronal population coding of movement direction. Science.
    - Truccolo et al. (2005). A point process framework for relating neural spiking activity to
      spiking history, neural ensemble, and extrinsic covariate effects. J Neurophysiol.
    - Iturrate et al. (2015). Teaching brain-machine interfaces as an alternative paradigm to
      neuroprosthetics control. Sci Rep 5:13893.
    """

    metadata: dict[str, Any] = {"render_modes": []}
    fixed_length = False  # a trial lasts until success or timeout
    steps_per_trial = None

    @named_arguments
    def __init__(self, **config: Any) -> None:
        self.config = make_config(**config)
        self.n_trials = self.config.task.n_trials
        self.observation_space, self.action_space = spaces_of(self.config)
        self.reward_bounds = (-1.0, 2.0) if self.config.error_signal else (0.0, 1.0)
        self._loop = ClosedLoop(self.config, 1)
        self._lane = np.ones(1, dtype=bool)

    @property
    def day(self) -> int:
        """The day of the subject's drift that the current session is on."""
        return int(self._loop.day[0])

    def population(self):
        """Return the current subject's population on the current day (a copy)."""
        sub = self._loop.subjects[0]
        if sub is None:
            raise RuntimeError("call reset() first")
        return sub.on_day(self.day)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start a session; a ``seed`` also draws a new subject (``options["new_subject"]``).

        Returns the observation and an ``info`` with the cursor, target, intended velocity and day.
        """
        super().reset(seed=seed)
        if seed is not None:
            options = {**(options or {}), "new_subject": True}
        with named_errors(f"{type(self).__name__}.reset"):
            self._loop.reset(self._lane, self.np_random, options)
        self._done = False
        return self._loop.obs[0].copy(), self._info()

    def step(self, action):
        """Advance the closed loop by one bin with decoded velocity ``action``.

        ``info`` holds the loop's state, ``trial_result`` when a trial ended and the error
        signal when one fired.
        """
        a = self._checked_action(action)
        reward, terminated, _, results, signal = self._loop.step(a[None], self.np_random)
        info = self._info()
        if results is not None:
            info["trial_result"] = trial_result(self.config, results, 0, info["day"])
        if signal is not None:
            info["error_signal"] = int(signal["error_signal"][0])
            info["movement_error"] = bool(signal["movement_error"][0])
        self._done = done = bool(terminated[0])
        return self._loop.obs[0].copy(), float(reward[0]), done, False, info

    def _info(self) -> dict[str, Any]:
        lp = self._loop
        return {
            "cursor": tuple(lp.cursor[0].tolist()),
            "cursor_velocity": tuple(lp.velocity[0].tolist()),
            "target": tuple(lp.target[0].tolist()),
            "target_radius": float(lp.radius[0]),
            "intended_velocity": tuple(lp.user.intended[0].tolist()),
            "trial": int(lp.trial[0]),
            "in_target": bool(lp.inside[0]),
            "day": int(lp.day[0]),
        }

    def trial_row(self, action: Any, reward: float, info: dict) -> dict | None:
        """Return the trial that this step completed, or ``None`` on other steps.

        The row holds ``state`` (target direction 0-7, 8 for the centre, NaN for random targets),
        ``choice`` (NaN: no discrete choice), ``reward`` (1 on success), ``rt`` (time to target, s),
        then ``day``, target and start positions, ``distance``, ``index_of_difficulty``
        (log2(1 + D / 2r)), ``is_center``, ``success``, ``timed_out``, ``time_to_target``,
        ``dial_in_time``, ``trial_time``, ``path_length``, ``path_efficiency`` and ``n_entries``.
        """
        result = info.get("trial_result")
        if result is None:
            return None
        row = {"state": result["state"], "choice": float("nan"),
               "reward": 1.0 if result["success"] else 0.0, "rt": result["time_to_target"]}
        row.update({k: v for k, v in result.items() if k != "state"})
        return row

    def trial_context(self) -> dict[str, Any]:
        """Return the target: ``state`` (index; NaN for random targets), position, radius."""
        lp = self._loop
        index = int(lp.index[0])
        return {"state": float("nan") if index < 0 else index,
                "target_x": float(lp.target[0, 0]), "target_y": float(lp.target[0, 1]),
                "target_radius": float(lp.radius[0])}


CursorBCI.__init__.__signature__ = config_signature()


class CursorBCIRandomTargets(CursorBCI):  # noqa: D101 (its __doc__ is assigned below)
    # docstring: below (CursorBCI's sections)

    def __init__(self, **config: Any) -> None:
        super().__init__(**{"task": "random_targets", **config})


CursorBCIRandomTargets.__init__.__signature__ = config_signature(
    defaults={"task": "random_targets"})


CursorBCIRandomTargets.__doc__ = (
    "Closed-loop cursor BCI with random (Fitts-style) targets: :class:`CursorBCI` with "
    '``task="random_targets"`` by default.\n' + CursorBCI.__doc__.split("\n", 1)[1]
)
