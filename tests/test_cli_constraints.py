"""``cogmodels fit`` with --fix, --tie, --by and --prior: free parameters counted, errors named."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from cogmodels.cli import main

pytestmark = pytest.mark.usefixtures("silence_warnings")


def _fit(stakes_csv, tmp_path, *extra):
    out = tmp_path / "out"
    assert main(["fit", str(stakes_csv), "--model", "q_learning", "--starts", "1", "--quiet", "--out", str(out),
                 *extra]) == 0
    return pd.read_csv(out / "fits.csv"), json.loads((out / "summary.json").read_text())


def test_fix_and_by_count_the_free_parameters(stakes_csv, tmp_path, capsys):
    fits, summary = _fit(stakes_csv, tmp_path, "--fix", "kappa=0.2", "--by", "beta:stakes")
    assert list(fits.columns) == ["subject", "alpha", "beta_1", "beta_5", "loglik", "n_trials", "aic", "bic"]
    assert summary["n_params"] == 3
    assert summary["model"] == "q_learning|kappa=0.2|beta~stakes"
    assert summary["constraints"] == {"fix": ["kappa=0.2"], "tie": [], "by": ["beta:stakes"]}
    np.testing.assert_allclose(fits["aic"], 2 * 3 - 2 * fits["loglik"])
    np.testing.assert_allclose(fits["bic"], 3 * np.log(60) - 2 * fits["loglik"])
    assert "3 free parameters" in capsys.readouterr().out


def test_map_runs_on_default_priors_and_takes_overrides(stakes_csv, tmp_path):
    fits, summary = _fit(stakes_csv, tmp_path, "--method", "map", "--fix", "kappa=0.2")
    assert summary["priors"] == {} and list(fits.columns)[1:3] == ["alpha", "beta"]
    tight, summary = _fit(stakes_csv, tmp_path, "--method", "map", "--fix", "kappa=0.2", "--prior", "beta=norm(2, 0.01)")
    assert summary["priors"] == {"beta": "norm(2, 0.01)"}
    np.testing.assert_allclose(tight["beta"], 2.0, atol=0.05)


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--fix", "gamma=1"], r"--fix gamma: model 'q_learning' has no parameter 'gamma'; its parameters are \['alpha', 'beta', 'kappa'\]"),
        (["--fix", "beta=30"], r"--fix beta must be a finite number in \[0, 20\], got 30"),
        (["--tie", "alpha"], r"--tie takes two or more parameter names joined by '=', e.g. alpha1=alpha2; got 'alpha'"),
        (["--by", "beta"], r"--by takes parameter:column, e.g. w:stakes; got 'beta'"),
        (["--by", "beta:nope"], r"by: the condition column 'nope' is not in the trial table"),
        (["--prior", "beta=gamma(2,1)"], r"--prior applies to --method map only"),
        (["--method", "map", "--prior", "beta=cauchy(0,1)"],
         r"--prior beta: unknown family 'cauchy'; got 'cauchy\(0,1\)'\. Allowed priors: beta\(a, b\), gamma\(shape, scale\)"),
        (["--method", "map", "--by", "beta:stakes", "--prior", "beta=gamma(2,1)"],
         r"--prior beta: model 'q_learning\|beta~stakes' has no parameter 'beta'; its parameters are \['alpha', 'beta_1', 'beta_5', 'kappa'\]"),
    ],
)
def test_bad_constraints_exit_2_naming_the_flag(stakes_csv, tmp_path, capsys, extra, match):
    with pytest.raises(SystemExit) as err:
        main(["fit", str(stakes_csv), "--model", "q_learning", "--out", str(tmp_path / "o"), *extra])
    assert err.value.code == 2
    msg = capsys.readouterr().err
    assert "cogmodels fit: error:" in msg
    assert re.search(match, msg), msg


@pytest.mark.slow
def test_compare_takes_constrained_names(stakes_csv, tmp_path):
    out = tmp_path / "cmp"
    assert main(["compare", str(stakes_csv), "--models", "q_learning,q_learning|kappa=0.2|beta~stakes",
                 "--starts", "1", "--quiet", "--out", str(out)]) == 0
    table = pd.read_csv(out / "comparison.csv", index_col=0)
    assert table.loc["q_learning", "n_params"] == 3
    assert table.loc["q_learning|kappa=0.2|beta~stakes", "n_params"] == 3  # alpha, beta_1, beta_5
    fits = pd.read_csv(out / "fits_q_learning_kappa=0.2_beta~stakes.csv")
    assert {"beta_1", "beta_5"} <= set(fits.columns)


@pytest.mark.slow
def test_recover_with_a_fixed_parameter(tmp_path):
    out = tmp_path / "rec"
    assert main(["recover", "--model", "q_learning", "--env", "cogmodels/MultiArmedBandit-v0", "--fix", "kappa=0",
                 "--subjects", "4", "--trials", "40", "--starts", "1", "--quiet", "--out", str(out)]) == 0
    assert set(pd.read_csv(out / "recovery.csv")["param"]) == {"alpha", "beta"}


def test_fit_takes_a_constrained_name_as_printed(stakes_csv, tmp_path):
    fits, summary = _fit(stakes_csv, tmp_path, "--by", "beta:stakes")
    again, summary2 = _fit(stakes_csv, tmp_path, "--model", "q_learning|beta~stakes")
    assert summary2["model"] == summary["model"] == "q_learning|beta~stakes"
    pd.testing.assert_frame_equal(fits, again)


def _recover_fails(capsys, *argv):
    with pytest.raises(SystemExit) as err:
        main(["recover", "--quiet", "--starts", "1", *argv])
    assert err.value.code == 2
    return capsys.readouterr().err


def test_recover_takes_priors_through_the_shared_parser(tmp_path, capsys):
    out = tmp_path / "rec"
    # a Beta(1000, 1000) prior (sd 0.011) pins the MAP learning rate at 0.5 whatever the truth
    assert main(["recover", "--model", "q_learning", "--env", "cogmodels/MultiArmedBandit-v0", "--fix", "kappa=0",
                 "--method", "map", "--prior", "alpha=beta(1000,1000)", "--subjects", "3", "--trials", "30",
                 "--starts", "1", "--quiet", "--out", str(out)]) == 0
    table = pd.read_csv(out / "recovery.csv").set_index("param")
    np.testing.assert_allclose(table.loc["alpha", "fitted"], 0.5, atol=0.04)
    assert table.loc["alpha", "true"].std() > 0.1  # the truths are spread: the prior did the pinning
    msg = _recover_fails(capsys, "--model", "q_learning", "--env", "cogmodels/MultiArmedBandit-v0",
                         "--prior", "alpha=beta(2,2)", "--out", str(tmp_path / "o"))
    assert "cogmodels recover: error: --prior applies to --method map only (maximum likelihood uses no prior and " \
           "em estimates its group prior), got --method mle" in msg


def test_recover_by_a_condition_the_task_does_not_give_is_refused(tmp_path, capsys):
    msg = _recover_fails(capsys, "--model", "two_step_hybrid", "--by", "w:stakes", "--env", "cogmodels/TwoStep-v0",
                         "--out", str(tmp_path / "o"))
    assert ("cogmodels recover: error: --by w:stakes: env 'cogmodels/TwoStep-v0' gives no 'stakes' before a trial "
            "(its trials give ['state']): a parameter split by 'stakes' cannot take each trial's level there; "
            "simulate in a task whose trials give the column") in msg
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_recover_by_a_condition_of_the_task_writes_each_levels_parameter(tmp_path):
    out = tmp_path / "rec"
    assert main(["recover", "--model", "two_step_stakes", "--env", "cogmodels/TwoStepStakes-v0", "--by", "beta:stakes",
                 "--fix", "kappa=0", "--subjects", "2", "--trials", "30", "--starts", "1", "--quiet",
                 "--out", str(out)]) == 0
    table = pd.read_csv(out / "recovery.csv")
    assert set(table["param"]) == {"alpha", "beta_1", "beta_5", "lam", "w_low", "w_high"}
