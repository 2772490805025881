"""Decoders compared under neural drift: the same subjects, days and seeds for each strategy.

Each strategy is scored in one closed-loop session on each listed day; the strategies differ in
how their decoder is built and what it does between and during sessions:

- ``"fixed"``: a steady-state Kalman filter calibrated on day 0 (a supervised open-loop block),
  used unchanged;
- ``"daily_recalibration"``: a fresh calibration block every day (supervised, costs a block);
- ``"refit_rml"``: the day-0 filter adapted by RML on ReFIT intention estimates during every
  session (supervised: the task's targets are known), carried from day to day;
- ``"rti_rml"``: the same with retrospective target inference (unsupervised: only the
  decoder's own output and the reward);
- ``"reward_only"``: :class:`~cogmodels.agents.decoders.reward.RewardDecoder`, which never sees
  a target or a velocity label: it learns from the error-signal reward, ``reward_warmup_s``
  seconds on day 0 before the first scored session (its counterpart of the calibration block),
  and keeps learning in every session. The environments get an error-signal channel
  (``error_signal``) for every strategy, so all play the same task; only the reward-only
  decoder reads it.

The environment is rebuilt from ``seed`` for every strategy, so all see the same subjects, the
same drift trajectories and the same targets.

A session's first minute is a transient for a decoder carried over from an earlier day: it starts
with the last session's parameters on a drifted code and re-adapts within it. Each trial's
``phase`` column says whether it ended within the first ``transient_s`` of its session
(``"transient"``) or after (``"steady"``), so that :func:`summarize_by_phase` reports the two
apart: the adaptive decoders' loss over the weeks is mostly in the transient.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from cogmodels.agents.decoders.clda import RML
from cogmodels.agents.decoders.kalman import SteadyStateKalmanDecoder
from cogmodels.agents.decoders.session import calibrate, run_closed_loop
from cogmodels.deprecation import renamed_arguments
from cogmodels.envs.bci.vector import CursorBCIVector
from cogmodels.progress import progress_bar
from cogmodels.validation import check_number

__all__ = ["PHASES", "STRATEGIES", "compare_under_drift", "summarize_by_phase"]

#: the parts of a session :func:`compare_under_drift` labels its trials with
PHASES = ("transient", "steady")

Strategy = Callable[[CursorBCIVector, list[int], float, dict[str, Any]], pd.DataFrame]


def _kalman(mode: str) -> Strategy:
    """Return the strategy: a day-0 steady-state Kalman filter, then ``mode`` across sessions."""

    def play(env: CursorBCIVector, days: list[int], seconds: float, opts: dict) -> pd.DataFrame:
        dec = calibrate(env, SteadyStateKalmanDecoder(), opts["calibration_s"], day=0)
        rule = None
        if mode in ("refit", "rti"):
            rule = RML(dec, half_life=opts["half_life"], update_s=0.5)
        parts = []
        for day in days:
            if mode == "daily" and day > 0:
                dec = calibrate(env, SteadyStateKalmanDecoder(), opts["calibration_s"],
                                day=day)
            parts.append(run_closed_loop(env, dec, seconds, day=day, adaptation=rule,
                                         intention=mode if rule is not None else "refit"))
        return pd.concat(parts, ignore_index=True)

    return play


def _reward_only(env: CursorBCIVector, days: list[int], seconds: float,
                 opts: dict) -> pd.DataFrame:
    from cogmodels.agents.decoders.reward import RewardDecoder

    # carry_policy=False: the decoder of the committed drift figures (RESULTS), made before the
    # policy was carried through the features' re-estimates
    dec = RewardDecoder(env.single_observation_space.shape[0], env.num_envs, seed=opts["seed"],
                        carry_policy=False)
    dec.train(env, seconds=opts["reward_warmup_s"], options={"day": 0})
    parts = []
    for day in days:
        h = dec.train(env, seconds=seconds, options={"day": day})
        parts.append(h)
    return pd.concat(parts, ignore_index=True).drop(columns="calibrating")


#: strategy name -> ``f(env, days, session_s, options) -> trials``
STRATEGIES: dict[str, Strategy] = {
    "fixed": _kalman("fixed"),
    "daily_recalibration": _kalman("daily"),
    "refit_rml": _kalman("refit"),
    "rti_rml": _kalman("rti"),
    "reward_only": _reward_only,
}


@renamed_arguments(session_seconds="session_s", calibration_seconds="calibration_s",
                   transient_seconds="transient_s", reward_warmup="reward_warmup_s")
def compare_under_drift(
    strategies: Sequence[str] = tuple(STRATEGIES),
    days: Sequence[int] = (0, 1, 3, 7, 14, 28),
    n_subjects: int = 8,
    session_s: float = 120.0,
    calibration_s: float = 60.0,
    seed: int = 0,
    drift: Any = "typical",
    *,
    half_life: float = 60.0,
    transient_s: float = 60.0,
    reward_warmup_s: float = 600.0,
    error_signal: Any = "realistic",
    progress: bool = False,
    **env_kwargs: Any,
) -> pd.DataFrame:
    """Return the trial table of every strategy on every day, all on the same subjects.

    Parameters
    ----------
    strategies : sequence of str
        Names among :data:`STRATEGIES` (default: all).
    days : sequence of int
        Increasing drift days (>= 0), one scored session on each.
    n_subjects : int
        Simulated subjects (lanes of one ``CursorBCIVector``).
    session_s : float
        Seconds of each scored closed-loop session (120).
    calibration_s : float
        Seconds of each supervised calibration block (60).
    seed : int
        Draws the subjects, their drift and the targets: the same for every strategy.
    drift : str or DriftSpec
        The neural drift (:data:`cogmodels.envs.bci.drift.DRIFT_PRESETS`).
    half_life : float
        Half-life in seconds of the RML adaptation (60).
    transient_s : float
        Trials that end within this many seconds of a session's start are ``"transient"`` (60).
    reward_warmup_s : float
        Seconds of reward-only learning on day 0 before the first scored session (600).
    error_signal : str, ErrorSignalSpec or None
        The error-signal channel of the environments (the reward-only decoder learns from it).
    progress : bool
        Draw a bar over the strategies (on a terminal only).
    **env_kwargs
        Further arguments of :class:`~cogmodels.envs.bci.vector.CursorBCIVector`.

    Returns
    -------
    pandas.DataFrame
        Column ``decoder`` plus the columns of
        :func:`~cogmodels.agents.decoders.session.run_closed_loop` that
        :func:`cogmodels.envs.bci.metrics.summarize` reads (``subject`` is the lane), ``session``
        and ``phase`` (``"transient"`` for trials that ended within ``transient_s`` of the
        session's start, else ``"steady"``).

    Notes
    -----
    ``session_seconds``, ``calibration_seconds``, ``transient_seconds`` and ``reward_warmup``
    are deprecated spellings of ``session_s``, ``calibration_s``, ``transient_s`` and
    ``reward_warmup_s`` (the glossary's duration suffix); they still work, with a
    ``DeprecationWarning``.
    """
    transient_s = check_number("transient_s", transient_s, 0.0)
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise ValueError(f"strategies must be among {list(STRATEGIES)}, got {unknown}")
    days = [int(d) for d in days]
    if not days or any(d < 0 for d in days) or days != sorted(set(days)):
        raise ValueError(f"days must be increasing day numbers >= 0, got {days!r}")
    opts = {"calibration_s": calibration_s, "half_life": half_life,
            "reward_warmup_s": reward_warmup_s, "seed": seed}
    tables = []
    with progress_bar(progress, total=len(strategies), desc="decoders", unit="decoder") as bar:
        for name in strategies:
            env = CursorBCIVector(num_envs=n_subjects, n_trials=10**6, drift=drift,
                                  error_signal=error_signal, **env_kwargs)
            env.reset(seed=seed, options={"day": 0})
            trials = STRATEGIES[name](env, days, session_s, opts)
            trials.insert(0, "decoder", name)
            tables.append(trials)
            bar.update()
    out = pd.concat(tables, ignore_index=True)
    out["session"] = out["day"]
    out["phase"] = np.where(out["time"] <= transient_s, PHASES[0], PHASES[1])
    return out


def summarize_by_phase(trials: pd.DataFrame) -> pd.DataFrame:
    """Return :func:`cogmodels.envs.bci.metrics.summarize` per decoder, day and phase.

    Successes per minute are over each phase's own trials (successes per summed trial time).

    Parameters
    ----------
    trials : pandas.DataFrame
        The output of :func:`compare_under_drift`.

    Returns
    -------
    pandas.DataFrame
        One row per ``decoder``, ``day`` and ``phase``.
    """
    from cogmodels.envs.bci.metrics import summarize

    return summarize(trials, by=["decoder", "day", "phase"])
