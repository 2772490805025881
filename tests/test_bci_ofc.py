"""The optimal-feedback-control intention estimate (Shanechi et al. 2016)."""

from __future__ import annotations

import numpy as np
import pytest

from cogmodels.agents.decoders import RML, SteadyStateKalmanDecoder, run_closed_loop
from cogmodels.agents.decoders.clda import OFCIntention
from cogmodels.agents.decoders.session import calibration_block
from cogmodels.envs.bci import CursorBCIVector, UserSpec


def test_ofc_estimate_is_the_lqr_users_command_when_the_user_sees_without_delay():
    env = CursorBCIVector(num_envs=2, n_trials=10**6, n_units=16,
                          user=UserSpec(model="lqr", delay=0.0))
    _, info = env.reset(seed=0, options={"day": 0})
    ofc, previous = OFCIntention(), np.zeros((2, 2))
    for _ in range(300):  # an ideal decoder: the cursor moves as intended
        u = info["intended_velocity"].copy()
        np.testing.assert_allclose(ofc(previous, info["cursor"], info["target"], 0.0), u,
                                   atol=1e-12)
        _, _, _, _, info = env.step(u)
        previous = np.where(info["trial_completed"][:, None], 0.0, u)


def test_ofc_estimate_saturates_far_and_stops_on_the_target():
    ofc = OFCIntention(max_speed=0.8)
    far = ofc(np.zeros((1, 2)), np.zeros((1, 2)), np.array([[0.4, 0.0]]), 0.05)
    assert np.hypot(*far[0]) == pytest.approx(0.8) and far[0, 0] > 0
    on = ofc(np.zeros((1, 2)), np.zeros((1, 2)), np.array([[0.01, 0.0]]), 0.05)
    np.testing.assert_array_equal(on, 0.0)


def test_clda_runs_on_ofc_labels():
    env = CursorBCIVector(num_envs=2, n_trials=10**6, n_units=16)
    env.reset(seed=0, options={"day": 0})
    dec = SteadyStateKalmanDecoder().fit(*calibration_block(env, 5.0, day=0))
    rule = RML(dec, half_life=5.0, update_s=0.5)
    run_closed_loop(env, dec, 3.0, adaptation=rule, intention="ofc")
    assert rule.n_updates_ > 0
