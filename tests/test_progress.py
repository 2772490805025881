"""Progress bars: drawn on a terminal for every long job, never with ``progress=False`` / ``--quiet``,
never when standard error is not a terminal (logs, pipes, captured output)."""

from __future__ import annotations

import io
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import cogmodels  # noqa: F401
from cogmodels import fits
from cogmodels.agents.tiny_rnn import TinyRNN
from cogmodels.cli import main
from cogmodels.models import make_model
from cogmodels.progress import progress_bar
from cogmodels.simulate import simulate

ENV = "cogmodels/ReversalLearning-v0"
MODEL = make_model("q_learning")


class Terminal(io.StringIO):
    """Standard error that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def _stderr(monkeypatch, fake: io.StringIO) -> io.StringIO:
    # set in the test's body: pytest puts its own capture back on sys.stderr between setup and call
    monkeypatch.setattr(sys, "stderr", fake)
    return fake


@pytest.fixture
def terminal(monkeypatch):
    return lambda: _stderr(monkeypatch, Terminal())


@pytest.fixture
def pipe(monkeypatch):
    return lambda: _stderr(monkeypatch, io.StringIO())  # isatty() is False


@pytest.fixture(scope="module")
def trials():
    sim = simulate(MODEL, {"alpha": [0.3, 0.6], "beta": [4.0, 3.0], "kappa": [0.2, 0.0]}, ENV, seed=0,
                   env_kwargs={"n_trials": 40}, latents=False, progress=False)
    return sim.trials


@pytest.fixture(autouse=True)
def _no_fit_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


def _jobs(trials):
    """Every long job, as (name, call(progress), what its bar shows)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fitted = fits.MaximumLikelihood(MODEL, n_starts=1, max_iter=3, seed=0).fit(trials, progress=False)
    rnn = TinyRNN(hidden_size=1, max_epochs=5, seed=0)
    quick = {"n_starts": 1, "max_iter": 3}
    return {
        "mle": (lambda p: fits.MaximumLikelihood(MODEL, seed=0, **quick).fit(trials, progress=p), "q_learning mle"),
        "map": (lambda p: fits.MaximumAPosteriori(MODEL, seed=0, priors={"beta": stats.gamma(2.0)}, **quick)
                .fit(trials, progress=p), "q_learning map"),
        "em": (lambda p: fits.HierarchicalEM(MODEL, seed=0, max_em_iter=2, **quick).fit(trials, progress=p),
               "EM iteration"),
        "cross_validate": (lambda p: fits.cross_validate(MODEL, trials, folds=2, progress=p, **quick),
                           "q_learning cross-validation"),
        "compare": (lambda p: fits.compare_models(trials, {"q": MODEL, "wsls": make_model("wsls")}, cv_folds=2,
                                             bms_samples=1000, ceilings={"rnn": rnn}, progress=p, **quick),
                    "compare"),
        "parameter_recovery": (lambda p: fits.parameter_recovery(MODEL, ENV, n_subjects=2, n_starts=1,
                                                            env_kwargs={"n_trials": 20}, progress=p,
                                                            fit_kwargs={"max_iter": 3}), "q_learning mle"),
        "model_recovery": (lambda p: fits.model_recovery([MODEL, make_model("wsls")], ENV, n_subjects=2, n_starts=1,
                                                    env_kwargs={"n_trials": 20}, progress=p), "model recovery"),
        "posterior_predictive": (lambda p: fits.posterior_predictive(fitted, ENV, env_kwargs={"n_trials": 20},
                                                                progress=p), "simulate q_learning"),
        "check": (lambda p: fits.check(fitted, trials, ENV, env_kwargs={"n_trials": 20}, n_sims=1, progress=p),
                  "simulate q_learning"),
        "simulate": (lambda p: simulate(MODEL, MODEL.default_params(), ENV, n_subjects=2,
                                        env_kwargs={"n_trials": 20}, progress=p), "simulate q_learning"),
        "tiny_rnn_fit": (lambda p: TinyRNN(hidden_size=1, max_epochs=5).fit(trials, progress=p), "epoch"),
        "tiny_rnn_cv": (lambda p: TinyRNN(hidden_size=1, max_epochs=5).cross_validate(trials, folds=2, progress=p),
                        "tiny_gru1 cross-validation"),
    }


JOBS = ["mle", "map", "em", "cross_validate", "compare", "parameter_recovery", "model_recovery",
        "posterior_predictive", "check", "simulate", "tiny_rnn_fit", "tiny_rnn_cv"]


@pytest.fixture(scope="module")
def jobs(trials):
    return _jobs(trials)


@pytest.mark.parametrize("job", JOBS)
def test_a_bar_on_a_terminal_and_none_when_quiet(job, jobs, terminal):
    run, shows = jobs[job]
    out = terminal()
    run(True)
    assert shows in out.getvalue(), out.getvalue()
    out = terminal()
    run(False)
    assert out.getvalue() == ""


@pytest.mark.parametrize("job", ["mle", "compare", "simulate"])
def test_no_bar_when_standard_error_is_not_a_terminal(job, jobs, pipe):
    out = pipe()
    jobs[job][0](True)
    assert out.getvalue() == ""


def test_the_bars_count_the_units_of_work(trials, terminal):
    out = terminal()
    fits.MaximumLikelihood(MODEL, n_starts=2, max_iter=3, seed=0).fit(trials)
    assert "q_learning mle: 100%|##########| 2/2 [" in out.getvalue()
    assert "subject/s]" in out.getvalue()
    out = terminal()
    fits.compare_models(trials, {"q": MODEL, "wsls": make_model("wsls")}, cv_folds=2, n_starts=1, max_iter=3,
                   bms_samples=1000)
    assert "compare: 100%|##########| 6/6 [" in out.getvalue()  # 2 models x (1 fit + 2 folds)
    assert "wsls fold 2/2" in out.getvalue()


def test_progress_must_be_a_bool(trials):
    with pytest.raises(ValueError, match="progress must be True or False, got 'yes'"):
        fits.MaximumLikelihood(MODEL).fit(trials, progress="yes")
    with pytest.raises(ValueError, match="progress must be True or False, got 1"):
        fits.compare_models(trials, ["q_learning", "wsls"], progress=1)
    with pytest.raises(ValueError, match="progress must be True or False, got None"):
        progress_bar(None)
    with pytest.raises(ValueError, match="progress must be True or False, got 'no'"):
        fits.parameter_recovery(MODEL, ENV, n_subjects=2, progress="no")
    with pytest.raises(ValueError, match="progress must be True or False, got 0"):
        simulate(MODEL, MODEL.default_params(), ENV, progress=0)
    with pytest.raises(ValueError, match="progress must be True or False, got 'false'"):
        TinyRNN().fit(trials, progress="false")


@pytest.mark.parametrize("command", ["fit", "compare", "recover"])
def test_cli_quiet(command, trials, tmp_path, terminal, capsys):
    data = tmp_path / "trials.csv"
    trials.to_csv(data, index=False)
    args = {
        "fit": ["fit", str(data), "--model", "q_learning"],
        "compare": ["compare", str(data), "--models", "q_learning,wsls"],
        "recover": ["recover", "--model", "q_learning", "--env", ENV, "--subjects", "2", "--trials", "20"],
    }[command] + ["--starts", "1", "--out", str(tmp_path / "out")]
    out = terminal()
    assert main(args) == 0
    assert "100%|##########|" in out.getvalue()
    out = terminal()
    assert main([*args, "--quiet"]) == 0
    assert out.getvalue() == ""
    assert np.all(pd.read_csv(next((tmp_path / "out").glob("*.csv"))).notna().any())
