"""The error-signal channel: latency in bins, evaluation rate, measured hit/false-alarm rates,
rates frozen per subject and day, presets and bad arguments."""

from __future__ import annotations

import numpy as np
import pytest

from cogmodels.envs.bci import CursorBCI, CursorBCIVector
from cogmodels.envs.bci.error_signal import (
    ERROR_SIGNAL_PRESETS,
    ErrorSignalSpec,
    make_error_signal,
)


def _signal_bins(env: CursorBCI, n_bins: int) -> list[int]:
    """Bins (1-based since the reset) with a delivered evaluation, the decoder outputting zero."""
    out = []
    for b in range(1, n_bins + 1):
        _, _, _, _, info = env.step(np.zeros(2))
        if info["error_signal"]:
            out.append(b)
    return out


def test_latency_in_bins_across_trial_boundaries_and_resets():
    # perfect detector, zero decoder: the distance never shrinks, so every window is an error;
    # 1 s trials (50 bins) evaluated at bins 20 and 40 of each, delivered 0.3 s = 15 bins later
    spec = ErrorSignalSpec(1.0, 0.0, interval=0.4, latency=0.3)
    env = CursorBCI(n_trials=10**6, timeout=1.0, error_signal=spec)
    env.reset(seed=0)
    expected = sorted({50 * k + e + 15 for k in range(6) for e in (20, 40)} - {315})
    assert _signal_bins(env, 300) == [b for b in expected if b <= 300]  # 55, 105, ...: next trial
    # a reset mid-delay empties the line: the window of bin 40 (due at 55) never arrives
    env.reset(seed=0)
    _signal_bins(env, 45)
    env.reset()
    assert _signal_bins(env, 40) == [35]
    # the idealised preset has no latency: evaluations every 0.2 s (10 bins) of a trial
    ideal = CursorBCI(n_trials=10**6, timeout=1.0, error_signal="idealised")
    ideal.reset(seed=0)
    assert _signal_bins(ideal, 50) == [10, 20, 30, 40]


def test_one_evaluation_per_second_with_the_realistic_preset():
    env = CursorBCIVector(num_envs=4, n_trials=10**6, error_signal="realistic")
    env.reset(seed=1)
    n = 0
    bins = 3000  # 60 s; 10 s timeouts: windows at 1..9 s of each trial (the 10th ends it)
    for _ in range(bins):
        _, _, _, _, info = env.step(np.zeros((4, 2)))
        n += int(np.count_nonzero(info["error_signal"]))
    assert n / (4 * 60.0) == pytest.approx(0.9, abs=0.02)


def test_measured_hit_and_false_alarm_rates():
    # evaluations every bin, no latency, random decoder: errors and correct moves both common
    spec = ErrorSignalSpec(0.75, 0.03, interval=0.02, latency=0.0)
    env = CursorBCIVector(num_envs=16, n_trials=10**6, error_signal=spec)
    env.reset(seed=2)
    rng = np.random.default_rng(0)
    counts = np.zeros((2, 2))  # [error event?, signal == -1]
    for _ in range(1500):
        _, _, _, _, info = env.step(rng.normal(0.0, 0.5, size=(16, 2)))
        on = info["error_signal"] != 0
        err, minus = info["movement_error"][on], info["error_signal"][on] < 0
        np.add.at(counts, (err.astype(int), minus.astype(int)), 1)
    n_err, n_ok = counts[1].sum(), counts[0].sum()
    assert min(n_err, n_ok) > 5000
    hit, fa = counts[1, 1] / n_err, counts[0, 1] / n_ok
    assert hit == pytest.approx(0.75, abs=4 * np.sqrt(0.75 * 0.25 / n_err))
    assert fa == pytest.approx(0.03, abs=4 * np.sqrt(0.03 * 0.97 / n_ok))


def test_outcome_events_score_trials_and_entries_score_the_target():
    # a perfect outcome detector, zero decoder: every trial times out, one -1 per trial end
    spec = ErrorSignalSpec(1.0, 0.0, latency=0.1, events=("outcome",))
    env = CursorBCI(n_trials=10**6, timeout=1.0, error_signal=spec)
    env.reset(seed=0)
    assert _signal_bins(env, 200) == [55, 105, 155]
    # the ideal decoder enters the target: a +1 from "entry", a +1 from the successful outcome
    spec = ErrorSignalSpec(1.0, 0.0, latency=0.0, events=("entry", "outcome"))
    env = CursorBCI(n_trials=10**6, error_signal=spec)
    _, info = env.reset(seed=0)
    signals, successes = [], 0
    for _ in range(500):
        _, r, _, _, info = env.step(info["intended_velocity"])
        if info["error_signal"]:
            signals.append(info["error_signal"])
        successes += int(info.get("trial_result", {}).get("success", False))
    assert successes >= 5 and set(signals) == {1} and len(signals) >= 2 * successes


def test_rates_are_frozen_per_subject_and_day_and_vary_as_specified():
    spec = ERROR_SIGNAL_PRESETS["realistic"]
    assert spec.rates(7, 3) == spec.rates(7, 3)
    assert spec.rates(7, 3) != spec.rates(7, 4) != spec.rates(8, 4)
    logit = np.array([[np.log(p / (1 - p)) for p in spec.rates(s, d)]
                      for s in range(400) for d in (0, 1)]).reshape(400, 2, 2)
    total = np.sqrt(spec.subject_sd**2 + spec.day_sd**2)
    assert logit[:, :, 0].std() == pytest.approx(total, rel=0.12)
    assert logit[:, :, 0].mean() == pytest.approx(np.log(0.75 / 0.25), abs=0.1)
    # same subject, two days: correlated by the subject part, var_s / (var_s + var_d) = 0.8
    r = np.corrcoef(logit[:, 0, 0], logit[:, 1, 0])[0, 1]
    assert r == pytest.approx(spec.subject_sd**2 / total**2, abs=0.1)
    # the environment uses each subject's rates of the session's day
    env = CursorBCIVector(num_envs=3, n_trials=10**6, error_signal=spec)
    env.reset(seed=0, options={"day": 5})
    for i, sub in enumerate(env._loop.subjects):
        assert (env._loop.errors.hit[i], env._loop.errors.false_alarm[i]) == spec.rates(sub.seed, 5)


def test_presets_and_the_old_pair():
    assert make_error_signal((0.9, 0.1), 0.2) == ERROR_SIGNAL_PRESETS["idealised"]
    assert make_error_signal("realistic").bins(0.02) == (50, 15)
    assert make_error_signal(None) is None
    assert CursorBCI(error_signal=(0.8, 0.2), error_interval=0.5).config.error_signal.interval == 0.5


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("dense", "error_signal must be None or one of ['idealised', 'realistic'"),
        ((0.8, 1.2), "pair (hit_rate, false_alarm_rate) of probabilities, got (0.8, 1.2)"),
    ],
)
def test_bad_error_signal_raises_naming_it(value, message):
    with pytest.raises(ValueError) as err:
        CursorBCI(error_signal=value)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hit_rate": 1.5}, "hit_rate must be a finite number in [0, 1], got 1.5"),
        ({"latency": -0.1}, "latency must be a finite number in [0, 60], got -0.1"),
        ({"interval": 0}, "interval must be a finite number in (0, 60], got 0"),
        ({"day_sd": 4}, "day_sd must be a finite number in [0, 3], got 4"),
        ({"events": ("click",)}, "events must be a non-empty tuple of distinct values among "
                                 "['outcome', 'entry', 'window'], got ('click',)"),
    ],
)
def test_bad_spec_raises_naming_the_field(kwargs, message):
    args = {"hit_rate": 0.8, "false_alarm_rate": 0.1, **kwargs}
    with pytest.raises(ValueError) as err:
        ErrorSignalSpec(**args)
    assert message in str(err.value)
