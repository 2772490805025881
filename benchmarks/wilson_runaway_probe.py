#!/usr/bin/env python
"""Probe: how wrong must a decoder be before the cursor runs away in Wilson et al.'s task.

Wilson et al. (2023)'s simulator bounds neither the cursor's position nor its speed and never
re-centres it (:func:`cogmodels.envs.bci.realism.wilson_task`). This probe fits the day-0
steady-state Kalman filter of ``bench_wilson.py`` (seed 0, 8 subjects, their additive channels,
a 60 s supervised calibration block), rotates its output by a fixed angle, plays one 60 s
session at gain 1 on centre-out and on their task, and prints the mean trial time, the fraction
of timeouts, the largest cursor coordinate and the fraction of bins outside the square.
About 6 CPU-s.

    python benchmarks/wilson_runaway_probe.py
"""

from __future__ import annotations

import time

import numpy as np

from cogmodels.agents.decoders.kalman import SteadyStateKalmanDecoder
from cogmodels.agents.decoders.session import SessionRecord, calibration_block, run_closed_loop
from cogmodels.agents.decoders.wilson_study import WILSON_DRIFT
from cogmodels.envs.bci import CursorBCIVector, wilson_task

ROTATIONS = (0, 60, 80, 100, 120, 180)


class Rotated:
    """A decoder whose output is turned by ``degrees`` (counter-clockwise)."""

    def __init__(self, decoder: SteadyStateKalmanDecoder, degrees: float) -> None:
        a = np.deg2rad(degrees)
        self.decoder = decoder
        self.rotation = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])

    def reset(self, mask: np.ndarray | None = None) -> Rotated:
        self.decoder.reset(mask)
        return self

    def step(self, counts: np.ndarray) -> np.ndarray:
        return np.asarray(self.decoder.step(counts)) @ self.rotation.T

    def steady_gain(self) -> np.ndarray:
        return self.rotation @ self.decoder.steady_gain()


def main() -> None:
    c0 = time.process_time()
    for task in ("center_out", "wilson"):
        kwargs = wilson_task() if task == "wilson" else {}
        env = CursorBCIVector(num_envs=8, n_trials=10**6, drift=WILSON_DRIFT, noise="additive",
                              **kwargs)
        env.reset(seed=0, options={"day": 0})
        decoder = SteadyStateKalmanDecoder(dt=env.config.task.dt).fit(
            *calibration_block(env, 60.0, day=0))
        for degrees in ROTATIONS:
            rec = SessionRecord()
            trials = run_closed_loop(env, Rotated(decoder, degrees), 60.0, day=0, gain=1.0,
                                     record=rec)
            far = np.abs(rec.arrays()["cursor"]).max(axis=-1)
            print(f"{task:10s} rotation {degrees:3d}: mean trial {trials.trial_time.mean():5.2f} s, "
                  f"timeouts {trials.timed_out.mean():.2f}, max |cursor| {far.max():6.2f}, bins "
                  f"outside the square {(far > env.config.task.workspace).mean():.2f}")
    print(f"cpu {time.process_time() - c0:.1f} s")


if __name__ == "__main__":
    main()
