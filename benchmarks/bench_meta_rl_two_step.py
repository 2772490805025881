#!/usr/bin/env python
"""Meta-RL on the two-step task: whether a GRU trained by A2C shows the model-based stay pattern.

Task (Wang et al. 2018, Nat Neurosci, Fig. 5): ``cogmodels/TwoStep-v0`` with
``schedule="switch"``: the first-stage action leads to its common second-stage state with
probability 0.8; one second-stage state pays 0.9, the other 0.1, and the two swap with probability
0.025 after each trial; 100 trials per session. The network sees the one-hot state, its previous
action and the previous reward; it is trained across sessions by
:class:`~cogmodels.agents.a2c.A2CTrainer` on the sampled reward, then frozen and played (sampled
actions) on ``--eval-sessions`` held-out sessions.

Score: the stay probabilities of the first-stage choice by previous reward × transition
(:func:`cogmodels.fits.ppc.stay_probabilities`); their raw interaction ``(rc - rr) - (uc - ur)``
(Daw et al. 2011), as the mean over sessions with a 95 % CI
(:func:`cogmodels.fits.ppc.stay_effects_by_subject`); and the model-based index: the reward ×
transition coefficient of the logistic stay regression that also takes whether the previous
choice was the correct one (:func:`cogmodels.fits.ppc.stay_regression`, 95 % bootstrap CI over
sessions). On this task, whose good state persists, a model-free learner shows a raw interaction
too; the regression's ``correct`` term takes it away (Akam, Costa & Dayan 2015, PLoS Comput
Biol). For scale, the model-free (SARSA(λ) with λ = 1) and model-based learners of
:mod:`cogmodels.models.two_step` play the same task with their default parameters, and the reward
rate is set beside chance (0.5) and the oracle that always knows the good state
(0.8 × 0.9 + 0.2 × 0.1 = 0.74).

Usage::

    .venv/bin/python benchmarks/bench_meta_rl_two_step.py --seed 0 --save-dir runs/two_step

With ``--save-dir`` a checkpoint is written every 100 updates and an interrupted run carries on
from it when started again with the same command.

Prints one JSON object; writes the stay-probability figure to ``--figure``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from cogmodels.agents.a2c import A2CConfig, A2CTrainer
from cogmodels.fits.ppc import stay_effects_by_subject, stay_probabilities, stay_regression
from cogmodels.models import make_model
from cogmodels.simulate import simulate

ENV_ID = "cogmodels/TwoStep-v0"
#: the task of Wang et al. (2018)
TASK = {"schedule": "switch", "p_common": 0.8, "reward_bounds": [0.1, 0.9], "p_switch": 0.025}
ORACLE_REWARD = 0.8 * 0.9 + 0.2 * 0.1

#: trainer settings
CONFIG: dict[str, Any] = {
    "env_id": ENV_ID,
    "env_kwargs": TASK,
    "n_trials": 100,
    "n_lanes": 64,
    "cell": "gru",
    "hidden_size": 48,
    "gamma": 0.9,
    "gae_lambda": 1.0,
    "lr": 3e-3,
    "lr_end": 3e-4,
    "entropy_coef": 0.05,
    "entropy_coef_end": 0.0,
    "total_updates": 2000,
}


def _rounded(table: pd.DataFrame) -> dict[str, dict[str, float]]:
    return {k: {c: round(float(v), 4) for c, v in row.items()} for k, row in table.iterrows()}


def behaviour(trials: pd.DataFrame) -> dict[str, Any]:
    """Return the behavioural signatures of a trial table.

    Stay probabilities, per-session effects (mean and 95 % CI), the stay regression with its
    bootstrap CI and the reward rate.
    """
    stay = stay_probabilities(trials)
    effects = stay_effects_by_subject(trials).attrs["summary"]
    regression = stay_regression(trials, n_boot=1000, seed=0)
    reward = trials.groupby("subject")["reward"].mean()
    return {
        "stay": {f"{r}/{t}": round(float(p), 4) for r, t, p in
                 stay[["previous_reward", "previous_transition", "p_stay"]].itertuples(index=False)},
        "model_based_index": _rounded(regression)["reward:transition"],
        "model_based_index_without_correct": round(float(
            stay_regression(trials, correct=False, n_boot=0).loc["reward:transition", "coef"]), 4),
        "regression": _rounded(regression),
        "effects": _rounded(effects),
        "reward_rate": round(float(reward.mean()), 4),
        "reward_rate_ci": [round(float(reward.mean() - 1.96 * reward.sem()), 4),
                           round(float(reward.mean() + 1.96 * reward.sem()), 4)],
        "_stay_table": stay,
    }


def figure(results: dict[str, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(3.4 * len(results), 3.8), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, (name, res) in zip(axes, results.items()):
        stay = res["_stay_table"]
        for i, trans in enumerate(("common", "rare")):
            part = stay[stay["previous_transition"] == trans]
            x = np.arange(2) + (i - 0.5) * 0.38
            ax.bar(x, part["p_stay"], width=0.36, yerr=1.96 * part["sem"], capsize=3,
                   color=("#3b6ea5", "#d08c3a")[i], label=f"{trans} transition")
        mb, raw = res["model_based_index"], res["effects"]["interaction"]["mean"]
        ax.set_title(f"{name}\nMB index {mb['coef']:.2f} [{mb['ci_low']:.2f}, {mb['ci_high']:.2f}]\n"
                     f"raw interaction {raw:.2f}", fontsize=9)
        ax.set_xticks([0, 1], ["rewarded", "unrewarded"])
        ax.set_ylim(0, 1)
    axes[0].set_ylabel("P(repeat first-stage choice)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0, help="training seed")
    ap.add_argument("--eval-seed", type=int, default=20_182)
    ap.add_argument("--eval-sessions", type=int, default=1000)
    ap.add_argument("--updates", type=int, default=None, help="override total_updates")
    ap.add_argument("--config", type=str, default=None, help="JSON overrides of CONFIG")
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    ap.add_argument("--save-dir", type=str, default=None, help="write the trained trainer here")
    ap.add_argument("--figure", type=str, default="benchmarks/figures/meta_rl_two_step.png")
    ap.add_argument("--out", type=str, default=None, help="also write the JSON here")
    ap.add_argument("--progress", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = dict(CONFIG, **(json.loads(args.config) if args.config else {}))
    if args.updates is not None:
        cfg["total_updates"] = args.updates
    if args.save_dir and (Path(args.save_dir) / A2CTrainer.CHECKPOINT).is_file():
        trainer = A2CTrainer.resume(args.save_dir)
        saved, asked = trainer.config.to_dict(), A2CConfig(seed=args.seed, **cfg).to_dict()
        differ = {k: (saved[k], asked[k]) for k in saved if saved[k] != asked[k]}
        if differ:
            raise SystemExit(f"--save-dir {args.save_dir} holds a run with other settings "
                             f"(field: (saved, asked)): {differ}; use another --save-dir")
    else:
        trainer = A2CTrainer(A2CConfig(seed=args.seed, **cfg))
    trainer.train(progress=args.progress, checkpoint_dir=args.save_dir,
                  checkpoint_every=100 if args.save_dir else None)
    train_s = trainer.elapsed_s_
    hist = trainer.history_
    n_trials = cfg["n_trials"]

    results = {"GRU (A2C)": behaviour(trainer.play(args.eval_sessions, seed=args.eval_seed))}
    env_kwargs = {"n_trials": n_trials, **TASK}
    for name, label in (("two_step_mb", "model-based"), ("two_step_mf", "model-free")):
        model = make_model(name, p_common=TASK["p_common"])
        params = model.default_params()
        if "lam" in params:
            params["lam"] = 1.0  # pure model-free: credit from the reward straight to the choice
        sim = simulate(model, params, ENV_ID, n_subjects=args.eval_sessions,
                       seed=args.eval_seed, env_kwargs=env_kwargs, latents=False)
        results[f"{label} learner"] = behaviour(sim.trials)
    if args.figure:
        figure(results, Path(args.figure))
    out = {
        "task": f"{ENV_ID} {TASK}, {n_trials} trials",
        "config": trainer.config.to_dict(),
        "training": {
            "updates": trainer.update_,
            "train_s": round(train_s, 1),
            "final_train_reward_per_trial": round(float(hist["return"].tail(50).mean()) / n_trials, 4),
            "torch_threads": torch.get_num_threads(),
        },
        "eval": {"sessions": args.eval_sessions, "seed": args.eval_seed, "actions": "sampled"},
        "oracle_reward_rate": ORACLE_REWARD,
        "results": {k: {kk: vv for kk, vv in v.items() if not kk.startswith("_")} for k, v in results.items()},
    }
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return out


if __name__ == "__main__":
    main()
