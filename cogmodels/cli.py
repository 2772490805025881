"""The ``cogmodels`` command line."""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shlex
import sys
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["main"]


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if text and text.strip() else ""


def cmd_envs(args: argparse.Namespace) -> int:
    """List the registered environments."""
    import gymnasium as gym

    from cogmodels.envs import env_ids

    rows = []
    for env_id in env_ids():
        spec = gym.spec(env_id)
        env = gym.make(env_id)
        cls = type(env.unwrapped)
        rows.append(
            {
                "id": env_id,
                "entry_point": spec.entry_point,
                "vector_entry_point": spec.vector_entry_point,
                "observation_space": repr(env.observation_space),
                "action_space": repr(env.action_space),
                "description": _first_line(cls.__doc__),
            }
        )
        env.close()
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        width = max(len(r["id"]) for r in rows)
        for r in rows:
            vec = " [vector]" if r["vector_entry_point"] else ""
            print(f"{r['id']:<{width}}  {r['description']}{vec}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the demo job and print where its outputs are."""
    from cogmodels.demo import DEMO_EXPERIMENTS, run_demo

    experiments = tuple(args.only.split(",")) if args.only else DEMO_EXPERIMENTS
    resume = ["cogmodels", "demo", "--out", str(args.out), "--seed", str(args.seed)]
    resume += ["--full"] if args.full else []
    resume += ["--only", args.only] if args.only else []
    status, report = _guarded_run(
        "demo", resume,
        lambda: run_demo(args.out, seed=args.seed, full=args.full, executor=args.executor,
                         experiments=experiments, threads=args.threads,
                         progress=not args.quiet and sys.stderr.isatty()))
    if status is not None:
        return status
    print(f"report: {report}")
    print(f"run folders: {report.parent}/<experiment>/ (config, manifest, results, figures)")
    return 0


def _parse_value(text: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _key_values(items: Sequence[str] | None, flag: str) -> dict[str, Any]:
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{flag} takes name=value, got {item!r}")
        out[key] = _parse_value(value)
    return out


def _model(args: argparse.Namespace, trials=None):
    """Return the model of ``--model``, constraints included.

    ``--model`` may carry constraints as the fitted tables print them (``q_learning|kappa=0``,
    :func:`cogmodels.constrain.model_from_name`; the levels of ``name~column`` from ``trials``).
    """
    from cogmodels.constrain import model_from_name

    return model_from_name(args.model, data=trials, **_key_values(args.structure, "--structure"))


def _params(model, items: Sequence[str] | None, flag: str = "--param") -> dict[str, float]:
    """``--param name=value`` pairs checked against the model's parameters and bounds."""
    from cogmodels.validation import check_number

    specs = {s.name: s for s in model.param_specs}
    params = {}
    for name, value in _key_values(items, flag).items():
        _check_param_name(model, name, flag)
        s = specs[name]
        params[name] = check_number(f"{flag} {name}", value, s.low, s.high)
    return params


def _check_param_name(model, name: str, flag: str) -> None:
    if name not in model.param_names:
        raise ValueError(
            f"{flag} {name}: model {model.name!r} has no parameter {name!r}; its parameters "
            f"are {list(model.param_names)} (`cogmodels models` lists them with their bounds)"
        )


def _constrained(name: str, args: argparse.Namespace, trials):
    """Return the model named ``name`` with ``--fix``, ``--tie`` and ``--by`` added to its constraints.

    The flags are checked against the registered model's parameters (errors name the flag), then
    appended to the name's own ``|`` constraints (``--by w:stakes`` is ``|w~stakes``), so a model
    is constrained once, whether its constraints come from its name, the flags, or both.
    """
    from cogmodels.constrain import model_from_name
    from cogmodels.models import make_model

    structure = _key_values(args.structure, "--structure")
    base = make_model(name.partition("|")[0].strip(), **structure)
    parts = [f"{k}={v!r}" for k, v in _params(base, args.fix, "--fix").items()]
    for item in args.tie or ():
        group = [n.strip() for n in item.split("=")]
        if len(group) < 2 or not all(group):
            raise ValueError(f"--tie takes two or more parameter names joined by '=', e.g. "
                             f"alpha1=alpha2; got {item!r}")
        for member in group:
            _check_param_name(base, member, "--tie")
        parts.append("=".join(group))
    for param, column in _by_items(args):
        _check_param_name(base, param, "--by")
        parts.append(f"{param}~{column}")
    return model_from_name("|".join([name, *parts]), data=trials, **structure)


def _by_items(args: argparse.Namespace) -> list[tuple[str, str]]:
    """``--by parameter:column`` as ``(parameter, column)`` pairs."""
    out = []
    for item in getattr(args, "by", None) or ():
        param, sep, column = (x.strip() for x in item.partition(":"))
        if not sep or not param or not column:
            raise ValueError(f"--by takes parameter:column, e.g. w:stakes; got {item!r}")
        out.append((param, column))
    return out


def _task_levels(args: argparse.Namespace, env_kwargs: dict[str, Any]):
    """Return the condition columns of ``--by`` with the levels the task ``--env`` gives them, or None.

    ``recover`` has no trial table to read the levels from: they are read from one session of
    the task (:func:`cogmodels.fits.recovery.task_condition_levels`), which also refuses a task
    that does not give the column before its trials.
    """
    import pandas as pd

    from cogmodels.fits.recovery import task_condition_levels

    columns = list(dict.fromkeys(column for _, column in _by_items(args)))
    if not columns:
        return None
    try:
        levels = task_condition_levels(args.env, columns, env_kwargs=env_kwargs, seed=args.seed)
    except ValueError as err:
        raise ValueError(f"--by {', '.join(args.by)}: {err}") from None
    return pd.DataFrame({c: pd.Series(lv, dtype=float) for c, lv in levels.items()})


def _prior_option(model, args: argparse.Namespace) -> dict[str, Any]:
    """``{"priors": ...}`` for the estimator from ``--prior`` (empty without it)."""
    priors = _priors(model, args)
    return {"priors": priors} if priors else {}


def _regression_options(model, args: argparse.Namespace) -> dict[str, Any]:
    """``--covariates``, ``--regress name:col+col`` and ``--reference col=level`` (``fit --method em``)."""
    given = [flag for flag, value in (("--covariates", args.covariates), ("--regress", args.regress),
                                      ("--reference", args.reference)) if value]
    if not given:
        return {}
    if args.method not in ("em", *BAYES_METHODS):
        raise ValueError(f"{', '.join(given)}: group-level regressors are part of the hierarchical fit: use "
                         f"--method em, nuts or vi, got --method {args.method}")
    if not args.covariates or not args.regress:
        raise ValueError("--covariates (the subject table) and --regress (e.g. alpha:group+age) go together")
    regressors: dict[str, list[str]] = {}
    for item in args.regress:
        name, sep, columns = (x.strip() for x in item.partition(":"))
        cols = [c.strip() for c in columns.split("+")]
        if not sep or not name or not all(cols):
            raise ValueError(f"--regress takes parameter:covariate[+covariate...], e.g. alpha:group+age; "
                             f"got {item!r}")
        _check_param_name(model, name, "--regress")
        if name in regressors:
            raise ValueError(f"--regress names {name!r} twice: join its covariates with '+', e.g. {name}:group+age")
        regressors[name] = cols
    reference = {}
    for item in args.reference or ():
        column, sep, level = (x.strip() for x in item.partition("="))
        if not sep or not column or not level:
            raise ValueError(f"--reference takes column=level, e.g. group=control; got {item!r}")
        reference[column] = level
    if not Path(args.covariates).is_file():
        raise ValueError(f"--covariates {args.covariates}: no such file; the subject table is a CSV file with a "
                         "'subject' column and one column per covariate")
    return {"covariates": args.covariates, "regressors": regressors, "reference": reference or None}


def _priors(model, args: argparse.Namespace) -> dict[str, Any]:
    """``--prior name=family(args)`` as frozen scipy.stats distributions (MAP only)."""
    from cogmodels.priors import parse_prior

    if args.prior and args.method != "map":
        raise ValueError(f"--prior applies to --method map only (maximum likelihood uses no prior and "
                         f"em estimates its group prior), got --method {args.method}")
    out = {}
    for item in args.prior or ():
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--prior takes name=family(arguments), e.g. beta=gamma(2,1); got {item!r}")
        _check_param_name(model, name, "--prior")
        out[name] = parse_prior(text, flag=f"--prior {name}")
    return out


def _check_out_folder(out: str) -> Path:
    """``--out`` of fit / compare / recover: a folder that exists or can be made, and written to."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ValueError(
            f"--out {out}: a file of that name exists, but --out is the output folder: give a "
            f"folder path (it is created if needed), or move the file away"
        )
    _check_writable(path, out)
    return path


def _check_out_file(out: str, *others: Path, overwrite: bool = False) -> Path:
    """``--out`` of simulate: a file path whose folder can be written; existing files are kept."""
    path = Path(out)
    if path.is_dir():
        raise ValueError(
            f"--out {out}: that is a folder, but --out is the output CSV file: give a file path "
            f"such as {path / 'trials.csv'}"
        )
    for p in (path, *others):
        if p.exists() and not overwrite:
            raise ValueError(
                f"--out {out}: {p} already exists: choose another --out, delete the file, or pass "
                f"--overwrite to replace it"
            )
        if p.is_dir():
            raise ValueError(f"--out {out}: {p} is a folder, so it cannot be written: choose another --out")
    _check_writable(path.parent, out)
    return path


def _check_writable(folder: Path, out: str) -> None:
    """Refuse an ``--out`` that cannot be written, before any long computation starts."""
    existing = next(p for p in (folder, *folder.parents) if p.exists() or p == Path(p.anchor or "."))
    if not existing.is_dir():
        raise ValueError(
            f"--out {out}: {existing} is a file, so no folder can be made under it: choose another path"
        )
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise ValueError(
            f"--out {out}: cannot write in {existing} ({exc.strerror or exc}): choose a folder you "
            f"can write to, or change its permissions"
        ) from None


@contextlib.contextmanager
def _naming(data: str):
    """Make a data error raised while fitting name the data file, as a read error does."""
    try:
        yield
    except ValueError as exc:
        if str(data) in str(exc):
            raise
        raise ValueError(f"{data}: {exc}") from None


def _check_n_actions(trials, models: dict[str, Any], data: str) -> None:
    """Choices beyond a model's actions: say which ``--structure n_actions`` fits the data."""
    from cogmodels.models import MODELS, make_model

    for col in ("choice", "choice2"):
        if col not in trials.columns or trials[col].isna().all():
            continue
        top = int(trials[col].max())
        for name, model in models.items():
            k = getattr(model, "n_actions", None)
            if k is None or top < k:
                continue
            need = top + 1
            try:
                takes = name in MODELS and make_model(name, n_actions=need).n_actions == need
            except (ValueError, TypeError):
                takes = False
            if takes:
                fix = f"add --structure n_actions={need}"
            else:
                fix = f"model {name!r} has a fixed number of actions: choose a model for {need} actions"
            raise ValueError(
                f"{data}: column {col!r} holds choices up to {top} ({need} actions), but model "
                f"{name!r} has n_actions={k} (choices 0..{k - 1}): {fix}, or check that the "
                f"choices count from 0"
            )


def cmd_models(args: argparse.Namespace) -> int:
    """List the registered models, their parameters with bounds and priors, and their tasks."""
    from cogmodels.models import MODELS
    from cogmodels.priors import describe_prior

    rows = []
    for name, cls in sorted(MODELS.items()):
        model = cls()
        rows.append(
            {
                "name": name,
                "description": _first_line(cls.__doc__),
                "parameters": [
                    {"name": s.name, "low": s.low, "high": s.high, "default": s.default,
                     "prior": describe_prior(s.prior)}
                    for s in model.param_specs
                ],
                "tasks": list(cls.tasks),
            }
        )
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    for r in rows:
        params = ", ".join(f"{p['name']} [{p['low']:g}, {p['high']:g}] ~ {p['prior']}" for p in r["parameters"])
        tasks = ", ".join(t.split("/")[-1] for t in r["tasks"])
        print(f"{r['name']}: {r['description']}\n    parameters: {params}\n    tasks: {tasks}")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    """Simulate a model in an environment and write the trial table."""
    from cogmodels.simulate import simulate

    model = _model(args)
    params = {**model.default_params(), **_params(model, args.param)}
    env_kwargs = _key_values(args.env_arg, "--env-arg")
    if args.trials is not None:
        env_kwargs["n_trials"] = args.trials
    out = Path(args.out)
    truth = out.with_name(out.stem + "_params.csv")
    _check_out_file(args.out, truth, overwrite=args.overwrite)
    sim = simulate(model, params, args.env, n_subjects=args.subjects, seed=args.seed, env_kwargs=env_kwargs)
    out.parent.mkdir(parents=True, exist_ok=True)
    sim.trials.to_csv(out, index=False)
    sim.params.to_csv(truth, index=False)
    print(f"trials: {out} ({len(sim.trials)} rows, {args.subjects} subjects)")
    print(f"true parameters: {truth}")
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    """Fit a model to every subject of a trial table."""
    import time

    from cogmodels.fits import make_estimator
    from cogmodels.io import read_trials
    from cogmodels.models import make_model

    model = make_model(args.model.partition("|")[0].strip(), **_key_values(args.structure, "--structure"))
    _check_out_folder(args.out)
    trials = read_trials(args.data)
    _check_n_actions(trials, {model.name: model}, args.data)
    model = _constrained(args.model, args, trials)
    kwargs: dict[str, Any] = {"n_starts": args.starts, "seed": args.seed, **_em_options(args), **_bayes_options(args),
                              **_prior_option(model, args), **_regression_options(model, args)}
    estimator = make_estimator(args.method, model, **kwargs)
    t0 = time.perf_counter()
    with _naming(args.data):
        estimator.fit(trials, source=str(args.data), progress=not args.quiet)
    wall = time.perf_counter() - t0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    _write_fits(estimator, out)
    written = [out / "fits.csv", out / "fits_detail.csv", out / "summary.json"]
    coefficients = getattr(estimator, "coefficients_", None)
    if coefficients is not None:
        coefficients.to_csv(out / "coefficients.csv", index=False)
        written.append(out / "coefficients.csv")
    if args.method in BAYES_METHODS:
        estimator.save(out / "posterior.nc")
        estimator.group_summary().to_csv(out / "group_summary.csv", index_label="variable")
        written += [out / "posterior.nc", out / "group_summary.csv"]
    summary = _fit_summary(estimator, args, wall)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")
    print(f"{model.name} ({args.method}, {model.n_params} free parameters) on {args.data}: "
          f"{summary['n_subjects']} subjects, "
          f"total loglik {summary['total_loglik']:.2f}, AIC {summary['total_aic']:.1f}, "
          f"BIC {summary['total_bic']:.1f}, {wall:.2f} s")
    if args.method == "em":
        state = "converged" if summary["em_converged"] else "not converged"
        print(f"  EM: {summary['n_em_iter']} iterations ({state}), iBIC {summary['ibic']:.1f}, "
              f"Laplace log evidence {summary['total_laplace_log_evidence']:.2f}")
    if args.method in BAYES_METHODS:
        print(f"  {args.method}: R-hat max {summary['r_hat_max']:.3f}, bulk ESS min {summary['ess_bulk_min']:.0f}, "
              f"{summary['n_divergent']} divergent, LOOIC {summary['looic']:.1f}, WAIC {summary['waic']:.1f}, "
              f"{summary['sampling_time_s']:.1f} s sampling")
        for name, value in summary["group_params"].items():
            print(f"  group mean {name}: {value:.3g}")
    for name, stats in summary["parameters"].items():
        print(f"  {name}: median {stats['median']:.3g} (IQR {stats['q25']:.3g}-{stats['q75']:.3g})")
    if coefficients is not None and args.method in BAYES_METHODS:
        print("  group-level regression (unconstrained space; posterior mean, SD, 95 % interval):")
        for row in coefficients.itertuples():
            print(f"    {row.parameter} ~ {row.covariate}: {row.estimate:.3g} (sd {row.se:.2g}, CI {row.ci_low:.3g} "
                  f"to {row.ci_high:.3g}, P(> 0) {row.prob_positive:.2f})")
    elif coefficients is not None:
        print("  group-level regression (unconstrained space; Wald z, 95 % CI):")
        for row in coefficients.itertuples():
            print(f"    {row.parameter} ~ {row.covariate}: {row.estimate:.3g} (se {row.se:.2g}, z {row.z:.2f}, "
                  f"p {row.p_value:.2g}, CI {row.ci_low:.3g} to {row.ci_high:.3g})")
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0


def _em_options(args: argparse.Namespace) -> dict[str, Any]:
    """``--max-iter``, ``--tol``, ``--covariance`` of ``fit`` and ``compare``: hierarchical EM settings only."""
    given = {flag: value for flag, value in (("--max-iter", args.max_iter), ("--tol", args.tol),
                                             ("--covariance", args.covariance)) if value is not None}
    if args.method != "em":
        if given:
            raise ValueError(f"{', '.join(given)} set(s) the hierarchical EM fit: use them with --method em, "
                             f"got --method {args.method}")
        return {}
    names = {"--max-iter": "max_em_iter", "--tol": "tol", "--covariance": "covariance"}
    return {names[flag]: value for flag, value in given.items()}


#: the methods of ``fit --method`` and ``compare --method`` (the keys of cogmodels.fits.ESTIMATORS)
METHODS = ("mle", "map", "em", "nuts", "vi")
#: the hierarchical Bayesian methods (cogmodels.fits.bayes)
BAYES_METHODS = ("nuts", "vi")
_BAYES_FLAGS = {"--chains": ("chains", "n_chains", ("nuts",)), "--warmup": ("warmup", "n_warmup", ("nuts",)),
                "--draws": ("draws", "n_draws", BAYES_METHODS),
                "--target-accept": ("target_accept", "target_accept", ("nuts",)),
                "--chain-method": ("chain_method", "chain_method", ("nuts",)),
                "--sampler": ("sampler", "sampler", ("nuts",)), "--jobs": ("jobs", "n_jobs", ("nuts",)),
                "--checkpoint": ("checkpoint", "checkpoint", ("nuts",)),
                "--vi-steps": ("vi_steps", "max_steps", ("vi",)),
                "--pointwise": ("pointwise", "pointwise", BAYES_METHODS),
                "--centred": ("centred", "centred", BAYES_METHODS)}


def _bayes_options(args: argparse.Namespace) -> dict[str, Any]:
    """``--chains``, ``--warmup``, ``--draws``, ... of ``fit``, ``compare``, ``recover`` and ``check``: NUTS and VI settings."""
    out = {}
    for flag, (attr, kwarg, methods) in _BAYES_FLAGS.items():
        value = getattr(args, attr, None)
        if value is None:
            continue
        if args.method not in methods:
            raise ValueError(f"{flag} sets the {' or '.join(methods)} fit: use it with --method "
                             f"{'/'.join(methods)}, got --method {args.method}")
        out[kwarg] = value
    if "centred" in out:  # "alpha,beta": the names (checked by the estimator)
        from cogmodels.fits.bayes import centred_from_text

        out["centred"] = centred_from_text(out["centred"])
    sampler, jobs = out.get("sampler", "nuts"), out.get("n_jobs")  # --jobs >= 1: _check_ranges
    if jobs is not None and jobs > 1 and sampler != "chees":
        raise ValueError(f"--jobs {jobs} splits ChEES chains over processes: use it with --sampler chees, "
                         f"got --sampler {sampler}")
    if "checkpoint" in out and sampler != "chees":
        raise ValueError(f"--checkpoint keeps a ChEES run's state: use it with --sampler chees, got --sampler {sampler}")
    if sampler == "chees":
        chains, need = out.get("n_chains", 4), 2 * (jobs or 1)
        if chains < need:
            raise ValueError(f"--chains must be at least {need} with --sampler chees --jobs {jobs or 1} (2 chains "
                             f"per process: the ChEES criterion compares chains), got {chains}")
    return out


def _fit_summary(estimator, args: argparse.Namespace, wall: float) -> dict[str, Any]:
    params = estimator.params_
    summary: dict[str, Any] = {
        "model": estimator.model.name,
        "method": args.method,
        "data": str(args.data),
        "n_params": int(estimator.model.n_params),
        "constraints": {"fix": list(args.fix or []), "tie": list(args.tie or []), "by": list(args.by or [])},
        "priors": {k: v for k, v in (p.partition("=")[::2] for p in args.prior or [])},
        "n_subjects": int(len(params)),
        "n_trials": int(estimator.n_trials_.sum()),
        "total_loglik": float(estimator.loglik_.sum()),
        "total_aic": float(estimator.aic_.sum()),
        "total_bic": float(estimator.bic_.sum()),
        "n_not_converged": int((~estimator.converged_).sum()),
        "n_on_bound": int(estimator.on_bound_.any(axis=1).sum()),
        "skipped": estimator.skipped_.astype({"subject": str}).to_dict(orient="records"),
        "parameters": {
            name: {"median": float(col.median()), "q25": float(col.quantile(0.25)),
                   "q75": float(col.quantile(0.75)), "mean": float(col.mean())}
            for name, col in params.items()
        },
        "starts": args.starts,
        "seed": args.seed,
        "wall_s": wall,
    }
    if args.method == "em":
        summary["group_params"] = estimator.group_params_.to_dict()
        summary["group_mean_unconstrained"] = estimator.group_mean_.to_dict()
        summary["group_var_unconstrained"] = estimator.group_var_.to_dict()
        summary["group_cov_unconstrained"] = estimator.group_cov_.to_dict()
        summary["covariance"] = estimator.covariance
        summary["n_em_iter"] = estimator.n_em_iter_
        summary["em_converged"] = estimator.em_converged_
        summary["ibic"] = estimator.ibic_
        summary["total_laplace_log_evidence"] = float(estimator.laplace_log_evidence_.sum())
        if getattr(estimator, "coefficients_", None) is not None:
            summary["regressors"] = estimator.regressors
            summary["coefficients"] = estimator.coefficients_.to_dict(orient="records")
    if args.method in BAYES_METHODS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ArviZ's notes on Pareto k; the k are in posterior.nc
            loo, waic = estimator.loo(), estimator.waic()
        summary.update({
            "group_params": estimator.group_params_.to_dict(),
            "group_mean_unconstrained": estimator.group_mean_.to_dict(),
            "group_var_unconstrained": estimator.group_var_.to_dict(),
            "r_hat_max": estimator.r_hat_max_, "ess_bulk_min": estimator.ess_bulk_min_,
            "ess_tail_min": estimator.ess_tail_min_, "n_divergent": estimator.n_divergent_,
            "diagnostics_ok": estimator.diagnostics_ok_,
            "looic": -2 * float(loo.elpd_loo), "looic_se": 2 * float(loo.se),
            "waic": -2 * float(waic.elpd_waic), "waic_se": 2 * float(waic.se),
            "pointwise": estimator.pointwise, "sampling_time_s": estimator.sampling_time_s_,
            "n_gradients": estimator.n_gradients_,
            "settings": {key: getattr(estimator, key) for key in (
                "sampler", "n_chains", "n_warmup", "n_draws", "n_jobs", "target_accept", "max_steps", "centred")
                if hasattr(estimator, key)} | {"centred_chosen": list(estimator.centred_)},
        })
        summary.pop("starts")  # an optimiser's setting, not a sampler's
    return summary


def cmd_compare(args: argparse.Namespace) -> int:
    """Fit several models to one trial table and compare them."""
    from cogmodels._threads import set_threads
    from cogmodels.fits import compare_models
    from cogmodels.io import read_trials
    from cogmodels.models import make_model

    names = [m.strip() for m in args.models.split(",") if m.strip()]
    if len(names) < 2:
        raise ValueError(f"--models takes at least two comma-separated model names, got {args.models!r}")
    structure = _key_values(args.structure, "--structure")
    models = {name: make_model(name.partition("|")[0].strip(), **structure) for name in names}
    cv = args.cv_folds
    cv_folds = int(cv) if cv and cv.isdigit() else cv
    if cv_folds is not None and cv_folds not in ("block", "session") and not (isinstance(cv_folds, int) and cv_folds >= 2):
        raise ValueError(f"--cv-folds must be 'block', 'session' or a number of folds >= 2, got {cv!r}")
    _check_out_folder(args.out)
    trials = read_trials(args.data)
    _check_n_actions(trials, models, args.data)
    # a name may carry constraints, as the fitted tables print them: q_learning|kappa=0, two_step_hybrid|w~stakes
    models = {name: _constrained(name, args, trials) for name in names}
    priors = {}
    for model in models.values():  # every model must have each --prior parameter, as for --fix
        priors = _prior_option(model, args)
    ceilings = _tiny_rnns(args.tiny_rnn, next(iter(models.values())).n_actions)
    set_threads(args.threads if ceilings else None)  # the tiny GRUs train with torch
    if ceilings and cv_folds is None:
        raise ValueError("--tiny-rnn is scored by cross-validation: give --cv-folds too (e.g. block)")
    with _naming(args.data):
        result = compare_models(
            trials, models, method=args.method, cv_folds=cv_folds, n_starts=args.starts, seed=args.seed,
            bms_on=args.bms_on, ceilings=ceilings, progress=not args.quiet, **priors, **_bayes_options(args),
            **_em_options(args),
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result.table.to_csv(out / "comparison.csv")
    result.per_subject.to_csv(out / "per_subject.csv", index=False)
    for name, fit in result.fits.items():
        fit.summary().to_csv(out / f"fits_{re.sub(r'[^A-Za-z0-9_.=~-]', '_', name)}.csv", index=False)
    result.plot().savefig(out / "comparison.png", dpi=120)
    print(result.table.round(3).to_string())
    print(f"wrote {out / 'comparison.csv'}, {out / 'per_subject.csv'}, {out / 'comparison.png'}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Run a predictive check without an environment.

    Replay the fitted model on the data's trial sequences and write the signature figures, data
    against model.
    """
    from cogmodels.fits.ppc import CURVES, signature_kinds
    from cogmodels.fits.replay import REPLAY_OUTCOMES, replay
    from cogmodels.io import read_trials
    from cogmodels.models import make_model

    model = make_model(args.model.partition("|")[0].strip(), **_key_values(args.structure, "--structure"))
    kinds = _kinds(args.kind, list(CURVES))
    _check_out_folder(args.out)
    if args.params is not None and not Path(args.params).is_file():
        raise FileNotFoundError(f"--params {args.params}: no such file (a fits.csv written by `cogmodels fit`)")
    bayes = _bayes_options(args)
    if args.params is not None and args.prior:
        raise ValueError("--prior applies when check fits the model (--method map), not to the fitted "
                         f"parameters of --params {args.params}")
    trials = read_trials(args.data)
    _check_n_actions(trials, {model.name: model}, args.data)
    # --fix / --tie / --by, and a split's levels, from the table (as fit does)
    model = _constrained(args.model, args, trials)
    out = Path(args.out)
    estimator = None
    if args.params is not None:
        params, origin = _read_params(args.params, model, trials), str(args.params)
    else:
        from cogmodels.fits import make_estimator

        estimator = make_estimator(args.method, model, n_starts=args.starts, seed=args.seed, **bayes,
                                   **_prior_option(model, args))
        with _naming(args.data):
            estimator.fit(trials, source=str(args.data), progress=not args.quiet)
        params, origin = estimator.params_, f"fitted here ({args.method}, {args.starts} starts): fits.csv"
        out.mkdir(parents=True, exist_ok=True)
        _write_fits(estimator, out)
        if args.method in BAYES_METHODS:
            estimator.save(out / "posterior.nc")
            origin = (f"fitted here ({args.method}): one joint posterior draw per replay; posterior means in "
                      f"fits.csv, draws in posterior.nc")
    kinds = kinds or signature_kinds(model, trials)
    with _naming(args.data):
        if estimator is not None and args.method in BAYES_METHODS:  # the posterior predictive
            from cogmodels.fits.ppc import posterior_predictive

            sims = posterior_predictive(estimator, n_sims=args.n_sims, seed=args.seed, draw="posterior",
                                        source="replay", trials=trials, progress=not args.quiet)
        else:
            sims = replay(model, params, trials, n_sims=args.n_sims, seed=args.seed, progress=not args.quiet)
    out.mkdir(parents=True, exist_ok=True)
    rows, written = [], []
    for kind in kinds:
        row, files = _check_kind(kind, trials, sims, out, REPLAY_OUTCOMES)
        rows.append(row)
        written += files
    summary = _check_summary(rows)
    summary.to_csv(out / "check_summary.csv", index=False)
    sources = sims.attrs["replay"]["reward_sources"]
    report = _check_report(args, model, origin, summary, sources, kinds, REPLAY_OUTCOMES)
    (out / "check_summary.md").write_text(report)
    print(f"{model.name} on {args.data}: {args.n_sims} replay(s) per subject; outcomes not observed: "
          f"{_unobserved(sources):.0%} (see check_summary.md)")
    print(summary.round(3).to_string(index=False))
    print(f"wrote {', '.join(str(f) for f in written)}, {out / 'check_summary.csv'}, {out / 'check_summary.md'}")
    return 0


def _kinds(text: str | None, allowed: list[str]) -> list[str]:
    """``--kind learning,winstay`` -> ["learning", "winstay"]; None: the model's own."""
    if text is None:
        return []
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    bad = [k for k in kinds if k not in allowed]
    if bad or not kinds:
        raise ValueError(f"--kind takes comma-separated curves among {allowed}, got {text!r}")
    return kinds


def _read_params(path: str, model, trials):
    """``--params fits.csv``: one row per subject of the data, one column per parameter."""
    import pandas as pd

    try:
        table = pd.read_csv(path, dtype={"subject": str})  # ids as written: "01" stays "01"
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ValueError(f"--params {path}: not a readable CSV ({str(err).strip()}): pass the fits.csv "
                         f"written by `cogmodels fit`") from None
    need = ["subject", *model.param_names]
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise ValueError(f"--params {path}: model {model.name!r} needs the columns {need}; missing {missing} "
                         f"(columns present: {list(table.columns)}): pass the fits.csv of `cogmodels fit` "
                         f"for the same model and --structure")
    table.index = pd.Index(table["subject"].astype(str))
    if table.index.duplicated().any():
        raise ValueError(f"--params {path}: subject {table.index[table.index.duplicated()][0]!r} has two rows")
    subjects = pd.unique(trials["subject"])
    absent = [s for s in subjects if str(s) not in table.index]
    if absent:
        raise ValueError(f"--params {path}: no parameters for {len(absent)} subject(s) of the data, e.g. "
                         f"{[str(s) for s in absent[:5]]}: fit them (`cogmodels fit`), or leave --params out "
                         f"to fit here")
    params = table.loc[[str(s) for s in subjects], list(model.param_names)]
    params.index = pd.Index(subjects, name="subject")
    for name in model.param_names:
        spec = model.spec(name)
        values = pd.to_numeric(params[name], errors="coerce")
        bad = ~values.between(spec.low, spec.high)
        if bad.any():
            raise ValueError(f"--params {path}: column {name!r} must hold numbers in [{spec.low:g}, {spec.high:g}], "
                             f"got {params.loc[bad, name].iloc[0]} for subject {params.index[bad][0]}")
        params[name] = values.astype(float)
    return params


def _check_kind(kind: str, trials, sims, out: Path, outcomes: str) -> tuple[dict[str, Any], list[Path]]:
    """One signature curve of the data and of the replay: its CSV, its figure, its numbers."""
    import numpy as np
    import pandas as pd

    from cogmodels.fits.ppc import CURVES, label_replay, plot_ppc

    curve, x, y, hue, _ = CURVES[kind]
    kwargs = {}
    if kind == "learning":  # about 20 points: bins of trials
        longest = int(trials.groupby([c for c in ("subject", "session") if c in trials.columns]).size().max())
        kwargs["bin_size"] = max(1, round(longest / 20))
    data_curve, model_curve = curve(trials, **kwargs), curve(sims, **kwargs)
    table = pd.concat([data_curve.assign(source="data"), model_curve.assign(source="model")], ignore_index=True)
    table.to_csv(out / f"check_{kind}.csv", index=False)
    fig = plot_ppc(data_curve, model_curve, kind)
    label_replay(fig, sims)
    fig.savefig(out / f"check_{kind}.png", dpi=120, metadata={"Description": outcomes})
    keys = [x] + ([hue] if hue else [])
    both = data_curve.merge(model_curve, on=keys, suffixes=("_data", "_model")).dropna(subset=[f"{y}_data", f"{y}_model"])
    diff = (both[f"{y}_model"] - both[f"{y}_data"]).to_numpy(float)
    se = np.hypot(both["sem_data"].to_numpy(float), both["sem_model"].to_numpy(float))
    scored = np.isfinite(se) & (se > 0)
    row = {
        "kind": kind, "points": len(both),
        "mean_abs_diff": float(np.abs(diff).mean()) if len(diff) else float("nan"),
        "max_abs_diff": float(np.abs(diff).max()) if len(diff) else float("nan"),
        "within_2sem": float((np.abs(diff[scored]) <= 2 * se[scored]).mean()) if scored.any() else float("nan"),
    }
    return row, [out / f"check_{kind}.png", out / f"check_{kind}.csv"]


def _check_summary(rows: list[dict[str, Any]]):
    import pandas as pd

    return pd.DataFrame(rows, columns=["kind", "points", "mean_abs_diff", "max_abs_diff", "within_2sem"])


def _unobserved(sources: dict[str, int]) -> float:
    total = sum(sources.values())
    return 1.0 - sources.get("observed", 0) / total if total else 0.0


def _check_report(args, model, origin, summary, sources, kinds, outcomes) -> str:
    total = sum(sources.values()) or 1
    lines = [
        f"# Predictive check: {model.name} on {args.data}",
        "",
        f"- parameters: {origin}",
        f"- simulations: {args.n_sims} replay(s) per subject, seed {args.seed}",
        "- outcomes of the replayed trials: "
        + ", ".join(f"{k} {v} ({v / total:.0%})" for k, v in sources.items()),
        "",
        "## How the model was simulated",
        "",
        outcomes,
        "",
        "## Curves (model minus data)",
        "",
        "| kind | points | mean abs. difference | max abs. difference | share within 2 s.e.m. |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in summary.itertuples(index=False):
        lines.append(f"| {r.kind} | {r.points} | {r.mean_abs_diff:.3f} | {r.max_abs_diff:.3f} | {r.within_2sem:.2f} |")
    lines += ["", *(f"![{k}](check_{k}.png)" for k in kinds), ""]
    return "\n".join(lines)


def _write_fits(estimator, out: Path) -> None:
    """``fits.csv`` (subject, parameters, fit statistics) and ``fits_detail.csv``."""
    table = estimator.summary()
    cols = ["subject", *estimator.model.param_names, "loglik", "n_trials", "aic", "bic"]
    table[cols].to_csv(out / "fits.csv", index=False)
    table.to_csv(out / "fits_detail.csv", index=False)


def _tiny_rnns(spec: str | None, n_actions: int) -> dict[str, Any]:
    """``--tiny-rnn 1,2,4`` -> {"tiny_gru1": TinyRNN(1), ...} (Ji-An et al. 2025)."""
    if not spec:
        return {}
    try:
        sizes = [int(v) for v in spec.split(",") if v.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise ValueError(f"--tiny-rnn takes comma-separated hidden sizes >= 1, e.g. 1,2,4; got {spec!r}")
    from cogmodels.agents.tiny_rnn import TinyRNN

    return {f"tiny_gru{h}": TinyRNN(hidden_size=h, n_actions=n_actions) for h in sizes}


def cmd_recover(args: argparse.Namespace) -> int:
    """Parameter recovery: simulate across the parameter range, refit, compare."""
    from cogmodels.fits.recovery import parameter_recovery

    env_kwargs = _key_values(args.env_arg, "--env-arg")
    if args.trials is not None:
        env_kwargs["n_trials"] = args.trials
    model = _constrained(args.model, args, _task_levels(args, env_kwargs))
    fit_kwargs = {**_prior_option(model, args), **_bayes_options(args)}
    _check_out_folder(args.out)
    result = parameter_recovery(
        model, args.env, n_subjects=args.subjects, env_kwargs=env_kwargs, method=args.method,
        n_starts=args.starts, seed=args.seed, progress=not args.quiet, fit_kwargs=fit_kwargs or None,
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result.table.to_csv(out / "recovery.csv", index=False)
    result.stats.to_csv(out / "recovery_stats.csv")
    result.plot().savefig(out / "recovery.png", dpi=120)
    print(result.stats.round(3).to_string())
    print(f"wrote {out / 'recovery.csv'}, {out / 'recovery_stats.csv'}, {out / 'recovery.png'}")
    return 0


def _guarded_run(command: str, resume: list[str], call: Callable[[], Any]) -> tuple[int | None, Any]:
    """Run ``call`` and return ``(None, call())``, or ``(exit status, None)`` if the run fails.

    The exit status follows one line on stderr when the run folder is unusable (2), a worker
    cannot start (1) or Ctrl-C stops it (130, with the command that resumes it).
    """
    from cogmodels.experiments.runner import RunFolderError, RunInterrupted, WorkerStartError

    try:
        return None, call()
    except RunFolderError as err:
        print(f"cogmodels {command}: error: --out {err.path} {err.problem}; {err.fix}", file=sys.stderr)
        return 2, None
    except WorkerStartError as err:
        print(f"cogmodels {command}: error: {err}", file=sys.stderr)
        return 1, None
    except RunInterrupted as stop:
        print(f"cogmodels {command}: interrupted; {stop.done} of {stop.total} units are finished and "
              f"kept in {stop.path}; to resume: {shlex.join(resume)}", file=sys.stderr)
        return 130, None
    except KeyboardInterrupt:
        print(f"cogmodels {command}: interrupted before any unit ran; run the same command again to "
              "start", file=sys.stderr)
        return 130, None


def cmd_run(args: argparse.Namespace) -> int:
    """Run a reproducible experiment from a TOML config into a run folder (resumes it)."""
    from cogmodels.experiments import load_config, run_experiment

    status, config = _guarded_run("run", [], lambda: load_config(args.config, quick=args.quick, seed=args.seed))
    if status is not None:
        return status
    out = Path(args.out) if args.out else Path("runs") / (config.experiment + ("-quick" if args.quick else ""))
    resume = ["cogmodels", "run", args.config, "--out", str(out)]
    resume += ["--quick"] if args.quick else []
    resume += ["--seed", str(args.seed)] if args.seed is not None else []
    status, result = _guarded_run(
        "run", resume,
        lambda: run_experiment(config, out, executor=args.executor, workers=args.workers,
                               scheduler=args.scheduler, threads=args.threads,
                               progress=not args.quiet and sys.stderr.isatty()))
    if status is not None:
        return status
    for uid, err in result.failed.items():
        seed = next(u["seed"] for u in result.manifest["units"] if u["id"] == uid)
        print(f"unit {uid} (seed {seed}) failed:\n{err}", file=sys.stderr)
    if result.manifest.get("report_error"):
        print(f"the report failed:\n{result.manifest['report_error']}", file=sys.stderr)
    n_failed = len(result.failed)
    print(f"{config.experiment}: {len(result.manifest['units']) - n_failed} unit(s) done, {n_failed} failed")
    print(f"run folder: {result.path}")
    return 0 if result.ok else 1


def _threads(text: str) -> int:
    """Parse ``--threads`` (an argparse type): an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def _add_bayes_arguments(p: argparse.ArgumentParser) -> None:
    """Add the NUTS and VI settings of ``fit``, ``compare``, ``recover`` and ``check`` (cogmodels.fits.bayes)."""
    p.add_argument("--chains", type=int, default=None, help="--method nuts: chains (default 4)")
    p.add_argument("--warmup", type=int, default=None, help="--method nuts: warm-up iterations per chain (default 1000; 500 with --sampler chees)")
    p.add_argument("--draws", type=int, default=None,
                   help="--method nuts/vi: posterior draws kept per chain (default 1000)")
    p.add_argument("--target-accept", type=float, default=None,
                   help="--method nuts: the acceptance rate the step size adapts to (default 0.8)")
    p.add_argument("--chain-method", choices=["sequential", "vectorized"], default=None,
                   help="--method nuts: one run per chain, or all chains in one batched run (default sequential)")
    p.add_argument("--sampler", choices=["nuts", "chees"], default=None,
                   help="--method nuts: Pyro's NUTS (default) or ChEES-HMC, every chain in one batched "
                        "likelihood call per leapfrog step (the faster one here: benchmarks/RESULTS.md)")
    p.add_argument("--jobs", type=int, default=None,
                   help="--method nuts --sampler chees: processes the chains are split over (default 1)")
    p.add_argument("--vi-steps", type=int, default=None, help="--method vi: ADVI's Adam steps (default 1000, all run; 4 draws per step, one batched likelihood call each)")
    p.add_argument("--pointwise", choices=["subject", "trial"], default=None,
                   help="--method nuts/vi: LOO and WAIC leave out a subject (default, as hBayesDM) or a trial")
    p.add_argument("--centred", default=None, metavar="NAMES",
                   help="--method nuts/vi: parameters whose subject values are sampled centred, "
                        "z ~ Normal(mu, sigma), comma-separated, 'all', 'none' (every parameter "
                        "non-centred), or 'auto' (the default: those whose subjects' estimates spread more "
                        "than their own uncertainty, as with many trials per subject)")


def _add_em_arguments(p: argparse.ArgumentParser) -> None:
    """``--max-iter``, ``--tol`` and ``--covariance`` of ``fit`` and ``compare`` (:class:`HierarchicalEM`)."""
    p.add_argument("--max-iter", type=int, default=None,
                   help="--method em: most EM iterations (default 100)")
    p.add_argument("--tol", type=float, default=None,
                   help="--method em: stop when the summed log evidence changes by less (default 0.01)")
    p.add_argument("--covariance", choices=["diagonal", "full"], default=None,
                   help="--method em: the group prior's covariance (default diagonal)")


def _add_model_arguments(p: argparse.ArgumentParser, scope: str, columns: str = "the table") -> None:
    """``--fix``, ``--tie``, ``--by`` and ``--prior`` of ``fit``, ``compare`` and ``recover``.

    ``scope`` follows the parameter in the help (e.g. " of every model"); ``columns`` says where
    the ``--by`` columns come from.
    """
    p.add_argument("--fix", action="append", metavar="NAME=VALUE",
                   help=f"fix a parameter{scope} to a value, not fitted (repeatable), e.g. beta=3")
    p.add_argument("--tie", action="append", metavar="A=B",
                   help=f"one free parameter, named A, for A and B{scope} (repeatable), e.g. alpha1=alpha2")
    p.add_argument("--by", action="append", metavar="NAME:COLUMN",
                   help=f"one parameter{scope} per level of a numeric column of {columns} (repeatable), "
                        "e.g. w:stakes gives w_1, w_5 for stakes 1 and 5")
    p.add_argument("--prior", action="append", metavar="NAME=FAMILY(ARGS)",
                   help=f"with --method map: a prior{scope} replacing the default one (repeatable), e.g. "
                        "beta=gamma(2,1); families: beta(a,b), gamma(shape,scale), norm(mean,sd), "
                        "lognorm(sigma,median), uniform(low,high), expon(scale), flat()")


def build_parser() -> argparse.ArgumentParser:
    from cogmodels import __version__

    parser = argparse.ArgumentParser(
        prog="cogmodels",
        description="Reinforcement-learning cognitive models, fitting, and BCI simulation.",
    )
    parser.add_argument("--version", action="version", version=f"cogmodels {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("envs", help="list the registered environments, one line each")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_envs)

    p = sub.add_parser("models", help="list the models, their parameters and tasks")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("simulate", help="simulate a model in an environment, write a trial table")
    p.add_argument("--env", required=True, help="environment id, e.g. cogmodels/ReversalLearning-v0")
    p.add_argument("--model", required=True, help="model name (see `cogmodels models`)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="a parameter value (repeatable)")
    p.add_argument("--structure", action="append", metavar="NAME=VALUE", help="a model option, e.g. stickiness=false")
    p.add_argument("--env-arg", action="append", metavar="NAME=VALUE", help="an environment argument")
    p.add_argument("--subjects", type=int, default=10)
    p.add_argument("--trials", type=int, default=None, help="trials per session (the env's n_trials)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output CSV (and <name>_params.csv beside it)")
    p.add_argument("--overwrite", action="store_true", help="replace the output files if they exist")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("fit", help="fit a model to every subject of a trial table")
    p.add_argument("data", help="trial table: CSV, Parquet, hBayesDM .txt, RLWM or Kool et al. .mat")
    p.add_argument("--model", required=True)
    p.add_argument("--structure", action="append", metavar="NAME=VALUE", help="a model option")
    p.add_argument("--method", choices=METHODS, default="mle",
                   help="mle, map, em (hierarchical EM), nuts (hierarchical Bayes by NUTS: writes posterior.nc) "
                        "or vi (the same posterior by variational inference)")
    _add_model_arguments(p, "")
    _add_bayes_arguments(p)
    p.add_argument("--checkpoint", default=None, metavar="DIR",
                   help="--method nuts --sampler chees: a folder for the sampler's state every 50 iterations; "
                        "the same command run again after a stop resumes there, to the same draws")
    p.add_argument("--starts", type=int, default=10, help="random starts per subject")
    _add_em_arguments(p)
    p.add_argument("--covariates", default=None, metavar="SUBJECTS_CSV",
                   help="--method em: a subject table (a 'subject' column and covariates) for --regress")
    p.add_argument("--regress", action="append", metavar="NAME:COL+COL",
                   help="--method em: the group mean of a parameter as a linear function of covariates "
                        "of --covariates (repeatable), e.g. alpha:group+age; writes coefficients.csv")
    p.add_argument("--reference", action="append", metavar="COLUMN=LEVEL",
                   help="the reference level of a categorical covariate (default: the first in sorted "
                        "order); a numeric column named here is categorical, e.g. group=control")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("compare", help="fit several models and compare them (AIC, BIC, CV, BMS)")
    p.add_argument("data", help="trial table: CSV, Parquet, hBayesDM .txt, RLWM or Kool et al. .mat")
    p.add_argument("--models", required=True,
                   help="comma-separated model names; a name may fix, tie or split parameters after "
                        "'|', e.g. two_step_hybrid,two_step_hybrid|lam=1|w~stakes")
    p.add_argument("--structure", action="append", metavar="NAME=VALUE", help="an option for every model")
    p.add_argument("--method", choices=METHODS, default="mle",
                   help="nuts and vi add PSIS-LOO (looic) and WAIC columns")
    _add_model_arguments(p, " of every model (a constraint of one model goes in its name)")
    _add_bayes_arguments(p)
    _add_em_arguments(p)
    p.add_argument("--cv-folds", default=None, help="'block', 'session' or a number of folds")
    p.add_argument("--bms-on", choices=["bic", "aic", "laplace"], default="bic")
    p.add_argument("--tiny-rnn", default=None, metavar="SIZES",
                   help="also cross-validate tiny GRUs of these sizes trained on the choices, e.g. 1,2,4 "
                        "(a data-driven ceiling; needs --cv-folds)")
    p.add_argument("--threads", type=_threads, default=1,
                   help="torch threads for training the --tiny-rnn networks (default 1)")
    p.add_argument("--starts", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser(
        "check", help="predictive check without an environment: replay the model on the data, plot signatures",
        description="Replay the model on every subject's observed trial sequence (stimuli, set sizes, "
                    "schedule) with its fitted parameters, and write the signature figures of the task "
                    "(learning curves and win-stay/lose-shift for bandits, reversal curves, two-step stay "
                    "probabilities, RLWM set-size curves), data against model, with check_summary.csv/.md. "
                    "Outcomes of choices the subject did not make come from the table's schedule columns "
                    "or are estimated from the subject's observed outcomes; the summary says how many.",
    )
    p.add_argument("data", help="trial table: CSV, Parquet, hBayesDM .txt, RLWM or Kool et al. .mat")
    p.add_argument("--model", required=True)
    p.add_argument("--structure", action="append", metavar="NAME=VALUE", help="a model option")
    p.add_argument("--params", default=None, metavar="FITS_CSV",
                   help="fitted parameters, one row per subject (fits.csv of `cogmodels fit`); "
                        "default: fit here first")
    p.add_argument("--method", choices=METHODS, default="mle",
                   help="how to fit without --params; nuts and vi replay one joint posterior draw per "
                        "replay (the posterior predictive) and write posterior.nc")
    _add_bayes_arguments(p)
    _add_model_arguments(p, "")
    p.add_argument("--starts", type=int, default=10, help="random starts per subject when fitting")
    p.add_argument("--kind", default=None, metavar="KINDS",
                   help="comma-separated curves among learning, reversal, stay, setsize, winstay "
                        "(default: those of the task)")
    p.add_argument("--n-sims", type=int, default=5, help="replays per subject (default 5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("recover", help="parameter recovery: simulate, refit, compare",
                       description="Parameter recovery (Wilson & Collins 2019): simulate the model in the "
                                   "task with known parameters, refit it, compare. --fix, --tie and --by "
                                   "apply to the simulation and the fit, --prior to the fit (--method map).")
    p.add_argument("--model", required=True)
    p.add_argument("--structure", action="append", metavar="NAME=VALUE", help="a model option")
    p.add_argument("--env", required=True, help="environment id")
    p.add_argument("--env-arg", action="append", metavar="NAME=VALUE", help="an environment argument")
    _add_model_arguments(p, "", columns="the task's trials")
    p.add_argument("--subjects", type=int, default=50)
    p.add_argument("--trials", type=int, default=None, help="trials per session (the env's n_trials)")
    p.add_argument("--method", choices=METHODS, default="mle",
                   help="mle, map, em, or nuts / vi (hierarchical Bayes: the posterior means are the "
                        "fitted values, the posterior SDs their se)")
    _add_bayes_arguments(p)
    p.add_argument("--starts", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_recover)

    p = sub.add_parser(
        "run", help="run a reproducible experiment from a TOML config (see experiments/)",
        description="Run an experiment into a run folder: config.toml, manifest.json, units/, results/, "
                    "figures/, report.md. Run the same command again to resume: finished units are "
                    "kept. Ctrl-C stops within seconds (exit status 130) and says how to resume.",
    )
    p.add_argument("config", help="TOML config: experiment = \"name\", seed, [params]")
    p.add_argument("--out", default=None, help="run folder (default: runs/<experiment>); an existing one resumes")
    p.add_argument("--quick", action="store_true",
                   help="the experiment's small setting; it replaces the values of the config's [params] "
                        "that it sets and names each one it replaces (values in the config's [quick] "
                        "table win)")
    p.add_argument("--seed", type=int, default=None, help="overrides the config's seed")
    p.add_argument("--executor", choices=["serial", "local", "dask"], default="local",
                   help="serial (this process), local (processes, default) or dask")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="dask scheduler to connect to (default: a local cluster on 127.0.0.1)")
    p.add_argument("--workers", type=int, default=None, help="processes / dask workers (default: min(2, cpus))")
    p.add_argument("--threads", type=_threads, default=1,
                   help="torch threads per worker process (default 1: the units already run in "
                        "parallel, and more threads on busy cores slow training down)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar (there is none either when stderr is not a terminal)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("demo", help="run every shipped experiment (quick settings) into one report")
    p.add_argument("--out", default="demo-output", help="output folder (default: demo-output)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--full", action="store_true", help="the full settings (much longer)")
    p.add_argument("--only", default=None, help="comma-separated experiments (default: all)")
    p.add_argument("--executor", choices=["serial", "local", "dask"], default="local",
                   help="serial, local processes (default) or dask")
    p.add_argument("--threads", type=_threads, default=1,
                   help="torch threads per work unit (default 1: units run side by side)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_demo)
    return parser


#: Integer options and their least value, checked for every subcommand that has them.
_MINIMUM = {"subjects": 1, "trials": 1, "starts": 1, "seed": 0, "workers": 1, "max_iter": 1, "n_sims": 1,
            "chains": 1, "warmup": 1, "draws": 1, "vi_steps": 1, "jobs": 1}


def _check_ranges(args: argparse.Namespace) -> None:
    from cogmodels.validation import check_int

    for name, least in _MINIMUM.items():
        value = getattr(args, name, None)
        if value is not None:
            check_int(f"--{name.replace('_', '-')}", value, minimum=least)


def _warning_line(message: Warning | str, category: type[Warning]) -> str:
    """Format a library warning as one plain line (no source line, no pointer to attributes)."""
    text = " ".join(str(message).split())
    text = re.sub(r"\s*\(see `?\w+_`?\)", "", text)
    if not issubclass(category, UserWarning):
        text += f" ({category.__name__})"
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``cogmodels`` command line with ``argv`` (default ``sys.argv[1:]``).

    Returns the exit status; bad input ends with a one-line error message and status 2, not a
    traceback.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    prefix = f"cogmodels {args.command}"

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ARG001
        print(f"{prefix}: warning: {_warning_line(message, category)}", file=sys.stderr)

    try:
        _check_ranges(args)
        with warnings.catch_warnings():
            warnings.showwarning = show
            return args.func(args)
    except (ValueError, TypeError, FileNotFoundError, ImportError) as err:  # bad input: a message, not a traceback
        parser.exit(2, f"{prefix}: error: {err}\n")
    except OSError as err:  # a file that cannot be read or written
        where = f"{err.filename}: " if err.filename else ""
        parser.exit(2, f"{prefix}: error: {where}{err.strerror or err}\n")
    except KeyboardInterrupt:  # Ctrl-C in a command without its own handling (run and demo resume)
        print(f"{prefix}: interrupted; run the same command again to start over", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
