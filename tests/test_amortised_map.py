"""The GRU meta-trained by DAgger on the error-map inference: its inputs, its state, and that it learns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cogmodels.agents.decoders.amortised_map import (
    CHUNK_BINS,
    EVALUATION_NAMES,
    GAP_NAME,
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


def test_an_evaluation_input_holds_the_teachers_cosine_for_every_hypothesis():
    """With the channel's window, the summary adds each evaluation's normalised D Zᵀ (by its sign):
    tr(Qᵀ Ê) is the cosine the teacher's likelihood reads for hypothesis g Q, for all 72."""
    rng = np.random.default_rng(0)
    teacher = ErrorMapInference(3, seed=0)
    summary = ChunkSummary(3, (teacher.interval_bins, teacher.latency_bins))
    n, window = len(SUMMARY_NAMES), slice(teacher.latency_bins, teacher.latency_bins + teacher.interval_bins)
    checked = 0
    for t in range(300):
        z = rng.normal(size=(3, 2))
        a = teacher.act(z)
        r = rng.choice([-1.0, 0.0, 1.0], size=3, p=[0.1, 0.8, 0.1])
        before = summary._sums[:, n:].copy()
        if summary.add(z, a, r) is not None or t < 30:
            teacher.observe(r)
            continue
        for lane in np.flatnonzero(r != 0):
            d, zs = teacher.window.a[window, lane].sum(0), teacher.window.z[window, lane].sum(0)
            u = teacher.maps @ zs
            cos = u @ d / (np.linalg.norm(u, axis=1) * np.linalg.norm(d))
            added = summary._sums[lane, n:] - before[lane]
            e = (added[:4] if r[lane] < 0 else added[4:]).reshape(2, 2)
            assert not (added[4:] if r[lane] < 0 else added[:4]).any()
            np.testing.assert_allclose(np.einsum("jab,ab->j", teacher.maps / 0.3, e), cos, atol=1e-9)
            checked += 1
        teacher.observe(r)
    assert checked > 30
    assert len(EVALUATION_NAMES) == 8 and ChunkSummary(3, (20, 6)).n_inputs == 19


def test_the_network_reads_no_latent_of_the_task():
    """What the network reads is named in SUMMARY_NAMES: the features, its own velocity, their
    products, the feedback's events and the session's start; none is a privileged latent."""
    words = {w for name in SUMMARY_NAMES + EVALUATION_NAMES + (GAP_NAME,)
             for w in name.replace("*", "_").split("_")}
    assert not words & set(PRIVILEGED), words & set(PRIVILEGED)
    assert AmortisedMapNet(8).gru.input_size == len(SUMMARY_NAMES)
    assert AmortisedMapNet(8, evaluations=True).gru.input_size == len(SUMMARY_NAMES) + len(EVALUATION_NAMES)


def test_the_posterior_head_reads_out_log_probabilities_and_saves_with_its_head():
    torch.manual_seed(0)
    net = AmortisedMapNet(8, "posterior")
    logp, logit, h = net(torch.randn(3, 5, len(SUMMARY_NAMES)))
    assert logp.shape == (3, 5, 72) and logit.shape == (3, 5) and h.shape == (1, 3, 8)
    np.testing.assert_allclose(logp.exp().sum(-1).detach().numpy(), 1.0, rtol=1e-5)
    for head, evaluations in (("map", False), ("posterior", False), ("posterior", True)):
        saved = AmortisedMapNet(8, head, evaluations=evaluations)
        again = AmortisedMapNet.from_state_dict(saved.state_dict())
        assert again.head == head and again.hidden_size == 8 and not again.training
        assert again.evaluations == evaluations
        assert all(torch.equal(a, b) for a, b in zip(saved.parameters(), again.parameters()))
    with pytest.raises(ValueError, match=r"head must be one of \('map', 'posterior'\), got 'mode'"):
        AmortisedMapNet(8, "mode")
    with pytest.raises(ValueError, match="n_maps must be even .* got 9"):
        AmortisedMapNet(8, "posterior", 9)


def test_the_posterior_heads_map_is_the_mean_near_the_mode_never_across_modes():
    """0.3 and 0.25 on the 0 and 10 degree rotations, the rest on a reflection and a rotation far
    away: the map read out is the mean of the mode's neighbourhood (4.5 degrees), not a blend."""
    dec = AmortisedMapDecoder(AmortisedMapNet(8, "posterior"), 1, seed=0)
    p = np.zeros((1, 72))
    p[0, [0, 1]] = 0.3, 0.25
    p[0, 36 + 18] = 0.29  # the reflection turned by 180 degrees
    p[0, 20] = 0.16
    m = polar_map(dec.posterior_map(p), 0.3)[0]
    angle = np.degrees(np.arctan2(m[1, 0], m[0, 0]))
    assert np.linalg.det(m) > 0 and angle == pytest.approx(4.54, abs=0.01)
    mode = AmortisedMapDecoder(dec.net, 1, readout="mode", seed=0).posterior_map(p)
    np.testing.assert_allclose(mode.reshape(2, 2), 0.3 * np.eye(2), atol=1e-12)
    with pytest.raises(ValueError, match=r"readout must be one of \('local_mean', 'mode', 'sample'\), got 'mean'"):
        AmortisedMapDecoder(dec.net, 1, readout="mean")


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
    assert rec["posterior"].shape == (2, steps, 72)
    np.testing.assert_allclose(rec["posterior"].sum(-1), 1.0, rtol=1e-5)
    mode = rec["posterior"].argmax(-1)  # the mode map is the posterior's mode
    np.testing.assert_allclose(ErrorMapInference(1).maps[mode].reshape(2, steps, 4), rec["map"], atol=1e-6)
    starts = np.flatnonzero(rec["x"][0, :, 10])
    assert starts.tolist() == [0, 40]  # each session's first chunk
    np.testing.assert_allclose(np.abs(np.linalg.det(rec["map"].reshape(2, steps, 2, 2))), 0.09, rtol=1e-5)
    again = record_sessions(cfg, 3, 2, first_s=10.0, next_s=5.0)
    assert all(np.array_equal(rec[k], again[k]) for k in rec)
    # the teacher's own arguments reach it: a likelihood flat in the cosine never moves the posterior
    flat = record_sessions(cfg, 3, 2, first_s=10.0, next_s=5.0, teacher={"sharpness": 0.0})
    np.testing.assert_allclose(flat["posterior"], 1.0 / 72, rtol=1e-5)
    assert flat["explore"].all() and not np.allclose(rec["posterior"], 1.0 / 72, rtol=1e-5)


def test_the_gap_input_is_the_log_days_since_the_last_session_at_its_first_chunk_only():
    rng = np.random.default_rng(1)
    z, a = rng.normal(size=(2 * CHUNK_BINS, 3, 2)), rng.normal(size=(2 * CHUNK_BINS, 3, 2))
    r = np.zeros(3)
    plain = ChunkSummary(3)
    for gap_days, want in ((None, [0.0, 0.0, 0.0]), (7, [np.log(8.0)] * 3), ([1, 0, 14], np.log([2.0, 1.0, 15.0]))):
        s = ChunkSummary(3, gap_input=True)
        s.new_session(gap_days)
        plain.new_session(gap_days)  # a summary without the input ignores the gap
        out = [o for t in range(2 * CHUNK_BINS) if (o := s.add(z[t], a[t], r)) is not None]
        ref = [o for t in range(2 * CHUNK_BINS) if (o := plain.add(z[t], a[t], r)) is not None]
        assert out[0].shape == (3, len(SUMMARY_NAMES) + 1) and ref[0].shape == (3, len(SUMMARY_NAMES))
        np.testing.assert_allclose(out[0][:, -1], want, rtol=1e-6)
        assert (out[1][:, -1] == 0).all()  # the session's later chunks read 0
        np.testing.assert_array_equal(out[0][:, :-1], ref[0])
    with pytest.raises(ValueError, match=r"gap_days must be an integer >= 0 or a sequence of 3 of them "
                                         r"\(one per lane\), got -1"):
        ChunkSummary(3, gap_input=True).new_session(-1)
    # saved weights say which inputs the network reads
    for evaluations in (False, True):
        for gap_input in (False, True):
            net = AmortisedMapNet(8, "posterior", evaluations=evaluations, gap_input=gap_input)
            back = AmortisedMapNet.from_state_dict(net.state_dict())
            assert (back.evaluations, back.gap_input) == (evaluations, gap_input)


def test_recorded_gaps_are_drawn_per_subject_read_by_the_network_and_widen_the_teacher():
    cfg = easy_config(**CARRIED)
    kwargs = {"first_s": 10.0, "next_s": 5.0}
    rec = record_sessions(cfg, 3, 4, gap=(1, 7), gap_input=True, **kwargs)
    start = 40  # the second session's first chunk
    gaps = np.expm1(rec["x"][:, start, -1])
    np.testing.assert_allclose(np.sort(np.unique(np.round(gaps, 4))), [1.0, 7.0])
    assert (rec["x"][:, :start, -1] == 0).all() and (rec["x"][:, start + 1:, -1] == 0).all()
    # the same draw without the input or the kernel: the teacher then carries its posterior as it was
    plain = record_sessions(cfg, 3, 4, gap=(1, 7), **kwargs)
    assert plain["x"].shape[-1] == rec["x"].shape[-1] - 1
    np.testing.assert_array_equal(plain["posterior"][:, :start], rec["posterior"][:, :start])

    def entropy(p):
        return -(p * np.log(np.maximum(p, 1e-12))).sum(-1)

    week = np.isclose(gaps, 7.0)
    assert week.any() and not week.all()
    # before the first evaluation of the second session: the kernel has flattened a week's posterior
    assert (entropy(rec["posterior"][week, start]) > entropy(plain["posterior"][week, start]) + 1e-3).all()
    with pytest.raises(ValueError, match=r"gap must be an int >= 1"):
        record_sessions(cfg, 3, 2, gap=(), **kwargs)


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


def test_recording_in_two_processes_trains_the_same_network():
    cfg = easy_config(**CARRIED)
    kwargs = {"rounds": ((2, 2), (1, 1)), "n_lanes": 4, "first_s": 10.0, "next_s": 5.0, "hidden_size": 8,
              "batch": 4, "head": "posterior", "evaluations": True, "progress": False}
    one, h1 = distil(cfg, jobs=1, **kwargs)
    two, h2 = distil(cfg, jobs=2, **kwargs)
    assert all(torch.equal(a, b) for a, b in zip(one.parameters(), two.parameters()))
    assert h1["loss_last"].tolist() == h2["loss_last"].tolist() and (h2["record_cpu_s"] > 0).all()
    assert one.evaluations and one.gru.input_size == 19
    trials = amortised_map_sessions(two, cfg, [0] * 2, 5.0, seed=1, then=[([1] * 2, 5.0)])
    assert sorted(trials["session"].unique()) == [0, 1]


def test_a_sharded_fit_sums_the_halves_gradients_in_one_process_or_two():
    """``fit_shards=2``: each step's gradient is the sum of its two halves' (each half's mean loss
    weighted by its share), so the loss is the unsharded fit's up to float rounding, and the
    weights are the same bits whether the halves run one after the other or in two processes."""
    cfg = easy_config(**CARRIED)
    kwargs = {"rounds": ((2, 3), (1, 2)), "n_lanes": 4, "first_s": 10.0, "next_s": 5.0, "hidden_size": 8,
              "batch": 4, "head": "posterior", "evaluations": True, "progress": False}
    plain, h0 = distil(cfg, **kwargs)
    one, h1 = distil(cfg, fit_shards=2, **kwargs)
    two, h2 = distil(cfg, fit_shards=2, jobs=2, **kwargs)
    assert all(torch.equal(a, b) for a, b in zip(one.parameters(), two.parameters()))
    assert h1["loss_last"].tolist() == h2["loss_last"].tolist()
    np.testing.assert_allclose(h1["loss_last"], h0["loss_last"], rtol=1e-6)
    for a, b in zip(one.parameters(), plain.parameters()):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), atol=1e-5)
    assert not all(torch.equal(a, b) for a, b in zip(one.parameters(), plain.parameters()))
    assert (h2["fit_cpu_s"] > 0).all()
    with pytest.raises(ValueError, match="fit_shards must be"):
        distil(cfg, fit_shards=0, **kwargs)


def test_distil_refuses_bad_settings():
    with pytest.raises(ValueError, match="config.n_components must be 2, got 4"):
        distil(MetaDecoderConfig(), rounds=((1, 1),), progress=False)
    with pytest.raises(ValueError, match=r"rounds must hold at least one \(batches, epochs\) pair"):
        distil(rounds=(), progress=False)
    with pytest.raises(ValueError, match="jobs must be"):
        distil(easy_config(**CARRIED), rounds=((1, 1),), jobs=0, progress=False)
    with pytest.raises(ValueError, match="rounds epochs"):
        distil(easy_config(**CARRIED), rounds=((1, 0),), progress=False)
