"""Reproducible experiments: a TOML config, a pure per-unit computation, a run folder.

``cogmodels run experiments/two_step.toml --out runs/two_step`` or, from Python::

    from cogmodels.experiments import run_experiment, run_suite
    if __name__ == "__main__":  # in a script: the worker processes re-import it
        result = run_experiment("experiments/two_step.toml", "runs/two_step", quick=True)
        run_suite(["two_step", "dopamine"], "runs/suite", quick=True)

See :mod:`cogmodels.experiments.runner` for the run folder, seeds, executors and resume.
"""

from __future__ import annotations

from cogmodels.experiments.registry import (
    EXPERIMENTS,
    Config,
    Experiment,
    Range,
    experiment_names,
    get_experiment,
    register,
)
from cogmodels.experiments.runner import (
    RunFolderError,
    RunInterrupted,
    RunResult,
    WorkerStartError,
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
    load_config,
    resolve_config,
    run_experiment,
    run_suite,
    save_figure,
    unit_checkpoint_dir,
)

__all__ = [
    "EXPERIMENTS",
    "Config",
    "Experiment",
    "Range",
    "RunFolderError",
    "RunInterrupted",
    "RunResult",
    "WorkerStartError",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "experiment_names",
    "get_experiment",
    "load_config",
    "register",
    "resolve_config",
    "run_experiment",
    "run_suite",
    "save_figure",
    "unit_checkpoint_dir",
]
