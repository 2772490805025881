"""``run_closed_loop``'s numbers pinned byte for byte, so that moving its loop cannot change them.

Each configuration (a fixed Kalman filter; SmoothBatch and RML CLDA with every intention; assist,
bias correction, per-lane gains, a recorded session) plays a ``next_step`` ``CursorBCIVector``
whose sessions end (``n_trials=2``), and hashes the trial table, the decoder's model and state
arrays, the :class:`SessionRecord` and the assist's and bias correction's state. The hashes were
taken from the loop before it moved onto :func:`cogmodels.rollout.rollout`. Three of them were
re-taken when a lane that restarts holds its reset's ``info`` on its first bin (as Gymnasium's
``SyncVectorEnv``), which changes every run from the first restarted lane's first bin on. The
hashes depend on the BLAS kernels: they were taken with OpenBLAS's Haswell/Zen kernels (run with
``OPENBLAS_CORETYPE=Haswell`` on a CPU where OpenBLAS picks SkylakeX ones).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

import cogmodels  # noqa: F401
from cogmodels.agents.decoders import (
    RML,
    Assist,
    BiasCorrection,
    KalmanDecoder,
    SmoothBatch,
    SteadyStateKalmanDecoder,
)
from cogmodels.agents.decoders.session import SessionRecord, calibration_block, run_closed_loop
from cogmodels.envs.bci import CursorBCIVector

N_TRIALS = 2  # trials per session: every lane starts new sessions within the run

CASES = {
    "fixed_kf": ("0a8903ce31e1ab44", dict(seed=1, cls=KalmanDecoder)),
    "smoothbatch_refit_bias": ("ac5f12f6d8e2a8ec", dict(
        seed=2, cls=KalmanDecoder, rule=lambda d: SmoothBatch(d, batch_s=1.0), bias=True)),
    "rml_ofc_assist_record": ("e2cdf4eef59a031d", dict(
        seed=3, cls=SteadyStateKalmanDecoder, rule=lambda d: RML(d, half_life=5.0, update_s=0.2),
        intention="ofc", assist=True, record=True)),
    "rml_rti_gains": ("ee24c95f748e2a5f", dict(
        seed=4, cls=KalmanDecoder, rule=lambda d: RML(d, half_life=5.0), intention="rti",
        gain=[0.8, 1.0, 1.3])),
    "rml_intended_nodebias_day": ("937aa66edf03a6a4", dict(
        seed=5, cls=KalmanDecoder, rule=lambda d: RML(d, half_life=5.0), intention="intended",
        debias=False, day=3)),
}


def _digest(table, decoder, record, assist, bias) -> str:
    h = hashlib.sha256()
    h.update(",".join(table.columns).encode())
    h.update(str(list(table.dtypes)).encode())
    h.update(pd.util.hash_pandas_object(table, index=True).to_numpy().tobytes())
    for name in (*decoder._model_arrays, *decoder._state_arrays):
        if hasattr(decoder, name):
            h.update(name.encode())
            h.update(np.ascontiguousarray(getattr(decoder, name)).tobytes())
    if record is not None:
        for key, value in record.arrays().items():
            h.update(key.encode())
            h.update(np.ascontiguousarray(value).tobytes())
    if assist is not None:
        h.update(repr(assist.level_).encode())
    if bias is not None:
        h.update(bias.bias_.tobytes())
    return h.hexdigest()[:16]


def _play(case: dict) -> tuple[pd.DataFrame, str]:
    cal = CursorBCIVector(num_envs=3, n_trials=10**6, n_units=48)
    cal.reset(seed=case["seed"])
    decoder = case["cls"]().fit(*calibration_block(cal, 15.0))
    env = CursorBCIVector(num_envs=3, n_trials=N_TRIALS, n_units=48)  # next_step autoreset
    env.reset(seed=case["seed"])
    adaptation = case["rule"](decoder) if "rule" in case else None
    assist = Assist(level=0.5, seconds=8.0) if case.get("assist") else None
    bias = BiasCorrection(tau=2.0) if case.get("bias") else None
    record = SessionRecord() if case.get("record") else None
    table = run_closed_loop(env, decoder, 12.0, adaptation=adaptation,
                            intention=case.get("intention", "refit"), debias=case.get("debias", True),
                            gain=case.get("gain", 1.0), assist=assist, bias=bias, record=record,
                            day=case.get("day"))
    return table, _digest(table, decoder, record, assist, bias)


@pytest.mark.parametrize("name", list(CASES))
def test_run_closed_loop_keeps_its_numbers_byte_for_byte(name):
    expected, case = CASES[name]
    table, digest = _play(case)
    assert table["subject"].value_counts().max() > N_TRIALS  # a lane started a new session
    assert digest == expected
