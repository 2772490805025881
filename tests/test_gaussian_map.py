"""GaussianMapInference: a Gaussian posterior over a 2 x k read-out map from the error signal."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from cogmodels.agents.decoders.gaussian_map import GaussianMapInference, gaussian_map_sessions
from cogmodels.agents.decoders.map_inference import (
    ErrorMapInference,
    JudgedWindow,
    channel_kwargs,
    error_probability,
    learner_sessions,
)
from cogmodels.agents.decoders.meta_rnn import MetaDecoderConfig
from cogmodels.agents.spike_features import SpikeFeatures

H, F, KAPPA = 0.75, 0.03, 3.0


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=(-2, -1)) / (np.linalg.norm(a, axis=(-2, -1)) * np.linalg.norm(b, axis=(-2, -1)))


def _on_vec(M: np.ndarray) -> np.ndarray:
    """``T = I_2 ⊗ M^T`` per lane: ``W -> W M`` on ``vec(W)`` (rows one after the other)."""
    n, k, _ = M.shape
    T = np.zeros((n, 2 * k, 2 * k))
    T[:, :k, :k] = T[:, k:, k:] = np.transpose(M, (0, 2, 1))
    return T


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
    lane above 0.8; at the start the cosines are a random draw's)."""
    n, k = 6, 6
    true_map = np.random.default_rng(42).standard_normal((n, 2, k))
    learner = GaussianMapInference(n, k, hit_rate=H, false_alarm_rate=F, sharpness=KAPPA,
                                   interval_bins=5, latency_bins=0, spread=1.0, seed=3)
    start = _cos(learner.mean_map(), true_map)
    _simulated_channel(learner, true_map, 3000)
    end = _cos(learner.mean_map(), true_map)
    assert np.median(end) > 0.93 and end.min() > 0.8, end
    assert np.median(end) - np.median(start) > 0.5, (start, end)


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
    T = _on_vec(M)
    np.testing.assert_allclose(learner.cov, T @ before_cov @ np.transpose(T, (0, 2, 1)), atol=1e-12)
    # the judged window is re-expressed in the new features: M z_window_new = z_window_old
    np.testing.assert_allclose(np.einsum("lij,lj->li", M, learner.window.z[1]), z_old, atol=1e-10)
    assert learner.n_carried == 1


def _features(n: int, k: int) -> SpikeFeatures:
    """Real spike features re-estimated every 5 bins after a 10-bin calibration."""
    return SpikeFeatures(8, n, n_components=k, dt=0.02, calibration_bins=10, half_life_s=1.0,
                         refit_s=0.1)


def test_the_map_follows_each_re_estimate_of_the_features_once():
    """Each re-estimate carries the posterior once, by that re-estimate's ``M`` (none before the
    first re-estimate); without ``features`` nothing is carried."""
    n, k = 2, 3
    feats = _features(n, k)
    learner = GaussianMapInference(n, k, features=feats, seed=0)
    plain = GaussianMapInference(n, k, seed=0)
    rng = np.random.default_rng(0)
    carried = []
    for _ in range(40):
        z = feats(rng.poisson(3.0, (n, 8)))
        before = learner.mean.copy()
        learner.act(z)
        plain.act(z)
        if learner.n_carried > len(carried):
            M = feats.carry_
            T = _on_vec(M)
            np.testing.assert_allclose(learner.mean, np.einsum("lij,lj->li", T, before))
            carried.append(feats.n_refits)
    assert feats.n_refits == 6  # bins 15, 20, ..., 40
    assert learner.n_carried == 6 and carried == [1, 2, 3, 4, 5, 6]
    assert plain.n_carried == 0


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
    ({"features": _features(2, 5)}, "features must give n_features=3"),
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
    """``a = tanh(g rho W z / ||W||)``: with the draws at the mean (``spread=0``) the velocity
    before the ``tanh`` is exactly ``g rho`` times the unit map's; ``rho``, the mean's share of
    the posterior's second moment, is small at the prior and falls as the posterior widens."""
    n, k = 2, 3
    learner = GaussianMapInference(n, k, speed=0.4, spread=0.0, seed=0)
    m2 = (learner.mean**2).sum(axis=1)
    np.testing.assert_allclose(learner.confidence(), m2 / (m2 + 2 * k))
    assert (learner.confidence() < 0.05).all()
    mean = np.tile(np.arange(1.0, 2 * k + 1), (n, 1))
    unit = mean.reshape(n, 2, k) / np.linalg.norm(mean[0])
    z = np.ones((n, k))
    for scale in (1.0, 4.0):
        learner.mean, learner.cov = mean.copy(), np.tile(scale * np.eye(2 * k), (n, 1, 1))
        learner._t = 0  # a new interval: a new draw
        rho = (mean[0] ** 2).sum() / ((mean[0] ** 2).sum() + scale * 2 * k)
        np.testing.assert_allclose(np.arctanh(learner.act(z)), 0.4 * rho * np.einsum("lij,lj->li", unit, z))
        np.testing.assert_allclose(learner.confidence(), rho)


def _filled(n: int = 2, k: int = 3, evaluations: int = 60, **kwargs) -> GaussianMapInference:
    """A learner that has stored ``evaluations`` per lane from the simulated channel (no refit)."""
    learner = GaussianMapInference(n, k, interval_bins=5, latency_bins=0, refit_every=10**6,
                                   seed=1, **kwargs)
    _simulated_channel(learner, np.random.default_rng(4).standard_normal((n, 2, k)), 5 * evaluations)
    return learner


def test_the_gradient_and_the_fisher_information_are_the_log_posteriors():
    """``_curvature``'s gradient is the log posterior's (central differences), and its data term
    is the expected negative Hessian of each evaluation's log likelihood in ``eta``."""
    learner = _filled()
    x, error = learner._design(0)
    w = np.random.default_rng(2).standard_normal(learner.n_params)
    gradient, precision = learner._curvature(0, w, x, error)
    eps, numeric = 1e-6, np.empty_like(w)
    for i in range(len(w)):
        e = np.zeros_like(w)
        e[i] = eps
        numeric[i] = (learner._log_posterior(0, w + e, x, error)
                      - learner._log_posterior(0, w - e, x, error)) / (2 * eps)
    np.testing.assert_allclose(gradient, numeric, rtol=1e-6, atol=1e-6)
    # one evaluation: E[-d2/deta2 log p] over its outcome = the Fisher weight of _curvature
    eta, h = 0.7, 1e-4
    p = lambda t: error_probability(np.asarray(t), H, F, 1.0)  # noqa: E731
    second = lambda f: (f(eta + h) - 2 * f(eta) + f(eta - h)) / h**2  # noqa: E731
    expected = -(p(eta) * second(lambda t: np.log(p(t))) + (1 - p(eta)) * second(lambda t: np.log(1 - p(t))))
    one = GaussianMapInference(1, 1, hit_rate=H, false_alarm_rate=F, sharpness=1.0, seed=0)
    one._prior_precision = np.zeros((1, 2, 2))
    _, fisher = one._curvature(0, np.array([eta, 0.0]), np.array([[1.0, 0.0]]), np.array([True]))
    np.testing.assert_allclose(fisher[0, 0], expected, rtol=1e-4)


def test_a_refit_converges_to_the_mode_and_its_covariance_is_the_inverse_precision():
    learner = _filled(steps=50)
    x, error = learner._design(0)
    start, _ = learner._curvature(0, learner.mean[0], x, error)
    learner._refit(0)
    gradient, precision = learner._curvature(0, learner.mean[0], x, error)
    assert np.abs(gradient).max() < 1e-4 * np.abs(start).max(), (np.abs(start).max(), gradient)
    np.testing.assert_allclose(learner.cov[0] @ precision, np.eye(learner.n_params), atol=1e-9)


@pytest.mark.parametrize("orthogonal", [True, False])
def test_carrying_keeps_every_stored_evaluation_and_the_prior(orthogonal):
    """Through ``carry(M)`` the prior is carried (``T mu0``, ``T Sigma0 T^T``) and each stored
    summed feature ``s`` becomes ``M^+ s``, so the log posterior at the carried map is unchanged
    (up to the prior's 1e-6 ridge), for an orthogonal ``M`` and for one that is not."""
    learner = _filled()
    n, k = learner.n_lanes, learner.n_features
    x, error = learner._design(0)
    w = np.random.default_rng(3).standard_normal(learner.n_params)
    before = learner._log_posterior(0, w, x, error)
    stored = np.asarray(learner._s[0])
    prior_mean, prior_cov = learner._prior_mean.copy(), learner._prior_cov.copy()
    rng = np.random.default_rng(5)
    if orthogonal:
        M = np.linalg.qr(rng.standard_normal((n, k, k)))[0]
    else:
        M = rng.standard_normal((n, k, k)) + 2.0 * np.eye(k)
    learner.carry(M)
    T = _on_vec(M)
    np.testing.assert_allclose(np.asarray(learner._s[0]), stored @ np.linalg.inv(M[0]).T, atol=1e-9)
    np.testing.assert_allclose(learner._prior_mean, np.einsum("lij,lj->li", T, prior_mean))
    np.testing.assert_allclose(learner._prior_cov, T @ prior_cov @ np.transpose(T, (0, 2, 1)))
    x, error = learner._design(0)
    assert learner._log_posterior(0, T[0] @ w, x, error) == pytest.approx(before, abs=1e-3)


def test_a_carry_through_a_shrinking_map_keeps_the_stored_features_bounded():
    """``M`` with a tiny singular value: ``M^+`` drops it (rcond 1e-2) and no stored feature's norm
    passes 10, however many carries."""
    learner = _filled()
    M = np.tile(np.diag([1.0, 0.3, 1e-4]), (learner.n_lanes, 1, 1))
    for _ in range(30):
        learner.carry(M)
    norms = np.linalg.norm(np.asarray(learner._s[0]), axis=1)
    assert norms.max() <= 10.0 + 1e-9
    assert np.isfinite(learner.cov).all() and np.isfinite(learner._prior_precision).all()
    learner._refit(0)
    assert np.isfinite(learner.mean).all()


def test_in_a_session_on_the_simulator_it_carries_and_hears_only_the_feedback():
    """On the meta-decoder's task the map is carried at the features' re-estimates; with the
    feedback input cut (``inputs="none"``, the ablation) no evaluation reaches it."""
    learners = {}

    def make(inputs):
        def build(env):
            learners[inputs] = GaussianMapInference(env.num_envs, env.n_features,
                                                    features=env.features, seed=0,
                                                    **channel_kwargs(env))
            return learners[inputs]
        return build

    for inputs in ("error", "none"):
        learner_sessions(MetaDecoderConfig(n_components=3, inputs=inputs), [0, 5], make(inputs), 30.0,
                         seed=2)
    assert learners["error"].n_carried > 0 and (learners["error"].n_evaluations > 10).all()
    assert learners["none"].n_carried == learners["error"].n_carried
    assert (learners["none"].n_evaluations == 0).all()
