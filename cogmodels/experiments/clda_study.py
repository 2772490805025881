"""CLDA from different seed decoders (Orsborn et al. 2012; Dangi et al. 2014).

Orsborn et al. (2012) seeded a Kalman filter four ways — from a visual-observation block, from
ipsilateral arm movements, from spontaneous activity and with arbitrary weights — and SmoothBatch
CLDA brought every one to proficiency (8 successes/min) within 13.1 ± 5.5 minutes (mean ± sd);
Dangi et al. (2014) found RML faster. :func:`seed_decoder` builds the seeds here from one
calibration block:

- ``"calibrated"``: fitted on the block's labels (the user's true intended velocity on the
  idealised ``"intention"`` block; the cued cursor's velocity on an open-loop
  ``"observation"`` block, as Orsborn et al.'s visual-observation seed);
- ``"rotated90"``, ``"rotated180"``: fitted on labels rotated by 90° / 180° (a decoder that points
  the wrong way);
- ``"shuffled"``: fitted on labels shuffled in time (no relation to the counts: the decoder of
  spontaneous activity);
- ``"arbitrary"``: the calibrated fit with its tuning ``H`` replaced by Gaussian weights of the
  same per-lane root-mean-square, set through ``set_encoding``.

:func:`acquisition` drives each seed in closed loop under each rule and returns successes per
minute.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from cogmodels.agents.decoders.clda import INTENTION_SPEED, RML, SmoothBatch, _Adaptation
from cogmodels.agents.decoders.kalman import SteadyStateKalmanDecoder
from cogmodels.agents.decoders.linear import EncodingDecoder
from cogmodels.agents.decoders.session import _rotate, calibration_block, run_closed_loop
from cogmodels.deprecation import renamed_arguments
from cogmodels.envs.bci.vector import CursorBCIVector
from cogmodels.validation import check_bool, check_choice, check_int, check_number

__all__ = ["RULES", "SEEDS", "acquisition", "cued_speed", "seed_decoder", "time_to_proficiency"]

SEEDS = ("calibrated", "rotated90", "rotated180", "shuffled", "arbitrary")


def seed_decoder(kind: str, counts: np.ndarray, labels: np.ndarray,
                 make: Callable[[], EncodingDecoder] = SteadyStateKalmanDecoder,
                 seed: int = 0) -> EncodingDecoder:
    """Return a seed decoder of ``kind`` (one of :data:`SEEDS`) from a calibration block.

    Parameters
    ----------
    kind : str
        One of :data:`SEEDS` (module docstring).
    counts, labels : numpy.ndarray
        The calibration block, ``(T, L, N)`` and ``(T, L, 2)``.
    make : callable
        Returns a new unfitted encoding decoder.
    seed : int
        Seeds the shuffle and the arbitrary weights.

    Returns
    -------
    EncodingDecoder
        Fitted, one lane per lane of the block.
    """
    check_choice("kind", kind, SEEDS)
    rng = np.random.default_rng(seed)
    if kind.startswith("rotated"):
        return make().fit(counts, _rotate(labels, float(kind[len("rotated"):])))
    if kind == "shuffled":
        return make().fit(counts, labels[rng.permutation(labels.shape[0])])
    dec = make().fit(counts, labels)
    if kind == "arbitrary":
        rms = np.sqrt(np.mean(dec.H_**2, axis=(1, 2)))[:, None, None]
        dec.set_encoding(rms * rng.standard_normal(dec.H_.shape), dec.d_, dec.q_)
    return dec


#: rule name -> ``f(decoder, speed) -> adaptation`` (None: no adaptation): SmoothBatch with
#: Orsborn et al.'s 60 s batches and 120 s half-life, RML with a 60 s half-life re-solved every
#: 0.5 s, both fed ReFIT directions at the CursorGoal speed ``speed``
RULES: dict[str, Callable[[EncodingDecoder, float], _Adaptation | None]] = {
    "none": lambda d, speed: None,
    "smoothbatch": lambda d, speed: SmoothBatch(d, batch_s=60.0, half_life=120.0,
                                                intention_speed=speed),
    "rml": lambda d, speed: RML(d, half_life=60.0, update_s=0.5, intention_speed=speed),
}


def cued_speed(labels: np.ndarray) -> float:
    """Return the mean speed of a calibration block's labels over the bins in which they move.

    On an open-loop block (``paradigm="observation"`` or ``"attempt"``) the labels are the cued
    cursor's velocity, which the experimenter designed: a ``CursorGoal`` speed taken from them
    reads nothing hidden. Bins with a zero label (the cursor holding) are left out.
    """
    speed = np.linalg.norm(np.asarray(labels, dtype=float), axis=-1).ravel()
    moving = speed[speed > 1e-9]
    if not moving.size:
        raise ValueError("labels must move in some bin to give a CursorGoal speed, got none")
    return float(moving.mean())


def time_to_proficiency(per_minute: np.ndarray, threshold: float = 8.0, *,
                        strict: bool = False) -> float:
    """Return the first minute (1-based: the end of that minute) whose rate is ≥ ``threshold``.

    ``strict``: the rate must exceed ``threshold`` (a target worded "> 8 successes/min"). NaN
    when no minute reaches it.
    """
    rate = np.asarray(per_minute)
    hit = np.flatnonzero(rate > threshold if check_bool("strict", strict) else rate >= threshold)
    return float(hit[0] + 1) if hit.size else float("nan")


@renamed_arguments(calibration_seconds="calibration_s")
def acquisition(
    seeds: Sequence[str] = SEEDS,
    rules: Sequence[str] = tuple(RULES),
    n_subjects: int = 8,
    minutes: int = 20,
    calibration_s: float = 60.0,
    seed: int = 0,
    *,
    paradigm: str = "intention",
    lag: float = 0.0,
    intention_speed: float | None = INTENTION_SPEED,
    gain: float = 1.0,
    **env_kwargs: Any,
) -> pd.DataFrame:
    """Return successes per minute of every seed under every rule, per subject.

    Columns ``seed_decoder``, ``rule``, ``subject``, ``minute`` (1-based) and ``successes``.
    Every (seed, rule) pair meets the same subjects and targets (the environment is reset from
    ``seed`` each time).

    ``paradigm`` and ``lag`` are the calibration block's
    (:func:`~cogmodels.agents.decoders.session.calibration_block`; the default ``"intention"``
    block is the idealised one: its labels are the user's true intended velocity).
    ``intention_speed`` is the rules' ``CursorGoal`` speed (widths/s; the default
    :data:`~cogmodels.agents.decoders.clda.INTENTION_SPEED` was measured from the user's true
    intention, part of the idealised setting); None takes it from the block's labels
    (:func:`cued_speed`: the cued cursor's speed on an open-loop block).
    ``gain`` multiplies the decoder's output in closed loop.
    """
    for kind in seeds:
        check_choice("seeds", kind, SEEDS)
    for rule in rules:
        check_choice("rules", rule, tuple(RULES))
    n_subjects = check_int("n_subjects", n_subjects, 1)
    minutes = check_int("minutes", minutes, 1)
    if intention_speed is not None:
        intention_speed = check_number("intention_speed", intention_speed, 0.0, low_open=True)
    gain = check_number("gain", gain, 0.0, low_open=True)
    rows = []
    for kind in seeds:
        for rule in rules:
            env = CursorBCIVector(num_envs=n_subjects, n_trials=10**6, **env_kwargs)
            env.reset(seed=seed)
            counts, labels = calibration_block(env, calibration_s, paradigm=paradigm, lag=lag)
            speed = cued_speed(labels) if intention_speed is None else intention_speed
            dec = seed_decoder(kind, counts, labels, seed=seed)
            trials = run_closed_loop(env, dec, minutes * 60.0, adaptation=RULES[rule](dec, speed),
                                     gain=gain)
            ok = trials[trials["success"]]
            minute = np.minimum((ok["time"].to_numpy() // 60).astype(int), minutes - 1)
            hist = np.zeros((n_subjects, minutes))
            np.add.at(hist, (ok["subject"].to_numpy(), minute), 1.0)
            for s in range(n_subjects):
                rows += [(kind, rule, s, m + 1, hist[s, m]) for m in range(minutes)]
    return pd.DataFrame(rows, columns=["seed_decoder", "rule", "subject", "minute", "successes"])
