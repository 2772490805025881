"""Tests of the closed-loop cursor BCI environment: task, user, encoder, env API, vector version."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import cogmodels  # noqa: F401  (registers the environments)
from cogmodels.envs.bci import (
    CursorBCI,
    CursorBCIRandomTargets,
    CursorBCIVector,
    PopulationSpec,
    UserSpec,
    center_out_positions,
    draw_population,
    lqr_gain,
)
from cogmodels.envs.bci.encoder import (
    EncoderArrays,
    PoissonCounter,
    additive_counts,
    gaussian_counts,
    wilson_noise_sd,
)
from cogmodels.envs.bci.task import MIN_GAP, TargetSchedule, TaskSpec
from cogmodels.envs.wrappers import record_session

ENV_ID = "cogmodels/CursorBCI-v0"
RANDOM_ID = "cogmodels/CursorBCIRandomTargets-v0"
Z = 4.0  # width of the confidence intervals, in standard errors
DT = 0.02


def make_vec(num_envs: int, env_id: str = ENV_ID, **kwargs) -> CursorBCIVector:
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)


def ideal_rollout(env: CursorBCI, seed: int = 0, options: dict | None = None) -> list[dict]:
    """One session with the perfect decoder (action = the velocity encoded in the observation)."""
    obs, info = env.reset(seed=seed, options=options)
    results, done = [], False
    while not done:
        obs, reward, done, truncated, info = env.step(np.asarray(info["intended_velocity"]))
        assert truncated is False
        if "trial_result" in info:
            results.append({**info["trial_result"], "reward": reward})
    return results


def vector_ideal(envs, steps: int) -> list[dict]:
    """Completed-trial results of the first session of every copy under the perfect decoder."""
    _, info = envs.reset(seed=1)
    u = info["intended_velocity"]
    live = np.ones(envs.num_envs, dtype=bool)
    out = []
    for _ in range(steps):
        _, _, term, _, info = envs.step(u)
        u = info["intended_velocity"]
        for i in np.flatnonzero(info["trial_completed"] & live):
            out.append({k: info[k][i] for k in ("success", "time_to_target", "path_efficiency",
                                                "trial_time", "state")})
        live &= ~term
        if not live.any():
            break
    return out


# -- API conformance -----------------------------------------------------------------------------
CONFIGS = [
    {},
    {"task": "random_targets", "user": "lqr", "noise": "gaussian", "tuning": "mixed"},
    {"return_to_center": True, "tuning": "log_linear", "drift": "severe", "days_per_session": 1,
     "error_signal": (0.8, 0.1)},
]


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_env_checkers_pass_without_warnings(kwargs):
    env = gym.make(ENV_ID, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=True)
        sb3_check_env(env.unwrapped)


def test_spaces_and_registered_ids():
    env = gym.make(ENV_ID).unwrapped
    assert isinstance(env, CursorBCI) and env.config.task.task == "center_out"
    assert env.observation_space == gym.spaces.Box(0, 255, (192,), np.float32)
    assert env.action_space == gym.spaces.Box(-1, 1, (2,), np.float32)
    assert gym.make(RANDOM_ID).unwrapped.config.task.task == "random_targets"
    gauss = gym.make(ENV_ID, noise="gaussian", n_units=10, v_max=2.0).unwrapped
    assert gauss.observation_space == gym.spaces.Box(-255, 255, (10,), np.float32)
    assert gauss.action_space == gym.spaces.Box(-2, 2, (2,), np.float32)


def test_info_carries_latents_but_never_the_observation():
    env = gym.make(ENV_ID, n_trials=2).unwrapped
    obs, info = env.reset(seed=0)
    keys = {"cursor", "cursor_velocity", "target", "target_radius", "intended_velocity", "trial",
            "in_target", "day"}
    assert set(info) == keys
    done = False
    while not done:
        obs, _, done, _, info = env.step(np.asarray(info["intended_velocity"]))
        assert set(info) - {"trial_result"} == keys
        for value in info.values():
            assert not isinstance(value, np.ndarray)
            assert np.size(value) <= 2 or isinstance(value, dict)
    assert info["trial_result"]["success"]


def test_same_seed_same_rollout_and_new_seed_new_subject():
    def run(seed):
        env = gym.make(ENV_ID, drift="typical").unwrapped
        rng = np.random.default_rng(0)
        obs, info = env.reset(seed=seed, options={"day": 3})
        out = [obs.tobytes()]
        for _ in range(200):
            a = np.asarray(info["intended_velocity"]) + rng.normal(0, 0.3, 2)
            obs, r, term, _, info = env.step(a)
            out.append((obs.tobytes(), r, term, info["cursor"], info["intended_velocity"]))
        return out, env.population().tuning

    (a, ta), (b, tb), (c, tc) = run(3), run(3), run(4)
    assert a == b and a != c
    np.testing.assert_array_equal(ta, tb)
    assert not np.allclose(ta, tc)


def test_plain_reset_keeps_the_subject_and_day_options():
    env = gym.make(ENV_ID, drift="typical").unwrapped
    env.reset(seed=0)
    w0 = env.population().tuning
    env.reset()
    np.testing.assert_array_equal(env.population().tuning, w0)  # same subject, same day
    _, info = env.reset(options={"day": 7})
    assert info["day"] == 7 and env.day == 7
    assert not np.allclose(env.population().tuning, w0)
    env.reset(options={"new_subject": True, "day": 0})
    assert not np.allclose(env.population().tuning, w0)
    stepping = gym.make(ENV_ID, days_per_session=2).unwrapped
    days = [stepping.reset(seed=0)[1]["day"]] + [stepping.reset()[1]["day"] for _ in range(3)]
    assert days == [0, 2, 4, 6]


def test_bad_arguments_raise():
    bad = [
        ({"task": "maze"}, "task must be one of"),
        ({"n_trials": 0}, "n_trials"),
        ({"dt": 0.005}, r"dt must be a finite number in \[0.01, 0.05\], got 0.005"),
        ({"dt": 0.1}, "dt must be"),
        ({"target_distance": -1}, "target_distance"),
        ({"target_distance": 0.45}, "fit in the workspace"),
        ({"target_radius": 0.0}, "target_radius"),
        ({"target_radius": (0.1, 0.05)}, "target_radius"),
        ({"task": "random_targets", "target_radius": 0.3}, r"target_radius must be at most \(workspace - MIN_GAP\) / 3 = 0.15"),
        ({"task": "random_targets", "workspace": 0.2}, "target_radius must be at most"),
        ({"task": "random_targets", "target_draw": "gap"},
         r"target_draw must be one of \['spaced', 'uniform'\], got 'gap'"),
        ({"target_draw": "uniform"}, "target_draw applies to task='random_targets' only .* got "
                                     "target_draw='uniform' with task='center_out'"),
        ({"hold_time": -0.1}, "hold_time"),
        ({"timeout": 0.4}, "timeout must be longer than hold_time"),
        ({"return_to_center": "yes"}, "return_to_center"),
        ({"workspace": 0}, "workspace"),
        ({"v_max": 0}, "v_max"),
        ({"n_units": 0}, "n_units"),
        ({"n_units": 10**6}, r"n_units must be an integer in \[1, 10000\]"),
        ({"timeout": float("inf")}, "timeout"),
        ({"v_max": float("inf")}, "v_max"),
        ({"user": UserSpec(delay=2.0), "dt": 0.01}, None),
        ({"tuning": "gaussian"}, "tuning must be one of"),
        ({"baseline_rate": (0.0, 10.0)}, "baseline_rate"),
        ({"modulation_depth": (-1.0, 3.0)}, "modulation_depth"),
        ({"noise": "binomial"}, r"noise must be one of \['poisson', 'gaussian', 'additive'\]"),
        ({"noise": "additive", "noise_sd": -0.1},
         r"noise_sd must be a finite number in \[0, 255\], got -0.1"),
        ({"noise_sd": "0.3"}, "noise_sd must be a finite number"),
        ({"user": "psychic"}, "user must be one of"),
        ({"user": 3}, "user must be one of"),
        ({"drift": "wild"}, "drift must be one of the presets"),
        ({"drift": [1, 2]}, "drift processes must be Drift instances"),
        ({"days_per_session": -1}, "days_per_session"),
        ({"days_per_session": 10**9}, r"days_per_session must be an integer in \[0, 1000\]"),
        ({"error_signal": (1.2, 0.1)}, "hit_rate"),
        ({"error_signal": (0.8,)}, "error_signal must be None or"),
        ({"error_interval": 0.0}, "error_interval"),
    ]
    for kwargs, match in bad:
        if match is None:  # at the limits: accepted
            CursorBCI(**kwargs).reset(seed=0)
            continue
        with pytest.raises(ValueError, match="^CursorBCI: .*" + match):
            CursorBCI(**kwargs)
        with pytest.raises(ValueError, match="^CursorBCIVector: .*" + match):
            CursorBCIVector(num_envs=2, **kwargs)
    with pytest.raises(ValueError, match=r"^CursorBCIRandomTargets: n_trials must be"):
        CursorBCIRandomTargets(n_trials=0)
    with pytest.raises(ValueError, match="delay"):
        UserSpec(delay=-0.2)
    with pytest.raises(ValueError, match=r"delay must be a finite number in \[0, 2\], got 1000.0"):
        UserSpec(delay=1e3)
    with pytest.raises(ValueError, match="max_speed"):
        UserSpec(max_speed=0)
    env = CursorBCI()
    env.reset(seed=0)
    for action in (np.zeros(3), np.array([np.nan, 0.0]), 0, ["0.1", "0.2"], [True, False], None):
        with pytest.raises(
            ValueError,
            match=r"^CursorBCI.step: action must be finite numbers of shape \(2,\) \(values outside "
            r"\[-1, 1\] are clipped\) \(action_space Box\(-1.0, 1.0, \(2,\), float32\)\), got ",
        ):
            env.step(action)
    with pytest.raises(ValueError, match=r"^CursorBCI.reset: options\[\"day\"\] must be an integer in \[0, 10000\]"):
        env.reset(options={"day": -1})
    envs = CursorBCIVector(num_envs=3)
    envs.reset(seed=0)
    with pytest.raises(ValueError, match=r"^CursorBCIVector.step: actions must be an array of shape \(3, 2\)"):
        envs.step(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="one per copy"):
        envs.reset(options={"day": [1, 2]})


# -- the task ------------------------------------------------------------------------------------
def test_center_out_geometry_cycles_and_hold():
    env = CursorBCI(n_trials=24)
    res = ideal_rollout(env)
    assert len(res) == 24
    table = center_out_positions(8, 0.35)
    for cycle in range(3):
        states = [r["state"] for r in res[8 * cycle: 8 * cycle + 8]]
        assert sorted(states) == list(range(8))  # each direction once per cycle of 8
    for r in res:
        np.testing.assert_allclose([r["target_x"], r["target_y"]], table[r["state"]], atol=1e-12)
        assert (r["start_x"], r["start_y"]) == (0.0, 0.0)  # re-centred at each trial start
        assert r["distance"] == pytest.approx(0.35) and r["target_radius"] == 0.075
        assert r["success"] and r["reward"] == 1.0 and not r["is_center"]
        # success exactly hold_time after the final entry into the target
        assert r["trial_time"] - r["time_to_target"] == pytest.approx(0.5)
        assert r["index_of_difficulty"] == pytest.approx(np.log2(1 + 0.35 / 0.15))


def test_return_to_center_alternates_with_the_centre_target():
    res = ideal_rollout(CursorBCI(n_trials=10, return_to_center=True, hold_time=0.2))
    assert [r["is_center"] for r in res] == [False, True] * 5
    assert all(r["state"] == 8 and (r["target_x"], r["target_y"]) == (0.0, 0.0)
               for r in res[1::2])
    for out, back in zip(res[0::2], res[1::2]):  # the cursor is not re-centred: it comes back
        assert np.hypot(back["start_x"] - out["target_x"], back["start_y"] - out["target_y"]) <= 0.075


def test_random_targets_lie_in_the_workspace_with_random_sizes_and_gaps():
    env = gym.make(RANDOM_ID, n_trials=40, hold_time=0.1).unwrapped
    res = ideal_rollout(env)
    radii = np.array([r["target_radius"] for r in res])
    assert radii.min() >= 0.04 and radii.max() <= 0.1 and radii.std() > 0.01
    for r in res:
        assert max(abs(r["target_x"]), abs(r["target_y"])) + r["target_radius"] <= 0.5 + 1e-12
        assert np.isnan(r["state"])
    for prev, cur in zip(res, res[1:]):
        gap = np.hypot(cur["target_x"] - prev["target_x"], cur["target_y"] - prev["target_y"])
        assert gap >= cur["target_radius"] + prev["target_radius"] + MIN_GAP


def test_wilson_target_draw_is_uniform_in_the_square_with_no_gap():
    """target_draw="uniform" (Wilson et al.'s getNewTarget): centres uniform in [-0.5, 0.5]^2, so
    some overhang the edge and some overlap the last target; the default never does either."""
    from scipy import stats

    lanes = np.arange(4000)
    centres, gaps = {}, {}
    for draw in ("spaced", "uniform"):
        spec = TaskSpec.create(task="random_targets", target_radius=0.075, target_draw=draw)
        schedule, rng = TargetSchedule(spec, len(lanes)), np.random.default_rng(0)
        schedule.start(lanes, rng)
        first = schedule.pos.copy()
        schedule.advance(lanes, np.ones(len(lanes), dtype=np.int64), rng)
        centres[draw], gaps[draw] = schedule.pos.copy(), np.hypot(*(schedule.pos - first).T)
    for coord in centres["uniform"].T:
        assert stats.kstest(coord, stats.uniform(-0.5, 1.0).cdf).pvalue > 0.01
    assert np.abs(centres["uniform"]).max() > 0.49
    r = 0.15  # P(two uniform points of the unit square lie within r) = pi r^2 - 8 r^3 / 3 + r^4 / 2
    assert np.mean(gaps["uniform"] < r) == pytest.approx(np.pi * r**2 - 8 * r**3 / 3 + r**4 / 2, abs=0.01)
    assert np.abs(centres["spaced"]).max() <= 0.5 - 0.075 and gaps["spaced"].min() >= 0.15 + MIN_GAP


def test_timeout_ends_trials_with_the_cursor_still():
    env = CursorBCI(n_trials=3, timeout=0.6, hold_time=0.1)
    env.reset(seed=0)
    steps, rows = 0, []
    done = False
    while not done:
        _, reward, done, _, info = env.step(np.zeros(2))
        steps += 1
        assert reward == 0.0 and info["cursor"] == (0.0, 0.0)
        row = env.trial_row(np.zeros(2), reward, info)
        if row is not None:
            rows.append(row)
    assert steps == 3 * 30
    assert all(r["timed_out"] and not r["success"] and r["trial_time"] == pytest.approx(0.6)
               and np.isnan(r["rt"]) for r in rows)


def test_record_session_writes_the_trial_table():
    env = gym.make(ENV_ID, n_trials=8)
    df = record_session(env, lambda obs, info: np.asarray(info["intended_velocity"]), seed=0,
                        subject="T5")
    assert len(df) == 8 and list(df["trial"]) == list(range(8))
    for col in ("state", "choice", "reward", "rt", "day", "success", "time_to_target",
                "path_efficiency", "dial_in_time", "n_entries"):
        assert col in df.columns
    assert df["choice"].isna().all() and (df["reward"] == 1.0).all()
    assert (df["rt"] == df["time_to_target"]).all()


def test_error_signal_has_the_set_hit_and_false_alarm_rates():
    hit, fa = 0.7, 0.2
    env = CursorBCI(n_trials=10**6, error_signal=(hit, fa), error_interval=0.1)
    obs, info = env.reset(seed=0)
    rng = np.random.default_rng(1)
    counts = np.zeros((2, 2))  # [error?][signal == -1?]
    evaluations = []
    for t in range(1, 6001):
        a = np.asarray(info["intended_velocity"]) * rng.choice([1.0, -1.0]) + rng.normal(0, 0.2, 2)
        obs, reward, _, _, info = env.step(np.clip(a, -1, 1))
        if info["error_signal"]:
            counts[int(info["movement_error"]), int(info["error_signal"] == -1)] += 1
            evaluations.append(t)
            success = "trial_result" in info and info["trial_result"]["success"]
            assert reward == info["error_signal"] + success
    for row, p in ((counts[1], hit), (counts[0], fa)):
        n = row.sum()
        assert n > 300
        assert abs(row[1] / n - p) <= Z * np.sqrt(p * (1 - p) / n)
    assert 0.15 < len(evaluations) / 6000 <= 0.2  # every 5th bin of a trial


# -- the user --------------------------------------------------------------------------------------
@pytest.mark.parametrize("user", ["feedback", "lqr", UserSpec(delay=0.0), UserSpec(model="lqr", delay=0.4)])
@pytest.mark.parametrize("task", ["center_out", "random_targets"])
def test_ideal_decoder_acquires_targets(user, task):
    res = vector_ideal(make_vec(32, task=task, user=user, n_trials=8), 3000)
    assert len(res) == 32 * 8
    assert np.mean([r["success"] for r in res]) == 1.0
    assert np.mean([r["path_efficiency"] for r in res]) > 0.95
    ttt = np.mean([r["time_to_target"] for r in res])
    assert 0.3 < ttt < 1.5  # distance 0.35 at up to 0.8 widths/s, plus delay and slowing down


def test_user_delay_and_forward_model():
    """The user reacts to a new target only ``delay`` after it appears; the forward model stops it
    from overshooting under the perfect decoder (without it, it overshoots by ~speed x delay)."""
    env = CursorBCI(user=UserSpec(delay=0.2))
    obs, info = env.reset(seed=0)
    first = ideal_rollout(env, seed=0)[0]
    assert first["n_entries"] == 1 and first["path_efficiency"] > 0.99
    # after a success the next target appears; for 10 bins the user still aims at the old one
    env.reset(seed=0)
    info = env.reset(options={"day": 0})[1]
    speeds = []
    for _ in range(200):
        _, _, _, _, info = env.step(np.asarray(info["intended_velocity"]))
        speeds.append(np.hypot(*info["intended_velocity"]))
        if "trial_result" in info:
            break
    after = []
    for _ in range(12):
        _, _, _, _, info = env.step(np.asarray(info["intended_velocity"]))
        after.append(np.hypot(*info["intended_velocity"]))
    assert max(after[:9]) < 0.05 and after[10] > 0.3


def test_lqr_gain_is_a_stabilising_proportional_controller():
    k = lqr_gain(UserSpec(model="lqr", effort=0.015), DT)
    assert k[1] == pytest.approx(0.0, abs=1e-9)  # no velocity state without decoder smoothing
    assert 5.0 < k[0] < 12.0  # ~ sqrt(1 / effort) per second
    k_slow = lqr_gain(UserSpec(model="lqr", effort=0.015, forward_tau=0.2), DT)
    a = np.exp(-DT / 0.2)
    closed = np.array([[1.0, DT * a], [0.0, a]]) - np.array([[DT * (1 - a)], [1 - a]]) @ k_slow[None]
    assert np.abs(np.linalg.eigvals(closed)).max() < 1.0


# -- the encoder -----------------------------------------------------------------------------------
def test_poisson_counts_have_poisson_mean_variance_and_independence():
    rng = np.random.default_rng(0)
    lam = np.repeat(np.array([[0.05, 0.3, 1.0, 4.0]], dtype=np.float32), 512, axis=0)  # 2048 units
    counter = PoissonCounter(*lam.shape)
    assert not counter.direct
    counter.reset(np.arange(lam.shape[0]), rng)
    x = np.stack([counter.sample(lam, rng) for _ in range(400)])  # 400 bins
    n = x.shape[0] * x.shape[1]
    for j, mu in enumerate(lam[0]):
        xs = x[:, :, j].astype(np.float64)
        assert abs(xs.mean() - mu) <= Z * np.sqrt(mu / n)
        assert abs(xs.var() / mu - 1) <= Z * np.sqrt(2 / n) + 0.01
        assert abs((xs == 0).mean() - np.exp(-mu)) <= Z * np.sqrt(np.exp(-mu) / n)
        r = np.corrcoef(xs[:-1].ravel(), xs[1:].ravel())[0, 1]  # successive bins independent
        assert abs(r) <= Z / np.sqrt(n)
    direct = PoissonCounter(1, 192)
    assert direct.direct
    y = np.stack([direct.sample(np.full((1, 192), 0.5, np.float32), rng) for _ in range(200)])
    assert abs(y.mean() - 0.5) <= Z * np.sqrt(0.5 / y.size)
    g = gaussian_counts(np.full((200, 100), 2.0, np.float32), rng)
    n_g = g.size  # mean 2, variance 2: s.e. sqrt(2/n) of the mean, sqrt(2 * 2^2 / n) of the variance
    assert abs(g.mean() - 2) <= Z * np.sqrt(2 / n_g) and abs(g.var() - 2) <= Z * np.sqrt(8 / n_g)


def test_additive_counts_have_a_fixed_sd_whatever_the_rate():
    """Wilson et al.'s channels: the expected count plus N(0, noise_sd^2), not Poisson."""
    rng = np.random.default_rng(4)
    lam = np.repeat(np.array([[0.0, 0.05, 0.3, 1.0, 4.0]], dtype=np.float32), 4000, axis=0)
    x = additive_counts(lam, rng, 0.3).astype(np.float64)
    n = x.shape[0]
    for j, mu in enumerate(lam[0]):  # the same SD at every rate, 0 included (no rectification)
        assert abs(x[:, j].mean() - mu) <= Z * 0.3 / np.sqrt(n)
        assert abs(x[:, j].std() / 0.3 - 1) <= Z * np.sqrt(0.5 / n)
    # in the closed loop: with the same seed and actions, noise_sd 0.5 minus noise_sd 0 is 0.5 z
    # (one normal per channel and bin either way), whatever the channel's expected count
    runs = {}
    for sd in (0.0, 0.5):
        env = CursorBCIVector(num_envs=4, n_trials=3, noise="additive", noise_sd=sd)
        obs, _ = env.reset(seed=3)
        out = [obs]
        for _ in range(300):
            obs, *_ = env.step(np.zeros((4, 2), np.float32))
            out.append(obs)
        runs[sd] = np.stack(out).astype(np.float64)
    resid, mean = runs[0.5] - runs[0.0], runs[0.0].mean(axis=0)  # (bins, lanes, units)
    low, high = mean < np.quantile(mean, 0.2), mean > np.quantile(mean, 0.8)
    for group in (low, high):
        r = resid[:, group]
        assert abs(r.mean()) <= Z * 0.5 / np.sqrt(r.size)
        assert abs(r.std() / 0.5 - 1) <= Z * np.sqrt(0.5 / r.size)
    env = CursorBCIVector(num_envs=2, noise="additive")
    assert env.observation_space.low.min() == -255
    # the default SD: Wilson et al.'s SNR / 0.3 at gain 1 and the top push
    assert env._loop.noise_sd == pytest.approx(0.02 * np.sqrt(192 * 124 / 6) * 0.8 * 0.3 / 0.5)
    assert env._loop.noise_sd == pytest.approx(wilson_noise_sd(PopulationSpec(), 0.02))
    assert wilson_noise_sd(PopulationSpec(n_units=48), 0.02) == pytest.approx(
        env._loop.noise_sd / 2)
    # with Wilson et al.'s user the command is their control itself (top push 1, not 0.8): their SNR
    theirs = CursorBCIVector(num_envs=2, noise="additive", user="wilson")
    assert theirs._loop.noise_sd == pytest.approx(env._loop.noise_sd / 0.8)
    assert UserSpec(model="wilson", max_speed=0.3).top_speed == 1.0 and UserSpec(max_speed=0.3).top_speed == 0.3


def test_cosine_fits_recover_preferred_directions_baselines_and_depths():
    pop = draw_population(PopulationSpec(n_units=64), np.random.default_rng(2))
    enc = EncoderArrays(1, 64, DT)
    enc.set_lane(0, pop)
    rng = np.random.default_rng(3)
    counter = PoissonCounter(1, 64)
    angles = rng.uniform(0, 2 * np.pi, 20000)
    vel = 0.8 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    lam = np.stack([enc.expected_counts(v[None])[0].copy() for v in vel])
    np.testing.assert_allclose(lam / DT, pop.rates(vel), rtol=1e-4, atol=1e-3)
    y = counter.sample(lam, rng)  # one count per bin (independent draws, same law)
    design = np.column_stack([np.ones(len(vel)), vel])
    coef, *_ = np.linalg.lstsq(design, y / DT, rcond=None)
    pd_fit = np.arctan2(coef[2], coef[1])
    err = np.angle(np.exp(1j * (pd_fit - pop.preferred_directions())))
    depth = np.hypot(*pop.tuning.T)
    strong = depth > 5
    assert np.median(np.abs(err[strong])) < np.deg2rad(10)
    np.testing.assert_allclose(coef[0], pop.baseline, atol=2.5)
    assert np.median(np.abs(np.hypot(coef[1], coef[2]) - depth)) < 1.5


def test_log_linear_units_share_baseline_and_slope_at_rest():
    pop = draw_population(PopulationSpec(n_units=50, tuning="log_linear"), np.random.default_rng(0))
    assert pop.log_linear.all()
    np.testing.assert_allclose(pop.rates(np.zeros(2)), pop.baseline)
    h = 1e-6
    slope = (pop.rates(np.array([h, 0.0])) - pop.rates(np.array([-h, 0.0]))) / (2 * h)
    np.testing.assert_allclose(slope, pop.tuning[:, 0], rtol=1e-5, atol=1e-6)
    u = np.array([0.5, -0.3])
    np.testing.assert_allclose(pop.rates(u), pop.baseline * np.exp(pop.tuning @ u / pop.baseline))


# -- the vector version ----------------------------------------------------------------------------
def test_make_vec_returns_the_native_vector_env():
    envs = make_vec(4)
    assert isinstance(envs.unwrapped, CursorBCIVector)
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (4, 192) and obs.dtype == np.float32
    assert envs.observation_space.contains(obs)


@pytest.mark.parametrize("kwargs", [{}, {"task": "random_targets", "user": "lqr",
                                         "error_signal": (0.9, 0.1), "drift": "typical"}])
def test_vector_with_one_copy_reproduces_the_single_env(kwargs):
    single = CursorBCI(n_trials=3, **kwargs)
    vec = CursorBCIVector(num_envs=1, n_trials=3, **kwargs)
    rng = np.random.default_rng(0)
    o1, i1 = single.reset(seed=5, options={"day": 2})
    o2, _ = vec.reset(seed=5, options={"day": 2})
    np.testing.assert_array_equal(o1, o2[0])
    for _ in range(400):
        a = np.asarray(i1["intended_velocity"]) + rng.normal(0, 0.2, 2)
        o1, r1, t1, _, i1 = single.step(a)
        o2, r2, t2, _, i2 = vec.step(a[None])
        np.testing.assert_array_equal(o1, o2[0])
        assert r1 == r2[0] and t1 == t2[0]
        assert i1["cursor"] == tuple(i2["cursor"][0]) and i1["trial"] == i2["trial"][0]
        if t1:
            o1, i1 = single.reset()
            o2, *_ = vec.step(a[None])  # next-step autoreset
            np.testing.assert_array_equal(o1, o2[0])


def test_vector_matches_single_env_statistics():
    res = vector_ideal(make_vec(16, n_trials=16, task="random_targets"), 5000)
    single = [r for s in range(4) for r in ideal_rollout(CursorBCI(n_trials=16, task="random_targets"), s)]
    t_vec = np.array([r["time_to_target"] for r in res])
    t_single = np.array([r["time_to_target"] for r in single])
    se = np.sqrt(t_vec.var() / len(t_vec) + t_single.var() / len(t_single))
    assert abs(t_vec.mean() - t_single.mean()) <= Z * se


def test_vector_next_step_autoreset_and_per_copy_days():
    envs = make_vec(3, n_trials=2, timeout=0.2, hold_time=0.0, days_per_session=1, drift="stable")
    envs.reset(seed=0, options={"day": [0, 5, 9]})
    np.testing.assert_array_equal(envs.unwrapped.day, [0, 5, 9])
    zero = np.zeros((3, 2))
    for k in range(1, 21):  # 2 trials of 10 bins, the cursor never moves
        _, r, term, _, info = envs.step(zero)
        assert term.all() == (k == 20) and not (r != 0).any()
        assert info["trial_completed"].all() == (k in (10, 20))
    _, r, term, _, info = envs.step(zero)  # the reset step
    assert (r == 0).all() and not term.any()
    np.testing.assert_array_equal(envs.unwrapped._loop.trial, [0, 0, 0])
    np.testing.assert_array_equal(envs.unwrapped.day, [1, 6, 10])
    same = make_vec(3, n_trials=2, timeout=0.2, hold_time=0.0, autoreset_mode="same_step")
    same.reset(seed=0)
    for _ in range(20):
        obs, r, term, _, info = same.step(zero)
    assert term.all() and "final_obs" in info and info["_final_obs"].all()
    np.testing.assert_array_equal(same.unwrapped._loop.trial, [0, 0, 0])


def test_vector_trains_a_linear_decoder_that_controls_the_cursor():
    """Least-squares decoder from 30 s of calibration; closed loop then acquires most targets."""
    envs = CursorBCIVector(num_envs=16, n_trials=10**6)
    obs, info = envs.reset(seed=0)
    u = info["intended_velocity"]
    xs, ys = [], []
    for _ in range(1500):
        xs.append(np.column_stack([np.ones(16), obs]))
        ys.append(u)
        obs, _, _, _, info = envs.step(u)
        u = info["intended_velocity"]
    x, y = np.stack(xs, 1), np.stack(ys, 1)  # (16, T, 193), (16, T, 2)
    w = np.linalg.solve(np.einsum("ltk,ltj->lkj", x, x) + 1.0 * np.eye(193),
                        np.einsum("ltk,ltj->lkj", x, y))
    obs, _ = envs.reset(options={"day": 0})
    v = np.zeros((16, 2))
    ok = n = 0
    for _ in range(3000):
        raw = np.einsum("lk,lkj->lj", np.column_stack([np.ones(16), obs]), w)
        v = 0.8 * v + 0.2 * 1.5 * raw  # smoothing, as a velocity decoder does
        obs, _, _, _, info = envs.step(np.clip(v, -1, 1))
        ok += info["success"][info["trial_completed"]].sum()
        n += info["trial_completed"].sum()
    assert n > 16 * 10 and ok / n > 0.8
