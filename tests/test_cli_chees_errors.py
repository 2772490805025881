"""``cogmodels fit --sampler chees``: errors of bad ``--jobs`` / ``--chains`` combinations (breaker7, issue 17 §2)."""

from __future__ import annotations

import pytest

pytest.importorskip("pyro")

from cogmodels.cli import main  # noqa: E402


@pytest.mark.xfail(strict=True, reason="the error names the Python keywords (n_chains), not the CLI's --chains/--jobs, "
                                       "and does not say why 6: 'n_chains must be an integer >= 6, got 4'")
def test_cli_chees_too_few_chains_per_process_names_the_flags(tmp_path, capsys):
    path = tmp_path / "trials.csv"
    path.write_text("subject,trial,choice,reward\n" + "".join(f"1,{t},{t % 2},{t % 3 == 0:d}\n" for t in range(10)))
    with pytest.raises(SystemExit):
        main(["fit", str(path), "--model", "q_learning", "--method", "nuts", "--sampler", "chees", "--jobs", "3",
              "--chains", "4", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert "--chains" in err and "--jobs 3" in err and "got 4" in err
