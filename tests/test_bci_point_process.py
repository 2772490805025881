"""Point-process filter (Eden et al. 2004; Shanechi et al. 2016) and spike-event CLDA."""

from __future__ import annotations

import numpy as np
import pytest

from cogmodels.agents.decoders import (
    KalmanDecoder,
    SteadyStateKalmanDecoder,
    load_decoder,
    run_closed_loop,
)
from cogmodels.agents.decoders.point_process import (
    PointProcessCLDA,
    PointProcessFilter,
    fit_poisson_glm,
)
from cogmodels.agents.decoders.session import calibration_block
from cogmodels.envs.bci import CursorBCIVector

DT = 0.02


def _poisson_block(rng, T=3000, N=40):
    """A smooth velocity (the KF's physical prior) and log-linear Poisson counts of it."""
    a = np.exp(-DT / 0.448)
    v = np.zeros((T, 2))
    for t in range(1, T):
        v[t] = a * v[t - 1] + 0.33 * np.sqrt(1 - a * a) * rng.normal(size=2)
    angle = rng.uniform(0, 2 * np.pi, N)
    alpha = rng.uniform(0.5, 2.0, N)[:, None] * np.stack([np.cos(angle), np.sin(angle)], 1)
    beta = np.log(rng.uniform(5, 30, N) * DT)
    return v, rng.poisson(np.exp(beta + v @ alpha.T)), alpha, beta


def test_poisson_glm_recovers_the_generating_tuning():
    v, y, alpha, beta = _poisson_block(np.random.default_rng(0))
    a, b = fit_poisson_glm(y[:, None], v[:, None])
    assert np.corrcoef(a[0].ravel(), alpha.ravel())[0, 1] > 0.98
    assert np.abs(b[0] - beta).max() < 0.2  # ~ 1/sqrt(counts) of the faintest unit


def test_ppf_decodes_poisson_counts_like_the_kalman_filter():
    v, y, _, _ = _poisson_block(np.random.default_rng(1))
    train, test = slice(0, 2000), slice(2000, None)
    ppf = PointProcessFilter().fit(y[train], v[train]).decode(y[test])
    kf = KalmanDecoder().fit(y[train], v[train]).decode(y[test])
    for k in range(2):
        assert np.corrcoef(ppf[:, k], kf[:, k])[0, 1] > 0.97
    err_ppf = np.mean(np.sum((ppf - v[test]) ** 2, 1))
    err_kf = np.mean(np.sum((kf - v[test]) ** 2, 1))
    assert err_ppf < 1.05 * err_kf  # the PPF has the true (log-linear) observation model
    assert err_ppf < 0.25 * np.mean(np.sum(v[test] ** 2, 1))


def test_spike_event_clda_turns_a_rotated_seed_toward_the_true_tuning():
    v, y, alpha, _ = _poisson_block(np.random.default_rng(2), T=3000)
    turn = np.array([[0.0, -1.0], [1.0, 0.0]])  # labels 90° off
    seed = PointProcessFilter().fit(y[:1500], v[:1500] @ turn)

    def direction_cosine(est):
        e = est / np.linalg.norm(est, axis=1, keepdims=True)
        return float(np.mean((e * alpha / np.linalg.norm(alpha, axis=1, keepdims=True)).sum(1)))

    assert abs(direction_cosine(seed.alpha_[0])) < 0.2
    clda = PointProcessCLDA(seed)
    clda.observe(y[1500:, None], v[1500:, None])
    assert direction_cosine(seed.alpha_[0]) > 0.9  # 0.95 with seed 2: 30 s of spikes
    assert clda.n_updates_ == 1500


def test_ppf_drives_the_closed_loop_as_well_as_the_kalman_filter_and_saves(tmp_path):
    """On the same 20 s block, the PPF drives the cursor about as well as the steady-state KF
    (seeds 0-2, 4 lanes, 30 s: 22-24.5 against 21-25 successes/min, every trial a success)."""
    env = CursorBCIVector(num_envs=4, n_trials=10**6, n_units=32)
    env.reset(seed=0, options={"day": 0})
    block = calibration_block(env, 20.0, day=0)
    dec = PointProcessFilter().fit(*block)
    ppf = run_closed_loop(env, dec, 30.0, day=0)
    kf = run_closed_loop(env, SteadyStateKalmanDecoder().fit(*block), 30.0, day=0)
    assert ppf.success.mean() >= 0.9
    assert ppf.success.sum() >= 0.8 * kf.success.sum() and kf.success.sum() > 0
    trials = run_closed_loop(env, dec, 5.0, adaptation=PointProcessCLDA(dec),
                             intention="intended")
    assert len(trials) > 0
    back = load_decoder(dec.save(tmp_path / "ppf"))
    counts = np.random.default_rng(0).poisson(1.0, size=(20, 4, 32))
    np.testing.assert_array_equal(back.decode(counts), dec.decode(counts))


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="velocity_tau"):
        PointProcessFilter(velocity_tau=0.0)
    with pytest.raises(TypeError, match="PointProcessFilter"):
        PointProcessCLDA(KalmanDecoder())


def _concrete_decoders():
    import cogmodels.agents.decoders  # noqa: F401 - every class, whatever else the session imported
    from cogmodels.agents.decoders.base import _decoder_classes

    return sorted((c for c in _decoder_classes().values()
                   if c.__module__.startswith("cogmodels.agents.decoders.")
                   and c.__name__ not in ("EncodingDecoder", "_SmoothedLinear")),
                  key=lambda c: c.__name__)


@pytest.mark.parametrize("cls", _concrete_decoders(), ids=lambda c: c.__name__)
def test_every_decoder_saves_and_loads_to_identical_decodes(cls, tmp_path):
    v, y, _, _ = _poisson_block(np.random.default_rng(4), T=400, N=12)
    dec = cls().fit(y[:300], v[:300])
    dec.decode(y[300:320])  # leave a state to continue from
    back = load_decoder(dec.save(tmp_path / cls.__name__))
    assert type(back) is cls and back.get_params() == dec.get_params()
    a = np.stack([dec.step(c).copy() for c in y[320:]])
    b = np.stack([back.step(c).copy() for c in y[320:]])
    np.testing.assert_array_equal(b, a)


def test_a_saved_wilson_decoder_loads_in_a_fresh_process(tmp_path):
    """``load_decoder`` finds every decoder class, not only those its process happened to import."""
    import subprocess
    import sys

    from cogmodels.agents.decoders import WilsonLinearDecoder

    v, y, _, _ = _poisson_block(np.random.default_rng(5), T=300, N=12)
    path = WilsonLinearDecoder().fit(y, v).save(tmp_path / "wilson")
    code = ("import sys; from cogmodels.agents.decoders.base import load_decoder; "
            "print(type(load_decoder(sys.argv[1])).__name__)")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "WilsonLinearDecoder"
