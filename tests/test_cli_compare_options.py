"""``cogmodels compare`` takes --fix, --tie, --by and --prior as ``fit`` does (one shared code path)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cogmodels.cli import build_parser, main

pytestmark = pytest.mark.usefixtures("silence_warnings")


def _compare(stakes_csv, tmp_path, *extra):
    out = tmp_path / "out"
    assert main(["compare", str(stakes_csv), "--models", "q_learning,q_learning|alpha~stakes", "--starts", "1",
                 "--quiet", "--out", str(out), *extra]) == 0
    return pd.read_csv(out / "comparison.csv", index_col="model"), out


def test_compare_and_fit_share_the_constraint_and_prior_options():
    parser = build_parser()
    actions = {a.dest: a for a in parser._subparsers._group_actions[0].choices["compare"]._actions}
    fit = {a.dest: a for a in parser._subparsers._group_actions[0].choices["fit"]._actions}
    for dest in ("fix", "tie", "by", "prior"):
        assert dest in actions and actions[dest].metavar == fit[dest].metavar


def test_fix_and_by_apply_to_every_compared_model(stakes_csv, tmp_path):
    table, out = _compare(stakes_csv, tmp_path, "--fix", "kappa=0.2", "--by", "beta:stakes")
    # q_learning: alpha, beta_1, beta_5; with alpha split too: alpha_1, alpha_5, beta_1, beta_5
    assert table["n_params"].tolist() == [3, 4]
    fits = pd.read_csv(out / "fits_q_learning.csv")
    assert {"beta_1", "beta_5"} <= set(fits.columns) and "kappa" not in fits.columns
    assert np.allclose(table["aic"], 2 * table["n_params"] * 3 - 2 * table["loglik"])


def test_prior_applies_to_every_compared_model_with_map(stakes_csv, tmp_path):
    _, out = _compare(stakes_csv, tmp_path, "--method", "map", "--prior", "beta=norm(2, 0.01)")
    for name in ("q_learning", "q_learning_alpha~stakes"):
        assert np.allclose(pd.read_csv(out / f"fits_{name}.csv")["beta"], 2.0, atol=0.05)


@pytest.mark.parametrize(("extra", "message"), [
    (["--prior", "beta=norm(2, 1)"], "--prior applies to --method map only"),
    (["--fix", "gamma=1"], "--fix gamma: model 'q_learning' has no parameter 'gamma'"),
    (["--method", "map", "--prior", "alpha=norm(0.5, 0.1)"], "--prior alpha: model"),
])
def test_compare_refuses_options_a_model_cannot_take(stakes_csv, tmp_path, capsys, extra, message):
    with pytest.raises(SystemExit) as info:
        main(["compare", str(stakes_csv), "--models", "q_learning,q_learning|alpha~stakes", "--starts", "1", "--quiet",
              "--out", str(tmp_path / "o"), *extra])
    assert info.value.code == 2
    assert message in capsys.readouterr().err
