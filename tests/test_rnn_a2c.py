"""Recurrent policies and the batched A2C meta-RL trainer."""

from __future__ import annotations

import itertools
import json
import math
import re
import time
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
import torch

from cogmodels.agents import a2c
from cogmodels.agents.a2c import A2CConfig, A2CTrainer
from cogmodels.agents.bandit_baselines import RandomPolicy, evaluate
from cogmodels.agents.rnn import RecurrentPolicy
from cogmodels.agents.rollout_buffer import gae

Z = 4.0


def tiny(**kw) -> A2CConfig:
    base = dict(n_lanes=8, n_trials=10, hidden_size=8, total_updates=20, seed=3, lr=3e-3)
    return A2CConfig(**{**base, **kw})


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_step_matches_sequence_forward(cell):
    torch.manual_seed(0)
    model = RecurrentPolicy(n_actions=3, obs_dim=2, hidden_size=5, cell=cell)
    x = torch.randn(6, 4, model.input_size)
    logits, values, h_seq = model(x)
    assert logits.shape == (6, 4, 3) and values.shape == (6, 4)
    h = model.initial_state(4)
    for t in range(6):
        lt, vt, h = model.step(x[t], h)
        torch.testing.assert_close(lt, logits[t], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(vt, values[t], atol=1e-5, rtol=1e-5)
    if cell == "lstm":
        assert isinstance(h, tuple) and len(h) == 2


def test_make_input_layout():
    model = RecurrentPolicy(n_actions=2, obs_dim=1, hidden_size=4)
    x = model.make_input(np.ones((3, 1)), np.array([1, 0, -1]), np.array([1.0, 0.0, 1.0]))
    expected = [[1, 0, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]]  # -1: no previous trial
    np.testing.assert_array_equal(x.numpy(), expected)
    np.testing.assert_array_equal(model.make_input(np.ones((2, 1)), None, None).numpy(), [[1, 0, 0, 0]] * 2)


def test_save_load_round_trip_uses_weights_only(tmp_path, monkeypatch):
    torch.manual_seed(1)
    model = RecurrentPolicy(hidden_size=7, cell="lstm")
    model.save(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg == {"class": "RecurrentPolicy", "n_actions": 2, "obs_dim": 1, "hidden_size": 7, "cell": "lstm"}
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    loaded = RecurrentPolicy.load(tmp_path / "m")
    assert calls == [True]
    x = torch.randn(5, 3, model.input_size)
    for a, b in zip(model(x)[:2], loaded(x)[:2]):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_untrained_network_plays_at_chance():
    torch.manual_seed(0)
    agent = RecurrentPolicy(hidden_size=8).as_session_policy(greedy=False)
    res = evaluate(agent, 1000, seed=4, n_trials=20)
    rand = evaluate(RandomPolicy(), 1000, seed=4, n_trials=20)
    assert abs(res.mean - 20 / 6) < Z * res.sem
    assert abs(rand.mean - 20 / 6) < Z * rand.sem


@pytest.mark.parametrize("rollout_len", [None, 5])
def test_resume_reproduces_uninterrupted_training(tmp_path, rollout_len):
    cfg = tiny(rollout_len=rollout_len)
    straight = A2CTrainer(cfg).train(20, progress=False)
    first = A2CTrainer(cfg).train(10, progress=False, checkpoint_dir=tmp_path)
    resumed = A2CTrainer.resume(tmp_path)
    assert resumed.update_ == first.update_ == 10
    resumed.train(10, progress=False)
    assert resumed.update_ == straight.update_ == 20
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    h1, h2 = straight.history_, resumed.history_
    np.testing.assert_array_equal(h1["regret"], h2["regret"])
    np.testing.assert_array_equal(h1["policy_loss"], h2["policy_loss"])
    # the checkpoint loads with weights_only=True
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["update"] == 10
    assert RecurrentPolicy.load(tmp_path / "model").hidden_size == 8


def test_same_seed_same_weights_different_seed_different():
    a = A2CTrainer(tiny()).train(3, progress=False)
    b = A2CTrainer(tiny()).train(3, progress=False)
    c = A2CTrainer(tiny(seed=4)).train(3, progress=False)
    wa, wb, wc = (t.model.policy_head.weight for t in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_schedules_decay_linearly():
    t = A2CTrainer(tiny(lr=1e-3, lr_end=1e-4, entropy_coef=0.1, entropy_coef_end=0.0, total_updates=10))
    assert t.current_lr() == pytest.approx(1e-3) and t.current_entropy_coef() == pytest.approx(0.1)
    t.train(5, progress=False)
    assert t.current_lr() == pytest.approx(5.5e-4) and t.current_entropy_coef() == pytest.approx(0.05)
    t.train(10, progress=False)  # past total_updates: held at the end values
    assert t.current_lr() == pytest.approx(1e-4) and t.current_entropy_coef() == pytest.approx(0.0)
    h = t.history_
    assert list(h["update"]) == list(range(1, 16)) and (h["env_steps"] == h["update"] * 80).all()


def test_time_budget_stops_training():
    t = A2CTrainer(tiny())
    t.train(10**6, time_budget_s=0.5, progress=False)
    assert 0 < t.update_ < 10**6 and t.elapsed_s_ < 5.0


def test_short_training_beats_random_play():
    # 20-trial sessions: random play loses 20/6 = 3.33 per session; the Bayes-optimal policy 0.90
    torch.set_num_threads(1)
    cfg = A2CConfig(
        n_lanes=64, n_trials=20, hidden_size=16, lr=1e-2, gamma=0.9, entropy_coef=0.01,
        reward_signal="expected", total_updates=150, seed=0,
    )
    trainer = A2CTrainer(cfg).train(progress=False)  # 150 updates, ~4 s on a quiet core
    res = trainer.evaluate(2000, seed=9)
    rand = 20 / 6
    assert res.mean < 0.6 * rand, (res, trainer.update_)


def test_bad_arguments_raise(tmp_path):
    with pytest.raises(ValueError, match="cell must be one of"):
        RecurrentPolicy(cell="transformer")
    with pytest.raises(ValueError, match="hidden_size"):
        RecurrentPolicy(hidden_size=0)
    with pytest.raises(ValueError, match="path_dir"):
        RecurrentPolicy.load(tmp_path)
    with pytest.raises(ValueError, match="path_dir"):
        A2CTrainer.resume(tmp_path)
    with pytest.raises(ValueError, match="rollout_len must divide the 100 steps"):
        A2CTrainer(A2CConfig(n_trials=100, rollout_len=30))
    with pytest.raises(ValueError, match="rollout_len must divide the 40 steps"):
        A2CTrainer(A2CConfig(env_id="cogmodels/TwoStep-v0", env_kwargs={}, n_trials=20, rollout_len=30))
    with pytest.raises(ValueError, match="registered environment id"):
        A2CTrainer(A2CConfig(env_id="cogmodels/Nope-v0"))
    with pytest.raises(ValueError, match=r"reward_signal must be one of \['sampled', 'expected'\], got 'bonus'"):
        A2CConfig(reward_signal="bonus")
    with pytest.raises(ValueError, match="schedule_unit='seconds' needs total_s"):
        A2CConfig(schedule_unit="seconds")
    with pytest.raises(ValueError, match=r"schedule_unit must be one of \['updates', 'seconds'\], got 'epochs'"):
        A2CConfig(schedule_unit="epochs")
    with pytest.raises(ValueError, match="squash must be one of"):
        A2CConfig(squash="sigmoid")
    with pytest.raises(ValueError, match="gamma"):
        A2CConfig(gamma=1.5)
    with pytest.raises(ValueError, match="n_lanes"):
        A2CConfig(n_lanes=0)
    with pytest.raises(ValueError, match="unknown A2CConfig fields"):
        A2CConfig.from_dict({"hidden": 3})
    with pytest.raises(ValueError, match="time_budget_s"):
        A2CTrainer(tiny()).train(1, time_budget_s=-1)
    with pytest.raises(ValueError, match="checkpoint_every needs checkpoint_dir"):
        A2CTrainer(tiny()).train(1, checkpoint_every=1)
    with pytest.raises(ValueError, match="env_kwargs must not hold"):
        A2CConfig(env_kwargs={"n_trials": 5})


@pytest.mark.parametrize(
    "env_id, env_kwargs, steps_per_trial",
    [("cogmodels/TwoStep-v0", {"schedule": "switch"}, 2),
     ("cogmodels/DelayedMatchToSample-v0", {"delay_steps": 1}, 3),
     ("cogmodels/NBack-v0", {"n": 2}, 1)],
)
def test_trainer_runs_multi_step_trials_and_plays_trial_tables(env_id, env_kwargs, steps_per_trial):
    """Tasks with several steps per trial train in lockstep (natively vectorised or through
    Gymnasium's SyncVectorEnv), and play() returns their behaviour as the canonical trial table."""
    cfg = A2CConfig(env_id=env_id, env_kwargs=env_kwargs, n_trials=12, n_lanes=4, hidden_size=8,
                    total_updates=2, seed=0, rollout_len=steps_per_trial * 6)
    t = A2CTrainer(cfg).train(progress=False)
    assert t.steps_per_session == 12 * steps_per_trial
    assert t.update_ == 2 and t.env_steps_ == 2 * 4 * steps_per_trial * 6
    table = t.play(3, seed=1)
    assert table.groupby("subject").size().tolist() == [12, 12, 12]
    assert {"choice", "reward"} <= set(table.columns)
    if env_id.endswith("TwoStep-v0"):
        assert {"choice2", "state2", "common"} <= set(table.columns)
    again = t.play(3, seed=1)
    assert table.equals(again)


# -- continuous actions, sessions of varying length, schedules -----------------------------------

#: a short cursor-BCI setting: 8 strongly tuned units, 50 ms bins, 1 s timeouts, 3 targets a
#: session, and an error-potential detector (0.9 hits, 0.1 false alarms) scoring every bin
BCI = {"n_units": 8, "dt": 0.05, "timeout": 1.0, "hold_time": 0.1, "target_radius": 0.12,
       "error_signal": [0.9, 0.1], "error_interval": 0.05, "modulation_depth": [20, 40],
       "baseline_rate": [10, 20]}


def bci_config(**kw) -> A2CConfig:
    base = dict(env_id="cogmodels/CursorBCI-v0", env_kwargs=BCI, n_trials=3, n_lanes=8,
                hidden_size=8, gamma=0.5, lr=1e-2, entropy_coef=0.0, total_updates=50, seed=0)
    return A2CConfig(**{**base, **kw})


@pytest.mark.parametrize("squash", ["tanh", "clip"])
def test_gaussian_log_density_is_the_density_of_the_action_in_the_box(squash):
    torch.manual_seed(0)
    model = RecurrentPolicy(n_actions=1, obs_dim=1, hidden_size=3, action_kind="gaussian",
                            action_low=[-2.0], action_high=[2.0], squash=squash, log_std_init=0.3)
    out = torch.tensor([[0.4]])
    u = torch.tensor([[0.7]])
    with torch.no_grad():
        logp, entropy = model.log_prob_entropy(out, u)
    sigma = math.exp(0.3)
    normal = -0.5 * ((0.7 - 0.4) / sigma) ** 2 - math.log(sigma) - 0.5 * math.log(2 * math.pi)
    # a = low + (tanh(u) + 1)(high - low)/2 has da/du = 2 (1 - tanh(u)^2): the density divides by it
    expected = normal - math.log(2 * (1 - math.tanh(0.7) ** 2)) if squash == "tanh" else normal
    assert float(logp) == pytest.approx(expected, abs=1e-5)
    assert float(entropy) == pytest.approx(0.3 + 0.5 * math.log(2 * math.pi * math.e), abs=1e-6)
    a = float(model.env_action(torch.tensor([[5.0]])))
    assert a == pytest.approx(2.0 * math.tanh(5.0) if squash == "tanh" else 2.0, abs=1e-6)


def test_gae_stops_at_each_lanes_session_end():
    # lane 0 runs 3 steps, lane 1 ends after its 1st step; values 0, lambda 1: discounted sums
    rewards = torch.tensor([[1.0, 1.0], [1.0, 5.0], [1.0, 5.0]])
    alive = torch.tensor([[1.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    adv = gae(rewards, torch.zeros(3, 2), torch.tensor([2.0, 0.0]), 0.5, 1.0, alive,
              torch.tensor([1.0, 0.0]))
    np.testing.assert_allclose(adv[:, 0], [1 + 0.5 + 0.25 + 0.125 * 2, 1 + 0.5 + 0.25 * 2, 1 + 0.5 * 2])
    np.testing.assert_allclose(adv[:, 1], [1.0, 0.0, 0.0])  # nothing after the end, padding zero


def test_masked_sequence_holds_the_state_of_ended_sessions():
    torch.manual_seed(2)
    model = RecurrentPolicy(n_actions=2, obs_dim=1, hidden_size=4)
    x = torch.randn(5, 2, model.input_size)
    keep = torch.tensor([[1.0, 1.0], [1.0, 1.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    _, _, h = model(x, None, keep)
    _, _, h_short = model(x[:2, 1:])  # lane 1's session: its first two steps
    torch.testing.assert_close(h[:, 1:], h_short)
    _, _, h_full = model(x[:, :1])
    torch.testing.assert_close(h[:, :1], h_full)


def test_cursor_bci_sessions_of_varying_length_train_and_resume(tmp_path):
    """Gaussian actions in the box and sessions ending at different steps: trains, checkpoints,
    resumes bit for bit, and plays a trial table with every session to its end."""
    cfg = bci_config(n_lanes=2, total_updates=1, rollout_len=10, n_trials=2)
    t = A2CTrainer(cfg)
    assert t.steps_per_session is None and t.model.action_kind == "gaussian"
    t.train(progress=False, checkpoint_dir=tmp_path)
    h = t.history_
    assert (h["length"] <= 2 * 20).all() and (h["length"] > 0).all()  # 2 trials of <= 1 s / 0.05 s
    steps = np.diff(h["env_steps"], prepend=0) / 2  # steps played per batch: to the longest session
    assert (steps >= h["length"]).all() and (steps <= 2 * 20 + 1).all()
    more = A2CTrainer(cfg).train(progress=False).train(1, progress=False)  # a batch: several updates
    resumed = A2CTrainer.resume(tmp_path).train(1, progress=False)
    assert resumed.update_ == more.update_ > t.update_
    for a, b in zip(more.model.parameters(), resumed.model.parameters()):
        assert torch.equal(a, b)
    table = t.play(2, seed=1)
    assert table.groupby("subject").size().tolist() == [2, 2]
    assert {"success", "time_to_target"} <= set(table.columns)


@torch.no_grad()
def _play_before_rollout(trainer: A2CTrainer, n_sessions: int, seed: int, greedy: bool):
    """A2CTrainer.play as it was before it became a rollout: the oracle of the move."""
    from cogmodels.envs.wrappers import RecordTrials

    cfg, model = trainer.config, trainer.model
    envs = [RecordTrials(gym.make(cfg.env_id, n_trials=cfg.n_trials, **cfg.env_kwargs), subject=i)
            for i in range(n_sessions)]
    seeds = np.random.SeedSequence(seed).spawn(n_sessions + 1)
    gen = torch.Generator().manual_seed(int(seeds[0].generate_state(1)[0]))
    obs = np.stack([e.reset(seed=int(s.generate_state(1)[0]))[0] for e, s in zip(envs, seeds[1:])])
    h = model.initial_state(n_sessions)
    prev_a = prev_r = None
    running = np.ones(n_sessions, dtype=bool)
    while running.any():
        out, _, h = model.step(model.make_input(obs, prev_a, prev_r), h)
        a = model.env_action(model.sample(out, gen, greedy=greedy))
        rewards = np.zeros(n_sessions, dtype=np.float32)
        obs = obs.copy()
        for i in np.flatnonzero(running):
            act = a[i].numpy() if model.action_kind == "gaussian" else int(a[i])
            obs[i], rewards[i], terminated, truncated, _ = envs[i].step(act)
            running[i] = not (terminated or truncated)
        prev_a, prev_r = a, torch.from_numpy(rewards)
    return pd.concat([e.table() for e in envs], ignore_index=True)


@pytest.mark.parametrize("greedy", [False, True])
@pytest.mark.parametrize("config", ["bandit", "two_step", "bci"])
def test_play_is_the_rollout_of_the_network_as_an_agent(config, greedy):
    """play() is rollout(model.as_agent()) and gives the table of the loop it replaced, value for
    value, for discrete one-step and two-step trials and for Gaussian actions in sessions of
    varying length."""
    from cogmodels.rollout import rollout

    cfg = {"bandit": tiny(n_trials=15, n_lanes=4),
           "two_step": tiny(env_id="cogmodels/TwoStep-v0", env_kwargs={"schedule": "switch"}, n_trials=6,
                        n_lanes=2, rollout_len=12),
           "bci": bci_config(n_lanes=2, n_trials=2)}[config]
    t = A2CTrainer(cfg)
    table = t.play(3, seed=5, greedy=greedy)
    old = _play_before_rollout(t, 3, 5, greedy)
    pd.testing.assert_frame_equal(table, old)  # same columns, dtypes and values
    agent = t.model.as_agent(greedy=greedy)
    env_kwargs = {"n_trials": cfg.n_trials, **cfg.env_kwargs}
    pd.testing.assert_frame_equal(rollout(agent, cfg.env_id, n_subjects=3, seed=5, env_kwargs=env_kwargs),
                                  table)
    if not greedy:
        assert not table.equals(t.play(3, seed=6))


def test_the_network_agent_refuses_what_is_not_a_network():
    from cogmodels.agents.rnn import RecurrentRolloutAgent

    with pytest.raises(TypeError, match="model must be a RecurrentPolicy, got str"):
        RecurrentRolloutAgent("gru")
    with pytest.raises(ValueError, match="greedy"):
        RecurrentPolicy().as_agent(greedy=1)


def test_schedules_by_seconds_end_with_the_budget(monkeypatch):
    # the trainer's clock advances 0.05 s at each read, so the budget ends after the same updates
    # on any machine (with the real clock, a loaded machine could spend the 1 s in one update)
    reads = itertools.count()

    def clock() -> float:
        return 0.05 * next(reads)

    monkeypatch.setattr(a2c, "time", SimpleNamespace(perf_counter=clock, process_time=clock))
    t = A2CTrainer(tiny(lr=1e-3, lr_end=1e-4, schedule_unit="seconds", total_s=1.0))
    assert t.current_lr() == pytest.approx(1e-3)
    t.train(progress=False)  # stops when the 1 s is spent
    assert t.elapsed_s_ >= 1.0 and t.current_lr() == pytest.approx(1e-4)
    rows = t.history_
    assert len(rows) > 2 and rows["elapsed_s"].is_monotonic_increasing
    assert rows["lr"].iloc[0] > rows["lr"].iloc[-1] == pytest.approx(1e-4)


@pytest.mark.slow
def test_a2c_trains_a_gru_decoder_on_the_cursor_bci():
    """From spike counts alone and the error-potential signal, 25 updates (about 10 s on a quiet
    core) take the GRU decoder's return per session from chance (about 0: as many +1 as -1 for
    a random velocity) to clearly positive, and its cursor starts reaching targets."""
    torch.set_num_threads(1)
    cfg = bci_config(n_lanes=32, hidden_size=16, gamma=0.0, lr=0.03, log_std_init=0.0,
                     total_updates=25)
    trainer = A2CTrainer(cfg)
    before = trainer.play(32, seed=5, greedy=True)
    trainer.train(progress=False)
    ret = trainer.history_["return"]
    # batch means of 32 sessions of ~60 bins of +-1: standard error ~1.4 per batch
    assert ret.tail(5).mean() > ret.head(5).mean() + 3.0, ret.round(2).tolist()
    after = trainer.play(32, seed=5, greedy=True)
    assert after["success"].mean() > before["success"].mean(), (before.success.mean(), after.success.mean())


def test_one_linear_schedule_for_updates_and_seconds():
    from cogmodels.agents.continuous import linear_schedule as std_schedule
    from cogmodels.agents.schedules import LinearSchedule, linear_schedule, run_fraction

    s = LinearSchedule(1.0, 0.0)
    assert s(run_fraction(updates=3, total_updates=4)) == pytest.approx(0.25)
    assert s(run_fraction(seconds=30.0, total_s=60.0)) == pytest.approx(0.5)
    assert s(run_fraction(seconds=90.0, total_s=60.0)) == 0.0  # held at the end value
    # the continuous actor-critic's exploration schedule gives the same values
    assert [linear_schedule(0.5, 0.1, 4)(t) for t in range(6)] == [std_schedule(0.5, 0.1, 4)(t) for t in range(6)]
    with pytest.raises(ValueError, match="total_s must be a finite number in \\(0, inf\\), got -1"):
        run_fraction(seconds=1.0, total_s=-1)
    with pytest.raises(ValueError, match="n_steps must be an integer >= 1, got 0"):
        linear_schedule(1.0, 0.0, 0)


# -- the observable Bayes statistics: baseline="bayes_value", rao_blackwell=True (issue 13 §3) --


@pytest.fixture(scope="module")
def dp95():
    from cogmodels.agents.bandit_baselines import BayesOptimal

    return BayesOptimal(100, gamma=0.95)


def test_dp_value_to_go_is_the_exact_expectation_of_the_regret():
    from cogmodels.agents.bandit_baselines import BayesOptimal

    dp = BayesOptimal(100)
    v0 = dp.value_to_go(np.zeros((1, 2, 2), dtype=np.int64))[0]
    # V_0 is the Bayes-optimal expected reward: T E[max p] - V_0 = 200/3 - V_0 = 1.7482
    assert v0 == pytest.approx(dp.value_, rel=1e-6)
    assert 200 / 3 - v0 == pytest.approx(1.7482, abs=1e-4)
    # discounted by hand, T = 2: V = 1/2 + γ (1/2 · 2/3 + 1/2 · 1/2) = 1/2 + γ 7/12 (win-stay
    # lose-shift either way, so its undiscounted regret is the T = 2 figure, 16/12 - 13/12)
    half = BayesOptimal(2, gamma=0.5)
    assert half.value_ == pytest.approx(0.5 + 0.5 * 7 / 12, abs=1e-12)
    assert half.expected_regret == pytest.approx(3 / 12, abs=1e-12)


def test_discounted_dp_values_satisfy_the_bellman_equation(dp95):
    rng = np.random.default_rng(0)
    t = rng.integers(0, 99, size=500)
    n0 = rng.binomial(t, 0.5)
    s0, s1 = rng.binomial(n0, 0.4), rng.binomial(t - n0, 0.6)
    c = np.stack([np.stack([s0, n0 - s0], 1), np.stack([s1, t - n0 - s1], 1)], 1)
    m = (c[:, :, 0] + 1.0) / (c.sum(2) + 2.0)
    q = []
    for arm in (0, 1):
        win, lose = c.copy(), c.copy()
        win[:, arm, 0] += 1
        lose[:, arm, 1] += 1
        q.append(m[:, arm] * (1 + 0.95 * dp95.value_to_go(win)) + (1 - m[:, arm]) * 0.95 * dp95.value_to_go(lose))
    np.testing.assert_allclose(dp95.value_to_go(c), np.maximum(*q), rtol=1e-5)
    last = c.copy()
    last[:, 0, 1] += 99 - t  # t = 99: one trial left, worth the larger posterior mean
    mlast = (last[:, :, 0] + 1.0) / (last.sum(2) + 2.0)
    np.testing.assert_allclose(dp95.value_to_go(last), mlast.max(1), rtol=1e-6)
    assert dp95.value_to_go(np.array([[[50, 0], [50, 0]]])) == 0.0  # the session is over
    with pytest.raises(ValueError, match="counts must sum to at most n_trials=100, got 101"):
        dp95.value_to_go(np.array([[[51, 0], [50, 0]]]))


def test_posterior_predictive_reward_is_the_env_reward_frequency():
    """On the real env, the reward after (arm 0: one success) is 2/3 = E[p²]/E[p], after a failure 1/3."""
    from cogmodels.agents.bandit_baselines import PosteriorTracker

    n = 20_000
    env = gym.make_vec("cogmodels/MultiArmedBandit-v0", num_envs=n, vectorization_mode="vector_entry_point",
                       n_actions=2, n_trials=2)
    env.reset(seed=5)
    tracker = PosteriorTracker(n_trials=2)
    tracker.start(n)
    arm0 = np.zeros(n, dtype=np.int64)
    _, r0, *_ = env.step(arm0)
    pred0, v0 = tracker.observe(arm0, r0)
    _, r1, *_ = env.step(arm0)
    pred1, _ = tracker.observe(arm0, r1)
    assert np.all(pred0 == 0.5) and np.allclose(v0, 0.5 + 7 / 12)
    for won, p in ((1.0, 2 / 3), (0.0, 1 / 3)):
        sel = r0 == won
        np.testing.assert_allclose(pred1[sel], p)
        assert abs(r1[sel].mean() - p) < Z * math.sqrt(p * (1 - p) / sel.sum())
    with pytest.raises(ValueError, match="actions must be 20000 arms in"):
        tracker.observe(np.full(n, 2), r1)


def test_rao_blackwell_return_and_bayes_baseline_keep_the_policy_gradient_exact():
    """Two trials, a tabular softmax policy: the expectation (over every trajectory, exactly) of
    the REINFORCE estimate with the sampled rewards, with the posterior-predictive rewards, with the
    hindsight pseudo-regrets E[p_a - max p | c_2], and with each minus the baseline V*_γ(counts),
    all equal the gradient of E[r_0 + γ r_1]."""
    from itertools import product

    from cogmodels.agents.bandit_baselines import PosteriorTracker

    gamma = 0.8
    g = torch.Generator().manual_seed(0)
    theta0 = torch.randn(2, generator=g, dtype=torch.float64, requires_grad=True)
    theta1 = torch.randn(2, 2, 2, generator=g, dtype=torch.float64, requires_grad=True)  # [a0, r0]

    def p_win(a1, a0, r0):  # P(r_1 = 1 | a_0, r_0, a_1) under p_i ~ U(0, 1)
        return (r0 + 1) / 3 if a1 == a0 else 0.5

    pi0, pi1 = torch.softmax(theta0, 0), torch.softmax(theta1, -1)
    objective = sum(pi0[a0] * (0.5 + gamma * sum(0.5 * pi1[a0, r0, a1] * p_win(a1, a0, r0)
                                                   for r0, a1 in product((0, 1), (0, 1))))
                    for a0 in (0, 1))
    exact = torch.autograd.grad(objective, (theta0, theta1))
    tracker = PosteriorTracker(n_trials=2, gamma=gamma)
    trajectories = list(product((0, 1), repeat=4))
    tracker.start(len(trajectories))
    a0, r0, a1, r1 = (np.array(col) for col in zip(*trajectories))
    rb0, b0 = tracker.observe(a0, r0)
    rb1, b1 = tracker.observe(a1, r1)
    hs = tracker.hindsight_signal(np.stack([a0, a1]))  # E[p_a - max p | counts after both trials]
    estimates = {k + suffix: [torch.zeros(2, dtype=torch.float64), torch.zeros(2, 2, 2, dtype=torch.float64)]
                 for k in ("sampled", "rao_blackwell", "hindsight") for suffix in ("", "-bayes")}
    for i, (x0, y0, x1, y1) in enumerate(trajectories):
        prob = float((pi0[x0] * 0.5 * pi1[x0, y0, x1]).detach()) * (p_win(x1, x0, y0) if y1 else 1 - p_win(x1, x0, y0))
        lp0 = torch.autograd.grad(torch.log_softmax(theta0, 0)[x0], theta0)[0]
        lp1 = torch.autograd.grad(torch.log_softmax(theta1, -1)[x0, y0, x1], theta1)[0]
        for rewards, name in (((y0, y1), "sampled"), ((rb0[i], rb1[i]), "rao_blackwell"),
                              ((hs[0, i], hs[1, i]), "hindsight")):
            for base, suffix in (((0.0, 0.0), ""), ((b0[i], b1[i]), "-bayes")):
                g0 = rewards[0] + gamma * rewards[1] - base[0]
                g1 = gamma * (rewards[1] - base[1])  # the score of trial 1 carries γ^1
                estimates[name + suffix][0] += prob * g0 * lp0
                estimates[name + suffix][1] += prob * g1 * lp1
    for name, (e0, e1) in estimates.items():
        torch.testing.assert_close(e0, exact[0], atol=1e-12, rtol=0, msg=name)
        torch.testing.assert_close(e1, exact[1], atol=1e-12, rtol=0, msg=name)


def test_bayes_options_need_the_uniform_bernoulli_bandit():
    with pytest.raises(ValueError, match="baseline must be one of \\['critic', 'bayes_value'\\], got 'bayes'"):
        tiny(baseline="bayes")
    with pytest.raises(ValueError, match="rao_blackwell=True estimates the sampled reward: it needs "
                                         "reward_signal='sampled', got 'expected'"):
        tiny(rao_blackwell=True, reward_signal="expected")
    with pytest.raises(TypeError, match="rao_blackwell must be a bool, got int"):
        tiny(rao_blackwell=1)
    with pytest.raises(ValueError, match="clock must be one of \\['wall', 'cpu'\\], got 'gpu'"):
        tiny(clock="gpu")
    with pytest.raises(ValueError, match="baseline='bayes_value' needs the two-armed Bernoulli bandit"):
        A2CTrainer(tiny(baseline="bayes_value", env_kwargs={"n_actions": 3}))
    with pytest.raises(ValueError, match="rao_blackwell=True needs the two-armed Bernoulli bandit"):
        A2CTrainer(tiny(rao_blackwell=True, env_kwargs={"n_actions": 2, "prior": (0.2, 0.8)}))


def test_bayes_value_baseline_enters_the_critic_and_rao_blackwell_the_returns():
    """The values of the loss are V*_γ(counts) + the critic's output; the training signal is the
    posterior-predictive mean (a multiple of 1/(n + 2)), and the sampled-reward run is untouched."""
    torch.set_num_threads(1)
    seen = {}
    import cogmodels.agents.a2c as a2c

    real = a2c.a2c_loss

    def spy(model, buffer, **kw):
        seen["signals"], seen["offset"] = buffer.signals.clone(), kw["value_offset"]
        return real(model, buffer, **kw)

    trainer = A2CTrainer(tiny(baseline="bayes_value", rao_blackwell=True, total_updates=1))
    try:
        a2c.a2c_loss = spy
        trainer.train(progress=False)
    finally:
        a2c.a2c_loss = real
    sig, off = seen["signals"], seen["offset"]
    assert sig.shape == off.shape == (10, 8)
    assert torch.all(sig[0] == 0.5)  # nothing observed yet: the prior mean
    assert off[0].tolist() == pytest.approx([trainer._tracker.optimal.value_] * 8, rel=1e-6)
    n = torch.arange(10.0)[:, None]  # pulls before trial t of the chosen arm are at most t
    assert torch.all((sig > 0) & (sig < 1)) and torch.all(sig >= 1 / (n + 2) - 1e-6)
    plain = A2CTrainer(tiny(total_updates=1))
    assert plain._tracker is None


def test_cpu_clock_budget_counts_cpu_seconds():
    t = A2CTrainer(tiny(schedule_unit="seconds", total_s=0.5, clock="cpu"))
    c0 = time.process_time()
    t.train(progress=False)
    assert 0.5 <= t.elapsed_s_ <= time.process_time() - c0 + 1e-6


@pytest.mark.slow
@pytest.mark.parametrize("options", [{"baseline": "bayes_value", "rao_blackwell": True}, {"hindsight": True}])
def test_bayes_options_learn_from_the_sampled_reward_alone(options):
    """The settings of test_short_training_beats_random_play, trained on the *sampled* reward with
    the Bayes baseline and the posterior-predictive returns, or with the hindsight pseudo-regrets:
    150 updates (4-9 s of CPU) reach 1.41 and 1.42 (plain sampled reward 3.19, random 3.33,
    latent signal 1.71; benchmarks/RESULTS.md)."""
    torch.set_num_threads(1)
    cfg = A2CConfig(
        n_lanes=64, n_trials=20, hidden_size=16, lr=1e-2, gamma=0.9, entropy_coef=0.01,
        total_updates=150, seed=0, **options,
    )
    trainer = A2CTrainer(cfg).train(progress=False)
    res = trainer.evaluate(2000, seed=9, greedy=False)
    assert res.mean < 0.6 * 20 / 6, (res, trainer.update_)


# -- a curriculum over horizons (issue 13 §3) ------------------------------------------------------


def test_curriculum_plays_shorter_sessions_first_and_resumes_exactly(tmp_path):
    """[[4, 0.25], [6, 0.5]] over 8 updates: 2 batches of 4 trials, 2 of 6, then 4 of the task's
    10; the Bayes values follow the horizon (V*_γ of empty counts: the value of 4, 6, 10 trials)."""
    cfg = tiny(curriculum=[[4, 0.25], [6, 0.5]], total_updates=8, baseline="bayes_value", rao_blackwell=True)
    straight = A2CTrainer(cfg).train(progress=False)
    h = straight.history_
    assert h["n_trials"].tolist() == [4, 4, 6, 6, 10, 10, 10, 10]
    assert np.diff(np.r_[0, h["env_steps"]]).tolist() == [8 * n for n in h["n_trials"]]
    for n in (4, 6, 10):
        assert straight._stages[n].tracker.optimal.n_trials == n
    assert straight._stages[4].tracker.optimal.value_ < straight._stages[10].tracker.optimal.value_
    assert straight.evaluate(50, seed=1).n_episodes == 50  # evaluated on the task's 10 trials
    first = A2CTrainer(cfg).train(3, progress=False, checkpoint_dir=tmp_path)
    resumed = A2CTrainer.resume(tmp_path).train(progress=False)
    assert resumed.config.curriculum == [[4, 0.25], [6, 0.5]] and first.update_ == 3
    assert resumed.history_["n_trials"].tolist() == h["n_trials"].tolist()
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    with pytest.raises(ValueError, match="rollout_len must divide the 4 steps of a session of 4 trials"):
        A2CTrainer(tiny(curriculum=[[4, 0.5]], rollout_len=5))  # at construction, not mid-run


@pytest.mark.parametrize("bad", [[[4, 0.5], [6, 0.5]], [[0, 0.5]], [[4, 1.5]], [[4.0, 0.5]], [[4]], []])
def test_bad_curriculum_raises(bad):
    with pytest.raises(ValueError, match="curriculum must be a list of \\[n_trials, until\\] pairs: .* got "
                                         + re.escape(repr(bad))):
        tiny(curriculum=bad)
    with pytest.raises(TypeError, match="curriculum must be a list of .* got 3"):
        tiny(curriculum=3)


def test_hindsight_expected_max_is_exact():
    """E[max(p_0, p_1) | counts]: 2/3 with no data; by hand for one success on arm 0 (Beta(2, 1):
    F = z²) and nothing on arm 1 (F = z): ∫ (1 - z³) dz = 3/4; against a Monte Carlo of the Beta
    posteriors for the counts of a whole session."""
    from cogmodels.agents.bandit_baselines import PosteriorTracker

    tracker = PosteriorTracker(n_trials=100)
    tracker.start(3)
    tracker.counts[1] = [[1, 0], [0, 0]]
    tracker.counts[2] = [[60, 10], [12, 18]]
    em = tracker.expected_max()
    assert em[0] == pytest.approx(2 / 3, abs=1e-12) and em[1] == pytest.approx(3 / 4, abs=1e-12)
    rng = np.random.default_rng(0)
    draws = np.maximum(rng.beta(61, 11, 400_000), rng.beta(13, 19, 400_000))
    assert abs(em[2] - draws.mean()) < Z * draws.std() / math.sqrt(draws.size)
    signal = tracker.hindsight_signal(np.array([[0, 0, 0], [1, 1, 1]]))
    np.testing.assert_allclose(signal[:, 0], 0.5 - 2 / 3)
    np.testing.assert_allclose(signal[:, 1], [2 / 3 - 3 / 4, 1 / 2 - 3 / 4])
    assert np.all(signal <= 0)
    with pytest.raises(ValueError, match="actions must be \\(trials, 3\\) arms in \\{0, 1\\}, got shape \\(3,\\)"):
        tracker.hindsight_signal(np.zeros(3))


def test_hindsight_option_trains_on_the_hindsight_signal_and_checks_its_settings():
    torch.set_num_threads(1)
    seen = {}
    import cogmodels.agents.a2c as a2c

    real = a2c.a2c_loss

    def spy(model, buffer, **kw):
        seen["signals"], seen["actions"] = buffer.signals.clone(), buffer.actions.clone()
        return real(model, buffer, **kw)

    trainer = A2CTrainer(tiny(hindsight=True, total_updates=1))
    try:
        a2c.a2c_loss = spy
        trainer.train(progress=False)
    finally:
        a2c.a2c_loss = real
    expected = trainer._tracker.hindsight_signal(seen["actions"].numpy())
    np.testing.assert_allclose(seen["signals"].numpy(), expected, rtol=1e-6)
    assert trainer._tracker.counts.sum() == 10 * 8  # the counts at the end of the sessions
    for kw, match in (({"reward_signal": "expected"}, "hindsight=True estimates the sampled reward"),
                      ({"rao_blackwell": True}, "both replace the sampled reward in the returns"),
                      ({"baseline": "bayes_value"}, "hindsight=True needs baseline='critic'"),
                      ({"rollout_len": 5}, "hindsight=True needs the whole session in one rollout")):
        with pytest.raises(ValueError, match=match):
            tiny(hindsight=True, **kw)
    with pytest.raises(TypeError, match="hindsight must be a bool, got str"):
        tiny(hindsight="yes")
    with pytest.raises(ValueError, match="hindsight=True needs the two-armed Bernoulli bandit"):
        A2CTrainer(tiny(hindsight=True, env_kwargs={"n_actions": 3}))


def test_a_subclass_saves_under_its_own_name_and_loads_only_as_itself(tmp_path):
    from cogmodels.agents.decoders.plastic_policy import PlasticReadoutPolicy

    torch.manual_seed(2)
    plastic = PlasticReadoutPolicy(n_actions=2, obs_dim=3, hidden_size=5, action_kind="gaussian",
                                   action_low=[-1.0, -1.0], action_high=[1.0, 1.0], squash="tanh")
    plastic.save(tmp_path / "p")
    assert json.loads((tmp_path / "p" / "config.json").read_text())["class"] == "PlasticReadoutPolicy"
    with pytest.raises(ValueError, match=r"must be a cogmodels RecurrentPolicy config \(written by "
                                         r"RecurrentPolicy.save\), got 'PlasticReadoutPolicy': "
                                         r"load it with PlasticReadoutPolicy.load"):
        RecurrentPolicy.load(tmp_path / "p")
    loaded = PlasticReadoutPolicy.load(tmp_path / "p")
    assert type(loaded) is PlasticReadoutPolicy and loaded.config == plastic.config
    # a folder saved before subclasses were named by their own name still loads as the subclass
    cfg = json.loads((tmp_path / "p" / "config.json").read_text())
    (tmp_path / "p" / "config.json").write_text(json.dumps({**cfg, "class": "RecurrentPolicy"}))
    assert type(PlasticReadoutPolicy.load(tmp_path / "p")) is PlasticReadoutPolicy
    (tmp_path / "p" / "config.json").write_text(json.dumps({**cfg, "class": "os.system"}))
    with pytest.raises(ValueError, match=r"got 'os.system'$"):  # no hint to load an unknown class
        PlasticReadoutPolicy.load(tmp_path / "p")
