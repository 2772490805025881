"""Wilson et al. (2023)'s simulated user: a Kalman estimate of the delayed cursor, their push."""

from __future__ import annotations

import numpy as np
import pytest

from cogmodels.agents.decoders.session import calibration_block, run_closed_loop
from cogmodels.agents.decoders.wilson_study import WilsonLinearDecoder
from cogmodels.envs.bci.realism import wilson_task
from cogmodels.envs.bci.user import (
    WILSON_PUSH,
    WILSON_USER,
    User,
    UserSpec,
    delayed_cursor_estimator,
)
from cogmodels.envs.bci.vector import CursorBCIVector

DT = 0.02
ALPHA = 0.94


def test_wilson_user_is_their_smoothing_and_delay():
    assert np.exp(-DT / WILSON_USER.forward_tau) == pytest.approx(ALPHA, abs=1e-12)
    assert round(WILSON_USER.delay / DT) == 10


def test_estimator_is_the_delay_augmented_plant_and_its_riccati_gain():
    """``A`` advances the first block by ``p' = p + dt v, v' = a v`` and shifts every other block
    down by one bin; ``L = P C^T (C P C^T + I)^-1`` with ``P`` the fixed point of the filtering
    Riccati equation with the noise in the first block and the last block measured."""
    k, gain = 3, 1.7
    A, L = delayed_cursor_estimator(ALPHA, gain, k, DT)
    n = 4 * (k + 1)
    assert A.shape == (n, n) and L.shape == (n, 4)
    x = np.random.default_rng(0).normal(size=n)
    y = A @ x
    np.testing.assert_allclose(y[:4], [x[0] + DT * x[2], x[1] + DT * x[3], ALPHA * x[2],
                                       ALPHA * x[3]])
    np.testing.assert_array_equal(y[4:], x[:-4])
    C = np.zeros((4, n))
    C[:, -4:] = np.eye(4)
    Q = np.zeros((n, n))
    Q[:4, :4] = np.eye(4)
    # recover P from L is not unique; check the gain is a fixed point of the Riccati iteration
    P = np.eye(n)
    for _ in range(5000):
        S = C @ P @ C.T + np.eye(4)
        P = A @ P @ A.T - A @ P @ C.T @ np.linalg.solve(S, C @ P @ A.T) + Q
    np.testing.assert_allclose(L, P @ C.T @ np.linalg.inv(C @ P @ C.T + np.eye(4)), atol=1e-8)


def test_push_is_their_table_toward_the_target():
    error = np.array([[0.3, -0.4], [0.0, 0.0], [2.0, 0.0], [0.01, 0.0]])
    u = User._push(error)
    dist = np.hypot(error[:, 0], error[:, 1])
    np.testing.assert_allclose(np.hypot(u[:, 0], u[:, 1]),
                               np.interp(dist, WILSON_PUSH[:, 0], WILSON_PUSH[:, 1]))
    np.testing.assert_allclose(u[0] / np.linalg.norm(u[0]), [0.6, -0.8])
    np.testing.assert_array_equal(u[1], 0.0)
    assert np.linalg.norm(u[2]) == pytest.approx(0.997908667)  # held beyond the table's 1


def test_user_is_their_loop_when_the_cursor_follows_their_plant():
    """On a cursor that moves as Wilson et al.'s plant (``X' = A X + B u``: the decoder outputs the
    command), the user's commands are those of their loop, bin for bin: ``K <- A K + B u +
    L (C X - C K)``, ``u = f(|g - K_p|) (g - K_p) / |g - K_p|``."""
    lanes, gain, k = 3, np.array([0.6, 1.2, 2.5]), 10
    user = User(WILSON_USER, DT, lanes)
    user.set_gain(np.arange(lanes), gain)
    rng = np.random.default_rng(1)
    target = rng.uniform(-0.5, 0.5, (lanes, 2))
    user.reset(np.arange(lanes), np.zeros((lanes, 2)), target)
    u = user.start(np.arange(lanes))
    n = 4 * (k + 1)
    X = np.zeros((lanes, n))
    K = np.zeros((lanes, n))
    mats = [delayed_cursor_estimator(ALPHA, g, k, DT) for g in gain]
    ref_u = User._push(target - K[:, :2])
    np.testing.assert_allclose(u, ref_u)
    for t in range(400):
        if t % 90 == 89:  # a new target now and then, seen at once
            target = rng.uniform(-0.5, 0.5, (lanes, 2))
        for i, (A, L) in enumerate(mats):
            B = np.zeros((n, 2))
            B[2, 0] = B[3, 1] = gain[i] * (1 - ALPHA)
            X_next = A @ X[i] + B @ ref_u[i]
            K[i] = A @ K[i] + B @ ref_u[i] + L @ (X_next[-4:] - K[i, -4:])
            X[i] = X_next
        ref_u = User._push(target - K[:, :2])
        u = user.act(X[:, :2], target)
        np.testing.assert_allclose(u, ref_u, atol=1e-10, err_msg=f"bin {t}")
        np.testing.assert_allclose(user.believed_error, target - K[:, :2], atol=1e-10)


def test_the_session_tells_the_user_the_gain_and_bad_gains_name_the_option():
    env = CursorBCIVector(num_envs=2, n_trials=10**6, user="wilson", n_units=16)
    assert env.config.user == WILSON_USER
    env.reset(seed=0, options={"decoder_gain": [0.5, 2.0]})
    loop = env._loop
    np.testing.assert_array_equal(loop.user.gain_belief, [0.5, 2.0])
    np.testing.assert_array_equal(loop.user._L[1], delayed_cursor_estimator(ALPHA, 2.0, 10, DT)[1])
    for bad in (0.0, [1.0, -1.0], [1.0, 2.0, 3.0], np.inf):
        with pytest.raises(ValueError, match=r'options\["decoder_gain"\] must be a number > 0 '
                                             r'or one per copy \(2\), got'):
            env.reset(options={"decoder_gain": bad})
    other = CursorBCIVector(num_envs=2, n_trials=10**6, n_units=16)  # the others keep theirs
    other.reset(seed=0, options={"decoder_gain": 3.0})
    loop = other._loop
    np.testing.assert_array_equal(loop.user.gain_belief, 1.0)


@pytest.mark.parametrize("name", ["damping", "adaptation_time"])
def test_wilson_user_neither_brakes_nor_learns_the_gain(name):
    with pytest.raises(ValueError, match=f"{name} must be 0 with user='wilson'"):
        UserSpec(model="wilson", **{name: 0.3})


def test_their_user_reaches_targets_with_their_decoder_across_the_gains():
    """In closed loop on their task, with their decoder fit on a white-noise block, their user
    (told the gain) completes every trial at gains 1 and 2 within 1.6 s on average (0.5 s of
    hold included), where the plain feedback user times out at gain 2 (measured: 1.35 / 1.31 s
    against 2.45 / 6.97 s)."""
    env = CursorBCIVector(num_envs=2, n_trials=10**6, user="wilson", noise="additive",
                          **wilson_task())
    env.reset(seed=0, options={"day": 0})
    dec = WilsonLinearDecoder(dt=DT).fit(*calibration_block(env, 100.0, day=0,
                                                            paradigm="white_noise"))
    for gain in (1.0, 2.0):
        trials = run_closed_loop(env, dec.equalize_columns(), 60.0, day=0, gain=gain)
        assert trials["success"].all() and trials["trial_time"].mean() < 1.6
