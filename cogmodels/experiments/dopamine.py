"""Dopamine prediction-error transfer: TD(λ) critics on Pavlovian conditioning.

Schultz, Dayan & Montague (1997), Science 275, 1593-1599: early in learning the prediction error
δ fires at the reward, late in learning at the cue, and an omitted reward gives a dip at the
time it was expected. One unit per representation of time (complete serial compound,
microstimuli of Ludvig, Sutton & Kehoe 2008, ...), each trained by
:func:`cogmodels.agents.td.pavlovian_prediction_errors` with its unit seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cogmodels.agents.features import REPRESENTATIONS
from cogmodels.agents.td import pavlovian_prediction_errors, trial_deltas
from cogmodels.experiments._common import markdown_table, save
from cogmodels.experiments.registry import Config, Experiment

__all__ = ["EXPERIMENT"]

_STEP_COLUMNS = ["representation", "phase", "trial", "time_in_trial", "delta", "value", "cue", "us",
                 "reward_time", "omitted", "iti"]


def units(config: Config) -> list[dict]:
    """One unit per representation, with the dopamine figure's settings for it (e.g. alpha)."""
    from cogmodels.agents.plots import DEFAULT_SETTINGS

    return [{"representation": r, "settings": dict(DEFAULT_SETTINGS.get(r, {}))}
            for r in config["representations"]]


def run_unit(config: Config, unit: dict, seed: int) -> dict[str, pd.DataFrame]:
    rep = unit["representation"]
    kw = dict(unit.get("settings", {}))
    steps = pavlovian_prediction_errors(
        rep, n_trials=config["n_trials"], n_late=config["n_late"], gamma=config["gamma"],
        lam=config["lam"], seed=seed, **kw,
    )
    steps["phase"] = steps["phase"].astype(str)
    probes = steps.loc[steps["phase"] != "training", [c for c in _STEP_COLUMNS if c in steps.columns]]
    deltas = trial_deltas(steps)
    phase = steps.groupby("trial")["phase"].first().reindex(deltas["trial"]).to_numpy()
    deltas.insert(0, "representation", rep)
    deltas.insert(2, "phase", phase)
    return {"prediction_errors": probes.reset_index(drop=True), "trial_deltas": deltas}


def combine(config: Config, tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    d = tables["trial_deltas"]
    d = d[d["phase"] != "training"]
    summary = (d.groupby(["representation", "phase"], sort=False)[["delta_cue", "delta_us"]].mean()
               .reset_index())
    return {"phase_summary": summary}


def _transfer_figure(deltas: pd.DataFrame):
    from matplotlib.figure import Figure

    reps = list(dict.fromkeys(deltas["representation"]))
    fig = Figure(figsize=(4.2 * len(reps) + 1.4, 3.3), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(reps), squeeze=False)[0])
    for ax, rep in zip(axes, reps):
        d = deltas[(deltas["representation"] == rep) & ~deltas["omitted"].astype(bool)]
        for col, label, color in (("delta_cue", "at the cue", "C0"), ("delta_us", "at the reward", "C1")):
            ax.plot(d["trial"], d[col], color=color, label=label)
        ax.axhline(0.0, color="0.6", lw=0.8)
        ax.set_title(rep)
        ax.set_xlabel("conditioning trial")
        ax.set_ylabel("prediction error δ (reward units)")
    axes[-1].legend(title="δ", loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    fig.suptitle("Transfer of δ from the reward to the cue over learning (rewarded trials)")
    return fig


def report(config: Config, tables: dict[str, pd.DataFrame], out: Path) -> tuple[str, list[Path]]:
    from cogmodels.agents.plots import plot_prediction_errors

    steps = tables["prediction_errors"].copy()
    figs = [save(plot_prediction_errors(steps), out, "prediction_errors"),
            save(_transfer_figure(tables["trial_deltas"]), out, "transfer")]
    md = "\n".join([
        "## Prediction errors within a trial",
        "",
        f"{config['n_trials']} conditioning trials; the last one omits the reward. δ early (first "
        f"trial), late (the last {config['n_late']} rewarded trials) and on the omission trial:",
        "",
        "![prediction errors](figures/prediction_errors.png)",
        "",
        "Mean δ at the cue and at the (expected) reward:",
        "",
        markdown_table(tables["phase_summary"]),
        "",
        "## Transfer over learning",
        "",
        "![transfer](figures/transfer.png)",
    ])
    return md, figs


EXPERIMENT = Experiment(
    name="dopamine",
    description=(
        "TD(λ) prediction errors on Pavlovian conditioning (Schultz, Dayan & Montague 1997): δ moves "
        "from the reward to the cue with learning and dips when an expected reward is omitted."
    ),
    defaults={"representations": ["csc", "microstimulus"], "n_trials": 200, "n_late": 5,
              "gamma": 0.98, "lam": 0.9},
    quick={"n_trials": 60},
    choices={"representations": list(REPRESENTATIONS)},
    units=units,
    run_unit=run_unit,
    combine=combine,
    report=report,
    ranges={"n_trials": (2, None), "n_late": (0, None), "gamma": (0, 1), "lam": (0, 1)},
)
