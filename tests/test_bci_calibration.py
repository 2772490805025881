"""Realistic calibration, the user model, the keyword configuration and ReFIT's gain (issue 14)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import cogmodels  # noqa: F401  (registers the environments)
from cogmodels.agents.decoders import SteadyStateKalmanDecoder
from cogmodels.agents.decoders.session import (
    calibrate,
    calibration_block,
    refit_decoder,
    run_closed_loop,
)
from cogmodels.envs.bci import (
    CursorBCI,
    CursorBCIRandomTargetsVector,
    CursorBCIVector,
    PopulationSpec,
    TaskSpec,
    UserSpec,
)
from cogmodels.envs.bci.drift import NeuralTrajectory, make_drift
from cogmodels.envs.bci.metrics import bitrate
from cogmodels.envs.bci.realism import realism
from cogmodels.envs.bci.user import WILLETT_USER, User

Z = 4.0  # width of the confidence intervals, in standard errors
DT = 0.02


# -- configuration ---------------------------------------------------------------------------------
def test_specs_with_keyword_overrides_and_one_signature():
    task = TaskSpec.create(n_trials=5, hold_time=0.2)
    pop = PopulationSpec(n_units=16, observation_gain=0.5)
    env = CursorBCIVector(num_envs=2, task=task, population=pop, timeout=3.0, n_units=12)
    assert env.config.task.n_trials == 5 and env.config.task.timeout_steps == 150
    assert env.config.task.hold_steps == 10  # kept from the spec
    assert env.config.population.n_units == 12 and env.config.population.observation_gain == 0.5
    assert CursorBCI(baseline_rate=(10.0, 20.0)).config.population.baseline == (10.0, 20.0)
    # the single and vector environments share make_config's keyword-only signature
    single = inspect.signature(CursorBCI).parameters
    vector = inspect.signature(CursorBCIVector).parameters
    assert list(single) == [p for p in vector if p not in ("num_envs", "autoreset_mode")]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in single.values())
    assert inspect.signature(CursorBCIRandomTargetsVector).parameters["task"].default == (
        "random_targets")
    with pytest.raises(TypeError, match="^CursorBCI: "):
        CursorBCI("center_out")  # no positional hop
    with pytest.raises(TypeError, match="^CursorBCI: .*unexpected keyword argument 'n_unit'"):
        CursorBCI(n_unit=3)
    with pytest.raises(ValueError, match="^CursorBCI: population must be a PopulationSpec or None"):
        CursorBCI(population=12)
    with pytest.raises(ValueError, match=r"^CursorBCI: observation_gain must be .*\[0, 10\]"):
        CursorBCI(observation_gain=-1.0)
    with pytest.raises(ValueError, match=r"^CursorBCIVector.reset: options\[\"calibration\"\] "
                                         r"must be one of \['observation', 'attempt', "
                                         r"'white_noise'\]"):
        CursorBCIVector(num_envs=2).reset(seed=0, options={"calibration": "watch"})


# -- open-loop calibration -------------------------------------------------------------------------
def test_open_loop_block_labels_are_the_cued_minimum_jerk_kinematics():
    """The automatic cursor ignores the decoder and follows minimum-jerk paths (peak speed
    1.875 D / T, Flash & Hogan 1985); the labels are those cued velocities, and an observer's
    intention is the same cue seen ``delay`` (10 bins) late."""
    user = UserSpec(delay=0.2)
    env = CursorBCIVector(num_envs=3, n_trials=10**6, user=user)
    env.reset(seed=0, options={"calibration": "observation", "cue_time": 0.8})
    labels, intended, done = [], [], []
    for _ in range(600):
        _, _, _, _, info = env.step(np.ones((3, 2)))  # ignored in open loop
        labels.append(info["cursor_velocity"])
        intended.append(info["intended_velocity"])
        done.append(info["success"][info["trial_completed"]])
    labels, intended = np.array(labels), np.array(intended)
    speed = np.hypot(labels[..., 0], labels[..., 1])
    assert speed.max() == pytest.approx(1.875 * 0.35 / 0.8, rel=0.01)
    assert np.concatenate(done).all() and len(np.concatenate(done)) >= 3 * 7
    np.testing.assert_allclose(intended[10:], labels[:-10], atol=1e-12)
    counts, block_labels = calibration_block(env, 2.0, paradigm="observation")
    assert counts.shape == (100, 3, 192) and block_labels.shape == (100, 3, 2)
    _, lagged = calibration_block(env, 2.0, paradigm="attempt", lag=0.2)
    assert lagged.shape == (90, 3, 2)
    with pytest.raises(ValueError, match=r"paradigm must be one of \['intention', 'observation', "
                                         r"'attempt', 'white_noise'\], got 'watch'"):
        calibration_block(env, 1.0, paradigm="watch")


def test_open_loop_code_is_weaker_turned_and_offset():
    """Per unit: depth x observation_gain exactly, preferred directions turned by N(0, 20 deg),
    baselines shifted by N(0, 2 Hz) (before the 0.1 Hz floor)."""
    spec = PopulationSpec(n_units=2000, baseline=(20.0, 30.0))
    sub = NeuralTrajectory(spec, make_drift("none"), seed=3)
    closed, opened = sub.on_day(0), sub.open_loop(0)
    depth = np.hypot(*opened.tuning.T) / np.hypot(*closed.tuning.T)
    np.testing.assert_allclose(depth, 0.6)
    turn = np.angle(np.exp(1j * (opened.preferred_directions() - closed.preferred_directions())))
    n = spec.n_units
    assert abs(np.rad2deg(turn).std() - 20.0) < Z * 20.0 / np.sqrt(2 * n)
    shift = opened.baseline - closed.baseline
    assert abs(shift.std() - 2.0) < Z * 2.0 / np.sqrt(2 * n) and abs(shift.mean()) < Z * 2 / n**0.5
    same = NeuralTrajectory(PopulationSpec(observation_gain=1.0, observation_rotation=0.0,
                                           observation_offset=0.0), make_drift("none"), 3)
    np.testing.assert_array_equal(same.open_loop(0).tuning, same.on_day(0).tuning)


def test_decoder_fit_on_an_observation_block_sees_the_weaker_code():
    """The tuning fitted on an observation block (aligned by the user's delay) projects onto the
    true closed-loop tuning ``w dt`` with the factor gain x E[cos(turn)] =
    0.6 exp(-(20 deg)^2 / 2) = 0.565, a fit on closed-loop intentions with the factor 1 (a
    projection is unbiased under fitting noise; norms would not be)."""
    env = CursorBCIVector(num_envs=2, n_trials=10**6, n_units=64)
    env.reset(seed=1)
    closed = calibrate(env, SteadyStateKalmanDecoder(), 40.0, paradigm="intention")
    opened = calibrate(env, SteadyStateKalmanDecoder(), 40.0, paradigm="observation", lag=0.2)
    true = np.stack([env.population(i).tuning * DT for i in range(2)])

    def ratio(dec: SteadyStateKalmanDecoder) -> float:
        return float(np.sum(dec.H_ * true) / np.sum(true * true))

    assert ratio(closed) == pytest.approx(1.0, abs=0.06)
    assert ratio(opened) == pytest.approx(0.6 * np.exp(-np.deg2rad(20.0) ** 2 / 2), abs=0.06)


def test_white_noise_block_is_wilsons_simulated_day_zero():
    """Wilson et al.'s ``simulate_OpenLoopRecalibration``: each bin's label is a fresh
    ``N(0, sd^2)`` per axis (mean and SD within 4 standard errors, no lag-1 correlation), the
    units fire on that bin's label with the closed-loop code (a Kalman fit projects onto the
    closed-loop tuning with factor 1, as an intention block's does), and the cursor follows the
    label, not the decoder."""
    env = CursorBCIVector(num_envs=2, n_trials=10**6, n_units=64)
    env.reset(seed=1)
    counts, labels = calibration_block(env, 60.0, paradigm="white_noise", velocity_sd=0.3)
    x = labels.reshape(-1, 2)
    n = len(x)
    assert np.abs(x.mean(0)).max() < Z * 0.3 / np.sqrt(n)
    assert np.abs(x.std(0) - 0.3).max() < Z * 0.3 / np.sqrt(2 * n)
    lag1 = np.corrcoef(labels[1:, :, 0].ravel(), labels[:-1, :, 0].ravel())[0, 1]
    assert abs(lag1) < Z / np.sqrt(n / 2)
    fitted = SteadyStateKalmanDecoder().fit(counts, labels)
    true = np.stack([env.population(i).tuning * DT for i in range(2)])
    assert float(np.sum(fitted.H_ * true) / np.sum(true * true)) == pytest.approx(1.0, abs=0.06)
    # the cursor moves by the intention of the bin before; the decoder's action is ignored
    _, info = env.reset(options={"calibration": "white_noise", "velocity_sd": 0.3})
    for _ in range(20):
        before = info["intended_velocity"].copy()
        _, _, _, _, info = env.step(np.full((2, 2), 7.0))
        np.testing.assert_array_equal(info["cursor_velocity"], before)
    # one lane of the vector environment is the single environment, bin for bin
    single, vector = CursorBCI(n_units=16), CursorBCIVector(num_envs=1, n_units=16)
    options = {"calibration": "white_noise", "velocity_sd": 2.0}
    a, _ = single.reset(seed=5, options=options)
    b, _ = vector.reset(seed=5, options=options)
    for _ in range(30):
        np.testing.assert_array_equal(a, b[0])
        a, *_ = single.step(np.zeros(2))
        b, *_ = vector.step(np.zeros((1, 2)))
    with pytest.raises(ValueError, match=r'options\["velocity_sd"\] must be .*\[0, 100\].*got -1'):
        env.reset(options={"calibration": "white_noise", "velocity_sd": -1.0})


# -- the user --------------------------------------------------------------------------------------
def _far_user(spec: UserSpec, lanes: int = 1) -> User:
    user = User(spec, DT, lanes)
    user.reset(np.arange(lanes), np.zeros((lanes, 2)), np.full((lanes, 2), 1e3))
    return user


def test_damping_slows_the_push_by_one_plus_damping_times_gain():
    """Far from the target the push is max_speed; the braking term -damping g u_{t-1} makes the
    steady command max_speed / (1 + damping g)."""
    for damping, gain in ((0.3, 1.0), (0.5, 1.5)):
        user = _far_user(UserSpec(damping=damping, forward_gain=gain))
        for _ in range(200):
            u = user.act(np.zeros((1, 2)), np.full((1, 2), 1e3))
        assert np.hypot(*u[0]) == pytest.approx(0.8 / (1 + damping * gain), rel=1e-6)


def test_intention_noise_is_ar1_with_the_stated_sd_and_correlation():
    spec = UserSpec(noise_sd=0.1, noise_tau=0.1)
    lanes, bins = 400, 300
    user, rng = _far_user(spec, lanes), np.random.default_rng(0)
    clean = 0.8 / np.sqrt(2)
    noise = np.array([user.act(np.zeros((lanes, 2)), np.full((lanes, 2), 1e3), rng) - clean
                      for _ in range(bins)])[50:]
    n = noise.size
    assert abs(noise.std() - 0.1) < Z * 0.1 / np.sqrt(n / 20)  # ~20 bins per independent draw
    r = np.corrcoef(noise[:-1].ravel(), noise[1:].ravel())[0, 1]
    assert r == pytest.approx(np.exp(-DT / 0.1), abs=0.02)


@pytest.mark.parametrize("scale", [0.5, 2.0])
def test_forward_model_learns_the_decoders_gain(scale):
    """A decoder that moves the cursor ``scale`` times the intention: the user's gain belief
    (recursive least squares over 2 s) converges to ``scale``, noise and all."""
    env = CursorBCIVector(num_envs=4, n_trials=10**6, user=WILLETT_USER, v_max=5.0)
    _, info = env.reset(seed=0)
    for _ in range(1000):
        _, _, _, _, info = env.step(scale * info["intended_velocity"])
    np.testing.assert_allclose(env._loop.user.gain_belief, scale, rtol=0.05)


def _user_of_a_smoothing_decoder(alpha: float, beta: float, bins: int) -> User:
    """WILLETT_USER after ``bins`` bins (8 lanes, seed 0) with the decoder
    ``v_t = alpha v_(t-1) + (1 - alpha) beta u_t`` of its own intention."""
    env = CursorBCIVector(num_envs=8, n_trials=10**6, user=WILLETT_USER, v_max=5.0)
    _, info = env.reset(seed=0)
    v = np.zeros((8, 2))
    for _ in range(bins):
        v = alpha * v + (1.0 - alpha) * beta * info["intended_velocity"]
        _, _, _, _, info = env.step(v)
    return env._loop.user


@pytest.mark.parametrize(("alpha", "beta"), [(0.9, 0.5), (0.97, 2.0)])
def test_forward_model_learns_the_decoders_smoothing_and_gain(alpha, beta):
    """A decoder that smooths, v_t = alpha v_(t-1) + (1 - alpha) beta u_t (Willett et al. 2019's
    first-order smoothing): WILLETT_USER's forward model (learn_smoothing) recovers alpha and beta
    from the moves it sees, in every lane. The seen moves are exact, so after 30 s the estimates
    are within 1 % (seed 0: a within 6e-5 of alpha, g within 0.011 % of beta)."""
    user = _user_of_a_smoothing_decoder(alpha, beta, 1500)
    np.testing.assert_allclose(user.a, alpha, rtol=0.01)
    np.testing.assert_allclose(user.gain_belief, beta, rtol=0.01)


def test_a_smoothing_beyond_the_bound_is_held_there_with_the_gain_refit_to_it():
    """A decoder that smooths more than the belief's bound (alpha = 0.999 per bin, a 20 s time
    constant): a never passes 0.995; where the joint least-squares solution lies beyond it, a is
    held at 0.995, and (1 - a) g, the cursor's answer within the bin, is the least-squares one
    given that a, near the true (1 - alpha) beta (seed 0: 0.0010-0.0015 against 0.001).
    Dividing the unconstrained solution's (1 - a) g by 1 - 0.995 instead gave a gain belief of
    22-24 for a Kalman filter of true gain ~2.7 (a helper's probe at output gain 2.8).

    The joint solution dips inside the range now and then in a lane for a few seconds (with
    either push, seeds 0-1, bins 1500-6000: at most 2 of 8 lanes at once, a >= 0.991). With the
    tanh stand-in push all 8 lanes were held here (the test asked for that until the thirty-third
    wave); with Willett et al.'s fitted push lane 1 is at 0.9931, the joint solution."""
    alpha, beta = 0.999, 1.0
    user = _user_of_a_smoothing_decoder(alpha, beta, 3000)
    assert (user.a <= 0.995).all() and (user.a > 0.99).all()
    assert (user.a == 0.995).sum() >= 6
    np.testing.assert_allclose((1.0 - user.a) * user.gain_belief, (1.0 - alpha) * beta, rtol=0.6)


def test_forward_model_skips_the_jump_to_a_new_trial_with_the_same_target():
    """The cursor re-centred for a new trial whose target is the last one's: the seen jump is not
    a move the decoder made, and the learning skips it (new_trial). Without the skip the jump
    counts as a command's answer: the belief falls to its floor, 0.05. A user
    that learns the gain only: pushing at a far target, its commands barely vary, which leaves
    the smoothing unidentified."""
    lanes, far = 2, np.full((2, 2), 1e3)
    spec = UserSpec(damping=0.3, noise_sd=0.1, adaptation_time=2.0)
    beliefs = []
    for tell in (True, False):
        user = User(spec, DT, lanes)
        cursor = np.zeros((lanes, 2))
        user.reset(np.arange(lanes), cursor, far, np.random.default_rng(0))
        for t in range(1000 + user.k + 5):  # the jump is seen k bins after it happens
            if t == 1000:  # a new trial, the same target: the cursor jumps back to the centre
                cursor = np.zeros((lanes, 2))
                if tell:
                    user.new_trial(np.arange(lanes))
            cursor = cursor + DT * 0.5 * user.act(cursor, far, np.random.default_rng(t))
        beliefs.append(user.gain_belief.copy())
    np.testing.assert_allclose(beliefs[0], 0.5, rtol=0.001)
    np.testing.assert_array_equal(beliefs[1], 0.05)


def _position_estimate_errors(see_velocity: bool, noise: float, delay: float = 0.2) -> np.ndarray:
    """Per bin, the largest gap between the user's estimate of the present cursor and the cursor,
    over lanes whose views since the seen one (k + 1 of them) are of the present trial: the bin
    whose seen move spans the re-centring jump is among them. Centre-out, re-centred trials; the
    decoder smooths (alpha 0.9, beta 0.7) with ``noise`` widths/s of white noise a bin; the
    user's forward model knows alpha and beta."""
    alpha, beta = 0.9, 0.7
    spec = UserSpec(damping=0.3, forward_tau=-DT / np.log(alpha), forward_gain=beta,
                    see_velocity=see_velocity, delay=delay)
    env = CursorBCIVector(num_envs=8, n_trials=10**6, user=spec, v_max=5.0)
    _, info = env.reset(seed=0)
    rng, v, gaps = np.random.default_rng(1), np.zeros((8, 2)), []
    for t in range(1500):
        v = (alpha * v + (1.0 - alpha) * beta * info["intended_velocity"]
             + noise * rng.standard_normal((8, 2)))
        _, _, _, _, info = env.step(v)
        user = env._loop.user
        since_seen = [(user._ptr - i) % user._ring for i in range(user.k + 1)]
        this_trial = np.all(user._seen_trial[since_seen] == user._trial, axis=0)
        seen_target = user._seen_target[(user._ptr - user.k) % user._ring]
        if t > 100 and this_trial.any():
            gaps.append(np.abs(seen_target - user.believed_error - env._loop.cursor)[this_trial].max())
    return np.array(gaps)


@pytest.mark.parametrize("delay", [0.0, 0.02, 0.2])
def test_with_an_exact_forward_model_the_user_estimates_the_cursor_exactly(delay):
    """A noiseless decoder and a forward model that knows it: both users (seeing the velocity or
    not) estimate the present cursor exactly, for delays of 0, 1 and 10 bins, the bin after a
    re-centring jump included (the seen-velocity user carries its last seen velocity over it)."""
    for see in (True, False):
        assert _position_estimate_errors(see, 0.0, delay).max() < 1e-12


def test_a_user_that_sees_the_velocity_predicts_the_cursor_better():
    """Willett et al. (2019)'s user sees the delayed velocity as well as the position
    (``see_velocity``). With decoder noise (0.05 widths/s a bin) the user anchored to the seen
    velocity estimates the present cursor better: the median gap 0.028 against 0.039 widths
    (seed 0), as the unanchored one carries the noise of its own predicted velocity for ~tau
    instead of the delay only."""
    anchored, own = (np.median(_position_estimate_errors(see, 0.05)) for see in (True, False))
    assert anchored < 0.85 * own


def test_learn_smoothing_is_refused_without_gain_learning_or_for_other_users():
    with pytest.raises(ValueError, match=r"learn_smoothing must be True or False, got 1"):
        UserSpec(adaptation_time=2.0, learn_smoothing=1)
    with pytest.raises(ValueError, match=r"learn_smoothing=True needs user='feedback' and "
                                         r"adaptation_time > 0 .*got user='feedback', "
                                         r"adaptation_time=0\.0"):
        UserSpec(learn_smoothing=True)
    with pytest.raises(ValueError, match=r"got user='lqr', adaptation_time=2\.0"):
        UserSpec(model="lqr", adaptation_time=2.0, learn_smoothing=True)
    with pytest.raises(ValueError, match=r"see_velocity=True needs user='feedback' or 'lqr' .*got "
                                         r"user='wilson'"):
        UserSpec(model="wilson", see_velocity=True)


# -- ReFIT (Gilja et al. 2012) ---------------------------------------------------------------------
def _open_loop_kf_and_refit(seed: int):
    """Four subjects of ``seed``: the KF fit on a 30 s observation block (A, W fitted to the block,
    as Gilja et al.'s KF was) and ReFIT-KF re-fit on a 30 s closed-loop block that KF drove."""
    env = CursorBCIVector(num_envs=4, n_trials=10**6, user=WILLETT_USER)
    env.reset(seed=seed, options={"day": 0})
    kf = calibrate(env, SteadyStateKalmanDecoder(dynamics="fit"), 30.0, paradigm="observation",
                   lag=0.2)
    return env, kf, refit_decoder(env, kf, 30.0)


@pytest.mark.slow
def test_refit_at_its_gain_takes_about_half_the_open_loop_kalman_filters_time():
    """Gilja et al. (2012): ReFIT-KF about halves the time to target of a KF calibrated on the
    open-loop block. Each decoder at the output gain benchmarks/bench_bci_refit.py --tune-gain
    chose for it on other subjects (KF 0.5, ReFIT-KF 2): 0.53 there (24 subjects, 60 s
    blocks); here, 30 s blocks, seeds 0-3: 0.47-0.57 (with the tanh stand-in push, before the
    thirty-third wave: 0.55 and 0.51-0.59). The test asks for below 0.65."""
    env, kf, refit = _open_loop_kf_and_refit(0)
    ttt = [run_closed_loop(env, d, 15.0, gain=g).time_to_target.mean()
           for d, g in ((kf, 0.5), (refit, 2.0))]
    assert ttt[1] < 0.65 * ttt[0]


@pytest.mark.slow
def test_the_user_learns_that_the_open_loop_kalman_filter_smooths_more_than_refit():
    """WILLETT_USER's forward model learns each decoder's smoothing from what it sees: the KF fit
    to cued minimum-jerk kinematics smooths heavily (its velocity prior is nearly a random walk),
    ReFIT-KF, fit to labels that stop dead on the target, much less. The believed time constants
    -dt / ln(a) per subject, seeds 0-3: 0.38-0.73 s and 0.09-0.15 s (with the tanh stand-in push,
    before the thirty-third wave: 0.41-0.80 s and 0.08-0.19 s); the test asks for above
    0.35 s and below 0.25 s. With that knowledge the KF over-drives the cursor at gain 1 much
    less than it did for a user who believed the cursor unsmoothed (RESULTS)."""
    env, kf, refit = _open_loop_kf_and_refit(0)
    tau = {}
    for name, dec, gain in (("kf", kf, 0.5), ("refit", refit, 2.0)):
        run_closed_loop(env, dec, 15.0, gain=gain)
        tau[name] = -DT / np.log(env._loop.user.a)
    assert np.all(tau["kf"] > 0.35) and np.all(tau["refit"] < 0.25)


def _grid_bitrate(env: CursorBCIVector, decoder, gain: float, bins: int) -> float:
    """Achieved bitrate (:func:`~cogmodels.envs.bci.metrics.bitrate`) of a fresh session in
    every lane, pooled over the lanes."""
    obs, _ = env.reset(options={"day": 0})
    decoder.reset()
    right = wrong = 0
    seconds = 0.0
    for _ in range(bins):
        obs, _, _, _, info = env.step(gain * decoder.step_fast(obs))
        done = info["trial_completed"]
        right += int((done & info["success"]).sum())
        wrong += int((done & info["wrong_selection"]).sum())
        seconds += float(np.where(done, info["trial_time"], 0.0).sum())
    return bitrate(right, wrong, seconds, 36)


@pytest.mark.slow
def test_refit_at_a_tuned_gain_makes_the_full_realism_dwell_grid_usable():
    """The published grid studies' decoder setting (Nuyujukian et al. 2015, Pandarinath et al.
    2017: ReFIT-KF, here at gain 2) on the 6 x 6 dwell grid with every realism on: 2.73 bits/s
    in benchmarks/bench_bci.py (RESULTS), 1.38 times the open-loop KF at its own best gain, 1.4
    (1.98 bits/s). Here, pooled over 16 lanes, seeds 0-3: 2.37-2.75 against 1.89-2.09 (ratios
    1.14 / 1.44 / 1.22 / 1.35; both scored after ReFIT's block, the KF first, on the day's clock
    of the within-session drift). One seed's ratio moves by about 0.2 with numpy's SIMD kernels
    (a review: seed 0 gives 1.34 without the Makefile's CPU settings), so the test averages the
    four seeds' bitrates and asks ReFIT for over 2.0 bits/s and 1.15 times the KF's.
    At gain 1 ReFIT's slower cursor dwells on wrong cells and does worse than the KF (seed 0).

    Re-recorded when Willett et al.'s user took their fitted push (thirty-third wave): with the
    tanh stand-in push it was 2.12 against 1.37 bits/s in the benchmark (1.55 times), seeds 0-3
    1.96-2.12 against 1.35-1.55 here, and the test asked for over 1.8 bits/s and 1.25 times. The
    fitted push helps the KF more than ReFIT, so the ratio shrank (seed 0: 1.14)."""
    rates = []
    for seed in range(4):
        env = CursorBCIVector(num_envs=16, n_trials=10**6, task="grid", selection="hold",
                              **realism("full"))
        env.reset(seed=seed)
        kf = calibrate(env, SteadyStateKalmanDecoder(), 60.0, paradigm="observation", lag=0.2)
        refit = refit_decoder(env, kf, 60.0)
        rates.append((_grid_bitrate(env, kf, 1.4, 3000), _grid_bitrate(env, refit, 2.0, 3000)))
        if seed == 0:
            assert _grid_bitrate(env, refit, 1.0, 3000) < _grid_bitrate(env, kf, 1.0, 3000)
    kf_rate, refit_rate = np.mean(rates, axis=0)
    assert refit_rate > 2.0 and refit_rate > 1.15 * kf_rate


def test_calibrate_refuses_a_kalman_filter_built_for_other_bins():
    """A Kalman filter's physical velocity model is built for its dt: one built for 20 ms bins and
    calibrated on a 50 ms environment is refused, naming dt and both values; with the environment's
    dt it fits."""
    env = CursorBCIVector(num_envs=1, n_units=12, dt=0.05)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"dt: the decoder's bin width is 0\.02 s but the environment's is 0\.05 s"):
        calibrate(env, SteadyStateKalmanDecoder(), 2.0)
    assert calibrate(env, SteadyStateKalmanDecoder(dt=0.05), 2.0).dt == 0.05
