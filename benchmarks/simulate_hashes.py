"""Hash ``simulate``'s tables for every model x vector-capable task pair of the model contract.

Usage::

    export OPENBLAS_CORETYPE=Haswell ATEN_CPU_CAPABILITY=avx2 NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL AVX512_SPR"
    OMP_NUM_THREADS=1 python benchmarks/simulate_hashes.py > hashes.json      # take
    OMP_NUM_THREADS=1 python benchmarks/simulate_hashes.py --check hashes.json  # compare

The float columns (probabilities, latents) follow NumPy's SIMD loops in their last bits, so the
hashes hold for one set of kernels: the AVX2 ones above, which ``make test`` sets on every x86-64
CPU with AVX2.

Every model case of ``tests/test_model_contract.py`` (defaults, structural variants, constrained
models) is simulated in each of its tasks that has a native vector class (bandit, reversal
learning, two-step), plus the models that list no task (RT models, ...) in the bandit, with
``record_probabilities=True`` and latents on, for seeds 0, 1 and 7 (and a ``SeedSequence`` and a
``Generator`` seed), ``n_subjects`` 1, 3 and 50 and task variants whose draws are masked by lane
(reversal's criterion mode with a delay and ``p_reversal < 1``, three options; two-step's
``switch`` schedule; Gaussian bandit arms). The hash covers the columns, dtypes and values of
``trials`` and ``params``: it pins ``simulate``'s output byte for byte, so that moving it onto the
native vector environments cannot change any seed's table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

import cogmodels  # noqa: F401
from cogmodels.models import make_model
from cogmodels.simulate import simulate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_model_contract import CASE_IDS, CASES, WRAPPED, _random_params  # noqa: E402

BANDIT, REVERSAL, TWO_STEP = (f"cogmodels/{n}-v0" for n in ("MultiArmedBandit", "ReversalLearning", "TwoStep"))
VECTOR = (BANDIT, REVERSAL, TWO_STEP)
#: task variants (env_kwargs), by task; n_actions is set from the model where the task has it
VARIANTS = {
    BANDIT: {"short": {"n_trials": 30}, "gaussian": {"n_trials": 25, "reward_type": "gaussian", "reward_std": 0.5},
             "default": {}},
    REVERSAL: {"short": {"n_trials": 40, "reversal_every": 7},
               "criterion": {"n_trials": 60, "mode": "criterion", "criterion": (3, 4),
                             "criterion_delay": (0, 3), "p_reversal": 0.6},
               "default": {}},
    TWO_STEP: {"short": {"n_trials": 30}, "switch": {"n_trials": 30, "schedule": "switch", "p_switch": 0.2},
               "default": {}},
}


def models():
    """``(case id, model)``: the model contract's cases, constrained models included."""
    out = [(i, make_model(n, **s)) for (n, s), i in zip(CASES, CASE_IDS)]
    return out + [(f"constrained-{i}", build()) for i, build in WRAPPED.items()]


def pairs():
    """``(case id, model, task)`` for every case and each of its tasks with a native vector class."""
    for cid, model in models():
        tasks = [t for t in model.tasks if t in VECTOR] if model.tasks else [BANDIT]
        for task in tasks:
            yield cid, model, task


def digest(frame: pd.DataFrame) -> str:
    h = hashlib.sha256()
    h.update(",".join(map(str, frame.columns)).encode())
    h.update(str(list(frame.dtypes)).encode())
    h.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    return h.hexdigest()[:16]


def params_of(model, n: int, seed: int) -> dict[str, np.ndarray]:
    """Return ``n`` random parameter sets, inside the bounds, as the model contract draws them."""
    return _random_params(model, n, np.random.default_rng(seed))


def seeds(k: int):
    """Return the seeds of a configuration: ints, a SeedSequence and a Generator (made fresh each call)."""
    return {"0": 0, "1": 1, "7": 7, "ss": np.random.SeedSequence(11 + k), "gen": np.random.default_rng(5 + k)}


def configs():
    """Yield ``(key, run)``: each configuration's name and a function returning its hash."""
    for cid, model, task in pairs():
        for vname, kwargs in VARIANTS[task].items():
            kwargs = dict(kwargs)
            if task in (BANDIT, REVERSAL):
                kwargs["n_actions"] = model.n_actions
            for n in (1, 3, 50) if vname != "default" else (3,):
                for sname in seeds(n):
                    key = f"{cid}|{task.split('/')[1]}|{vname}|n{n}|seed{sname}"
                    yield key, lambda m=model, t=task, k=kwargs, n=n, s=sname: _hash(m, t, k, n, s)


def _hash(model, task: str, kwargs: dict, n: int, seed_name: str) -> str:
    sim = simulate(model, params_of(model, n, n), task, n_subjects=n, seed=seeds(n)[seed_name],
                   env_kwargs=kwargs, record_probabilities=True, latents=True, progress=False)
    return digest(sim.trials) + digest(sim.params)


def run() -> dict[str, str]:
    """Return the hash of every configuration."""
    return {key: one() for key, one in configs()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", type=Path, help="compare with the hashes in this JSON file")
    args = parser.parse_args()
    got = run()
    if args.check is None:
        json.dump(got, sys.stdout, indent=0, sort_keys=True)
        return 0
    want = json.loads(args.check.read_text())
    bad = sorted(k for k in want.keys() | got.keys() if want.get(k) != got.get(k))
    print(f"{len(got)} tables, {len(bad)} differ" + "".join(f"\n  {k}" for k in bad[:50]))
    return int(bool(bad))


if __name__ == "__main__":
    raise SystemExit(main())
