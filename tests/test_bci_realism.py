"""Tests of the realism of issue 14 §1: daily SNR mixture and gain re-sweep, within-session
nonstationarity, encoders, the grid task and the user's learning."""

from __future__ import annotations

import platform

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
from cogmodels.envs.bci.realism import realism

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


def test_snr_mixture_day0_fixes_day_zero_and_keeps_the_later_days():
    drawn = daily_gains([TuningRotation(0.91), SNRMixture()], 6, seed=5)
    fixed = daily_gains([TuningRotation(0.91), SNRMixture(day0=0.5)], 6, seed=5)
    assert fixed[0] == 1.0 and drawn[0] != 1.0  # Wilson et al.'s base SNR 0.5 is gain 1
    np.testing.assert_array_equal(fixed[1:], drawn[1:])
    assert daily_gains([SNRMixture(day0=0.9)], 1, seed=5)[0] == pytest.approx(1.8)


@pytest.mark.parametrize("kwargs, match", [
    ({"day0": 0.0}, "day0 must be"),
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


def test_session_drift_runs_on_the_days_clock_across_sessions():
    """Sessions after a calibration block on the same day start where the block left the
    baselines (Perge et al. 2013: they move after calibration), every one of them at the same
    point (decoders compared on a day meet the same changes); blocks (open-loop, or flagged
    closed-loop ones) move the clock on; each day keeps its own clock; a new subject starts
    afresh, and a seeded reset replays the same bytes."""
    drift = [BaselineShift(span=5.0), TransientLoss(rate=600.0, duration=2.0)]
    block = {"options": {"calibration": "observation"}}
    closed_block = {"options": {"day": 0, "calibration_block": True}}  # intention or ReFIT block
    closed = {"options": {"day": 0}}

    def offsets(first: dict, resets: dict[int, dict], bins: int = 300) -> list[np.ndarray]:
        """The offsets after each reset, and at the end."""
        env = CursorBCIVector(num_envs=2, n_trials=10**6, session_drift=drift)
        env.reset(seed=3)
        env.reset(**first)
        out = []
        for t in range(bins):
            if t in resets:
                env.reset(**resets[t])
                out.append(env._loop.session.offset.copy())
            env.step(np.zeros((2, 2)))
        out.append(env._loop.session.offset.copy())
        return out

    unbroken = offsets(closed, {})[-1]  # one 300-bin session from the day's start
    for first in (block, closed_block):
        calibrated = offsets(first, {100: closed})  # a 100-bin block, then a session
        assert (calibrated[0] != 0).any()  # it starts where the block left the baselines
        np.testing.assert_array_equal(calibrated[-1], unbroken)  # one unbroken stretch
    twice = offsets(block, {100: closed, 200: closed})  # two sessions after the block
    np.testing.assert_array_equal(twice[1], twice[0])  # both start at the block's end
    np.testing.assert_array_equal(twice[-1], offsets(block, {100: closed}, 200)[-1])
    again = offsets(block, {100: closed, 150: closed_block, 250: closed})  # the clock moves on
    np.testing.assert_array_equal(again[1], again[0])  # the second block goes on from the first
    assert not np.array_equal(again[2], again[0])  # and the next session starts at its end
    elsewhere = offsets(block, {100: {"options": {"day": 1}}, 200: closed})
    assert (elsewhere[0] == 0).all()  # a day not played yet starts afresh
    np.testing.assert_array_equal(elsewhere[1], calibrated[0])  # day 0 kept its clock
    redrawn = offsets(closed, {100: {"seed": 3}})  # the same subjects drawn again: afresh
    assert (redrawn[0] == 0).all()
    np.testing.assert_array_equal(redrawn[-1], offsets(closed, {}, 200)[-1])
    with pytest.raises(ValueError, match=r'options\["calibration_block"\] must be True or False'):
        CursorBCIVector(num_envs=1, session_drift=drift).reset(options={"calibration_block": 1})


def test_a_refit_block_moves_the_days_clock_however_often_its_sessions_end():
    """ReFIT's closed-loop block restarts the sessions that end inside it as blocks of the same
    day, so the day's clock runs through all of it: the mark it leaves does not depend on how
    many trials a session holds."""
    from cogmodels.agents.decoders import SteadyStateKalmanDecoder
    from cogmodels.agents.decoders.session import calibration_block, closed_loop_block

    drift = [BaselineShift(span=5.0), TransientLoss(rate=600.0, duration=2.0)]
    marks = []
    for n_trials in (1, 10**6):  # one trial a session: many sessions end inside the block
        env = CursorBCIVector(num_envs=2, n_trials=n_trials, session_drift=drift)
        env.reset(seed=1)
        dec = SteadyStateKalmanDecoder().fit(*calibration_block(env, 20.0, day=0))
        closed_loop_block(env, dec, 30.0, day=0)
        env.reset(options={"day": 0})
        marks.append(env._loop.session.offset.copy())
    assert (marks[0] != 0).any()
    np.testing.assert_array_equal(marks[0], marks[1])


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


# -- (3) encoders: covariates, untuned units, latent manifold, spike history, thresholds ------
def test_expected_counts_add_the_speed_position_and_latent_terms():
    from cogmodels.envs.bci.encoder import EncoderArrays

    spec = PopulationSpec(n_units=50, speed_depth=(1.0, 4.0), position_depth=(2.0, 6.0),
                          latent_dim=3, latent_sd=5.0, baseline=(40.0, 60.0))
    pop = draw_population(spec, np.random.default_rng(0))
    pop.gain = 0.7
    enc = EncoderArrays(2, 50, 0.02, spec)
    enc.set_lane(0, pop)
    enc.set_lane(1, pop)
    u = np.array([[0.3, -0.2], [0.0, 0.5]])
    pos = np.array([[0.1, 0.2], [-0.3, 0.05]])
    lat = np.array([[1.0, -0.5, 0.2], [0.0, 2.0, -1.0]])
    cov = np.concatenate([np.hypot(*u.T)[:, None], pos, lat], axis=1)
    got = enc.expected_counts(u, None, cov)
    rate = (pop.baseline + 0.7 * (u @ pop.tuning.T + np.hypot(*u.T)[:, None] * pop.extra["speed"]
                                  + pos @ pop.extra["position"].T) + lat @ pop.extra["latent"].T)
    np.testing.assert_allclose(got, np.maximum(rate, 0) * 0.02, rtol=1e-5, atol=1e-6)


def test_linear_drive_is_the_float32_sum_in_coefficient_order():
    """The drive is ``c0 + cx ux + cy uy + c_1 x_1 + ...`` summed left to right in float32 (one
    rounding per product and per sum: numpy's einsum on x86-64, whose baseline has no fused
    multiply-add), so the counts of a seed do not depend on the machine's BLAS kernel."""
    from cogmodels.envs.bci.encoder import EncoderArrays

    spec = realism("full")["population"]
    enc = EncoderArrays(64, spec.n_units, 0.02, spec)
    rng = np.random.default_rng(3)
    for lane in range(64):
        pop = draw_population(spec, rng)
        pop.gain = rng.uniform(0.5, 1.5)
        enc.set_lane(lane, pop)
    u = rng.uniform(-0.8, 0.8, (64, 2)).astype(np.float32)
    cov = rng.standard_normal((64, spec.n_covariates)).astype(np.float32)
    got = enc.expected_counts(u, None, cov).copy()
    x = np.concatenate([np.ones((64, 1), np.float32), u, cov], axis=1)
    z = np.zeros((64, spec.n_units), np.float32)
    for k in range(x.shape[1]):
        z = z + x[:, k, None] * enc.coef[:, k]
    assert z.dtype == np.float32 and spec.n_covariates == 11
    if platform.machine() not in ("x86_64", "AMD64"):  # numpy's einsum fuses multiply-add there
        np.testing.assert_allclose(got, np.clip(z, 0.0, enc.max_count), rtol=1e-5, atol=1e-6)
        return
    np.testing.assert_array_equal(got, np.clip(z, 0.0, enc.max_count))


def test_untuned_fraction_and_threshold_crossing_channels():
    n = 10_000
    pop = draw_population(PopulationSpec(n_units=n, untuned_fraction=0.3),
                          np.random.default_rng(0))
    untuned = np.all(pop.tuning == 0, axis=1).mean()
    assert abs(untuned - 0.3) <= Z * np.sqrt(0.3 * 0.7 / n)
    spec = PopulationSpec(n_units=n, recording="threshold_crossings", neurons_per_channel=(1, 3),
                          noise_rate=4.0)
    pop = draw_population(spec, np.random.default_rng(1))
    # a channel sums k ~ U{1, 2, 3} neurons: E[baseline] = 2 E[b] + noise, E|w|^2 = 2 E[m^2]
    mean_b, var_b = 17.5, 25.0**2 / 12
    assert abs(pop.baseline.mean() - (2 * mean_b + 4.0)) <= Z * np.sqrt(
        (2 * var_b + mean_b**2 * 2 / 3) / n)
    e_m2 = (10.0**3 - 2.0**3) / (3 * 8.0)
    assert np.mean(np.sum(pop.tuning**2, axis=1)) == pytest.approx(2 * e_m2, rel=0.03)
    with pytest.raises(ValueError, match="threshold_crossings"):
        PopulationSpec(recording="threshold_crossings", tuning="log_linear")
    with pytest.raises(ValueError, match="recording must be one of"):
        PopulationSpec(recording="lfp")


def test_latent_drive_puts_the_comodulation_in_a_low_dimensional_manifold():
    """Sadtler et al. (2014): with the intention held still, the co-modulation (count covariance
    less the Poisson diagonal) is dt^2 C C^T: rank d, the span of the latent loadings."""
    from cogmodels.envs.bci.encoder import EncoderArrays

    d, n, bins, dt = 4, 96, 20_000, 0.02
    spec = PopulationSpec(n_units=n, latent_dim=d, latent_sd=20.0, baseline=(80.0, 120.0))
    pop = draw_population(spec, np.random.default_rng(0))
    enc = EncoderArrays(bins, n, dt, spec)  # one lane per bin: latent draws are independent
    enc.set_lane(0, pop)
    enc.coef[1:] = enc.coef[0]
    x = np.random.default_rng(1).standard_normal((bins, d))
    lam = enc.expected_counts(np.zeros((bins, 2)), None, x)
    y = np.random.default_rng(2).poisson(lam).astype(np.float64)
    shared = np.cov(y.T) - np.diag(y.mean(axis=0))
    vals, vecs = np.linalg.eigh(shared)
    vals, vecs = vals[::-1], vecs[:, ::-1]
    c = pop.extra["latent"] * dt
    theory = np.sort(np.linalg.eigvalsh(c @ c.T))[::-1][:d]
    assert subspace_similarity(vecs[:, :d], c) > 0.97
    np.testing.assert_allclose(vals[:d], theory, rtol=0.1)
    # the rest is sampling noise: below the Marchenko-Pastur edge of the Poisson diagonal
    edge = y.mean(axis=0).max() * ((1 + np.sqrt(n / bins)) ** 2 - 1)
    assert vals[d] < edge < 0.2 * vals[d - 1]


def test_latent_drive_is_an_ar1_process_in_the_loop():
    tau, dt = 0.1, 0.02
    spec = PopulationSpec(n_units=8, latent_dim=2, latent_sd=3.0, latent_tau=tau)
    env = CursorBCIVector(num_envs=8, n_trials=10**6, population=spec)
    obs, info = env.reset(seed=0)
    xs = []
    for _ in range(1500):
        obs, *_, info = env.step(info["intended_velocity"])
        xs.append(env._loop.latent.copy())
    x = np.array(xs).reshape(1500, -1)
    assert x.var() == pytest.approx(1.0, rel=0.05)
    r = np.mean(x[1:] * x[:-1]) / np.mean(x * x)
    assert r == pytest.approx(np.exp(-dt / tau), abs=0.02)


def history_chain(mu: float, h: float, top: int = 40) -> tuple[float, float]:
    """Stationary mean and lag-1 autocorrelation of y_t ~ Poisson(mu exp(h y_{t-1}))."""
    from scipy.stats import poisson

    k = np.arange(top)
    p = poisson.pmf(k[None, :], mu * np.exp(h * k)[:, None])
    p /= p.sum(axis=1, keepdims=True)
    vals, vecs = np.linalg.eig(p.T)
    pi = np.real(vecs[:, np.argmax(np.real(vals))])
    pi /= pi.sum()
    mean = pi @ k
    var = pi @ k**2 - mean**2
    lag1 = pi @ (k * (p @ k)) - mean**2
    return float(mean), float(lag1 / var)


def test_spike_history_matches_the_markov_chain_of_truccolo_et_al():
    from cogmodels.envs.bci.encoder import EncoderArrays

    h, n, bins = -0.6, 400, 4000
    spec = PopulationSpec(n_units=n, baseline=(75.0, 75.0), depth=(0.0, 0.0), history=(h, h))
    pop = draw_population(spec, np.random.default_rng(0))
    enc = EncoderArrays(1, n, 0.02, spec)
    enc.set_lane(0, pop)
    rng = np.random.default_rng(1)
    y = np.empty((bins, n))
    for t in range(bins):
        lam = enc.history_factor(enc.expected_counts(np.zeros((1, 2))))
        y[t] = rng.poisson(lam)[0]
        enc.record(y[t][None].astype(np.float32))
    mean, lag1 = history_chain(1.5, h)
    assert y.mean() == pytest.approx(mean, rel=0.01)
    yc = y - y.mean()
    assert np.mean(yc[1:] * yc[:-1]) / yc.var() == pytest.approx(lag1, abs=0.01)
    assert lag1 < -0.2  # refractoriness: a busy bin is followed by a quiet one


def test_all_encoder_realism_is_byte_identical_for_a_seed():
    spec = PopulationSpec(n_units=64, untuned_fraction=0.2, speed_depth=(1.0, 3.0),
                          position_depth=(1.0, 3.0), latent_dim=3, latent_sd=4.0,
                          history=(-0.5, 0.1), history_tau=0.05,
                          recording="threshold_crossings")
    assert PopulationSpec().covariates == () and not PopulationSpec().has_history
    runs = []
    for _ in range(2):
        env = CursorBCIVector(num_envs=2, n_trials=10**6, population=spec, drift="severe")
        obs, info = env.reset(seed=9, options={"day": 3})
        out = [obs.tobytes()]
        for _ in range(100):
            obs, *_, info = env.step(info["intended_velocity"])
            out.append(obs.tobytes())
        runs.append(b"".join(out))
    assert runs[0] == runs[1]


# -- (4) the grid task, clicks and the achieved bitrate ---------------------------------------
def test_grid_cells_tile_the_workspace_and_cues_never_repeat():
    from cogmodels.envs.bci.task import TargetSchedule, TaskSpec

    spec = TaskSpec.create(task="grid", grid_size=6)
    centres = spec.grid_centres()
    assert spec.n_targets == 36 and spec.target_radius == (0.5 / 6, 0.5 / 6)
    np.testing.assert_array_equal(spec.cell_of(centres), np.arange(36))
    np.testing.assert_allclose(np.abs(centres).max(), 0.5 - 0.5 / 6)
    sched = TargetSchedule(spec, 500)
    rng = np.random.default_rng(0)
    lanes = np.arange(500)
    sched.start(lanes, rng)
    seen = [sched.index.copy()]
    for t in range(1, 60):
        sched.advance(lanes, np.full(500, t), rng)
        seen.append(sched.index.copy())
    seen = np.array(seen)
    assert not (seen[1:] == seen[:-1]).any()
    freq = np.bincount(seen.ravel(), minlength=36) / seen.size
    assert np.abs(freq - 1 / 36).max() <= Z * np.sqrt((1 / 36) * (35 / 36) / seen.size)
    with pytest.raises(ValueError, match="target_radius is set by the grid"):
        TaskSpec.create(task="grid", target_radius=0.05)
    with pytest.raises(ValueError, match="selection must be one of"):
        TaskSpec.create(selection="blink")


def run_session(env):
    import pandas as pd

    obs, info = env.reset(seed=0)
    rows, done = [], False
    while not done:
        obs, reward, done, _, info = env.step(info["intended_velocity"])
        row = env.trial_row(None, reward, info)
        if row is not None:
            rows.append(row)
    return pd.DataFrame(rows)


def test_clicks_at_a_constant_hazard_end_trials_at_geometric_times():
    """With clicks at hazard f whatever the user believes (click_rate = false_click_rate = f) a
    trial lasts min(Geometric(p), N) bins, p = 1 - exp(-f dt): mean (1 - (1 - p)^N) / p bins,
    and a fraction (1 - p)^N times out."""
    f, timeout, dt = 1.0, 2.0, 0.02
    env = CursorBCIVector(num_envs=100, task="grid", n_trials=10**6, selection="click",
                          click_rate=f, false_click_rate=f, timeout=timeout)
    obs, info = env.reset(seed=0)
    times, timed_out, wrong, success = [], [], [], []
    for _ in range(800):
        obs, _, _, _, info = env.step(info["intended_velocity"])
        c = info["trial_completed"]
        times += list(info["trial_time"][c])
        timed_out += list(info["timed_out"][c])
        wrong += list(info["wrong_selection"][c])
        success += list(info["success"][c])
    times, timed_out = np.array(times), np.array(timed_out)
    wrong, success = np.array(wrong), np.array(success)
    p, n = -np.expm1(-f * dt), int(round(timeout / dt))
    mean = dt * (1 - (1 - p) ** n) / p
    sd = dt * np.sqrt(1 - p) / p  # at most the geometric's
    assert abs(times.mean() - mean) <= Z * sd / np.sqrt(times.size)
    q = (1 - p) ** n
    assert abs(timed_out.mean() - q) <= Z * np.sqrt(q * (1 - q) / times.size)
    assert not (timed_out & wrong).any() and (success | wrong | timed_out).all()


def test_a_click_comes_at_click_rate_while_the_user_believes_it_is_on_the_target():
    """The click decoder's rule: hazard ``click_rate`` while the user's estimate of the cursor is
    on the target (and it has seen the target, ``delay`` after the trial began), else
    ``false_click_rate``; per bin the probability is ``1 - exp(-hazard dt)``."""
    on, off, n, reps = 20.0, 2.0, 400, 200
    env = CursorBCIVector(num_envs=n, task="grid", n_trials=10**6, selection="click",
                          click_rate=on, false_click_rate=off)
    env.reset(seed=0)
    loop = env._loop
    rng = np.random.default_rng(1)
    half = np.arange(n) < n // 2
    radius = float(loop.radius[0])
    loop.user.believed_error = np.where(half[:, None], 0.5 * radius, 3.0 * radius) * np.ones((n, 2))
    cursor, inside = loop.cursor.copy(), np.zeros(n, dtype=bool)
    for seen, rates in ((True, (on, off)), (False, (off, off))):
        loop.steps[:] = loop.user.k + 1 if seen else loop.user.k
        clicks = np.mean([np.logical_or(*loop._select(cursor, inside, rng)) for _ in range(reps)],
                         axis=0)
        for lanes, rate in zip((half, ~half), rates):
            p = -np.expm1(-rate * loop.dt)
            assert abs(clicks[lanes].mean() - p) <= Z * np.sqrt(p * (1 - p) / (lanes.sum() * reps))


def test_grid_bitrate_is_nuyujukian_pandarinaths_formula():
    """B = log2(N - 1) max(S_c - S_i, 0) / t with N = 36 cells; a timeout only costs time."""
    from cogmodels.envs.bci import CursorBCI, summarize

    trials = run_session(CursorBCI(task="grid", n_trials=25, selection="click",
                                   false_click_rate=0.5))
    assert (trials["n_targets"] == 36).all()
    sc, si = int(trials["success"].sum()), int(trials["wrong_selection"].sum())
    assert si > 0
    expect = np.log2(35) * max(sc - si, 0) / trials["trial_time"].sum()
    assert summarize(trials, by=None)["bitrate"].iloc[0] == pytest.approx(expect, rel=1e-12)
    # the ideal decoder with dwell selection never selects a wrong cell
    ideal = run_session(CursorBCI(task="grid", n_trials=15))
    assert ideal["success"].all() and not ideal["wrong_selection"].any()
    rate = summarize(ideal, by=None)["bitrate"].iloc[0]
    assert rate == pytest.approx(np.log2(35) * 15 / ideal["trial_time"].sum(), rel=1e-12)


def test_the_closed_loop_trial_table_of_a_grid_scores_as_the_single_environments_rows():
    """run_closed_loop's table on the click grid holds wrong_selection and n_targets (36), as
    CursorBCI's trial rows do, so summarize counts only wrong selections as errors and takes
    N = 36: its bitrate is log2(35) (S_c - S_i) / t exactly. Before, the table had neither, and
    summarize scored every timeout as an error with N = 8. play_session's table too. Centre-out
    tables gain no column."""
    from cogmodels.agents.decoders import SteadyStateKalmanDecoder
    from cogmodels.agents.decoders.session import calibrate, run_closed_loop
    from cogmodels.envs.bci import summarize

    env = CursorBCIVector(num_envs=4, n_trials=10**6, task="grid", selection="click",
                          false_click_rate=0.3, timeout=1.0)
    env.reset(seed=0)
    trials = run_closed_loop(env, calibrate(env, SteadyStateKalmanDecoder(), 20.0), 60.0)
    assert (trials["n_targets"] == 36).all() and trials["wrong_selection"].dtype == bool
    sc, si = int(trials["success"].sum()), int(trials["wrong_selection"].sum())
    assert si > 0 and trials["timed_out"].any()
    expect = np.log2(35) * max(sc - si, 0) / trials["trial_time"].sum()
    assert summarize(trials, by=None)["bitrate"].iloc[0] == pytest.approx(expect, rel=1e-12)
    # a session too short to end a trial: the same columns, typed
    empty = run_closed_loop(env, calibrate(env, SteadyStateKalmanDecoder(), 2.0), 0.1)
    assert empty.empty and list(empty.columns) == list(trials.columns)
    assert empty["wrong_selection"].dtype == bool and empty["n_targets"].dtype == np.int64
    # play_session (the outcome-recalibration loop) builds the same table
    from cogmodels.agents.decoders.outcome_recalibration import play_session

    env.reset(seed=1)
    played = play_session(env, calibrate(env, SteadyStateKalmanDecoder(), 20.0), 30.0)
    assert (played["n_targets"] == 36).all() and played["wrong_selection"].any()
    centre_out = CursorBCIVector(num_envs=2, n_trials=10**6)
    centre_out.reset(seed=0)
    table = run_closed_loop(centre_out, calibrate(centre_out, SteadyStateKalmanDecoder(), 5.0), 5.0)
    assert not {"wrong_selection", "n_targets"} & set(table.columns)


def test_clicks_on_random_targets_score_no_bitrate_unless_given_n_targets():
    """Random targets have no fixed set of possible targets: the single environment's rows and
    the loop's table of clicks on them write n_targets = 0, which summarize now reads as "no
    bitrate" (NaN; it failed with "n_targets column must be an integer >= 2, got 0"). The
    loop's dwell table (state -1, no n_targets column) was scored with N = 8 silently; now
    summarize asks for n_targets. Given one, it scores log2(N - 1) (S_c - S_i) / t."""
    from cogmodels.agents.decoders import SteadyStateKalmanDecoder
    from cogmodels.agents.decoders.session import calibrate, run_closed_loop
    from cogmodels.envs.bci import CursorBCI, summarize

    env = CursorBCIVector(num_envs=4, n_trials=10**6, task="random_targets", selection="click",
                          false_click_rate=0.3)
    env.reset(seed=0)
    loop = run_closed_loop(env, calibrate(env, SteadyStateKalmanDecoder(), 20.0), 30.0)
    rows = run_session(CursorBCI(task="random_targets", n_trials=10, selection="click",
                                 false_click_rate=0.5))
    for trials in (loop, rows):
        assert len(trials) and (trials["n_targets"] == 0).all()
        summary = summarize(trials, by=None)
        assert np.isnan(summary["bitrate"].iloc[0]) and summary["n_success"].iloc[0] > 0
        sc, si = int(trials["success"].sum()), int(trials["wrong_selection"].sum())
        expect = np.log2(7) * max(sc - si, 0) / trials["trial_time"].sum()
        got = summarize(trials, by=None, n_targets=8)["bitrate"].iloc[0]
        assert got == pytest.approx(expect, rel=1e-12)
    assert rows["wrong_selection"].any()
    dwell = CursorBCIVector(num_envs=2, n_trials=10**6, task="random_targets")
    dwell.reset(seed=0)
    table = run_closed_loop(dwell, calibrate(dwell, SteadyStateKalmanDecoder(), 5.0), 10.0)
    assert len(table) and (table["state"] == -1).all()
    with pytest.raises(ValueError, match=r"n_targets \(an integer >= 2, or 0"):
        summarize(table, by=None)


# -- (5) the user's learning across sessions ---------------------------------------------------
def session_rotation(env, decoder, bins):
    """Angle (degrees) of the map from intended to decoded velocity, and trials completed."""
    obs, info = env.reset(options={"day": 0})
    decoder.reset()
    s_au, s_uu, done = np.zeros((2, 2)), np.zeros((2, 2)), 0
    u = info["intended_velocity"]
    for _ in range(bins):
        a = decoder.step(obs).copy()
        s_au += np.einsum("ni,nj->ij", a, u)
        s_uu += np.einsum("ni,nj->ij", u, u)
        obs, _, _, _, info = env.step(a)
        u = info["intended_velocity"]
        done += int(info["trial_completed"].sum())
    t = s_au @ np.linalg.inv(s_uu)
    return float(np.degrees(np.arctan2(t[1, 0] - t[0, 1], t[0, 0] + t[1, 1]))), done


def test_users_reaim_across_sessions_against_a_rotated_decoder():
    """Re-aiming (Jarosiewicz et al. 2008; Orsborn et al. 2014): with session_learning eta the
    rotation a decoder imposes shrinks about geometrically, by (1 - eta) a session."""
    from cogmodels.agents.decoders import SteadyStateKalmanDecoder
    from cogmodels.agents.decoders.session import calibrate
    from cogmodels.envs.bci import UserSpec

    env = CursorBCIVector(num_envs=2, n_trials=10**6, user=UserSpec(session_learning=0.5))
    env.reset(seed=0)
    decoder = calibrate(env, SteadyStateKalmanDecoder(), 10.0, label_rotation=45.0)
    angles, done = zip(*[session_rotation(env, decoder, 500) for _ in range(4)])
    assert angles[0] > 35.0  # the aim starts at the identity: the decoder's full rotation
    for k in (1, 2, 3):  # neither slower nor faster than (1 - eta) a session
        assert abs(abs(angles[k]) - angles[0] * 0.5**k) <= 5.0, angles
    assert done[3] > 1.5 * done[0]
    with pytest.raises(ValueError, match="session_learning must be"):
        UserSpec(session_learning=1.5)
    assert CursorBCIVector(num_envs=1)._loop.reaim is None  # off by default
