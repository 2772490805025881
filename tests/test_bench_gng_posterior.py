"""benchmarks/bench_gng_posterior.py (issue 17 §2): hBayesDM's group-mean definition, the comparison
table and a seeded end-to-end run on a small synthetic gng file."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

pytest.importorskip("pyro")
pytest.importorskip("arviz")

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_gng_posterior.py"
_SPEC = importlib.util.spec_from_file_location("bench_gng_posterior", _PATH)
bench = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = bench
_SPEC.loader.exec_module(bench)


def test_phi_approx_is_stans_logistic_approximation_of_the_normal_cdf():
    x = np.linspace(-4.0, 4.0, 2001)
    # Bowling et al. (2009): largest absolute error 1.4e-4
    assert np.max(np.abs(bench.phi_approx(x) - stats.norm.cdf(x))) < 1.5e-4
    assert bench.phi_approx(0.0) == 0.5
    np.testing.assert_allclose(bench.phi_approx(1.0), 1.0 / (1.0 + np.exp(-(0.07056 + 1.5976))), rtol=1e-15)


def test_hbayesdm_group_mean_links():
    # gng_m4.stan: mu_xi = Phi_approx(mu_pr[1]), mu_b = mu_pr[3], mu_rhoRew = exp(mu_pr[5])
    assert bench.hbayesdm_group_mean("xi", 0.0) == 0.5
    np.testing.assert_allclose(bench.hbayesdm_group_mean("ep", [-1.0, 1.0]), bench.phi_approx([-1.0, 1.0]))
    assert bench.hbayesdm_group_mean("b", -0.7) == -0.7
    assert bench.hbayesdm_group_mean("pi", 2.5) == 2.5
    np.testing.assert_allclose(bench.hbayesdm_group_mean("rho_rew", 2.0), np.exp(2.0), rtol=1e-15)
    with pytest.raises(ValueError, match=r"name must be one of \['b', 'ep', .*got 'alpha'"):
        bench.hbayesdm_group_mean("alpha", 0.0)


def test_compare_reference_in_posterior_sds_and_over_the_rounding_interval():
    table = pd.DataFrame({"model": ["gng_m1", "gng_m1", "gng_m2"], "parameter": ["xi", "ep", "xi"],
                          "mean": [0.035, 0.17, 0.1], "sd": [0.01, 0.01, 0.01]})
    ref = {"gng_m1": {"xi": (0.03, 0.02), "ep": (0.15, 0.02)}}
    out = bench.compare_reference(table, ref, decimals=2)
    np.testing.assert_allclose(out.loc[0, ["z_ours", "z_ref", "z_ours_rounding"]].to_numpy(float), [0.5, 0.25, 0.0],
                               atol=1e-12)
    # 0.17 against 0.15 printed (0.145-0.155): 0.02 / 0.01 = 2 SDs, 0.015 / 0.01 beyond the interval
    np.testing.assert_allclose(out.loc[1, ["z_ours", "z_ref", "z_ours_rounding"]].to_numpy(float), [2.0, 1.0, 1.5])
    assert out.loc[2, ["ref_mean", "z_ours"]].isna().all()  # no reference for gng_m2


def test_modern_stan_and_stan_data(tmp_path):
    code = ("#include /pre/license.stan\ndata {\n  int<lower=1, upper=T> Tsubj[N];\n  real outcome[N, T];\n}\n"
            "generated quantities {\n  real log_lik[N];\n  vector[4] pGo;\n}")
    assert bench.modern_stan(code) == (
        "data {\n  array[N] int<lower=1, upper=T> Tsubj;\n  array[N, T] real outcome;\n}\n"
        "generated quantities {\n  array[N] real log_lik;\n  vector[4] pGo;\n}")
    path = tmp_path / "gng_exampleData.txt"
    path.write_text("trialNum\tcue\tkeyPressed\toutcome\tsubjID\n1\t2\t1\t1\t7\n2\t4\t0\t-1\t7\n1\t3\t0\t0\t5\n")
    data = bench.stan_data(path)
    assert (data["N"], data["T"], data["Tsubj"]) == (2, 2, [2, 1])
    assert data["cue"] == [[2, 4], [3, 1]] and data["pressed"] == [[1, 0], [0, -1]]
    assert data["outcome"] == [[1.0, -1.0], [0.0, 0.0]]


def _gng_file(path: Path, n_subjects: int, n_trials: int, seed: int) -> None:
    """Random go/no-go trials in hBayesDM's format (cues 1-2 win or not, 3-4 lose or not)."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_subjects):
        cue = rng.integers(1, 5, n_trials)
        outcome = np.where(cue <= 2, rng.integers(0, 2, n_trials), -rng.integers(0, 2, n_trials))
        rows.append(pd.DataFrame({"trialNum": np.arange(1, n_trials + 1), "cue": cue,
                                  "keyPressed": rng.integers(0, 2, n_trials), "outcome": outcome, "subjID": s + 1}))
    pd.concat(rows).to_csv(path, sep="\t", index=False)


def test_end_to_end_table_structure_group_definition_and_seeded_bytes(tmp_path):
    data = tmp_path / "gng_exampleData.txt"
    _gng_file(data, 2, 40, seed=3)
    argv = ["--data", str(data), "--models", "gng_m1", "gng_m2", "--chains", "2", "--warmup", "15", "--draws", "10"]
    result = bench.main([*argv, "--out", str(tmp_path / "a")])
    bench.main([*argv, "--out", str(tmp_path / "b")])
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()  # same seed, same draws
    table = pd.read_csv(tmp_path / "a.csv")
    assert list(table.columns) == ["model", "parameter", "mean", "sd", "q2.5", "q97.5", "r_hat", "ess_bulk",
                                   "ess_tail", "ref_mean", "ref_sd", "z_ours", "z_ref", "z_ours_rounding"]
    assert list(zip(table["model"], table["parameter"], strict=True)) == [
        ("gng_m1", "xi"), ("gng_m1", "ep"), ("gng_m1", "rho"),
        ("gng_m2", "xi"), ("gng_m2", "ep"), ("gng_m2", "b"), ("gng_m2", "rho")]
    assert table["ref_mean"].notna().tolist() == [True] * 3 + [False] * 4  # hBayesDM prints gng_m1's only
    assert (table["sd"] > 0).all() and (table["q2.5"] < table["mean"]).all() and (table["mean"] < table["q97.5"]).all()
    saved = json.loads((tmp_path / "a.json").read_text())
    assert saved["n_subjects"] == 2 and saved["n_trials"] == 80
    assert [f["model"] for f in saved["fits"]] == ["gng_m1", "gng_m2"]
    assert sorted(saved["ranking"]) == ["gng_m1", "gng_m2"]
    assert saved["hbayesdm_ranking"] == ["gng_m2", "gng_m1"]  # 1571.1 < 1588.8
    assert saved["ranking_matches"] == (saved["ranking"] == ["gng_m2", "gng_m1"])
    for fit in saved["fits"]:
        assert fit["looic"] > 0 and fit["cpu_s"] > 0 and fit["n_divergent"] >= 0
    assert saved["group_means"][3]["ref_mean"] is None  # NaN is written as null
    np.testing.assert_allclose([r["mean"] for r in saved["group_means"]], table["mean"], rtol=1e-5)
    assert result["ranking"] == saved["ranking"]

    # a saved run re-tabulated beside a Stan run of gng_m1 (draws made up: known means and SDs)
    rng = np.random.default_rng(0)
    stan = {"mu_xi": 0.04 + 0.01 * rng.standard_normal((2, 500)), "mu_ep": np.full((2, 500), 0.2),
            "mu_rho": 6.0 + rng.standard_normal((2, 500)), "log_lik": -50.0 + rng.standard_normal((2, 500, 2)),
            "divergent__": np.zeros((2, 500)), "compile_cpu_s": np.array(1.0), "sample_wall_s": np.array(2.0)}
    stan["mu_ep"][0, 0] = 0.21  # a non-zero SD
    np.savez(tmp_path / "ref_stan_gng_m1.npz", **stan)
    again = bench.main(["--from-json", str(tmp_path / "a.json"), "--stan-draws", str(tmp_path / "ref_stan_gng_m1.npz"),
                        "--out", str(tmp_path / "c")])
    table_c = pd.read_csv(tmp_path / "c.csv")
    pd.testing.assert_frame_equal(table_c[table.columns], table)  # our fits unchanged
    xi = table_c.iloc[0]
    np.testing.assert_allclose([xi["stan_mean"], xi["stan_sd"]], [stan["mu_xi"].mean(), stan["mu_xi"].std(ddof=1)],
                               rtol=1e-5)
    np.testing.assert_allclose(xi["z_stan"], (xi["mean"] - xi["stan_mean"]) / xi["stan_sd"], rtol=1e-4)
    assert table_c["stan_mean"].notna().tolist() == [True] * 3 + [False] * 4
    assert again["stan_ranking"] == ["gng_m1"] and again["ranking_matches_stan"] is True
    assert again["stan_fits"]["gng_m1"]["n_divergent"] == 0
    # PSIS-LOO of 2 subjects with N(-50, 1) log-likelihood draws: looic = -2 elpd close to 200
    assert 190.0 < again["stan_fits"]["gng_m1"]["looic"] < 205.0
    # a re-tabulated file re-tabulated again: the same table, one flat list of the fits' arguments
    bench.main(["--from-json", str(tmp_path / "c.json"), "--out", str(tmp_path / "d")])
    assert pd.read_csv(tmp_path / "d.csv").equals(table)
    assert [a["models"] for a in json.loads((tmp_path / "d.json").read_text())["args"]] == [["gng_m1", "gng_m2"]]


def test_group_table_is_the_transform_of_the_group_mean_not_the_mean_of_subjects(tmp_path):
    from cogmodels.fits import HierarchicalNUTS
    from cogmodels.io import read_hbayesdm
    from cogmodels.models import make_model

    data = tmp_path / "gng_exampleData.txt"
    _gng_file(data, 2, 30, seed=5)
    est = HierarchicalNUTS(make_model("gng_m1"), n_chains=2, n_warmup=10, n_draws=8, sampler="chees", seed=1)
    est.fit(read_hbayesdm(data, "gng"))
    table = bench.group_table(est).set_index("parameter")
    post = est.inference_data_.posterior
    mu = post["mu"].to_numpy()
    # xi: logistic(mu) (our link) averaged over draws; rho: exp(mu)
    np.testing.assert_allclose(table.loc["xi", "mean"], np.mean(1.0 / (1.0 + np.exp(-mu[..., 0]))), rtol=1e-12)
    np.testing.assert_allclose(table.loc["rho", "mean"], np.mean(np.exp(mu[..., 2])), rtol=1e-12)
    np.testing.assert_allclose(table["mean"].to_numpy(), post["group"].to_numpy().reshape(-1, 3).mean(axis=0),
                               rtol=1e-12)
    subjects_mean = post["params"].to_numpy().reshape(-1, 2, 3).mean(axis=(0, 1))
    assert not np.allclose(table["mean"].to_numpy(), subjects_mean)
    assert table["sd"].gt(0).all() and table["r_hat"].notna().all()


class _FakeStanFit:
    """PyStan 3's ``Fit`` layout: ``_draws`` (flat params, draws, chains); ``fit[name]`` is
    ``(dims..., draws * chains)`` with the chain index fastest (stan/fit.py ``__getitem__``)."""

    def __init__(self, n_draws: int, n_chains: int, n_subjects: int) -> None:
        self.param_names = ("mu_pr", "mu_xi", "log_lik")
        self.dims = ([3], [], [n_subjects])
        d, c = np.meshgrid(np.arange(n_draws), np.arange(n_chains), indexing="ij")
        rows = [*(1000.0 * j + 100.0 * c + d for j in range(3)), 100.0 * c + d,
                *(-(1000.0 * i + 100.0 * c + d) for i in range(n_subjects)), (c == 1) & (d == 0)]
        self._draws = np.stack(rows).astype(float)  # mu_pr[3], mu_xi, log_lik[N], divergent__
        self._index = {"mu_pr": [0, 1, 2], "mu_xi": [3], "log_lik": list(range(4, 4 + n_subjects)),
                       "divergent__": [4 + n_subjects]}

    def __getitem__(self, name):
        idx = self._index[name]
        return self._draws[idx].reshape(len(idx), -1).reshape(len(idx), -1, order="F")


def test_run_stan_orders_pystan_draws_as_chains_by_draws(tmp_path, monkeypatch):
    import argparse
    import types

    fake = _FakeStanFit(n_draws=5, n_chains=3, n_subjects=2)
    built = {}

    def build(code, data, random_seed):
        built.update(code=code, data=data, seed=random_seed)
        return types.SimpleNamespace(sample=lambda num_chains, num_warmup, num_samples: fake)

    monkeypatch.setitem(sys.modules, "stan", types.SimpleNamespace(build=build))
    (tmp_path / "gng_m1.stan").write_text("#include /pre/license.stan\ndata {\n  real outcome[N, T];\n}\n")
    args = argparse.Namespace(chains=3, warmup=4, draws=5, seed=7)
    out = bench.run_stan(tmp_path, {"N": 2}, "gng_m1", args)
    assert built["code"] == "data {\n  array[N, T] real outcome;\n}" and built["seed"] == 7
    assert sorted(out) == ["compile_cpu_s", "divergent__", "log_lik", "mu_xi", "sample_wall_s"]  # not mu_pr
    c, d = np.meshgrid(np.arange(3), np.arange(5), indexing="ij")
    np.testing.assert_array_equal(out["mu_xi"], 100.0 * c + d)  # (chains, draws)
    np.testing.assert_array_equal(out["log_lik"][..., 1], -(1000.0 + 100.0 * c + d))  # (chains, draws, N)
    assert out["divergent__"].shape == (3, 5) and out["divergent__"][1, 0] == 1 and out["divergent__"].sum() == 1


# -- hBayesDM's own priors and links on our likelihood (--priors hbayesdm / hbayesdm05) -------------
def test_probit_to_logit_makes_our_logistic_link_hbayesdms_phi_approx():
    u = np.linspace(-5.0, 5.0, 401)
    z, dz = bench.probit_to_logit(u, True)
    np.testing.assert_allclose(1.0 / (1.0 + np.exp(-z)), bench.phi_approx(u), rtol=1e-14)
    h = 1e-6
    np.testing.assert_allclose(dz, (bench.probit_to_logit(u + h, True)[0] - bench.probit_to_logit(u - h, True)[0])
                               / (2 * h), rtol=1e-8)
    z2, dz2 = bench.probit_to_logit(np.stack([u, u], axis=1), np.array([True, False]))
    np.testing.assert_array_equal(z2[:, 1], u)  # exp and the identity are the same links in both
    np.testing.assert_array_equal(dz2[:, 1], 1.0)
    np.testing.assert_array_equal(z2[:, 0], z)


@pytest.mark.parametrize(("family", "scale", "dist"), [("normal", 0.2, stats.halfnorm(scale=0.2)),
                                                       ("cauchy", 5.0, stats.halfcauchy(scale=5.0))])
def test_half_prior_is_scipys_up_to_a_constant(family, scale, dist):
    sigma = np.array([0.01, 0.1, 0.5, 2.0, 30.0])
    value, d_log = bench.half_prior(sigma, family, scale)
    np.testing.assert_allclose(value - value[0], dist.logpdf(sigma) - dist.logpdf(sigma[0]), rtol=1e-12, atol=1e-12)
    h = 1e-6  # d/d log sigma
    num = (bench.half_prior(sigma * np.exp(h), family, scale)[0] - bench.half_prior(sigma * np.exp(-h), family, scale)[0])
    np.testing.assert_allclose(d_log, num / (2 * h), rtol=1e-7, atol=1e-10)
    with pytest.raises(ValueError, match=r"family must be one of \['cauchy', 'normal'\], got 'student'"):
        bench.half_prior(sigma, "student", 1.0)


@pytest.fixture(scope="module")
def small_gng(tmp_path_factory):
    from cogmodels.io import read_hbayesdm

    path = tmp_path_factory.mktemp("gng") / "gng_exampleData.txt"
    _gng_file(path, 3, 40, seed=11)
    return path, read_hbayesdm(path, "gng")


@pytest.mark.parametrize("priors", ["hbayesdm", "hbayesdm05"])
def test_hbayesdm_log_density_is_hbayesdms_stan_model_on_our_likelihood(small_gng, priors):
    """Differences of the density between points equal hBayesDM's gng_m1.stan written out with
    scipy (its priors, Phi_approx and exp links, our likelihood); the gradient is its derivative."""
    from cogmodels.fits.autodiff import LaneLogLikelihood
    from cogmodels.likelihood import log_likelihood, trial_arrays
    from cogmodels.models import make_model

    model = make_model("gng_m1")
    data = trial_arrays(small_gng[1], model)
    n, s, k = 2, 3, 3
    probit = np.array([True, True, False])
    family, scale = bench.HBAYESDM_PRIORS[priors]
    lanes = LaneLogLikelihood(model, data, np.tile(np.arange(s), n), "finite_difference")
    density = bench.hbayesdm_log_density(lanes, probit, n, s, family, scale)
    sigma_prior = stats.halfnorm(scale=scale) if family == "normal" else stats.halfcauchy(scale=scale)

    def stan_model(x):  # one chain: mu_pr, log sigma, raw (subjects x k), as in gng_m1.stan
        mu, sigma, raw = x[:k], np.exp(x[k:2 * k]), x[2 * k:].reshape(s, k)
        u = mu + sigma * raw
        params = {"xi": bench.phi_approx(u[:, 0]), "ep": bench.phi_approx(u[:, 1]), "rho": np.exp(u[:, 2])}
        return (log_likelihood(model, params, data).sum() + stats.norm.logpdf(mu).sum()
                + sigma_prior.logpdf(sigma).sum() + x[k:2 * k].sum() + stats.norm.logpdf(raw).sum())

    rng = np.random.default_rng(4)
    x = np.concatenate([rng.normal(0.0, 0.8, (n, 2 * k)), rng.standard_normal((n, s * k))], axis=1)
    x[:, k:2 * k] -= 1.0
    value, grad = density(x)
    y = x + 0.3 * rng.standard_normal(x.shape)
    np.testing.assert_allclose(density(y)[0] - value, [stan_model(b) - stan_model(a) for a, b in zip(x, y, strict=True)],
                               rtol=1e-10)
    h = 1e-5
    for j in [0, 1, 2, k, k + 2, 2 * k, x.shape[1] - 1]:
        e = np.zeros_like(x)
        e[:, j] = h
        np.testing.assert_allclose(grad[:, j], (density(x + e)[0] - density(x - e)[0]) / (2 * h), rtol=1e-5, atol=1e-6)
    far = x.copy()
    far[1, 0] = 40.0  # h(40) = 4579 > 700: rejected, like HierarchicalNUTS's own density
    far_value, far_grad = density(far)
    assert far_value[1] == -np.inf and not far_grad[1].any() and far_value[0] == value[0]


def test_hbayesdm_prior_nuts_refusals():
    from cogmodels.models import make_model

    with pytest.raises(ValueError, match="gng_m1 only, got model 'gng_m2'"):
        bench.hbayesdm_prior_nuts(make_model("gng_m2"), "hbayesdm")
    with pytest.raises(ValueError, match=r"priors must be one of \['hbayesdm', 'hbayesdm05'\], got 'stan'"):
        bench.hbayesdm_prior_nuts(make_model("gng_m1"), "stan")
    with pytest.raises(ValueError, match="--jobs must be 1 with hBayesDM's priors .*got 2"):
        bench.hbayesdm_prior_nuts(make_model("gng_m1"), "hbayesdm", n_jobs=2)


def test_hbayesdm_priors_end_to_end_give_hbayesdms_group_means_and_seeded_bytes(small_gng, tmp_path):
    path = small_gng[0]
    argv = ["--data", str(path), "--models", "gng_m1", "--chains", "2", "--warmup", "15", "--draws", "10",
            "--priors", "hbayesdm05"]
    bench.main([*argv, "--out", str(tmp_path / "a")])
    bench.main([*argv, "--out", str(tmp_path / "b")])
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    saved = json.loads((tmp_path / "a.json").read_text())
    assert saved["fits"][0]["priors"] == "hbayesdm05" and saved["args"]["priors"] == "hbayesdm05"

    from cogmodels.io import read_hbayesdm
    from cogmodels.models import make_model

    est = bench.hbayesdm_prior_nuts(make_model("gng_m1"), "hbayesdm", n_chains=2, n_warmup=15, n_draws=10, seed=3)
    est.fit(read_hbayesdm(path, "gng"))
    post = est.inference_data_.posterior
    mu, group, params = post["mu"].to_numpy(), post["group"].to_numpy(), post["params"].to_numpy()
    # mu holds h(mu_pr): our logistic of it is hBayesDM's Phi_approx(mu_pr), our exp its exp
    mu_pr = np.array([np.roots([bench.PHI_APPROX[0], 0.0, bench.PHI_APPROX[1], -m])[2].real for m in mu[..., 0].ravel()])
    np.testing.assert_allclose(group[..., 0].ravel(), bench.phi_approx(mu_pr), rtol=1e-10)
    np.testing.assert_allclose(group[..., 2], np.exp(mu[..., 2]), rtol=1e-12)
    table = bench.group_table(est).set_index("parameter")
    np.testing.assert_allclose(table["mean"].to_numpy(), group.reshape(-1, 3).mean(axis=0), rtol=1e-12)
    assert ((params[..., :2] > 0) & (params[..., :2] < 1)).all() and (params[..., 2] > 0).all()
