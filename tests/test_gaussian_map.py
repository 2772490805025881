"""GaussianMapInference: a Gaussian posterior over a 2 x k read-out map from the error signal."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from cogmodels.agents.decoders.gaussian_map import GaussianMapInference, gaussian_map_sessions
from cogmodels.agents.decoders.map_inference import (
    ErrorMapInference,
    JudgedWindow,
    error_probability,
)
from cogmodels.agents.decoders.meta_rnn import MetaDecoderConfig

H, F, KAPPA = 0.75, 0.03, 3.0


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=(-2, -1)) / (np.linalg.norm(a, axis=(-2, -1)) * np.linalg.norm(b, axis=(-2, -1)))


def _simulated_channel(learner: GaussianMapInference, true_map: np.ndarray, n_bins: int,
                       seed: int = 0) -> list[np.ndarray]:
    """Drive ``learner`` with white features; every ``I`` bins an evaluation drawn from the model.

    The evaluation of the last ``I`` bins (latency 0) is an error with probability
    ``f + (h - f) sigmoid(-kappa cos(D, W* S))``: the learner's own likelihood, with a known map.
    """
    rng = np.random.default_rng(seed)
    n, k, interval = learner.n_lanes, learner.n_features, learner.interval_bins
    actions = []
    for t in range(n_bins):
        z = rng.standard_normal((n, k))
        actions.append(learner.act(z))
        feedback = np.zeros(n)
        if (t + 1) % interval == 0:
            zs, a = learner.window.judged()
            u = np.einsum("lab,lb->la", true_map, zs.sum(axis=0))
            d = a.sum(axis=0)
            cos = (d * u).sum(1) / (np.linalg.norm(d, axis=1) * np.linalg.norm(u, axis=1))
            error = rng.random(n) < error_probability(cos, H, F, KAPPA)
            feedback = np.where(error, -1.0, 1.0)
        learner.observe(feedback)
    return actions


def test_error_probability_is_the_channel_on_the_cosine():
    cos = np.array([-1.0, 0.0, 1.0])
    p = error_probability(cos, H, F, KAPPA)
    np.testing.assert_allclose(p, F + (H - F) / (1.0 + np.exp(KAPPA * cos)))
    assert p[1] == pytest.approx((H + F) / 2)
    assert p[0] > p[1] > p[2] > F


def test_the_grid_learner_keeps_its_likelihood_bytes():
    """ErrorMapInference now computes its likelihood with error_probability: the same bytes."""
    learner = ErrorMapInference(3, seed=0)
    d = np.array([[1.0, 0.2], [-0.3, 0.5], [0.0, 1.0]])[:, None, :]
    u = np.random.default_rng(1).standard_normal((3, 72, 2))
    cos = (d * u).sum(-1) / (np.linalg.norm(d, axis=-1) * np.linalg.norm(u, axis=-1) + 1e-9)
    want = learner.false_alarm_rate + (learner.hit_rate - learner.false_alarm_rate) / (
        1.0 + np.exp(learner.sharpness * cos))
    assert np.array_equal(learner._p_error(d, u), want)


def test_the_judged_window_holds_k_features():
    w = JudgedWindow(2, interval_bins=3, latency_bins=1, n_features=5)
    for t in range(5):
        w.push(np.full((2, 5), float(t)), np.full((2, 2), -float(t)))
    z, a = w.judged()
    assert z.shape == (3, 2, 5) and a.shape == (3, 2, 2)
    assert z[:, 0, 0].tolist() == [3.0, 2.0, 1.0]  # latency 1: the latest bin is not judged yet


def test_it_recovers_a_known_map_from_the_evaluations_alone():
    """White features, evaluations from the channel with a known 2 x 6 map per lane (the cosine
    form, not the learner's linear one), Thompson sampling (``spread=1``): after 600
    evaluations the posterior mean points along the true map (cosine: median above 0.93, every
    lane above 0.8; at the start the cosines are a random draw's, mean |cos| below 0.3)."""
    n, k = 6, 6
    true_map = np.random.default_rng(42).standard_normal((n, 2, k))
    learner = GaussianMapInference(n, k, hit_rate=H, false_alarm_rate=F, sharpness=KAPPA,
                                   interval_bins=5, latency_bins=0, spread=1.0, seed=3)
    start = _cos(learner.mean_map(), true_map)
    _simulated_channel(learner, true_map, 3000)
    end = _cos(learner.mean_map(), true_map)
    assert np.abs(start).mean() < 0.3, start
    assert np.median(end) > 0.93 and end.min() > 0.8, end


def test_without_evaluations_nothing_is_learnt():
    n, k = 3, 4
    learner = GaussianMapInference(n, k, seed=0)
    mean, cov = learner.mean.copy(), learner.cov.copy()
    rng = np.random.default_rng(0)
    for _ in range(100):
        learner.act(rng.standard_normal((n, k)))
        learner.observe(np.zeros(n))
    assert np.array_equal(learner.mean, mean) and np.array_equal(learner.cov, cov)


def test_the_posterior_changes_at_each_refit_only_and_narrows():
    """Evaluations are stored; every ``refit_every``-th of a lane refits its posterior, which is
    then narrower than the prior."""
    n, k = 2, 3
    learner = GaussianMapInference(n, k, interval_bins=4, latency_bins=0, refit_every=3, seed=0)
    rng = np.random.default_rng(1)
    prior = np.trace(learner.cov, axis1=1, axis2=2)
    changes = []
    for t in range(48):
        learner.act(rng.standard_normal((n, k)))
        cov = learner.cov.copy()
        learner.observe(np.where(rng.random(n) < 0.5, -1.0, 1.0) if (t + 1) % 4 == 0 else np.zeros(n))
        changes.append(not np.array_equal(cov, learner.cov))
    assert learner.n_evaluations.tolist() == [12, 12]
    assert [t for t, c in enumerate(changes) if c] == [11, 23, 35, 47]  # evaluations 3, 6, 9, 12
    assert (np.trace(learner.cov, axis1=1, axis2=2) < prior).all()


def test_the_same_seed_gives_the_same_bytes():
    def run(seed):
        learner = GaussianMapInference(3, 5, interval_bins=5, latency_bins=0, seed=seed)
        true_map = np.random.default_rng(7).standard_normal((3, 2, 5))
        acts = np.stack(_simulated_channel(learner, true_map, 200, seed=11))
        return hashlib.sha256(acts.tobytes() + learner.cov.tobytes()).hexdigest()

    assert run(0) == run(0)
    assert run(0) != run(1)


def test_carrying_keeps_the_decoded_velocity_and_transforms_the_posterior():
    """``y_old = M y_new``: after ``carry(M)`` the map is ``W M``, its covariance ``T Σ Tᵀ``,
    and the held draw decodes ``z_new`` as it decoded ``z_old``."""
    n, k = 2, 4
    rng = np.random.default_rng(5)
    learner = GaussianMapInference(n, k, interval_bins=10, latency_bins=2, seed=0)
    learner.cov = learner.cov + 0.1 * np.einsum("lij,lkj->lik", *(2 * [rng.standard_normal((n, 8, 8))]))
    learner.act(rng.standard_normal((n, k)))  # draws the held map
    M = rng.standard_normal((n, k, k)) + 2 * np.eye(k)
    z_new = rng.standard_normal((n, k))
    z_old = np.einsum("lij,lj->li", M, z_new)
    before_map, before_cov, before = learner.mean_map(), learner.cov.copy(), learner.act(z_old)
    learner.carry(M)
    after = learner.act(z_new)
    np.testing.assert_allclose(after, before, atol=1e-12)
    np.testing.assert_allclose(learner.mean_map(), before_map @ M, atol=1e-12)
    T = np.zeros((n, 2 * k, 2 * k))
    T[:, :k, :k] = T[:, k:, k:] = np.transpose(M, (0, 2, 1))
    np.testing.assert_allclose(learner.cov, T @ before_cov @ np.transpose(T, (0, 2, 1)), atol=1e-12)
    # the judged window is re-expressed in the new features: M z_window_new = z_window_old
    np.testing.assert_allclose(np.einsum("lij,lj->li", M, learner.window.z[1]), z_old, atol=1e-10)
    assert learner.n_carried == 1


class _Features:
    """A stand-in for SpikeFeatures: a count of re-estimates and the latest carry map."""

    def __init__(self, n: int, k: int) -> None:
        self.n_features, self.n_refits, self.carry_ = k, 0, None
        self._n = n

    def refit(self, M: np.ndarray | None) -> None:
        self.n_refits += 1
        self.carry_ = M


def test_the_map_follows_each_re_estimate_of_the_features_once():
    n, k = 2, 3
    feats = _Features(n, k)
    learner = GaussianMapInference(n, k, features=feats, seed=0)
    z = np.ones((n, k))
    learner.act(z)
    assert learner.n_carried == 0
    feats.refit(None)  # a first estimate: nothing to carry
    learner.act(z)
    learner.act(z)
    assert learner.n_carried == 0
    M = np.tile(2.0 * np.eye(k), (n, 1, 1))
    mean = learner.mean.copy()
    feats.refit(M)
    learner.act(z)
    learner.act(z)
    assert learner.n_carried == 1
    np.testing.assert_allclose(learner.mean, 2.0 * mean)
    learner2 = GaussianMapInference(n, k, features=None, seed=0)
    learner2.act(z)
    assert learner2.n_carried == 0


def test_a_gap_widens_the_posterior_by_the_drift_per_day():
    n, k = 3, 2
    learner = GaussianMapInference(n, k, drift_per_day=0.05, seed=0)
    cov, mean = learner.cov.copy(), learner.mean.copy()
    learner.new_session(gap_days=[0, 1, 4])
    np.testing.assert_allclose(learner.cov - cov, np.array([0.0, 0.05, 0.2])[:, None, None] * np.eye(2 * k))
    assert np.array_equal(learner.mean, mean)
    learner.new_session()
    np.testing.assert_allclose(learner.cov - cov, np.array([0.0, 0.05, 0.2])[:, None, None] * np.eye(2 * k))
    with pytest.raises(ValueError, match="gap_days must be"):
        learner.new_session(gap_days=[1, 2])
    with pytest.raises(ValueError, match="gap_days must be"):
        learner.new_session(gap_days=-1)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"speed": 0.0}, "speed"),
    ({"prior_sd": -1.0}, "prior_sd"),
    ({"init_sd": 0.0}, "init_sd"),
    ({"hit_rate": 0.1, "false_alarm_rate": 0.2}, "hit_rate must exceed false_alarm_rate"),
    ({"interval_bins": 0}, "interval_bins"),
    ({"drift_per_day": -0.1}, "drift_per_day"),
    ({"features": _Features(2, 5)}, "features must give n_features=3"),
])
def test_bad_arguments_are_refused_by_name(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GaussianMapInference(2, 3, **kwargs)


def test_bad_inputs_are_refused_with_the_shapes():
    learner = GaussianMapInference(2, 3, seed=0)
    with pytest.raises(ValueError, match=r"z must have shape \(2, 3\), got \(2, 2\)"):
        learner.act(np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"M must have shape \(2, 3, 3\), got \(3, 3\)"):
        learner.carry(np.eye(3))


def test_sessions_on_the_simulator_are_reproducible_and_need_components():
    config = MetaDecoderConfig(n_components=3)
    a = gaussian_map_sessions(config, [0, 5], 20.0, seed=3, then=[([1, 6], 10.0)])
    b = gaussian_map_sessions(config, [0, 5], 20.0, seed=3, then=[([1, 6], 10.0)])
    assert a.equals(b)
    assert set(a["session"]) == {0, 1}
    with pytest.raises(ValueError, match="config.n_components must be an int"):
        gaussian_map_sessions(MetaDecoderConfig(n_components=None), [0], 5.0)


def test_the_speed_grows_with_the_confidence():
    """``a = tanh(g rho W z / ||W||)``: ``rho`` is the mean's share of the posterior's second
    moment, small at the prior, and a wider posterior moves the cursor more slowly."""
    n, k = 2, 3
    learner = GaussianMapInference(n, k, speed=0.4, seed=0)
    m2 = (learner.mean**2).sum(axis=1)
    np.testing.assert_allclose(learner.confidence(), m2 / (m2 + 2 * k))
    assert (learner.confidence() < 0.05).all()
    learner.mean = np.tile(np.arange(1.0, 2 * k + 1), (n, 1))
    learner.cov = np.tile(np.eye(2 * k), (n, 1, 1))
    z = np.ones((n, k))
    sure = np.abs(learner.act(z)).sum()
    learner.cov = 4.0 * learner.cov
    learner._t = 0  # a new evaluation interval: a new draw
    assert np.abs(learner.act(z)).sum() < sure
