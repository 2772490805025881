#!/usr/bin/env python
"""Reward-driven adaptation over two months of "typical" drift (issue 15 §2 and §4).

Every decoder meets the same simulated subjects (environment seed ``--seed``), the same drift and
plays one session on each of ``--days`` (and on no other day; ``0-60``: every day), of
``--session`` seconds on the ``--report-days`` and ``--interim`` seconds on the others (the
fixed and daily decoders carry nothing between sessions and play the report days only):

- ``fixed``, ``daily_recalibration``: a steady-state Kalman filter from a supervised 60 s block
  of day 0, or of every day (the reference);
- ``pri_t``, ``pri_t_gated``, ``pri_t_errors``: the day-0 filter recalibrated after every
  session by PRI-T target inference (no label after day 0), without the error signal, with the
  error signal gating the refit, and with the error signal in PRI-T's likelihood; the output
  gain tuned trial by trial by a Thompson-sampling bandit from the trial outcomes
  (:mod:`cogmodels.agents.decoders.outcome_recalibration`);
- ``no_labels``: the same, starting from a day-0 session of the reward-trained decoder (no label
  ever);
- ``reward_only``: the reward-trained decoder (outcome-weighted rule, re-estimated features)
  learning from no decoder for ``--warmup`` s of day 0 and in every session.

The reward-trained decoder (``no_labels``' day 0, ``reward_only``) carries its weights through
the re-estimates of its features, as the package ships it, and ``no_labels``' gain grid moves
toward an edge gain that keeps winning (``GainBandit.recentre``). Ablations:
``--warmup-policy uncarried`` (``RewardDecoder(carry_policy=False)``; files ``*_uncarried``)
and ``--gain-grid fixed`` (files ``*_fixedgrid``). Both were the setting of every ``no_labels``
and ``reward_only`` figure committed up to git ``295f300``.

Ablations (``--ablations``): the error channel idealised instead of realistic, and the filter on
factor-analysis latents re-estimated and aligned each day or frozen at day 0.

    python benchmarks/bench_reward_drift.py --jobs 2           # 4 subjects, 6 days in 0..60
    python benchmarks/bench_reward_drift.py --jobs 2 --days 0-60 \
        --decoders fixed,daily_recalibration,pri_t,no_labels      # a session every day
    python benchmarks/bench_reward_drift.py --quick            # under a minute

The simulator is the plain one (the feedback user, cosine units) unless ``--realism realistic``
(Willett et al.'s user), ``full`` (all of issue 14 §1) or ``full_m1`` (the full realism on a
population with recorded M1's target-demeaned shared variance; :mod:`cogmodels.envs.bci.realism`).
Saved units and tables are named by the protocol's non-default settings, the realism and the
seed included, so a call resumes only its own run; the units' folder holds a manifest of the code
that made them (:func:`code_manifest`), and a call whose code differs refuses to resume from
them (``--fresh`` discards them; ``--reuse-units`` reads them as saved, e.g. the committed
folders, made before manifests).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import importlib.util
import json
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import cogmodels
from cogmodels.agents.decoders.outcome_recalibration import (
    RECENTRED,
    STRATEGIES,
    run_reward_drift,
)
from cogmodels.atomic import atomic_write_text
from cogmodels.envs.bci.metrics import summarize
from cogmodels.envs.bci.realism import REALISM_LEVELS, realism
from cogmodels.experiments._common import markdown_table

HERE = Path(__file__).resolve().parent
#: (strategies run together, channel, features): one unit of work each
MAIN = [("fixed,daily_recalibration", "realistic", "counts"), ("pri_t_errors", "realistic", "counts"),
        ("pri_t", "realistic", "counts"), ("pri_t_gated", "realistic", "counts"),
        ("no_labels,reward_only", "realistic", "counts")]
ABLATIONS = [("pri_t_gated,pri_t_errors", "idealised", "counts"),
             ("pri_t_errors", "realistic", "aligned"), ("pri_t_errors", "realistic", "frozen")]
#: the default session days, and the recalibrations' default prior (s)
DAYS, PRIOR_SECONDS = "0,7,14,28,42,60", 30.0
#: the default subjects, report-session seconds and reward-decoder warm-up seconds; ``--quick``'s
#: subjects and session seconds
SUBJECTS, SESSION_S, WARMUP_S, QUICK_SIZE = 4, 120.0, 480.0, (2, 30.0)
METRICS = ["successes_per_min", "success_rate", "time_to_target", "bitrate"]
#: where the manifest's import closure starts besides this script: the study that plays the units
ROOTS = ("cogmodels.agents.decoders.outcome_recalibration",)
#: the manifest's file in the units' folder
MANIFEST = "manifest.json"


def run_unit(unit: tuple[str, str, str], args: argparse.Namespace) -> tuple[pd.DataFrame, float]:
    """Play one unit; return its trials (``decoder`` renamed with the ablation) and CPU seconds."""
    names, channel, features = unit
    cpu = time.process_time()
    trials = run_reward_drift(names.split(","), args.days, args.subjects, args.session,
                              reward_warmup_s=args.warmup, error_signal=channel,
                              features=features, seed=args.seed, report_days=args.report_days,
                              interim_s=args.interim,
                              early_update_s=args.early_update,
                              prior_s=args.prior_seconds,
                              carry_policy=args.warmup_policy == "carried",
                              recentred=RECENTRED if args.gain_grid == "moving" else (),
                              **realism(args.realism))
    trials["decoder"] = trials["decoder"] + ablation_tag(unit)
    return trials, time.process_time() - cpu


def ablation_tag(unit: tuple[str, ...]) -> str:
    """Return what a unit's decoders' names carry: its channel and features unless the defaults."""
    _, channel, features = unit
    return "" if (channel, features) == ("realistic", "counts") else f" [{channel}, {features}]"


def check_one_unit_per_decoder(units: list[tuple[str, ...]], folder: Path) -> None:
    """Refuse units of which two play the same decoder (their trials would pool in the table)."""
    seen: dict[str, tuple[str, ...]] = {}
    for unit in units:
        for label in (name + ablation_tag(unit) for name in unit[0].split(",")):
            if label in seen:
                raise SystemExit(f"{folder} holds two units that play {label!r}: "
                                 f"{'/'.join(seen[label])} and {'/'.join(unit)}; their trials would "
                                 f"be pooled in the table: move one of them out of the folder")
            seen[label] = unit


def parse_days(text: str) -> list[int]:
    """Return the days of ``"0,7,14"`` or of a range ``"0-60"`` (both ends included)."""
    days: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        days += range(int(lo), int(hi or lo) + 1)
    return days


def protocol_tag(args: argparse.Namespace) -> str:
    """Name the protocol's settings that differ from the default, for the saved units' folder.

    Every setting that changes a unit's trials is named (a call resumes from the units saved
    under its tag, so two protocols must never share one).
    """
    tag = "_quick" if args.quick else ""
    subjects, session = QUICK_SIZE if args.quick else (SUBJECTS, SESSION_S)
    if args.subjects != subjects:
        tag += f"_n{args.subjects}"
    if args.session != session:
        tag += f"_session{args.session:g}"
    if args.warmup != WARMUP_S:
        tag += f"_warmup{args.warmup:g}"
    if args.days != parse_days(DAYS):
        tag += f"_days{args.days[0]}-{args.days[-1]}x{len(args.days)}"
    if args.report_days != default_report_days(args.days):
        tag += "_report" + "+".join(str(d) for d in args.report_days)
    if args.interim is not None and args.interim != args.session:
        tag += f"_interim{args.interim:g}"
    if args.early_update is not None:
        tag += f"_early{args.early_update:g}"
    if args.prior_seconds != PRIOR_SECONDS:
        tag += f"_prior{args.prior_seconds:g}"
    if args.realism != "off":
        tag += f"_{args.realism}"
    if args.warmup_policy != "carried":
        tag += f"_{args.warmup_policy}"
    if args.gain_grid != "moving":
        tag += f"_{args.gain_grid}grid"
    if args.seed != 0:  # else another seed would resume this seed's saved units
        tag += f"_seed{args.seed}"
    return tag


def code_manifest() -> dict[str, Any]:
    """Return the versions and the SHA-256 of every source that can make a unit's trials.

    The sources are the import closure of this script and :data:`ROOTS`: every ``cogmodels``
    module they import, at the top or inside a function (read from the code, not from what a
    run happened to import), and so on. Any byte change of one of them counts, a docstring's
    too; numpy's and Python's versions (to the patch release) are recorded beside the
    package's. Modules loaded from a string (``importlib.import_module``: the decoders' save
    allow-list, the experiment registry, gymnasium entry points) are not seen; none of them
    plays a unit here.
    """
    files = {name: _sha256(path) for name, path in sorted(import_closure(ROOTS).items())}
    files[f"benchmarks/{Path(__file__).name}"] = _sha256(Path(__file__))
    return {"cogmodels": cogmodels.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "sources": files}


def import_closure(roots: tuple[str, ...], script: Path = Path(__file__)) -> dict[str, Path]:
    """Return ``{module: file}`` of the ``cogmodels`` modules ``script`` and ``roots`` import, transitively."""
    found: dict[str, Path] = {}
    todo = [*roots, *_imports(script, None)]
    while todo:
        name = todo.pop()
        if name in found or not _ours(name):
            continue
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
            continue
        found[name] = Path(spec.origin)
        package = name if spec.submodule_search_locations is not None else name.rpartition(".")[0]
        todo += _imports(found[name], package)
        todo += [name.rpartition(".")[0]] if "." in name else []  # its package's __init__
    return found


def _imports(path: Path, package: str | None) -> list[str]:
    """Return the modules ``path`` names in its imports (``from a import b``: ``a`` and ``a.b``)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                if package is None:
                    continue
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names += [base] + [f"{base}.{alias.name}" for alias in node.names]
    return [n for n in names if _ours(n) and _exists(n)]


def _ours(name: str) -> bool:
    return name == "cogmodels" or name.startswith("cogmodels.")


def _exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # "a.b" where a is a module, not a package
        return False


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def open_units(folder: Path, fresh: bool = False, reuse: bool = False) -> None:
    """Make ``folder`` this code's units' folder, resuming from its units only if they are this code's.

    The units are resumed when the folder's manifest is :func:`code_manifest`'s; units saved by
    other code, or before manifests were written, are refused (``SystemExit`` naming what
    differs) unless ``fresh``, which removes them, or ``reuse``, which resumes from them anyway
    (to re-read a recorded run's tables, e.g. the committed folders, saved before manifests) with
    a warning and leaves their manifest as it was. Otherwise the manifest is then (re)written.
    """
    if fresh and reuse:
        raise SystemExit("--fresh discards the saved units and --reuse-units keeps them: give one")
    path = folder / MANIFEST
    if reuse and not any(folder.glob("*.csv.gz")):
        raise SystemExit(f"--reuse-units reads saved units, and {folder} holds none")
    if fresh:
        for unit in folder.glob("*.csv.gz"):
            unit.unlink()
        path.unlink(missing_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    now = code_manifest()
    try:
        saved = json.loads(path.read_text()) if path.is_file() else None
    except (OSError, ValueError):
        saved = {"unreadable": True}
    units = sorted(folder.glob("*.csv.gz"))
    if units and saved != now:
        changes = manifest_changes(saved, now)
        if reuse:
            print(f"warning: --reuse-units: resuming from {len(units)} saved units of other code "
                  f"({changes}); their trials are reported as they were saved", flush=True)
            return
        raise SystemExit(f"{folder} holds {len(units)} saved units of other code "
                         f"({changes}); resuming would report them as this code's: give another "
                         f"--out to run them again beside them, --reuse-units to read them as "
                         f"saved, or --fresh to delete them (tracked files under "
                         f"benchmarks/figures too) and run every unit again")
    atomic_write_text(path, json.dumps(now, indent=1) + "\n")


def saved_units(folder: Path) -> list[tuple[str, ...]]:
    """Return the units saved in ``folder`` (file ``decoder__channel__features.csv.gz``), sorted.

    The protocol's table is written from every unit of its folder, not only those a call selects
    with ``--decoders`` or ``--units``: a call that runs a subset does not drop the others' rows.
    """
    units = (tuple(p.name.removesuffix(".csv.gz").replace("+", ",").split("__"))
             for p in folder.glob("*.csv.gz"))
    return sorted(u for u in units if len(u) == 3)  # other files are not units


def manifest_changes(saved: dict[str, Any] | None, now: dict[str, Any]) -> str:
    """Say how the ``saved`` manifest (None: none) differs from ``now``'s."""
    if saved is None:
        return f"no {MANIFEST}: saved before manifests were written"
    if not isinstance(saved, dict) or not isinstance(saved.get("sources"), dict):
        return f"an unreadable {MANIFEST}"
    old, new = saved.get("sources", {}), now["sources"]
    changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    parts = [f"{k} {saved.get(k)} -> {now[k]}" for k in ("cogmodels", "numpy", "python")
             if saved.get(k) != now[k]]
    if changed:
        parts.append("changed sources: " + ", ".join(changed[:6])
                     + (f" and {len(changed) - 6} more" if len(changed) > 6 else ""))
    return "; ".join(parts)


def default_report_days(days: list[int]) -> list[int]:
    """Return the days reported without ``--report-days``: those of :data:`DAYS` played, else all."""
    return [d for d in days if d in parse_days(DAYS)] or days


def bootstrap_ci(values: np.ndarray, n: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95 % percentile bootstrap interval of the mean over subjects."""
    rng = np.random.default_rng(seed)
    means = rng.choice(values, size=(n, len(values))).mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def by_day(trials: pd.DataFrame) -> pd.DataFrame:
    """Mean over subjects of each metric per decoder and day, successes/min with a CI."""
    per = summarize(trials, by=["decoder", "day", "subject"], n_targets=8)
    rows = []
    for (dec, day), g in per.groupby(["decoder", "day"], sort=False):
        lo, hi = bootstrap_ci(g["successes_per_min"].to_numpy())
        rows.append({"decoder": dec, "day": int(day), **{m: g[m].mean() for m in METRICS},
                     "spm_lo": lo, "spm_hi": hi})
    return pd.DataFrame(rows)


def paired_ratios(trials: pd.DataFrame, days: list[int], reference: str = "daily_recalibration",
                  n: int = 4000, seed: int = 0) -> pd.DataFrame:
    """Each decoder's successes/min over the reference's, per day, with a paired 95 % CI.

    The ratio of the subjects' means, ``mean(decoder) / mean(reference)``, and its percentile
    interval over ``n`` bootstrap draws of subjects, the same subjects for both (paired: a
    subject who is slow with every decoder moves both means). Days without the reference are
    left out.
    """
    per = summarize(trials[trials.day.isin(days)], by=["decoder", "day", "subject"], n_targets=8)
    rng = np.random.default_rng(seed)
    rows = []
    for day, g in per.groupby("day", sort=True):
        wide = g.pivot(index="subject", columns="decoder", values="successes_per_min")
        if reference not in wide:
            continue
        draw = rng.integers(0, len(wide), size=(n, len(wide)))
        ref = wide[reference].to_numpy()
        for dec in wide.columns.drop(reference):
            x = wide[dec].to_numpy()
            boot = x[draw].mean(axis=1) / ref[draw].mean(axis=1)
            lo, hi = np.percentile(boot, [2.5, 97.5])
            rows.append({"decoder": dec, "day": int(day), "ratio": x.mean() / ref.mean(),
                         "ratio_lo": lo, "ratio_hi": hi})
    return pd.DataFrame(rows)


def figure(table: pd.DataFrame, report: list[int]) -> plt.Figure:
    """Successes/min by day of each decoder (mean of subjects, 95 % bootstrap band)."""
    fig, ax = plt.subplots(figsize=(7.0, 3.6))
    for dec, g in table.groupby("decoder", sort=False):
        g = g.sort_values("day")
        line, = ax.plot(g.day, g.successes_per_min, label=dec, lw=1.2,
                        marker="o" if len(g) <= len(report) else None, ms=3)
        ax.fill_between(g.day, g.spm_lo, g.spm_hi, color=line.get_color(), alpha=0.2, lw=0)
    for d in report:
        ax.axvline(d, color="0.85", lw=0.8, zorder=0)
    ax.set(xlabel="day", ylabel="successes / min", ylim=(0, None))
    ax.legend(fontsize=7, frameon=False, loc="lower left")
    fig.tight_layout()
    return fig



def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subjects", type=int, default=SUBJECTS)
    ap.add_argument("--days", default=DAYS, help="session days: '0,7,14' or a range '0-60'")
    ap.add_argument("--report-days", default=None,
                    help=f"days reported (and played for --session s); default --days ∩ {DAYS}")
    ap.add_argument("--session", type=float, default=SESSION_S, help="seconds per report session")
    ap.add_argument("--interim", type=float, default=None,
                    help="seconds per session on the other days (default --session)")
    ap.add_argument("--decoders", default=None,
                    help=f"one unit per decoder (realistic channel, counts) among {STRATEGIES}")
    ap.add_argument("--early-update", type=float, default=None,
                    help="refit every this many s during the first 30 s of a session")
    ap.add_argument("--prior-seconds", type=float, default=PRIOR_SECONDS,
                    help="the session's starting filter's weight in the refits (s of bins)")
    ap.add_argument("--warmup", type=float, default=WARMUP_S,
                    help="seconds of day-0 learning of the reward-trained decoder")
    ap.add_argument("--units", default=None,
                    help="only these units, e.g. 'pri_t_errors/realistic/counts;fixed/realistic/counts'")
    ap.add_argument("--ablations", action="store_true", help="also the ablation units")
    ap.add_argument("--jobs", type=int, default=1, help="processes (one unit each)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--realism", choices=REALISM_LEVELS, default="off",
                    help="the simulator's realism (cogmodels.envs.bci.realism): the user, and "
                         "for 'full' and 'full_m1' the encoder and within-session drift")
    ap.add_argument("--warmup-policy", choices=("carried", "uncarried"), default="carried",
                    help="the reward-trained decoder of no_labels' day 0 and of reward_only: "
                         "its weights carried through each re-estimate of its features (the "
                         "decoder's default) or not (an ablation, files *_uncarried)")
    ap.add_argument("--gain-grid", choices=("moving", "fixed"), default="moving",
                    help="no_labels' gain grid: moved after each session toward an edge gain "
                         "that is probably the best (GainBandit.recentre), or fixed (an "
                         "ablation, files *_fixedgrid)")
    ap.add_argument("--quick", action="store_true",
                    help="2 subjects, days 0,7,14, 30 s sessions, fixed vs pri_t_gated")
    ap.add_argument("--out", type=Path, default=HERE / "figures")
    ap.add_argument("--fresh", action="store_true",
                    help="delete every unit saved under this protocol's folder (all of them, "
                         "whatever --decoders selects; tracked files too) and run again")
    ap.add_argument("--reuse-units", action="store_true",
                    help="read units saved by other code (or before manifests: the committed "
                         "folders) as they were saved, with a warning; runs no unit")
    args = ap.parse_args()
    units = MAIN + (ABLATIONS if args.ablations else [])
    if args.units:
        units = [tuple(u.split("/")) for u in args.units.split(";")]
    if args.decoders:
        units = [(d, "realistic", "counts") for d in args.decoders.split(",")]
    if args.quick:
        (args.subjects, args.session), args.days = QUICK_SIZE, "0,7,14"
        units = [("fixed,pri_t_gated", "realistic", "counts")]
    args.days = parse_days(args.days)
    report = parse_days(args.report_days) if args.report_days else default_report_days(args.days)
    args.report_days = report
    args.out.mkdir(parents=True, exist_ok=True)
    tag = protocol_tag(args)
    wall0, cpu0 = time.perf_counter(), os.times()
    saved = args.out / f"reward_drift_units{tag}"  # one file per unit as it ends: resumable
    open_units(saved, fresh=args.fresh, reuse=args.reuse_units)

    def path(unit: tuple[str, str, str]) -> Path:
        return saved / ("__".join(unit).replace(",", "+") + ".csv.gz")

    todo = [u for u in units if not path(u).exists()]
    if args.reuse_units and todo:  # read-only: never mix new units into another code's folder
        raise SystemExit(f"--reuse-units only reads saved units, and {saved} lacks "
                         f"{['/'.join(u) for u in todo]}: choose --decoders among the saved ones, "
                         f"or run them without --reuse-units (with another --out)")
    with ProcessPoolExecutor(args.jobs) as pool:
        futures = {pool.submit(run_unit, u, args): u for u in todo}
        for f in as_completed(futures):
            trials, seconds = f.result()
            trials.assign(cpu_s=seconds).to_csv(path(futures[f]), index=False)
            print(f"{'/'.join(futures[f])}: {seconds:.0f} CPU s", flush=True)
    units += [u for u in saved_units(saved) if u not in units]  # the folder's table: all its units
    check_one_unit_per_decoder(units, saved)
    parts = [pd.read_csv(path(u)) for u in units]
    cpu = {"/".join(u): float(p["cpu_s"].iloc[0]) for u, p in zip(units, parts)}
    parts = [p.drop(columns="cpu_s") for p in parts]
    wall = time.perf_counter() - wall0
    t1 = os.times()
    total_cpu = (t1.user - cpu0.user) + (t1.system - cpu0.system) + (
        t1.children_user - cpu0.children_user) + (t1.children_system - cpu0.children_system)
    trials = pd.concat(parts, ignore_index=True)
    table = by_day(trials)
    table.to_csv(args.out / f"reward_drift_days{tag}.csv", index=False)
    figure(table, report).savefig(args.out / f"reward_drift_days{tag}.png", dpi=120)
    print(f"machine: {platform.machine()} {os.cpu_count()} cpu, python {platform.python_version()}"
          f"; this call: wall {wall:.0f} s, CPU {total_cpu:.0f} s; seed {args.seed}; {args.subjects} subjects"
          f"; {args.session:g} s sessions on days {report}"
          + (f", {args.interim or args.session:g} s on the other days of {args.days[0]}.."
             f"{args.days[-1]} ({len(args.days)} days)" if args.days != report else ""))
    for unit, seconds in cpu.items():
        print(f"  {unit}: {seconds:.0f} CPU s (when it ran)")
    table = table[table.day.isin(report)]
    wide = table.assign(cell=[f"{m:.1f} [{lo:.1f}, {hi:.1f}]" for m, lo, hi in zip(
        table.successes_per_min, table.spm_lo, table.spm_hi)]).pivot(
        index="decoder", columns="day", values="cell")
    print("\nsuccesses/min by day (mean of subjects [95 % bootstrap CI over subjects]):")
    print(markdown_table(wide.reset_index(), decimals=2))
    daily = table[table.decoder == "daily_recalibration"].set_index("day").successes_per_min
    if len(daily):
        ratio = table.assign(ratio=table.successes_per_min / table.day.map(daily)).pivot(
            index="decoder", columns="day", values="ratio")
        print("\nratio to daily supervised recalibration:")
        print(markdown_table(ratio.reset_index().round(2), decimals=2))
        paired = paired_ratios(trials, report)
        if len(paired):
            print("\nratio to daily supervised [paired 95 % bootstrap CI over subjects]:")
            print(markdown_table(paired.assign(cell=[f"{r:.2f} [{lo:.2f}, {hi:.2f}]" for r, lo, hi in zip(
                paired.ratio, paired.ratio_lo, paired.ratio_hi)]).pivot(
                index="decoder", columns="day", values="cell").reset_index(), decimals=2))
    late = trials[trials.day.isin([d for d in report if d >= 28])]
    if len(late):
        block = (late.time - late.trial_time).floordiv(30).mul(30).astype(int)  # trial start
        blocks = summarize(late.assign(block=block), by=["decoder", "day", "block"], n_targets=8)
        print("\nsuccesses/min by 30 s block of the session (trial start; subjects pooled):")
        print(markdown_table(blocks.pivot(index=["decoder", "day"], columns="block",
                                    values="successes_per_min").round(1).reset_index(), decimals=2))
    for metric in ("time_to_target", "bitrate"):
        print(f"\n{metric} by day:")
        print(markdown_table(table.pivot(index="decoder", columns="day", values=metric)
                       .reset_index().round(2), decimals=2))


if __name__ == "__main__":
    main()
