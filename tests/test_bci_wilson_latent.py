"""Wilson et al. (2023)'s stabiliser: their linear readout through a PCA space realigned daily."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from cogmodels.agents.decoders.base import load_decoder
from cogmodels.agents.decoders.wilson_decoder import WilsonLatentDecoder, WilsonLinearDecoder
from cogmodels.agents.decoders.wilson_study import run_wilson_protocol
from cogmodels.envs.bci.drift import NeuralTrajectory, TuningRotation, make_drift
from cogmodels.envs.bci.encoder import PopulationSpec, wilson_noise_sd


def _block(rng: np.random.Generator, t: int = 600, lanes: int = 2, n: int = 10
           ) -> tuple[np.ndarray, np.ndarray]:
    """Counts with a 2-D signal in a random plane plus private noise, and their labels."""
    labels = rng.normal(size=(t, lanes, 2))
    tuning = rng.normal(size=(lanes, 2, n))
    counts = 3.0 + np.einsum("tlk,lkn->tln", labels, tuning) + 0.3 * rng.normal(size=(t, lanes, n))
    return counts, labels


def _readout(dec: WilsonLinearDecoder, counts: np.ndarray) -> np.ndarray:
    """The unsmoothed readout ``Wᵀ [y, 1]`` ``(T, L, 2)``."""
    return np.einsum("tln,lnk->tlk", counts, dec.W_[:, :-1]) + dec.W_[:, -1]


def test_fit_is_ols_on_the_pca_latents_composed_into_one_linear_readout():
    rng = np.random.default_rng(0)
    counts, labels = _block(rng)
    dec = WilsonLatentDecoder(n_factors=3).fit(counts, labels)
    for lane in range(2):
        y, x = counts[:, lane], labels[:, lane]
        centred = y - y.mean(axis=0)
        q = np.linalg.eigh(np.cov(centred.T))[1][:, ::-1][:, :3]  # their PCA's components_.T
        z = np.hstack([centred @ q, np.ones((len(y), 1))])
        h = np.linalg.lstsq(z, x, rcond=None)[0]  # their LinearRegression(fit_intercept=True)
        np.testing.assert_allclose(_readout(dec, counts)[:, lane], z @ h, atol=1e-9)
    # every latent kept: the same fit as the plain readout's OLS on the counts
    full = WilsonLatentDecoder(n_factors=10).fit(counts, labels)
    np.testing.assert_allclose(full.W_, WilsonLinearDecoder().fit(counts, labels).W_, atol=1e-8)


def test_realigning_on_the_calibration_counts_gives_the_calibrated_decoder_back():
    counts, labels = _block(np.random.default_rng(1))
    dec = WilsonLatentDecoder(n_factors=3).fit(counts, labels).equalize_columns(2.0)
    np.testing.assert_allclose(np.linalg.norm(dec.W_[:, :-1], axis=1), 2.0)
    for model in ("pca", "fa"):
        dec = WilsonLatentDecoder(n_factors=3, model=model).fit(counts, labels)
        dec.equalize_columns(2.0)
        again = dec.realign(counts)
        assert again is not dec
        np.testing.assert_allclose(again.W_, dec.W_, rtol=1e-6, atol=1e-8)


def test_a_days_mean_intention_does_not_enter_the_realigned_decoder():
    """A closed-loop block where the user kept pushing one way (against a biased decoder) has
    another mean; the realigned decoder reads counts centred where day 0's were (the channels'
    rest), so its weights and intercept are those of the same block without the push."""
    rng = np.random.default_rng(6)
    counts, labels = _block(rng)
    tuning = rng.normal(size=(2, 2, 10))  # any fixed channel pattern of a constant push
    pushed = counts + np.einsum("k,lkn->ln", np.array([0.8, -0.5]), tuning)
    dec = WilsonLatentDecoder(n_factors=3).fit(counts, labels)
    np.testing.assert_allclose(dec.realign(pushed).W_, dec.realign(counts).W_, atol=1e-9)
    np.testing.assert_allclose(dec.centre_, counts.mean(axis=0))


def _wilson_stabiliser(y0, v0, days, k=4, b=190, thresh=0.05):
    """Their steps (``fit_LatentDecoder``, ``Stabilizer.fit_new`` with ``daisy_chain``,
    ``identifyGoodChannels``, ``recalibrate_LatentDecoder``, ``renormalizeDecoder``), one lane:
    return each day's weights ``D[1:]`` ``(N, 2)`` and the channels aligned on."""

    def pca(y):  # scikit-learn's PCA by SVD: components_.T, signs as they come
        return np.linalg.svd(y - y.mean(axis=0), full_matrices=False)[2][:k].T

    def procrustes(a, b_):  # scipy.linalg.orthogonal_procrustes(a, b_)
        u, _, vt = np.linalg.svd(a.T @ b_)
        return u @ vt

    def good_channels(ref, new):
        chans = np.flatnonzero(np.linalg.norm(ref, axis=1) >= thresh)
        while len(chans) > b:
            delta = ref[chans] @ procrustes(ref[chans], new[chans]) - new[chans]
            chans = np.delete(chans, np.argmax(np.linalg.norm(delta, axis=1)))
        return chans

    q = pca(y0)
    z = np.hstack([(y0 - y0.mean(axis=0)) @ q, np.ones((len(y0), 1))])
    h = np.linalg.lstsq(z, v0, rcond=None)[0][:k].T  # (2, k)
    d = (h @ q.T).T / np.linalg.norm((h @ q.T).T, axis=0)  # renormalizeDecoder(D, {})
    ref, rotation, out = q, None, []
    for y in days:
        new = pca(y)
        chans = good_channels(ref, new)
        r = procrustes(new[chans], ref[chans])
        rotation = r if rotation is None else r @ rotation
        dn = (h @ (new @ rotation).T).T
        d = dn / (np.linalg.norm(dn, axis=0) / np.linalg.norm(d, axis=0))
        out.append((d, chans))
        ref = new  # daisy chain: the next day aligns to this day's own components
    return out


def test_the_chained_realignment_is_wilsons_stabiliser_step_for_step():
    """Their channel model (192 units, a 2-D tuning plane, noise SD 0.3) drifting 0.91 a day:
    over five chained days the weights equal their algorithm's, and the channels aligned on
    are theirs (some dropped by the 0.05 threshold first)."""
    rng = np.random.default_rng(5)
    n = 192
    tuning = np.linalg.qr(rng.normal(size=(n, 2)))[0] * 0.5

    def block(t=4000):
        v = rng.normal(size=(t, 2))
        return v @ tuning.T + 0.3 * rng.normal(size=(t, n)), v

    y0, v0 = block()
    days = []
    for _ in range(5):  # their simulateTuningShift: keep 0.91 of the plane, the rest new
        w = tuning / np.linalg.norm(tuning, axis=0)
        g = rng.normal(size=(n, 2))
        g -= w @ (w.T @ g)
        tuning = (0.91 * w + np.sqrt(1 - 0.91**2) * np.linalg.qr(g)[0]) * 0.5
        days.append(block()[0])
    theirs = _wilson_stabiliser(y0, v0, days)
    dec = WilsonLatentDecoder().fit(y0, v0).equalize_columns(1.0)
    dropped = 0
    for y, (d, chans) in zip(days, theirs):
        dec = dec.realign(y)
        np.testing.assert_allclose(dec.W_[0, :-1], d, atol=1e-9)
        np.testing.assert_array_equal(np.flatnonzero(dec.stable_[0]), chans)
        dropped += n - len(chans)
    assert dropped > 10  # the threshold and the greedy selection both took part


def test_realign_keeps_each_columns_norm_and_moves_the_reference_only_when_chained():
    rng = np.random.default_rng(2)
    counts, labels = _block(rng)
    later, _ = _block(rng)  # another plane: the fresh composition's norms are not the fit's
    for chained in (True, False):
        dec = WilsonLatentDecoder(n_factors=2, chained=chained, model="fa",
                                  stable_fraction=0.5, thresh=0.0).fit(counts, labels)
        new = dec.realign(later)
        np.testing.assert_allclose(np.linalg.norm(new.W_[:, :-1], axis=1),
                                   np.linalg.norm(dec.W_[:, :-1], axis=1), rtol=1e-12)
        assert new.stable_.sum(axis=1).tolist() == [5, 5]  # the greedy selection ran
        assert np.allclose(new.loadings_, dec.loadings_) is not chained
        np.testing.assert_array_equal(new.h_, dec.h_)


def test_chained_realignment_follows_wilsons_daily_drift_where_the_day0_readout_fails(unit_activity):
    """Their 60-day setting: their channel model (additive noise of a fixed SD at their SNR),
    every unit rotating (0.91 a day, no stable channel), 4 PCs, B = 190, chained. Ten daily
    realignments on unlabelled counts keep the decoded direction; the day-0 readout after ten
    days (0.91¹⁰ = 0.39 of its tuning left) does not."""
    spec, dt, t = PopulationSpec(), 0.02, 5000
    sd = wilson_noise_sd(spec, dt)
    drift = make_drift((TuningRotation(0.91),))
    rng = np.random.default_rng(3)
    subjects = [NeuralTrajectory(spec, drift, seed=s) for s in (1, 2)]

    def block(day: int) -> tuple[np.ndarray, np.ndarray]:
        return unit_activity(subjects, day, t, rng, dt, noise_sd=sd)

    def cosine(dec: WilsonLinearDecoder, y: np.ndarray, u: np.ndarray) -> float:
        d = _readout(dec, y)
        keep = np.linalg.norm(u, axis=-1) > 0.1
        return float(np.mean(np.sum(d * u, axis=-1)[keep] / np.maximum(
            np.linalg.norm(d, axis=-1)[keep] * np.linalg.norm(u, axis=-1)[keep], 1e-12)))

    y0, u0 = block(0)
    day0 = WilsonLatentDecoder(dt=dt).fit(y0, u0).equalize_columns()
    dec = day0
    for day in range(1, 11):
        y, u = block(day)
        dec = dec.realign(y)  # no labels
    first, fixed, chained = cosine(day0, y0, u0), cosine(day0, y, u), cosine(dec, y, u)
    assert chained > 0.9 * first and fixed < 0.7 * first, (first, fixed, chained)


def test_save_and_load_keep_the_readout_its_state_and_the_next_realignment(tmp_path):
    """JSON + arrays, no pickle: the loaded decoder steps on from the saved smoothing state and
    realigns the next day to the same weights and stable channels (day-0 centre, chained
    reference and latent readout all saved)."""
    rng = np.random.default_rng(5)
    counts, labels = _block(rng)
    dec = WilsonLatentDecoder(n_factors=3, stable_fraction=0.8, chained=True).fit(counts, labels)
    dec = dec.realign(_block(rng)[0])  # a chained day: the reference is no longer day 0's
    dec.decode(counts[:20])
    path = dec.save(tmp_path / "stab.json")
    assert path.read_text().startswith("{") and (tmp_path / "stab.npz").exists()
    back = load_decoder(tmp_path / "stab")
    assert type(back) is WilsonLatentDecoder and back.get_params() == dec.get_params()
    a = np.stack([dec.step(c).copy() for c in counts[20:60]])
    b = np.stack([back.step(c).copy() for c in counts[20:60]])
    np.testing.assert_array_equal(b, a)
    day = _block(rng)[0]
    nxt, nxt_back = dec.realign(day), back.realign(day)
    np.testing.assert_array_equal(nxt_back.W_, nxt.W_)
    np.testing.assert_array_equal(nxt_back.stable_, nxt.stable_)


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="n_factors"):
        WilsonLatentDecoder(n_factors=0)
    with pytest.raises(ValueError, match="model must be one of"):
        WilsonLatentDecoder(model="ica")
    with pytest.raises(ValueError, match="read must be one of"):
        WilsonLatentDecoder(read="some")
    with pytest.raises(ValueError, match="stable_fraction"):
        WilsonLatentDecoder(stable_fraction=0.0)
    counts, labels = _block(np.random.default_rng(4), n=10)
    with pytest.raises(ValueError, match="at least n_factors=12 channels, got 10"):
        WilsonLatentDecoder(n_factors=12).fit(counts, labels)
    dec = WilsonLatentDecoder().fit(counts, labels)
    with pytest.raises(ValueError, match=r"counts must have shape \(T >= 3, 2, 10\)"):
        dec.realign(counts[:, :, :5])


def test_the_protocol_plays_their_stabiliser_with_their_refit(tmp_path, monkeypatch):
    """``refit="wilson"`` makes the ``"stabilizer"`` strategy their latent readout, realigned
    on each later day's closed-loop block with their settings; each day's decoder checkpointed."""
    stab = {"chained": True, "n_factors": 4, "stable_fraction": 190 / 192, "model": "pca",
            "read": "all"}
    blocks = []
    realign = WilsonLatentDecoder.realign

    def spy(self, counts):
        blocks.append(np.shape(counts))
        return realign(self, counts)

    monkeypatch.setattr(WilsonLatentDecoder, "realign", spy)
    table = run_wilson_protocol(["stabilizer"], n_days=2, n_subjects=2, session_s=10.0,
                                sweep_s=2.0, refit="wilson", day0="white_noise",
                                decoder_units="wilson", noise="additive", same_day_refit=True,
                                stabilizer=stab, save_dir=tmp_path)
    assert set(table["day"]) == {0, 1} and table["success"].mean() > 0.5
    with open(tmp_path / "stabilizer.checkpoint.pkl", "rb") as f:
        dec = pickle.load(f)["decoder"]  # noqa: S301 - the test's own file
    assert type(dec) is WilsonLatentDecoder and dec.get_params()["n_factors"] == 4
    assert dec.chained and dec.h_.shape == (2, 5, 2) and dec.thresh == 0.05
    assert blocks == [(500, 2, 192)]  # day 1's 10 s block, before its sweep and session
