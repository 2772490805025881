"""The ``cogmodels`` command line: every subcommand end to end, and its errors."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pandas as pd
import pytest

from cogmodels.cli import main
from cogmodels.envs import ENV_IDS
from cogmodels.models import MODELS


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.fixture(scope="module")
def sim_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("sim") / "sim.csv"
    rc = main(["simulate", "--env", "cogmodels/ReversalLearning-v0", "--model", "q_learning",
               "--param", "alpha=0.3", "--param", "beta=4", "--param", "kappa=0.2",
               "--subjects", "6", "--trials", "120", "--seed", "0", "--out", str(path)])
    assert rc == 0
    return path


def test_envs_lists_every_registered_id(capsys):
    assert main(["envs"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines] == list(ENV_IDS)
    assert "[vector]" in next(line for line in lines if line.startswith("cogmodels/TwoStep-v0"))
    assert main(["envs", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rows] == list(ENV_IDS)
    assert {"entry_point", "vector_entry_point", "observation_space", "action_space"} <= set(rows[0])


def test_models_json_has_parameters_with_bounds_and_tasks(capsys):
    assert main(["models", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == set(MODELS)
    q = rows["q_learning"]
    assert [(p["name"], p["low"], p["high"]) for p in q["parameters"]] == [
        ("alpha", 0.0, 1.0), ("beta", 0.0, 20.0), ("kappa", -5.0, 5.0)]
    assert "cogmodels/ReversalLearning-v0" in q["tasks"]
    assert main(["models"]) == 0
    assert "rlwm:" in capsys.readouterr().out


def test_simulate_writes_the_trial_table_and_true_parameters(sim_csv):
    df = pd.read_csv(sim_csv)
    assert df.groupby("subject").size().tolist() == [120] * 6
    assert {"subject", "session", "trial", "choice", "reward", "correct_action"} <= set(df.columns)
    truth = pd.read_csv(sim_csv.with_name("sim_params.csv"))
    np.testing.assert_allclose(truth["alpha"], 0.3)


def test_simulate_same_seed_same_bytes(tmp_path, sim_csv):
    again = tmp_path / "again.csv"
    main(["simulate", "--env", "cogmodels/ReversalLearning-v0", "--model", "q_learning",
          "--param", "alpha=0.3", "--param", "beta=4", "--param", "kappa=0.2",
          "--subjects", "6", "--trials", "120", "--seed", "0", "--out", str(again)])
    assert again.read_bytes() == sim_csv.read_bytes()


@pytest.mark.parametrize("method", ["mle", "em"])
def test_fit_writes_fits_and_summary(tmp_path, sim_csv, method, capsys):
    out = tmp_path / method
    assert main(["fit", str(sim_csv), "--model", "q_learning", "--method", method,
                 "--starts", "2", "--seed", "0", "--out", str(out)]) == 0
    fits = pd.read_csv(out / "fits.csv")
    assert list(fits.columns) == ["subject", "alpha", "beta", "kappa", "loglik", "n_trials", "aic", "bic"]
    assert len(fits) == 6 and (fits["n_trials"] == 120).all()
    np.testing.assert_allclose(fits["aic"], 2 * 3 - 2 * fits["loglik"])
    np.testing.assert_allclose(fits["bic"], 3 * np.log(120) - 2 * fits["loglik"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_subjects"] == 6 and summary["method"] == method
    assert summary["total_loglik"] == pytest.approx(fits["loglik"].sum())
    if method == "em":
        assert set(summary["group_params"]) == {"alpha", "beta", "kappa"}
    assert "fits.csv" in capsys.readouterr().out


def test_compare_writes_table_and_figure(tmp_path, sim_csv):
    out = tmp_path / "cmp"
    assert main(["compare", str(sim_csv), "--models", "q_learning,wsls,random", "--starts", "2",
                 "--out", str(out)]) == 0
    table = pd.read_csv(out / "comparison.csv", index_col=0)
    assert set(table.index) == {"q_learning", "wsls", "random"}
    assert {"aic", "bic", "pxp", "xp"} <= set(table.columns)
    assert table["bic"].idxmin() == "q_learning"
    assert (out / "comparison.png").stat().st_size > 1000
    assert (out / "fits_q_learning.csv").exists()


def test_compare_with_cross_validation_and_a_tiny_rnn_ceiling(tmp_path, sim_csv):
    out = tmp_path / "cmp_cv"
    assert main(["compare", str(sim_csv), "--models", "q_learning,random", "--starts", "2",
                 "--cv-folds", "2", "--tiny-rnn", "1", "--out", str(out)]) == 0
    table = pd.read_csv(out / "comparison.csv", index_col=0)
    assert list(table.index) == ["q_learning", "random", "tiny_gru1"]
    assert table["cv_loglik"].notna().all()
    assert table.loc["tiny_gru1", "cv_loglik"] > table.loc["random", "cv_loglik"]


def test_recover_writes_table_stats_and_figure(tmp_path):
    out = tmp_path / "rec"
    assert main(["recover", "--model", "q_learning", "--structure", "stickiness=false",
                 "--env", "cogmodels/MultiArmedBandit-v0", "--subjects", "8", "--trials", "80",
                 "--starts", "2", "--out", str(out)]) == 0
    table = pd.read_csv(out / "recovery.csv")  # one row per subject x parameter
    assert len(table) == 16 and set(table["param"]) == {"alpha", "beta"}
    assert {"true", "fitted", "se"} <= set(table.columns)
    stats = pd.read_csv(out / "recovery_stats.csv", index_col=0)
    assert set(stats.index) == {"alpha", "beta"}
    assert (out / "recovery.png").stat().st_size > 1000


def test_demo_runs_the_suite_and_reports_it(tmp_path, capsys):
    argv = ["demo", "--out", str(tmp_path), "--only", "dopamine", "--executor", "serial"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"report: {tmp_path / 'report.md'}" in out
    report = (tmp_path / "report.md").read_text()
    assert "## dopamine" in report and "](dopamine/report.md)" in report
    assert (tmp_path / "dopamine" / "manifest.json").exists()
    assert list((tmp_path / "dopamine" / "figures").glob("*.png"))
    assert "![dopamine](dopamine/figures/" in report
    results = sorted(p.read_bytes() for p in (tmp_path / "dopamine" / "results").glob("*.csv"))
    assert main(argv) == 0  # run again into the same folder: resumes, the same results
    assert sorted(p.read_bytes() for p in (tmp_path / "dopamine" / "results").glob("*.csv")) == results
    manifest = json.loads((tmp_path / "dopamine" / "manifest.json").read_text())
    assert {u["status"] for u in manifest["units"]} == {"resumed"}
    with pytest.raises(SystemExit) as err:
        main(["demo", "--out", str(tmp_path), "--only", "nope"])
    assert err.value.code == 2


@pytest.mark.parametrize(
    "argv, match",
    [
        (["fit", "{sim}", "--model", "nope", "--out", "{tmp}"], "model must be one of"),
        (["fit", "{tmp}/missing.csv", "--model", "q_learning", "--out", "{tmp}"], "missing.csv"),
        (["fit", "{sim}", "--model", "rlwm", "--out", "{tmp}"], "set_size"),
        (["compare", "{sim}", "--models", "q_learning", "--out", "{tmp}"], "at least two"),
        (["compare", "{sim}", "--models", "q_learning,wsls", "--tiny-rnn", "2", "--out", "{tmp}"],
         "give --cv-folds"),
        (["compare", "{sim}", "--models", "q_learning,wsls", "--cv-folds", "2", "--tiny-rnn", "x",
          "--out", "{tmp}"], "--tiny-rnn takes comma-separated hidden sizes"),
        (["simulate", "--env", "cogmodels/Nope-v0", "--model", "q_learning", "--out", "{tmp}/x.csv"],
         "registered environment id"),
        (["simulate", "--env", "cogmodels/TwoStep-v0", "--model", "q_learning", "--out", "{tmp}/x.csv"],
         "fits tasks"),
        (["simulate", "--env", "cogmodels/MultiArmedBandit-v0", "--model", "q_learning",
          "--param", "alpha", "--out", "{tmp}/x.csv"], "--param takes name=value"),
        (["simulate", "--env", "cogmodels/MultiArmedBandit-v0", "--model", "q_learning",
          "--param", "alpha=2", "--out", "{tmp}/x.csv"], r"--param alpha must be a finite number in \[0, 1\], got 2$"),
    ],
)
def test_bad_input_exits_2_with_a_message(argv, match, tmp_path, sim_csv, capsys):
    argv = [a.format(sim=sim_csv, tmp=tmp_path) for a in argv]
    with pytest.raises(SystemExit) as err:
        main(argv)
    assert err.value.code == 2
    msg = capsys.readouterr().err
    assert f"cogmodels {argv[0]}: error:" in msg
    assert re.search(match, msg), msg
