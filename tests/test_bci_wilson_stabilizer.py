"""Degenhart et al. (2020)'s stabiliser on Wilson et al. (2023)'s drift with stable channels.

Sixty of 192 channels keep their tuning (Wilson et al.'s stabiliser example:
``simulateTuningShift(n_stable=60)``, ``B = 60``) while the others rotate with a daily subspace
similarity of 0.91: after 30 days the rotated channels' tuning keeps principal cosines
0.91^30 ≈ 0.06 of day 0's. As in that example, the counts are unit activity under random
intentions (10,000 bins; their ``simulateUnitActivity``), not a closed loop. The stabiliser,
realigned on the day's unlabelled counts with the stable channels chosen from the data, should
decode the intentions about as well as on day 0 and as well as with the hidden stable set; the
day-0 decoder left alone should not.
"""

from __future__ import annotations

import numpy as np
import pytest

from cogmodels.agents.decoders.stabilizer import ProcrustesStabilizer
from cogmodels.agents.decoders.wilson_study import (
    hidden_stable_channels,
    run_wilson_protocol,
    wilson_drift,
)
from cogmodels.envs.bci.drift import NeuralTrajectory, TuningRotation, make_drift
from cogmodels.envs.bci.encoder import PopulationSpec

N_STABLE, DAY, T, DT = 60, 30, 10_000, 0.02
DECODED = 3000  # bins decoded to score (the fits use all T)


def _direction_cosine(decoded: np.ndarray, intended: np.ndarray) -> float:
    """Mean cosine between decoded and intended directions over bins with an intention."""
    speed = np.linalg.norm(intended, axis=-1)
    keep = speed > 0.2 * speed.max()
    d, u = decoded[keep], intended[keep]
    return float(np.mean(np.sum(d * u, axis=-1) / np.maximum(
        np.linalg.norm(d, axis=-1) * np.linalg.norm(u, axis=-1), 1e-12)))


@pytest.fixture(scope="module")
def days(unit_activity):
    """Counts ``(T, 2, 192)`` and intentions of two subjects on day 0 and day ``DAY``."""
    drift = make_drift((TuningRotation(0.91, n_stable=N_STABLE),))
    spec = PopulationSpec()
    rng = np.random.default_rng(0)
    subjects = [NeuralTrajectory(spec, drift, seed=s) for s in (1, 2)]
    return (unit_activity(subjects, 0, T, rng, DT), unit_activity(subjects, DAY, T, rng, DT),
            hidden_stable_channels(drift, spec.n_units))


def _score(st: ProcrustesStabilizer, y: np.ndarray, u: np.ndarray) -> float:
    return _direction_cosine(st.decode(y[:DECODED]), u[:DECODED])


def test_stabilizer_realigns_on_stable_channels_it_finds_in_unlabelled_counts(days):
    (y0, u0), (y, u), hidden = days
    assert hidden.sum() == N_STABLE and hidden[:N_STABLE].all()
    st = ProcrustesStabilizer(stable_fraction=N_STABLE / y.shape[2], read="all").fit(y0, u0)
    day0, fixed = _score(st, y0, u0), _score(st, y, u)
    st.realign(y)  # no labels
    realigned = _score(st, y, u)
    precision = (st.stable_ & hidden).sum(axis=1) / st.stable_.sum(axis=1)
    st.realign(y, stable=hidden)  # the ablation: the simulator's hidden stable set
    oracle = _score(st, y, u)
    assert (precision > 0.45).all(), precision  # chance: 60 / 192 = 0.31
    assert realigned > 0.9 * day0 and fixed < 0.65 * day0, (day0, fixed, realigned)  # 0.77, 0.82, 0.45
    assert abs(realigned - oracle) < 0.03, (realigned, oracle)
    np.testing.assert_array_equal(st.stable_, np.broadcast_to(hidden, st.stable_.shape))


def test_reading_only_the_stable_channels_loses_what_the_others_carry(days):
    """Degenhart et al.'s read-out from the stable channels alone has a third of the channels'
    signal here; Wilson et al.'s simulator reads every channel through the aligned model."""
    (y0, u0), (y, u), _ = days
    scores = {}
    for read in ("stable", "all"):
        st = ProcrustesStabilizer(stable_fraction=N_STABLE / y.shape[2], read=read).fit(y0, u0)
        scores[read] = _score(st.realign(y), y, u)
    assert scores["all"] > scores["stable"] + 0.05, scores


def test_bad_stable_sets_and_reads_are_refused(days):
    (y0, u0), (y, _), hidden = days
    st = ProcrustesStabilizer().fit(y0[:500], u0[:500])
    with pytest.raises(ValueError, match="stable must be booleans of shape"):
        st.realign(y[:500], stable=hidden[:10])
    with pytest.raises(ValueError, match="stable must mark at least n_factors=10"):
        st.realign(y[:500], stable=np.arange(y.shape[2]) < 5)
    with pytest.raises(ValueError, match="read must be one of"):
        ProcrustesStabilizer(read="some")


def test_wilson_drift_keeps_the_first_channels_and_without_rotation_all():
    assert hidden_stable_channels(wilson_drift(60), 192).sum() == 60
    assert hidden_stable_channels(wilson_drift(), 192).sum() == 0
    assert hidden_stable_channels((), 192).all()
    with pytest.raises(ValueError, match="'stabilizer_oracle' only with a drift that keeps"):
        run_wilson_protocol(["stabilizer_oracle"])  # Wilson et al.'s drift: no stable channel
