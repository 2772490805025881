"""Outcome-informed PRI-T recalibration and the gain bandit: the decoder sees spikes, the cursor,
the error signal and the selections only; the error evaluations are placed on the events they
judge; the bandit finds the best gain; recalibration beats the fixed decoder under drift."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cogmodels.agents.decoders.kalman import SteadyStateKalmanDecoder
from cogmodels.agents.decoders.outcome_recalibration import (
    OutcomeRecalibration,
    OutcomeRecord,
    error_log_emission,
    gate_weights,
    play_session,
    pri_t_model,
    refit_times,
    run_reward_drift,
    window_evaluations,
)
from cogmodels.agents.decoders.session import calibration_block
from cogmodels.agents.reward_learners import GainBandit
from cogmodels.envs.bci import CursorBCIVector
from cogmodels.envs.bci.drift import TuningRotation
from cogmodels.envs.bci.metrics import summarize


def _env(n: int = 2, channel: Any = "realistic", seed: int = 0, **kw) -> CursorBCIVector:
    env = CursorBCIVector(num_envs=n, n_trials=10**6, error_signal=channel, n_units=48, **kw)
    env.reset(seed=seed, options={"day": 0})
    return env


def _calibrated(env: CursorBCIVector, seconds: float = 20.0) -> SteadyStateKalmanDecoder:
    return SteadyStateKalmanDecoder().fit(*calibration_block(env, seconds, day=0))


def _play_toy(bandit: GainBandit, truth: dict, n: int, rng: np.random.Generator) -> np.ndarray:
    chosen = []
    for _ in range(n):
        arm = bandit.arm_.copy()
        p = np.array([truth[a][0] for a in arm])
        tau = np.array([truth[a][1] for a in arm])
        bandit.observe(np.ones(bandit.n_lanes, dtype=bool), rng.random(bandit.n_lanes) < p, tau)
        chosen.append(arm)
        bandit.choose()
    return np.array(chosen)


def test_gain_bandit_converges_to_the_best_gain_on_a_toy():
    # arm -> (success probability, trial duration s): success rates 0.125, 0.6, 0.33 per s
    truth = {0: (0.5, 4.0), 1: (0.9, 1.5), 2: (0.4, 1.2)}
    rng = np.random.default_rng(1)
    bandit = GainBandit(4, gains=(0.5, 1.0, 2.0), discount=1.0, seed=0)
    late = _play_toy(bandit, truth, 300, rng)[-100:]
    assert (late == 1).mean(axis=0).min() > 0.9  # every lane plays the best gain
    assert (bandit.rate().argmax(axis=1) == 1).all()
    np.testing.assert_allclose(bandit.rate()[:, 1], 0.6, rtol=0.15)
    np.testing.assert_array_equal(bandit.gain[late[-1] == 1], 1.0)
    # discounted (the default, 0.98): it follows the best gain when the decoder changes
    bandit = GainBandit(4, gains=(0.5, 1.0, 2.0), seed=0)
    _play_toy(bandit, truth, 200, rng)
    moved = {0: (0.5, 4.0), 1: (0.4, 1.5), 2: (0.9, 1.2)}  # now the largest gain is best
    late = _play_toy(bandit, moved, 300, rng)[-100:]
    assert (late == 2).mean(axis=0).min() > 0.6
    assert (bandit.rate().argmax(axis=1) == 2).all()


def test_a_recentred_gain_grid_follows_the_outcomes_past_its_edge():
    # every trial succeeds, taking longest far from the best gain, 2.8 (outside the grid): a
    # fixed grid stays on its top arm, 1.4; re-centred after each 60-trial session, the grid
    # steps up (x 1.41 a step) until 2.8 is its middle gain, and then stays there
    def play(bandit: GainBandit, trials: int) -> None:
        for _ in range(trials):
            seconds = 1.0 + 2.0 * np.abs(np.log(bandit.gain / 2.8))
            bandit.observe(np.ones(4, bool), np.ones(4, bool), seconds)
            bandit.choose()

    fixed = GainBandit(4, gains=(0.7, 1.0, 1.4), seed=0)
    play(fixed, 300)
    np.testing.assert_array_equal(fixed.rate().argmax(axis=1), 2)
    moving = GainBandit(4, gains=(0.7, 1.0, 1.4), seed=0)
    step = 1.4 / np.exp(np.log([0.7, 1.0, 1.4]).mean())
    centres = []
    for _ in range(8):
        play(moving, 60)
        factor = moving.recentre()
        moved = factor != 1.0
        assert (moving.seconds_[moved] == 0).all() and (moving.seconds_[~moved] > 0).all()
        centres.append(moving.centre_.copy())
    np.testing.assert_allclose(centres[0], step)
    np.testing.assert_allclose(centres[-1], step ** 3)  # 2.80
    np.testing.assert_allclose(centres[-3:], step ** 3)  # it stays once 2.8 is inside
    np.testing.assert_allclose(moving.gain, moving.centre_ * moving.arms[moving.arm_, 0])


@pytest.mark.parametrize("gains", [(0.7, 1.0, 1.4), (1.0, 1.4, 2.0)])
def test_a_recentred_grid_without_evidence_stays_and_keeps_it(gains):
    bandit = GainBandit(3, gains=gains, seed=1)
    bandit.observe(np.ones(3, bool), np.ones(3, bool), np.ones(3))  # one trial: no arm is sure
    before = bandit.seconds_.copy()
    np.testing.assert_array_equal(bandit.recentre(), 1.0)
    np.testing.assert_array_equal(bandit.centre_, 1.0)
    np.testing.assert_array_equal(bandit.seconds_, before)
    np.testing.assert_array_equal(GainBandit(2, gains=(1.0,), seed=0).recentre(), 1.0)
    with pytest.raises(ValueError, match=r"threshold must be a finite number in \[0.5, 1\], got 0.2"):
        bandit.recentre(threshold=0.2)
    with pytest.raises(ValueError, match="n_draws must be"):
        bandit.recentre(n_draws=0)


def test_a_bandit_saved_before_centres_loads_with_centre_one(tmp_path):
    from cogmodels.agents.saving import load, save

    bandit = GainBandit(2, gains=(0.7, 1.0, 1.4), seed=0)
    del bandit.centre_  # as saved before centres existed
    old = load(save(bandit, tmp_path / "old"))
    np.testing.assert_array_equal(old.gain, old.arms[old.arm_, 0])
    old.successes_[:, 2], old.seconds_[:, 2] = 50.0, 20.0  # the top arm surely best
    np.testing.assert_allclose(old.recentre(), 1.4 / np.exp(np.log([0.7, 1.0, 1.4]).mean()))


def test_gain_bandit_arms_and_bad_arguments():
    b = GainBandit(1, gains=(1.0, 2.0), smoothing=(0.0, 0.5), seed=0)
    np.testing.assert_array_equal(b.arms, [[1.0, 0.0], [2.0, 0.0], [1.0, 0.5], [2.0, 0.5]])
    with pytest.raises(ValueError, match=r"gains must be a non-empty sequence of numbers > 0"):
        GainBandit(1, gains=(0.0, 1.0))
    with pytest.raises(ValueError, match=r"smoothing must be an array of finite numbers in "
                                         r"\[0, 0.999\], got \(1.0,\)"):
        GainBandit(1, smoothing=(1.0,))
    with pytest.raises(ValueError, match=r"discount must be a finite number in \(0, 1\], got 0"):
        GainBandit(1, discount=0)


class _Poisoned:
    """The vector environment with every ``info`` value the decoder must not use made noise."""

    ALLOWED_INFO = {"cursor", "trial_completed", "success", "error_signal",
                    # read for the trial table only (scoring), never by the decoder:
                    "day", "target_radius", "state", "timed_out", "time_to_target",
                    "dial_in_time", "trial_time", "path_length", "distance", "path_efficiency",
                    "n_entries"}
    # rollout reads the autoreset mode (metadata) and the action space: nothing of the target
    ALLOWED_ATTRS = {"unwrapped", "config", "num_envs", "day", "reset", "step", "metadata",
                     "single_action_space"}

    def __init__(self, env: CursorBCIVector, seed: int) -> None:
        self._env, self._rng, self.read = env, np.random.default_rng(seed), set()

    def __getattr__(self, name: str) -> Any:
        self.read.add(name)
        return getattr(self._env, name)

    def _noise(self, info: dict) -> dict:
        out = dict(info)
        for k, v in info.items():
            if not k.startswith("_") and k not in self.ALLOWED_INFO:
                out[k] = self._rng.normal(size=np.shape(v))
        assert {"target", "intended_velocity"} <= set(out) - self.ALLOWED_INFO
        return out

    def reset(self, **kwargs):
        obs, info = self._env.reset(**kwargs)
        return obs, self._noise(info)

    def step(self, action):
        obs, r, term, trunc, info = self._env.step(action)
        return obs, r, term, trunc, self._noise(info)


def test_the_recalibration_never_receives_the_target_or_the_intention():
    # whatever info says of the target, the intended velocity or the cursor's velocity (noise),
    # the same spikes, cursor, error signal and selections give the same recalibrated decoder
    def recalibrated(poison: bool):
        env = _env(channel="realistic", target_radius=0.12)
        recal = OutcomeRecalibration(pri_t_model(env, 8), env.config.error_signal,
                                     error_weight=0.0, failed_trial_weight=0.0)
        recal.start(_calibrated(env, 10.0))
        played = _Poisoned(env, 1) if poison else env
        bandit = GainBandit(2, seed=0)
        rec = OutcomeRecord()
        play_session(played, recal.driver(), 10.0, day=3, bandit=bandit, record=rec)
        recal.update(rec)
        return recal, played, rec

    (clean, _, rec), (poisoned, env, _) = recalibrated(False), recalibrated(True)
    assert "target" not in OutcomeRecord.KEYS and "intended_velocity" not in OutcomeRecord.KEYS
    assert (rec.arrays()["error_signal"] != 0).any() and rec.arrays()["trial_end"].any()
    np.testing.assert_array_equal(clean.decoder_.H_, poisoned.decoder_.H_)
    np.testing.assert_array_equal(clean.scale_, poisoned.scale_)
    assert not np.allclose(clean.decoder_.H_, _calibrated(_env(target_radius=0.12), 10.0).H_)
    assert env.read <= _Poisoned.ALLOWED_ATTRS


def test_refits_within_a_session_never_receive_the_target_and_the_session_goes_on():
    # refits at 4, 8 and 10 s of one session: each on the bins so far, the env reset once (the
    # trial in progress goes on), and noise in every forbidden info value changes nothing
    def session(poison: bool):
        env = _env(channel="realistic", target_radius=0.12)
        recal = OutcomeRecalibration(pri_t_model(env, 8), env.config.error_signal)
        recal.start(_calibrated(env, 10.0))
        played = _Poisoned(env, 1) if poison else env
        rec, seen = OutcomeRecord(), []

        def refit():
            seen.append(len(rec))
            return recal.update(rec).driver()

        resets = []
        reset = played.reset
        played.reset = lambda **kw: resets.append(1) or reset(**kw)
        table = play_session(played, recal.driver(), 10.0, day=3, bandit=GainBandit(2, seed=0),
                             record=rec, refit_at=(4.0, 8.0, 10.0), refit=refit)
        return recal, seen, resets, table

    (clean, seen, resets, table), (poisoned, *_) = session(False), session(True)
    assert seen == [200, 400, 500] and len(resets) == 1 and clean.n_updates_ == 3
    np.testing.assert_array_equal(clean.decoder_.H_, poisoned.decoder_.H_)
    np.testing.assert_array_equal(clean.scale_, poisoned.scale_)
    # trials span the refits: some trial started before 4 s and ended after it
    start = table["time"] - table["trial_time"]
    assert ((start < 4.0) & (table["time"] > 4.0 + 0.02)).any()
    with pytest.raises(ValueError, match=r"refit_at and refit come together, with a record"):
        play_session(_env(), clean.driver(), 1.0, refit_at=(0.5,))


def test_refit_times_cut_the_early_part_finer():
    np.testing.assert_allclose(refit_times(120.0, 15.0), np.arange(15.0, 121.0, 15.0))
    np.testing.assert_allclose(refit_times(60.0, 15.0, 5.0, 30.0),
                               [5, 10, 15, 20, 25, 30, 45, 60])
    np.testing.assert_allclose(refit_times(20.0, 15.0, 5.0, 30.0), [5, 10, 15, 20])
    np.testing.assert_allclose(refit_times(100.0, None, 10.0, 30.0), [10, 20, 30, 100])
    np.testing.assert_allclose(refit_times(10.0, 15.0), [10.0])  # at least one refit, at the end
    with pytest.raises(ValueError, match=r"early_update_s must be a finite number in \(0, inf\), got 0.0"):
        refit_times(60.0, 15.0, 0.0)


class _Spy:
    """Records the true target and the env's own judgement of each delivered evaluation."""

    def __init__(self, env: CursorBCIVector) -> None:
        self._env, self.target, self.movement_error = env, [], []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._env, name)

    def reset(self, **kwargs):
        obs, info = self._env.reset(**kwargs)
        self._target = info["target"].copy()
        return obs, info

    def step(self, action):
        self.target.append(self._target)
        obs, r, term, trunc, info = self._env.step(action)
        self._target = info["target"].copy()
        self.movement_error.append(info["movement_error"].copy())
        return obs, r, term, trunc, info


@pytest.mark.parametrize("channel", ["realistic", "idealised"])
def test_each_evaluation_is_placed_on_the_event_it_judges(channel):
    # recomputed from the cursor alone, the judged move is an error for the true target exactly
    # when the environment's channel scored it as one (delivered `latency` bins later)
    env = _env(channel=channel)
    spy = _Spy(env)
    rec = OutcomeRecord()
    play_session(spy, _calibrated(env, 10.0), 12.0, day=0, record=rec)
    a = rec.arrays()
    window, latency = env.config.error_signal.bins(env.config.task.dt)
    target, truth = np.stack(spy.target), np.stack(spy.movement_error)
    radius = float(np.max(env.config.task.target_radius))
    n_checked = 0
    for lane in range(2):
        judged, pos, ref = window_evaluations(a["error_signal"][:, lane], a["trial_end"][:, lane],
                                              a["cursor"][:, lane], a["next_cursor"][:, lane],
                                              window, latency)
        at = np.flatnonzero(judged)
        now = np.linalg.norm(target[at, lane] - pos[at], axis=1)
        before = np.linalg.norm(target[at, lane] - ref[at], axis=1)
        error = (now > radius) & (now >= before - 1e-12)
        np.testing.assert_array_equal(error, truth[at + latency, lane])
        # every delivered evaluation was attributed to one event
        assert len(at) == np.count_nonzero(a["error_signal"][latency:, lane])
        # and its likelihood favours the targets that make it what it was
        ll = error_log_emission(np.array([target[at[0], lane]]), judged, pos, ref, radius, 0.75,
                                0.03)
        h_or_f = 0.75 if error[0] else 0.03
        assert ll[at[0], 0] == pytest.approx(np.log(h_or_f if judged[at[0]] < 0 else 1 - h_or_f))
        n_checked += len(at)
    assert n_checked >= 15  # (evaluations come only in trials longer than one interval)


def test_gate_weights_drop_judged_windows_and_failed_trials():
    judged = np.zeros(12)
    judged[5] = -1.0  # the window of bins 3..5 judged "error"
    judged[8] = 1.0
    trial_end = np.zeros(12, dtype=bool)
    trial_end[[6, 10]] = True  # trials 0..6 (success), 7..10 (timeout), 11..
    click = np.zeros(12, dtype=bool)
    click[6] = True
    w = gate_weights(judged, trial_end, click, window=3, error_weight=0.25,
                     failed_trial_weight=0.0)
    np.testing.assert_array_equal(w, [1, 1, 1, 0.25, 0.25, 0.25, 1, 0, 0, 0, 0, 1])
    # a window is cut at its trial's start
    j = np.zeros(6)
    j[1] = -1
    te = np.array([True, False, False, False, False, False])
    np.testing.assert_array_equal(gate_weights(j, te, np.zeros(6, bool), 3, 0.0),
                                  [1, 0, 1, 1, 1, 1])


@pytest.mark.slow
def test_recalibration_beats_the_fixed_decoder_under_drift():
    # tuning rotated to a subspace similarity of 0.85 a day: by day 5 the fixed day-0 filter has
    # lost half its successes; PRI-T informed by the error signal (labels on day 0 only, refits
    # every 15 s of the 30 s sessions) gets part of them back once it has refit on the day's
    # own bins: trials that start after the first refit (~4 CPU s; measured 31.1 vs 22.3/min)
    trials = run_reward_drift(["fixed", "pri_t_errors"], days=(0, 5), n_subjects=2,
                              session_s=30.0, calibration_s=20.0,
                              drift=(TuningRotation(0.85),))
    m = summarize(trials, by=["decoder", "day"], n_targets=8).set_index(["decoder", "day"])
    spm = m["successes_per_min"]
    assert spm["fixed", 0] > 35 and spm["pri_t_errors", 0] > 35
    assert spm["fixed", 5] < 0.6 * spm["fixed", 0]
    refit = trials[trials["time"] - trials["trial_time"] >= 15.0]
    late = summarize(refit, by=["decoder", "day"], n_targets=8).set_index(["decoder", "day"])
    assert late.loc[("pri_t_errors", 5), "successes_per_min"] > 1.25 * late.loc[
        ("fixed", 5), "successes_per_min"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"error_weight": 1.5}, "error_weight must be a finite number in [0, 1], got 1.5"),
        ({"keep": 1.0}, "keep must be a finite number in [0, 1), got 1.0"),
        ({"features": "pcs"}, "features must be one of ['counts', 'aligned', 'frozen'], got 'pcs'"),
        ({"channel": None}, "error_hmm=True or error_weight < 1 needs the error signal's channel"),
    ],
)
def test_bad_recalibration_arguments_raise_naming_them(kwargs, message):
    env = _env()
    args = {"channel": env.config.error_signal, **kwargs}
    with pytest.raises(ValueError) as err:
        OutcomeRecalibration(pri_t_model(env, 4), **args)
    assert message in str(err.value)
    with pytest.raises(ValueError, match=r"strategies must be a non-empty list of \['fixed'"):
        run_reward_drift(["oracle"])
    with pytest.raises(ValueError, match=r"days must be increasing day numbers starting at 0"):
        run_reward_drift(["fixed"], days=(7, 0))
    with pytest.raises(ValueError, match=r"report_days must be a non-empty subset of days "
                                         r"\[0, 1, 2\], got \[3\]"):
        run_reward_drift(["fixed"], days=range(3), report_days=[3])


@pytest.mark.parametrize("carry", [True, False])
def test_the_two_month_study_plays_the_reward_decoder_carried_unless_told(monkeypatch, carry):
    # no_labels' day 0 and reward_only play the reward-trained decoder; carried by default, as
    # RewardDecoder ships, and uncarried (the committed two-month figures' decoder) when asked
    from cogmodels.agents.decoders import reward

    built = []

    class Spy(reward.RewardDecoder):
        def __init__(self, *args, **kwargs):
            built.append(kwargs.get("carry_policy", True))
            raise InterruptedError

    monkeypatch.setattr(reward, "RewardDecoder", Spy)
    with pytest.raises(InterruptedError):
        if carry:
            run_reward_drift(["no_labels"], days=(0,), n_subjects=1)
        else:
            run_reward_drift(["reward_only"], days=(0,), n_subjects=1, carry_policy=False)
    assert built == [carry]


def test_only_the_recalibration_with_no_speed_anchor_moves_its_gain_grid(monkeypatch):
    # no_labels' first filter takes its speed from the reward decoder's session: its bandit's
    # grid is re-centred after each of its sessions (days 1 and 2); pri_t's, anchored to a
    # supervised day-0 filter, never
    calls = []
    original = GainBandit.recentre

    def spy(self, *args, **kwargs):
        calls.append(self.n_lanes)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(GainBandit, "recentre", spy)
    run_reward_drift(["pri_t", "no_labels"], days=(0, 1, 2), n_subjects=2, session_s=4.0,
                     calibration_s=4.0, reward_warmup_s=40.0, update_s=None)
    assert calls == [2, 2]
    run_reward_drift(["no_labels"], days=(0, 1), n_subjects=2, session_s=4.0,
                     reward_warmup_s=40.0, update_s=None, recentred=())  # the fixed-grid ablation
    assert calls == [2, 2]
    with pytest.raises(ValueError, match=r"recentred must name recalibrations among \['pri_t', "
                                         r".*got \['fixed'\]"):
        run_reward_drift(["no_labels"], recentred=["fixed"])
