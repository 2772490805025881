"""Dopamine prediction-error transfer: TD(λ) critics on Pavlovian conditioning.

Schultz, Dayan & Montague (1997), Science 275, 1593-1599: early in learning the prediction error
δ fires at the reward, late in learning at the cue, and an omitted reward gives a dip at the
time it was expected. One unit per representation of time (complete serial compound,
microstimuli of Ludvig, Sutton & Kehoe 2008, ...), each trained by
:func:`pavlovian_prediction_errors` with its unit seed.

The study harness lives here, beside the experiment that runs it: :func:`pavlovian_prediction_errors`
(train a :class:`~cogmodels.agents.td.TDCritic` over one conditioning session),
:func:`trial_deltas` (δ at the cue and at the reward, trial by trial), :data:`DEFAULT_SETTINGS`
(the step size per representation) and :func:`dopamine_figure`. The agents stay in
:mod:`cogmodels.agents.td`, the figure of a step table in :mod:`cogmodels.agents.plots`.

Examples
--------
A TD(λ) critic learns to predict a reward that follows a cue; its error δ moves from the reward
(trial 0) to the cue (trial 98), and dips below zero when the reward is omitted (trial 99):

>>> from cogmodels.experiments.dopamine import pavlovian_prediction_errors, trial_deltas
>>> steps = pavlovian_prediction_errors("csc", n_trials=100, omission_trials=[99], seed=0)
>>> trial_deltas(steps).iloc[[0, 98, 99]].round(2)
    trial  delta_cue  delta_us  omitted
0       0       0.00       1.0    False
98     98       0.82       0.0    False
99     99       0.82      -1.0     True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd

import cogmodels.envs  # noqa: F401  (registers the environments)
from cogmodels.agents.features import (
    REPRESENTATIONS,
    CompleteSerialCompound,
    Microstimulus,
    Representation,
    make_representation,
)
from cogmodels.agents.td import TDCritic
from cogmodels.deprecation import require_columns
from cogmodels.experiments._common import markdown_table, save
from cogmodels.experiments.registry import Config, Experiment

__all__ = ["DEFAULT_SETTINGS", "EXPERIMENT", "dopamine_figure", "pavlovian_prediction_errors", "trial_deltas"]

PAVLOVIAN = "cogmodels/PavlovianConditioning-v0"
#: settings per representation: keyword arguments of :func:`pavlovian_prediction_errors`
DEFAULT_SETTINGS: dict[str, dict[str, Any]] = {
    "csc": {"alpha": 0.1},
    "microstimulus": {"alpha": 0.3, "representation_kwargs": {"n_microstimuli": 20, "decay": 0.85}},
}


# -- the study harness ---------------------------------------------------------------------------

def _pavlovian_representation(spec: str | Representation, env: gym.Env,
                              kwargs: Mapping[str, Any] | None) -> Representation:
    if isinstance(spec, Representation):
        return spec
    kwargs = dict(kwargs or {})
    task = env.unwrapped
    if spec == "csc":
        kwargs.setdefault("n_steps", task.trial_steps - task.cue_step)
        return CompleteSerialCompound(**kwargs)
    if spec == "microstimulus":
        kwargs.setdefault("n_microstimuli", 10)
        kwargs.setdefault("decay", 0.85)
        kwargs.setdefault("us_index", 1)
        return Microstimulus(**kwargs)
    return make_representation(spec, **kwargs)


def pavlovian_prediction_errors(
    representation: str | Representation = "csc",
    *,
    n_trials: int = 150,
    omission_trials: Sequence[int] | None = None,
    n_late: int = 5,
    alpha: float = 0.1,
    gamma: float = 0.98,
    lam: float = 0.9,
    seed: int | None = 0,
    env_kwargs: Mapping[str, Any] | None = None,
    representation_kwargs: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Train a :class:`~cogmodels.agents.td.TDCritic` on Pavlovian conditioning and return its step table.

    One session of ``n_trials`` trials of ``cogmodels/PavlovianConditioning-v0`` (``env_kwargs``
    passed on) in which the trials ``omission_trials`` (default: the last one) are probe trials
    without reward. ``representation`` is ``"csc"`` (length ``trial_steps - cue_step``),
    ``"microstimulus"`` (10 microstimuli, decay 0.9 per step), ``"presence"`` or a
    :class:`~cogmodels.agents.features.Representation`; ``representation_kwargs`` override
    those defaults.

    The table (see :meth:`~cogmodels.agents.td.TDAgent.run`) gets a ``phase`` column: ``"early"`` (the first trial),
    ``"late"`` (the ``n_late`` rewarded trials before the first omission), ``"omission"`` and
    ``"training"`` (the rest), and a ``representation`` column. The classic result (Schultz,
    Dayan & Montague 1997): early, δ at the reward; late, δ at the cue; omission, a dip below 0
    at the time of the expected reward.
    """
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 2:
        raise ValueError(f"n_trials must be an integer >= 2, got {n_trials!r}")
    omitted = [n_trials - 1] if omission_trials is None else sorted(int(t) for t in omission_trials)
    kwargs = {**dict(env_kwargs or {}), "n_trials": n_trials, "omission_trials": omitted}
    env = gym.make(PAVLOVIAN, **kwargs)
    rep = _pavlovian_representation(representation, env, representation_kwargs)
    critic = TDCritic(rep, alpha=alpha, gamma=gamma, lam=lam)
    df = critic.run(env, seed=seed)
    first = omitted[0] if omitted else n_trials
    late = [t for t in range(first) if t not in omitted][-n_late:] if n_late else []
    phase = np.full(len(df), "training", dtype=object)
    phase[df["trial"].isin(late).to_numpy()] = "late"
    phase[df["trial"].isin(omitted).to_numpy()] = "omission"
    phase[(df["trial"] == 0).to_numpy()] = "early"
    df["phase"] = pd.Categorical(phase, categories=["early", "training", "late", "omission"])
    name = representation if isinstance(representation, str) else type(representation).__name__
    df["representation"] = name
    return df


def trial_deltas(steps: pd.DataFrame, *, cue_step: int | None = None,
                 reward_time: int | None = None) -> pd.DataFrame:
    """δ at the cue and at the (expected) reward in every trial of a Pavlovian step table.

    ``cue_step`` defaults to the first ``time_in_trial`` with the cue on, ``reward_time`` to the
    table's ``reward_time`` column. Returns one row per trial: ``trial``, ``delta_cue``,
    ``delta_us``, ``omitted`` (if recorded). ``steps`` holds one session (``trial`` counts from 0
    in each session of a :meth:`~cogmodels.agents.td.TDAgent.run` table): select one of several
    with ``steps[steps["session"] == k]``.
    """
    require_columns("steps", steps, ("trial", "time_in_trial", "delta"),
                    "a step table of TDAgent.run on a task that reports time_in_trial")
    if "session" in steps.columns and steps["session"].nunique() > 1:
        raise ValueError(f"steps must hold one session (trial counts from 0 in each), got sessions "
                         f"{sorted(steps['session'].unique().tolist())}: select one with "
                         "steps[steps['session'] == k]")
    if cue_step is None:
        if "cue" not in steps.columns or not steps["cue"].astype(bool).any():
            raise ValueError("cue_step is needed: the table has no 'cue' column with a cue")
        cue_step = int(steps.loc[steps["cue"].astype(bool), "time_in_trial"].min())
    if reward_time is None:
        if "reward_time" not in steps.columns:
            raise ValueError("reward_time is needed: the table has no 'reward_time' column")
        reward_time = int(steps["reward_time"].iloc[0])
    by = steps.pivot_table("delta", "trial", "time_in_trial", aggfunc="first")
    out = pd.DataFrame({
        "trial": by.index.to_numpy(),
        "delta_cue": by[cue_step].to_numpy(),
        "delta_us": by[reward_time].to_numpy(),
    })
    if "omitted" in steps.columns:
        out["omitted"] = steps.groupby("trial")["omitted"].first().reindex(by.index).to_numpy()
    return out


def dopamine_figure(
    representations: Sequence[str] = ("csc", "microstimulus"),
    *,
    n_trials: int = 200,
    seed: int | None = 0,
    env_kwargs: Mapping[str, Any] | None = None,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
):
    """Draw the Schultz, Dayan & Montague (1997) figure for TD(λ) critics per representation.

    Trains a :class:`~cogmodels.agents.td.TDCritic` per representation on one session of
    ``cogmodels/PavlovianConditioning-v0`` whose last trial omits the reward, and plots δ and V
    within the first trial (early), the last rewarded trials (late) and the omission trial
    (:func:`cogmodels.agents.plots.plot_prediction_errors`). ``settings`` maps a representation
    to keyword arguments of :func:`pavlovian_prediction_errors` (defaults in
    :data:`DEFAULT_SETTINGS`).

    With the CSC the response moves entirely from the reward to the cue (``δ ≈ γ^delay`` at the
    cue, 0 at the reward, ``-1`` at an omitted reward). With microstimuli of the cue and the
    reward (Ludvig, Sutton & Kehoe 2008) the reward response shrinks but does not vanish and the
    omission dip is shallower and spread in time; the value before the cue is not 0 because the
    trace of the previous trial's reward lasts into the next trial.

    Returns
    -------
    matplotlib.figure.Figure
        Two rows (δ, V), one column per representation.
    """
    from cogmodels.agents.plots import plot_prediction_errors

    tables = []
    for rep in representations:
        kw = {**DEFAULT_SETTINGS.get(rep, {}), **dict((settings or {}).get(rep, {}))}
        tables.append(pavlovian_prediction_errors(rep, n_trials=n_trials, seed=seed,
                                                  env_kwargs=env_kwargs, **kw))
    fig = plot_prediction_errors(pd.concat(tables, ignore_index=True))
    fig.suptitle("TD(λ) prediction errors: transfer from reward to cue, dip at omission")
    return fig


# -- the experiment ------------------------------------------------------------------------------
_STEP_COLUMNS = ["representation", "phase", "trial", "time_in_trial", "delta", "value", "cue", "us",
                 "reward_time", "omitted", "iti"]


def units(config: Config) -> list[dict]:
    """One unit per representation, with the dopamine figure's settings for it (e.g. alpha)."""
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
