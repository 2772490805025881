r"""Wilson et al. (2023)'s long-term protocol: daily sessions, recalibration after each one.

Every strategy meets the same simulated subjects (lanes of a
:class:`~cogmodels.envs.bci.vector.CursorBCIVector`) and the same drift: by default Wilson et
al.'s — the tuning subspace keeps a similarity of 0.91 from day to day
(:class:`~cogmodels.envs.bci.drift.TuningRotation`) and the signal-to-noise ratio is redrawn
every day from their two-mode mixture (:class:`~cogmodels.envs.bci.drift.SNRMixture`). Day 0
starts from a steady-state Kalman filter fit on a supervised calibration block. Each day then:

1. the output gain is re-swept (:func:`~cogmodels.envs.bci.gain_sweep.sweep_gain`: one short
   closed-loop block per candidate gain, the one with the shortest mean trial time kept per
   subject — Wilson et al.'s ``gainSweep``);
2. one session is scored with that gain (:func:`~cogmodels.agents.decoders.session.run_closed_loop`,
   every bin recorded);
3. the decoder for the next day is built from the session just played:

- ``"fixed"``: unchanged (only the gain follows the day);
- ``"supervised"``: a fresh filter fit on the session's counts with ReFIT intention labels toward
  the *shown* targets (daily supervised recalibration: the targets are known);
- ``"hmm"``: the same with the targets inferred by PRI-T
  (:class:`~cogmodels.agents.decoders.target_hmm.TargetHMM`, with the click — the task's
  registered selections, one per dwell of ``hold_steps + 1`` bins on the target, so a per-bin
  click rate of ``1 / (hold_steps + 1)``), each bin weighted by the squared posterior of its inferred target;
- ``"hmm_noclick"``: PRI-T without the click;
- ``"rti"``: retrospective target inference (Jarosiewicz et al. 2015): only the successful
  trials' bins, labelled toward where the cursor ended;
- ``"stabilizer"``: the day-0 filter on factor-analysis latents, realigned to day 0 by
  Procrustes on stable channels with the session's counts
  (:class:`~cogmodels.agents.decoders.stabilizer.ProcrustesStabilizer`; no labels).

Label speeds come from the decoder's own output divided by its steady-state gain (as
:func:`~cogmodels.agents.decoders.session.run_closed_loop` debiases), so the strategies differ
only in where the labels point and which bins they use.

- Wilson, G. H., et al. (2023). Long-term unsupervised recalibration of cursor BCIs. bioRxiv
  10.1101/2023.02.03.527022.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cogmodels.agents.decoders.base import Decoder
from cogmodels.agents.decoders.clda import refit_intention
from cogmodels.agents.decoders.kalman import SteadyStateKalmanDecoder
from cogmodels.agents.decoders.session import SessionRecord, calibration_block, run_closed_loop
from cogmodels.agents.decoders.stabilizer import ProcrustesStabilizer
from cogmodels.agents.decoders.target_hmm import TargetHMM, hmm_labels, target_grid
from cogmodels.envs.bci.drift import SNRMixture, TuningRotation
from cogmodels.envs.bci.gain_sweep import WILSON_GAINS, sweep_gain
from cogmodels.envs.bci.vector import CursorBCIVector
from cogmodels.progress import progress_bar
from cogmodels.validation import check_int, check_number

__all__ = ["STRATEGIES", "WILSON_DRIFT", "run_wilson_protocol"]

#: Wilson et al. (2023)'s simulated nonstationarity: 0.91 daily tuning similarity, SNR redrawn
WILSON_DRIFT = (TuningRotation(0.91), SNRMixture())

#: strategy -> (how the day-0 decoder is built, how a session's record updates it)
Update = Callable[[Decoder, dict[str, np.ndarray], dict[str, Any]], Decoder]


def _debiased(decoder: Decoder, velocity: np.ndarray) -> np.ndarray:
    """``G^{-1} v`` per lane: the decoder's output divided by its own steady-state gain."""
    return np.einsum("lij,tlj->tli", np.linalg.inv(decoder.steady_gain()), velocity)


def _keep(decoder: Decoder, rec: dict[str, np.ndarray], opts: dict[str, Any]) -> Decoder:
    return decoder


def _refit(decoder: Decoder, counts: np.ndarray, labels: np.ndarray,
           weight: np.ndarray | None = None) -> Decoder:
    return SteadyStateKalmanDecoder(dt=decoder.dt).fit(counts, labels, sample_weight=weight)


def _supervised(decoder: Decoder, rec: dict[str, np.ndarray], opts: dict[str, Any]) -> Decoder:
    labels = refit_intention(_debiased(decoder, rec["velocity"]), rec["cursor"], rec["target"],
                             rec["radius"])
    return _refit(decoder, rec["counts"], labels)


def _hmm(click: bool) -> Update:
    def update(decoder: Decoder, rec: dict[str, np.ndarray], opts: dict[str, Any]) -> Decoder:
        labels, weight = hmm_labels(opts["hmm"], _debiased(decoder, rec["velocity"]),
                                    rec["cursor"], rec["radius"], rec["click"] if click else None)
        return _refit(decoder, rec["counts"], labels, weight)

    return update


def _rti(decoder: Decoder, rec: dict[str, np.ndarray], opts: dict[str, Any]) -> Decoder:
    """Label each successful trial's bins toward where its cursor ended; drop the others."""
    end = rec["cursor"] + opts["dt"] * rec["applied"]
    goal = np.empty_like(end)
    weight = np.zeros(rec["radius"].shape)
    for lane in range(end.shape[1]):
        stops = np.flatnonzero(rec["trial_end"][:, lane])
        start = 0
        for t in stops:
            if rec["click"][t, lane]:
                goal[start:t + 1, lane] = end[t, lane]
                weight[start:t + 1, lane] = 1.0
            start = t + 1
    goal = np.where(weight[..., None] > 0, goal, rec["cursor"])
    labels = refit_intention(_debiased(decoder, rec["velocity"]), rec["cursor"], goal,
                             rec["radius"])
    empty = weight.sum(axis=0) == 0
    if empty.all():
        return decoder
    weight[:, empty] = 1.0  # fitted, then replaced: a lane without a success keeps its model
    new = _refit(decoder, rec["counts"], labels, weight)
    if empty.any():
        H, d, q = new.H_.copy(), new.d_.copy(), new.q_.copy()
        H[empty], d[empty], q[empty] = decoder.H_[empty], decoder.d_[empty], decoder.q_[empty]
        new.set_encoding(H, d, q)
    return new


def _realign(decoder: Decoder, rec: dict[str, np.ndarray], opts: dict[str, Any]) -> Decoder:
    return decoder.realign(rec["counts"])


#: strategy name -> (decoder class of day 0, update after each session)
STRATEGIES: dict[str, tuple[type[Decoder], Update]] = {
    "fixed": (SteadyStateKalmanDecoder, _keep),
    "supervised": (SteadyStateKalmanDecoder, _supervised),
    "hmm": (SteadyStateKalmanDecoder, _hmm(click=True)),
    "hmm_noclick": (SteadyStateKalmanDecoder, _hmm(click=False)),
    "rti": (SteadyStateKalmanDecoder, _rti),
    "stabilizer": (ProcrustesStabilizer, _realign),
}


def _play(name: str, opts: dict[str, Any]) -> pd.DataFrame:
    """Run one strategy over all days; return its trial table with ``gain`` per trial."""
    env = CursorBCIVector(num_envs=opts["n_subjects"], n_trials=10**6, drift=opts["drift"],
                          **opts["env_kwargs"])
    env.reset(seed=opts["seed"], options={"day": 0})
    dt = env.config.task.dt
    cls, update = STRATEGIES[name]
    decoder = cls(dt=dt).fit(*calibration_block(env, opts["calibration_seconds"], day=0))
    task = env.config.task
    opts = {**opts, "dt": dt, "hmm": TargetHMM(
        target_grid(task.workspace, opts["grid"]), click_hit=1.0 / (task.hold_steps + 1),
        click_radius=float(np.max(task.target_radius)))}
    parts = []
    for day in range(opts["n_days"]):
        sweep = sweep_gain(env, decoder, opts["sweep_seconds"], gains=opts["gains"], day=day)
        rec = SessionRecord()
        trials = run_closed_loop(env, decoder, opts["session_seconds"], day=day,
                                 gain=sweep.best, record=rec)
        trials["gain"] = sweep.best[trials["subject"].to_numpy(dtype=np.int64)]
        parts.append(trials)
        if opts["save_dir"] is not None:  # each day as it ends: a partial run is still usable
            path = Path(opts["save_dir"]) / f"{name}.csv"
            trials.assign(decoder=name).to_csv(path, mode="a" if day else "w", header=not day,
                                               index=False)
        decoder = update(decoder, rec.arrays(), opts)
    out = pd.concat(parts, ignore_index=True)
    out.insert(0, "decoder", name)
    return out


def run_wilson_protocol(
    strategies: Sequence[str] = tuple(STRATEGIES),
    n_days: int = 60,
    n_subjects: int = 8,
    session_seconds: float = 60.0,
    *,
    calibration_seconds: float = 60.0,
    sweep_seconds: float = 5.0,
    gains: Sequence[float] = WILSON_GAINS,
    grid: int = 20,
    seed: int = 0,
    drift: Any = WILSON_DRIFT,
    n_jobs: int = 1,
    save_dir: str | Path | None = None,
    progress: bool = False,
    **env_kwargs: Any,
) -> pd.DataFrame:
    """Play Wilson et al. (2023)'s daily protocol with each strategy; return all trials.

    Parameters
    ----------
    strategies : sequence of str
        Names among :data:`STRATEGIES`.
    n_days : int
        Daily sessions (Wilson et al.: 60).
    n_subjects : int
        Simulated subjects (lanes), the same for every strategy.
    session_seconds : float
        Duration of each scored session (s).
    calibration_seconds : float
        The day-0 supervised calibration block (s).
    sweep_seconds : float
        Duration of each block of the daily gain sweep (s).
    gains : sequence of float
        Candidate output gains (Wilson et al.'s ``linspace(0.1, 2.5, 10)``).
    grid : int
        The PRI-T target grid is ``grid × grid`` over the workspace (Wilson et al.: 20).
    seed : int
        Seed of the subjects, their drift and the tasks.
    drift : Any
        The environment's drift (default :data:`WILSON_DRIFT`).
    n_jobs : int
        Strategies played in parallel processes.
    save_dir : str or pathlib.Path, optional
        A folder (created) where each strategy's trials are written day by day to
        ``<strategy>.csv`` as they are played.
    progress : bool
        Show a progress bar over the strategies.
    **env_kwargs
        Further arguments of :class:`~cogmodels.envs.bci.vector.CursorBCIVector` (``n_units``,
        ``user``...).

    Returns
    -------
    pandas.DataFrame
        The trial tables of :func:`~cogmodels.agents.decoders.session.run_closed_loop` with
        columns ``decoder`` and ``gain`` (the day's swept gain of the trial's subject).
    """
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown or not strategies:
        raise ValueError(f"strategies must be a non-empty list of {list(STRATEGIES)}, got "
                         f"{list(strategies)!r}")
    opts = {"n_days": check_int("n_days", n_days, 1), "n_subjects": check_int(
        "n_subjects", n_subjects, 1), "session_seconds": check_number(
        "session_seconds", session_seconds, 0.0, low_open=True),
        "calibration_seconds": check_number("calibration_seconds", calibration_seconds, 0.0,
                                            low_open=True),
        "sweep_seconds": check_number("sweep_seconds", sweep_seconds, 0.0, low_open=True),
        "gains": tuple(gains), "grid": check_int("grid", grid, 2), "seed": seed, "drift": drift,
        "env_kwargs": env_kwargs, "save_dir": save_dir}
    if save_dir is not None:
        Path(save_dir).mkdir(parents=True, exist_ok=True)
    n_jobs = check_int("n_jobs", n_jobs, 1)
    names = list(strategies)
    with progress_bar(progress, total=len(names), desc="strategies", unit="strategy") as bar:
        if n_jobs == 1:
            tables = []
            for name in names:
                tables.append(_play(name, opts))
                bar.update()
        else:
            with ProcessPoolExecutor(min(n_jobs, len(names))) as pool:
                futures = [pool.submit(_play, name, opts) for name in names]
                tables = []
                for f in futures:
                    tables.append(f.result())
                    bar.update()
    return pd.concat(tables, ignore_index=True)
