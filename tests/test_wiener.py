"""The Wiener first-passage-time density, CDF and sampler against independent computations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from cogmodels import wiener

torch = pytest.importorskip("torch")

V, A, Z, T0 = 1.3, 1.7, 0.4, 0.3


def _density(c, v=V, a=A, z=Z, t0=T0):
    return lambda t: float(np.exp(wiener.log_density(np.array([t]), np.array([c]), v, a, z, t0))[0])


@pytest.mark.parametrize("c", [0, 1])
@pytest.mark.parametrize("v, a, z", [(V, A, Z), (-2.5, 1.0, 0.7), (0.0, 2.5, 0.5), (4.0, 0.8, 0.2)])
def test_density_integrates_to_choice_probability(c, v, a, z):
    # ∫ f_c(t) dt = P(c) (Feller's absorption probability), by adaptive quadrature
    total, err = integrate.quad(_density(c, v, a, z), T0, T0 + 40 * a * a, limit=500,
                                points=[T0 + 0.01 * a * a, T0 + 0.1 * a * a, T0 + a * a])
    lower, upper = wiener.choice_probabilities(np.array(v), np.array(a), np.array(z))
    assert total == pytest.approx((lower, upper)[c], abs=1e-8)
    assert lower + upper == pytest.approx(1.0, abs=1e-14)


def test_choice_probability_has_its_closed_form_and_limits():
    # unbiased start and no drift: 1/2; large drift: all upper; v -> 0: 1 - z
    lower, upper = wiener.choice_probabilities(np.array([0.0, 20.0, 1e-14]), np.array([1.0, 2.0, 1.0]),
                                               np.array([0.5, 0.5, 0.3]))
    np.testing.assert_allclose(lower, [0.5, np.exp(-40.0) * np.expm1(-40.0) / np.expm1(-80.0), 0.7], rtol=1e-9)
    assert upper[1] == pytest.approx(1.0, abs=1e-15)


def test_small_and_large_time_series_agree():
    # both series of Navarro & Fuss (2009) with many terms, where both converge
    u = np.geomspace(0.1, 1.5, 30)
    for w in (0.1, 0.5, 0.83):
        wa = np.full_like(u, w)
        small = wiener._log_standard_small(np, u, wa, 40)
        large = wiener._log_standard_large(np, u, wa, 400)
        np.testing.assert_allclose(small, large, atol=1e-10)


def test_term_counts_meet_the_error_bound():
    # the series truncated at Navarro & Fuss's term counts is within eps of a 400-term sum
    u = np.geomspace(0.02, 3.0, 40)
    w, eps = 0.35, 1e-9
    ref = np.exp(wiener._log_standard_large(np, u, np.full_like(u, w), 400))
    got = np.exp(wiener._log_standard(np, u, np.full_like(u, w), eps))
    assert np.max(np.abs(got - ref)) < eps
    # the cheaper series never needs more than a handful of terms: the point of choosing
    assert np.minimum(wiener.n_terms_small(u, eps), wiener.n_terms_large(u, eps)).max() < 8


@pytest.mark.parametrize("c", [0, 1])
def test_cdf_is_the_integral_of_the_density(c):
    for t in (0.32, 0.45, 0.8, 1.5, 4.0):
        quad, _ = integrate.quad(_density(c), T0, t, limit=400)
        assert float(wiener.cdf(np.array(t), np.array(c), V, A, Z, T0)) == pytest.approx(quad, abs=1e-9)


def test_survival_is_one_minus_both_cdfs():
    t = np.array([0.31, 0.5, 1.0, 3.0])
    both = wiener.cdf(t, 0.0, V, A, Z, T0) + wiener.cdf(t, 1.0, V, A, Z, T0)
    np.testing.assert_allclose(np.exp(wiener.log_survival(t, V, A, Z, T0)), 1.0 - both, atol=1e-12)
    assert float(wiener.log_survival(np.array(0.2), V, A, Z, T0)) == 0.0  # before t0 nothing has happened


def test_density_is_minus_infinity_before_the_non_decision_time():
    out = wiener.log_density(np.array([0.1, 0.3, 0.31]), np.array([1, 1, 1]), V, A, Z, T0)
    assert out[0] == -np.inf and out[1] == -np.inf and np.isfinite(out[2])


@pytest.mark.parametrize("c", [0.0, 1.0])
def test_sampler_matches_the_cdf(c):
    # RTs drawn given the choice follow the conditional CDF (Kolmogorov-Smirnov, 2,000 draws)
    rng = np.random.default_rng(3)
    rts = wiener.sample_rt(np.full(2000, c), V, A, Z, T0, rng)
    p_c = wiener.choice_probabilities(np.array(V), np.array(A), np.array(Z))[int(c)]
    res = stats.kstest(rts, lambda t: wiener.cdf(np.asarray(t), c, V, A, Z, T0) / p_c)
    assert res.pvalue > 0.01


def test_choices_and_rts_match_an_euler_simulation_of_the_diffusion():
    # an independent simulation of the diffusion itself: Euler steps of 1 ms with the boundaries
    # moved out by 0.5826 sqrt(dt), the continuity correction of the overshoot (Broadie,
    # Glasserman & Kou 1997), which leaves an O(dt) bias
    rng = np.random.default_rng(4)
    n, dt = 3000, 1e-3
    shift = 0.5826 * np.sqrt(dt)
    x = np.full(n, Z * A)
    t = np.zeros(n)
    hit = np.full(n, -1.0)
    while (hit < 0).any():
        live = hit < 0
        x[live] += V * dt + np.sqrt(dt) * rng.standard_normal(live.sum())
        t[live] += dt
        hit[live & (x >= A + shift)] = 1.0
        hit[live & (x <= -shift)] = 0.0
    p_upper = wiener.choice_probabilities(np.array(V), np.array(A), np.array(Z))[1]
    assert hit.mean() == pytest.approx(float(p_upper), abs=4 * np.sqrt(p_upper * (1 - p_upper) / n))
    drawn = wiener.sample_rt(hit, V, A, Z, T0, rng)
    for c in (0, 1):
        sel = hit == c
        se = np.sqrt(np.var(t[sel]) / sel.sum() + np.var(drawn[sel]) / sel.sum())
        assert np.mean(t[sel] + T0) == pytest.approx(np.mean(drawn[sel]), abs=4 * se + 2 * dt)


def test_torch_and_numpy_agree_and_autograd_matches_finite_differences():
    rng = np.random.default_rng(1)
    n = 40
    rt = rng.uniform(0.35, 3.0, n)
    c = rng.integers(0, 2, n).astype(float)
    args = [rng.normal(0, 2, n), rng.uniform(0.8, 3, n), rng.uniform(0.2, 0.8, n), np.full(n, 0.3)]
    expected = wiener.log_density(rt, c, *args)
    tensors = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in args]
    got = wiener.log_density(torch.tensor(rt), torch.tensor(c), *tensors)
    assert isinstance(got, torch.Tensor)
    np.testing.assert_allclose(got.detach().numpy(), expected, rtol=0, atol=1e-10)
    got.sum().backward()
    h = 1e-6
    for i, x in enumerate(tensors):
        up, down = list(args), list(args)
        up[i], down[i] = args[i] + h, args[i] - h
        fd = (wiener.log_density(rt, c, *up) - wiener.log_density(rt, c, *down)) / (2 * h)
        np.testing.assert_allclose(x.grad.numpy(), fd, atol=1e-6)
    deadline = torch.full((n,), 2.0, dtype=torch.float64)
    surv = wiener.log_survival(deadline, *[torch.tensor(x) for x in args])
    np.testing.assert_allclose(surv.numpy(), wiener.log_survival(np.full(n, 2.0), *args), atol=1e-10)


def test_each_series_on_its_own_elements_gives_the_bits_of_both_series_everywhere():
    # _log_standard gathers the elements of each series; the bits are those of computing both
    # series on every element (a neutral u elsewhere) and choosing per element, as it did before
    u = np.geomspace(0.005, 4.0, 301)
    w = np.random.default_rng(0).uniform(0.1, 0.9, u.size)
    eps = wiener.DEFAULT_EPS
    small = wiener.n_terms_small(u, eps) < wiener.n_terms_large(u, eps)
    assert 0 < small.sum() < u.size
    m = int(np.ceil((wiener.n_terms_small(u, eps)[small].max() - 1) / 2))
    n = int(np.ceil(wiener.n_terms_large(u, eps)[~small].max()))
    both = np.where(small, wiener._log_standard_small(np, np.where(small, u, 0.1), w, m),
                    wiener._log_standard_large(np, np.where(small, 1.0, u), w, n))
    got = wiener._log_standard(np, u.reshape(7, 43), w.reshape(7, 43), eps)
    assert got.shape == (7, 43)
    assert got.reshape(-1).tobytes() == both.tobytes()
    # torch: the same numbers, and gradients through the gather
    ut = torch.tensor(u, requires_grad=True)
    lt = wiener._log_standard(wiener.namespace_of(ut), ut, torch.tensor(w), eps)
    np.testing.assert_allclose(lt.detach().numpy(), both, rtol=1e-14)
    (g,) = torch.autograd.grad(lt.sum(), ut)
    assert torch.isfinite(g).all()
