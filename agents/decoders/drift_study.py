"""Decoders compared under neural drift: the same subjects, days and seeds for each strategy.

Every strategy starts from a decoder calibrated on day 0 (a supervised open-loop block) and is
then scored in one closed-loop session on each listed day; what it does between sessions is the
strategy:

- ``"fixed"``: nothing (the day-0 decoder throughout);
- ``"daily_recalibration"``: a fresh calibration block each day (supervised, costs a block);
- ``"refit_rml"``: RML adaptation fed by ReFIT intention estimates during every session
  (supervised: the task's targets are known), carried from day to day;
- ``"rti_rml"``: RML fed by retrospective target inference (unsupervised: only the decoder's
  own output and the reward), carried from day to day.

The environment is rebuilt from ``seed`` for every strategy, so all see the same subjects, the
same drift trajectories and the same targets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from cogmodels.agents.decoders.clda import RML
from cogmodels.agents.decoders.kalman import SteadyStateKalmanDecoder
from cogmodels.agents.decoders.session import calibrate, run_closed_loop
from cogmodels.envs.bci.vector import CursorBCIVector

__all__ = ["STRATEGIES", "compare_under_drift"]


def _fixed(env, dec, rule, day, seconds):
    return run_closed_loop(env, dec, seconds, day=day), dec, rule


def _daily(env, dec, rule, day, seconds, calibration_seconds):
    if day > 0:
        dec = calibrate(env, SteadyStateKalmanDecoder(), calibration_seconds, day=day)
    return run_closed_loop(env, dec, seconds, day=day), dec, rule


def _adaptive(intention: str):
    def run(env, dec, rule, day, seconds):
        if rule is None:
            rule = RML(dec, half_life=60.0, update_seconds=0.5)
        return (run_closed_loop(env, dec, seconds, day=day, adaptation=rule,
                                intention=intention), dec, rule)
    return run


#: strategy name -> ``f(env, decoder, rule, day, seconds) -> (trials, decoder, rule)``
STRATEGIES: dict[str, Callable[..., Any]] = {
    "fixed": _fixed,
    "daily_recalibration": _daily,
    "refit_rml": _adaptive("refit"),
    "rti_rml": _adaptive("rti"),
}


def compare_under_drift(
    strategies: Sequence[str] = tuple(STRATEGIES),
    days: Sequence[int] = (0, 1, 3, 7, 14, 28),
    n_subjects: int = 8,
    session_seconds: float = 120.0,
    calibration_seconds: float = 60.0,
    seed: int = 0,
    drift: Any = "typical",
    extra: dict[str, Callable[..., pd.DataFrame]] | None = None,
    progress: bool = False,
    **env_kwargs: Any,
) -> pd.DataFrame:
    """Trial table of every strategy on every day (column ``decoder``; ``subject`` the lane).

    ``extra`` adds strategies that bring their own decoder, ``f(env, days, session_seconds,
    seed) -> trials`` with ``day`` and ``subject`` columns (the reward-only decoder).
    """
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise ValueError(f"strategies must be among {list(STRATEGIES)}, got {unknown}")
    days = [int(d) for d in days]
    if not days or any(d < 0 for d in days) or days != sorted(set(days)):
        raise ValueError(f"days must be increasing day numbers >= 0, got {days!r}")

    def make_env() -> CursorBCIVector:
        env = CursorBCIVector(num_envs=n_subjects, n_trials=10**6, drift=drift, **env_kwargs)
        env.reset(seed=seed, options={"day": 0})
        return env

    tables = []
    jobs = [(name, STRATEGIES[name]) for name in strategies]
    jobs += [(name, None) for name in (extra or {})]
    for name, fn in tqdm(jobs, disable=not progress, desc="decoders", unit="decoder"):
        env = make_env()
        if fn is None:
            trials = extra[name](env, days, session_seconds, seed)
        else:
            dec = calibrate(env, SteadyStateKalmanDecoder(), calibration_seconds, day=0)
            rule, parts = None, []
            for day in days:
                kwargs = {"calibration_seconds": calibration_seconds} if fn is _daily else {}
                part, dec, rule = fn(env, dec, rule, day, session_seconds, **kwargs)
                parts.append(part)
            trials = pd.concat(parts, ignore_index=True)
        trials.insert(0, "decoder", name)
        tables.append(trials)
    out = pd.concat(tables, ignore_index=True)
    out["session"] = out["day"]
    return out
