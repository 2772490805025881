"""The ``cogmodels`` command line: every subcommand end to end, and its errors."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cogmodels.cli import main
from cogmodels.envs import ENV_IDS
from cogmodels.models import MODELS

pytestmark = pytest.mark.usefixtures("silence_warnings")


@pytest.fixture(scope="module")
def sim_csv(reversal_csv):
    return reversal_csv(6, 120)


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


def test_demo_stops_with_one_line_on_a_bad_out_and_on_ctrl_c(tmp_path, capsys, monkeypatch):
    from cogmodels import demo
    from cogmodels.experiments.runner import RunInterrupted

    afile = tmp_path / "afile"
    afile.write_text("")
    assert main(["demo", "--out", str(afile), "--only", "dopamine", "--executor", "serial"]) == 2
    err = capsys.readouterr().err
    assert err == f"cogmodels demo: error: --out {afile / 'dopamine'} cannot be written (Not a directory); " \
                  "give a folder you can write to\n"

    def interrupted(out, **kwargs):
        raise RunInterrupted(Path(out) / "two_step", 3, 8, {})

    monkeypatch.setattr(demo, "run_demo", interrupted)
    assert main(["demo", "--out", str(tmp_path / "d"), "--only", "two_step", "--quiet"]) == 130
    err = capsys.readouterr().err
    assert err == (f"cogmodels demo: interrupted; 3 of 8 units are finished and kept in {tmp_path / 'd' / 'two_step'}; "
                   f"to resume: cogmodels demo --out {tmp_path / 'd'} --seed 0 --only two_step\n")


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


# --- newcomer errors: one line naming the argument or file, the fix, exit 2 -------------------------


def _fails(argv, capsys) -> str:
    with pytest.raises(SystemExit) as err:
        main([str(a) for a in argv])
    assert err.value.code == 2
    msg = capsys.readouterr().err
    assert msg.count("\n") == 1 and "Traceback" not in msg, msg
    return msg.rstrip("\n")



@pytest.mark.parametrize("command", ["fit", "compare", "recover"])
def test_out_that_is_a_file_or_under_a_file_is_refused_before_fitting(command, tmp_path, sim_csv, capsys, no_fitting):
    taken = tmp_path / "taken"
    taken.write_text("x")
    head = {"fit": ["fit", sim_csv, "--model", "q_learning"],
            "compare": ["compare", sim_csv, "--models", "q_learning,wsls"],
            "recover": ["recover", "--model", "q_learning", "--env", "cogmodels/MultiArmedBandit-v0"]}[command]
    assert _fails([*head, "--out", taken], capsys) == (
        f"cogmodels {command}: error: --out {taken}: a file of that name exists, but --out is the output "
        f"folder: give a folder path (it is created if needed), or move the file away")
    assert _fails([*head, "--out", taken / "sub"], capsys) == (
        f"cogmodels {command}: error: --out {taken / 'sub'}: {taken} is a file, so no folder can be made "
        f"under it: choose another path")


def test_an_unwritable_out_folder_is_refused_before_fitting(tmp_path, sim_csv, capsys, monkeypatch, no_fitting):
    import tempfile

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", denied)  # root ignores chmod: simulate the refusal
    assert _fails(["fit", sim_csv, "--model", "q_learning", "--out", tmp_path / "new" / "out"], capsys) == (
        f"cogmodels fit: error: --out {tmp_path / 'new' / 'out'}: cannot write in {tmp_path} (Permission "
        f"denied): choose a folder you can write to, or change its permissions")


def test_simulate_keeps_existing_files_unless_told(tmp_path, capsys):
    argv = ["simulate", "--env", "cogmodels/MultiArmedBandit-v0", "--model", "q_learning", "--subjects", "1",
            "--trials", "5", "--out", tmp_path / "s.csv"]
    assert main([str(a) for a in argv]) == 0
    capsys.readouterr()
    assert _fails(argv, capsys) == (
        f"cogmodels simulate: error: --out {tmp_path / 's.csv'}: {tmp_path / 's.csv'} already exists: "
        f"choose another --out, delete the file, or pass --overwrite to replace it")
    assert main([str(a) for a in [*argv, "--overwrite"]]) == 0
    argv[-1] = tmp_path
    assert _fails(argv, capsys) == (
        f"cogmodels simulate: error: --out {tmp_path}: that is a folder, but --out is the output CSV file: "
        f"give a file path such as {tmp_path / 'trials.csv'}")


SIM = ["simulate", "--env", "cogmodels/MultiArmedBandit-v0", "--model", "q_learning"]


@pytest.mark.parametrize("extra, message", [
    (["--structure", "stickyness=false"],
     "model 'q_learning' has no structure option 'stickyness' (did you mean 'stickiness'?); its options "
     "are n_actions=2, dual_learning_rates=False, stickiness=True, forgetting=False, free_initial_value=False, "
     "initial_value=0.5, beta_max=20.0 (shown with their defaults)"),
    (["--structure", "stickiness=maybe"],
     "structure option 'stickiness' of model 'q_learning' must be True or False, got 'maybe'"),
    (["--structure", "n_actions=2.5"],
     "structure option 'n_actions' of model 'q_learning' must be an integer >= 1, got 2.5"),
    (["--param", "alpha=abc"], "--param alpha must be a finite number in [0, 1], got 'abc'"),
    (["--param", "gamma=0.1"],
     "--param gamma: model 'q_learning' has no parameter 'gamma'; its parameters are ['alpha', 'beta', "
     "'kappa'] (`cogmodels models` lists them with their bounds)"),
    (["--subjects", "0"], "--subjects must be an integer >= 1, got 0"),
    (["--trials", "0"], "--trials must be an integer >= 1, got 0"),
    (["--seed", "-1"], "--seed must be an integer >= 0, got -1"),
])
def test_simulate_names_the_bad_argument(extra, message, tmp_path, capsys):
    assert _fails([*SIM, *extra, "--out", tmp_path / "x.csv"], capsys) == f"cogmodels simulate: error: {message}"
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("argv, message", [
    (["fit", "{sim}", "--model", "q_learning", "--starts", "0"], "--starts must be an integer >= 1, got 0"),
    (["compare", "{sim}", "--models", "q_learning,wsls", "--seed", "-3"], "--seed must be an integer >= 0, got -3"),
    (["recover", "--model", "q_learning", "--env", "cogmodels/MultiArmedBandit-v0", "--subjects", "0"],
     "--subjects must be an integer >= 1, got 0"),
    (["run", "{tmp}/none.toml", "--workers", "0"], "--workers must be an integer >= 1, got 0"),
    (["demo", "--seed", "-1"], "--seed must be an integer >= 0, got -1"),
    (["compare", "{sim}", "--models", "q_learning,wsls", "--cv-folds", "1"],
     "--cv-folds must be 'block', 'session' or a number of folds >= 2, got '1'"),
])
def test_integer_options_are_range_checked_for_every_command(argv, message, tmp_path, sim_csv, capsys, no_fitting):
    argv = [a.format(sim=sim_csv, tmp=tmp_path) for a in argv]
    if argv[0] in ("fit", "compare", "recover"):
        argv += ["--out", str(tmp_path / "out")]
    assert _fails(argv, capsys) == f"cogmodels {argv[0]}: error: {message}"


def test_data_files_are_named_in_errors(tmp_path, capsys, no_fitting):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert _fails(["fit", empty, "--model", "q_learning", "--out", tmp_path / "o"], capsys) == (
        f"cogmodels fit: error: {empty}: the file is empty: a trial table needs a header line (subject, "
        f"trial, choice, reward ...) and one line per trial")
    sj = tmp_path / "sj.csv"
    sj.write_text("subjID,trial,choice,outcome\n1,1,1,1\n")
    assert _fails(["fit", sj, "--model", "q_learning", "--out", tmp_path / "o"], capsys).startswith(
        f"cogmodels fit: error: {sj}: there is a 'subjID' column but no 'subject': hBayesDM files are "
        f"tab-separated .txt")


def test_four_armed_data_with_a_two_action_model_suggests_n_actions(tmp_path, capsys, no_fitting):
    four = tmp_path / "four.csv"
    pd.DataFrame({"subject": 1, "trial": range(8), "choice": [0, 1, 2, 3] * 2, "reward": 1.0}).to_csv(four, index=False)
    hint = (f"{four}: column 'choice' holds choices up to 3 (4 actions), but model 'q_learning' has "
            f"n_actions=2 (choices 0..1): add --structure n_actions=4, or check that the choices count from 0")
    assert _fails(["fit", four, "--model", "q_learning", "--out", tmp_path / "o"], capsys) == f"cogmodels fit: error: {hint}"
    assert _fails(["compare", four, "--models", "wsls,q_learning", "--out", tmp_path / "o"], capsys) == (
        "cogmodels compare: error: " + hint.replace("model 'q_learning'", "model 'wsls'"))
    assert _fails(["fit", four, "--model", "two_step_mf", "--out", tmp_path / "o"], capsys).endswith(
        "model 'two_step_mf' has a fixed number of actions: choose a model for 4 actions, or check that the "
        "choices count from 0")


def test_a_fit_error_names_the_data_file(tmp_path, capsys):
    short = tmp_path / "short.csv"
    pd.DataFrame({"subject": 1, "trial": range(3), "choice": [0, 1, 0], "reward": 1.0}).to_csv(short, index=False)
    msg = _fails(["fit", short, "--model", "q_learning", "--out", tmp_path / "o"], capsys)
    assert msg.startswith(f"cogmodels fit: error: {short}: ") and "min_trials" in msg


def test_warnings_print_as_one_plain_line_with_what_to_do(sim_csv, tmp_path, capsys):
    same = tmp_path / "same.csv"  # always the same choice: the stickiness runs to its bound
    pd.read_csv(sim_csv).assign(choice=0).to_csv(same, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        assert main(["fit", str(same), "--model", "q_learning", "--starts", "1", "--out", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line]
    assert lines and all(line.startswith("cogmodels fit: warning: q_learning: ") for line in lines), repr(err)
    assert "on a parameter bound" in err and "check the bounds suit the data" in err
    assert "on_bound_" not in err and "warnings.warn" not in err and ".py:" not in err


def test_the_convergence_warning_says_what_to_do(sim_csv, tmp_path, capsys, monkeypatch):
    import cogmodels.fits

    real = cogmodels.fits.make_estimator
    monkeypatch.setattr(cogmodels.fits, "make_estimator", lambda *a, **k: real(*a, **k, max_iter=1))
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        assert main(["fit", str(sim_csv), "--model", "q_learning", "--starts", "1", "--out", str(tmp_path / "o")]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "converge" in line]
    assert lines == ["cogmodels fit: warning: q_learning: the best start did not converge for 6 subject(s): "
                     "[0, 1, 2, 3, 4, 5]; fit again with more random starts (n_starts; --starts on the command "
                     "line) or more iterations (max_iter)"]


def test_ctrl_c_in_any_command_is_one_line_and_status_130(tmp_path, capsys, monkeypatch):
    import cogmodels.fits

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    sim = tmp_path / "sim.csv"
    assert main(["simulate", "--env", "cogmodels/MultiArmedBandit-v0", "--model", "q_learning", "--subjects", "2",
                 "--trials", "20", "--seed", "0", "--out", str(sim)]) == 0
    capsys.readouterr()
    monkeypatch.setattr(cogmodels.fits, "make_estimator", interrupted)
    assert main(["fit", str(sim), "--model", "q_learning", "--out", str(tmp_path / "fit"), "--quiet"]) == 130
    assert capsys.readouterr().err == "cogmodels fit: interrupted; run the same command again to start over\n"


def test_check_names_an_unreadable_params_file(tmp_path, capsys):
    sim = tmp_path / "sim.csv"
    assert main(["simulate", "--env", "cogmodels/MultiArmedBandit-v0", "--model", "q_learning", "--subjects", "2",
                 "--trials", "20", "--seed", "0", "--out", str(sim)]) == 0
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(SystemExit) as info:
        main(["check", str(sim), "--model", "q_learning", "--params", str(empty), "--out", str(tmp_path / "c")])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"--params {empty}: not a readable CSV" in err and "fits.csv" in err
