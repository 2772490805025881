"""The GRU meta-trained by DAgger on the error-map inference: its inputs, its state, and that it learns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cogmodels.agents.decoders.amortised_map import (
    CHUNK_BINS,
    SUMMARY_NAMES,
    AmortisedMapDecoder,
    AmortisedMapNet,
    ChunkSummary,
    amortised_map_sessions,
    distil,
    polar_map,
    record_sessions,
)
from cogmodels.agents.decoders.map_inference import ErrorMapInference
from cogmodels.agents.decoders.meta_rnn import PRIVILEGED, MetaDecoderConfig
from tests.test_meta_decoder import EASY, easy_config

#: the easy test bed with the realistic channel's rates, one evaluation a second
CARRIED = {"n_components": 2, "calibration_s": 1.0, "error_signal": [0.75, 0.03],
           "env_kwargs": {**EASY, "error_interval": 1.0}}


def test_a_chunk_summary_is_the_chunks_means_products_and_event_counts():
    rng = np.random.default_rng(0)
    s = ChunkSummary(3)
    z, a = rng.normal(size=(CHUNK_BINS, 3, 2)), rng.normal(size=(CHUNK_BINS, 3, 2))
    r = np.array([[0, -1, 0], [1, 0, 2], [0, 0, 0], [-1, 1, 0], [0, 0, 0]], dtype=float)
    outs = [s.add(z[t], a[t], r[t]) for t in range(CHUNK_BINS)]
    assert all(o is None for o in outs[:-1]) and outs[-1].dtype == np.float32
    out = outs[-1]
    assert out.shape == (3, len(SUMMARY_NAMES)) == (3, 11)
    np.testing.assert_allclose(out[:, 0:2], z.mean(0), rtol=1e-6)
    np.testing.assert_allclose(out[:, 2:4], a.mean(0), rtol=1e-6)
    np.testing.assert_allclose(out[:, 4:8], np.einsum("tli,ltj->lij", a, z.transpose(1, 0, 2)).reshape(3, 4)
                               / CHUNK_BINS, rtol=1e-5)
    assert out[:, 8].tolist() == [1, 1, 0] and out[:, 9].tolist() == [1, 1, 1]
    assert out[:, 10].tolist() == [1, 1, 1]  # the session's first chunk
    nxt = [s.add(z[t], a[t], r[t]) for t in range(CHUNK_BINS)][-1]
    assert nxt[:, 10].tolist() == [0, 0, 0] and np.array_equal(nxt[:, :10], out[:, :10])
    s.new_session()
    assert [s.add(z[t], a[t], r[t]) for t in range(CHUNK_BINS)][-1][:, 10].tolist() == [1, 1, 1]


def test_the_network_reads_no_latent_of_the_task():
    """What the network reads is named in SUMMARY_NAMES: the features, its own velocity, their
    products, the feedback's events and the session's start; none is a privileged latent."""
    words = {w for name in SUMMARY_NAMES for w in name.replace("*", "_").split("_")}
    assert not words & set(PRIVILEGED), words & set(PRIVILEGED)
    assert AmortisedMapNet(8).gru.input_size == len(SUMMARY_NAMES)


def test_polar_map_is_the_nearest_scaled_rotation_or_reflection():
    theta = 0.4
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    m = polar_map((2.0 * rot @ np.diag([1.0, 0.5])).reshape(1, 4), 0.3)[0]
    np.testing.assert_allclose(m, 0.3 * rot, atol=1e-12)
    refl = polar_map((rot @ np.diag([1.0, -1.0])).reshape(1, 4), 0.3)[0]
    assert np.linalg.det(refl) == pytest.approx(-0.09)


def test_the_decoder_keeps_its_state_into_the_next_session_and_forgets_it_on_reset():
    torch.manual_seed(0)
    dec = AmortisedMapDecoder(AmortisedMapNet(8), 2, seed=0)
    rng = np.random.default_rng(1)
    for _ in range(3 * CHUNK_BINS):
        dec.act(rng.normal(size=(2, 2)))
        dec.observe(rng.choice([-1.0, 0.0, 1.0], size=2))
    h = dec.h.clone()
    dec.new_session()
    assert torch.equal(dec.h, h)
    dec.reset()
    assert dec.h is None and dec.exploring_.all()
    with pytest.raises(ValueError, match=r"z must have shape \(2, 2\), got \(3, 2\)"):
        dec.act(np.zeros((3, 2)))


def test_a_shadowing_teacher_judges_the_velocity_actually_sent():
    """``ErrorMapInference.sent`` replaces the remembered velocity: fed the same evaluations, a
    teacher that shadows another driver updates as a teacher that drove those velocities."""
    rng = np.random.default_rng(2)
    a = ErrorMapInference(4, seed=0)
    b = ErrorMapInference(4, seed=1)
    for _ in range(200):
        z = rng.normal(size=(4, 2))
        sent = a.act(z)
        b.act(z)
        b.sent(sent)
        fb = rng.choice([-1.0, 0.0, 1.0], size=4, p=[0.1, 0.8, 0.1])
        a.observe(fb)
        b.observe(fb)
    np.testing.assert_array_equal(a.log_posterior, b.log_posterior)
    with pytest.raises(ValueError, match="action must have shape"):
        b.sent(np.zeros(2))


def test_recorded_sessions_hold_the_teachers_decision_after_every_chunk():
    cfg = easy_config(**CARRIED)
    rec = record_sessions(cfg, 3, 2, first_s=10.0, next_s=5.0)
    steps = int(round(10.0 / 0.05)) // CHUNK_BINS + int(round(5.0 / 0.05)) // CHUNK_BINS
    assert rec["x"].shape == (2, steps, 11) and rec["map"].shape == (2, steps, 4)
    assert rec["explore"].shape == (2, steps) and set(np.unique(rec["explore"])) <= {0.0, 1.0}
    starts = np.flatnonzero(rec["x"][0, :, 10])
    assert starts.tolist() == [0, 40]  # each session's first chunk
    np.testing.assert_allclose(np.abs(np.linalg.det(rec["map"].reshape(2, steps, 2, 2))), 0.09, rtol=1e-5)
    again = record_sessions(cfg, 3, 2, first_s=10.0, next_s=5.0)
    assert all(np.array_equal(rec[k], again[k]) for k in rec)


def test_dagger_distils_the_map_inference_into_the_gru():
    """Two DAgger rounds on the easy test bed (about 11 CPU s; 40 sequences): the imitation loss
    falls by more than half, and on subject-days it never saw the trained GRU's maps agree with
    the teacher's on the carried-over day (cosine 0.22-0.28 over seeds 0-1 and widths 32-64)
    where an untrained one's do not (-0.01). Small data, a weak student: the real figures are
    the benchmark's (bench_meta_decoder.py --amortised)."""
    torch.set_num_threads(1)
    cfg = easy_config(**CARRIED)
    net, history = distil(cfg, rounds=((4, 40), (1, 10)), n_lanes=8, first_s=60.0, next_s=20.0,
                          hidden_size=32, batch=8, lr=5e-3, progress=False)
    assert history["round"].tolist() == [0, 1] and history["sequences"].tolist() == [32, 40]
    assert history["epochs"].tolist() == [40, 10] and (history["record_cpu_s"] > 0).all()
    assert history["loss_last"].iloc[0] < 0.4 * history["loss_first"].iloc[0], history
    held = record_sessions(cfg, 999, 8, first_s=60.0, next_s=20.0)
    x = torch.from_numpy(held["x"])

    def agreement(model: AmortisedMapNet) -> float:
        with torch.no_grad():
            m = model(x)[0].numpy()
        m = polar_map(m, 0.3).reshape(held["map"].shape)
        return float(((m * held["map"]).sum(-1) / 0.18)[:, -80:].mean())  # the next day

    torch.manual_seed(0)
    untrained = agreement(AmortisedMapNet(32))
    assert agreement(net) > 0.15 and agreement(net) > untrained + 0.15, (agreement(net), untrained)
    trials = amortised_map_sessions(net, cfg, [0] * 8, 20.0, seed=5, then=[([1] * 8, 10.0)])
    assert sorted(trials["session"].unique()) == [0, 1] and trials["time"].max() <= 20.0


def test_distil_refuses_bad_settings():
    with pytest.raises(ValueError, match="config.n_components must be 2, got 4"):
        distil(MetaDecoderConfig(), rounds=((1, 1),), progress=False)
    with pytest.raises(ValueError, match=r"rounds must hold at least one \(batches, epochs\) pair"):
        distil(rounds=(), progress=False)
    with pytest.raises(ValueError, match="rounds epochs"):
        distil(easy_config(**CARRIED), rounds=((1, 0),), progress=False)
