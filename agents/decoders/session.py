"""Calibration blocks and closed-loop sessions of a decoder on ``CursorBCIVector``.

:func:`calibrate` runs a calibration block and fits the decoder on it: an open-loop block as
calibration is done (``paradigm="observation"`` or ``"attempt"``: the cursor moves by itself to
cued targets, the labels are the cued kinematics and the units fire with their open-loop code;
Hochberg et al. 2006, Gilja et al. 2012, Jarosiewicz et al. 2013), or the idealised block of
``paradigm="intention"`` (the cursor follows the user's intention, which is the label, and the
code is the closed-loop one). :func:`closed_loop_block` records a session under a decoder for a
closed-loop recalibration (:func:`refit_decoder`, ReFIT); :func:`run_closed_loop`
lets the decoder drive the cursor, optionally adapting it every bin, and returns the trial table
(one row per completed trial per lane: ``subject`` (the lane), ``day``, ``trial``, ``time``
(the seconds into the run at which the trial ended), ``state`` (target index), the outcome
columns of :meth:`cogmodels.envs.bci.CursorBCI.trial_row` (``success``, ``time_to_target``,
``path_efficiency``, ...), ``target_radius``, ``index_of_difficulty`` and ``reward``), ready for
:func:`cogmodels.envs.bci.metrics.summarize`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cogmodels.agents.decoders.assist import Assist
from cogmodels.agents.decoders.base import Decoder
from cogmodels.agents.decoders.bias import BiasCorrection
from cogmodels.agents.decoders.clda import _Adaptation
from cogmodels.agents.decoders.closed_loop import (
    INTENTIONS,
    ClosedLoopAgent,
    trial_chunk,
    trial_table,
)
from cogmodels.agents.decoders.recalibration import refit
from cogmodels.envs.bci.loop import CALIBRATION_PARADIGMS, CUE_TIME
from cogmodels.envs.bci.vector import CursorBCIVector
from cogmodels.rollout import rollout
from cogmodels.validation import check_bool, check_number

__all__ = ["INTENTIONS", "OBSERVATION_BLOCK", "PARADIGMS", "SessionRecord", "calibrate", "calibration_block",
           "closed_loop_block", "refit_decoder", "run_closed_loop", "trial_chunk", "trial_table"]

#: calibration blocks: idealised (labels = the user's intention, closed-loop code) or open loop
PARADIGMS = ("intention", *CALIBRATION_PARADIGMS)
#: calibration as it is done (Gilja et al. 2012; Jarosiewicz et al. 2013): an open-loop
#: observation block, its counts aligned to the cued kinematics by the simulated user's 0.2 s delay
#: (the offline-optimal lag); :func:`calibration_block`'s keyword arguments
OBSERVATION_BLOCK: dict[str, Any] = {"paradigm": "observation", "lag": 0.2}


def _check_env(env: Any) -> CursorBCIVector:
    env = getattr(env, "unwrapped", env)
    if not isinstance(env, CursorBCIVector):
        raise TypeError(f"env must be a CursorBCIVector, got {type(env).__name__}")
    return env


def _check_dt(env: CursorBCIVector, decoder: Any) -> None:
    """Refuse a decoder whose bin width ``dt`` (its physical velocity model's) is not the environment's."""
    dt = getattr(decoder, "dt", None)
    if isinstance(dt, float) and np.isfinite(dt) and not np.isclose(dt, env.config.task.dt, rtol=1e-9, atol=0.0):
        raise ValueError(f"dt: the decoder's bin width is {dt} s but the environment's is "
                         f"{env.config.task.dt} s; build it with dt=env.config.task.dt")


def _n_bins(env: CursorBCIVector, seconds: Any) -> int:
    try:
        s = float(seconds)
    except (TypeError, ValueError):
        s = np.nan
    dt = env.config.task.dt
    if not (np.isfinite(s) and s >= dt):
        raise ValueError(f"seconds must be a duration >= one bin ({dt} s), got {seconds!r}")
    return int(round(s / dt))


def _rotate(v: np.ndarray, degrees: float) -> np.ndarray:
    a = np.deg2rad(degrees)
    c, s = np.cos(a), np.sin(a)
    return np.stack([c * v[..., 0] - s * v[..., 1], s * v[..., 0] + c * v[..., 1]], axis=-1)


def calibration_block(env: Any, seconds: float = 60.0, *, day: Any = None,
                      label_rotation: float = 0.0, paradigm: str = "intention",
                      cue_time: float = CUE_TIME, lag: float = 0.0,
                      velocity_sd: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Record a calibration block from a new session; return counts and velocity labels.

    The block lasts ``seconds`` in every lane, however many trials the environment's sessions
    hold (``n_trials``): a lane whose session ends inside the block starts a new session at once,
    on the block's day and in its paradigm, as an experimenter restarts the target sequence until
    the block's time is up. The environment's own autoreset is not relied on (it would move the
    lane on by ``days_per_session`` days, into closed loop, or not at all with
    ``autoreset_mode="disabled"``); the observation that ended a session is not paired with a
    label (no bin of the block follows it).

    Parameters
    ----------
    env : CursorBCIVector
        The environment (each lane a subject).
    seconds : float
        Duration of the block (at least one bin, ``dt``).
    day : int or sequence of int, optional
        The sessions' day (one int or one per lane; the lanes' current days when None).
    label_rotation : float
        Degrees by which the labels are rotated (a deliberately wrong seed).
    paradigm : {"intention", "observation", "attempt", "white_noise"}
        ``"observation"`` / ``"attempt"``: an open-loop block (the cursor moves by itself along
        minimum-jerk paths of ``cue_time`` seconds to the cued targets; the user watches or
        attempts the movement; the units fire with their open-loop code) labelled with the cued
        cursor velocity, as calibration is done (Hochberg et al. 2006; Jarosiewicz et al. 2013).
        ``"intention"``: the idealised block — the cursor follows the user's intention, which is
        the label, with the closed-loop code. ``"white_noise"``: as ``"intention"``, but the
        intention is white noise of SD ``velocity_sd`` per axis (Wilson et al. 2023's simulated
        day-0 block; :mod:`cogmodels.envs.bci.loop`).
    cue_time : float
        Seconds of each automatic movement (open-loop paradigms).
    lag : float
        Seconds by which the counts lag their labels (the experimenter's alignment: counts of
        bin ``t + lag / dt`` paired with the label of bin ``t``; the block then has ``lag / dt``
        fewer bins). An observer's activity follows the cue ``delay`` late, so aligning by the
        user's delay is the offline-optimal choice; 0 pairs each bin with its own label.
    velocity_sd : float
        The white-noise intention's SD per axis (widths/s; ``"white_noise"`` only).

    Returns
    -------
    counts : numpy.ndarray
        ``(T, L, N)`` (uint8 for Poisson counts).
    labels : numpy.ndarray
        ``(T, L, 2)`` velocities paired with the counts.
    """
    env = _check_env(env)
    if paradigm not in PARADIGMS:
        raise ValueError(f"paradigm must be one of {list(PARADIGMS)}, got {paradigm!r}")
    n = _n_bins(env, seconds)
    shift = int(round(check_number("lag", lag, 0.0, seconds / 2) / env.config.task.dt))
    options = {"day": env.day if day is None else day, "calibration_block": True}
    if paradigm != "intention":
        options.update(calibration=paradigm, cue_time=cue_time)
    if paradigm == "white_noise":
        options.update(velocity_sd=velocity_sd)
    obs, info = env.reset(options=options)
    poisson = env.config.population.noise == "poisson"  # counts 0..255: a byte each
    counts = np.empty((n, env.num_envs, obs.shape[1]), dtype=np.uint8 if poisson else np.float32)
    labels = np.empty((n, env.num_envs, 2))
    key = "intended_velocity" if paradigm in ("intention", "white_noise") else "cursor_velocity"
    u = info[key]
    for t in range(n):
        counts[t], labels[t] = obs, u
        obs, _, terminated, truncated, info = env.step(info["intended_velocity"])
        ended = terminated | truncated
        if ended.any() and t + 1 < n:  # the block goes on: a new session, same day and paradigm
            obs, info = env.reset(options={**options, "reset_mask": ended})
        u = info[key]
    if shift:
        counts, labels = counts[shift:], labels[:-shift]
    return counts, _rotate(labels, label_rotation) if label_rotation else labels


def calibrate(env: Any, decoder: Decoder, seconds: float = 60.0, *, day: Any = None,
              label_rotation: float = 0.0, paradigm: str = "intention",
              cue_time: float = CUE_TIME, lag: float = 0.0) -> Decoder:
    """Fit ``decoder`` on a :func:`calibration_block` (same arguments) and return it.

    A decoder with a bin width ``dt`` (the Kalman filters' physical velocity model) must have the
    environment's: a filter built for 20 ms bins and run on 50 ms ones decays its velocity too
    slowly and under-weights each observation.
    """
    _check_dt(_check_env(env), decoder)
    return decoder.fit(*calibration_block(env, seconds, day=day, label_rotation=label_rotation,
                                          paradigm=paradigm, cue_time=cue_time, lag=lag))


def closed_loop_block(env: Any, decoder: Decoder, seconds: float, *,
                      day: Any = None) -> dict[str, np.ndarray]:
    """Let ``decoder`` drive the cursor from a new session and record what ReFIT needs.

    The block lasts ``seconds`` in every lane: a lane whose session ends inside it starts a new
    one at once, on the block's day, as a calibration block (the day's clock of the
    within-session drift runs through it; :mod:`~cogmodels.envs.bci.session_drift`).

    Returns
    -------
    dict
        ``counts (T, L, N)``, the decoded ``velocity (T, L, 2)`` of each bin, the ``cursor``
        it moved from and the shown ``target`` ``(T, L, 2)``, and ``radius (T, L)``: the
        arguments of :func:`~cogmodels.agents.decoders.recalibration.refit` after the decoder.
    """
    env = _check_env(env)
    n = _n_bins(env, seconds)
    options = {"day": env.day if day is None else day, "decoder_gain": 1.0,
               "calibration_block": True}
    obs, info = env.reset(options=options)
    decoder.reset()
    poisson = env.config.population.noise == "poisson"
    lanes, units = env.num_envs, obs.shape[1]
    rec = {"counts": np.empty((n, lanes, units), dtype=np.uint8 if poisson else np.float32),
           "velocity": np.empty((n, lanes, 2)), "cursor": np.empty((n, lanes, 2)),
           "target": np.empty((n, lanes, 2)), "radius": np.empty((n, lanes))}
    for t in range(n):
        v = decoder.step(obs)
        rec["counts"][t], rec["velocity"][t] = obs, v
        rec["cursor"][t], rec["target"][t] = info["cursor"], info["target"]
        rec["radius"][t] = info["target_radius"]
        obs, _, terminated, truncated, info = env.step(v)
        ended = terminated | truncated
        if ended.any() and t + 1 < n:  # the block goes on, as calibration_block's does
            obs, info = env.reset(options={**options, "reset_mask": ended})
            decoder.reset(ended)
    return rec


def refit_decoder(env: Any, decoder: Decoder, seconds: float = 60.0, *,
                  day: Any = None) -> Decoder:
    """ReFIT (Gilja et al. 2012): a copy of ``decoder`` re-fit on a closed-loop block it drove.

    The block (:func:`closed_loop_block`) is relabelled by intention re-estimation
    (:func:`~cogmodels.agents.decoders.recalibration.refit`); ``decoder`` is not changed.
    """
    return refit(decoder, **closed_loop_block(env, decoder, seconds, day=day))


class SessionRecord:
    """What :func:`run_closed_loop` saw, bin by bin, for a recalibration after the session.

    Pass one as ``record=``; after the run :meth:`arrays` returns ``counts (T, L, N)``, the
    decoder's output ``velocity (T, L, 2)`` (before gain and assist), the ``applied`` cursor
    velocity ``(T, L, 2)``, the ``cursor`` it moved from and the shown ``target`` ``(T, L, 2)``,
    ``radius (T, L)``, ``click (T, L)`` (the task registered a selection — a success — at that
    bin: what a click decoder would report) and ``trial_end (T, L)`` (a trial ended at that bin).
    The target is the task's, for supervised recalibration; unsupervised methods must not read
    it.
    """

    KEYS = ("counts", "velocity", "applied", "cursor", "target", "radius", "click", "trial_end")
    #: the function that fills the record, named when it is read empty
    FILLED_BY = "run_closed_loop"

    def __init__(self) -> None:
        self._bins: dict[str, list[np.ndarray]] = {k: [] for k in self.KEYS}

    def add(self, **bin_values: np.ndarray) -> None:
        """Append one bin: a value for every key of :attr:`KEYS`."""
        for k in self.KEYS:
            self._bins[k].append(np.array(bin_values[k]))

    def __len__(self) -> int:
        return len(self._bins["counts"])

    def arrays(self) -> dict[str, np.ndarray]:
        """Return the recorded bins stacked along a leading time axis."""
        if not len(self):
            raise ValueError(f"the record holds no bins: pass it to {self.FILLED_BY}(record=...)")
        return {k: np.stack(v) for k, v in self._bins.items()}


def run_closed_loop(
    env: Any,
    decoder: Decoder,
    seconds: float,
    *,
    adaptation: _Adaptation | None = None,
    intention: str = "refit",
    day: Any = None,
    debias: bool = True,
    gain: float | np.ndarray = 1.0,
    assist: Assist | None = None,
    bias: BiasCorrection | None = None,
    record: SessionRecord | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Let the decoder drive the cursor for ``seconds`` from a new session in every lane.

    With ``adaptation`` (:class:`~cogmodels.agents.decoders.clda.SmoothBatch` or
    :class:`~cogmodels.agents.decoders.clda.RML` on ``decoder``) every bin is labelled by
    ``intention``: ``"refit"`` (ReFIT, from the shown target: supervised), ``"ofc"`` (the
    command of an optimal feedback controller toward the shown target, from the cursor's position
    and velocity: :class:`~cogmodels.agents.decoders.clda.OFCIntention`, Shanechi et al. 2016),
    ``"intended"`` (the user's true intended velocity: an oracle bound) or ``"rti"``
    (retrospective target inference from the reward alone: unsupervised). With ``debias`` the intention estimates
    start from the decoder's velocity divided by its own steady-state gain,
    ``G^{-1} v`` (:meth:`~cogmodels.agents.decoders.linear.EncodingDecoder.steady_gain`):
    the Kalman filter's estimate shrinks toward rest, and labels that keep the shrunk speed
    would make every refit slower than the last. A lane whose session ends (``n_trials``)
    starts the next session of the same subject with its decoder state reset.

    The cursor moves with ``gain`` times the decoded velocity (one gain, or one per lane: the
    output gain Wilson et al. 2023 re-sweep daily); with ``assist``
    (:class:`~cogmodels.agents.decoders.assist.Assist`) that velocity is blended with one toward
    the target and the assist ticks down every bin — adaptation still labels the decoder's own
    output. With ``bias`` (:class:`~cogmodels.agents.decoders.bias.BiasCorrection`,
    Jarosiewicz et al. 2015) the decoder's output is bias-corrected first, and that corrected
    output is what moves the cursor, is labelled and is recorded. With ``record`` (a :class:`SessionRecord`) every bin is kept for a recalibration
    after the session.

    The loop is :func:`cogmodels.rollout.rollout` of a
    :class:`~cogmodels.agents.decoders.closed_loop.ClosedLoopAgent` (the decoder with its
    adaptation, assist, bias correction and record) for ``seconds`` of the environment's clock,
    which goes on with its own random stream and subjects (no reseeding).
    """
    env = _check_env(env)
    gains = np.broadcast_to(np.asarray(gain, dtype=np.float64), (env.num_envs,))
    if not (np.isfinite(gains).all() and (gains > 0).all()):
        raise ValueError(f"gain must be a number > 0 or one per lane ({env.num_envs}), got "
                         f"{gain!r}")
    agent = ClosedLoopAgent(decoder, env.config, gain=gain, adaptation=adaptation,
                            intention=intention, debias=debias, assist=assist, bias=bias,
                            record=record)
    rollout(agent, env, n_steps=_n_bins(env, seconds), reseed=False,
            options={"day": env.day if day is None else day, "decoder_gain": gains}, record=None,
            progress=check_bool("progress", progress), description="closed loop")
    return agent.trial_table()
