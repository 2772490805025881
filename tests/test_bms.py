"""Random-effects Bayesian model selection against known properties and independent references."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats
from scipy.special import digamma, expit, gammaln, logsumexp, softmax

from cogmodels.fits.bms import (
    BMSResult,
    _free_energy,
    bms,
    bms_between_groups,
    dirichlet_exceedance,
)


def _exceedance_quadrature(alpha: np.ndarray) -> np.ndarray:
    """Exact exceedance probabilities by 1-D quadrature.

    A Dirichlet draw is a vector of independent Gamma(alpha_k, 1) draws divided by their sum, so
    ``r_k`` is the largest component when ``x_k`` is the largest Gamma draw:
    ``P = ∫ f_k(x) prod_{j != k} F_j(x) dx``.
    """
    out = []
    for k, a in enumerate(alpha):
        others = np.delete(alpha, k)

        def integrand(x, a=a, others=others):
            return stats.gamma(a).pdf(x) * np.prod(stats.gamma(others).cdf(x))

        out.append(integrate.quad(integrand, 0, np.inf, epsabs=1e-12, limit=200)[0])
    return np.array(out)


def _exact_log_evidence(L: np.ndarray, alpha0: np.ndarray) -> tuple[float, float]:
    """log p(L | H1) and log p(L | H0) by summing over every assignment of models to subjects.

    Under H1, r ~ Dir(alpha0) and E[prod_i r_{m_i}] = B(alpha0 + counts) / B(alpha0); under H0
    every assignment has probability K^-n.
    """
    n, k = L.shape

    def log_beta(a):
        return gammaln(a).sum() - gammaln(a.sum())

    h1, h0 = [], []
    for m in itertools.product(range(k), repeat=n):
        ll = L[np.arange(n), m].sum()
        counts = np.bincount(m, minlength=k)
        h1.append(ll + log_beta(alpha0 + counts) - log_beta(alpha0))
        h0.append(ll - n * np.log(k))
    return float(logsumexp(h1)), float(logsumexp(h0))


def test_strong_evidence_for_one_model():
    L = np.zeros((20, 2))
    L[:, 0] = 10.0  # every subject favours model A by 10 nats
    r = bms(L)
    np.testing.assert_allclose(r.alpha, [21.0, 1.0], atol=1e-3)  # alpha0 + sum of g
    np.testing.assert_allclose(r.expected_frequency, [21 / 22, 1 / 22], atol=1e-4)
    assert r.xp[0] > 1 - 1e-5
    assert r.bor < 1e-3
    assert r.pxp[0] > 0.999
    assert r.best == "model_0"
    assert r.xp_method == "exact"


def test_no_information_gives_uniform_answers_and_high_bor():
    rng = np.random.default_rng(0)
    for k in (2, 3):
        offsets = rng.normal(0, 50, size=(20, 1))  # a per-subject constant carries no information
        r = bms(np.repeat(offsets, k, axis=1), seed=1, n_samples=200_000)
        np.testing.assert_allclose(r.expected_frequency, 1 / k, atol=1e-12)
        np.testing.assert_allclose(r.alpha, 1 + 20 / k, atol=1e-9)
        np.testing.assert_allclose(r.g.to_numpy(), 1 / k, atol=1e-12)
        np.testing.assert_allclose(r.xp, 1 / k, atol=4e-3)  # exact for k=2, sampled for k=3
        np.testing.assert_allclose(r.pxp, 1 / k, atol=1e-3)
        assert r.bor > 0.75
    # the variational bound of H1 falls further below the exact (equal) evidence as n grows
    assert bms(np.zeros((200, 2))).bor > bms(np.zeros((20, 2))).bor > 0.5


def test_two_model_xp_matches_beta_distribution():
    rng = np.random.default_rng(1)
    L = rng.normal(0, 3, size=(15, 2)) + np.array([1.0, 0.0])
    r = bms(L)
    a1, a2 = r.alpha
    ref = stats.beta(a1, a2).sf(0.5)  # P(r_1 > 1/2)
    np.testing.assert_allclose(r.xp, [ref, 1 - ref], rtol=1e-10)
    np.testing.assert_allclose(r.xp, _exceedance_quadrature(r.alpha), atol=1e-8)


@pytest.mark.parametrize("alpha", [[3.0, 2.0, 1.5], [7.2, 6.9, 2.0, 1.1]])
def test_sampled_xp_matches_quadrature(alpha):
    alpha = np.array(alpha)
    ref = _exceedance_quadrature(alpha)
    xp = dirichlet_exceedance(alpha, 1_000_000, seed=3)
    # Monte Carlo standard error <= 0.0005 with a million draws
    np.testing.assert_allclose(xp, ref, atol=0.0025)
    np.testing.assert_allclose(ref.sum(), 1.0, atol=1e-8)


def test_variational_fixed_point_and_pxp_formula():
    rng = np.random.default_rng(2)
    L = rng.normal(0, 2, size=(12, 3))
    prior = np.array([2.0, 1.0, 0.5])
    r = bms(L, prior=prior, seed=0)
    elogr = digamma(r.alpha) - digamma(r.alpha.sum())
    np.testing.assert_allclose(r.g.to_numpy(), softmax(L + elogr, axis=1), atol=1e-9)
    np.testing.assert_allclose(r.alpha, prior + r.g.to_numpy().sum(axis=0), atol=1e-9)
    np.testing.assert_allclose(r.alpha0, prior)
    np.testing.assert_allclose(r.pxp, r.xp * (1 - r.bor) + r.bor / 3)
    np.testing.assert_allclose([r.xp.sum(), r.pxp.sum()], 1.0)
    assert r.bor == pytest.approx(expit(r.free_energy_null - r.free_energy))


def test_free_energy_is_a_maximised_lower_bound_on_the_exact_evidence():
    rng = np.random.default_rng(4)
    L = rng.normal(0, 2, size=(6, 3))
    alpha0 = np.ones(3)
    r = bms(L, seed=0)
    exact_h1, exact_h0 = _exact_log_evidence(L, alpha0)
    # F0 is exact (the null has no free frequencies); F1 lower-bounds log p(L | H1)
    assert r.free_energy_null == pytest.approx(exact_h0, abs=1e-10)
    assert r.free_energy <= exact_h1 + 1e-10
    # ... and is maximal at the variational fixed point: any other posterior gives a lower bound
    g = r.g.to_numpy()
    for _ in range(50):
        alpha = r.alpha * np.exp(rng.normal(0, 0.3, 3))
        g_other = softmax(np.log(g) + rng.normal(0, 0.5, g.shape), axis=1)
        assert _free_energy(L, alpha, g, alpha0) <= r.free_energy + 1e-10
        assert _free_energy(L, r.alpha, g_other, alpha0) <= r.free_energy + 1e-10


def test_bor_tracks_the_exact_posterior_of_the_null():
    rng = np.random.default_rng(5)
    # clear-cut subjects: q(m) is nearly exact, so F1 is tight and bor matches the exact value
    strong = np.column_stack([rng.normal(8, 1, 10), np.zeros(10)])
    exact_h1, exact_h0 = _exact_log_evidence(strong, np.ones(2))
    r = bms(strong)
    assert r.free_energy == pytest.approx(exact_h1, abs=1e-3)
    assert r.bor == pytest.approx(expit(exact_h0 - exact_h1), rel=1e-3)
    assert r.bor < 0.02
    # ambiguous subjects: F1 < log p(L | H1) makes the omnibus risk conservative (too high)
    weak = rng.normal(0, 2, size=(10, 2))
    exact_h1, exact_h0 = _exact_log_evidence(weak, np.ones(2))
    assert bms(weak).bor >= expit(exact_h0 - exact_h1)


def test_symmetric_under_permuting_models():
    rng = np.random.default_rng(6)
    L = rng.normal(0, 2, size=(25, 3)) + np.array([1.5, 0.0, -0.5])
    perm = [2, 0, 1]
    a = bms(L, seed=7)
    b = bms(L[:, perm], seed=7)
    np.testing.assert_allclose(b.alpha, a.alpha[perm], rtol=1e-9)
    np.testing.assert_allclose(b.g.to_numpy(), a.g.to_numpy()[:, perm], atol=1e-9)
    np.testing.assert_allclose(b.xp, a.xp[perm], atol=3e-3)  # sampled
    assert b.bor == pytest.approx(a.bor, rel=1e-9)
    two = L[:, :2]
    np.testing.assert_allclose(bms(two[:, ::-1]).xp, bms(two).xp[::-1], rtol=1e-10)


def test_invariant_to_per_subject_constants():
    rng = np.random.default_rng(8)
    L = rng.normal(0, 2, size=(10, 2))
    shifted = L + rng.normal(0, 100, size=(10, 1))
    a, b = bms(L), bms(shifted)
    np.testing.assert_allclose(b.alpha, a.alpha, rtol=1e-9)
    np.testing.assert_allclose(b.xp, a.xp, rtol=1e-9)
    assert b.bor == pytest.approx(a.bor, rel=1e-6)


def test_dataframe_names_to_frame_and_seeding():
    rng = np.random.default_rng(9)
    df = pd.DataFrame(
        rng.normal(0, 2, size=(8, 3)) + np.array([2.0, 0, 0]),
        columns=["rw", "sticky", "dual"],
        index=pd.Index([f"s{i}" for i in range(8)], name="subject"),
    )
    r = bms(df, seed=1, n_samples=10_000)
    assert isinstance(r, BMSResult)
    assert r.models == ("rw", "sticky", "dual")
    assert list(r.g.index) == list(df.index) and list(r.g.columns) == ["rw", "sticky", "dual"]
    frame = r.to_frame()
    assert list(frame.index) == ["rw", "sticky", "dual"]
    assert list(frame.columns) == ["alpha", "expected_frequency", "xp", "pxp"]
    assert frame.attrs["bor"] == r.bor
    np.testing.assert_array_equal(bms(df, seed=1, n_samples=10_000).xp, r.xp)
    assert bms(df.to_numpy(), models=["a", "b", "c"]).models == ("a", "b", "c")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"log_evidence": np.zeros(5)}, "2-D"),
        ({"log_evidence": np.zeros((5, 1))}, "2 models"),
        ({"log_evidence": np.array([[0.0, np.nan], [0.0, 1.0]])}, "finite"),
        ({"log_evidence": np.zeros((3, 2)), "prior": -1.0}, "prior"),
        ({"log_evidence": np.zeros((3, 2)), "prior": [1.0, 1.0, 1.0]}, "prior"),
        ({"log_evidence": np.zeros((3, 3)), "n_samples": 0}, "n_samples"),
        ({"log_evidence": np.zeros((3, 2)), "models": ["a"]}, "models"),
        ({"log_evidence": np.zeros((3, 2)), "models": ["a", "a"]}, "unique"),
    ],
)
def test_bad_inputs_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bms(**kwargs)


# -- between-group comparison (Rigoux et al. 2014) ------------------------------------------------
def _certain(counts, gap=60.0) -> np.ndarray:
    """Log evidences of subjects each certainly of one model: ``counts[k]`` subjects of model k."""
    rows = [np.where(np.arange(len(counts)) == k, 0.0, -gap) for k, c in enumerate(counts) for _ in range(c)]
    return np.array(rows) - 100.0


def _log_beta(a) -> float:
    a = np.asarray(a, dtype=float)
    return float(gammaln(a).sum() - gammaln(a.sum()))


@pytest.mark.parametrize("counts", [((5, 5), (5, 5)), ((10, 0), (0, 10)), ((4, 1, 0), (0, 2, 6)), ((3, 3, 3), (3, 3, 3))])
def test_between_groups_exact_when_every_subject_is_certain(counts):
    """With one-hot posteriors the free energy is exact: ``F = sum_i L_{i m_i} + log B(alpha0 + n)
    - log B(alpha0)`` (the Dirichlet-multinomial evidence of the counts), so
    ``logit P(same) = log B(1 + n1 + n2) - log B(1 + n1) - log B(1 + n2) + log B(1)``."""
    n1, n2 = (np.array(c) for c in counts)
    res = bms_between_groups([_certain(n1), _certain(n2)])
    ones = np.ones(len(n1))
    logit = _log_beta(ones + n1 + n2) - _log_beta(ones + n1) - _log_beta(ones + n2) + _log_beta(ones)
    assert res.p_same == pytest.approx(expit(logit), rel=1e-6)
    assert res.free_energy_same - res.free_energy_different == pytest.approx(logit, abs=1e-6)
    np.testing.assert_allclose(res.frequencies.loc[0], (1 + n1) / (1 + n1).sum(), atol=1e-9)
    np.testing.assert_allclose(res.frequencies.loc["pooled"], (1 + n1 + n2) / (1 + n1 + n2).sum(), atol=1e-9)


def test_between_groups_same_frequencies_favour_same_different_ones_reject_it():
    # identical composition: (5, 5) twice: P(same) = expit(log B(11, 11) - 2 log B(6, 6)) = 0.664
    same = bms_between_groups([_certain((5, 5)), _certain((5, 5))])
    assert same.p_same == pytest.approx(0.6644, abs=1e-3) and not same.different
    # opposite groups: P(same) = expit(log B(11, 11) - 2 log B(11, 1)) = 3.1e-5
    diff = bms_between_groups([_certain((10, 0)), _certain((0, 10))])
    assert diff.p_same == pytest.approx(3.13e-5, rel=1e-2) and diff.different
    # noisy evidences: 30 subjects per group, each's true model drawn from the group's frequencies
    rng = np.random.default_rng(0)

    def group(freq, n=30):
        m = rng.choice(len(freq), size=n, p=freq)
        L = rng.normal(0.0, 1.0, (n, len(freq)))
        L[np.arange(n), m] += 4.0  # each subject's evidence favours its model by about 4 nats
        return L

    assert bms_between_groups([group([0.5, 0.3, 0.2]), group([0.5, 0.3, 0.2])]).p_same > 0.5
    assert bms_between_groups([group([0.8, 0.1, 0.1]), group([0.1, 0.1, 0.8])]).p_same < 1e-3


def test_between_groups_names_order_and_errors():
    a = pd.DataFrame(_certain((4, 1)), columns=["rl", "wm"])
    b = pd.DataFrame(_certain((1, 4)), columns=["rl", "wm"])
    named = bms_between_groups({"patients": a, "controls": b[["wm", "rl"]]})  # matched by name
    assert named.groups == ("patients", "controls") and named.models == ("rl", "wm")
    assert named.frequencies.index.tolist() == ["patients", "controls", "pooled"]
    assert named.p_same == pytest.approx(bms_between_groups([b, a]).p_same, rel=1e-9)  # symmetric
    assert named.frequencies.loc["controls", "wm"] == pytest.approx(5 / 7)
    with pytest.raises(ValueError, match="needs at least 2 groups, got 1"):
        bms_between_groups([a])
    with pytest.raises(ValueError, match=r"every group needs the same models \['rl', 'wm'\]; group 1 has"):
        bms_between_groups([a, b.rename(columns={"wm": "hmm"})])
    with pytest.raises(ValueError, match="every group needs the same 2 models; group 1 has 3 columns"):
        bms_between_groups([_certain((1, 1)), _certain((1, 1, 1))])
    with pytest.raises(TypeError, match="log_evidence must be a list"):
        bms_between_groups(a.to_numpy())
