"""Closed-loop cursor brain-computer interface simulation: the decoder is the agent.

A simulated user aims a cursor at targets by feedback control (:mod:`.user`); its intended velocity
drives a population of tuned units (:mod:`.encoder`) whose tuning drifts from day to day
(:mod:`.drift`); the agent sees only the spike counts and outputs the cursor velocity
(:mod:`.env`, :mod:`.vector`; the shared per-bin loop is in :mod:`.loop`, the task in :mod:`.task`).
:mod:`.metrics` scores the trial tables: success rate, time to target, path efficiency, dial-in
time, achieved bitrate and Fitts throughput, per day. The decoders are in
:mod:`cogmodels.agents.decoders`.

    import gymnasium as gym
    import cogmodels  # noqa: F401
    env = gym.make("cogmodels/CursorBCI-v0", drift="typical")
    obs, info = env.reset(seed=0, options={"day": 0})
    obs, reward, terminated, truncated, info = env.step(info["intended_velocity"])  # ideal decoder
"""

from __future__ import annotations

from cogmodels.envs.bci.drift import (
    DRIFT_PRESETS,
    ArrayShift,
    BaselineWalk,
    Drift,
    DriftModel,
    Dropout,
    GainWalk,
    NeuralTrajectory,
    SNRMixture,
    SNRStep,
    SNRWalk,
    TuningRotation,
    Turnover,
    make_drift,
    subspace_similarity,
)
from cogmodels.envs.bci.encoder import Population, PopulationSpec, draw_population
from cogmodels.envs.bci.env import CursorBCI, CursorBCIRandomTargets
from cogmodels.envs.bci.error_signal import ERROR_SIGNAL_PRESETS, ErrorSignalSpec, make_error_signal
from cogmodels.envs.bci.gain_sweep import WILSON_GAINS, GainSweep, sweep_gain
from cogmodels.envs.bci.metrics import bitrate, fitts_throughput, plot_over_days, summarize
from cogmodels.envs.bci.realism import REALISM_LEVELS, realism, wilson_task
from cogmodels.envs.bci.session_drift import (
    BaselineShift,
    SessionProcess,
    TransientLoss,
    make_session_drift,
)
from cogmodels.envs.bci.task import TaskSpec, center_out_positions
from cogmodels.envs.bci.user import WILLETT_USER, User, UserSpec, lqr_gain
from cogmodels.envs.bci.vector import CursorBCIRandomTargetsVector, CursorBCIVector

__all__ = [
    "DRIFT_PRESETS",
    "ERROR_SIGNAL_PRESETS",
    "REALISM_LEVELS",
    "WILLETT_USER",
    "WILSON_GAINS",
    "ArrayShift",
    "BaselineShift",
    "BaselineWalk",
    "CursorBCI",
    "CursorBCIRandomTargets",
    "CursorBCIRandomTargetsVector",
    "CursorBCIVector",
    "Drift",
    "GainSweep",
    "DriftModel",
    "Dropout",
    "ErrorSignalSpec",
    "GainWalk",
    "NeuralTrajectory",
    "Population",
    "PopulationSpec",
    "SNRMixture",
    "SessionProcess",
    "SNRStep",
    "SNRWalk",
    "TaskSpec",
    "TransientLoss",
    "TuningRotation",
    "Turnover",
    "User",
    "UserSpec",
    "bitrate",
    "center_out_positions",
    "draw_population",
    "fitts_throughput",
    "lqr_gain",
    "make_drift",
    "make_error_signal",
    "make_session_drift",
    "plot_over_days",
    "realism",
    "subspace_similarity",
    "summarize",
    "sweep_gain",
    "wilson_task",
]
