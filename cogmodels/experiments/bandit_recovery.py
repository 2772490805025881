"""Q-learning parameter recovery and model recovery on the two-armed bandit.

Wilson & Collins (2019), eLife 8:e49547, rules 6 and 7. Units are repetitions of two studies:

- ``parameter``: :func:`cogmodels.fits.recovery.parameter_recovery` of ``model`` (true
  parameters drawn uniformly over the inner ranges, simulated on
  ``cogmodels/MultiArmedBandit-v0``, refitted by MLE);
- ``model``: :func:`cogmodels.fits.recovery.model_recovery` of the candidate ``models`` (each
  simulated, every candidate fitted, the best by ``criterion`` per subject).

Each repetition has its own unit seed, so repetitions are independent samples; the results pool
them (recovery statistics over all subjects, the confusion matrix of the summed counts).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cogmodels.experiments._common import markdown_table, quiet, save
from cogmodels.experiments.registry import Config, Experiment
from cogmodels.fits.recovery import (
    ModelRecoveryResult,
    RecoveryResult,
    model_recovery,
    parameter_recovery,
    recovery_stats,
)
from cogmodels.models import MODELS, make_model

__all__ = ["EXPERIMENT"]

ENV = "cogmodels/MultiArmedBandit-v0"
BANDIT_MODELS = [name for name, cls in sorted(MODELS.items()) if ENV in cls.tasks]


def units(config: Config) -> list[dict]:
    return ([{"study": "parameter", "repeat": r} for r in range(config["n_repeats"])]
            + [{"study": "model", "repeat": r} for r in range(config["n_repeats"])])


def _env_kwargs(config: Config) -> dict:
    return {"n_actions": 2, "n_trials": config["n_trials"]}


def run_unit(config: Config, unit: dict, seed: int) -> dict[str, pd.DataFrame]:
    rep = unit["repeat"]
    with quiet():
        if unit["study"] == "parameter":
            res = parameter_recovery(
                make_model(config["model"]), ENV, n_subjects=config["n_subjects"],
                env_kwargs=_env_kwargs(config), n_starts=config["n_starts"], seed=seed,
            )
            table = res.table.copy()
            table.insert(0, "repeat", rep)
            return {"parameter_recovery": table}
        res = model_recovery(
            {name: make_model(name) for name in config["models"]}, ENV,
            n_subjects=config["n_subjects_model"], env_kwargs=_env_kwargs(config),
            criterion=config["criterion"], n_starts=config["n_starts"], seed=seed,
        )
    counts = res.counts.stack().rename("count").reset_index()
    counts.insert(0, "repeat", rep)
    scores = res.scores.copy()
    scores.insert(0, "repeat", rep)
    return {"model_recovery_counts": counts, "model_recovery_scores": scores}


def _confusion(counts: pd.DataFrame, labels: list[str]) -> ModelRecoveryResult:
    mat = (counts.groupby(["simulated", "fitted"])["count"].sum().unstack("fitted")
           .reindex(index=labels, columns=labels, fill_value=0).fillna(0).astype(int))
    mat.index.name, mat.columns.name = "simulated", "fitted"
    with np.errstate(invalid="ignore", divide="ignore"):
        confusion = mat.div(mat.sum(axis=1).replace(0, np.nan), axis=0)
        inversion = confusion.div(confusion.sum(axis=0).replace(0, np.nan), axis=1)
    return ModelRecoveryResult("", mat, confusion, inversion, pd.DataFrame(), {})


def combine(config: Config, tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    out = {}
    if "parameter_recovery" in tables:
        out["parameter_recovery_stats"] = recovery_stats(tables["parameter_recovery"]).reset_index()
    if "model_recovery_counts" in tables:
        res = _confusion(tables["model_recovery_counts"], list(config["models"]))
        out["confusion"] = res.confusion.reset_index()
        out["inversion"] = res.inversion.reset_index()
    return out


def report(config: Config, tables: dict[str, pd.DataFrame], out: Path) -> tuple[str, list[Path]]:
    figs, md = [], []
    if "parameter_recovery" in tables:
        table = tables["parameter_recovery"]
        names = list(dict.fromkeys(table["param"]))
        stats = recovery_stats(table)
        result = RecoveryResult(make_model(config["model"]), table, stats, pd.DataFrame(), pd.DataFrame(),
                                pd.DataFrame(columns=names), pd.DataFrame(), pd.DataFrame(), None)
        figs.append(save(result.plot(), out, "parameter_recovery"))
        md += ["## Parameter recovery", "",
               f"{config['model']}: {config['n_repeats']} × {config['n_subjects']} simulated subjects, "
               f"{config['n_trials']} trials each, MLE with {config['n_starts']} start(s).", "",
               "![parameter recovery](figures/parameter_recovery.png)", "",
               markdown_table(tables["parameter_recovery_stats"]), ""]
    if "model_recovery_counts" in tables:
        res = _confusion(tables["model_recovery_counts"], list(config["models"]))
        res.criterion = config["criterion"]
        figs.append(save(res.plot(), out, "model_recovery"))
        md += ["## Model recovery", "",
               f"Candidates {config['models']}: {config['n_repeats']} × {config['n_subjects_model']} "
               f"subjects simulated by each, best by {config['criterion'].upper()}.", "",
               "![model recovery](figures/model_recovery.png)", "",
               "Confusion p(fit | simulated):", "", markdown_table(tables["confusion"]), ""]
    return "\n".join(md), figs


EXPERIMENT = Experiment(
    name="bandit_recovery",
    description=(
        "Parameter recovery of the Q-learner and model recovery among bandit models on the "
        "two-armed bandit (Wilson & Collins 2019)."
    ),
    defaults={"model": "q_learning", "models": ["random", "wsls", "q_learning", "actor_critic"],
              "n_repeats": 2, "n_subjects": 50, "n_subjects_model": 30, "n_trials": 200,
              "n_starts": 5, "criterion": "bic"},
    quick={"models": ["wsls", "q_learning"], "n_repeats": 1, "n_subjects": 8, "n_subjects_model": 4,
           "n_trials": 80, "n_starts": 1},
    choices={"model": BANDIT_MODELS, "models": BANDIT_MODELS, "criterion": ["aic", "bic"]},
    units=units,
    run_unit=run_unit,
    combine=combine,
    report=report,
    ranges={"n_repeats": (1, None), "n_subjects": (1, None), "n_subjects_model": (1, None),
            "n_trials": (1, None), "n_starts": (1, None)},
)
