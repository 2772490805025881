"""The demo job: a Q-learner simulated on the bandit and reversal tasks, with learning curves."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cogmodels.fits.ppc import learning_curve
from cogmodels.models import make_model
from cogmodels.simulate import simulate

__all__ = ["run_demo"]

#: (label, env id, env kwargs)
DEMO_TASKS = (
    ("bandit", "cogmodels/MultiArmedBandit-v0", {"n_arms": 2, "n_trials": 100}),
    ("reversal", "cogmodels/ReversalLearning-v0", {"n_trials": 160, "mode": "schedule", "reversal_every": 40}),
)


def run_demo(out: str | Path = "demo-output", *, seed: int = 0, n_subjects: int = 50) -> dict[str, Path]:
    """Simulate ``n_subjects`` Q-learners on each demo task; write curves as CSV and PNG."""
    from matplotlib.figure import Figure

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model = make_model("q_learning", n_actions=2, stickiness=True)
    params = {"alpha": 0.3, "beta": 5.0, "kappa": 0.2}
    curves = []
    for i, (label, env_id, kwargs) in enumerate(DEMO_TASKS):
        sim = simulate(model, params, env_id, n_subjects=n_subjects, seed=seed + i, env_kwargs=kwargs)
        c = learning_curve(sim.trials)  # P(best or correct option) by trial
        c.insert(0, "task", label)
        curves.append(c)
    table = pd.concat(curves, ignore_index=True)
    csv = out / "learning_curves.csv"
    table.to_csv(csv, index=False)

    fig = Figure(figsize=(10, 3.6), layout="constrained")
    axes = fig.subplots(1, len(DEMO_TASKS), sharey=True)
    for ax, (label, env_id, kwargs) in zip(axes, DEMO_TASKS):
        c = table[table["task"] == label]
        ax.plot(c["trial"], c["p_correct"], color="C0", lw=1.5, label="Q-learner")
        ax.fill_between(c["trial"], c["p_correct"] - c["sem"], c["p_correct"] + c["sem"], color="C0", alpha=0.25)
        ax.axhline(0.5, color="0.5", ls=":", lw=1, label="chance")
        if label == "reversal":
            for r in range(kwargs["reversal_every"], kwargs["n_trials"], kwargs["reversal_every"]):
                ax.axvline(r, color="C3", ls="--", lw=0.8)
        ax.set_title(f"{env_id.split('/')[1]}  ({n_subjects} simulated subjects)")
        ax.set_xlabel("trial")
    axes[0].set_ylabel("P(choose the better option)")
    axes[0].set_ylim(0, 1)
    axes[0].legend(loc="lower right", frameon=False)
    png = out / "learning_curves.png"
    fig.savefig(png, dpi=120)
    return {"learning curves (CSV)": csv, "learning curves (PNG)": png}
