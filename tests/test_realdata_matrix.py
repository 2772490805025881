"""The real-data matrix on a few subjects: every dataset × applicable model × MLE, MAP, EM.

The matrix, its criteria (no exception; EM converged with its defaults; no group variance above
``GROUP_VAR_CEILING``) and the datasets are those of ``benchmarks/bench_realdata_matrix.py``,
which runs all subjects and prints the time per dataset. Here each case fits the first
``N_SUBJECTS`` subjects' first ``MAX_TRIALS`` trials with ``N_STARTS`` random starts. The datasets
read from ``../shared/data/raw`` are skipped when it is absent; the shipped ones always run.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import scipy.stats

import cogmodels.datasets
from cogmodels.io import HBAYESDM_TASKS, read_rlwm_mat
from cogmodels.parameters import ParamSpec

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_realdata_matrix.py"
_spec = importlib.util.spec_from_file_location("bench_realdata_matrix", _PATH)
matrix = importlib.util.module_from_spec(_spec)
sys.modules.setdefault(_spec.name, matrix)  # dataclasses resolve the module by name
_spec.loader.exec_module(matrix)

RAW = matrix.RAW
N_SUBJECTS, MAX_TRIALS, N_STARTS = 2, 60, 1
NO_RAW = pytest.mark.skipif(not RAW.is_dir(), reason="../shared/data/raw is absent")


def _params():
    for dataset, model, method in matrix.cases():
        marks = [] if matrix.DATASETS_BY_NAME[dataset].shipped else [NO_RAW]
        yield pytest.param(dataset, model, method, marks=marks, id=f"{dataset}-{model}-{method}")


@functools.cache
def _trials(dataset: str) -> pd.DataFrame:
    d = matrix.DATASETS_BY_NAME[dataset]
    return matrix.first_subjects(d.load(), N_SUBJECTS, MAX_TRIALS)


@pytest.mark.realdata
@pytest.mark.parametrize(("dataset", "model", "method"), list(_params()))
def test_real_dataset_fits(dataset, model, method):
    result = matrix.run_case(matrix.DATASETS_BY_NAME[dataset], model, method, trials=_trials(dataset),
                             n_starts=N_STARTS)
    assert result.n_subjects == N_SUBJECTS
    assert result.ok, f"{dataset} / {model} / {method}: " + "; ".join(result.problems)


@pytest.mark.realdata
@NO_RAW
def test_the_matrix_covers_every_file_the_loaders_read():
    """Every hBayesDM example file that ``read_hbayesdm`` reads, every WMH ``.mat`` that
    ``read_rlwm_mat`` reads, the daw two-step file and every shipped loader is in the matrix."""
    sources = {d.source for d in matrix.DATASETS}
    readable = set()
    for path in sorted((RAW / "hBayesDM").glob("*.txt")):
        stem = path.name.split("_exampleData")[0]
        if stem in HBAYESDM_TASKS:
            readable.add(f"hBayesDM/{path.name}")
    for path in sorted((RAW / "WMH").glob("*.mat")):
        read_rlwm_mat(path)  # raises on a file it cannot read
        readable.add(f"WMH/{path.name}")
    readable |= {"daw/luna_habit.csv", "arbitration/data.mat"}
    readable |= {f"cogmodels.datasets.{n}" for n in cogmodels.datasets.__all__ if n.startswith("load_")}
    assert readable - sources == set()
    assert {"hBayesDM/bandit2arm_exampleData.txt", "hBayesDM/ts_exampleData.txt", "WMH/Expe14.mat"} <= sources


def test_map_priors_fill_only_missing_priors_and_vanish_on_the_bounds():
    own = scipy.stats.beta(2, 2)
    specs = (ParamSpec("x", 0.0, 20.0, 10.0), ParamSpec("y", 0.0, 1.0, 0.5, prior=own),
             ParamSpec("z", -np.inf, np.inf, 1.0))
    priors = matrix.map_priors(SimpleNamespace(param_specs=specs))
    assert set(priors) == {"x", "z"}  # y keeps its own prior
    x = priors["x"]  # Beta(1.2, 1.2) over [0, 20]
    assert x.pdf(0.0) == 0 and x.pdf(20.0) == 0 and np.isfinite(x.logpdf(1e-6))
    assert x.mean() == pytest.approx(10.0) and x.pdf(10.0) > x.pdf(2.0)
    assert priors["z"].mean() == pytest.approx(1.0) and priors["z"].std() == pytest.approx(10.0)
