"""HierarchicalNUTS(checkpoint=...): a ChEES fit stopped part-way resumes to the draws of a fit never stopped."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

pytest.importorskip("pyro")

from cogmodels.fits.bayes import HierarchicalNUTS  # noqa: E402
from cogmodels.models import make_model  # noqa: E402
from cogmodels.simulate import simulate  # noqa: E402

SETTINGS = {"sampler": "chees", "n_chains": 4, "n_warmup": 120, "n_draws": 60, "seed": 0}


class Stop(Exception):
    """The fit is stopped (a kill, a closed laptop) after some iterations."""


@pytest.fixture(scope="module")
def trials():
    model = make_model("q_learning")
    return model, simulate(model, {"alpha": [0.2, 0.4, 0.3], "beta": [2.0, 4.0, 3.0], "kappa": [0.3, -0.2, 0.0]},
                           "cogmodels/MultiArmedBandit-v0", n_subjects=3, seed=2, env_kwargs={"n_trials": 30},
                           latents=False, progress=False).trials


def stopping_bar(after: int):
    """A progress bar whose ``update`` raises :class:`Stop` at its ``after``-th call."""
    class Bar:
        n = 0

        def update(self, *_):
            self.n += 1
            if self.n == after:
                raise Stop

    @contextlib.contextmanager
    def bar(*_, **__):
        yield Bar()

    return bar


@pytest.mark.parametrize("n_jobs", [1, pytest.param(2, marks=pytest.mark.slow)])
@pytest.mark.filterwarnings("ignore::cogmodels.fits.mle.ConvergenceWarning")  # a short run's R-hat
def test_a_stopped_fit_resumes_to_the_draws_of_one_never_stopped(trials, tmp_path, n_jobs, monkeypatch):
    model, table = trials
    whole = HierarchicalNUTS(model, n_jobs=n_jobs, **SETTINGS).fit(table, progress=False)
    stopped = HierarchicalNUTS(model, n_jobs=n_jobs, checkpoint=tmp_path / "state", **SETTINGS)
    # stopped in the draws (workers terminated); the last checkpoint after iteration 99 (or 149)
    monkeypatch.setattr(HierarchicalNUTS, "_bar", stopping_bar(after=130 * n_jobs))
    with pytest.raises(Stop):
        stopped.fit(table, progress=False)
    monkeypatch.undo()
    files = sorted(p.name for p in (tmp_path / "state").iterdir())
    assert [f"chees_{j}of{n_jobs}.npz" for j in range(n_jobs)] == [f for f in files if f.endswith(".npz")]
    resumed = HierarchicalNUTS(model, n_jobs=n_jobs, checkpoint=tmp_path / "state", **SETTINGS).fit(
        table, progress=False)
    for name in ("mu", "sigma", "params"):
        np.testing.assert_array_equal(resumed.inference_data_.posterior[name].values,
                                      whole.inference_data_.posterior[name].values, err_msg=name)
    assert resumed.n_gradients_ == whole.n_gradients_
    assert list((tmp_path / "state").iterdir()) == []  # the fit has its draws: the state is deleted


def test_checkpoint_needs_chees(trials, tmp_path):
    with pytest.raises(ValueError, match="checkpoint keeps a ChEES run's state: use sampler='chees', got sampler='nuts'"):
        HierarchicalNUTS(trials[0], checkpoint=tmp_path)
