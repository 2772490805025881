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


def _their_estimator(a: float, gain: float, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Their ``getBCIFittsKF``, written out as they build it (their loop over the delay blocks,
    ``scipy``'s DARE, the filter-form gain), with this environment's plant ``p' = p + dt v'``."""
    from scipy.linalg import solve_discrete_are

    A = np.array([[1, 0, DT * a, 0], [0, 1, 0, DT * a], [0, 0, a, 0], [0, 0, 0, a]])
    B = np.array([[DT * gain * (1 - a), 0], [0, DT * gain * (1 - a)], [gain * (1 - a), 0],
                  [0, gain * (1 - a)]])
    A_aug = np.zeros((4 * (1 + k), 4 * (1 + k)))
    A_aug[:4, :4] = A
    for d in range(k):
        rows = np.arange(4 * (d + 1), 4 * (d + 2))
        for r in rows:
            A_aug[r, r - 4] = 1
    B_aug = np.zeros((A_aug.shape[0], 2))
    B_aug[:4] = B
    C_aug = np.zeros((4, A_aug.shape[0]))
    C_aug[:, -4:] = np.eye(4)
    G_aug = np.zeros((A_aug.shape[0], 4))
    G_aug[:4, :4] = np.eye(4)
    P = solve_discrete_are(a=A_aug.T, b=C_aug.T, q=G_aug @ G_aug.T, r=np.eye(4))
    return A_aug, B_aug, P @ C_aug.T @ np.linalg.inv(C_aug @ P @ C_aug.T + np.eye(4))


@pytest.mark.parametrize("k", [0, 1, 10])
def test_estimator_is_their_construction_on_this_plant(k):
    """``A``, ``B`` and ``L`` are their ``getBCIFittsKF``'s on this environment's plant; ``L`` is
    the fixed point of the filtering Riccati iteration and does not depend on the gain."""
    A, B, L = delayed_cursor_estimator(ALPHA, 1.7, k, DT)
    for mine, theirs in zip((A, B, L), _their_estimator(ALPHA, 1.7, k)):
        np.testing.assert_allclose(mine, theirs, atol=1e-12)
    np.testing.assert_array_equal(delayed_cursor_estimator(ALPHA, 0.3, k, DT)[2], L)
    n = 4 * (k + 1)
    C = np.zeros((4, n))
    C[:, -4:] = np.eye(4)
    Q = np.zeros((n, n))
    Q[:4, :4] = np.eye(4)
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


def test_the_feedback_user_can_push_with_willetts_fitted_table():
    """``UserSpec(push="willett")``: the feedback policy's ``f_targ`` is Willett et al.'s fitted
    push (0.50 widths/s at 0.027 widths, where the tanh stand-in gives 0.21), braking as before."""
    spec = UserSpec(push="willett", damping=0.3)
    user = User(spec, DT, 4)
    error = np.array([[0.027, 0.0], [0.0, 0.1], [0.3, 0.4], [0.0, 0.0]])
    still = user._policy(error, np.zeros((4, 2)), np.ones(4))
    np.testing.assert_allclose(still, User._push(error))
    assert np.hypot(*still[0]) == pytest.approx(np.interp(0.027, *WILSON_PUSH.T))
    tanh = User(UserSpec(damping=0.3), DT, 4)._policy(error, np.zeros((4, 2)), np.ones(4))
    assert np.hypot(*tanh[0]) == pytest.approx(0.8 * np.tanh(0.27), rel=1e-9)
    moving = user._policy(error, np.full((4, 2), 0.5), np.ones(4))
    np.testing.assert_allclose(moving, still - 0.3 * 0.5)  # the same braking, -damping v
    assert spec.top_speed == pytest.approx(1.0) and UserSpec().top_speed == 0.8
    with pytest.raises(ValueError, match=r"push must be one of \['tanh', 'willett'\]"):
        UserSpec(push="fitted")
    with pytest.raises(ValueError, match="push='willett' needs user='feedback'"):
        UserSpec(model="lqr", push="willett")


@pytest.mark.parametrize("k", [0, 10])
def test_user_is_their_loop_on_this_environments_cursor(k):
    """Driving a cursor that moves as this environment's does when the decoder outputs the
    command (``v' = a v + (1 - a) β u``, ``p' = p + dt v'``), the user's commands are those of
    their loop bin for bin: ``K <- A K + B u + L (y - C K)`` with ``y`` the true position and
    velocity ``k`` bins ago, ``u = f(|g - K_p|) (g - K_p) / |g - K_p|`` toward the current
    target, one gain per lane."""
    lanes, gain = 3, np.array([0.6, 1.2, 2.5])
    spec = UserSpec(model="wilson", delay=k * DT, forward_tau=WILSON_USER.forward_tau)
    user = User(spec, DT, lanes)
    user.set_gain(np.arange(lanes), gain)
    rng = np.random.default_rng(1)
    target = rng.uniform(-0.5, 0.5, (lanes, 2))
    user.reset(np.arange(lanes), np.zeros((lanes, 2)), target)
    u = user.start(np.arange(lanes))
    n = 4 * (k + 1)
    X = np.zeros((lanes, n))  # the true augmented state
    K = np.zeros((lanes, n))
    mats = [_their_estimator(ALPHA, g, k) for g in gain]
    ref_u = User._push(target - K[:, :2])
    np.testing.assert_allclose(u, ref_u)
    for t in range(400):
        if t % 90 == 89:  # a new target now and then, seen at once
            target = rng.uniform(-0.5, 0.5, (lanes, 2))
        for i, (A, B, L) in enumerate(mats):
            X[i] = A @ X[i] + B @ ref_u[i]
            K[i] = A @ K[i] + B @ ref_u[i] + L @ (X[i, -4:] - K[i, -4:])
        ref_u = User._push(target - K[:, :2])
        u = user.act(X[:, :2], target, velocity=X[:, 2:4])
        np.testing.assert_allclose(u, ref_u, atol=1e-10, err_msg=f"bin {t}")
        np.testing.assert_allclose(user.believed_error, target - K[:, :2], atol=1e-10)
    with pytest.raises(ValueError, match="velocity must be the cursor's velocity"):
        user.act(X[:, :2], target)


def test_the_session_tells_the_user_the_gain_and_bad_gains_name_the_option():
    env = CursorBCIVector(num_envs=2, n_trials=10**6, user="wilson", n_units=16)
    assert env.config.user == WILSON_USER
    env.reset(seed=0, options={"decoder_gain": [0.5, 2.0]})
    loop = env._loop
    np.testing.assert_array_equal(loop.user.gain_belief, [0.5, 2.0])
    for bad in (0.0, [1.0, -1.0], [1.0, 2.0, 3.0], np.inf):
        with pytest.raises(ValueError, match=r'options\["decoder_gain"\] must be a number > 0 '
                                             r'or one per copy \(2\), got'):
            env.reset(options={"decoder_gain": bad})
    other = CursorBCIVector(num_envs=2, n_trials=10**6, n_units=16)  # the others keep theirs
    other.reset(seed=0, options={"decoder_gain": 3.0})
    loop = other._loop
    np.testing.assert_array_equal(loop.user.gain_belief, 1.0)


def test_every_closed_loop_block_tells_the_user_its_gain():
    """The gain sweep tells the user each candidate gain (their ``gainSweep`` sets ``beta``),
    a session its gain, per lane, and a ReFIT block its gain of 1."""
    from cogmodels.agents.decoders.session import closed_loop_block
    from cogmodels.envs.bci.gain_sweep import sweep_gain

    env = CursorBCIVector(num_envs=2, n_trials=10**6, user="wilson", n_units=16)
    env.reset(seed=0)
    dec = WilsonLinearDecoder(dt=DT).fit(*calibration_block(env, 5.0, day=0))
    user = env._loop.user
    told = []
    real = user.set_gain
    user.set_gain = lambda lanes, gain: told.append(np.array(gain)) or real(lanes, gain)
    sweep_gain(env, dec, 0.2, gains=(0.7, 1.9), day=0)
    run_closed_loop(env, dec, 0.2, day=0, gain=np.array([0.4, 3.0]))
    closed_loop_block(env, dec, 0.2, day=0)
    np.testing.assert_array_equal(np.array(told), [[0.7, 0.7], [1.9, 1.9], [0.4, 3.0], [1, 1]])


@pytest.mark.parametrize("name", ["damping", "adaptation_time"])
def test_wilson_user_neither_brakes_nor_learns_the_gain(name):
    with pytest.raises(ValueError, match=f"{name} must be 0 with user='wilson'"):
        UserSpec(model="wilson", **{name: 0.3})


def test_their_user_reaches_targets_with_their_decoder_across_the_gains():
    """In closed loop on their task, with their decoder fit on a white-noise block, their user
    (told the gain) completes every trial at gains 1 and 2 within 1.6 s on average (0.5 s of
    hold included), where the plain feedback user times out at gain 2 (measured: 1.41 / 1.31 s
    against 2.45 / 6.97 s)."""
    env = CursorBCIVector(num_envs=2, n_trials=10**6, user="wilson", noise="additive",
                          **wilson_task())
    env.reset(seed=0, options={"day": 0})
    dec = WilsonLinearDecoder(dt=DT).fit(*calibration_block(env, 100.0, day=0,
                                                            paradigm="white_noise"))
    for gain in (1.0, 2.0):
        trials = run_closed_loop(env, dec.equalize_columns(), 60.0, day=0, gain=gain)
        assert trials["success"].all() and trials["trial_time"].mean() < 1.6
