"""FA + Procrustes latent stabiliser (Degenhart et al. 2020) on data with known stable channels."""

from __future__ import annotations

import numpy as np
import pytest

from cogmodels.agents.decoders import load_decoder
from cogmodels.agents.decoders.factor_analysis import fit_factor_analysis, shared_variance_fraction
from cogmodels.agents.decoders.stabilizer import ProcrustesStabilizer, align_loadings

N, K, T = 60, 4, 3000


def _model(rng):
    return rng.normal(size=(N, K)), rng.uniform(2, 5, N), rng.uniform(0.5, 1.5, N)


def _data(rng, loadings, mean, noise, z):
    return z @ loadings.T + mean + rng.normal(size=(len(z), N)) * np.sqrt(noise)


def test_factor_analysis_recovers_the_covariance_of_its_generative_model():
    rng = np.random.default_rng(0)
    lam, mu, psi = _model(rng)
    y = _data(rng, lam, mu, psi, rng.normal(size=(20000, K)))
    fl, fm, fp = fit_factor_analysis(y[:, None], K)
    truth = lam @ lam.T + np.diag(psi)
    fitted = fl[0] @ fl[0].T + np.diag(fp[0])
    assert np.abs(fitted - truth).max() / np.abs(truth).max() < 0.05  # sampling error ~ 1/sqrt(T)
    np.testing.assert_allclose(fm[0], mu, atol=0.1)


def test_the_shared_variance_fraction_of_a_fit_is_its_generative_models():
    rng = np.random.default_rng(2)
    lam, mu, psi = _model(rng)
    lam *= np.sqrt(rng.uniform(0.05, 1.0, N))[:, None]  # shares from ~5 % to ~90 %
    truth = (lam ** 2).sum(1) / ((lam ** 2).sum(1) + psi)
    y = _data(rng, lam, mu, psi, rng.normal(size=(20000, K)))
    fitted = shared_variance_fraction(*fit_factor_analysis(y[:, None], K)[::2])[0]
    assert np.abs(fitted - truth).max() < 0.03 and abs(fitted.mean() - truth.mean()) < 0.005
    assert shared_variance_fraction(np.zeros((1, 3, 2)), np.ones((1, 3))).tolist() == [[0.0] * 3]
    with pytest.raises(ValueError, match=r"loadings must be \(L, N, k\) and noise \(L, N\), got "
                                         r"shapes \(1, 3, 2\) and \(3,\)"):
        shared_variance_fraction(np.zeros((1, 3, 2)), np.ones(3))
    with pytest.raises(ValueError, match="noise must be > 0 everywhere, got its smallest value 0.0"):
        shared_variance_fraction(np.zeros((1, 3, 2)), np.zeros((1, 3)))


def test_procrustes_recovers_a_known_rotation_and_rejects_the_changed_channels():
    rng = np.random.default_rng(1)
    reference = rng.normal(size=(N, K))
    rot = np.linalg.qr(rng.normal(size=(K, K)))[0]
    new = reference @ rot
    changed = np.arange(N) < 20
    new[changed] = rng.normal(size=(20, K))
    rotation, stable = align_loadings(new, reference, 30)
    np.testing.assert_allclose(rotation, rot.T, atol=1e-10)
    assert stable.sum() == 30 and not stable[changed].any()


def test_realignment_restores_the_calibration_days_latents_from_unlabelled_counts():
    rng = np.random.default_rng(0)
    lam, mu, psi = _model(rng)
    z0 = rng.normal(size=(T, K))
    st = ProcrustesStabilizer(n_factors=K, stable_fraction=0.5).fit(
        _data(rng, lam, mu, psi, z0), 0.3 * z0[:, :2])
    day = lam.copy()
    unstable = rng.random(N) < 0.3
    day[unstable] = rng.normal(size=(int(unstable.sum()), K))
    z = rng.normal(size=(T, K))
    before = st.transform(_data(rng, lam, mu, psi, z))[:, 0]  # day-0 latents of these z
    y = _data(rng, day, mu, psi, z)
    naive = ProcrustesStabilizer(n_factors=K).fit(y, 0.3 * z0[:, :2]).transform(y)[:, 0]
    st.realign(y)
    after = st.transform(y)[:, 0]
    err = np.mean((after - before) ** 2) / np.mean(before**2)
    naive_err = np.mean((naive - before) ** 2) / np.mean(before**2)
    assert err < 0.1 < 0.9 < naive_err  # an unaligned refit lands in an arbitrary rotation
    assert not unstable[st.stable_[0]].any()  # every channel kept is a stable one


def test_stabilizer_save_load_decodes_identically(tmp_path):
    rng = np.random.default_rng(2)
    lam, mu, psi = _model(rng)
    z = rng.normal(size=(600, K))
    y = _data(rng, lam, mu, psi, z)
    st = ProcrustesStabilizer(n_factors=K).fit(y, 0.3 * z[:, :2]).realign(y)
    loaded = load_decoder(st.save(tmp_path / "stab"))
    np.testing.assert_array_equal(loaded.decode(y[:50]), st.decode(y[:50]))
    np.testing.assert_array_equal(loaded.stable_, st.stable_)


@pytest.mark.parametrize("kwargs, match", [
    ({"n_factors": 0}, "n_factors"), ({"stable_fraction": 0.0}, "stable_fraction"),
])
def test_bad_arguments_name_themselves(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ProcrustesStabilizer(**kwargs)


def test_realign_refuses_counts_of_another_shape():
    rng = np.random.default_rng(3)
    st = ProcrustesStabilizer(n_factors=2).fit(rng.normal(size=(100, 8)), rng.normal(size=(100, 2)))
    with pytest.raises(ValueError, match="counts must have shape"):
        st.realign(rng.normal(size=(100, 7)))


@pytest.mark.parametrize("model", ["fa", "pca"])
def test_chained_alignment_follows_a_drift_of_every_channel_that_day_zero_alignment_loses(model):
    """Wilson et al.'s simulator chains the stabiliser: every channel's loadings drift (0.85 a day,
    no stable channel), and after 20 days only day-to-day alignment still reads the day-0 factors."""
    rng = np.random.default_rng(0)
    lam, mu, psi = _model(rng)
    z0 = rng.normal(size=(T, K))
    y0 = _data(rng, lam, mu, psi, z0)
    fits = {c: ProcrustesStabilizer(n_factors=K, stable_fraction=0.9, chained=c, model=model).fit(y0, 0.3 * z0[:, :2])
            for c in (False, True)}
    day0 = fits[False].loadings_.copy()
    drifted = lam.copy()
    for _ in range(20):
        drifted = 0.85 * drifted + np.sqrt(1 - 0.85**2) * rng.normal(size=(N, K))
        y = _data(rng, drifted, mu, psi, rng.normal(size=(T, K)))
        for st in fits.values():
            st.realign(y)
    np.testing.assert_array_equal(fits[False].loadings_, day0)  # the static reference never moves
    z = rng.normal(size=(T, K))
    before = ProcrustesStabilizer(n_factors=K, model=model).fit(y0, 0.3 * z0[:, :2]).transform(
        _data(rng, lam, mu, psi, z))[:, 0]
    y = _data(rng, drifted, mu, psi, z)
    err = {c: np.mean((st.transform(y)[:, 0] - before) ** 2) / np.mean(before**2) for c, st in fits.items()}
    assert err[True] < 0.5 < 1.0 < err[False], err  # FA: 0.28 against 2.1 (seeds 0-3: 0.18-0.38 against 1.2-2.1)


def test_chained_is_saved_and_checked(tmp_path):
    rng = np.random.default_rng(4)
    st = ProcrustesStabilizer(n_factors=2, chained=True).fit(rng.normal(size=(100, 8)), rng.normal(size=(100, 2)))
    assert load_decoder(st.save(tmp_path / "chained")).chained is True
    with pytest.raises(ValueError, match="chained"):
        ProcrustesStabilizer(chained="yes")


def test_pca_latents_are_the_leading_eigenvectors():
    from cogmodels.agents.decoders.factor_analysis import fit_pca

    rng = np.random.default_rng(5)
    y = rng.normal(size=(500, 2, 12)) @ np.diag(np.linspace(1, 3, 12))
    loadings, mean, noise = fit_pca(y, 3)
    for lane in range(2):
        vals, vecs = np.linalg.eigh(np.cov(y[:, lane].T))
        np.testing.assert_allclose(np.abs(loadings[lane].T @ vecs[:, ::-1][:, :3]), np.eye(3), atol=1e-8)
    np.testing.assert_allclose(mean, y.mean(axis=0))
    assert not noise.any()
    with pytest.raises(ValueError, match="model"):
        ProcrustesStabilizer(model="ica")
