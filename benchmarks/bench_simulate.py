"""CPU time of ``simulate`` on the native vector envs against the single envs it played before.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_simulate.py --repeats 7

``after`` is :func:`cogmodels.simulate.simulate` (the lanes as the copies of the task's native
vector environment, each copy with its own generator, where the task has one); ``before`` is the
loop it ran until then, ``rollout(model.as_agent(params), env, n_subjects=...)`` over one single
environment per subject. Both are timed in CPU seconds (``time.process_time``), in interleaved
rounds (before, after, before, ...), ``record_probabilities=True``, latents on; the script checks
that both give the same trial table. RLWM has no native vector class: both sides play single envs.
"""

from __future__ import annotations

import argparse
import statistics
import time

import pandas as pd

import cogmodels  # noqa: F401
from cogmodels.agent import ModelAgent
from cogmodels.models import make_model
from cogmodels.rollout import rollout
from cogmodels.simulate import simulate

#: name -> (model, env id, subjects, env_kwargs)
CASES = {
    "q_learning, MultiArmedBandit (200 trials), 50 subjects": (
        "q_learning", "cogmodels/MultiArmedBandit-v0", 50, {"n_trials": 200}),
    "two_step_hybrid, TwoStep (200 trials), 20 subjects": (
        "two_step_hybrid", "cogmodels/TwoStep-v0", 20, {"n_trials": 200}),
    "rlwm, RLWM (default session), 10 subjects": ("rlwm", "cogmodels/RLWM-v0", 10, {}),
    "q_learning, MultiArmedBandit (200 trials), 500 subjects": (
        "q_learning", "cogmodels/MultiArmedBandit-v0", 500, {"n_trials": 200}),
    "two_step_hybrid, TwoStep (200 trials), 500 subjects": (
        "two_step_hybrid", "cogmodels/TwoStep-v0", 500, {"n_trials": 200}),
}


def _before(model, params, env, n, kwargs, seed):
    agent = ModelAgent(model, params, latents=True, record_probabilities=True)
    return rollout(agent, env, n_subjects=n, seed=seed, env_kwargs=kwargs)


def _after(model, params, env, n, kwargs, seed):
    return simulate(model, params, env, n_subjects=n, seed=seed, env_kwargs=kwargs,
                    record_probabilities=True, progress=False).trials


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--cases", nargs="*", default=list(CASES), help="names of CASES to time")
    args = ap.parse_args()
    print("| case | before (single envs), CPU ms | after (simulate), CPU ms | ratio |")
    print("| --- | --- | --- | --- |")
    for name in args.cases:
        model_name, env, n, kwargs = CASES[name]
        model = make_model(model_name)
        params = model.default_params()
        pd.testing.assert_frame_equal(_before(model, params, env, n, kwargs, 0),
                                      _after(model, params, env, n, kwargs, 0), check_exact=True)
        times: dict[str, list[float]] = {"before": [], "after": []}
        for r in range(args.repeats):
            for side, play in (("before", _before), ("after", _after)):
                t = time.process_time()
                play(model, params, env, n, kwargs, r)
                times[side].append(1000 * (time.process_time() - t))
        b, a = statistics.median(times["before"]), statistics.median(times["after"])
        print(f"| {name} | {b:.1f} | {a:.1f} | {b / a:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
