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

def _pairs(dataset: str, *models: str) -> list[tuple[str, str]]:
    return [(dataset, m) for m in models]


#: (dataset, model) whose hierarchical EM fails here only through the EM defects that branch
#: ``em`` fixes. Measured on 2 subjects x 100 trials: the bandit, reversal and two-step models
#: run to max_em_iter=100 (no stopping rule on the evidence: a group variance shrinking toward 0
#: never "settles"); rl_stimulus and rlwm crash in the first E-step (LinAlgError from a NaN
#: Hessian). hbayesdm_ts and daw's two_step_mb / two_step_hybrid were not run to the end (over
#: 2 minutes each) and are listed on the evidence of daw's two_step_mf and the brief. Not run
#: (``run=False``): each takes 10-130 s to reach max_em_iter on two busy cores. Remove these
#: marks after merging branch em; the rest of the EM column passes today.
EM_FIX_PENDING: frozenset[tuple[str, str]] = frozenset([
    *_pairs("hbayesdm_bandit2arm", "random", "wsls", "q_learning", "actor_critic"),
    *_pairs("hbayesdm_prl", "random", "q_learning", "actor_critic", "reversal_hmm"),
    *_pairs("hbayesdm_prl_multipleB", "wsls", "q_learning", "actor_critic"),
    *_pairs("hbayesdm_bandit4arm", "random", "wsls", "q_learning", "actor_critic"),
    *_pairs("hbayesdm_banditNarm", "random", "wsls", "q_learning", "actor_critic"),
    *_pairs("hbayesdm_bandit4arm2", "random"),
    *_pairs("hbayesdm_bandit4arm2_scaled", "q_learning"),
    *_pairs("hbayesdm_ts", "two_step_mf", "two_step_mb", "two_step_hybrid"),
    *_pairs("daw_luna_habit", "two_step_mf", "two_step_mb", "two_step_hybrid"),
    *_pairs("wmh_expe1", "rl_stimulus", "rlwm"),
    *_pairs("wmh_expe14", "rl_stimulus", "rlwm"),
    *_pairs("collins_frank_2012", "rl_stimulus", "rlwm"),
    *_pairs("fontanesi_2019_pairs", "rl_stimulus"),
])


def _params():
    known = {(d, m) for d, m, _ in matrix.cases()}
    assert EM_FIX_PENDING <= known, f"EM_FIX_PENDING names cases not in the matrix: {EM_FIX_PENDING - known}"
    for dataset, model, method in matrix.cases():
        marks = [] if matrix.DATASETS_BY_NAME[dataset].shipped else [NO_RAW]
        if method == "em" and (dataset, model) in EM_FIX_PENDING:
            marks.append(pytest.mark.xfail(reason="EM fix in branch em", strict=False, run=False))
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
    readable.add("daw/luna_habit.csv")
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
