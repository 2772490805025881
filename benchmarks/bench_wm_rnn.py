"""Working memory from reward alone: a GRU trained by A2C on delayed match-to-sample and 2-back.

Trains :class:`cogmodels.agents.a2c.A2CTrainer` on the native vector task and scores the greedy
network on held-out sessions (``trainer.play``): accuracy = share of trials whose choice is the
correct action, with a 95 % confidence interval over sessions (trials within a session are not
independent), against the chance level of the best memoryless policy.

Usage::

    .venv/bin/python benchmarks/bench_wm_rnn.py --task dms --seed 0
    .venv/bin/python benchmarks/bench_wm_rnn.py --task nback --seed 0

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from cogmodels.agents.a2c import A2CConfig, A2CTrainer

#: the settings that reach > 90 % correct within a few minutes on one CPU thread
CONFIGS: dict[str, dict] = {
    "dms": {
        "env_id": "cogmodels/DelayedMatchToSample-v0",
        "env_kwargs": {"n_stimuli": 4, "sample_steps": 1, "delay_steps": 2, "p_match": 0.5},
        "n_trials": 25,
        "n_lanes": 128,
        "hidden_size": 64,
        "gamma": 0.0,
        "lr": 3e-3,
        "lr_end": 1e-3,
        "entropy_coef": 0.01,
        "entropy_coef_end": 0.0,
        "total_updates": 2200,
    },
    "nback": {
        "env_id": "cogmodels/NBack-v0",
        # p_match 1/3 with entropy 0.01 collapsed to always "no match" (chance); see RESULTS.md
        "env_kwargs": {"n_stimuli": 4, "n": 2, "stimulus_steps": 1, "delay_steps": 0,
                       "p_match": 0.5},
        "n_trials": 50,
        "n_lanes": 128,
        "hidden_size": 64,
        "gamma": 0.0,
        "lr": 3e-3,
        "lr_end": 1e-3,
        "entropy_coef": 0.05,
        "entropy_coef_end": 0.0,
        "total_updates": 3000,
    },
}


def chance_level(task: str, cfg: A2CConfig) -> float:
    """Accuracy of the best policy without memory of past stimuli."""
    kw = cfg.env_kwargs
    p = kw.get("p_match", 0.5 if task == "dms" else 1.0 / 3.0)
    best = max(p, 1.0 - p)
    if task == "dms":
        return best
    n = kw.get("n", 2)  # the first n items are never matches
    return (n + (cfg.n_trials - n) * best) / cfg.n_trials


def accuracy(table) -> tuple[float, tuple[float, float]]:
    """Share of correct trials, with a 95 % CI from the spread of the per-session accuracies."""
    correct = (table["choice"] == table["correct_action"]).fillna(False).astype(float)
    per_session = correct.groupby(table["subject"]).mean().to_numpy()
    m = float(correct.mean())
    half = 1.96 * float(per_session.std(ddof=1)) / np.sqrt(per_session.size)
    return m, (m - half, m + half)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", choices=sorted(CONFIGS), default="dms")
    ap.add_argument("--budget", type=float, default=600.0, help="training wall-clock budget, s")
    ap.add_argument("--updates", type=int, default=None, help="updates (default: the config's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-sessions", type=int, default=200)
    ap.add_argument("--eval-seed", type=int, default=12345, help="seed of the held-out sessions")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=JSON",
                    help="override A2CConfig fields, e.g. hidden_size=128 lr=0.001")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    d = dict(CONFIGS[args.task], seed=args.seed)
    if args.updates is not None:
        d["total_updates"] = args.updates
    for item in args.set:
        key, value = item.split("=", 1)
        d[key] = json.loads(value)
    cfg = A2CConfig.from_dict(d)
    trainer = A2CTrainer(cfg)
    t0 = time.perf_counter()
    trainer.train(time_budget_s=args.budget, progress=False)
    wall = time.perf_counter() - t0
    table = trainer.play(args.eval_sessions, seed=args.eval_seed, greedy=True)
    acc, ci = accuracy(table)
    hist = trainer.history_
    out = {
        "task": args.task,
        "config": cfg.to_dict(),
        "updates": trainer.update_,
        "wall_s": round(wall, 1),
        "updates_per_s": round(trainer.update_ / wall, 2),
        "eval_sessions": args.eval_sessions,
        "eval_trials": len(table),
        "eval_seed": args.eval_seed,
        "accuracy": round(acc, 4),
        "accuracy_ci95": [round(ci[0], 4), round(ci[1], 4)],
        "chance": round(chance_level(args.task, cfg), 4),
        "train_return_last": float(hist["return"].iloc[-1]) / cfg.n_trials if len(hist) else None,
    }
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
