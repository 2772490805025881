#!/usr/bin/env python
r"""Short diagnostic runs of the bandit meta-RL trainer: what happens in the first CPU seconds.

Trains ``A2CConfig(**BANDIT_SETTINGS, **--config)`` with its schedules sized for a long run
(``--total-updates``: the updates a full run would make) but stops after ``--cpu`` seconds of the
process's CPU time, then prints the training history in windows of ``--every`` batches: the
training batch's pseudo-regret, the policy's entropy, the value loss, the explained variance of
the returns by the values, the advantages' mean and spread and the gradient norm before clipping;
then the regret of the network on ``--eval-episodes`` held-out sessions (greedy and sampled).

    OMP_NUM_THREADS=1 python benchmarks/meta_rl_diagnostics.py --cpu 45 --total-updates 3000 \
        --config '{"baseline": "bayes_value", "rao_blackwell": true}' --out diag.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from cogmodels.agents.a2c import BANDIT_SETTINGS, A2CConfig, A2CTrainer

COLUMNS = ("regret", "entropy", "value_loss", "explained_variance", "advantage_mean", "advantage_std",
           "grad_norm")


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cpu", type=float, default=45.0, help="CPU seconds of training")
    ap.add_argument("--total-updates", type=int, default=3000, help="the length the schedules assume")
    ap.add_argument("--config", type=str, default=None, help="JSON overrides of BANDIT_SETTINGS")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--every", type=int, default=25, help="batches per printed window")
    ap.add_argument("--eval-episodes", type=int, default=2000)
    ap.add_argument("--eval-seed", type=int, default=20_181)
    ap.add_argument("--out", type=str, default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    overrides = json.loads(args.config) if args.config else {}
    cfg = A2CConfig(**{**BANDIT_SETTINGS, "schedule_unit": "updates", "total_updates": args.total_updates,
                       "clock": "cpu", "threads": 1, "seed": args.seed, **overrides})
    c0, t0 = time.process_time(), time.perf_counter()
    trainer = A2CTrainer(cfg).train(time_budget_s=args.cpu, progress=False)
    cpu_s, wall_s = time.process_time() - c0, time.perf_counter() - t0
    h = trainer.history_
    cols = [c for c in COLUMNS if c in h]
    window = h[cols].groupby(h.index // args.every).mean()
    window.insert(0, "last_update", h["update"].groupby(h.index // args.every).max())
    print(window.round(3).to_string(), file=sys.stderr)
    n, seed = args.eval_episodes, args.eval_seed
    result = {
        "config": overrides,
        "seed": args.seed,
        "total_updates": args.total_updates,
        "updates": trainer.update_,
        "cpu_s": round(cpu_s, 1),
        "wall_s": round(wall_s, 1),
        "cpu_s_per_update": round(trainer.elapsed_s_ / max(1, trainer.update_), 4),
        "greedy": round(trainer.evaluate(n, seed=seed, greedy=True).mean, 3),
        "sampled": round(trainer.evaluate(n, seed=seed, greedy=False).mean, 3),
        "last_window": window.iloc[-1].round(4).to_dict(),
        "windows": window.round(4).to_dict(orient="list"),
    }
    print(json.dumps({k: v for k, v in result.items() if k != "windows"}))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
