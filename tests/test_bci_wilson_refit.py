"""Wilson et al.'s simulated decoder and refit: OLS with intercept, renormalised per column."""

from __future__ import annotations

import numpy as np
import pytest

from cogmodels.agents.decoders.base import load_decoder
from cogmodels.agents.decoders.wilson_study import WilsonLinearDecoder, run_wilson_protocol


def _block(rng: np.random.Generator, t: int = 400, lanes: int = 2, n: int = 6
           ) -> tuple[np.ndarray, np.ndarray]:
    counts = rng.normal(size=(t, lanes, n))
    B = rng.normal(size=(lanes, n, 2))
    labels = np.einsum("tln,lnk->tlk", counts, B) + np.array([0.3, -0.2]) \
        + 0.5 * rng.normal(size=(t, lanes, 2))
    return counts, labels


def _ols(counts: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Plain OLS with intercept (last row), one lane: ``lstsq([y, 1], x)``."""
    z = np.hstack([counts, np.ones((len(counts), 1))])
    return np.linalg.lstsq(z, labels, rcond=None)[0]


def test_fit_is_ols_with_intercept_and_selection_weights_pick_bins():
    rng = np.random.default_rng(0)
    counts, labels = _block(rng)
    dec = WilsonLinearDecoder().fit(counts, labels)
    for lane in range(2):
        np.testing.assert_allclose(dec.W_[lane], _ols(counts[:, lane], labels[:, lane]),
                                   rtol=1e-8, atol=1e-10)
    keep = rng.random((400, 2)) < 0.4
    sel = WilsonLinearDecoder().fit(counts, labels, keep.astype(float))
    for lane in range(2):
        k = keep[:, lane]
        np.testing.assert_allclose(sel.W_[lane], _ols(counts[k, lane], labels[k, lane]),
                                   rtol=1e-8, atol=1e-10)
    assert dec.smoothing == pytest.approx(0.94)  # their alpha per 20 ms step
    assert WilsonLinearDecoder(dt=0.04).smoothing == pytest.approx(0.94**2)


def test_refit_renormalises_each_column_to_the_previous_decoder():
    rng = np.random.default_rng(1)
    counts, labels = _block(rng)
    prev = WilsonLinearDecoder().fit(counts, labels)
    prev.W_ = prev.W_ * np.array([2.0, 0.5])  # columns of unequal norms
    counts2, labels2 = _block(rng)
    fresh = WilsonLinearDecoder().fit(counts2, labels2)
    new = prev.refit(counts2, labels2)
    n = counts.shape[2]
    # renormalizeDecoder: D_new /= norm(D_new[1:], axis=0) / norm(D_prev[1:], axis=0)
    ratio = np.linalg.norm(prev.W_[:, :n], axis=1) / np.linalg.norm(fresh.W_[:, :n], axis=1)
    np.testing.assert_allclose(new.W_, fresh.W_ * ratio[:, None, :], rtol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(new.W_[:, :n], axis=1),
                               np.linalg.norm(prev.W_[:, :n], axis=1), rtol=1e-12)
    # the intercept is scaled with its column, not part of the norm
    np.testing.assert_allclose(new.W_[:, n], fresh.W_[:, n] * ratio, rtol=1e-12)
    np.testing.assert_array_equal(prev.refit(counts2, labels2, renormalize=False).W_, fresh.W_)
    # a lane with no selected bin keeps the previous weights (their RTI keeps cfg['D'])
    w = np.ones((400, 2))
    w[:, 1] = 0.0
    kept = prev.refit(counts2, labels2, w)
    np.testing.assert_array_equal(kept.W_[1], prev.W_[1])
    np.testing.assert_allclose(kept.W_[0], new.W_[0], rtol=1e-12)


def test_step_is_the_smoothed_readout_and_save_load_round_trips(tmp_path):
    rng = np.random.default_rng(2)
    counts, labels = _block(rng)
    dec = WilsonLinearDecoder().fit(counts, labels)
    y = counts[0]
    v1 = dec.step(y)
    raw = np.einsum("lnk,ln->lk", dec.W_[:, :-1], y) + dec.W_[:, -1]
    np.testing.assert_allclose(v1, (1 - 0.94) * raw, rtol=1e-12)
    np.testing.assert_allclose(dec.step(y), 0.94 * v1 + 0.06 * raw, rtol=1e-12)
    dec.save(tmp_path / "d")
    back = load_decoder(tmp_path / "d")
    assert isinstance(back, WilsonLinearDecoder)
    np.testing.assert_array_equal(back.W_, dec.W_)


def test_bad_arguments_name_the_argument():
    rng = np.random.default_rng(3)
    counts, labels = _block(rng)
    with pytest.raises(ValueError, match="sample_weight"):
        WilsonLinearDecoder().fit(counts, labels, np.ones(5))
    with pytest.raises(ValueError, match="dt"):
        WilsonLinearDecoder(dt=0.0)
    with pytest.raises(ValueError, match=r"refit must be one of \['kalman', 'wilson'\], got 'ols'"):
        run_wilson_protocol(["rti"], refit="ols")
    with pytest.raises(ValueError, match="refit='wilson'.*drop 'stabilizer_oracle'"):
        run_wilson_protocol(["rti", "stabilizer_oracle"], refit="wilson")
    with pytest.raises(TypeError, match="ridge"):  # their stabiliser has no Kalman filter
        run_wilson_protocol(["stabilizer"], refit="wilson", stabilizer={"ridge": 1e-3})


def test_protocol_runs_with_their_refit():
    kw = dict(n_days=2, n_subjects=1, session_s=10.0, calibration_s=10.0, sweep_s=0.5,
              gains=(2.0,), n_units=32)
    trials = run_wilson_protocol(["rti_wilson", "hmm", "fixed"], refit="wilson", **kw)
    assert set(trials["decoder"]) == {"rti_wilson", "hmm", "fixed"}
    assert set(trials["day"]) == {0, 1}


def test_equalize_columns_gives_both_axes_the_rms_norm_and_keeps_directions():
    """Wilson et al.'s day-0 column scaling, in the gain grid's units: after it both columns
    (weights and intercept together) have the norm ``sqrt((|W_x|^2 + |W_y|^2) / 2)`` of the
    fitted weights, and each column's direction is unchanged."""
    rng = np.random.default_rng(4)
    counts, labels = _block(rng)
    labels = labels * np.array([1.0, 5.0])  # unequal axes
    dec = WilsonLinearDecoder().fit(counts, labels)
    before = dec.W_.copy()
    norms = np.linalg.norm(before[:, :6], axis=1)
    assert np.all(norms[:, 1] > 2 * norms[:, 0])
    dec.equalize_columns()
    after = np.linalg.norm(dec.W_[:, :6], axis=1)
    np.testing.assert_allclose(after, np.sqrt((norms**2).mean(1, keepdims=True)).repeat(2, 1))
    np.testing.assert_allclose(dec.W_ / before, (after / norms)[:, None, :].repeat(7, 1))


def test_white_noise_day_zero_fits_on_wilsons_10000_bins(monkeypatch):
    """``day0="white_noise"``: the day-0 decoder is fit on a white-noise block of 10,000 bins
    (``calibration_s`` unused), with their column scaling for their decoder."""
    from cogmodels.agents.decoders import wilson_study

    calls = []
    real = wilson_study.calibration_block

    def spy(env, seconds, **kw):
        calls.append((seconds, kw.get("paradigm", "intention")))
        return real(env, 1.0, **kw)  # a short block: this test checks the call, not the fit

    monkeypatch.setattr(wilson_study, "calibration_block", spy)
    equalized = []
    monkeypatch.setattr(WilsonLinearDecoder, "equalize_columns",
                        lambda self, norm=None: equalized.append(norm) or self)
    kw = dict(n_days=1, n_subjects=1, session_s=2.0, calibration_s=10.0, sweep_s=0.5,
              gains=(2.0,), n_units=16)
    run_wilson_protocol(["fixed"], refit="wilson", day0="white_noise", **kw)
    assert calls == [(pytest.approx(200.0), "white_noise")] and equalized == [None]  # the fit's own scale
    calls.clear()
    run_wilson_protocol(["fixed"], day0="white_noise", **kw)  # the Kalman filter: no columns
    assert calls == [(pytest.approx(200.0), "white_noise")] and len(equalized) == 1
    calls.clear()
    run_wilson_protocol(["fixed"], **kw)
    assert calls == [(10.0, "intention")]
    with pytest.raises(ValueError, match=r"day0 must be one of \['block', 'white_noise'\], "
                                         r"got 'noise'"):
        run_wilson_protocol(["fixed"], day0="noise")


@pytest.mark.parametrize("refit", ["wilson", "kalman"])
@pytest.mark.parametrize("same_day", [True, False])
def test_supervised_rebuild_drives_each_days_block_with_a_fresh_fit(monkeypatch, refit, same_day):
    """Wilson et al.'s supervised reference: each day a fresh fit on the day's calibration
    block (their per-column norm kept from the previous decoder; the Kalman filter's readout
    norm through OutputScale) drives a closed-loop block on the same day, and the refit on that
    block is the next decoder; the chained ``"supervised"`` plays no calibration block after
    day 0."""
    from cogmodels.agents.decoders import wilson_study
    from cogmodels.agents.decoders.kalman import SteadyStateKalmanDecoder

    blocks, driven = [], []
    real_block, real_loop = wilson_study.calibration_block, wilson_study.run_closed_loop

    def block_spy(env, seconds, **kw):
        out = real_block(env, seconds, **kw)
        blocks.append((kw["day"], out))
        return out

    def loop_spy(env, decoder, seconds, **kw):
        driven.append((kw["day"], kw["record"] is not None, decoder))
        return real_loop(env, decoder, seconds, **kw)

    monkeypatch.setattr(wilson_study, "calibration_block", block_spy)
    monkeypatch.setattr(wilson_study, "run_closed_loop", loop_spy)
    kw = dict(n_days=3, n_subjects=2, session_s=10.0, calibration_s=10.0, sweep_s=0.5,
              gains=(2.0,), n_units=32, refit=refit, same_day_refit=same_day)
    trials = run_wilson_protocol(["supervised_rebuild"], **kw)
    assert set(trials["day"]) == {0, 1, 2} and set(trials["decoder"]) == {"supervised_rebuild"}
    # their order rebuilds on days 1 and 2 before scoring; ours after each day's session
    rebuilt_days = [1, 2] if same_day else [0, 1, 2]
    assert [d for d, _ in blocks] == [0, *rebuilt_days]
    day0 = driven[0][2].decoder
    for day, (counts, labels) in blocks[1:]:
        # the block the day's rebuilt decoder drives: after the block, on the same day
        recal = [dec for d, rec, dec in driven if d == day and rec]
        fresh = recal[0] if same_day else recal[1]
        if refit == "wilson":
            ols = WilsonLinearDecoder(dt=0.02).fit(counts, labels).W_
            cos = np.sum(fresh.decoder.W_ * ols, axis=1) / (
                np.linalg.norm(fresh.decoder.W_, axis=1) * np.linalg.norm(ols, axis=1))
            np.testing.assert_allclose(cos, 1.0, atol=1e-9)  # the fresh fit's directions
            np.testing.assert_allclose(np.linalg.norm(fresh.decoder.W_[:, :32], axis=1),
                                       np.linalg.norm(day0.W_[:, :32], axis=1))  # day 0's norms
            np.testing.assert_array_equal(fresh.scale, 1.0)
        else:
            kf = SteadyStateKalmanDecoder(dt=0.02).fit(counts, labels)
            np.testing.assert_array_equal(fresh.decoder.K_, kf.K_)
            np.testing.assert_allclose(fresh.scale * wilson_study.readout_norm(fresh.decoder),
                                       wilson_study.readout_norm(day0))
    blocks.clear()
    run_wilson_protocol(["supervised"], **kw)
    assert [d for d, _ in blocks] == [0]


@pytest.mark.parametrize("strategy, theirs, raw", [("hmm_wilson", True, True), ("hmm_wilson_output", True, False),
                                                   ("hmm_noclick_raw", False, True), ("hmm_noclick", False, False)])
def test_their_prit_reads_the_unsmoothed_readout_with_their_settings(monkeypatch, strategy, theirs, raw):
    """``"hmm_wilson"``: their PRI-T (κ 4, inflection 0.2, slope 1, stay 0.999, no click) reads
    ``Wᵀ [y_t, 1]`` of the session's counts, not the smoothed output; the two ablations take one
    of the two differences each (their settings on the output, ours on the readout)."""
    from cogmodels.agents.decoders import wilson_study

    seen = []
    real = wilson_study.infer_lanes

    def spy(hmm, velocity, cursor, click=None, *, executor=None):
        seen.append((hmm, velocity, click))
        assert executor is None  # one process
        return real(hmm, velocity, cursor, click, executor=executor)

    monkeypatch.setattr(wilson_study, "infer_lanes", spy)
    recs = []
    real_refit = WilsonLinearDecoder.refit

    def refit_spy(self, counts, labels, sample_weight=None, renormalize=True):
        recs.append((self.W_.copy(), counts))
        return real_refit(self, counts, labels, sample_weight, renormalize)

    monkeypatch.setattr(WilsonLinearDecoder, "refit", refit_spy)
    kw = dict(n_days=2, n_subjects=2, session_s=10.0, calibration_s=10.0, sweep_s=0.5,
              gains=(2.0,), n_units=32)
    run_wilson_protocol([strategy], refit="wilson", **kw)
    hmm, velocity, click = seen[0]
    assert click is None
    settings = (hmm.kappa, hmm.inflection, hmm.slope, hmm.stay)
    assert (settings == (4.0, 0.2, 1.0, 0.999)) == theirs
    W, counts = recs[0]
    readout = np.einsum("tln,lnk->tlk", counts, W[:, :-1]) + W[:, -1]
    assert np.allclose(velocity, readout) == raw


def test_their_decoder_units_give_day0_their_unit_column_norm_in_our_channel_units(monkeypatch):
    """``decoder_units="wilson"``: the day-0 columns get norm ``0.3 / noise_sd`` (their unit norm
    at their channel noise 0.3; ``noise_sd`` at their SNR with their user); ``"ours"`` keeps the
    RMS of the fitted norms. Only with their decoder, day 0 and additive channels."""
    from cogmodels.envs.bci.encoder import PopulationSpec, wilson_noise_sd

    norms = []
    real = WilsonLinearDecoder.equalize_columns

    def spy(self, norm=None):
        real(self, norm)
        norms.append(np.linalg.norm(self.W_[:, :self.n_units_], axis=1))
        return self

    monkeypatch.setattr(WilsonLinearDecoder, "equalize_columns", spy)
    kw = dict(n_days=1, n_subjects=2, session_s=5.0, sweep_s=0.5, gains=(0.5,), n_units=32, refit="wilson",
              day0="white_noise", noise="additive", user="wilson")
    run_wilson_protocol(["fixed"], decoder_units="wilson", **kw)
    theirs = 0.3 / wilson_noise_sd(PopulationSpec(n_units=32), 0.02, top_speed=1.0)
    np.testing.assert_allclose(norms[0], theirs)
    run_wilson_protocol(["fixed"], **kw)
    np.testing.assert_allclose(norms[1][:, 0], norms[1][:, 1])
    assert not np.allclose(norms[1], theirs)
    with pytest.raises(ValueError, match=r"decoder_units='wilson' needs .* got refit='kalman'"):
        run_wilson_protocol(["fixed"], decoder_units="wilson", **{**kw, "refit": "kalman"})
    with pytest.raises(ValueError, match=r"decoder_units must be one of \['ours', 'wilson'\], got 'theirs'"):
        run_wilson_protocol(["fixed"], decoder_units="theirs", **kw)
