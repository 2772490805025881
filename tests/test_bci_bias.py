"""Bias correction of the decoded velocity (Jarosiewicz et al. 2015)."""

from __future__ import annotations

import numpy as np
import pytest

from cogmodels.agents.decoders import SteadyStateKalmanDecoder, run_closed_loop
from cogmodels.agents.decoders.bias import BiasCorrection
from cogmodels.agents.decoders.session import calibration_block
from cogmodels.envs.bci import CursorBCIVector


def test_running_estimate_finds_a_constant_bias_under_reaches_in_every_direction():
    rng = np.random.default_rng(0)
    bias = np.array([0.1, -0.05])
    corr = BiasCorrection(tau=5.0)
    angle = rng.uniform(0, 2 * np.pi, 3000)
    for a in angle:
        corr(np.array([[0.4 * np.cos(a), 0.4 * np.sin(a)]]) + bias)
    # an EMA of 250 bins of per-axis sd 0.28: standard error ~0.013
    np.testing.assert_allclose(corr.bias_[0], bias, atol=0.04)
    still = corr(np.zeros((1, 2)) + corr.bias_)  # holding still: no update, output 0
    np.testing.assert_allclose(still, 0.0, atol=1e-12)


@pytest.mark.slow
def test_bias_correction_finds_and_removes_part_of_a_baseline_push_in_closed_loop():
    """Wrong baselines push the cursor right at 0.15 widths/s. The feedback user leans against
    the push, so the decoded velocity averages to less than it: at the default 30 s time constant
    the estimate finds 0.029-0.036 of the 0.15 along the push and stays within 0.005 of 0
    across it (seeds 0-3, 8 lanes, 120 s), and the trial time after the first minute falls to
    0.76-0.92 of the uncorrected one. A correction that converges, not a full one."""
    env = CursorBCIVector(num_envs=8, n_trials=10**6, n_units=32)
    env.reset(seed=0, options={"day": 0})
    dec = SteadyStateKalmanDecoder().fit(*calibration_block(env, 20.0, day=0))
    push = np.array([0.15, 0.0])
    dec.set_encoding(dec.H_, dec.d_ - np.einsum("lnk,k->ln", dec.H_, np.linalg.solve(
        dec.steady_gain()[0], push)), dec.q_)
    plain = run_closed_loop(env, dec, 120.0)
    corr = BiasCorrection()
    fixed = run_closed_loop(env, dec, 120.0, bias=corr)
    along, across = corr.bias_.mean(axis=0)
    assert 0.015 < along < 0.08 and abs(across) < 0.015
    late = fixed[fixed["time"] > 60.0]
    assert late["trial_time"].mean() < 0.95 * plain["trial_time"].mean()
    with pytest.raises(TypeError, match="bias must be"):
        run_closed_loop(env, dec, 1.0, bias=0.1)


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="tau"):
        BiasCorrection(tau=0.0)
    with pytest.raises(ValueError, match="velocity must have shape"):
        BiasCorrection()(np.zeros(2))
