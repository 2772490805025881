#!/usr/bin/env python
"""Hash the log-likelihood of every registered model and variant: an A/B check of bit-identity.

For each model of ``tests/test_model_contract.py``'s registry (``MODEL_CASES``: every registered
model, its structural variants and the constrained wrappers), on the contract test's simulated
data (4 lanes, seed 0, with RTs where the model has them) with every 7th choice made missing and
blocks that reset the models that reset, the script hashes the bytes of

- ``log_likelihood`` summed and trial-wise, on the NumPy path;
- the same on the torch path (float64 tensors), when torch is installed, and the autograd
  gradient of the summed log-likelihood (what Pyro's NUTS follows).

Run it before and after a change of the shared likelihood code and compare the printed digests
(``--out`` writes them as JSON; ``--check FILE`` compares with such a file and exits 1 on any
difference)::

    OMP_NUM_THREADS=1 python benchmarks/loglik_hashes.py --out /tmp/before.json
    OMP_NUM_THREADS=1 python benchmarks/loglik_hashes.py --check /tmp/before.json

``--tree DIR`` hashes another tree's code (``git archive <commit> cogmodels fits agents envs``
unpacked in ``DIR``) through this worktree's editable install.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
if "--tree" in sys.argv:  # point the editable install at another tree before anything imports it
    import cogmodels  # noqa: F401  (installs the editable finder)

    _tree = Path(sys.argv[sys.argv.index("--tree") + 1]).resolve()
    _finder = next(m for n, m in sys.modules.items() if n.startswith("__editable___cogmodels"))
    _finder.MAPPING.update({"cogmodels": str(_tree / "cogmodels"), "cogmodels.agents": str(_tree / "agents"),
                            "cogmodels.envs": str(_tree / "envs"), "cogmodels.fits": str(_tree / "fits")})
    for _name in [n for n in sys.modules if n == "cogmodels" or n.startswith("cogmodels.")]:
        del sys.modules[_name]

from test_model_contract import MODEL_CASES, _simulated  # noqa: E402

from cogmodels.likelihood import log_likelihood, trial_arrays  # noqa: E402


def _digest(x: np.ndarray) -> str:
    a = np.ascontiguousarray(np.asarray(x, dtype=np.float64))
    return hashlib.sha256(a.tobytes() + str(a.shape).encode()).hexdigest()[:16]


def _table(model):
    """Return the contract test's simulated data, every 7th choice missing, two blocks per subject."""
    params, trials = _simulated(model, 4, 0, with_rt=True)
    trials = trials.copy()
    position = trials.groupby("subject").cumcount().to_numpy()
    for col in model.choice_columns:
        trials.loc[position % 7 == 3, col] = np.nan
    if "block" in trials.columns:
        trials["block"] = (position >= 30).astype(int)
    return params, trials


def hashes() -> dict[str, dict[str, str]]:
    """Return ``case -> {path: digest}`` for every model case."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        torch = None
    out = {}
    for case in MODEL_CASES:
        model = case.values[0]()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            params, trials = _table(model)
            data = trial_arrays(trials, model)
        row = {"numpy": _digest(log_likelihood(model, params, data)),
               "numpy_trialwise": _digest(log_likelihood(model, params, data, trialwise=True))}
        if torch is not None:
            tensors = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
            ll = log_likelihood(model, tensors, data)
            row["torch"] = _digest(ll.detach().numpy())
            row["torch_trialwise"] = _digest(log_likelihood(model, tensors, data, trialwise=True).detach().numpy())
            ll.sum().backward()
            row["torch_gradient"] = _digest(np.concatenate([tensors[k].grad.numpy() for k in sorted(tensors)]))
        out[case.id] = row
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, help="write the digests as JSON")
    ap.add_argument("--check", type=Path, help="compare with digests written by --out; exit 1 on a difference")
    ap.add_argument("--tree", type=Path, help="hash this tree's code instead of the worktree's")
    args = ap.parse_args()
    print("code:", sys.modules[log_likelihood.__module__].__file__)
    got = hashes()
    for case, row in got.items():
        print(case, " ".join(f"{k}={v}" for k, v in row.items()))
    if args.out:
        args.out.write_text(json.dumps(got, indent=1, sort_keys=True))
    if args.check:
        want = json.loads(args.check.read_text())
        bad = [f"{c}:{k}" for c in sorted(set(want) | set(got)) for k in sorted(set(want.get(c, {})) | set(got.get(c, {})))
               if want.get(c, {}).get(k) != got.get(c, {}).get(k)]
        print(f"{len(got)} cases, {sum(len(r) for r in got.values())} digests; different: {bad or 'none'}")
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
