"""Two-step task: stay probabilities of model-free, model-based and hybrid agents (Daw et al. 2011).

Each agent (:mod:`cogmodels.models.two_step`) is simulated with its default parameters (the
hybrid with ``w``) on ``cogmodels/TwoStep-v0``; the probability of repeating the first-stage
choice is tabulated by the previous trial's reward and transition
(:func:`cogmodels.fits.ppc.stay_probabilities`). Model-free agents show a main effect of reward,
model-based ones a reward × transition interaction, the hybrid both (:func:`stay_effects`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cogmodels.experiments._common import markdown_table, save
from cogmodels.experiments.registry import Config, Experiment
from cogmodels.fits.ppc import stay_effects, stay_probabilities
from cogmodels.models import make_model
from cogmodels.simulate import simulate

__all__ = ["EXPERIMENT"]

AGENTS = ("two_step_mf", "two_step_mb", "two_step_hybrid")
ENV = "cogmodels/TwoStep-v0"


def units(config: Config) -> list[dict]:
    return [{"agent": a} for a in config["agents"]]


def run_unit(config: Config, unit: dict, seed: int) -> dict[str, pd.DataFrame]:
    model = make_model(unit["agent"])
    params = model.default_params()
    if "w" in params:
        params["w"] = config["w"]
    for k in ("beta1", "beta2"):
        if k in params:
            params[k] = config["beta"]
    sim = simulate(model, params, ENV, n_subjects=config["n_subjects"], seed=seed,
                   env_kwargs={"n_trials": config["n_trials"]}, latents=False)
    stay = stay_probabilities(sim.trials)
    stay.insert(0, "agent", unit["agent"])
    effects = stay_effects(stay).to_frame().T.reset_index(drop=True)
    effects.insert(0, "agent", unit["agent"])
    per_subject = pd.concat(
        [stay_probabilities(g).assign(subject=s) for s, g in sim.trials.groupby("subject", sort=True)],
        ignore_index=True,
    )[["subject", "previous_reward", "previous_transition", "p_stay"]]
    per_subject.insert(0, "agent", unit["agent"])
    truth = pd.DataFrame([{"agent": unit["agent"], **params}])
    return {"stay": stay, "effects": effects, "stay_per_subject": per_subject, "parameters": truth}


def _figure(stay: pd.DataFrame):
    import seaborn as sns
    from matplotlib.figure import Figure

    agents = list(dict.fromkeys(stay["agent"]))
    fig = Figure(figsize=(3.3 * len(agents) + 1.2, 3.2), layout="constrained")
    axes = fig.subplots(1, len(agents), sharey=True, squeeze=False)[0]
    colors = sns.color_palette("colorblind", 2)
    for ax, agent in zip(axes, agents):
        d = stay[stay["agent"] == agent]
        for j, (trans, color) in enumerate(zip(("common", "rare"), colors)):
            part = d[d["previous_transition"] == trans].set_index("previous_reward").reindex(
                ["rewarded", "unrewarded"])
            x = np.arange(2) + (j - 0.5) * 0.38
            ax.bar(x, part["p_stay"], width=0.36, color=color, label=trans,
                   yerr=part["sem"].fillna(0.0), capsize=3)
        ax.set_xticks([0, 1], ["rewarded", "unrewarded"])
        ax.set_ylim(0.0, 1.0)
        ax.set_title(agent.replace("two_step_", "").upper() if agent != "two_step_hybrid" else "hybrid")
        ax.set_xlabel("previous outcome")
    axes[0].set_ylabel("P(stay), mean ± s.e.m.")
    axes[-1].legend(title="previous\ntransition", loc="upper left", bbox_to_anchor=(1.02, 1.0),
                    frameon=False)
    return fig


def report(config: Config, tables: dict[str, pd.DataFrame], out: Path) -> tuple[str, list[Path]]:
    fig = save(_figure(tables["stay"]), out, "stay_probabilities")
    md = "\n".join([
        "## Stay probabilities",
        "",
        f"{config['n_subjects']} simulated subjects per agent, {config['n_trials']} trials each "
        f"(hybrid w = {config['w']}, beta1 = beta2 = {config['beta']}).",
        "",
        "![stay probabilities](figures/stay_probabilities.png)",
        "",
        "Effects on P(stay) (model-free: reward; model-based: reward × transition interaction):",
        "",
        markdown_table(tables["effects"]),
    ])
    return md, [fig]


EXPERIMENT = Experiment(
    name="two_step",
    description=(
        "Two-step task (Daw et al. 2011): stay probabilities by previous reward and transition for "
        "model-free, model-based and hybrid agents."
    ),
    defaults={"agents": list(AGENTS), "n_subjects": 100, "n_trials": 200, "w": 0.5, "beta": 5.0},
    quick={"n_subjects": 10, "n_trials": 100},
    choices={"agents": list(AGENTS)},
    units=units,
    run_unit=run_unit,
    report=report,
    ranges={"n_subjects": (1, None), "n_trials": (1, None), "w": (0, 1), "beta": (0, None)},
)
