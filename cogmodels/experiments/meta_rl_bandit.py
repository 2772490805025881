"""Meta-RL on the two-armed bandit: a GRU trained by batched A2C against the Bayes-optimal policy,
Thompson sampling, UCB1, greedy and random choice (Wang et al. 2018).

Task: two Bernoulli arms with probabilities drawn from U(0, 1) each session, ``n_trials``
trials. Score: the mean pseudo-regret per session, ``Σ_t (max p − p_{a_t})``, on the same
``eval_sessions`` held-out sessions for every agent (common random numbers, seed
``eval_seed``; :func:`cogmodels.agents.bandit_baselines.evaluate`). One unit per agent; the GRU
unit trains for a fixed number of updates (not a wall-clock budget, so the result is
reproducible) with one torch thread, and records its learning curve. The benchmark
``benchmarks/bench_meta_rl.py`` is the wall-clock version of the same comparison.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cogmodels.experiments._common import markdown_table, save
from cogmodels.experiments.registry import Config, Experiment

__all__ = ["EXPERIMENT"]

AGENTS = ("gru_a2c", "bayes_optimal", "thompson", "ucb1", "greedy", "random")


def units(config: Config) -> list[dict]:
    return [{"agent": a} for a in config["agents"]]


def _baseline(name: str, n_trials: int):
    from cogmodels.agents import bandit_baselines as bb

    return {"bayes_optimal": lambda: bb.BayesOptimal(n_trials), "thompson": bb.ThompsonSampling,
            "ucb1": bb.UCB1, "greedy": bb.Greedy, "random": bb.RandomPolicy}[name]()


def run_unit(config: Config, unit: dict, seed: int) -> dict[str, pd.DataFrame]:
    from cogmodels.agents.bandit_baselines import evaluate

    name, n_trials = unit["agent"], config["n_trials"]
    tables: dict[str, pd.DataFrame] = {}
    if name == "gru_a2c":
        import torch

        from cogmodels.agents.a2c import BANDIT_SETTINGS, A2CConfig, A2CTrainer

        torch.set_num_threads(1)  # the same float reductions in every process
        settings = {**BANDIT_SETTINGS, "hidden_size": config["hidden_size"],
                    "num_envs": config["num_envs"], "reward_signal": config["reward_signal"]}
        cfg = A2CConfig(seed=seed, total_updates=config["updates"], env_kwargs={"n_arms": 2},
                        n_trials=n_trials, **settings)
        trainer = A2CTrainer(cfg)
        trainer.train(config["updates"], progress=False)
        policy = trainer.model.as_session_policy(greedy=False)
        hist = trainer.history_[["update", "regret"]].copy()
        hist.insert(0, "agent", name)
        tables["learning_curve"] = hist
    else:
        policy = _baseline(name, n_trials)
    res = evaluate(policy, config["eval_sessions"], seed=config["eval_seed"], n_trials=n_trials)
    row = {"agent": name, **res.as_dict()}
    if name == "bayes_optimal":
        row["exact_expected_regret"] = float(policy.expected_regret)
    tables["regret"] = pd.DataFrame([row])
    tables["per_session"] = pd.DataFrame({"agent": name, "session": np.arange(res.n_episodes),
                                          "regret": res.regrets})
    return tables


def report(config: Config, tables: dict[str, pd.DataFrame], out: Path) -> tuple[str, list[Path]]:
    from matplotlib.figure import Figure

    regret = tables["regret"].sort_values("mean_regret").reset_index(drop=True)
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    ax1.barh(regret["agent"], regret["mean_regret"],
             xerr=[regret["mean_regret"] - regret["ci_low"], regret["ci_high"] - regret["mean_regret"]],
             color="0.6")
    ax1.set_xlabel("mean pseudo-regret per session (95% CI)")
    ax1.invert_yaxis()
    paths = []
    if "learning_curve" in tables:
        lc = tables["learning_curve"]
        smooth = lc["regret"].rolling(max(1, len(lc) // 50), min_periods=1).mean()
        ax2.plot(lc["update"], smooth, color="C0", label="GRU (training batches)")
        for name, color in (("bayes_optimal", "k"), ("thompson", "C1")):
            hit = regret.loc[regret["agent"] == name, "mean_regret"]
            if len(hit):
                ax2.axhline(float(hit.iloc[0]), color=color, ls="--", label=name)
        ax2.set_xlabel("update")
        ax2.set_ylabel("regret per session")
        ax2.legend(frameon=False)
    else:
        ax2.set_visible(False)
    paths.append(save(fig, out, "regret"))
    cols = ["agent", "mean_regret", "ci_low", "ci_high", "n_episodes"]
    md = "\n".join([
        "## Regret on held-out sessions",
        "",
        f"{config['eval_sessions']} sessions of {config['n_trials']} trials (seed "
        f"{config['eval_seed']}), the same for every agent; GRU: {config['updates']} A2C updates "
        f"of {config['num_envs']} sessions, sampled actions.",
        "",
        "![regret](figures/regret.png)",
        "",
        markdown_table(regret[cols]),
    ])
    return md, paths


EXPERIMENT = Experiment(
    name="meta_rl_bandit",
    description=("Meta-RL on the two-armed Bernoulli bandit: a GRU trained by batched A2C against "
                 "the Bayes-optimal policy, Thompson sampling, UCB1, greedy and random choice."),
    defaults={"agents": list(AGENTS), "n_trials": 100, "updates": 3000, "num_envs": 64,
              "hidden_size": 64, "reward_signal": "regret", "eval_sessions": 10_000,
              "eval_seed": 20_181},
    quick={"updates": 30, "num_envs": 16, "hidden_size": 16, "eval_sessions": 300},
    choices={"agents": list(AGENTS), "reward_signal": ["reward", "regret"]},
    units=units,
    run_unit=run_unit,
    report=report,
    ranges={"n_trials": (1, None), "updates": (1, None), "num_envs": (1, None), "hidden_size": (1, None),
            "eval_sessions": (1, None), "eval_seed": (0, None)},
)
