"""``cogmodels fit --sampler chees``: errors of bad ``--jobs`` / ``--chains`` combinations (breaker7, issue 17 §2)."""

from __future__ import annotations

import pytest

pytest.importorskip("pyro")

from cogmodels.cli import main  # noqa: E402


def test_cli_chees_too_few_chains_per_process_names_the_flags(tmp_path, capsys):
    path = tmp_path / "trials.csv"
    path.write_text("subject,trial,choice,reward\n" + "".join(f"1,{t},{t % 2},{t % 3 == 0:d}\n" for t in range(10)))
    with pytest.raises(SystemExit):
        main(["fit", str(path), "--model", "q_learning", "--method", "nuts", "--sampler", "chees", "--jobs", "3",
              "--chains", "4", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert "--chains must be at least 6 with --sampler chees --jobs 3 (2 chains per process" in err and "got 4" in err


@pytest.mark.parametrize(("extra", "message"), [
    (["--jobs", "0"], "--jobs must be an integer >= 1, got 0"),
    (["--jobs", "2"], "--jobs 2 splits ChEES chains over processes: use it with --sampler chees, got --sampler nuts"),
    (["--sampler", "chees", "--chains", "1"], "--chains must be at least 2 with --sampler chees --jobs 1"),
    (["--checkpoint", "state"], "--checkpoint keeps a ChEES run's state: use it with --sampler chees, got --sampler nuts"),
])
def test_cli_chees_settings_name_the_flags(extra, message, tmp_path, capsys):
    path = tmp_path / "trials.csv"
    path.write_text("subject,trial,choice,reward\n1,0,0,1\n1,1,1,0\n")
    with pytest.raises(SystemExit):
        main(["fit", str(path), "--model", "q_learning", "--method", "nuts", *extra, "--out", str(tmp_path / "x")])
    assert message in capsys.readouterr().err
