#!/usr/bin/env python
"""Gilja et al. (2012) in simulation: ReFIT-KF against the KF calibrated on the open-loop block.

For each subject (a lane of ``CursorBCIVector``; ``--subjects`` per seed, ``--seeds`` seeds):

1. an open-loop calibration block (``--calibration`` s): the cursor moves by itself along
   minimum-jerk paths to the cued centre-out targets, the user watches (``paradigm``), the units
   fire with their open-loop code; a steady-state Kalman filter is fit on the cued kinematics;
2. that KF drives the cursor for a closed-loop block (``--refit`` s); ReFIT-KF is fit on it with
   intention re-estimation (decoded velocity turned toward the target, zero on it);
3. each decoder plays a closed-loop session (``--session`` s) on the same subject; the time to
   target (s, successes) and the success rate are scored per subject.

The ratio ReFIT / KF of the mean time to target is given with a 95 % bootstrap CI over subjects
(paired). With ``--tune-gain`` each decoder first gets its own output gain, the one of
:data:`GAINS` with the most successes per minute on other subjects (``--tune-seed``): ReFIT-KF
moves the cursor at about half the commanded speed at gain 1 (its best is 2), the open-loop KF
does best at 0.35-1. Conditions: the realistic setting (Willett et al. 2019's user with their
fitted push, damping,
intention noise and a forward model that learns the decoder's gain and smoothing; observation
block aligned by the user's 0.2 s delay),
then one change each — labels not lag-aligned, the same neural code in open and closed loop,
an attempted-movement block, and the idealised calibration the simulator used before issue 14
(the cursor follows the user's true intention, which is the label; plain user). Figure:
``benchmarks/figures/bci_refit.png`` (``bci_refit_tuned.png`` with ``--tune-gain``).

``--realism full`` / ``full_m1`` puts every condition on that level's simulated array
(:func:`cogmodels.envs.bci.realism.realism`: its population — untuned units, speed terms, the
shared latent drive, spike history, threshold crossings; ``full_m1``'s 96 channels closer to
recorded M1's shared variance — and its within-session baseline shifts and channel losses); the
users and calibration blocks of the conditions are unchanged. Files ``*_full`` / ``*_full_m1``.

    python benchmarks/bench_bci_refit.py --subjects 8 --seeds 3 [--tune-gain] [--realism full_m1]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import cogmodels  # noqa: E402,F401
from cogmodels.agents.decoders import SteadyStateKalmanDecoder  # noqa: E402
from cogmodels.agents.decoders.session import (  # noqa: E402
    OBSERVATION_BLOCK,
    calibrate,
    refit_decoder,
    run_closed_loop,
)
from cogmodels.envs.bci import CursorBCIVector  # noqa: E402
from cogmodels.envs.bci.realism import realism  # noqa: E402
from cogmodels.envs.bci.user import WILLETT_USER  # noqa: E402

HERE = Path(__file__).resolve().parent
SAME_CODE = {"observation_gain": 1.0, "observation_rotation": 0.0, "observation_offset": 0.0}
_OBSERVATION = (OBSERVATION_BLOCK["paradigm"], OBSERVATION_BLOCK["lag"])
#: condition -> (environment overrides, calibration paradigm, label lag in s)
CONDITIONS: dict[str, tuple[dict, str, float]] = {
    "realistic (observation, lag-aligned)": ({"user": WILLETT_USER}, *_OBSERVATION),
    "labels not lag-aligned": ({"user": WILLETT_USER}, "observation", 0.0),
    "same code open / closed loop": ({"user": WILLETT_USER, **SAME_CODE}, *_OBSERVATION),
    "attempted movement block": ({"user": WILLETT_USER}, "attempt", 0.0),
    "idealised (before issue 14)": ({"user": "feedback"}, "intention", 0.0),
}


#: the levels of ``--realism``: the simulated array under every condition
ARRAYS = ("realistic", "full", "full_m1")


def on_array(overrides: dict, level: str) -> dict:
    """Return a condition's environment ``overrides`` on realism ``level``'s simulated array.

    The level's keyword arguments (:func:`~cogmodels.envs.bci.realism.realism`) under the
    condition's own: ``"realistic"`` adds nothing (the default population, no within-session
    drift); ``"full"`` / ``"full_m1"`` add that level's ``population`` (the condition's context
    overrides, such as :data:`SAME_CODE`, still applied over it) and fresh ``session_drift``
    processes. The user stays the condition's.
    """
    if level not in ARRAYS:
        raise ValueError(f"level must be one of {list(ARRAYS)}, got {level!r}")
    return {**realism(level), **overrides}


def condition_overrides(overrides: dict, args: argparse.Namespace) -> dict:
    """Return a condition's environment ``overrides`` with the user and array ``args`` ask for.

    Willett et al.'s user takes ``--see-velocity`` and the push of ``--willett-push`` /
    ``--tanh-push``; every condition goes on the array of ``--realism`` (:func:`on_array`).
    """
    if overrides["user"] is WILLETT_USER and (args.see_velocity or args.willett_push
                                              or args.tanh_push):
        user = dataclasses.replace(
            WILLETT_USER, see_velocity=args.see_velocity,
            push=("willett" if args.willett_push else "tanh" if args.tanh_push
                  else WILLETT_USER.push))
        overrides = {**overrides, "user": user}
    return on_array(overrides, args.realism)


#: the output gains tried by ``--tune-gain``
GAINS = (0.25, 0.35, 0.5, 0.7, 1.0, 1.4, 2.0, 2.8)
DECODERS = ("KF (open-loop block)", "ReFIT-KF")


def decoders_of(overrides: dict, paradigm: str, lag: float, subjects: int, seed: int,
                seconds: tuple[float, float, float], dynamics: str = "fit"):
    """Return the environment (subjects of ``seed``) and its open-loop KF and ReFIT-KF.

    ``dynamics="fit"``: the KF's kinematic model (A, W) is fit to the block's kinematics, as the
    KFs of Wu et al. (2006) and Gilja et al. (2012) are; ``"physical"``: BMI3D's fixed prior.
    """
    calibration, refit_s, _ = seconds
    env = CursorBCIVector(num_envs=subjects, n_trials=10**6, **overrides)
    env.reset(seed=seed, options={"day": 0})
    kf = calibrate(env, SteadyStateKalmanDecoder(dynamics=dynamics), calibration, paradigm=paradigm, lag=lag)
    return env, dict(zip(DECODERS, (kf, refit_decoder(env, kf, refit_s))))


def tune_gains(overrides: dict, paradigm: str, lag: float, subjects: int, seed: int,
               seconds: tuple[float, float, float], dynamics: str = "fit") -> dict[str, float]:
    """Return each decoder's gain of :data:`GAINS` with the most successes per minute.

    On the subjects of ``seed``, which must not be the scored ones.
    """
    env, decs = decoders_of(overrides, paradigm, lag, subjects, seed, seconds, dynamics)
    out = {}
    for name, dec in decs.items():
        rate = {g: int(run_closed_loop(env, dec, seconds[2], gain=g).success.sum()) for g in GAINS}
        out[name] = max(GAINS, key=lambda g: rate[g])
    return out


def run_condition(overrides: dict, paradigm: str, lag: float, subjects: int, seed: int,
                  seconds: tuple[float, float, float], dynamics: str = "fit",
                  gains: dict[str, float] | None = None) -> pd.DataFrame:
    """Per-subject time to target and success rate of the open-loop KF and of ReFIT-KF.

    ``gains``: each decoder's output gain (default 1); :func:`decoders_of` for the rest.
    """
    env, decs = decoders_of(overrides, paradigm, lag, subjects, seed, seconds, dynamics)
    rows = []
    for name, dec in decs.items():
        gain = 1.0 if gains is None else gains[name]
        tab = run_closed_loop(env, dec, seconds[2], gain=gain)
        per = tab.groupby("subject").agg(time_to_target=("time_to_target", "mean"),
                                         success_rate=("success", "mean"),
                                         successes=("success", "sum"))
        per["decoder"], per["seed"], per["gain"] = name, seed, gain
        rows.append(per.reset_index())
    return pd.concat(rows, ignore_index=True)


def paired_ratio(kf: np.ndarray, refit: np.ndarray, rng: np.random.Generator,
                 n_boot: int = 10_000) -> tuple[float, float, float]:
    """Ratio of means ReFIT / KF and its 95 % percentile bootstrap CI (subjects resampled)."""
    idx = rng.integers(0, len(kf), size=(n_boot, len(kf)))
    boot = refit[idx].mean(axis=1) / kf[idx].mean(axis=1)
    return float(refit.mean() / kf.mean()), *np.percentile(boot, [2.5, 97.5]).tolist()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subjects", type=int, default=8)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--calibration", type=float, default=60.0)
    ap.add_argument("--refit", type=float, default=60.0)
    ap.add_argument("--session", type=float, default=120.0)
    ap.add_argument("--out", type=Path, default=HERE / "figures")
    ap.add_argument("--dynamics", choices=("fit", "physical"), default="fit",
                    help="the KF's kinematic model: fit to the block (Gilja 2012, default) or "
                         "BMI3D's fixed physical prior")
    ap.add_argument("--tune-gain", action="store_true",
                    help="give each decoder its best output gain of GAINS, chosen on other "
                         "subjects (--tune-seed)")
    ap.add_argument("--tune-seed", type=int, default=100)
    push = ap.add_mutually_exclusive_group()
    push.add_argument("--willett-push", action="store_true",
                      help="Willett et al.'s user with their fitted push, WILLETT_USER's own since "
                           "2026-12-07 (the ablation run before it; files *_willettpush)")
    push.add_argument("--tanh-push", action="store_true",
                      help="Willett et al.'s user with the tanh stand-in push it had until "
                           "2026-12-07 (UserSpec.push; an ablation of the user, files *_tanhpush)")
    ap.add_argument("--see-velocity", action="store_true",
                    help="Willett et al.'s user anchored to the seen velocity too "
                         "(UserSpec.see_velocity; an ablation of the user, files *_seevel)")
    ap.add_argument("--realism", choices=ARRAYS, default="realistic",
                    help="the simulated array under every condition: the default population "
                         "(default), or the full / full_m1 level's population with its "
                         "within-session drift (files *_full, *_full_m1)")
    ap.add_argument("--replot", action="store_true",
                    help="redraw the table and figure from the CSV of a previous run")
    args = ap.parse_args()
    t0 = time.perf_counter()
    seconds = (args.calibration, args.refit, args.session)
    name = ("bci_refit" + ("" if args.dynamics == "fit" else "_physical")
            + ("_tuned" if args.tune_gain else "") + ("_seevel" if args.see_velocity else "")
            + ("_willettpush" if args.willett_push else "")
            + ("_tanhpush" if args.tanh_push else "")
            + ("" if args.realism == "realistic" else f"_{args.realism}"))
    if args.tune_gain and 0 <= args.tune_seed < args.seeds:
        raise SystemExit(f"--tune-seed {args.tune_seed} is one of the scored seeds 0-{args.seeds - 1}")
    if args.replot:
        table = pd.read_csv(args.out / f"{name}.csv")
    else:
        parts = []
        for cond, (over, paradigm, lag) in CONDITIONS.items():
            over = condition_overrides(over, args)
            gains = (tune_gains(over, paradigm, lag, args.subjects, args.tune_seed, seconds,
                                args.dynamics) if args.tune_gain else None)
            for seed in range(args.seeds):
                part = run_condition(over, paradigm, lag, args.subjects, seed, seconds,
                                     args.dynamics, gains)
                part["condition"] = cond
                parts.append(part)
        table = pd.concat(parts, ignore_index=True)
        args.out.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out / f"{name}.csv", index=False)
    wall = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    print(f"machine: {platform.machine()} {os.cpu_count()} cpu, python "
          f"{platform.python_version()}; wall {wall:.0f} s; {args.seeds} seeds x "
          f"{args.subjects} subjects; blocks {args.calibration:.0f} / {args.refit:.0f} s, "
          f"sessions {args.session:.0f} s; KF dynamics {args.dynamics}; array {args.realism}")
    print("| condition | KF time to target (s) | ReFIT-KF (s) | ratio [95 % CI] | success KF / "
          "ReFIT | gains KF / ReFIT |")
    print("| --- | --- | --- | --- | --- | --- |")
    summary = {}
    for cond in CONDITIONS:
        t = table[table.condition == cond].sort_values(["seed", "subject"])
        kf = t[t.decoder == "KF (open-loop block)"]
        rf = t[t.decoder == "ReFIT-KF"]
        ratio, lo, hi = paired_ratio(kf.time_to_target.to_numpy(), rf.time_to_target.to_numpy(),
                                     rng)
        gains = f"{_gain(kf)} / {_gain(rf)}"
        summary[cond] = (kf.time_to_target.to_numpy(), rf.time_to_target.to_numpy(), ratio, gains)
        print(f"| {cond} | {kf.time_to_target.mean():.2f} | {rf.time_to_target.mean():.2f} | "
              f"{ratio:.2f} [{lo:.2f}, {hi:.2f}] | {kf.success_rate.mean():.2f} / "
              f"{rf.success_rate.mean():.2f} | {gains} |")
    figure(summary, args.tune_gain, args.realism).savefig(args.out / f"{name}.png", dpi=120,
                                                          bbox_inches="tight")


def _gain(rows: pd.DataFrame) -> str:
    """Return the output gain of a decoder's rows (1 for a table from before gains were recorded)."""
    return f"{rows.gain.iloc[0]:g}" if "gain" in rows else "1"


def figure(summary: dict[str, tuple[np.ndarray, np.ndarray, float, str]], tuned: bool = False,
           array: str = "realistic"):
    """Per-subject time to target, KF against ReFIT-KF, one panel per condition."""
    fig, axes = plt.subplots(1, len(summary), figsize=(3.0 * len(summary), 3.2), sharey=True)
    for ax, (cond, (kf, rf, ratio, gains)) in zip(np.atleast_1d(axes), summary.items()):
        for a, b in zip(kf, rf):
            ax.plot([0, 1], [a, b], color="0.7", lw=0.8)
        ax.plot([0, 1], [kf.mean(), rf.mean()], "o-", color="C3", lw=2)
        ax.set_xticks([0, 1], ["KF\n(open loop)", "ReFIT-KF"])
        ax.set_title(f"{cond}\nratio {ratio:.2f}" + (f" (gains {gains})" if tuned else ""), fontsize=8)
        ax.set_xlim(-0.3, 1.3)
    np.atleast_1d(axes)[0].set_ylabel("time to target (s)")
    gains = ("each at its output gain tuned on other subjects" if tuned else "both at gain 1")
    where = "" if array == "realistic" else f"; the {array} level's array"
    fig.suptitle(f"Gilja et al. 2012 in simulation: ReFIT-KF vs the open-loop KF (same subjects; "
                 f"{gains}{where})", fontsize=9, y=1.06)
    return fig


if __name__ == "__main__":
    main()
