"""Calibration blocks and closed-loop sessions of a decoder on ``CursorBCIVector``.

:func:`calibrate` runs an open-loop block (the cursor follows the user's intention, as in an
observation or "assisted" calibration block) and fits the decoder on it; :func:`run_closed_loop`
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
from tqdm.auto import tqdm

from cogmodels.agents.decoders.base import Decoder
from cogmodels.agents.decoders.clda import _Adaptation, refit_intention
from cogmodels.agents.decoders.recalibration import RetrospectiveTargetInference
from cogmodels.envs.bci.loop import RESULT_KEYS
from cogmodels.envs.bci.vector import CursorBCIVector

__all__ = ["INTENTIONS", "calibrate", "calibration_block", "run_closed_loop"]

#: how :func:`run_closed_loop` labels the bins it adapts on
INTENTIONS = ("refit", "intended", "rti")


def _check_env(env: Any) -> CursorBCIVector:
    env = getattr(env, "unwrapped", env)
    if not isinstance(env, CursorBCIVector):
        raise TypeError(f"env must be a CursorBCIVector, got {type(env).__name__}")
    return env


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
                      label_rotation: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Record an open-loop calibration block from a new session; return counts and velocities.

    The session is on ``day`` (one int or one per lane; the lanes' current days when None).
    Returns counts ``(T, L, N)`` (uint8 for Poisson counts) and the user's intended velocities
    ``(T, L, 2)``, rotated by ``label_rotation`` degrees (a deliberately wrong seed).
    """
    env = _check_env(env)
    n = _n_bins(env, seconds)
    obs, info = env.reset(options={"day": env.day if day is None else day})
    poisson = env.config.population.noise == "poisson"  # counts 0..255: a byte each
    counts = np.empty((n, env.num_envs, obs.shape[1]), dtype=np.uint8 if poisson else np.float32)
    labels = np.empty((n, env.num_envs, 2))
    u = info["intended_velocity"]
    for t in range(n):
        counts[t], labels[t] = obs, u
        obs, _, _, _, info = env.step(u)
        u = info["intended_velocity"]
    return counts, _rotate(labels, label_rotation) if label_rotation else labels


def calibrate(env: Any, decoder: Decoder, seconds: float = 60.0, *, day: Any = None,
              label_rotation: float = 0.0) -> Decoder:
    """Fit ``decoder`` on a :func:`calibration_block` and return it."""
    return decoder.fit(*calibration_block(env, seconds, day=day, label_rotation=label_rotation))


def run_closed_loop(
    env: Any,
    decoder: Decoder,
    seconds: float,
    *,
    adaptation: _Adaptation | None = None,
    intention: str = "refit",
    day: Any = None,
    debias: bool = True,
    progress: bool = False,
) -> pd.DataFrame:
    """Let the decoder drive the cursor for ``seconds`` from a new session in every lane.

    With ``adaptation`` (:class:`~cogmodels.agents.decoders.clda.SmoothBatch` or
    :class:`~cogmodels.agents.decoders.clda.RML` on ``decoder``) every bin is labelled by
    ``intention``: ``"refit"`` (ReFIT, from the shown target: supervised), ``"intended"`` (the
    user's true intended velocity: an oracle bound) or ``"rti"`` (retrospective target
    inference from the reward alone: unsupervised). With ``debias`` the intention estimates
    start from the decoder's velocity divided by its own steady-state gain,
    ``G^{-1} v`` (:meth:`~cogmodels.agents.decoders.linear.EncodingDecoder.steady_gain`):
    the Kalman filter's estimate shrinks toward rest, and labels that keep the shrunk speed
    would make every refit slower than the last. A lane whose session ends (``n_trials``)
    starts the next session of the same subject with its decoder state reset.
    """
    env = _check_env(env)
    if intention not in INTENTIONS:
        raise ValueError(f"intention must be one of {list(INTENTIONS)}, got {intention!r}")
    if adaptation is not None and adaptation.decoder is not decoder:
        raise ValueError("adaptation must adapt the decoder passed in (adaptation.decoder is "
                         "another object)")
    n = _n_bins(env, seconds)
    cfg = env.config
    dt, v_max, ws = cfg.task.dt, cfg.v_max, cfg.task.workspace
    obs, info = env.reset(options={"day": env.day if day is None else day})
    decoder.reset()
    rti = None
    if adaptation is not None and intention == "rti":
        rti = RetrospectiveTargetInference(adaptation, cfg.task.timeout_steps + 1)
    lanes = np.arange(env.num_envs)
    unshrink = None
    if adaptation is not None and debias:
        unshrink = np.linalg.inv(decoder.steady_gain())
    restarting = np.zeros(env.num_envs, dtype=bool)
    chunks: list[dict[str, np.ndarray]] = []
    for t in tqdm(range(n), disable=not progress, desc="closed loop", unit="bin", mininterval=1):
        cursor, target, radius = info["cursor"], info["target"], info["target_radius"]
        intended = info["intended_velocity"]
        v = decoder.step(obs).copy()
        if adaptation is not None:
            live = ~restarting
            v_est = v if unshrink is None else np.einsum("lij,lj->li", unshrink, v)
            if intention == "refit":
                adaptation.observe(obs, refit_intention(v_est, cursor, target, radius),
                                   weight=live)
            elif intention == "intended":
                adaptation.observe(obs, intended, weight=live)
            else:
                rti.record(obs, v_est, cursor)
            if adaptation.tick() and unshrink is not None:
                unshrink = np.linalg.inv(decoder.steady_gain())
        obs, reward, term, _, info = env.step(v)
        done = info["trial_completed"] & ~restarting
        if rti is not None:
            end = np.clip(cursor + dt * np.clip(v, -v_max, v_max), -ws, ws)
            rti.end_trials(done, info["success"] & done, end, radius)
            rti.clear(restarting)
        if done.any():
            chunk = {k: np.asarray(info[k])[done] for k in ("state", *RESULT_KEYS)}
            chunk.update(subject=lanes[done], day=np.asarray(info["day"])[done],
                         time=np.full(int(done.sum()), (t + 1) * dt),
                         target_radius=np.asarray(radius)[done])
            chunks.append(chunk)
        if restarting.any():
            decoder.reset(restarting)
        restarting = term.copy()
    if not chunks:
        return pd.DataFrame(columns=["subject", "day", "trial", "time", "state", *RESULT_KEYS,
                                     "target_radius", "index_of_difficulty", "reward"])
    table = pd.DataFrame({k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]})
    table = table.sort_values(["subject", "time"], kind="stable").reset_index(drop=True)
    table.insert(1, "trial", table.groupby("subject").cumcount())
    table["reward"] = table["success"].astype(float)
    table["index_of_difficulty"] = np.log2(1.0 + table["distance"] / (2.0 * table["target_radius"]))
    cols = ["subject", "day", "trial", "time", "state", *RESULT_KEYS, "target_radius",
            "index_of_difficulty", "reward"]
    return table[cols]
