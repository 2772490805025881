#!/usr/bin/env python
"""Closed-loop BCI simulation speed: ``CursorBCIVector`` against a plain numpy loop.

The full loop of every figure: the simulated user (200 ms feedback delay, forward model,
saturating push), 192 Poisson units, 20 ms bins, and a velocity Kalman filter decoder (steady
state, matrices fit by least squares on calibration data the environment simulated:
``cogmodels.agents.decoders.SteadyStateKalmanDecoder``, Wu et al. 2006 / Gilja et al. 2012). Speed is simulated bins per second over
the whole batch and its real-time factor (bins/s x 0.02 s).

- ``poisson``: samplers of 1,024 x 192 counts per bin: numpy's ``Generator.poisson``, inversion
  of the CDF on uniforms, and the time-rescaling sampler the environment uses.
- ``reference``: a plain numpy loop (the code one would write first: arrays over sessions, a
  list as the delay buffer, ``Generator.poisson``), batched and for one session.
- ``ours``: ``CursorBCIVector`` plus the same decoder, in one process and in two processes at once
  (two cores), reported as a ratio to the batched reference measured in the same run; then the
  same with the realism of issue 14 on (Willett et al.'s user with damping, intention noise and
  a forward model that learns the decoder's gain and smoothing; the decoder calibrated on an
  open-loop observation block).
  ``ours_full``: all the realism of issue 14 section 1 switched on at once (:data:`FULL_REALISM`:
  Willett's user, within-session baseline shifts and channel losses, a 10-D shared latent drive,
  untuned units, speed terms, spike history, threshold-crossing channels).
- Repeats are interleaved: each repeat times the reference, then each of our loops, so that
  ``ratio_*_paired_median`` (the median of each repeat's ratio to the reference timed just
  before it) is robust to the machine's speed drifting over minutes; the ``ratio_*`` keys
  without that suffix divide the medians over repeats.
- ``grid``: achieved bitrate ``B = log2(N - 1) max(Sc - Si, 0) / t`` of the same KF on the 6 x 6
  grid task (Pandarinath et al. 2017), dwell and click selection, plain and full realism; then
  ``grid_bitrate_tuned``, the setting of the published grid studies: the KF or ReFIT-KF with
  the output gain chosen on other subjects (:func:`tuned_grid_bitrate`), at each realism level
  (``--grid-levels``: off, realistic and full by default; ``full_m1`` on request).
- ``sweep``: a drift sweep, 60 days x 100 subjects on the "typical" preset: each day a session
  with the day-0 decoder and one with a decoder recalibrated that day.

    python benchmarks/bench_bci.py --repeats 3
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import statistics
import time
from collections import deque

import numpy as np

import cogmodels  # noqa: F401
from cogmodels.agents import decoders
from cogmodels.agents.decoders import SteadyStateKalmanDecoder
from cogmodels.agents.decoders.session import OBSERVATION_BLOCK, refit_decoder
from cogmodels.envs.bci import (
    CursorBCI,
    CursorBCIVector,
    center_out_positions,
)
from cogmodels.envs.bci.encoder import PoissonCounter
from cogmodels.envs.bci.realism import realism

DT = 0.02
N_UNITS = 192
#: the environment arguments of each level of realism ("user": Willett's user, as before issue
#: 14 section 1; "full": everything of section 1 on at once; "full_m1": the full level on the
#: 96-channel population closer to recorded M1's shared variance, for the grid only)
REALISM = {"off": realism("off"), "user": realism("realistic"), "full": realism("full"),
           "full_m1": realism("full_m1")}
#: how the grid's figure names each level (the KF's calibration block in brackets)
GRID_LEVEL_NAMES = {"off": "off\n(intention block)", "user": "realistic\n(observation block)",
                    "full": "full\n(observation block)",
                    "full_m1": "full_m1\n(observation block)"}
FULL_REALISM = REALISM["full"]


# -- the Kalman filter decoder: cogmodels.agents.decoders.SteadyStateKalmanDecoder -------------
def calibrate(env: CursorBCIVector, bins: int, realistic: bool = False) -> SteadyStateKalmanDecoder:
    """Fit a decoder on ``bins`` bins in which the cursor follows the user's intention.

    ``realistic``: on an open-loop observation block (automatic cursor, cued labels aligned by
    the user's delay, open-loop neural code) instead.
    """
    if realistic:
        return decoders.calibrate(env, SteadyStateKalmanDecoder(), bins * DT, **OBSERVATION_BLOCK)
    return decoders.calibrate(env, SteadyStateKalmanDecoder(), bins * DT)


def closed_loop(env: CursorBCIVector, decoder: SteadyStateKalmanDecoder, bins: int) -> dict[str, float]:
    """Run ``bins`` bins with the decoder from a fresh session; return the closed-loop measures.

    Those are the success rate, successes per simulated minute, mean time to target (s) of the
    successes, and the wall and CPU time of this process.
    """
    obs, _ = env.reset(options={"day": env.day})
    decoder.reset()
    ok = done = 0
    ttt = 0.0
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(bins):
        obs, _, term, _, info = env.step(decoder.step_fast(obs))
        c = info["trial_completed"]
        if c.any():
            hit = info["success"] & c
            ok += int(hit.sum())
            done += int(c.sum())
            ttt += float(info["time_to_target"][hit].sum())
        if term.any():
            decoder.reset(term)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"success": ok / max(done, 1), "per_min": ok / (env.num_envs * bins * DT / 60),
            "ttt": ttt / max(ok, 1), "seconds": seconds, "cpu_seconds": cpu}


# -- the plain numpy reference loop -----------------------------------------------------------
def reference_loop(baseline, tuning, decoder: SteadyStateKalmanDecoder, targets, bins: int,
                   seed: int):
    """Run the same closed loop written plainly; return ``(success rate, seconds, CPU seconds)``.

    ``baseline (n, N)`` Hz and ``tuning (n, N, 2)`` per session; ``targets (n, T, 2)``. Cosine
    units, ``Generator.poisson``, a list as the 200 ms delay buffer, the same Kalman filter.
    """
    rng = np.random.default_rng(seed)
    n = baseline.shape[0]
    k_delay, hold_bins, timeout_bins, radius = 10, 25, 500, 0.075
    cursor = np.zeros((n, 2))
    seen = deque([np.zeros((n, 2))] * (k_delay + 1), maxlen=k_delay + 1)
    moves = deque([np.zeros((n, 2))] * k_delay, maxlen=k_delay)
    trial = np.zeros(n, dtype=int)
    hold = np.zeros(n, dtype=int)
    t_in = np.zeros(n, dtype=int)
    v = np.zeros((n, 2))
    ok = done = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(bins):
        target = targets[np.arange(n), trial % targets.shape[1]]
        # user: delayed view + forward model, saturating push
        est = seen[0] + sum(moves)
        err = target - est
        dist = np.linalg.norm(err, axis=1, keepdims=True)
        u = err * 0.8 * np.tanh(dist / 0.1) / (dist + 1e-12)
        moves.append(DT * u)
        # units and decoder
        rates = np.maximum(baseline + np.einsum("lnk,lk->ln", tuning, u), 0.0)
        y = rng.poisson(rates * DT).astype(np.float32)
        v = np.einsum("lij,lj->li", decoder.M_, v) + np.einsum("lkn,ln->lk", decoder.K_,
                                                               y - decoder.d_)
        # cursor and task
        cursor = np.clip(cursor + DT * np.clip(v, -1, 1), -0.5, 0.5)
        inside = np.linalg.norm(cursor - target, axis=1) <= radius
        hold = np.where(inside, hold + 1, 0)
        t_in += 1
        success = hold > hold_bins
        end = success | (t_in >= timeout_bins)
        ok += int(success.sum())
        done += int(end.sum())
        trial = trial + end
        hold[end] = 0
        t_in[end] = 0
        cursor[end] = 0.0
        seen.append(cursor.copy())
    return ok / max(done, 1), time.perf_counter() - t0, time.process_time() - c0


# -- measurements -----------------------------------------------------------------------------
def poisson_rates(repeats: int) -> dict[str, float]:
    """Measure the samples per second of three exact Poisson samplers at 1,024 x 192 units."""
    rng = np.random.default_rng(0)
    shape = (1024, N_UNITS)
    lam = rng.uniform(5, 45, size=shape).astype(np.float32) * DT
    counter = PoissonCounter(*shape)
    counter.reset(np.arange(shape[0]), rng)

    def inversion():
        """Sequential search of the CDF, over the shrinking set of units still above it."""
        u = rng.random(shape).ravel()
        lr = lam.ravel().astype(np.float64)
        p = np.exp(-lr)
        c = (u > p).astype(np.float32)
        idx = np.flatnonzero(c)
        uu, ll, pp = u[idx], lr[idx], p[idx]
        ff = pp.copy()
        k = 1
        while idx.size:
            pp = pp * ll / k
            ff += pp
            k += 1
            more = (uu > ff) & (pp > 0)  # pp == 0: the CDF has reached 1 in floating point
            idx, uu, ll, pp, ff = idx[more], uu[more], ll[more], pp[more], ff[more]
            c[idx] += 1
        return c

    samplers = {
        "numpy_poisson": lambda: rng.poisson(lam),
        "inversion": inversion,
        "time_rescaling": lambda: counter.sample(lam, rng),
    }
    out = {}
    for name, f in samplers.items():
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(20):
                f()
            times.append((time.perf_counter() - t0) / 20)
        out[name] = lam.size / statistics.median(times)
    x = np.stack([counter.sample(lam, rng) for _ in range(200)])
    out["time_rescaling_mean_over_lambda"] = float(x.mean() / lam.mean())
    out["time_rescaling_fano"] = float((x.var(axis=0) / lam).mean())
    return out


def _timed_rate(num_envs: int, bins: int, seed: int, barrier=None, queue=None,
                realism: str = "off"):
    """``CursorBCIVector`` + decoder: wall-clock start and end of the closed loop, success, CPU s.

    With a ``barrier`` the closed loops of several processes start together. ``realism``
    (:data:`REALISM`) other than "off": the decoder is calibrated on an open-loop observation
    block.
    """
    env = CursorBCIVector(num_envs=num_envs, n_trials=10**6, **REALISM[realism])
    env.reset(seed=seed)
    decoder = calibrate(env, 1500, realism != "off")
    if barrier is not None:
        barrier.wait()
    start = time.time()
    run = closed_loop(env, decoder, bins)
    out = (start, time.time(), run["success"], run["cpu_seconds"])
    if queue is not None:
        queue.put(out)
    return out


def our_rate(num_envs: int, bins: int, seed: int, processes: int = 1,
             realism: str = "off") -> tuple[float, float, float]:
    """Bins per wall second over all copies (``processes`` at once), success rate, bins per CPU s.

    Bins per CPU second divide by the processes' own CPU time, so other jobs on a shared machine
    do not count (both sides pinned to one core and one thread: ``taskset -c N``,
    ``OMP_NUM_THREADS=1``).
    """
    if processes == 1:
        start, end, success, cpu = _timed_rate(num_envs, bins, seed, realism=realism)
        return num_envs * bins / (end - start), success, num_envs * bins / cpu
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(processes), ctx.Queue()
    procs = [ctx.Process(target=_timed_rate,
                         args=(num_envs, bins, seed + i, barrier, queue, realism))
             for i in range(processes)]
    for p in procs:
        p.start()
    res = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    seconds = max(r[1] for r in res) - min(r[0] for r in res)
    total = processes * num_envs * bins
    return total / seconds, statistics.mean(r[2] for r in res), total / sum(r[3] for r in res)


def single_rate(bins: int, seed: int) -> float:
    """One session in the single environment ``CursorBCI`` with the same decoder."""
    vec = CursorBCIVector(num_envs=1, n_trials=10**6)
    vec.reset(seed=seed)
    decoder = calibrate(vec, 3000)
    env = CursorBCI(n_trials=10**6)
    env.reset(seed=seed)  # the same subject as the vector env's only copy
    obs = env.reset(options={"day": 0})[0]
    t0 = time.perf_counter()
    for _ in range(bins):
        obs = env.step(decoder.step_fast(obs[None])[0])[0]
    return bins / (time.perf_counter() - t0)


def reference_rate(num_envs: int, bins: int, seed: int) -> tuple[float, float, float]:
    """Return the reference loop's bins per wall second, success rate and bins per CPU second."""
    env = CursorBCIVector(num_envs=num_envs, n_trials=10**6)
    env.reset(seed=seed)
    decoder = calibrate(env, 1500)
    pops = [env.population(i) for i in range(num_envs)]
    baseline = np.stack([p.baseline for p in pops])
    tuning = np.stack([p.tuning for p in pops])
    rng = np.random.default_rng(seed)
    targets = center_out_positions(8, 0.35)[rng.integers(0, 8, size=(num_envs, 64))]
    success, seconds, cpu = reference_loop(baseline, tuning, decoder, targets, bins, seed)
    return num_envs * bins / seconds, success, num_envs * bins / cpu


def grid_bitrate(num_envs: int, bins: int, seed: int, selection: str, realism: str,
                 decoder: str = "kf", gain: float = 1.0) -> dict:
    """Achieved bitrate on the 6 x 6 grid: ``log2(35) max(Sc - Si, 0) / t`` per session.

    ``t`` is the time of the completed trials; the median over the ``num_envs`` sessions and the
    pooled success and incorrect-selection rates are returned. ``decoder``: ``"kf"``, the Kalman
    filter calibrated on a 60 s block (an open-loop observation block unless ``realism`` is
    "off"); ``"refit"``, that filter re-fit by ReFIT (Gilja et al. 2012) on a 60 s closed-loop
    block it drove on the grid (at gain 1). ``gain`` multiplies the decoded velocity in the
    scored session (and is passed as ``decoder_gain``, which only Wilson et al.'s user reads).
    """
    if decoder not in ("kf", "refit"):
        raise ValueError(f"decoder must be 'kf' or 'refit', got {decoder!r}")
    env = CursorBCIVector(num_envs=num_envs, n_trials=10**6, task="grid", selection=selection,
                          **REALISM[realism])
    env.reset(seed=seed)
    dec = calibrate(env, 3000, realism != "off")
    if decoder == "refit":
        dec = refit_decoder(env, dec, 60.0)
    obs, _ = env.reset(options={"day": 0, "decoder_gain": gain})
    dec.reset()
    sc, si, t, n = (np.zeros(num_envs) for _ in range(4))
    for _ in range(bins):
        obs, _, term, _, info = env.step(gain * dec.step_fast(obs))
        c = info["trial_completed"]
        if c.any():
            sc += c & info["success"]
            si += c & info["wrong_selection"]
            t += np.where(c, info["trial_time"], 0.0)
            n += c
    rate = np.log2(35) * np.maximum(sc - si, 0) / np.maximum(t, 1e-9)
    return {"bitrate_median": float(np.median(rate)), "success": float(sc.sum() / n.sum()),
            "wrong_selection": float(si.sum() / n.sum()), "trials": int(n.sum())}


#: the output gains tried when the grid's gain is tuned (:func:`tuned_grid_bitrate`)
GRID_GAINS = (0.5, 0.7, 1.0, 1.4, 2.0, 2.8)


def tuned_grid_bitrate(num_envs: int, bins: int, selection: str, realism: str, decoder: str,
                       tune_seed: int = 0, score_seeds: tuple[int, ...] = (1, 2)) -> dict:
    """Return the grid's bitrate with the output gain chosen as the published grid studies did.

    Nuyujukian et al. (2015) and Pandarinath et al. (2017) ran ReFIT-KF (the former with grid and
    dwell optimised per monkey), and the output gain is tuned in practice: Willett et al. (2019)
    optimise gain and smoothing for each dwell time. Here the gain of :data:`GRID_GAINS` with
    the highest median bitrate on the subjects of ``tune_seed`` is chosen and scored on other
    subjects (``score_seeds``, ``num_envs`` sessions each), so the choice is not fitted to the
    scored sessions. Returns the gain, the tuning medians and the scored sessions' median bitrate
    (median of the seeds' medians: their mean for two seeds), success and incorrect-selection
    rates (means over seeds).
    """
    if tune_seed in score_seeds:
        raise ValueError(f"tune_seed must not be one of score_seeds {score_seeds}, got {tune_seed}")
    tuning = {g: grid_bitrate(num_envs, bins, tune_seed, selection, realism, decoder, g)
              for g in GRID_GAINS}
    gain = max(GRID_GAINS, key=lambda g: tuning[g]["bitrate_median"])
    scored = [grid_bitrate(num_envs, bins, s, selection, realism, decoder, gain)
              for s in score_seeds]
    return {"gain": gain,
            "tuning_bitrate_by_gain": {str(g): r["bitrate_median"] for g, r in tuning.items()},
            "bitrate_median": float(statistics.median(r["bitrate_median"] for r in scored)),
            "bitrate_median_by_seed": [r["bitrate_median"] for r in scored],
            "success": float(statistics.mean(r["success"] for r in scored)),
            "wrong_selection": float(statistics.mean(r["wrong_selection"] for r in scored))}


#: published achieved bitrates on grid tasks, bits/s (abstracts; RESULTS.md cites them)
PUBLISHED_GRID = {"Nuyujukian et al. 2015 (monkeys)": 3.5,
                  "Nuyujukian et al. 2014 (monkey, a month)": 4.0}


def grid_figure(res: dict):
    """Draw ``res["grid_bitrate_tuned"]`` as bars, with the KF at gain 1 on the tuning subjects.

    Bits/s by realism level, decoder and selection, with the published monkeys' figures as lines.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tuned = res["grid_bitrate_tuned"]
    levels = [(lv, name) for lv, name in GRID_LEVEL_NAMES.items() if f"hold/{lv}/kf" in tuned]
    fig, axes = plt.subplots(1, 2, figsize=(2.5 + 3.0 * max(len(levels), 3), 4.2), sharey=True)
    for ax, sel in zip(axes, ("hold", "click")):
        x = np.arange(len(levels))
        bars = [("KF, gain 1 (the tuning subjects)",
                 [tuned[f"{sel}/{lv}/kf"]["tuning_bitrate_by_gain"]["1.0"] for lv, _ in levels]),
                ("KF, tuned gain", [tuned[f"{sel}/{lv}/kf"]["bitrate_median"] for lv, _ in levels]),
                ("ReFIT-KF, tuned gain", [tuned[f"{sel}/{lv}/refit"]["bitrate_median"]
                                          for lv, _ in levels])]
        for j, (label, values) in enumerate(bars):
            ax.bar(x + (j - 1) * 0.27, values, 0.27, label=label)
        for name, value in PUBLISHED_GRID.items():
            ax.axhline(value, color="k", lw=0.8, ls="--" if "2015" in name else ":")
        ax.set_xticks(x, [name for _, name in levels])
        ax.set_title({"hold": "dwell 0.5 s", "click": "click"}[sel])
        ax.set_xlabel("simulator realism (the KF's calibration block)")
    axes[0].set_ylabel("achieved bitrate (bits/s, median of 64 sessions)")
    fig.suptitle("6 x 6 grid; dashed / dotted: monkeys' published 3.5 / 4 bits/s", fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=3, frameon=False)
    return fig


def drift_sweep(days: int, subjects: int, session_bins: int) -> dict:
    """Compare a day-0 decoder with one recalibrated each day, over ``days`` days of drift.

    Each day: a session with the day-0 decoder, then a calibration block and a session with a
    decoder recalibrated on it; successes per minute and time to target per day, wall time.
    """
    env = CursorBCIVector(num_envs=subjects, drift="typical", n_trials=10**6)
    t0 = time.perf_counter()
    env.reset(seed=0, options={"day": 0})
    fixed = calibrate(env, session_bins)
    rows = []
    for day in range(days):
        env.reset(options={"day": day})
        a = closed_loop(env, fixed, session_bins)
        daily = calibrate(env, session_bins)
        b = closed_loop(env, daily, session_bins)
        rows.append((a["per_min"], a["ttt"], b["per_min"], b["ttt"]))
    seconds = time.perf_counter() - t0
    bins = subjects * session_bins * (3 * days + 1)
    shown = [d for d in (0, 1, 7, 14, 29, days - 1) if d < days]
    return {
        "days": days, "subjects": subjects, "session_bins": session_bins, "seconds": seconds,
        "bins_per_s": bins / seconds,
        "per_day (fixed per_min, ttt | recalibrated per_min, ttt)": {
            d: [round(v, 2) for v in rows[d]] for d in shown},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--num-envs", type=int, default=1024)
    ap.add_argument("--bins", type=int, default=1000)
    ap.add_argument("--sweep-days", type=int, default=60)
    ap.add_argument("--sweep-subjects", type=int, default=100)
    ap.add_argument("--sweep-bins", type=int, default=1000)
    ap.add_argument("--grid-bins", type=int, default=6000)
    ap.add_argument("--grid-levels", nargs="+", default=["off", "user", "full"],
                    choices=list(GRID_LEVEL_NAMES),
                    help="the realism levels of the grid ('user': the realistic level)")
    ap.add_argument("--skip", nargs="*", default=[],
                    choices=["poisson", "reference", "ours", "grid", "sweep"])
    ap.add_argument("--figure", default=os.path.join(os.path.dirname(__file__), "figures",
                                                      "bci_grid_bitrate.png"),
                    help="where the grid's figure goes (when the grid runs)")
    ap.add_argument("--replot", default=None, metavar="JSON",
                    help="only redraw the grid's figure from a previous run's JSON output")
    ap.add_argument("--one-process", action="store_true",
                    help="skip the 2-process rows (pinned to one core they only share it)")
    args = ap.parse_args()
    if args.replot:
        with open(args.replot) as f:
            old = json.load(f)
        if "grid_bitrate_tuned" not in old:
            raise SystemExit(f"--replot: {args.replot} has no grid_bitrate_tuned "
                             f"(a run with the grid)")
        grid_figure(old).savefig(args.figure, dpi=120, bbox_inches="tight")
        return
    res: dict = {"machine": f"{platform.machine()} {os.cpu_count()} cpu, python "
                 f"{platform.python_version()}, numpy {np.__version__}",
                 "load_average_start": os.getloadavg()}
    if "poisson" not in args.skip:
        res["poisson_samples_per_s"] = poisson_rates(args.repeats)
    levels = (("", "off"), ("realistic_", "user"), ("full_", "full"))
    batched, single, ours_single = [], [], []
    ours: dict[str, list] = {}
    # repeat by repeat, the reference just before each of our loops: the machine's speed drifts
    # by +-20 % over minutes, so each repeat's ratio compares loops timed close together
    for s in range(args.repeats):
        if "reference" not in args.skip:
            batched.append(reference_rate(args.num_envs, args.bins, s))
            single.append(reference_rate(1, args.bins * 4, s))
        if "ours" not in args.skip:
            ours_single.append(single_rate(args.bins * 4, s))
            for name, realism in levels:
                ours.setdefault(f"{name}1proc", []).append(
                    our_rate(args.num_envs, args.bins, s, realism=realism))
                if not args.one_process:
                    ours.setdefault(f"{name}2proc", []).append(
                        our_rate(args.num_envs, args.bins, 10 * s, processes=2, realism=realism))
    if batched:
        res["reference_batched_bins_per_s"] = statistics.median(b[0] for b in batched)
        res["reference_batched_bins_per_cpu_s"] = statistics.median(b[2] for b in batched)
        res["reference_batched_success"] = statistics.mean(b[1] for b in batched)
        res["reference_single_bins_per_s"] = statistics.median(b[0] for b in single)
    if ours_single:
        res["ours_single_bins_per_s"] = statistics.median(ours_single)
        for name, _ in levels:
            one = ours[f"{name}1proc"]
            res[f"ours_{name}1proc_bins_per_s"] = statistics.median(o[0] for o in one)
            res[f"ours_{name}1proc_bins_per_cpu_s"] = statistics.median(o[2] for o in one)
            res[f"ours_{name or 'off_'}success"] = statistics.mean(o[1] for o in one)
            if f"{name}2proc" in ours:
                res[f"ours_{name}2proc_bins_per_s"] = statistics.median(
                    t[0] for t in ours[f"{name}2proc"])
    if batched and ours_single:  # the median of each repeat's ratio to its own reference
        for key, runs in ours.items():
            res[f"ratio_{key}_vs_reference_batched_per_repeat"] = [
                o[0] / b[0] for o, b in zip(runs, batched)]
            res[f"ratio_{key}_vs_reference_batched_paired_median"] = statistics.median(
                o[0] / b[0] for o, b in zip(runs, batched))
    for key in [k for k in res if k.endswith("bins_per_s")]:
        res[key.replace("bins_per_s", "realtime_x")] = res[key] * DT
    if "reference_batched_bins_per_s" in res and "ours_1proc_bins_per_s" in res:
        for name in ("", "realistic_", "full_"):
            for procs, clock in (("1proc", "s"), ("1proc", "cpu_s"), ("2proc", "s")):
                ours = res.get(f"ours_{name}{procs}_bins_per_{clock}")
                if ours is not None:
                    unit = "" if clock == "s" else "_cpu"
                    res[f"ratio_{name}{procs}{unit}_vs_reference_batched"] = (
                        ours / res[f"reference_batched_bins_per_{clock}"])
        res["ratio_single_vs_reference_single"] = (
            res["ours_single_bins_per_s"] / res["reference_single_bins_per_s"])
    if "grid" not in args.skip:
        levels = [lv for lv in GRID_LEVEL_NAMES if lv in args.grid_levels]
        res["grid_bitrate"] = {f"{sel}/{realism}": grid_bitrate(64, args.grid_bins, 0, sel, realism)
                               for sel in ("hold", "click") for realism in levels
                               if realism != "user"}
        res["grid_bitrate_tuned"] = {
            f"{sel}/{realism}/{dec}": tuned_grid_bitrate(64, args.grid_bins, sel, realism, dec)
            for sel in ("hold", "click") for realism in levels for dec in ("kf", "refit")}
        grid_figure(res).savefig(args.figure, dpi=120, bbox_inches="tight")
    if "sweep" not in args.skip:
        res["drift_sweep"] = drift_sweep(args.sweep_days, args.sweep_subjects, args.sweep_bins)
    res["load_average_end"] = os.getloadavg()
    print(json.dumps(res, indent=2, default=float))


if __name__ == "__main__":
    main()
