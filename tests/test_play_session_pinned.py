"""``play_session``'s numbers pinned byte for byte, so that moving its loop cannot change them.

Each configuration plays a ``next_step`` ``CursorBCIVector`` with the realistic error signal and
hashes the trial table, the :class:`OutcomeRecord` (every bin's counts, decoded velocity,
cursor, error signal, click and trial end), the gain bandit's counts and choices and the bias
correction's state: PRI-T refit within the session with a gain bandit (sessions of two trials,
so lanes start new sessions at different bins); PRI-T with the error evaluations, gated, with
bias correction and a smoothing bandit; the reward-trained decoder's session of ``no_labels``;
a fixed filter in sessions that never end (as :func:`run_reward_drift` plays them). The hashes
were taken from the loop before it moved onto :func:`cogmodels.rollout.rollout`. Two of them were
re-taken when a lane that restarts holds its reset's ``info`` on its first bin (as Gymnasium's
``SyncVectorEnv``), which changes every run from the first restarted lane's first bin on. The
hashes depend on the BLAS kernels: they were taken with OpenBLAS's Haswell/Zen kernels (run with
``OPENBLAS_CORETYPE=Haswell`` on a CPU where OpenBLAS picks SkylakeX ones).
"""

from __future__ import annotations

import hashlib
from functools import partial

import numpy as np
import pandas as pd
import pytest

import cogmodels  # noqa: F401
from cogmodels.agents.decoders.bias import BiasCorrection
from cogmodels.agents.decoders.kalman import SteadyStateKalmanDecoder
from cogmodels.agents.decoders.outcome_recalibration import (
    RECALIBRATIONS,
    OutcomeRecalibration,
    OutcomeRecord,
    _refit,
    play_session,
    pri_t_model,
)
from cogmodels.agents.decoders.reward import GreedyPolicy, RewardDecoder
from cogmodels.agents.decoders.session import calibration_block
from cogmodels.agents.reward_learners import GainBandit
from cogmodels.envs.bci import CursorBCIVector

LANES, UNITS = 3, 48
#: a trial times out after 2 s, so sessions of a few trials end within the 10 s played
TASK = {"n_units": UNITS, "error_signal": "realistic", "timeout": 2.0}

CASES = {
    "pri_t_bandit_sessions_end": ("c3560642ade9e543", dict(seed=1, n_trials=2, recal="pri_t", bandit=True)),
    "pri_t_errors_gated_bias_smoothing": ("dc8fd5bc8e881d37", dict(
        seed=2, n_trials=3, recal="pri_t_errors", gated=True, bias=True, bandit=True,
        smoothing=(0.0, 0.5))),
    "no_labels_reward_decoder": ("21cee1017fb632b8", dict(seed=3, n_trials=10**6, reward=True)),
    "fixed_filter_long_sessions": ("8d40f2fc34759a0c", dict(seed=4, n_trials=10**6, day=None)),
}


def _digest(table: pd.DataFrame, record, bandit, bias) -> str:
    h = hashlib.sha256()
    h.update(",".join(table.columns).encode())
    h.update(str(list(table.dtypes)).encode())
    h.update(pd.util.hash_pandas_object(table, index=True).to_numpy().tobytes())
    if record is not None:
        for key, value in record.arrays().items():
            h.update(key.encode())
            h.update(np.ascontiguousarray(value).tobytes())
    if bandit is not None:
        for a in (bandit.successes_, bandit.seconds_, bandit.arm_):
            h.update(np.ascontiguousarray(a).tobytes())
    if bias is not None:
        h.update(repr(bias.bias_).encode())
    return h.hexdigest()[:16]


def _play(case: dict) -> tuple[pd.DataFrame, str]:
    seed = case["seed"]
    cal = CursorBCIVector(num_envs=LANES, n_trials=10**6, **TASK)
    cal.reset(seed=seed, options={"day": 0})
    env = CursorBCIVector(num_envs=LANES, n_trials=case["n_trials"], **TASK)  # next_step autoreset
    env.reset(seed=seed, options={"day": 0})
    dt = env.config.task.dt
    record = OutcomeRecord()
    bandit = (GainBandit(LANES, (0.7, 1.0, 1.4), case.get("smoothing", (0.0,)), seed=seed)
              if case.get("bandit") else None)
    bias = BiasCorrection(2.0, dt=dt) if case.get("bias") else None
    refit_at, refit = (), None
    if case.get("reward"):
        dec = RewardDecoder(UNITS, LANES, calibration_s=2.0, seed=seed, carry_policy=False)
        dec.train(cal, seconds=4.0, options={"day": 0})
        decoder = GreedyPolicy(dec)
    else:
        fixed = SteadyStateKalmanDecoder(dt=dt).fit(*calibration_block(cal, 10.0, day=0))
        decoder = fixed
        if "recal" in case:
            settings = dict(RECALIBRATIONS[case["recal"]])
            if case.get("gated"):
                settings.update(error_weight=0.0, failed_trial_weight=0.0)
            recal = OutcomeRecalibration(pri_t_model(env), env.config.error_signal, dt=dt,
                                         n_iter=2, prior_s=5.0, **settings)
            recal.start(fixed)
            recal.begin_session()
            decoder = recal.driver()
            refit_at, refit = (3.0, 6.0, 10.0), partial(_refit, recal, record, bias)
    table = play_session(env, decoder, 10.0, day=case.get("day", 2), bandit=bandit, bias=bias,
                         record=record, refit_at=refit_at, refit=refit)
    return table, _digest(table, record, bandit, bias)


@pytest.mark.parametrize("name", list(CASES))
def test_play_session_keeps_its_numbers_byte_for_byte(name):
    expected, case = CASES[name]
    table, digest = _play(case)
    if case["n_trials"] < 10:
        assert table["subject"].value_counts().max() > case["n_trials"]  # a lane restarted
    assert digest == expected



class _Still:
    """A decoder that holds the cursor still: no trial ever reaches its target."""

    def reset(self, mask=None):
        return self

    def step(self, counts):
        return np.zeros((len(counts), 2))


def test_a_session_ending_in_every_lane_at_once_plays_on():
    """A still cursor times out every lane's one-trial session on the same bin (2 s), so
    Gymnasium's next_step autoreset resets all of them at once: the session plays on (the loop
    written out raised ``KeyError: 'trial_completed'`` there); the reset bins are not decoded
    nor recorded, so each trial after the first ends one bin (20 ms) later on the clock."""
    env = CursorBCIVector(num_envs=2, n_trials=1, **TASK)
    env.reset(seed=0, options={"day": 0})
    record = OutcomeRecord()
    table = play_session(env, _Still(), 6.1, record=record)
    assert table["subject"].tolist() == [0, 0, 0, 1, 1, 1]
    assert table["timed_out"].all()
    np.testing.assert_allclose(table["time"], [2.0, 4.02, 6.04] * 2)
    assert len(record) == 305 - 3  # the bin after each of the three ends resets every lane
