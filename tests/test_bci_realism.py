"""Tests of the realism of issue 14 §1: daily SNR mixture and gain re-sweep, within-session
nonstationarity, encoders, the grid task and the user's learning."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from cogmodels.envs.bci import (
    WILSON_GAINS,
    BaselineShift,
    CursorBCIVector,
    NeuralTrajectory,
    PopulationSpec,
    SNRMixture,
    TransientLoss,
    TuningRotation,
    draw_population,
    make_drift,
    subspace_similarity,
    sweep_gain,
)

SPEC = PopulationSpec()
Z = 4.0

# Wilson et al. (2023)'s sampleSNR, as published in their simulator (raw mixture, then the map)
W_WEIGHT_LOW, W_RAW = 0.6716436, ((1.6244981, 0.11382677), (2.78165778, 0.07465756))
W_SCALE, W_SHIFT = 0.3365, -0.04438


def wilson_components():
    means = [W_SCALE * m + W_SHIFT for m, _ in W_RAW]
    sds = [W_SCALE * np.sqrt(v) for _, v in W_RAW]
    return np.array([W_WEIGHT_LOW, 1 - W_WEIGHT_LOW]), np.array(means), np.array(sds)


def daily_gains(drift, days: int, seed: int = 0) -> np.ndarray:
    tr = NeuralTrajectory(SPEC, make_drift(drift), seed)
    return np.array([tr.on_day(d).gain for d in range(days)])


# -- (1) SNR mixture redrawn daily, gain re-sweep --------------------------------------------
def test_snr_mixture_defaults_are_wilsons_sampler():
    w, m, s = wilson_components()
    mix = SNRMixture()
    np.testing.assert_allclose(mix.weights, w, rtol=1e-12)
    np.testing.assert_allclose(mix.means, m, rtol=1e-12)
    np.testing.assert_allclose(mix.sds, s, rtol=1e-12)
    assert mix.reference == 0.5
    assert mix.gain(0.5) == 1.0


def test_snr_mixture_daily_gains_have_the_mixtures_moments_and_modes():
    days = 3000
    g = daily_gains(SNRMixture(), days) * 0.5  # back to SNR units
    w, m, s = wilson_components()
    mean = w @ m
    sd = np.sqrt(w @ (s**2 + m**2) - mean**2)
    assert abs(g.mean() - mean) <= Z * sd / np.sqrt(days)
    assert g.std() == pytest.approx(sd, rel=0.08)
    # the fraction of "good" days above the dip between the modes (0.7)
    p_high = w @ norm.sf(0.7, m, s)
    assert abs((g > 0.7).mean() - p_high) <= Z * np.sqrt(p_high * (1 - p_high) / days)
    # two modes with a dip between them, in the mixture's proportions
    centres = (m[0], 0.7, m[1])
    near = np.array([np.mean(np.abs(g - c) < 0.05) for c in centres])
    expect = np.array([w @ (norm.cdf(c + 0.05, m, s) - norm.cdf(c - 0.05, m, s)) for c in centres])
    assert (np.abs(near - expect) <= Z * np.sqrt(expect * (1 - expect) / days)).all()
    assert near[1] < near[0] and near[1] < near[2]
    # redrawn, not walked: consecutive days are uncorrelated
    r = np.corrcoef(g[:-1], g[1:])[0, 1]
    assert abs(r) <= Z / np.sqrt(days)


def test_snr_mixture_sets_day_zero_and_leaves_other_presets_day_zero_as_drawn():
    g = daily_gains([TuningRotation(0.91), SNRMixture()], 1, seed=5)[0]
    assert g != 1.0
    for preset in ("typical", "severe", "stable_implant"):
        tr = NeuralTrajectory(SPEC, make_drift(preset), 5)
        ref = draw_population(SPEC, np.random.default_rng([5, 0]))
        pop = tr.on_day(0)
        assert pop.gain == 1.0
        np.testing.assert_array_equal(pop.tuning, ref.tuning)


def test_snr_mixture_is_seed_addressable_and_byte_identical():
    drift = [TuningRotation(0.91), SNRMixture()]
    a = NeuralTrajectory(SPEC, make_drift(drift), 11)
    b = NeuralTrajectory(SPEC, make_drift(drift), 11)
    a.on_day(9)  # visiting other days first changes nothing
    assert a.on_day(4).gain == b.on_day(4).gain
    np.testing.assert_array_equal(a.on_day(4).tuning, b.on_day(4).tuning)
    runs = []
    for _ in range(2):
        env = CursorBCIVector(num_envs=2, n_trials=10**6, drift=drift)
        obs, info = env.reset(seed=3, options={"day": 7})
        out = [obs.tobytes()]
        for _ in range(50):
            obs, *_ = env.step(info["intended_velocity"])
            out.append(obs.tobytes())
        runs.append(b"".join(out))
    assert runs[0] == runs[1]


@pytest.mark.parametrize("kwargs, match", [
    ({"weights": (0.5, 0.4), "means": (0.5, 0.9), "sds": (0.1, 0.1)}, "weights must sum to 1"),
    ({"weights": (1.0,), "means": (0.5, 0.9), "sds": (0.1, 0.1)}, "one value per component"),
    ({"means": (0.5, -0.9)}, r"means\[1\] must be"),
    ({"sds": (0.1, -1.0)}, r"sds\[1\] must be"),
    ({"weights": ()}, "weights must be a non-empty sequence"),
    ({"reference": 0.0}, "reference must be"),
])
def test_snr_mixture_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SNRMixture(**kwargs)


class ScaledDecoder:
    """A fitted decoder whose output is multiplied by a per-lane factor."""

    def __init__(self, decoder, scale):
        self.decoder, self.scale = decoder, np.asarray(scale)[:, None]

    def reset(self, mask=None):
        self.decoder.reset(mask)

    def step(self, counts):
        return self.scale * self.decoder.step(counts)


def test_gain_sweep_undoes_a_decoders_wrong_gain():
    """The re-sweep picks the gain that undoes a too fast or too slow decoder (Wilson et al.
    2023's gainSweep): with the output scaled by c, c times the best gain is the same speed."""
    from cogmodels.agents.decoders import SteadyStateKalmanDecoder
    from cogmodels.agents.decoders.session import calibrate

    env = CursorBCIVector(num_envs=4, n_trials=10**6)
    env.reset(seed=0)
    decoder = calibrate(env, SteadyStateKalmanDecoder(), 10.0)
    scale = np.array([3.0, 3.0, 0.75, 0.75])
    gains = (0.1, 0.4, 1.6, 6.4)
    res = sweep_gain(env, ScaledDecoder(decoder, scale), 8.0, gains=gains)
    assert res.mean_trial_time.shape == res.success_rate.shape == (4, 4)
    np.testing.assert_allclose(scale * res.best, 1.2)
    # far too slow (c * gain = 0.075 widths/s for 0.35 widths): no trial ends within the block
    assert np.isinf(res.mean_trial_time[0, 2:]).all() and np.isnan(res.success_rate[0, 2:]).all()
    assert len(WILSON_GAINS) == 10 and WILSON_GAINS[0] == 0.1 and WILSON_GAINS[-1] == 2.5


def test_gain_sweep_rejects_bad_arguments():
    from cogmodels.envs.bci import CursorBCI

    env = CursorBCIVector(num_envs=1)
    with pytest.raises(TypeError, match="env must be a CursorBCIVector"):
        sweep_gain(CursorBCI(), None)
    with pytest.raises(ValueError, match="gains must be a non-empty sequence"):
        sweep_gain(env, None, gains=())
    with pytest.raises(ValueError, match=r"gains\[1\] must be"):
        sweep_gain(env, None, gains=(1.0, -1.0))
    with pytest.raises(ValueError, match="seconds must be"):
        sweep_gain(env, None, 0.0)


# -- (2) within-session baseline shifts, transient losses, stable units ------------------------
def test_baseline_shift_matches_perge_et_al():
    """Perge et al. (2013): 84 % of units change rate within a day, by 3.8 ± 8.7 Hz."""
    n = 40_000
    proc = BaselineShift()
    rng = np.random.default_rng(0)
    state = proc.start(rng, n)
    for _ in range(4):
        proc.advance(state, rng, proc.span / 8)
    half = state["offset"].copy()
    for _ in range(4):
        proc.advance(state, rng, proc.span / 8)
    delta = np.abs(state["offset"])
    walks = state["sigma"] > 0
    assert abs(walks.mean() - 0.84) <= Z * np.sqrt(0.84 * 0.16 / n)
    assert (delta[~walks] == 0).all()
    d = delta[walks]
    assert abs(d.mean() - 3.8) <= Z * 8.7 / np.sqrt(d.size)
    assert d.std() == pytest.approx(8.7, rel=0.15)
    # a Brownian walk: the variance grows linearly in time
    assert np.mean(half[walks] ** 2) / np.mean(d**2) == pytest.approx(0.5, abs=0.05)


def test_transient_loss_fraction_and_duration():
    proc = TransientLoss(rate=60.0, duration=10.0)
    rng = np.random.default_rng(1)
    state = proc.start(rng, 500)
    lost = []
    for _ in range(2000):
        proc.advance(state, rng, 1.0)
        lost.append(state["lost"].copy())
    lost = np.array(lost[200:])
    assert lost.mean() == pytest.approx(proc.lost_fraction(), rel=0.05)
    # mean run of lost updates: 1 / P(recover in 1 s) = 1 / (1 - exp(-1 / 10))
    starts = (lost[1:] & ~lost[:-1]).sum()
    assert lost.sum() / starts == pytest.approx(1 / -np.expm1(-0.1), rel=0.1)


def test_session_drift_is_the_same_whatever_the_decoder_does():
    drift = [BaselineShift(span=5.0), TransientLoss(rate=600.0, duration=2.0)]
    offsets = []
    for scale in (0.0, 1.0):
        env = CursorBCIVector(num_envs=3, n_trials=10**6, session_drift=drift)
        obs, info = env.reset(seed=4)
        for _ in range(200):
            obs, *_, info = env.step(scale * np.asarray(info["intended_velocity"]))
        offsets.append((env._loop.session.offset.copy(), env._loop.session.gate.copy()))
    np.testing.assert_array_equal(offsets[0][0], offsets[1][0])
    np.testing.assert_array_equal(offsets[0][1], offsets[1][1])
    assert (offsets[0][1] == 0).any() and (offsets[0][0] != 0).any()


def test_session_drift_shifts_the_counts_and_is_off_by_default():
    from cogmodels.envs.bci import CursorBCI

    assert CursorBCI().config.session_drift == ()
    env = CursorBCIVector(num_envs=1, n_trials=10**6, session_drift=TransientLoss(3600 * 50, 1e6))
    obs, info = env.reset(seed=0)
    for _ in range(100):  # every channel is lost within the first update (1 s)
        obs, *_, info = env.step(info["intended_velocity"])
    assert obs.sum() == 0
    with pytest.raises(ValueError, match="session_drift must"):
        CursorBCIVector(session_drift="typical")
    with pytest.raises(ValueError, match="sd_abs"):
        BaselineShift(mean_abs=3.8, sd_abs=1.0)


def test_tuning_rotation_keeps_the_stable_units():
    """Wilson et al. (2023)'s n_stable: those units keep their tuning, the rest rotate by s."""
    pop = draw_population(SPEC, np.random.default_rng(1))
    before = pop.tuning.copy()
    TuningRotation(0.8, n_stable=40).apply(pop, SPEC, np.random.default_rng(2), 1)
    np.testing.assert_array_equal(pop.tuning[:40], before[:40])
    qa, _ = np.linalg.qr(before[40:])
    qb, _ = np.linalg.qr(pop.tuning[40:])
    np.testing.assert_allclose(np.linalg.svd(qa.T @ qb, compute_uv=False), [0.8, 0.8], atol=1e-10)
    assert subspace_similarity(before, pop.tuning) > 0.8
