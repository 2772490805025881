#!/usr/bin/env python
"""How far the best-fitting 2 x 2 read-out map turns between a subject's day d and day d + G.

The measurement behind ``ErrorMapInference``'s between-session drift kernel
(``drift_deg_per_sqrt_day``). On TRAINING-stream subject-days (``--seeds``, default 7 and 8;
never the held-out evaluation seeds 2018-2022) of the meta-decoder's task with 2 components,
each subject plays a first session on day d (``--first-seconds``, random cursor velocities), then
a session on day d + G with the features carried over (``MetaDecoderEnv.reset(carry_features=True)``,
as ``map_inference_sessions(then=...)`` does). In each session the map from the features to the
user's intended velocity is fitted by least squares (supervised: a measurement, never a decoder
input), its orthogonal polar factor ``R(theta) S`` read off, and the angle's change
``theta_{d+G} - theta_d`` (wrapped to (-180, 180]) and reflection flips reported per G. G = 0 (a
second session of the same day) is the floor set by the fits and the features' re-estimation.

    python benchmarks/measure_map_drift.py            # seeds 7 8, 16 subject-days each, G in 0 1 2 3 7 14
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

from cogmodels.agents.decoders.meta_rnn import MetaDecoderConfig, MetaDecoderEnv, subject_days


def fitted_angle(z: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Angle (degrees), reflection and singular values of each lane's fitted map (its polar factor).

    ``z, v``: ``(time, lanes, 2)``; the map ``W`` solves ``v ≈ W z`` (least squares).
    """
    angles, reflections, svs = [], [], []
    for zi, vi in zip(z.transpose(1, 0, 2), v.transpose(1, 0, 2)):
        w = np.linalg.lstsq(zi, vi, rcond=None)[0].T
        u, sv, vt = np.linalg.svd(w)
        svs.append(sv)
        o = u @ vt
        angles.append(np.degrees(np.arctan2(o[1, 0], o[0, 0])))
        reflections.append(np.linalg.det(o) < 0)
    return np.array(angles), np.array(reflections), np.array(svs)


def record(env: MetaDecoderEnv, obs: np.ndarray, info: dict, seconds: float, skip_s: float,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Play random velocities for ``seconds``; return the features and intended velocities after ``skip_s``."""
    zs, vs = [], []
    n = len(obs)
    for t in range(int(round(seconds / env.dt))):
        obs, *_, info = env.step(np.tanh(0.5 * rng.standard_normal((n, 2))).astype(np.float32))
        if t * env.dt >= skip_s:
            zs.append(obs.astype(float))
            vs.append(np.asarray(info["intended_velocity"], dtype=float))
    return np.stack(zs), np.stack(vs)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[7, 8])
    ap.add_argument("--subjects", type=int, default=16)
    ap.add_argument("--gaps", type=int, nargs="+", default=[0, 1, 2, 3, 7, 14])
    ap.add_argument("--first-seconds", type=float, default=360.0)
    ap.add_argument("--seconds", type=float, default=120.0)
    args = ap.parse_args(argv)
    if set(args.seeds) & set(range(2018, 2023)):
        raise SystemExit("the held-out evaluation seeds 2018-2022 are not for measuring the kernel")
    t0 = time.process_time()
    cfg = MetaDecoderConfig(n_components=2)
    rows = []
    for seed in args.seeds:
        days = subject_days(cfg, seed, args.subjects)
        for gap in args.gaps:
            env = MetaDecoderEnv(cfg, len(days), days=days)
            rng = np.random.default_rng([seed, gap, 3])
            obs, info = env.reset(seed=seed)
            # the map the first session ends with: its last 2 minutes (the posterior's last evidence)
            z0, v0 = record(env, obs, info, args.first_seconds, args.first_seconds - 120.0, rng)
            obs, info = env.reset(seed=seed, days=[d + gap for d in days], carry_features=True)
            z1, v1 = record(env, obs, info, args.seconds, 0.0, rng)
            a0, r0, s0 = fitted_angle(z0, v0)
            a1, r1, s1 = fitted_angle(z1, v1)
            delta = (a1 - a0 + 180.0) % 360.0 - 180.0
            rows += [{"seed": seed, "lane": i, "day": d, "gap": gap, "angle_d": a0[i], "angle_later": a1[i],
                      "delta_deg": delta[i], "flip": bool(r0[i] != r1[i]),
                      "sv_d": s0[i].round(3).tolist(), "sv_later": s1[i].round(3).tolist()} for i, d in enumerate(days)]
    table = pd.DataFrame(rows)
    same = table[~table["flip"]]
    summary = same.groupby("gap")["delta_deg"].agg(
        n="size", rms=lambda x: float(np.sqrt(np.mean(x**2))), mad=lambda x: float(np.median(np.abs(x))),
        mean="mean").join(table.groupby("gap")["flip"].mean().rename("flip_rate"))
    # circular SD from the mean resultant length (robust to wrap-around)
    summary["circ_sd"] = same.groupby("gap")["delta_deg"].apply(
        lambda x: float(np.degrees(np.sqrt(-2.0 * np.log(np.abs(np.mean(np.exp(1j * np.radians(x)))))))))
    var0 = float(summary.loc[0, "circ_sd"] ** 2) if 0 in summary.index else 0.0
    later = summary[summary.index > 0]
    g, var = later.index.to_numpy(float), later["circ_sd"].to_numpy() ** 2
    per_day = {"through_origin": float(np.sqrt((var * g).sum() / (g**2).sum())),
               "floor_subtracted": float(np.sqrt((np.maximum(var - var0, 0.0) * g).sum() / (g**2).sum()))}
    summary["per_sqrt_day"] = summary["circ_sd"] / np.sqrt(np.maximum(summary.index, 1))
    print(table.round(1).to_string())
    print(summary.round(2).to_string())
    print("drift_deg_per_sqrt_day (least squares of circ_sd^2 = c^2 G, G > 0):", json.dumps(
        {k: round(v, 2) for k, v in per_day.items()}))
    print(f"{time.process_time() - t0:.0f} CPU s")
    return table


if __name__ == "__main__":
    main()
