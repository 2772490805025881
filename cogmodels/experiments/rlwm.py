"""RLWM on the Collins & Frank (2012) data: per-subject fits and set-size learning curves.

The packaged data (:func:`cogmodels.datasets.load_collins_frank_2012`) are fitted subject by
subject by maximum likelihood with the ``rlwm`` model (:mod:`cogmodels.models.rlwm`); each unit
is a batch of subjects. Each fitted subject is then simulated back in ``cogmodels/RLWM-v0``
(:func:`cogmodels.fits.ppc.posterior_predictive`) and the accuracy by set size and stimulus
iteration (:func:`cogmodels.fits.ppc.setsize_curves`) of the data and of the model are compared:
the set-size effect that working memory explains.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cogmodels.datasets import load_collins_frank_2012
from cogmodels.experiments._common import markdown_table, quiet, save, sem_summary
from cogmodels.experiments.registry import Config, Experiment
from cogmodels.fits import MaximumLikelihood, posterior_predictive, setsize_curves
from cogmodels.models import make_model

__all__ = ["EXPERIMENT"]

ENV = "cogmodels/RLWM-v0"


def _subjects(config: Config) -> list:
    subjects = sorted(pd.unique(load_collins_frank_2012()["subject"]).tolist())
    n = config["n_subjects"]
    return subjects if n <= 0 else subjects[:n]


def units(config: Config) -> list[dict]:
    subjects = [int(s) for s in _subjects(config)]
    k = config["subjects_per_unit"]
    if k < 1:
        raise ValueError(f"subjects_per_unit must be an integer >= 1, got {k!r}")
    return [{"first": b[0], "last": b[-1], "subjects": b}
            for b in (subjects[i:i + k] for i in range(0, len(subjects), k))]


def _per_subject_curves(trials: pd.DataFrame, source: str) -> pd.DataFrame:
    parts = [setsize_curves(g).assign(subject=s) for s, g in trials.groupby("subject", sort=True)]
    out = pd.concat(parts, ignore_index=True)[["subject", "set_size", "iteration", "p_correct"]]
    out.insert(0, "source", source)
    return out


def run_unit(config: Config, unit: dict, seed: int) -> dict[str, pd.DataFrame]:
    data = load_collins_frank_2012()
    data = data[data["subject"].isin(unit["subjects"])].reset_index(drop=True)
    model = make_model("rlwm", stickiness=config["stickiness"],
                       negative_feedback_bias=config["negative_feedback_bias"])
    with quiet():
        fit = MaximumLikelihood(model, n_starts=config["n_starts"], seed=seed,
                                max_iter=config["max_iter"]).fit(data, source="collins_frank_2012")
        sims = posterior_predictive(fit, ENV, n_sims=config["n_sims"], seed=seed)
    curves = pd.concat([_per_subject_curves(data, "data"), _per_subject_curves(sims, "model")],
                       ignore_index=True)
    return {"fits": fit.summary(), "setsize_per_subject": curves}


def combine(config: Config, tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    curves = sem_summary(tables["setsize_per_subject"], ["source", "set_size", "iteration"], "p_correct")
    fits = tables["fits"]
    names = [s.name for s in make_model("rlwm", stickiness=config["stickiness"],
                                        negative_feedback_bias=config["negative_feedback_bias"]).param_specs]
    params = fits[names].describe().T[["mean", "25%", "50%", "75%"]].reset_index(names="param")
    return {"setsize_curves": curves, "parameter_summary": params}


def report(config: Config, tables: dict[str, pd.DataFrame], out: Path) -> tuple[str, list[Path]]:
    from cogmodels.fits import plot_ppc

    curves = tables["setsize_curves"]
    data, sim = (curves[curves["source"] == s].drop(columns="source") for s in ("data", "model"))
    fig = plot_ppc(data, sim, kind="setsize", figsize=(7.6, 4.0))
    fig.suptitle("Collins & Frank (2012): accuracy by set size, data vs fitted RLWM")
    path = save(fig, out, "setsize_curves")
    fits = tables["fits"]
    md = "\n".join([
        "## Set-size learning curves",
        "",
        f"{len(fits)} subjects fitted by MLE ({config['n_starts']} start(s), at most "
        f"{config['max_iter']} iterations); {config['n_sims']} simulation(s) per subject. "
        f"Total log-likelihood {fits['loglik'].sum():.1f}, BIC {fits['bic'].sum():.1f}.",
        "",
        "![set-size curves](figures/setsize_curves.png)",
        "",
        "Fitted parameters across subjects:",
        "",
        markdown_table(tables["parameter_summary"]),
    ])
    return md, [path]


EXPERIMENT = Experiment(
    name="rlwm",
    description=(
        "The RLWM model fitted to the Collins & Frank (2012) data, subject by subject, and its "
        "set-size learning curves against the data's."
    ),
    defaults={"n_subjects": 0, "subjects_per_unit": 8, "n_starts": 5, "max_iter": 100, "n_sims": 2,
              "stickiness": True, "negative_feedback_bias": True},
    quick={"n_subjects": 3, "subjects_per_unit": 2, "n_starts": 1, "max_iter": 15, "n_sims": 1},
    units=units,
    run_unit=run_unit,
    combine=combine,
    report=report,
    ranges={"n_subjects": (0, 79), "subjects_per_unit": (1, None), "n_starts": (1, None),
            "max_iter": (1, None), "n_sims": (1, None)},
)
