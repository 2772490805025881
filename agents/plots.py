"""Figures of the TD agents: the dopamine prediction error within a conditioning trial.

The study that produces the step tables (``pavlovian_prediction_errors``, ``dopamine_figure``,
``DEFAULT_SETTINGS``) lives in :mod:`cogmodels.experiments.dopamine`; the old import path from
this module still works, with a ``DeprecationWarning``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from cogmodels.deprecation import moved_names

__all__ = ["plot_prediction_errors"]

__getattr__ = moved_names(__name__, ("DEFAULT_SETTINGS", "dopamine_figure"), "cogmodels.experiments.dopamine")


PHASES = ("early", "late", "omission")
PALETTE = {"early": "#4C72B0", "late": "#DD8452", "omission": "#C44E52"}
#: line style per phase: "late" wide and pale under the dashed "omission" (equal before the reward)
_PHASE_STYLE: dict[str, dict[str, Any]] = {
    "early": {"lw": 1.5, "ms": 3, "zorder": 3},
    "late": {"lw": 4.0, "ms": 6, "alpha": 0.5, "zorder": 2},
    "omission": {"lw": 1.5, "ms": 3, "ls": (0, (4, 2)), "zorder": 4},
}
TITLES = {"csc": "Complete serial compound", "microstimulus": "Microstimulus",
          "presence": "Presence"}


def plot_prediction_errors(
    steps: pd.DataFrame,
    *,
    phases: Sequence[str] = PHASES,
    value: bool = True,
    figure: Figure | None = None,
) -> Figure:
    """δ (and V) over the time within a trial, one line per phase, one column per representation.

    ``steps`` is one or more tables of
    :func:`~cogmodels.experiments.dopamine.pavlovian_prediction_errors`
    concatenated (columns ``representation``, ``phase``, ``time_in_trial``, ``delta``, ``value``,
    ``cue``, ``reward_time``). Trials are cut at the end of the shortest trial (the ITI is
    dropped); phases with several trials show their mean. Dotted lines mark the cue and the
    reward. Returns the Figure (drawn on ``figure`` when given).
    """
    need = {"representation", "phase", "time_in_trial", "delta", "value"}
    missing = need - set(steps.columns)
    if missing:
        raise ValueError(
            f"steps must come from pavlovian_prediction_errors; missing columns {sorted(missing)}"
        )
    reps = list(dict.fromkeys(steps["representation"]))
    data = steps[steps["phase"].isin(phases)].copy()
    data["phase"] = data["phase"].astype(str)
    trials = data.groupby(["representation", "trial"])
    last = trials["time_in_trial"].max()
    if "iti" in data.columns:  # keep the trial proper: drop the inter-trial interval
        last = last - trials["iti"].first()
    data = data[data["time_in_trial"] <= int(last.min())]
    rows = 2 if value else 1
    fig = figure if figure is not None else Figure(figsize=(4.2 * len(reps) + 1.3, 3.0 * rows + 0.4),
                                                    layout="constrained")
    axes = np.asarray(fig.subplots(rows, len(reps), sharex=True, squeeze=False))
    cue_step = reward_time = None
    if "cue" in data.columns and data["cue"].astype(bool).any():
        cue_step = int(data.loc[data["cue"].astype(bool), "time_in_trial"].min())
    if "reward_time" in data.columns:
        reward_time = int(data["reward_time"].iloc[0])
    for j, rep in enumerate(reps):
        sub = data[data["representation"] == rep]
        for i, (col, label) in enumerate([("delta", "prediction error δ (reward units)"),
                                          ("value", "value V (reward units)")][:rows]):
            ax = axes[i, j]
            for phase in phases:
                curve = sub[sub["phase"] == phase].groupby("time_in_trial")[col].mean()
                if curve.empty:
                    continue
                # "late" and "omission" coincide up to the reward: late is drawn wide and pale
                # underneath, the dashed omission line on top, so both stay visible
                style = _PHASE_STYLE.get(phase, {})
                ax.plot(curve.index, curve.to_numpy(), label=phase, color=PALETTE.get(phase),
                        marker="o", **style)
            ax.axhline(0.0, color="0.6", lw=0.8)
            for t, name in ((cue_step, "cue"), (reward_time, "reward")):
                if t is not None:
                    ax.axvline(t, color="0.4", ls=":", lw=1)
                    if i == 0:
                        ax.text(t, 1.02, name, transform=ax.get_xaxis_transform(),
                                ha="center", va="bottom", fontsize=8, color="0.3")
            ax.set_ylabel(label)
            ax.set_xlabel("time in trial (steps)" if i == rows - 1 else "")
            if i == 0:
                ax.set_title(TITLES.get(rep, rep), pad=14)
    # one legend, outside the data (on the right of the top-right panel)
    axes[0, -1].legend(title="phase", loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    return fig
