"""Fixtures shared by the test files: the simulated trial tables the command-line tests read.

Each table is simulated once per test session (session-scoped fixtures), however many files
read it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def reversal_csv(tmp_path_factory) -> Callable[[int, int], Path]:
    """Return ``make(subjects, trials)``: the CSV that ``cogmodels simulate`` writes for it.

    Q-learners (alpha 0.3, beta 4, kappa 0.2) in ``cogmodels/ReversalLearning-v0``, seed 0, with
    ``sim_params.csv`` (the true parameters) beside it. Each size is simulated once per session.
    """
    from cogmodels.cli import main

    made: dict[tuple[int, int], Path] = {}

    def make(subjects: int, trials: int) -> Path:
        if (subjects, trials) not in made:
            path = tmp_path_factory.mktemp("sim") / "sim.csv"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rc = main(["simulate", "--env", "cogmodels/ReversalLearning-v0", "--model", "q_learning",
                           "--param", "alpha=0.3", "--param", "beta=4", "--param", "kappa=0.2",
                           "--subjects", str(subjects), "--trials", str(trials), "--seed", "0",
                           "--out", str(path)])
            assert rc == 0
            made[subjects, trials] = path
        return made[subjects, trials]

    return make


@pytest.fixture(scope="session")
def stakes_csv(tmp_path_factory) -> Path:
    """Three Q-learners (alpha 0.3, beta 4, kappa 0.2), 60 trials of the two-armed bandit, seed 0.

    A ``stakes`` column (1 on even trials, 5 on odd ones) gives ``--by beta:stakes`` its levels.
    """
    from cogmodels.models import make_model
    from cogmodels.simulate import simulate

    sim = simulate(make_model("q_learning"), {"alpha": 0.3, "beta": 4.0, "kappa": 0.2},
                   "cogmodels/MultiArmedBandit-v0", n_subjects=3, seed=0, env_kwargs={"n_trials": 60},
                   latents=False, progress=False)
    path = tmp_path_factory.mktemp("data") / "bandit.csv"
    sim.trials.assign(stakes=np.where(sim.trials["trial"] % 2 == 0, 1, 5)).to_csv(path, index=False)
    return path


@pytest.fixture
def no_fitting(monkeypatch):
    """Fail the test if any fit starts: a command's argument checks must come first."""
    import cogmodels.fits
    import cogmodels.fits.recovery

    def boom(*args, **kwargs):
        raise AssertionError("a fit started before the arguments were checked")

    monkeypatch.setattr(cogmodels.fits, "make_estimator", boom)
    monkeypatch.setattr(cogmodels.fits, "compare_models", boom)
    monkeypatch.setattr(cogmodels.fits.recovery, "parameter_recovery", boom)


@pytest.fixture
def silence_warnings():
    """Ignore every warning inside the test (for files that run whole fits and CLI commands, whose
    per-subject bounds and convergence warnings are recorded as columns; ``pytest.warns`` inside
    the test still sees its own)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.fixture(scope="session")
def unit_activity() -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    """Return ``block(subjects, day, t, rng, dt, noise_sd=None) -> (counts, intentions)``.

    Wilson et al. (2023)'s ``simulateUnitActivity``: each subject's units
    (:class:`~cogmodels.envs.bci.drift.NeuralTrajectory`) on ``day`` under ``t`` bins of smooth
    random intentions (AR(1), 0.95 a bin, sd 0.3 widths/s per axis), counts ``(t, L, N)``:
    Poisson (``uint8``) or, with ``noise_sd``, their additive channel ``λ dt + noise_sd z``.
    """

    def block(subjects, day, t, rng, dt, noise_sd=None):
        e = rng.normal(scale=0.3 * np.sqrt(1 - 0.95**2), size=(t, len(subjects), 2))
        u = np.zeros_like(e)
        for i in range(1, t):
            u[i] = 0.95 * u[i - 1] + e[i]
        rates = np.stack([s.on_day(day).rates(u[:, i]) for i, s in enumerate(subjects)], axis=1)
        if noise_sd is None:
            return rng.poisson(rates * dt).astype(np.uint8), u
        return rates * dt + noise_sd * rng.normal(size=rates.shape), u

    return block
