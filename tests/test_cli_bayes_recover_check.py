"""``cogmodels recover`` and ``cogmodels check`` with ``--method nuts|vi`` (hierarchical Bayes)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cogmodels.cli import main

pytest.importorskip("pyro")


pytestmark = pytest.mark.usefixtures("silence_warnings")


@pytest.mark.slow  # ~9 CPU s: torch's likelihood through 60 VI steps
def test_recover_by_vi_writes_posterior_means_and_sds(tmp_path, capsys):
    out = tmp_path / "rec"
    argv = ["recover", "--model", "q_learning", "--structure", "stickiness=false", "--env",
            "cogmodels/ReversalLearning-v0", "--subjects", "6", "--trials", "60", "--method", "vi",
            "--vi-steps", "60", "--draws", "50", "--seed", "1", "--out", out, "--quiet"]
    assert main([str(a) for a in argv]) == 0
    assert "wrote" in capsys.readouterr().out
    table = pd.read_csv(out / "recovery.csv")
    stats = pd.read_csv(out / "recovery_stats.csv").set_index("param")
    assert (out / "recovery.png").stat().st_size > 1000
    assert len(table) == 6 * 2 and set(table["param"]) == {"alpha", "beta"}
    # posterior means inside the bounds, posterior SDs positive and narrower than the bounds
    alpha, beta = (table[table["param"] == p] for p in ("alpha", "beta"))
    assert alpha["fitted"].between(0, 1).all() and beta["fitted"].between(0, 20).all()
    assert (table["se"] > 0).all() and (alpha["se"] < 0.3).all() and (beta["se"] < 5).all()
    # 60 trials already order the subjects (r 0.86 for both with this seed)
    assert (stats.loc[["alpha", "beta"], "r"] > 0.5).all()


@pytest.mark.slow  # ~6 CPU s
def test_check_by_vi_replays_posterior_draws(tmp_path, reversal_csv, capsys):
    data = reversal_csv(5, 80)
    out = tmp_path / "chk"
    argv = ["check", data, "--model", "q_learning", "--method", "vi", "--vi-steps", "60", "--draws", "30",
            "--n-sims", "3", "--kind", "learning,winstay", "--out", out, "--quiet"]
    assert main([str(a) for a in argv]) == 0
    assert "q_learning on" in capsys.readouterr().out
    for name in ("posterior.nc", "fits.csv", "check_learning.png", "check_winstay.png", "check_summary.md"):
        assert (out / name).stat().st_size > 0, name
    assert "one joint posterior draw per replay" in (out / "check_summary.md").read_text()
    summary = pd.read_csv(out / "check_summary.csv").set_index("kind")
    assert summary.loc["winstay", "points"] == 2
    assert (summary["within_2sem"] > 0.5).all()  # the generating model's posterior predicts its own data
    fits = pd.read_csv(out / "fits.csv")
    assert len(fits) == 5 and np.isfinite(fits[["alpha", "beta", "kappa"]].to_numpy()).all()


def test_bayes_flags_need_a_bayes_method(tmp_path, capsys, no_fitting):
    with pytest.raises(SystemExit) as err:
        main(["recover", "--model", "q_learning", "--env", "cogmodels/ReversalLearning-v0", "--vi-steps", "10",
              "--out", str(tmp_path / "x")])
    assert err.value.code == 2
    msg = capsys.readouterr().err
    assert "--vi-steps sets the vi fit: use it with --method vi, got --method mle" in msg
