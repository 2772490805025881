"""A2C fine-tuning of the amortised GRU: the policy it scores, the rollout's alignment, and the update."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cogmodels.agents.a2c import a2c_loss
from cogmodels.agents.decoders.amortised_a2c import MapActorCritic, finetune, rollout_buffer
from cogmodels.agents.decoders.amortised_map import (
    CHUNK_BINS,
    AmortisedMapDecoder,
    AmortisedMapNet,
    amortised_map_sessions,
    record_sessions,
)
from cogmodels.agents.decoders.meta_rnn import MetaDecoderConfig
from cogmodels.agents.rollout_buffer import RolloutBuffer
from tests.test_amortised_map import CARRIED
from tests.test_meta_decoder import easy_config


def _net(seed: int = 0, hidden: int = 8) -> AmortisedMapNet:
    torch.manual_seed(seed)
    return AmortisedMapNet(hidden, "posterior", evaluations=True)


def test_a_sampled_readout_draws_hypotheses_as_often_as_the_posterior_says():
    dec = AmortisedMapDecoder(_net(), 4000, readout="sample", seed=0)
    p = np.zeros((4000, 72))
    p[:, 3], p[:, 40] = 0.7, 0.3
    m = dec.posterior_map(p)
    assert set(np.unique(dec.choice_)) == {3, 40}
    assert abs((dec.choice_ == 3).mean() - 0.7) < 4 * np.sqrt(0.21 / 4000)
    np.testing.assert_allclose(m.reshape(-1, 2, 2), dec._grid[dec.choice_])
    with pytest.raises(ValueError, match="readout='sample' needs a 'posterior' head, got head='map'"):
        AmortisedMapDecoder(AmortisedMapNet(8), 1, readout="sample")


def test_the_policy_scores_drawn_hypotheses_and_nothing_while_exploring():
    model = MapActorCritic(_net())
    x = torch.randn(5, 3, 19)
    (logp, logit), values, h = model(x)
    assert logp.shape == (5, 3, 72) and logit.shape == (5, 3) and values.shape == (5, 3)
    assert torch.equal(values, torch.zeros(5, 3))  # the critic starts at 0
    ref, _, _ = model.net(x.transpose(0, 1))
    torch.testing.assert_close(logp, ref.transpose(0, 1))  # the head, read time-major
    actions = torch.tensor([[[4, 0, 0], [-1, 1, 0], [0, 0, 0]]] * 5)  # (choice, explored, decided)
    lp, ent = model.log_prob_entropy((logp, logit), actions)
    torch.testing.assert_close(lp[:, 0], logp[:, 0, 4])
    assert torch.equal(lp[:, 1], torch.zeros(5)) and torch.equal(ent[:, 1], torch.zeros(5))
    torch.testing.assert_close(ent[:, 2], -(logp[:, 2].exp() * logp[:, 2]).sum(-1))
    values.sum().backward()  # the critic reads the state detached: no gradient reaches the GRU
    assert model.value.weight.grad is not None and all(p.grad is None for p in model.net.parameters())
    with pytest.raises(ValueError, match="net must have a 'posterior' head, got head='map'"):
        MapActorCritic(AmortisedMapNet(8))


def test_the_policy_gradient_makes_a_rewarded_hypothesis_more_likely():
    """One A2C step on a rollout where hypothesis 7 is rewarded (+1) and hypothesis 30 is not
    (0) raises log pi(7) and lowers log pi(30) at every step."""
    model = MapActorCritic(_net(1))
    x = torch.randn(6, 8, 19)
    choice = torch.tensor([[7, 30] * 4] * 6)
    actions = torch.stack([choice, torch.zeros_like(choice), torch.zeros_like(choice)], -1)
    signals = (choice == 7).float()
    buffer = RolloutBuffer(inputs=x, actions=actions, signals=signals, h0=None, v_boot=torch.zeros(8))
    with torch.no_grad():
        before = model(x)[0][0]
    loss, parts = a2c_loss(model, buffer, gamma=0.0, gae_lambda=1.0, value_coef=0.5, entropy_coef=0.0,
                           normalize_advantages=True)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    loss.backward()
    opt.step()
    with torch.no_grad():
        after = model(x)[0][0]
    assert ((after - before)[..., 7] > 0).all() and ((after - before)[..., 30] < 0).all()


def test_a_rollout_pairs_each_draw_with_the_next_chunks_reward():
    rec = {"x": np.arange(2 * 4 * 19, dtype=np.float32).reshape(2, 4, 19),
           "posterior": np.full((2, 4, 72), 1 / 72, dtype=np.float32),
           "explore": np.array([[1, 1, 0, 0], [1, 0, 0, 0]], dtype=np.float32),
           "choice": np.array([[5, 6, 7, 8], [9, 10, 11, 12]], dtype=np.float32),
           "explored": np.array([[1, 1, 0, 0], [1, 0, 0, 1]], dtype=np.float32),
           "reward": np.array([[0, 1, -1, 2], [3, 4, 5, 6]], dtype=np.float32)}
    rec["decided"] = np.array([[1, 0, 1, 0], [1, 0, 1, 1]], dtype=np.float32)
    buffer, targets = rollout_buffer(rec)
    assert buffer.inputs.shape == (3, 2, 19) and torch.equal(buffer.inputs[:, 1], torch.from_numpy(rec["x"][1, :3]))
    assert buffer.actions[..., 0].T.tolist() == [[-1, 6, 7], [9, 10, -1]]  # -1: the next chunk explored
    assert buffer.actions[..., 1].T.tolist() == [[1, 0, 0], [0, 0, 1]]
    assert not buffer.actions[..., 2].any()  # decisions not drawn: not scored
    assert buffer.signals.T.tolist() == [[1, -1, 2], [4, 5, 6]]  # the next chunk's reward
    assert targets["posterior"].shape == (3, 2, 72) and targets["explore"].T.tolist() == [[1, 1, 0], [1, 0, 0]]
    drawn, _ = rollout_buffer(rec, learn_explore=True)
    assert drawn.actions[..., 2].T.tolist() == [[0, 1, 0], [0, 1, 1]]  # the next chunk's decision
    assert torch.equal(drawn.actions[..., :2], buffer.actions[..., :2])


def test_recording_a_sampling_student_keeps_its_draws_and_the_chunks_reward():
    cfg = easy_config(**CARRIED)
    rec = record_sessions(cfg, 3, 2, first_s=20.0, next_s=5.0, student=_net(), readout="sample")
    steps = rec["x"].shape[1]
    assert rec["choice"].shape == rec["explored"].shape == rec["reward"].shape == (2, steps)
    assert ((rec["choice"] >= 0) & (rec["choice"] < 72)).all() and len(np.unique(rec["choice"])) > 10
    assert set(np.unique(rec["explored"])) <= {0.0, 1.0}
    plain = record_sessions(cfg, 3, 2, first_s=20.0, next_s=5.0)
    assert "choice" not in plain  # the teacher driving: no draws


def test_drawn_decisions_explore_as_often_as_the_logit_says_and_only_at_the_interval():
    dec = AmortisedMapDecoder(_net(), 4000, sample_explore=True, interval_bins=4, seed=0)
    z = np.zeros((4000, 2))
    dec.act(z)
    assert dec.decided_ and dec.exploring_.all()  # before the network has stepped: explore
    dec._explore_logit = np.full(4000, np.log(0.3 / 0.7))
    for t in range(1, 5):
        dec.act(z)
        assert dec.decided_ == (t == 4)
    assert abs(dec.exploring_.mean() - 0.3) < 4 * np.sqrt(0.21 / 4000)
    sign = AmortisedMapDecoder(_net(), 4000, interval_bins=4, seed=0)
    sign._explore_logit = np.full(4000, -0.1)
    sign.act(z)
    assert sign.decided_ and not sign.exploring_.any()  # kept as in play: logit > 0


def test_a_drawn_decision_is_scored_and_a_rewarded_one_made_more_likely():
    """With decisions in the actions the log-probability gains ``log sigmoid(+-logit)`` and the
    entropy the Bernoulli's; one A2C step where exploring was rewarded and exploiting was not
    raises the exploration logit, and where exploiting was rewarded lowers it."""
    model = MapActorCritic(_net(2))
    x = torch.randn(6, 8, 19)
    explored = torch.tensor([[1, 0] * 4] * 6)
    choice = torch.where(explored > 0, -1, 5)
    actions = torch.stack([choice, explored, torch.ones_like(choice)], -1)
    (logp, logit), _, _ = model(x)
    lp, ent = model.log_prob_entropy((logp, logit), actions)
    s = torch.sigmoid(logit)
    torch.testing.assert_close(lp[:, 0], torch.log(s[:, 0]))
    torch.testing.assert_close(lp[:, 1], logp[:, 1, 5] + torch.log(1 - s[:, 1]))
    torch.testing.assert_close(ent[:, 0], -(s[:, 0] * torch.log(s[:, 0]) + (1 - s[:, 0]) * torch.log(1 - s[:, 0])))
    for rewarded, sign in ((explored, 1.0), (1 - explored, -1.0)):
        trained = MapActorCritic(_net(2))
        buffer = RolloutBuffer(inputs=x, actions=actions, signals=rewarded.float(), h0=None,
                               v_boot=torch.zeros(8))
        loss, _ = a2c_loss(trained, buffer, gamma=0.0, gae_lambda=1.0, value_coef=0.5,
                           entropy_coef=0.0, normalize_advantages=True)
        loss.backward()
        torch.optim.SGD(trained.parameters(), lr=0.5).step()
        with torch.no_grad():
            after = trained(x)[0][1]
        assert (sign * (after - logit.detach()) > 0).all()


def test_recording_drawn_decisions_marks_them_every_evaluation_interval():
    cfg = easy_config(**CARRIED)
    rec = record_sessions(cfg, 3, 2, first_s=20.0, next_s=5.0, student=_net(), readout="sample",
                          sample_explore=True)
    first = int(20.0 / 0.05) // 5  # chunks in the first session; a decision every 20 bins = 4 chunks
    expected = np.r_[np.arange(first) % 4 == 0, np.arange(rec["x"].shape[1] - first) % 4 == 0]
    assert (rec["decided"] == expected).all()
    assert ((rec["explored"][:, 1:] != rec["explored"][:, :-1]) <= expected[1:]).all()  # changes only at decisions


def test_finetuning_is_seeded_and_the_same_in_two_processes():
    """Three updates of 2 × 2 easy subject-days: the weights move, the history has every part,
    the same seed gives the same bytes whatever ``jobs``, and the original is not changed."""
    cfg = easy_config(**CARRIED)
    net = _net()
    start = [p.detach().clone() for p in net.parameters()]
    kwargs = {"updates": 3, "n_lanes": 2, "batches": 2, "first_s": 20.0, "next_s": 5.0, "progress": False}
    one, h1 = finetune(net, cfg, jobs=1, **kwargs)
    two, h2 = finetune(net, cfg, jobs=2, **kwargs)
    drawn, h3 = finetune(net, cfg, jobs=1, learn_explore=True, **kwargs)
    assert not all(torch.equal(a, b) for a, b in zip(one.parameters(), drawn.parameters()))
    assert 0.0 < h3["explore_share"].min() <= h3["explore_share"].max() <= 1.0
    assert all(torch.equal(a, b) for a, b in zip(one.parameters(), two.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(start, net.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(start, one.parameters()))
    assert h1.drop(columns=["play_cpu_s", "fit_cpu_s", "wall_s"]).equals(h2.drop(columns=["play_cpu_s", "fit_cpu_s", "wall_s"]))
    assert set(h1.columns) >= {"update", "reward_per_chunk", "policy_loss", "value_loss", "entropy", "kl", "explore_bce"}
    assert h1["update"].tolist() == [0, 1, 2] and (h1["kl"] >= 0).all()
    trials = amortised_map_sessions(one, cfg, [0, 0], 5.0, seed=1)
    assert len(trials) > 0


def test_finetune_refuses_bad_settings():
    with pytest.raises(ValueError, match="config must have n_components=2 and inputs='error', got n_components=4"):
        finetune(_net(), MetaDecoderConfig(), progress=False)
    with pytest.raises(ValueError, match="net must have a 'posterior' head"):
        finetune(AmortisedMapNet(8), easy_config(**CARRIED), progress=False)
    with pytest.raises(ValueError, match="updates must be"):
        finetune(_net(), easy_config(**CARRIED), updates=0, progress=False)
    with pytest.raises(ValueError, match="kick must be"):
        finetune(_net(), easy_config(**CARRIED), kick=-1.0, progress=False)
    with pytest.raises(ValueError, match="kick_explore must be"):
        finetune(_net(), easy_config(**CARRIED), kick_explore=-0.5, progress=False)


def test_a2c_plays_the_gap_it_is_given_to_a_network_that_reads_it(monkeypatch):
    """``finetune(gap=...)`` records sequences whose second session follows by the drawn gap."""
    from cogmodels.agents.decoders import amortised_a2c

    seen = []
    record = amortised_a2c._record_batch

    def spy(*args, **kwargs):
        out = record(*args, **kwargs)
        seen.append((kwargs["gap"], out[0]["x"]))
        return out

    monkeypatch.setattr(amortised_a2c, "_record_batch", spy)
    torch.manual_seed(0)
    net = AmortisedMapNet(8, "posterior", evaluations=True, gap_input=True)
    finetune(net, easy_config(**CARRIED), updates=1, n_lanes=2, batches=1, first_s=5.0, next_s=5.0,
             gap=(7,), progress=False)
    (gap, x), = seen
    assert gap == (7,) and x.shape[-1] == net.input_size
    start = int(round(5.0 / 0.05)) // CHUNK_BINS  # the second session's first chunk
    np.testing.assert_allclose(x[:, start, -1], np.log(8.0), rtol=1e-6)
    assert (np.delete(x[..., -1], start, axis=1) == 0).all()
