"""A2C with a GRU on the native vector working-memory tasks: learning happens, and is seeded."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from cogmodels.agents.a2c import A2CTrainer
from cogmodels.envs.delayed_match import DelayedMatchToSampleVector

DMS_ID = "cogmodels/DelayedMatchToSample-v0"
#: an easy delayed match-to-sample: two stimuli, no delay (the sample is held for one step)
EASY = {"n_stimuli": 2, "delay_steps": 0}


def _trainer(**overrides) -> A2CTrainer:
    kw = {"env_id": DMS_ID, "env_kwargs": EASY, "n_trials": 20, "n_lanes": 64,
          "hidden_size": 32, "gamma": 0.0, "lr": 3e-3, "entropy_coef": 0.01,
          "total_updates": 300, "seed": 0, **overrides}
    return A2CTrainer(**kw)


def _accuracy(table: pd.DataFrame) -> float:
    return float((table["choice"] == table["correct_action"]).fillna(False).mean())


def test_trainer_uses_the_native_vector_env():
    trainer = _trainer(n_lanes=4)
    assert isinstance(trainer.env.unwrapped, DelayedMatchToSampleVector)
    assert trainer.steps_per_session == 20 * 2


def test_training_on_the_vector_env_is_deterministic():
    torch.set_num_threads(1)
    a = _trainer(n_lanes=8, total_updates=4).train(progress=False)
    b = _trainer(n_lanes=8, total_updates=4).train(progress=False)
    cols = [c for c in a.history_.columns if c != "elapsed_s"]
    pd.testing.assert_frame_equal(a.history_[cols], b.history_[cols])
    for p, q in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(p, q)
    c = _trainer(n_lanes=8, total_updates=4, seed=1).train(progress=False)
    assert not np.allclose(a.history_["return"], c.history_["return"])


def test_a2c_learns_easy_delayed_match_to_sample_above_chance():
    torch.set_num_threads(1)
    trainer = _trainer().train(progress=False)  # 300 updates, not a clock budget
    table = trainer.play(100, seed=2024, greedy=True)  # held-out sessions
    assert len(table) == 100 * 20
    assert _accuracy(table) > 0.75, (trainer.update_, _accuracy(table))  # chance: 0.5
