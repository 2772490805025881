"""The reward-trained BCI decoder: it learns from the error signal alone, seeds, bad arguments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cogmodels.agents.reward_decoder import RewardDecoder, SpikeFeatures, per_minute
from cogmodels.envs.bci import CursorBCI, CursorBCIVector


def _env(**kwargs) -> CursorBCI:
    return CursorBCI(n_trials=10**6, error_signal=(0.9, 0.1), **kwargs)


def test_learns_center_out_from_the_error_signal_alone():
    env = _env()
    dec = RewardDecoder(calibration_s=20, seed=0)
    hist = dec.train(env, n_seconds=200, seed=0)
    assert hist["calibrating"].iloc[0] and not hist["calibrating"].iloc[-1]
    # during calibration (noise only) nothing succeeds; by the end of training trials do
    assert hist[hist.calibrating].success.sum() == 0
    assert hist[hist.time_s > 140].success.sum() >= 5
    trained = dec.evaluate(env, n_seconds=40)  # greedy, same subject, no learning
    for agent in dec.agents:
        agent.W[:] = 0.0  # the untrained decoder
    untrained = dec.evaluate(env, n_seconds=40)
    assert untrained.success.sum() == 0
    assert trained.success.sum() >= untrained.success.sum() + 5
    assert trained.success.mean() > 0.5
    table = per_minute(hist)
    assert list(table.columns) == ["minute", "n_trials", "success_rate", "successes_per_min",
                                   "time_to_target"]
    assert table.successes_per_min.iloc[-1] > table.successes_per_min.iloc[0]


def test_same_seed_same_history_and_vector_lanes():
    def once(seed: int) -> tuple[pd.DataFrame, np.ndarray]:
        dec = RewardDecoder(calibration_s=5, seed=seed)
        h = dec.train(_env(target_radius=0.15), n_seconds=30, seed=seed)
        return h, dec.weights()

    (h1, w1), (h2, w2), (_, w3) = once(3), once(3), once(4)
    pd.testing.assert_frame_equal(h1, h2)
    np.testing.assert_array_equal(w1, w2)
    assert not np.array_equal(w1, w3)
    # the vector environment: one policy per lane (each lane is its own subject)
    venv = CursorBCIVector(num_envs=2, n_trials=10**6, error_signal=(0.9, 0.1))
    dec = RewardDecoder(n_lanes=2, calibration_s=2, seed=0)
    h = dec.train(venv, n_seconds=20, seed=0)
    assert set(h.lane) <= {0, 1}
    w = dec.weights()
    assert w.shape == (2, 2, 5) and not np.array_equal(w[0], w[1])


def test_features_whiten_the_calibration_spikes():
    rng = np.random.default_rng(0)
    f = SpikeFeatures(10, 2, n_components=3, tau=0.0, calibration_bins=2000)
    counts = rng.poisson(3.0, size=(2000, 2, 10))
    for c in counts:
        assert not f.ready
        f(c)
    assert f.ready
    y = np.stack([f(c) for c in counts])
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(y.std(axis=0), 1.0, atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"credit": "episode"}, ["credit", "'window'", "'step'", "'episode'"]),
        ({"n_components": 0}, ["n_components", ">= 1", "0"]),
        ({"n_components": 500}, ["n_components", "[1, n_units=192]", "500"]),
        ({"n_lanes": 1.5}, ["n_lanes", "integer", "1.5"]),
        ({"std": 0.0}, ["std", "(0, inf)", "0.0"]),
        ({"tau": -1}, ["tau", "[0, inf)", "-1"]),
        ({"calibration_s": "long"}, ["calibration_s", "'long'"]),
        ({"alpha_actor": -0.1}, ["alpha_actor", "[0, inf)", "-0.1"]),
        ({"max_window_s": 0}, ["max_window_s", "(0, inf)", "0"]),
    ],
)
def test_bad_arguments_raise_naming_them(kwargs, words):
    with pytest.raises(ValueError) as err:
        RewardDecoder(**kwargs)
    for w in words:
        assert w in str(err.value)


def test_bad_run_arguments_raise_naming_them():
    dec = RewardDecoder(calibration_s=1, seed=0)
    env = _env()
    with pytest.raises(ValueError, match=r"n_seconds and n_bins.*n_seconds=None.*n_bins=None"):
        dec.train(env)
    with pytest.raises(ValueError, match=r"n_seconds and n_bins.*n_seconds=1.*n_bins=5"):
        dec.train(env, n_seconds=1, n_bins=5)
    with pytest.raises(ValueError, match=r"n_bins must be an integer >= 1, got 0"):
        dec.train(env, n_bins=0)
    with pytest.raises(ValueError, match=r"n_seconds must be a finite number in \(0, inf\), got -2"):
        dec.train(env, n_seconds=-2)
    with pytest.raises(ValueError, match=r"env has 3 lanes but the decoder n_lanes=1"):
        dec.train(CursorBCIVector(num_envs=3), n_bins=1)
    with pytest.raises(ValueError, match=r"env has 64 units but the decoder n_units=192"):
        dec.train(CursorBCI(n_units=64), n_bins=1)
    with pytest.raises(ValueError, match=r"minutes must be a finite number in \(0, inf\), got 0"):
        per_minute(pd.DataFrame({"lane": [], "time_s": []}), minutes=0)
