"""``cogmodels check``: predictive checks by replay from the command line, and its errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cogmodels.cli import main
from cogmodels.datasets import load_collins_frank_2012
from cogmodels.fits.replay import REPLAY_OUTCOMES

pytestmark = pytest.mark.usefixtures("silence_warnings")


@pytest.fixture(scope="module")
def sim_csv(reversal_csv):
    return reversal_csv(5, 80)



def _fails(argv, capsys) -> str:
    with pytest.raises(SystemExit) as err:
        main([str(a) for a in argv])
    assert err.value.code == 2
    msg = capsys.readouterr().err
    assert msg.count("\n") == 1 and "Traceback" not in msg, msg
    return msg.rstrip("\n")


def test_check_fits_first_then_writes_figures_and_summary(tmp_path, sim_csv, capsys):
    out = tmp_path / "out"
    argv = ["check", sim_csv, "--model", "q_learning", "--starts", "1", "--n-sims", "2", "--out", out, "--quiet"]
    assert main([str(a) for a in argv]) == 0
    printed = capsys.readouterr().out
    assert "q_learning on" in printed and "outcomes not observed" in printed
    kinds = ["learning", "reversal", "winstay"]  # the reversal task's signatures
    for kind in kinds:
        assert (out / f"check_{kind}.png").stat().st_size > 1000
        curve = pd.read_csv(out / f"check_{kind}.csv")
        assert set(curve["source"]) == {"data", "model"}
    assert (out / "fits.csv").exists()  # the fit it made first
    summary = pd.read_csv(out / "check_summary.csv")
    assert summary["kind"].tolist() == kinds
    assert summary["points"].tolist()[1:] == [21, 2]  # lags -5..15; rewarded / unrewarded
    assert (summary["within_2sem"] > 0.5).all()  # the generating model fits its own data
    report = (out / "check_summary.md").read_text()
    assert REPLAY_OUTCOMES in report and "![winstay](check_winstay.png)" in report
    # the same seed gives the same bytes; the parameters it wrote reproduce the run
    again = tmp_path / "again"
    assert main([str(a) for a in [*argv[:-3], "--out", again, "--quiet", "--params", out / "fits.csv",
                                  "--kind", "winstay"]]) == 0
    assert (out / "check_winstay.csv").read_bytes() == (again / "check_winstay.csv").read_bytes()
    assert not (again / "check_learning.png").exists()


def test_check_rlwm_with_given_parameters_draws_the_set_size_curves(tmp_path, capsys, no_fitting):
    data = load_collins_frank_2012()
    data = data[data["subject"].isin(pd.unique(data["subject"])[:6])]
    path = tmp_path / "rlwm.csv"
    data.to_csv(path, index=False)
    typical = {"alpha": 0.04, "rho": 1.0, "K": 3.0, "phi": 0.15, "epsilon": 0.03, "kappa": 0.0,
               "neg_rl": 1.0, "neg_wm": 0.6}
    params = pd.DataFrame({"subject": pd.unique(data["subject"]), **typical})
    params.to_csv(tmp_path / "fits.csv", index=False)
    out = tmp_path / "out"
    assert main(["check", str(path), "--model", "rlwm", "--params", str(tmp_path / "fits.csv"),
                 "--out", str(out), "--n-sims", "2", "--quiet"]) == 0
    curve = pd.read_csv(out / "check_setsize.csv")
    assert sorted(curve["set_size"].unique()) == [2, 3, 4, 5, 6]
    model = curve[(curve["source"] == "model") & (curve["iteration"] == 3)].set_index("set_size")["p_correct"]
    assert model[2] - model[6] > 0.1  # working memory fills up: the set-size effect
    summary = pd.read_csv(out / "check_summary.csv")
    assert summary["kind"].tolist() == ["setsize"] and summary["mean_abs_diff"].iloc[0] < 0.1
    assert "estimate" in (out / "check_summary.md").read_text()
    assert not (out / "fits.csv").exists()


@pytest.mark.parametrize("extra, message", [
    (["--n-sims", "0"], "--n-sims must be an integer >= 1, got 0"),
    (["--kind", "learning,psychometric"],
     "--kind takes comma-separated curves among ['learning', 'reversal', 'stay', 'setsize', 'winstay'], "
     "got 'learning,psychometric'"),
    (["--params", "{tmp}/none.csv"], "--params {tmp}/none.csv: no such file (a fits.csv written by `cogmodels fit`)"),
    (["--params", "{tmp}/cols.csv"],
     "--params {tmp}/cols.csv: model 'q_learning' needs the columns ['subject', 'alpha', 'beta', 'kappa']; "
     "missing ['kappa'] (columns present: ['subject', 'alpha', 'beta']): pass the fits.csv of `cogmodels fit` "
     "for the same model and --structure"),
    (["--params", "{tmp}/few.csv"],
     "--params {tmp}/few.csv: no parameters for 4 subject(s) of the data, e.g. ['1', '2', '3', '4']: fit them "
     "(`cogmodels fit`), or leave --params out to fit here"),
    (["--params", "{tmp}/range.csv"],
     "--params {tmp}/range.csv: column 'alpha' must hold numbers in [0, 1], got 3.0 for subject 0"),
])
def test_check_names_the_bad_argument(extra, message, tmp_path, sim_csv, capsys, no_fitting):
    subjects = np.arange(5)
    pd.DataFrame({"subject": subjects, "alpha": 0.3, "beta": 4.0}).to_csv(tmp_path / "cols.csv", index=False)
    pd.DataFrame({"subject": [0], "alpha": 0.3, "beta": 4.0, "kappa": 0.0}).to_csv(tmp_path / "few.csv", index=False)
    pd.DataFrame({"subject": subjects, "alpha": 3.0, "beta": 4.0, "kappa": 0.0}).to_csv(tmp_path / "range.csv",
                                                                                      index=False)
    extra = [e.format(tmp=tmp_path) for e in extra]
    argv = ["check", sim_csv, "--model", "q_learning", *extra, "--out", tmp_path / "out"]
    assert _fails(argv, capsys) == f"cogmodels check: error: {message.format(tmp=tmp_path)}"
    assert not (tmp_path / "out").exists()


def test_check_refuses_an_out_that_is_a_file_before_fitting(tmp_path, sim_csv, capsys, no_fitting):
    taken = tmp_path / "taken"
    taken.write_text("x")
    assert _fails(["check", sim_csv, "--model", "q_learning", "--out", taken], capsys) == (
        f"cogmodels check: error: --out {taken}: a file of that name exists, but --out is the output "
        f"folder: give a folder path (it is created if needed), or move the file away")


def test_check_takes_fixed_and_split_parameters_as_fit_writes_them(tmp_path, stakes_csv, capsys, no_fitting):
    # the fits.csv of `cogmodels fit --fix kappa=0.2 --by beta:stakes` has alpha, beta_1, beta_5:
    # check could neither build 'q_learning|kappa=0.2|beta~stakes' (the levels of stakes were
    # unknown before the table was read) nor take --fix / --by
    fits = tmp_path / "fits.csv"
    pd.DataFrame({"subject": [0, 1, 2], "alpha": 0.3, "beta_1": 4.0, "beta_5": 4.0}).to_csv(fits, index=False)
    plain = tmp_path / "plain.csv"
    pd.DataFrame({"subject": [0, 1, 2], "alpha": 0.3, "beta": 4.0, "kappa": 0.2}).to_csv(plain, index=False)
    common = ["check", stakes_csv, "--n-sims", "2", "--kind", "winstay", "--quiet"]
    runs = {"name": ["--model", "q_learning|kappa=0.2|beta~stakes", "--params", fits],
            "flags": ["--model", "q_learning", "--fix", "kappa=0.2", "--by", "beta:stakes", "--params", fits],
            "inner": ["--model", "q_learning", "--params", plain]}
    for label, extra in runs.items():
        assert main([str(a) for a in [*common, *extra, "--out", tmp_path / label]]) == 0
    # equal levels of the split and the fixed kappa replay the inner model with those values
    inner = (tmp_path / "inner" / "check_winstay.csv").read_bytes()
    assert (tmp_path / "name" / "check_winstay.csv").read_bytes() == inner
    assert (tmp_path / "flags" / "check_winstay.csv").read_bytes() == inner
    assert _fails([*common, "--model", "q_learning", "--params", plain, "--method", "map", "--prior",
                   "beta=gamma(2,1)", "--out", tmp_path / "o"], capsys) == (
        f"cogmodels check: error: --prior applies when check fits the model (--method map), not to the fitted "
        f"parameters of --params {plain}")
