"""``RewardDecoder.run``'s numbers pinned byte for byte, so that moving its loop cannot change them.

Three configurations, each a training run and then a second run on the same environment (the
decoder's and the environment's states carry over): four vector lanes whose 3-trial sessions end
at different bins (partial ``next_step`` resets) with the outcome-weighted rule; two lanes whose
one-trial sessions time out together (steps where every lane resets) with the actor-critic rule;
one single ``CursorBCI`` whose 2-trial sessions end, frozen features (8.5 s: with 8 s a session
ends on the last bin, which the old loop restarted at once and ``rollout`` does not, as a
``next_step`` vector env; so the loops differ there, in the features' smoothing and the env's
random stream only). The digest holds both trial
tables (and their ``n_bins`` / ``sim_s``), the policies' weights, every array, number and
generator state of the features and the learner, and the bins played. The hashes were taken from
the loop before it moved onto :func:`cogmodels.rollout.rollout`; they depend on the BLAS kernels
(taken with OpenBLAS's Haswell/Zen kernels: ``OPENBLAS_CORETYPE=Haswell`` where OpenBLAS would
pick SkylakeX ones). Re-taken once when the columns ``lane`` and ``time_s`` became ``subject`` and
``time`` (the digest hashes the column names): with the new columns renamed back, the digests
are the old ones (``e41751d8dcf9be66``, ``81c54da75c627f7b``, ``1c40eb4e59a7e383``).

The three were taken before the policy was carried through the features' re-estimates
(``carry_policy``, 2026-12-07): they run with ``carry_policy=False`` and the digest (of every
case) leaves out the features' ``carry_`` (the map recorded since), so they still pin the loop as
it was. A fourth case pins the carried policy (the first case with the default
``carry_policy=True``).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cogmodels.agents.decoders.reward import RewardDecoder
from cogmodels.envs.bci import CursorBCI, CursorBCIVector


def _update(h: Any, value: Any) -> None:
    """Hash ``value``: arrays by bytes, generators by state, containers and objects by parts."""
    if isinstance(value, np.ndarray):
        h.update(str(value.dtype).encode() + str(value.shape).encode())
        h.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, np.random.Generator):
        h.update(repr(value.bit_generator.state).encode())
    elif isinstance(value, dict):
        for k in sorted(value, key=str):
            h.update(str(k).encode())
            _update(h, value[k])
    elif isinstance(value, list | tuple):
        for v in value:
            _update(h, v)
    elif hasattr(value, "__dict__") and not isinstance(value, type):
        _update(h, vars(value))
    else:
        h.update(repr(value).encode())


def _digest(first: pd.DataFrame, second: pd.DataFrame, dec: RewardDecoder) -> str:
    h = hashlib.sha256()
    for table in (first, second):
        h.update(",".join(table.columns).encode())
        h.update(str(list(table.dtypes)).encode())
        h.update(pd.util.hash_pandas_object(table, index=True).to_numpy().tobytes())
        h.update(repr((table.attrs["n_bins"], table.attrs["sim_s"])).encode())
    _update(h, dec.weights())
    _update(h, {k: v for k, v in vars(dec.features).items() if k != "carry_"})
    _update(h, dec.learner)
    h.update(repr(dec.n_bins).encode())
    return h.hexdigest()[:16]


def _vector_sessions_end(carry_policy: bool = False):
    env = CursorBCIVector(num_envs=4, n_units=32, n_trials=3, timeout=1.0, target_radius=0.2,
                          target_distance=0.25, hold_time=0.06, error_signal="realistic")
    dec = RewardDecoder(32, 4, calibration_s=1.0, refit_s=1.0, seed=5, carry_policy=carry_policy)
    first = dec.train(env, seconds=20.0, seed=5, options={"day": 1})
    return first, dec.evaluate(env, seconds=4.0), dec


def _vector_every_lane_resets():
    env = CursorBCIVector(num_envs=2, n_units=16, n_trials=1, timeout=0.5, hold_time=0.1,
                          error_signal="idealised")
    dec = RewardDecoder(16, 2, rule="actor_critic", calibration_s=0.5, refit_s=0.5, seed=7,
                        carry_policy=False)
    first = dec.train(env, n_bins=300, seed=7)
    return first, dec.run(env, n_bins=100, learn=False, greedy=False), dec


def _single_sessions_end():
    env = CursorBCI(n_units=24, n_trials=2, timeout=1.0, error_signal="realistic")
    dec = RewardDecoder(24, 1, calibration_s=1.0, refit_s=1.0, half_life_s=None, seed=9)
    first = dec.train(env, seconds=8.5, seed=9)
    return first, dec.evaluate(env, seconds=3.0), dec


CASES = {
    "vector_sessions_end": ("ea68f96be7236f7c", _vector_sessions_end),
    "vector_every_lane_resets": ("13dcbc697e4d710d", _vector_every_lane_resets),
    "single_sessions_end": ("93a67fe4cb269388", _single_sessions_end),
    "vector_sessions_end_carried": ("f54ea594eda6afe6", lambda: _vector_sessions_end(carry_policy=True)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_reward_decoder_run_keeps_its_numbers_byte_for_byte(name):
    expected, play = CASES[name]
    first, second, dec = play()
    assert first["subject"].nunique() == dec.n_lanes and len(second) > 0
    assert _digest(first, second, dec) == expected
