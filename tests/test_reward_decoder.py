"""The reward-trained BCI decoder: it learns from the error signal alone (and sees nothing else),
its features re-estimate themselves with the stated half-life, the credit lands on the judged
window, seeds, bad arguments."""

from __future__ import annotations

import copy
import re
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest

from cogmodels.agents.decoders.reward import GreedyPolicy, RewardDecoder, SpikeFeatures, per_minute
from cogmodels.agents.reward_learners import OutcomeWeightedLanes
from cogmodels.envs.bci import CursorBCI, CursorBCIVector


def _env(channel: Any = "realistic", **kwargs) -> CursorBCI:
    return CursorBCI(n_trials=10**6, error_signal=channel, **kwargs)


@pytest.mark.slow
def test_learns_center_out_from_the_realistic_error_signal_alone():
    # 75 % hits, 3 % false alarms, 1 evaluation/s, 300 ms late; from no decoder at all
    env = _env()
    dec = RewardDecoder(calibration_s=20, seed=0)
    hist = dec.train(env, seconds=240, seed=0)
    assert hist["calibrating"].iloc[0] and not hist["calibrating"].iloc[-1]
    assert hist[hist.calibrating].success.sum() == 0  # noise only: nothing succeeds
    assert hist[hist.time > 180].success.sum() >= 5
    trained = dec.evaluate(env, seconds=40)  # greedy, same subject, no learning
    dec.learner.W[:] = 0.0  # the untrained decoder
    untrained = dec.evaluate(env, seconds=40)
    assert untrained.success.sum() == 0
    assert trained.success.sum() >= 8 and trained.success.mean() > 0.5
    table = per_minute(hist)
    assert list(table.columns) == ["minute", "n_trials", "success_rate", "successes_per_min",
                                   "time_to_target"]
    assert table.successes_per_min.iloc[-1] > table.successes_per_min.iloc[0]


@pytest.mark.slow
def test_the_actor_critic_baseline_still_learns_from_the_idealised_channel():
    env = _env((0.9, 0.1))
    dec = RewardDecoder(rule="actor_critic", calibration_s=20, half_life_s=None, seed=0)
    hist = dec.train(env, seconds=200, seed=0)
    assert hist[hist.time > 140].success.sum() >= 5
    assert dec.evaluate(env, seconds=40).success.mean() > 0.5


class _Poisoned(gym.Wrapper):
    """The environment with every ``info`` value replaced by noise; records the reads of the
    attributes a wrapper does not define (the decoder's reads of the task: its configuration)."""

    ALLOWED = {"observation_space", "config", "num_envs", "reset", "step"}

    def __init__(self, env: Any, seed: int) -> None:
        super().__init__(env)
        self._env, self._rng, self.read = env, np.random.default_rng(seed), set()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        self.read.add(name)
        return getattr(self._env, name)

    def _noise(self, info: dict) -> dict:
        out = {k: self._rng.normal(size=np.shape(v)) for k, v in info.items()
               if k != "trial_result"}
        if "trial_result" in info:
            out["trial_result"] = {k: float(self._rng.normal()) for k in info["trial_result"]}
            out["trial_result"]["day"] = 0
        return out

    def reset(self, **kwargs):
        obs, info = self._env.reset(**kwargs)
        return obs, self._noise(info)

    def step(self, action):
        obs, r, term, trunc, info = self._env.step(action)
        return obs, r, term, trunc, self._noise(info)


@pytest.mark.parametrize("rule", ["outcome_weighted", "actor_critic"])
def test_the_decoder_sees_only_spikes_and_the_error_signal(rule):
    # whatever info says (target, cursor, intended velocity, outcomes: all replaced by noise),
    # the decoder learns the same weights from the same spikes and rewards
    def weights(wrap: bool) -> np.ndarray:
        env = _env("realistic", target_radius=0.15)
        env = _Poisoned(env, 1) if wrap else env
        dec = RewardDecoder(rule=rule, calibration_s=2, seed=0)
        dec.train(env, seconds=12, seed=0)
        return dec.weights(), env

    (w_clean, _), (w_poisoned, env) = weights(False), weights(True)
    assert np.abs(w_clean).max() > 0  # it did learn something
    np.testing.assert_array_equal(w_clean, w_poisoned)
    assert env.read <= _Poisoned.ALLOWED  # no latents, no loop, no population


def test_same_seed_same_history_and_vector_lanes():
    def once(seed: int) -> tuple[pd.DataFrame, np.ndarray]:
        dec = RewardDecoder(calibration_s=2, seed=seed)
        h = dec.train(_env(target_radius=0.15), seconds=12, seed=seed)
        return h, dec.weights()

    (h1, w1), (h2, w2), (_, w3) = once(3), once(3), once(4)
    pd.testing.assert_frame_equal(h1, h2)
    np.testing.assert_array_equal(w1, w2)
    assert not np.array_equal(w1, w3)
    # the vector environment: one policy per lane (each lane is its own subject)
    venv = CursorBCIVector(num_envs=2, n_trials=10**6, error_signal="realistic")
    dec = RewardDecoder(n_lanes=2, calibration_s=2, seed=0)
    h = dec.train(venv, seconds=8, seed=0)
    assert set(h.subject) <= {0, 1}
    w = dec.weights()
    assert w.shape == (2, 2, 5) and not np.array_equal(w[0], w[1])
    assert np.all(w[:, :, -1] == 0.0)  # no intercept: the features are centred


def test_an_evaluation_credits_the_window_it_judges():
    # latency 3 bins, window 4: an evaluation in bin t judges bins t-6 .. t-3
    seeds = np.random.SeedSequence(0).spawn(1)
    ow = OutcomeWeightedLanes(2, 1, std=0.5, alpha=0.3, window=4, latency=3, baseline_rate=0.1,
                              min_std_fraction=1.0, seeds=seeds)
    ow.error_rate[:] = 0.5  # full exploration (σ = std)
    rng = np.random.default_rng(1)
    ys, noise = [], []
    for _ in range(10):
        y = rng.normal(size=(1, 2))
        a = ow.act(y, greedy=False)
        ys.append(y[0])
        noise.append(a[0] - ow.W[0, :, :2] @ y[0])
        ow.learn(y, a, np.zeros(1), y, np.zeros(1, dtype=bool))
    # the noise was held: one draw per 4 bins
    assert np.allclose(noise[0], noise[3]) and not np.allclose(noise[3], noise[4])
    before = ow.W.copy()
    y = rng.normal(size=(1, 2))
    ow.act(y, greedy=False)
    ow.learn(y, None, np.array([-1.0]), y, np.zeros(1, dtype=bool))  # bin t = 10
    judged = range(10 - 3 - 4 + 1, 10 - 3 + 1)  # bins 4..7
    g = sum(np.outer(noise[j] / 0.5, ys[j]) for j in judged) / 4
    np.testing.assert_allclose(ow.W[0, :, :2] - before[0, :, :2], 0.3 / 3 * (-1.0 - 0.0) * g)
    assert ow.baseline[0] == pytest.approx(-0.1) and ow.error_rate[0] == pytest.approx(0.55)


def test_features_whiten_the_calibration_spikes():
    rng = np.random.default_rng(0)
    f = SpikeFeatures(10, 2, n_components=3, tau=0.0, calibration_bins=2000)
    counts = rng.poisson(3.0, size=(2000, 2, 10))
    for c in counts:
        assert not f.ready
        f(c)
    assert f.ready
    y = np.stack([f(c) for c in counts])
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(y.std(axis=0), 1.0, atol=1e-6)


def test_features_re_estimate_with_the_stated_half_life():
    # dt 0.1 s, half-life 20 s, refits every 5 s: after 20 s of new spikes the running mean is
    # exactly half-way between the old and the new means
    rng = np.random.default_rng(0)
    f = SpikeFeatures(6, 1, n_components=2, tau=0.0, dt=0.1, calibration_bins=500,
                      half_life_s=20.0, refit_s=5.0)
    old = rng.poisson(2.0, size=(500, 1, 6)).astype(float)
    for c in old:
        f(c)
    m_old = old.mean(axis=(0, 1))
    new = rng.poisson(6.0, size=(200, 1, 6)).astype(float)  # 20 s, 4 blocks of 5 s
    for c in new:
        f(c)
    assert f.n_refits == 4
    beta = 0.5 ** (5.0 / 20.0)  # per block; the old data weigh beta**4 = 1/2
    blocks = new[:, 0].reshape(4, 50, 6).mean(axis=1)
    expected = beta**4 * m_old + sum((1 - beta) * beta ** (3 - i) * blocks[i] for i in range(4))
    np.testing.assert_allclose(f.mean_[0], expected, rtol=1e-12)
    assert beta**4 == pytest.approx(0.5)
    # long after the change the features are white again on the new spikes
    for c in rng.poisson(6.0, size=(3000, 1, 6)):
        f(c)
    y = np.stack([f(c) for c in rng.poisson(6.0, size=(4000, 1, 6))])
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=0.08)
    np.testing.assert_allclose(y.std(axis=0), 1.0, atol=0.08)


def test_re_estimated_features_stay_aligned_on_stationary_spikes():
    # Procrustes keeps each new projection on the previous one: the features barely change
    rng = np.random.default_rng(2)
    mix = rng.normal(size=(8, 2))

    def draw(n):  # two latent factors (sd 2 and 1) behind 8 Poisson units
        z = rng.normal(size=(n, 2)) * [2.0, 1.0]
        return rng.poisson(np.clip(10.0 + z @ mix.T, 0.1, None)).reshape(n, 1, 8)

    frozen = SpikeFeatures(8, 1, n_components=2, tau=0.0, calibration_bins=1000)
    running = SpikeFeatures(8, 1, n_components=2, tau=0.0, calibration_bins=1000,
                            half_life_s=10.0, refit_s=2.0)
    for c in draw(1000):
        frozen(c), running(c)
    for c in draw(3000):
        running(c)
    assert running.n_refits >= 20
    test = draw(2000)
    a = np.stack([frozen(c) for c in test])[:, 0]
    b = np.stack([running(c) for c in test])[:, 0]
    corr = [np.corrcoef(a[:, k], b[:, k])[0, 1] for k in range(2)]
    assert min(corr) > 0.95


def _latent_spikes(rng, mix, n):
    """Poisson units behind two latent factors (sd 2 and 1), ``(n, 1, units)``."""
    z = rng.normal(size=(n, 2)) * [2.0, 1.0]
    return rng.poisson(np.clip(10.0 + z @ mix.T, 0.1, None)).reshape(n, 1, len(mix)).astype(float)


@pytest.mark.parametrize("n_components", [2, None])
def test_each_re_estimate_records_the_least_squares_map_to_the_old_features(n_components):
    # y_old ≈ M y_new: M solves the normal equations on the statistics of the re-estimate, so
    # on those statistics the old features' residual is uncorrelated with every new feature
    rng = np.random.default_rng(4)
    mix = rng.normal(size=(8, 2))
    f = SpikeFeatures(8, 1, n_components=n_components, tau=0.0, calibration_bins=500,
                      half_life_s=5.0, refit_s=2.0)
    for c in _latent_spikes(rng, mix, 500):
        f(c)
    assert f.carry_ is None and f.n_refits == 0  # the first estimate has nothing to carry
    old = f.projection.copy()
    for c in _latent_spikes(rng, 3.0 * mix, 100):  # deeper modulation: the scales move
        f(c)
    assert f.n_refits == 1
    cov = f.second_[0] - np.outer(f.mean_[0], f.mean_[0])
    new, M = f.projection[0], f.carry_[0]
    cross, gram = old[0] @ cov @ new.T, new @ cov @ new.T
    np.testing.assert_allclose(M @ gram, cross, atol=1e-9 * np.abs(cross).max())
    if n_components is None:  # z-scores: the ratio of the new and old standard deviations
        np.testing.assert_allclose(np.diag(M), np.diag(old[0]) / np.diag(new), rtol=1e-12)
        assert np.count_nonzero(M - np.diag(np.diag(M))) == 0
    else:  # whitened: the new features are white on the statistics, so M = A_old C A_new^T
        np.testing.assert_allclose(gram, np.eye(2), atol=1e-9)
        # the old features' variance on the new statistics, diag(M M^T), grew with the spikes
        assert (np.diag(M @ M.T) > 1.3).all()


def test_the_map_solves_the_normal_equations_when_components_outnumber_the_rank():
    # two silent units: the correlation matrix has rank 6 of 8, so 7 components clamp one
    # eigenvalue; M = A_old C A_new^T (A_new C A_new^T)^+ still solves the normal equations
    rng = np.random.default_rng(6)
    mix = rng.normal(size=(8, 2))
    f = SpikeFeatures(8, 1, n_components=7, tau=0.0, calibration_bins=500, half_life_s=5.0,
                      refit_s=2.0)

    def spikes(scale, n):
        c = _latent_spikes(rng, scale * mix, n)
        c[:, :, :2] = 0.0
        return c

    for c in spikes(1.0, 600):
        f(c)
    assert f.n_refits == 1
    old = f.projection[0].copy()
    for c in spikes(3.0, 100):
        f(c)
    cov = f.second_[0] - np.outer(f.mean_[0], f.mean_[0])
    new, M = f.projection[0], f.carry_[0]
    cross, gram = old @ cov @ new.T, new @ cov @ new.T
    assert np.abs(gram - np.eye(7)).max() > 0.5  # not white: the clamped component
    np.testing.assert_allclose(M @ gram, cross, atol=1e-8 * np.abs(cross).max())


def test_the_learners_carry_their_weights_and_pending_credit():
    """The outcome-weighted rule: carrying (W -> W M, pending y -> M^T y) commutes with learning
    from an evaluation still to come, and the decoded mean on the new features is the old one's
    wherever y_old = M y_new. The actor-critic: both weight vectors carried, traces cleared."""
    import copy

    from cogmodels.agents.reward_learners import ActorCriticLanes, OutcomeWeightedLanes

    rng = np.random.default_rng(5)
    M = rng.normal(size=(2, 3, 3))
    seeds = np.random.SeedSequence(0).spawn(2)
    ow = OutcomeWeightedLanes(3, 2, std=0.3, alpha=0.1, window=5, latency=2,
                              baseline_rate=0.05, min_std_fraction=0.25, seeds=seeds)
    ow.W[:] = rng.normal(size=ow.W.shape)
    for _ in range(6):  # fill the window and the latency with acted bins
        ow.act(rng.normal(size=(2, 3)), greedy=False)
        ow.learn(None, None, np.zeros(2), None, np.zeros(2, bool))
    ow.act(rng.normal(size=(2, 3)), greedy=False)
    r = np.array([1.0, -1.0])
    learn_first, carry_first = copy.deepcopy(ow), copy.deepcopy(ow)
    learn_first.learn(None, None, r, None, np.zeros(2, bool))
    learn_first.carry(M)
    carry_first.carry(M)
    carry_first.learn(None, None, r, None, np.zeros(2, bool))
    unjudged = copy.deepcopy(ow)
    unjudged.carry(M)
    assert np.abs(learn_first.W - unjudged.W).max() > 1e-4  # the evaluation moved the weights
    np.testing.assert_allclose(carry_first.W, learn_first.W, rtol=1e-12, atol=1e-15)
    y_new = rng.normal(size=(2, 3))
    y_old = np.einsum("lkj,lj->lk", M, y_new)
    np.testing.assert_allclose(carry_first.act(y_new, greedy=True),
                               learn_first.act(y_new, greedy=True), rtol=1e-12)
    before = copy.deepcopy(ow)
    ow.carry(M)
    np.testing.assert_allclose(ow.act(y_new, greedy=True), before.act(y_old, greedy=True),
                               rtol=1e-12)
    ac = ActorCriticLanes(3, 2, std=0.3, alpha_actor=0.01, alpha_critic=0.05, credit="window",
                          max_window=10, seeds=seeds)
    for a in ac.agents:
        a.W[:], a.w[:] = rng.normal(size=a.W.shape), rng.normal(size=a.w.shape)
        a.update(rng.normal(size=3), rng.normal(size=2), 0.0, rng.normal(size=3))
    before = [(a.W.copy(), a.w.copy()) for a in ac.agents]
    ac.carry(M)
    for i, (a, (W, w)) in enumerate(zip(ac.agents, before)):
        np.testing.assert_allclose(a.W, np.c_[W[:, :3] @ M[i], W[:, 3]], rtol=1e-12)
        np.testing.assert_allclose(a.w, np.r_[w[:3] @ M[i], w[3]], rtol=1e-12)
        assert a._e_W is None and a._e_w is None  # the old features' traces are cleared


def test_the_carried_policy_keeps_what_it_learnt_on_an_m1_like_population():
    """On the full_m1 realism (a large shared drive) the outcome-weighted decoder with the
    running features learns and then, re-whitened under its old weights, unlearns; carried
    through each re-estimate (W -> W M) it keeps its rate (RESULTS, thirty-sixth wave)."""
    from cogmodels.envs.bci.realism import realism

    rates = {}
    for carry in (True, False):
        env = CursorBCIVector(num_envs=4, n_trials=10**6, drift="typical",
                              error_signal="realistic", **realism("full_m1"))
        env.reset(seed=0, options={"day": 0})
        dec = RewardDecoder(96, 4, calibration_s=30.0, seed=0, carry_policy=carry)
        pm = per_minute(dec.train(env, seconds=660.0, options={"day": 0}))
        rate = pm[pm.minute < 11].successes_per_min
        rates[carry] = (rate.max(), rate.iloc[-3:].mean())
    (peak, last), (peak_old, last_old) = rates[True], rates[False]
    assert last > 15.0 and last >= 0.85 * peak, rates
    assert last_old < 0.5 * peak_old, rates  # the defect the carry mends, still there without it


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"carry_policy": "yes"}, "carry_policy must be"),
        ({"credit": "episode"}, "credit must be one of ['window', 'step'], got 'episode'"),
        ({"rule": "sarsa"}, "rule must be one of ['outcome_weighted', 'actor_critic'], got 'sarsa'"),
        ({"n_components": 0}, "n_components must be an integer in [1, n_units=192] or None, got 0"),
        ({"n_components": 500}, "[1, n_units=192] or None, got 500"),
        ({"n_lanes": 1.5}, "n_lanes must be an integer >= 1, got 1.5"),
        ({"std": 0.0}, "std must be a finite number in (0, inf), got 0.0"),
        ({"tau": -1}, "tau must be a finite number in [0, inf), got -1"),
        ({"calibration_s": "long"}, "calibration_s must be a finite number in (0, inf), got 'long'"),
        ({"half_life_s": 0}, "half_life_s must be a finite number in (0, inf), got 0"),
        ({"alpha": -0.1}, "alpha must be a finite number in [0, inf), got -0.1"),
        ({"min_std_fraction": 0}, "min_std_fraction must be a finite number in (0, 1], got 0"),
        ({"max_window_s": 0}, "max_window_s must be a finite number in (0, inf), got 0"),
        ({"error_signal": "dense"}, "error_signal must be None or one of ['idealised'"),
    ],
)
def test_bad_arguments_raise_naming_them(kwargs, message):
    with pytest.raises(ValueError) as err:
        RewardDecoder(**kwargs)
    assert message in str(err.value)


def test_bad_run_arguments_raise_naming_them():
    dec = RewardDecoder(calibration_s=1, seed=0)
    env = _env()
    with pytest.raises(ValueError, match=r"seconds and n_bins.*seconds=None.*n_bins=None"):
        dec.train(env)
    with pytest.raises(ValueError, match=r"seconds and n_bins.*seconds=1.*n_bins=5"):
        dec.train(env, seconds=1, n_bins=5)
    with pytest.raises(ValueError, match=r"n_bins must be an integer >= 1, got 0"):
        dec.train(env, n_bins=0)
    with pytest.raises(ValueError, match=r"seconds must be a finite number in \(0, inf\), got -2"):
        dec.train(env, seconds=-2)
    with pytest.raises(ValueError, match=r"env has 3 lanes but the decoder n_lanes=1"):
        dec.train(CursorBCIVector(num_envs=3, error_signal="realistic"), n_bins=1)
    with pytest.raises(ValueError, match=r"env has 64 units but the decoder n_units=192"):
        dec.train(CursorBCI(n_units=64, error_signal="realistic"), n_bins=1)
    with pytest.raises(ValueError, match=r"needs the timing of an error signal.*got neither"):
        RewardDecoder(calibration_s=1).train(CursorBCI(), n_bins=1)
    with pytest.raises(TypeError, match=r"takes no agent arguments, got \['gamma'\]"):
        RewardDecoder(gamma=0.5)
    with pytest.raises(ValueError, match=r"minutes must be a finite number in \(0, inf\), got 0"):
        per_minute(pd.DataFrame({"subject": [], "time": []}), minutes=0)


def test_per_minute_by_subject_keeps_subjects_that_do_not_learn():
    """A mean over subjects can pass a threshold no subject holds: one row per subject and minute,
    a minute without a trial at 0."""
    hist = pd.DataFrame({"subject": [0, 0, 0, 1, 0, 0],
                         "time": [10.0, 20.0, 30.0, 50.0, 70.0, 130.0],
                         "success": [True, True, False, True, True, True],
                         "time_to_target": [1.0, 2.0, np.nan, 3.0, 1.5, 0.5]})
    each = per_minute(hist, by_subject=True)
    assert list(each.columns) == ["subject", "minute", "n_trials", "success_rate",
                                  "successes_per_min", "time_to_target"]
    assert each[["subject", "minute"]].values.tolist() == [[0, 0], [0, 1], [0, 2],
                                                           [1, 0], [1, 1], [1, 2]]
    assert each.successes_per_min.tolist() == [2.0, 1.0, 1.0, 1.0, 0.0, 0.0]
    assert each.n_trials.tolist() == [3, 1, 1, 1, 0, 0]
    assert np.isnan(each.success_rate.iloc[4])
    pooled = per_minute(hist)  # successes per subject: the mean over the two subjects
    assert pooled.successes_per_min.tolist() == each.groupby("minute").successes_per_min.mean().tolist()
    half = per_minute(hist, 0.5, by_subject=True)
    assert half.minute.unique().tolist() == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert half[half.subject == 0].successes_per_min.tolist() == [4.0, 0.0, 2.0, 0.0, 2.0]
    with pytest.raises(ValueError, match="by_subject must be True or False, got 1"):
        per_minute(hist, by_subject=1)


def test_greedy_policy_steps_the_mean_decoder():
    from cogmodels.agents.decoders.reward import GreedyPolicy

    with pytest.raises(ValueError, match="decoder must be trained first"):
        GreedyPolicy(RewardDecoder(calibration_s=1, error_signal="realistic"))
    with pytest.raises(TypeError, match="decoder must be a RewardDecoder, got dict"):
        GreedyPolicy({})
    dec = RewardDecoder(calibration_s=2, seed=0)
    dec.train(_env(target_radius=0.15), seconds=6, seed=0)
    policy = GreedyPolicy(dec).reset()
    counts = np.random.default_rng(0).poisson(2.0, size=(1, 192))
    twin = copy.deepcopy(dec)
    v = policy.step(counts)
    np.testing.assert_allclose(v, twin.learner.act(twin.features(counts), greedy=True))
    assert v.shape == (1, 2)


def test_the_reward_decoder_is_an_agent_that_rollout_drives_in_single_and_vector_envs():
    """run() drives the decoder's agent; rollout drives the same agent. One copy of the vector
    cursor and the single cursor give the same steps and the same learnt weights (sessions of 2
    trials end and restart within the 30 s); with learn=False the weights change only by being
    carried through the features' re-estimates (W -> W M)."""
    from cogmodels.rollout import rollout

    kw = {"n_trials": 2, "error_signal": "realistic", "n_units": 32, "timeout": 2.0}

    def play(env, learn=True, dec=None, n_steps=1500):
        dec = dec or RewardDecoder(32, calibration_s=2, seed=0, error_signal="realistic")
        table = rollout(dec.as_agent(learn=learn), env, n_steps=n_steps, seed=2, record="steps")
        return dec, table

    dec_single, single = play(CursorBCI(**kw))
    dec_vector, vector = play(CursorBCIVector(num_envs=1, autoreset_mode="same_step", **kw))
    columns = ["session", "step", "trial", "time", "action_0", "action_1", "reward", "terminated"]
    pd.testing.assert_frame_equal(vector[columns], single[columns])
    assert single["session"].max() >= 1 and dec_single.n_bins == 1500
    np.testing.assert_array_equal(dec_vector.weights(), dec_single.weights())
    assert np.abs(dec_single.weights()).sum() > 0  # it learnt from the reward after calibrating
    expected = dec_single.weights()
    carry, maps = dec_single.learner.carry, []

    def record(M):
        maps.append(M.copy())
        carry(M)

    dec_single.learner.carry = record
    refits = dec_single.features.n_refits
    play(CursorBCI(**kw), learn=False, dec=dec_single, n_steps=300)
    # 6 s of spikes, re-estimated every 5 s of them: carried once per re-estimate
    assert len(maps) == dec_single.features.n_refits - refits >= 1
    greedy = GreedyPolicy(dec_single)
    refits, carried = dec_single.features.n_refits, len(maps)
    for c in np.random.default_rng(0).poisson(1.0, size=(300, 1, 32)):
        greedy.step(c)  # the greedy policy's features re-estimate and carry it too
    assert len(maps) - carried == dec_single.features.n_refits - refits >= 1
    for M in maps:
        expected[:, :, :-1] = np.einsum("lik,lkj->lij", expected[:, :, :-1], M)
    np.testing.assert_allclose(dec_single.weights(), expected, rtol=1e-12, atol=1e-12)


def test_the_reward_decoder_agent_checks_its_arguments():
    from cogmodels.agents.decoders.reward import RewardDecoderAgent

    with pytest.raises(TypeError, match="decoder must be a RewardDecoder, got str"):
        RewardDecoderAgent("decoder")
    with pytest.raises(ValueError, match="decoder has no learner yet"):
        RewardDecoder(32).as_agent()
    dec = RewardDecoder(32, error_signal="realistic")
    with pytest.raises(ValueError, match="greedy"):
        dec.as_agent(greedy="yes")
    with pytest.raises(ValueError, match="n_lanes must be the decoder's 1 lanes, got 2"):
        dec.as_agent().initial_state(2)


def test_progress_is_a_bool_and_the_report_a_callback():
    """The glossary's progress: a bool (a bar); the per-stretch report is callback=; a callable
    progress and progress_every_s, the old spellings, still work with a DeprecationWarning."""
    env = CursorBCI(n_trials=10**6, error_signal="realistic", n_units=32)
    reports: list[dict] = []
    dec = RewardDecoder(32, calibration_s=1, seed=0)
    dec.train(env, n_bins=100, seed=0, progress=False, callback=reports.append, callback_every_s=0.5)
    assert [r["time_s"] for r in reports] == pytest.approx([0.5, 1.0, 1.5, 2.0])
    old: list[dict] = []
    with pytest.warns(DeprecationWarning) as record:
        RewardDecoder(32, calibration_s=1, seed=0).train(env, n_bins=100, seed=0, progress=old.append,
                                                         progress_every_s=0.5)
    assert sorted(str(w.message).split(" is deprecated")[0] for w in record) == [
        "a callable progress", "progress_every_s"]
    assert [r["time_s"] for r in old] == [r["time_s"] for r in reports]
    assert [r["n_trials"] for r in old] == [r["n_trials"] for r in reports]
    with pytest.raises(ValueError, match="progress must be True or False, got 1"):
        dec.train(env, n_bins=10, progress=1)
    with pytest.raises(TypeError, match="callback must be a callable taking a dict or None, got 3"):
        dec.train(env, n_bins=10, callback=3)


def test_run_plays_vector_sessions_that_end():
    """A vector cursor whose sessions end (autoreset on the next step, where every lane resets at once): run()
    plays on across the session ends (it raised KeyError: 'trial_completed') and numbers each
    lane's trials in order."""
    env = CursorBCIVector(num_envs=2, n_trials=2, error_signal="realistic", n_units=32, timeout=1.0)
    h = RewardDecoder(32, 2, calibration_s=1, seed=0).train(env, seconds=8, seed=0)
    assert list(h.columns[:3]) == ["subject", "trial", "time"]
    assert h.groupby("subject").size().min() > 2  # more trials than one session holds
    for _, lane in h.groupby("subject"):
        assert lane["trial"].tolist() == list(range(len(lane)))
    # a table written before lane / time_s became subject / time: the error gives the rename
    old = h.rename(columns={"subject": "lane", "time": "time_s"})
    with pytest.raises(ValueError, match=re.escape(
            "history must be a trial table of RewardDecoder.run with the column(s) ['subject', "
            "'time']; it has ['lane', 'trial', 'time_s', ") + r".*'lane' is the old name of "
            r"'subject', 'time_s' is the old name of 'time': rename with history = "
            + re.escape("history.rename(columns={'lane': 'subject', 'time_s': 'time'})")):
        per_minute(old)
    pd.testing.assert_frame_equal(per_minute(old.rename(columns={"lane": "subject", "time_s": "time"})),
                                  per_minute(h))


def test_the_trial_log_reads_each_lanes_own_outcomes_in_single_envs():
    """The agent's TrialLog in rollout over two single cursors: each lane's rows hold that
    lane's trials, as rollout's own trial table (RecordTrials) gives them."""
    from cogmodels.agents.decoders.reward import RewardDecoderAgent, TrialLog
    from cogmodels.rollout import rollout

    envs = [CursorBCI(n_trials=10**6, error_signal="realistic", n_units=32, timeout=1.0,
                      hold_time=0.1, target_radius=0.15) for _ in range(2)]
    dec = RewardDecoder(32, 2, calibration_s=1, seed=0, error_signal="realistic")
    log = TrialLog(2, dec.dt, 400)
    table = rollout(RewardDecoderAgent(dec, log=log), envs, n_steps=400, seed=1)
    mine = log.table()
    assert sorted(set(mine["subject"])) == [0, 1] and len(mine) == len(table)
    for lane in (0, 1):
        ours, theirs = mine[mine["subject"] == lane], table[table["subject"] == lane]
        assert ours["trial"].tolist() == list(range(len(theirs)))
        assert ours["success"].tolist() == theirs["success"].astype(bool).tolist()
        np.testing.assert_array_equal(ours["trial_time"], theirs["trial_time"])
    with pytest.raises(TypeError, match="log must be a TrialLog or None, got list"):
        RewardDecoderAgent(dec, log=[])
