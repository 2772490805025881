"""Recurrent policies and the batched A2C meta-RL trainer."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cogmodels.agents.a2c import A2CConfig, A2CTrainer
from cogmodels.agents.bandit_baselines import RandomPolicy, evaluate
from cogmodels.agents.rnn import RecurrentPolicy

Z = 4.0


def tiny(**kw) -> A2CConfig:
    base = dict(num_envs=8, n_trials=10, hidden_size=8, total_updates=20, seed=3, lr=3e-3)
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
    # 20-trial sessions: random play loses 20/6 = 3.33 per session; the Bayes-optimal policy 0.60
    torch.set_num_threads(1)
    cfg = A2CConfig(
        num_envs=64, n_trials=20, hidden_size=16, lr=1e-2, gamma=0.9, entropy_coef=0.01,
        reward_signal="expected", total_updates=150, seed=0,
    )
    trainer = A2CTrainer(cfg).train(progress=False, time_budget_s=10)
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
    with pytest.raises(ValueError, match="schedule_unit='seconds' needs total_seconds"):
        A2CConfig(schedule_unit="seconds")
    with pytest.raises(ValueError, match=r"schedule_unit must be one of \['updates', 'seconds'\], got 'epochs'"):
        A2CConfig(schedule_unit="epochs")
    with pytest.raises(ValueError, match="squash must be one of"):
        A2CConfig(squash="sigmoid")
    with pytest.raises(ValueError, match="gamma"):
        A2CConfig(gamma=1.5)
    with pytest.raises(ValueError, match="num_envs"):
        A2CConfig(num_envs=0)
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
    cfg = A2CConfig(env_id=env_id, env_kwargs=env_kwargs, n_trials=12, num_envs=4, hidden_size=8,
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
