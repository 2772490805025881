"""The models of hBayesDM's tasks (gng, igt, pst, dd) against hBayesDM's Stan code, and fitted to
hBayesDM's example data in ../shared/data/raw/hBayesDM (GPL-3.0: read there, never copied)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import cogmodels  # noqa: F401
from cogmodels.fits import ConvergenceWarning, MaximumLikelihood, compare_models
from cogmodels.io import read_hbayesdm
from cogmodels.likelihood import log_likelihood, trial_latents
from cogmodels.models import make_model

RAW = Path(__file__).resolve().parents[2] / "shared" / "data" / "raw" / "hBayesDM"
needs_raw = pytest.mark.skipif(not RAW.is_dir(), reason="../shared/data/raw/hBayesDM is absent")


def _logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _stan_gng(cue, pressed, outcome, xi, ep, b, pi, rho_rew, rho_pun, pavlovian):
    """hBayesDM's gng_m1..m4 likelihood, the Stan loop written out (commons/stan_files/gng_m*.stan):
    m1 is b = pi = 0 and rho_rew = rho_pun, m2 adds b, m3 pi (``pavlovian``), m4 two rhos."""
    qg, qng, sv = [0.0] * 4, [0.0] * 4, [0.0] * 4
    ll = 0.0
    for c, a, r in zip(cue, pressed, outcome):
        wg = qg[c] + b + (pi * sv[c] if pavlovian else 0.0)
        p_go = _logistic(wg - qng[c]) * (1 - xi) + xi / 2
        ll += math.log(p_go if a else 1 - p_go)
        rho = rho_rew if r >= 0 else rho_pun
        sv[c] += ep * (rho * r - sv[c])
        if a:
            qg[c] += ep * (rho * r - qg[c])
        else:
            qng[c] += ep * (rho * r - qng[c])
    return ll


@pytest.mark.parametrize("name", ["gng_m1", "gng_m2", "gng_m3", "gng_m4"])
def test_gng_likelihood_is_hbayesdm_stan_model(name):
    rng = np.random.default_rng(11)
    n = 120
    cue = rng.integers(0, 4, n)
    pressed = rng.integers(0, 2, n)
    outcome = np.where(cue < 2, rng.integers(0, 2, n), -rng.integers(0, 2, n)).astype(float)
    df = pd.DataFrame({"subject": 0, "trial": range(n), "state": cue, "choice": pressed, "reward": outcome})
    values = {"xi": 0.07, "ep": 0.18, "b": 0.6, "pi": -0.9, "rho": 4.0, "rho_rew": 5.5, "rho_pun": 2.5}
    model = make_model(name)
    params = {k: values[k] for k in model.param_names}
    rho_rew = params.get("rho_rew", params.get("rho"))
    ref = _stan_gng(cue, pressed, outcome, params["xi"], params["ep"], params.get("b", 0.0),
                    params.get("pi", 0.0), rho_rew, params.get("rho_pun", rho_rew), "pi" in params)
    assert log_likelihood(model, params, df)[0] == pytest.approx(ref, rel=1e-12)


def test_gng_latents_are_hbayesdm_regressors():
    df = pd.DataFrame({"subject": 0, "trial": range(4), "state": [2, 2, 0, 2], "choice": [1, 0, 1, 1],
                       "reward": [-1.0, 0.0, 1.0, -1.0]})
    params = {"xi": 0.1, "ep": 0.5, "b": 0.2, "pi": 1.0, "rho_rew": 3.0, "rho_pun": 2.0}
    lat = trial_latents(make_model("gng_m4"), params, df)
    # cue 2: go punished (-1 * rho_pun = -2): Qgo = 0 -> -1, SV 0 -> -1; then no-go, 0: Qnogo stays 0, SV -> -0.5
    np.testing.assert_allclose(lat["q_go"], [0.0, -1.0, 0.0, -1.0])
    np.testing.assert_allclose(lat["q_nogo"], [0.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(lat["sv"], [0.0, -1.0, 0.0, -0.5])
    np.testing.assert_allclose(lat["w_go"], [0.2, -1.8, 0.2, -1.3])


def test_pst_igt_dd_likelihoods_are_hbayesdm_stan_models():
    rng = np.random.default_rng(3)
    n = 80
    # pst_gainloss_Q.stan: P(option1) = logistic(beta (ev[o1] - ev[o2])), alpha by the sign of pe
    o1 = rng.integers(0, 3, n) * 2
    o2 = o1 + 1
    choice = rng.integers(0, 2, n)  # 0 = option1
    reward = rng.integers(0, 2, n).astype(float)
    ap, an, beta = 0.3, 0.1, 4.0
    ev, ref = np.zeros(6), 0.0
    for a, b, c, r in zip(o1, o2, choice, reward):
        p1 = _logistic(beta * (ev[a] - ev[b]))
        ref += math.log(p1 if c == 0 else 1 - p1)
        co = a if c == 0 else b
        pe = r - ev[co]
        ev[co] += (ap if pe >= 0 else an) * pe
    pst = pd.DataFrame({"subject": 0, "trial": range(n), "option1": o1, "option2": o2, "choice": choice, "reward": reward})
    got = log_likelihood(make_model("pst_gainloss_Q"), {"alpha_pos": ap, "alpha_neg": an, "beta": beta}, pst)[0]
    assert got == pytest.approx(ref, rel=1e-12)
    # igt_pvl_delta.stan: softmax((3^cons - 1) ev); utility x^alpha or -lambda |x|^alpha; x = outcome / 100
    deck = rng.integers(0, 4, n)
    outcome = rng.choice([100.0, 50.0, 0.0, -250.0, -1150.0], n)
    A, alpha, cons, lam = 0.2, 0.6, 1.5, 2.5
    ev, ref = np.zeros(4), 0.0
    for d, x in zip(deck, outcome):
        logits = (3**cons - 1) * ev
        ref += logits[d] - np.log(np.exp(logits).sum())
        x = x / 100
        u = x**alpha if x >= 0 else -lam * (-x) ** alpha
        ev[d] += A * (u - ev[d])
    igt = pd.DataFrame({"subject": 0, "trial": range(n), "choice": deck, "reward": outcome})
    got = log_likelihood(make_model("igt_pvl_delta"), {"A": A, "alpha": alpha, "cons": cons, "lambda": lam}, igt)[0]
    assert got == pytest.approx(ref, rel=1e-12)
    # dd_hyperbolic.stan: P(later) = logistic(beta (A_l / (1 + k D_l) - A_s / (1 + k D_s)))
    dl, al = rng.uniform(1, 180, n), rng.uniform(10.5, 50, n)
    later = rng.integers(0, 2, n)
    k, beta = 0.05, 0.8
    p_later = [_logistic(beta * (a / (1 + k * d) - 10.0)) for a, d in zip(al, dl)]
    ref = sum(math.log(p if c else 1 - p) for p, c in zip(p_later, later))
    dd = pd.DataFrame({"subject": 0, "trial": range(n), "choice": later, "reward": np.where(later, al, 10.0),
                       "delay_later": dl, "amount_later": al, "delay_sooner": 0.0, "amount_sooner": 10.0})
    assert log_likelihood(make_model("dd_hyperbolic"), {"k": k, "beta": beta}, dd)[0] == pytest.approx(ref, rel=1e-12)


def test_pst_refuses_stimuli_beyond_n_stimuli():
    df = pd.DataFrame({"subject": 0, "trial": [0], "option1": [0], "option2": [6], "choice": [0], "reward": [1.0]})
    with pytest.raises(ValueError, match=r"column 'option2' must hold integers in \[0, 5\] for model 'pst_gainloss_Q'"):
        log_likelihood(make_model("pst_gainloss_Q"), {"alpha_pos": 0.3, "alpha_neg": 0.3, "beta": 1.0}, df)


# --- hBayesDM's example data ----------------------------------------------------------------------

#: hBayesDM's posterior 95 % intervals of gng_m1's group means on gng_exampleData.txt (4 chains x
#: 1000 draws): R/vignettes/getting_started.Rmd, "output1$fit" (CCS-Lab/hBayesDM @ 9cbe245).
#: The vignette shows gng_m1's only; hBayesDM publishes no intervals for gng_m2..m4.
HBAYESDM_GNG_M1_95 = {"xi": (0.00, 0.08), "ep": (0.11, 0.19), "rho": (4.76, 7.61)}
#: hBayesDM's LOOIC of the four models on the same data (same vignette, "printFit"): m4 is best.
HBAYESDM_GNG_LOOIC = {"gng_m1": 1588.843, "gng_m2": 1571.129, "gng_m3": 1573.872, "gng_m4": 1543.335}


@pytest.fixture(scope="module")
def gng_comparison():
    trials = read_hbayesdm(RAW / "gng_exampleData.txt")
    # 30 EM iterations keep the test affordable: the group means have settled by then (gng_m1:
    # xi, ep, rho = .046, .131, 6.54 after 30 iterations, .046, .133, 6.44 after 100)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        cmp = compare_models(trials, list(HBAYESDM_GNG_LOOIC), method="em", n_starts=3, seed=0,
                             bms_on="laplace", max_em_iter=30, progress=False)
    return cmp, [w for w in caught if issubclass(w.category, ConvergenceWarning)]


@needs_raw
@pytest.mark.slow
@pytest.mark.realdata
def test_gng_m1_em_group_means_inside_hbayesdm_intervals(gng_comparison):
    """EM's group means (the group mean of the unconstrained parameters, mapped back: the
    population median, as hBayesDM's ``mu_xi = Phi_approx(mu_pr[1])`` is) fall inside the 95 %
    intervals hBayesDM publishes for the same data."""
    em = gng_comparison[0].fits["gng_m1"]
    for name, (lo, hi) in HBAYESDM_GNG_M1_95.items():
        assert lo <= em.group_params_[name] <= hi, (name, em.group_params_[name], (lo, hi))


@needs_raw
@pytest.mark.slow
@pytest.mark.realdata
def test_gng_comparison_ranks_m4_best_as_hbayesdm_looic(gng_comparison):
    """hBayesDM's LOOIC leaves one subject out (its ``log_lik[i]`` sums a subject's trials): it
    estimates -2 Σ_i log p(D_i | the others), the subject's evidence under the group prior,
    which EM's Laplace ``log_evidence`` approximates with the group prior at its estimate."""
    cmp = gng_comparison[0]
    assert cmp.best("log_evidence") == "gng_m4"
    looic = -2 * cmp.table["log_evidence"]
    assert looic.idxmin() == min(HBAYESDM_GNG_LOOIC, key=HBAYESDM_GNG_LOOIC.get)


@needs_raw
@pytest.mark.slow
@pytest.mark.realdata
def test_gng_em_fits_converge(gng_comparison):
    cmp, caught = gng_comparison
    assert not caught, [str(w.message) for w in caught]
    assert all(fit.n_em_iter_ < fit.max_em_iter for fit in cmp.fits.values())


@needs_raw
@pytest.mark.realdata
@pytest.mark.filterwarnings("ignore:.*on a parameter bound:UserWarning")
@pytest.mark.parametrize(("task", "name"), [("igt", "igt_pvl_delta"), ("pst", "pst_gainloss_Q"), ("dd", "dd_hyperbolic")])
def test_models_explain_hbayesdm_example_choices_better_than_chance(task, name):
    """Maximum-likelihood fits beat choosing at random by a likelihood-ratio test (the models
    nest chance at ``cons = 0`` / ``beta = 0``), which a wrongly coded choice, option or outcome
    column would not: the parameters' bounds keep the models from inverting a choice."""
    trials = read_hbayesdm(RAW / f"{task}_exampleData.txt")
    model = make_model(name)
    fit = MaximumLikelihood(model, n_starts=2, seed=0).fit(trials, progress=False)
    chance = fit.n_trials_ * np.log(1 / model.n_actions)
    deviance = 2 * (fit.loglik_.sum() - chance.sum())
    assert deviance > stats.chi2.ppf(0.999, df=model.n_params * len(fit.loglik_))
