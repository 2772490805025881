#!/usr/bin/env python
"""The dopamine figure: TD(λ) prediction errors within a Pavlovian conditioning trial.

Trains a TD(λ) critic with the complete serial compound and with microstimuli (Ludvig, Sutton &
Kehoe 2008) on one session of ``cogmodels/PavlovianConditioning-v0`` whose last trial omits the
reward, and plots δ and V over the trial early in learning, late in learning and on the omission
trial (Schultz, Dayan & Montague 1997, Science 275, 1593–1599). Also prints δ at the cue and at
the reward per phase as JSON.

    python benchmarks/dopamine_figure.py --out dopamine.png --trials 200 --seed 0
"""

from __future__ import annotations

import argparse
import json

import pandas as pd

from cogmodels.experiments.dopamine import (
    DEFAULT_SETTINGS,
    dopamine_figure,
    pavlovian_prediction_errors,
    trial_deltas,
)


def summary(n_trials: int, seed: int) -> dict[str, dict[str, dict[str, float]]]:
    """Mean δ at the cue and at the (expected) reward per phase, per representation."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for rep, kw in DEFAULT_SETTINGS.items():
        steps = pavlovian_prediction_errors(rep, n_trials=n_trials, seed=seed, **kw)
        d = trial_deltas(steps)
        phase = steps.groupby("trial")["phase"].first().astype(str).reindex(d.trial).to_numpy()
        table = pd.DataFrame({"phase": phase, "cue": d.delta_cue.to_numpy(),
                              "reward": d.delta_us.to_numpy()})
        means = table[table.phase != "training"].groupby("phase")[["cue", "reward"]].mean()
        out[rep] = {p: {k: round(float(v), 3) for k, v in row.items()} for p, row in means.iterrows()}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="dopamine_prediction_errors.png", help="PNG to write")
    ap.add_argument("--trials", type=int, default=200, help="conditioning trials (last: omission)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dpi", type=int, default=150)
    args = ap.parse_args()
    fig = dopamine_figure(n_trials=args.trials, seed=args.seed)
    fig.savefig(args.out, dpi=args.dpi)
    print(json.dumps({"figure": args.out, "delta": summary(args.trials, args.seed)}, indent=2))


if __name__ == "__main__":
    main()
