"""Session recording, output gain, assist, weighted refits and Wilson et al. (2023)'s protocol."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cogmodels.agents.decoders import Assist, SteadyStateKalmanDecoder, run_closed_loop
from cogmodels.agents.decoders.session import SessionRecord, calibration_block
from cogmodels.agents.decoders.wilson_study import run_wilson_protocol
from cogmodels.envs.bci import CursorBCIVector


@pytest.fixture(scope="module")
def env_and_block():
    env = CursorBCIVector(num_envs=2, n_trials=10**6, n_units=32)
    env.reset(seed=0, options={"day": 0})
    return env, calibration_block(env, 20.0, day=0)


def test_zero_weights_drop_bins_from_the_fit_exactly(env_and_block):
    _, (counts, labels) = env_and_block
    w = np.zeros(counts.shape[:2])
    w[: len(w) // 2] = 1.0
    weighted = SteadyStateKalmanDecoder().fit(counts, labels, sample_weight=w)
    half = SteadyStateKalmanDecoder().fit(counts[: len(w) // 2], labels[: len(w) // 2])
    np.testing.assert_allclose(weighted.H_, half.H_, rtol=1e-9)
    np.testing.assert_allclose(weighted.q_, half.q_, rtol=1e-9)
    with pytest.raises(ValueError, match="sample_weight must be"):
        SteadyStateKalmanDecoder().fit(counts, labels, sample_weight=-w)


def test_record_holds_every_bin_the_gain_scales_the_cursor_and_clicks_are_successes(
        env_and_block):
    env, (counts, labels) = env_and_block
    dec = SteadyStateKalmanDecoder().fit(counts, labels)
    rec = SessionRecord()
    trials = run_closed_loop(env, dec, 10.0, gain=np.array([2.0, 0.5]), record=rec)
    a = rec.arrays()
    assert a["counts"].shape == (500, 2, 32) and len(rec) == 500
    np.testing.assert_allclose(a["applied"], a["velocity"] * np.array([2.0, 0.5])[:, None])
    assert a["click"].sum() == trials["success"].sum()
    assert a["trial_end"].sum() == len(trials)
    with pytest.raises(ValueError, match="gain must be"):
        run_closed_loop(env, dec, 1.0, gain=0.0)


def test_full_assist_carries_a_useless_decoder_to_every_target(env_and_block):
    env, (counts, labels) = env_and_block
    shuffled = labels[np.random.default_rng(0).permutation(len(labels))]
    dec = SteadyStateKalmanDecoder().fit(counts, shuffled)
    alone = run_closed_loop(env, dec, 10.0)
    assisted = run_closed_loop(env, dec, 10.0, assist=Assist(level=1.0, seconds=1e3))
    assert assisted["success"].mean() == 1.0 > alone["success"].mean() + 0.5
    with pytest.raises(TypeError, match="assist must be"):
        run_closed_loop(env, dec, 1.0, assist=0.5)


@pytest.mark.slow
def test_wilson_protocol_starts_every_kalman_strategy_from_the_same_day_zero():
    names = ["fixed", "hmm", "rti"]
    trials = run_wilson_protocol(names, n_days=2, n_subjects=1, session_s=3.0,
                                 calibration_s=4.0, sweep_s=0.5, gains=(1.0,),
                                 n_units=32)
    assert set(trials["decoder"]) == set(names)
    assert set(trials["day"]) == {0, 1} and (trials["gain"] == 1.0).all()
    day0 = {k: g["trial_time"].to_numpy() for k, g in trials[trials["day"] == 0].groupby("decoder")}
    for name in ("hmm", "rti"):
        np.testing.assert_array_equal(day0[name], day0["fixed"])
    with pytest.raises(ValueError, match="strategies must be"):
        run_wilson_protocol(["nope"])


def test_rti_refits_lanes_with_successes_and_keeps_the_others(env_and_block):
    from cogmodels.agents.decoders.wilson_study import _rti

    env, (counts, labels) = env_and_block
    dec = SteadyStateKalmanDecoder().fit(counts, labels)
    rec = SessionRecord()
    run_closed_loop(env, dec, 6.0, record=rec)
    a = rec.arrays()
    assert a["click"][:, 0].any()
    a["click"][:, 1] = False  # lane 1: no success, nothing to label
    new = _rti(dec, a, {"dt": env.config.task.dt, "labels": "position",
                        "v_max": env.config.speed_bound, "workspace": env.config.task.position_bound})
    np.testing.assert_array_equal(new.H_[1], dec.H_[1])
    assert not np.allclose(new.H_[0], dec.H_[0])


def test_trial_end_cursor_moves_as_the_environment_does_at_the_walls_and_speed_limit(env_and_block,
                                                                                    monkeypatch):
    """The end point both RTI rules label toward is where the environment put the cursor."""
    from cogmodels.agents.decoders import wilson_study

    env, (counts, labels) = env_and_block
    dec = SteadyStateKalmanDecoder().fit(counts, labels)
    rec = SessionRecord()
    run_closed_loop(env, dec, 10.0, gain=4.0, record=rec)  # a gain at which v_max and walls bind
    a = rec.arrays()
    cfg = env.config
    end = wilson_study.trial_end_cursor(a, cfg.task.dt, cfg.speed_bound, cfg.task.position_bound)
    moved_on = ~a["trial_end"][:-1]  # a trial's end re-centres the cursor
    np.testing.assert_allclose(end[:-1][moved_on], a["cursor"][1:][moved_on], atol=1e-12)
    assert (np.abs(a["applied"]) > cfg.speed_bound).any()  # the bounds did bind
    assert (np.abs(end) == cfg.task.position_bound).any()
    free = wilson_study.trial_end_cursor(a, cfg.task.dt)
    assert not np.allclose(free[:-1][moved_on], a["cursor"][1:][moved_on])
    # the RTI rule of this package labels toward that end point (it once ignored the bounds)
    seen = {}

    def spy(kind, decoder, rec, goal):
        seen["goal"] = goal
        return goal - rec["cursor"]

    clicks = a["click"]
    monkeypatch.setattr(wilson_study, "intention_labels", spy)
    wilson_study._rti(dec, a, {"dt": cfg.task.dt, "labels": "position", "v_max": cfg.speed_bound,
                               "workspace": cfg.task.position_bound})
    np.testing.assert_array_equal(seen["goal"][clicks], end[clicks])



def test_refit_labels_inherit_an_attenuated_output_and_position_labels_do_not(env_and_block):
    """Why ReFIT-speed labels compound day after day in the 60-day protocol: their speed is the
    decoder's own output, so a decoder whose output drift has halved (here: OutputScale 0.5,
    the gain doubled so the cursor moves exactly as before) teaches the next fit to output half
    as much; Wilson et al.'s position-error labels depend on the cursor path only."""
    from cogmodels.agents.decoders.wilson_study import OutputScale, intention_labels, readout_norm

    env, (counts, labels) = env_and_block
    dec = SteadyStateKalmanDecoder().fit(counts, labels)
    recs = {}
    for scale in (1.0, 0.5):
        env.reset(seed=3, options={"day": 0})
        rec = SessionRecord()
        run_closed_loop(env, OutputScale(dec, np.full(2, scale)), 10.0, gain=1.0 / scale,
                        record=rec)
        recs[scale] = rec.arrays()
    np.testing.assert_allclose(recs[0.5]["cursor"], recs[1.0]["cursor"], atol=1e-5)
    np.testing.assert_allclose(recs[0.5]["velocity"], 0.5 * recs[1.0]["velocity"], rtol=1e-4)
    norm = {}
    for kind in ("refit", "position"):
        for scale, rec in recs.items():
            y = intention_labels(kind, dec, rec, rec["target"])
            norm[kind, scale] = readout_norm(SteadyStateKalmanDecoder().fit(rec["counts"], y))
    np.testing.assert_allclose(norm["position", 0.5], norm["position", 1.0], rtol=1e-3)
    ratio = norm["refit", 0.5] / norm["refit", 1.0]
    assert ((ratio > 0.4) & (ratio < 0.65)).all(), ratio  # ~0.5: the shrinkage is inherited
    with pytest.raises(ValueError, match="labels must be"):
        run_wilson_protocol(["hmm"], labels="speed")


def test_rti_wilson_labels_timeouts_too_within_their_window_and_approach_rule():
    """Wilson et al.'s RTI rule: every trial end (a dwell or a timeout) is a click whose cursor
    is the target; of the bins from 6.4 s to 0.6 s before it, those further than 0.1 from that
    target and getting closer are kept."""
    from cogmodels.agents.decoders.wilson_study import rti_wilson_selection

    dt, T = 0.02, 800
    x = np.concatenate([np.linspace(0.0, 0.4, 300), np.full(100, 0.4),  # trial 1: reach, dwell
                        np.linspace(0.0, -0.3, 200), np.linspace(-0.3, 0.2, 200)])  # 2: timeout
    cursor = np.zeros((T, 1, 2))
    cursor[:, 0, 0] = x
    applied = np.zeros((T, 1, 2))
    trial_end = np.zeros((T, 1), dtype=bool)
    trial_end[[399, 799], 0] = True
    click = np.zeros((T, 1), dtype=bool)
    click[399, 0] = True  # only the first is a success; the rule ignores it
    goal, keep = rti_wilson_selection({"cursor": cursor, "applied": applied,
                                       "trial_end": trial_end, "click": click}, dt)
    np.testing.assert_allclose(goal[79:400, 0], np.tile([0.4, 0.0], (321, 1)))
    np.testing.assert_allclose(goal[479:, 0], np.tile([0.2, 0.0], (321, 1)))
    k = keep[:, 0]
    # trial 1: window 79..369 (320 bins back, 30 before the end); approaching and > 0.1 away
    assert not k[:79].any() and not k[370:400].any()
    np.testing.assert_array_equal(np.flatnonzero(k[:400]), np.flatnonzero(0.4 - x[:400] > 0.1)[
        np.flatnonzero(0.4 - x[:400] > 0.1) >= 79])
    # trial 2 (the timeout): window 479..769; moving away from 0.2 until bin 600, then toward it
    sel = np.flatnonzero(k[400:]) + 400
    assert sel.min() >= 600 and sel.max() <= 769
    assert (np.abs(0.2 - x[sel]) > 0.1).all()


@pytest.mark.slow
def test_same_day_refit_scores_the_decoder_refit_on_the_days_own_block():
    kw = dict(n_days=2, n_subjects=1, session_s=8.0, calibration_s=4.0, sweep_s=0.5,
              gains=(1.0,), n_units=32)
    late = run_wilson_protocol(["rti_wilson", "supervised"], **kw)
    same = run_wilson_protocol(["rti_wilson", "supervised"], same_day_refit=True, **kw)
    for t in (late, same):
        assert set(t["day"]) == {0, 1}
    day0 = [t[t["day"] == 0].sort_values(["decoder", "trial"])["trial_time"].to_numpy()
            for t in (late, same)]
    np.testing.assert_array_equal(*day0)  # day 0: no recalibration yet, either order
    with pytest.raises(ValueError, match="same_day_refit"):
        run_wilson_protocol(["rti"], same_day_refit="yes", **kw)


def test_pri_t_over_subjects_in_worker_processes_gives_the_same_trials():
    """With one strategy, ``n_jobs`` runs PRI-T's inference over the subjects in spawned workers."""
    kw = {"n_days": 2, "n_subjects": 3, "session_s": 8.0, "calibration_s": 10.0, "sweep_s": 0.5,
          "gains": (1.0, 2.0), "n_units": 32}
    one = run_wilson_protocol(["hmm"], **kw)
    two = run_wilson_protocol(["hmm"], n_jobs=2, **kw)
    assert set(one["day"]) == {0, 1} and set(one["subject"]) == {0, 1, 2}  # day 1 after a refit
    pd.testing.assert_frame_equal(one, two)


def test_a_stopped_run_resumes_from_its_checkpoint_to_the_same_trials(tmp_path, monkeypatch):
    """``save_dir`` checkpoints each finished day: the same call resumes there, the same bits."""
    from cogmodels.agents.decoders import wilson_study

    kw = {"n_subjects": 2, "session_s": 6.0, "calibration_s": 8.0, "sweep_s": 0.5,
          "gains": (1.0, 2.0), "n_units": 32, "same_day_refit": True}
    names = ["hmm", "rti_wilson"]
    whole = run_wilson_protocol(names, n_days=3, save_dir=tmp_path / "a", **kw)
    run_wilson_protocol(names, n_days=2, save_dir=tmp_path / "b", **kw)  # stopped after day 1
    with open(tmp_path / "b" / "hmm.csv", "a") as f:  # ...while writing day 2's trials
        f.write("0,2,0,0.4")
    resumed = run_wilson_protocol(names, n_days=3, save_dir=tmp_path / "b", **kw)
    pd.testing.assert_frame_equal(resumed, whole, check_exact=True)
    for name in names:
        assert (tmp_path / "b" / f"{name}.csv").read_bytes() == (
            tmp_path / "a" / f"{name}.csv").read_bytes()
    monkeypatch.setattr(wilson_study, "sweep_gain", None)  # a finished run plays nothing again
    again = run_wilson_protocol(names, n_days=3, save_dir=tmp_path / "b", **kw)
    pd.testing.assert_frame_equal(again, whole, check_exact=True)
    shorter = run_wilson_protocol(names, n_days=2, save_dir=tmp_path / "b", **kw)
    pd.testing.assert_frame_equal(shorter, whole[whole["day"] < 2].reset_index(drop=True),
                                  check_exact=True)
    with pytest.raises(ValueError, match=r"holds a run of 'hmm' with other options.*'seed': \('0', '1'\)"):
        run_wilson_protocol(names, n_days=3, save_dir=tmp_path / "b", seed=1, **kw)


def test_a_session_without_a_finished_trial_gives_a_table_of_the_same_types():
    env = CursorBCIVector(num_envs=2, n_trials=10**6, n_units=32)
    env.reset(seed=0, options={"day": 0})
    decoder = SteadyStateKalmanDecoder().fit(*calibration_block(env, 20.0, day=0))
    full = run_closed_loop(env, decoder, 5.0, day=0)
    empty = run_closed_loop(env, decoder, 0.04, day=0)
    assert len(full) and not len(empty)
    pd.testing.assert_series_equal(empty.dtypes, full.dtypes)
