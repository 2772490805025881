"""Tests of the drift processes of the BCI neural population and of the day clock."""

from __future__ import annotations

import numpy as np
import pytest

from cogmodels.envs.bci import (
    DRIFT_PRESETS,
    ArrayShift,
    BaselineWalk,
    CursorBCI,
    CursorBCIVector,
    DriftModel,
    Dropout,
    GainWalk,
    NeuralTrajectory,
    PopulationSpec,
    SNRStep,
    SNRWalk,
    TuningRotation,
    Turnover,
    draw_population,
    make_drift,
    subspace_similarity,
)

SPEC = PopulationSpec()
Z = 4.0


def trajectory(drift, seed: int = 0) -> NeuralTrajectory:
    return NeuralTrajectory(SPEC, make_drift(drift), seed)


def consecutive_similarity(drift, days: int, seeds: int) -> np.ndarray:
    sims = []
    for seed in range(seeds):
        tr = trajectory(drift, seed)
        pops = [tr.on_day(d) for d in range(days + 1)]
        sims += [subspace_similarity(a.effective_tuning(), b.effective_tuning())
                 for a, b in zip(pops, pops[1:])]
    return np.array(sims)


def test_subspace_similarity_bounds():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(192, 2))
    assert subspace_similarity(a, a @ rng.normal(size=(2, 2))) == pytest.approx(1.0)
    q, _ = np.linalg.qr(rng.normal(size=(192, 4)))
    assert subspace_similarity(q[:, :2], q[:, 2:]) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("s", [0.5, 0.91, 0.99])
def test_tuning_rotation_sets_both_principal_cosines_and_keeps_the_snr(s):
    pop = draw_population(SPEC, np.random.default_rng(1))
    before = pop.tuning.copy()
    TuningRotation(s).apply(pop, SPEC, np.random.default_rng(2), 1)
    qa, _ = np.linalg.qr(before)
    qb, _ = np.linalg.qr(pop.tuning)
    np.testing.assert_allclose(np.linalg.svd(qa.T @ qb, compute_uv=False), [s, s], atol=1e-10)
    np.testing.assert_allclose(pop.tuning.T @ pop.tuning, before.T @ before, rtol=1e-10)


def test_presets_consecutive_day_similarity():
    typical = consecutive_similarity("typical", days=20, seeds=5)
    assert typical.mean() == pytest.approx(0.91, abs=0.01)  # Wilson et al. (2023)
    assert consecutive_similarity("stable", 10, 2).mean() == pytest.approx(0.98, abs=0.005)
    assert consecutive_similarity("stable_implant", 10, 2).mean() == pytest.approx(0.996,
                                                                                    abs=0.002)
    assert consecutive_similarity("severe", 10, 2).mean() < 0.85
    np.testing.assert_allclose(consecutive_similarity("none", 3, 1), 1.0)
    assert set(DRIFT_PRESETS) == {"none", "stable", "stable_implant", "typical", "severe"}


def test_similarity_decays_over_days():
    tr = trajectory("typical", seed=3)
    w0 = tr.on_day(0).effective_tuning()
    sims = [subspace_similarity(w0, tr.on_day(d).effective_tuning()) for d in (1, 5, 20)]
    assert sims[0] > sims[1] > sims[2]
    assert sims[1] == pytest.approx(0.91**5, abs=0.1)


def test_dropout_counts_are_binomial():
    rate, days, n = 0.02, 30, SPEC.n_units
    counts = []
    for seed in range(10):
        pop = trajectory(Dropout(rate), seed).on_day(days)
        assert pop.dropped == n - pop.alive.sum()
        assert (pop.effective_tuning()[~pop.alive] == 0).all()
        counts.append(pop.dropped)
    p = 1 - (1 - rate) ** days
    m = 10 * n
    assert abs(sum(counts) / m - p) <= Z * np.sqrt(p * (1 - p) / m)


def test_turnover_counts_and_fresh_units():
    rate, days = 0.01, 40
    tr = trajectory(Turnover(rate), seed=4)
    first, last = tr.on_day(0), tr.on_day(days)
    changed = ~np.isclose(first.baseline, last.baseline)
    assert changed.sum() <= last.replaced  # a channel can be replaced twice
    assert last.alive.all()
    lo, hi = SPEC.baseline
    assert ((last.baseline[changed] >= lo) & (last.baseline[changed] <= hi)).all()
    totals = [trajectory(Turnover(rate), s).on_day(days).replaced for s in range(8)]
    m = 8 * days * SPEC.n_units
    assert abs(sum(totals) / m - rate) <= Z * np.sqrt(rate * (1 - rate) / m)
    # a dropped channel that turns over comes back alive
    both = trajectory([Dropout(0.5), Turnover(0.5)], seed=0).on_day(3)
    assert both.alive.sum() > 0 and both.replaced > 0


def test_array_shift_permutes_a_fraction_of_channels_on_its_day():
    drift = ArrayShift(fraction=0.25, days=(3,))
    tr = trajectory(drift, seed=5)
    d2, d3, d4 = tr.on_day(2), tr.on_day(3), tr.on_day(4)
    np.testing.assert_array_equal(tr.on_day(0).tuning, d2.tuning)
    moved = ~np.all(np.isclose(d2.tuning, d3.tuning), axis=1)
    assert moved.sum() <= 48 and moved.sum() > 40 and d3.remapped == 48
    np.testing.assert_allclose(np.sort(d2.baseline), np.sort(d3.baseline))  # the same units
    np.testing.assert_array_equal(d3.tuning, d4.tuning)
    random = trajectory(ArrayShift(fraction=0.1, probability=0.5), seed=0).on_day(40)
    assert random.remapped % 19 == 0 and 8 * 19 <= random.remapped <= 32 * 19


def test_baseline_gain_and_snr_walks():
    """The walks are log-normal with variance sd^2 per day and mean-preserving: the factor
    after d days has mean 1 (log mean -d sd^2 / 2, variance of the factor exp(d sd^2) - 1)."""
    days, sd = 25, 0.1
    pops = [trajectory(BaselineWalk(sd), s) for s in range(4)]
    steps = np.concatenate([np.log(p.on_day(days).baseline / p.on_day(0).baseline) for p in pops])
    assert steps.std() == pytest.approx(sd * np.sqrt(days), rel=0.15)
    assert abs(steps.mean() + days * sd**2 / 2) < Z * sd * np.sqrt(days / steps.size)
    factor_sd = np.sqrt(np.expm1(days * sd**2))
    assert abs(np.exp(steps).mean() - 1.0) < Z * factor_sd / np.sqrt(steps.size)
    many = [trajectory(SNRWalk(0.3), s).on_day(10).gain for s in range(400)]  # E = 1, not 1.57
    assert abs(np.mean(many) - 1.0) < Z * np.sqrt(np.expm1(10 * 0.09) / 400)
    g = trajectory(GainWalk(sd), 1)
    ratio = np.hypot(*g.on_day(days).tuning.T) / np.hypot(*g.on_day(0).tuning.T)
    assert np.log(ratio).std() == pytest.approx(sd * np.sqrt(days), rel=0.25)
    gains = [np.log(trajectory(SNRWalk(0.05), s).on_day(16).gain) for s in range(40)]
    assert np.std(gains) == pytest.approx(0.05 * 4, rel=0.35)
    step = trajectory([SNRStep(day=5, factor=0.5)], 0)
    assert [step.on_day(d).gain for d in (4, 5, 9)] == [1.0, 0.5, 0.5]


def test_trajectory_is_a_function_of_the_day():
    a, b = trajectory("severe", 11), trajectory("severe", 11)
    forward = [a.on_day(d).tuning for d in range(0, 26, 5)]
    jumped = b.on_day(25).tuning
    np.testing.assert_array_equal(forward[-1], jumped)
    np.testing.assert_array_equal(b.on_day(5).tuning, forward[1])  # going back
    np.testing.assert_array_equal(b.on_day(25).tuning, jumped)
    copy = b.on_day(25)
    copy.tuning[:] = 0  # copies are the caller's
    np.testing.assert_array_equal(b.on_day(25).tuning, jumped)
    assert not np.allclose(trajectory("severe", 12).on_day(25).tuning, jumped)


def test_env_sessions_use_the_subjects_day():
    env = CursorBCI(drift="typical")
    env.reset(seed=0)
    tr = env._loop.subjects[0]
    for day in (0, 4, 30):
        env.reset(options={"day": day})
        np.testing.assert_array_equal(env.population().tuning, tr.on_day(day).tuning)
    vec = CursorBCIVector(num_envs=3, drift="typical", days_per_session=7)
    vec.reset(seed=0, options={"day": [0, 1, 2]})
    vec.reset()
    np.testing.assert_array_equal(vec.day, [7, 8, 9])
    for i in range(3):
        np.testing.assert_array_equal(vec.population(i).tuning,
                                      vec._loop.subjects[i].on_day(7 + i).tuning)


def test_drift_changes_the_neural_response():
    """The same intended velocity gives different counts after drift; a stable population not."""
    def mean_counts(drift, day):
        env = CursorBCI(drift=drift)
        env.reset(seed=0)
        return env.reset(options={"day": day})[0], env.population()

    _, p0 = mean_counts("typical", 0)
    _, p30 = mean_counts("typical", 30)
    u = np.array([0.6, 0.0])
    assert np.corrcoef(p0.rates(u) - p0.rates(-u), p30.rates(u) - p30.rates(-u))[0, 1] < 0.5
    _, q30 = mean_counts("none", 30)
    np.testing.assert_array_equal(q30.rates(u), p0.rates(u))


def test_bad_drift_arguments_raise():
    for make, match in [
        (lambda: TuningRotation(0.0), "similarity"),
        (lambda: TuningRotation(1.5), "similarity"),
        (lambda: BaselineWalk(-0.1), "sd must be"),
        (lambda: GainWalk(float("nan")), "sd must be"),
        (lambda: Dropout(2.0), "rate"),
        (lambda: Turnover(-0.1), "rate"),
        (lambda: ArrayShift(fraction=1.5), "fraction"),
        (lambda: ArrayShift(days=(0,)), "days must be"),
        (lambda: SNRStep(day=0), "day must be"),
        (lambda: SNRStep(factor=0.0), "factor must be"),
        (lambda: make_drift("hurricane"), "presets"),
        (lambda: make_drift(3.0), "presets"),
        (lambda: DriftModel(["typical"]), "Drift instances"),
    ]:
        with pytest.raises(ValueError, match=match):
            make()
    with pytest.raises(ValueError, match="day must be an integer >= 0"):
        trajectory("typical").on_day(-2)


@pytest.mark.slow
def test_stable_implant_keeps_a_fixed_decoders_bitrate_for_a_month():
    """Nuyujukian et al. (2014): on a stable array a fixed decoder holds its performance for a
    month: >= 80 % of the day-0 bitrate on day 30; the "typical" preset (0.91/day) does not."""
    import pandas as pd

    from cogmodels.agents.decoders import SteadyStateKalmanDecoder
    from cogmodels.agents.decoders.session import calibrate, run_closed_loop
    from cogmodels.envs.bci import CursorBCIVector
    from cogmodels.envs.bci.metrics import summarize

    kept = {}
    for preset in ("stable_implant", "typical"):
        env = CursorBCIVector(num_envs=4, n_trials=10**6, drift=preset)
        env.reset(seed=0, options={"day": 0})
        fixed = calibrate(env, SteadyStateKalmanDecoder(), 20.0, day=0)
        trials = pd.concat([run_closed_loop(env, fixed, 15.0, day=d) for d in (0, 30)])
        trials["session"] = trials["day"]
        rate = summarize(trials, by=["day"]).set_index("day")["bitrate"]
        kept[preset] = rate[30] / rate[0]
    assert kept["stable_implant"] >= 0.8
    assert kept["typical"] < 0.5
