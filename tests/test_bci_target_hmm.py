"""PRI-T target HMM (Wilson et al. 2023): exact recursions and target inference on simulated reaches."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cogmodels.agents.decoders.target_hmm import TargetHMM, hmm_labels, infer_lanes, target_grid
from cogmodels.envs.bci.task import center_out_positions


def _reaches(rng, n_trials=20, kappa=2.0, dt=0.02, speed=0.4, hold=25, radius=0.075):
    """Centre-out reaches whose direction is von Mises(κ) around the target's; a click ends a hold."""
    targets = center_out_positions(8, 0.35)
    vel, cur, true, click = [], [], [], []
    for _ in range(n_trials):
        goal, p, held = targets[rng.integers(8)], np.zeros(2), 0
        while held < hold:
            e = goal - p
            if np.hypot(*e) <= radius:
                held += 1
                v = rng.normal(0.0, 0.05, 2)
            else:
                a = np.arctan2(e[1], e[0]) + rng.vonmises(0.0, kappa)
                v = speed * np.array([np.cos(a), np.sin(a)])
            vel.append(v)
            cur.append(p.copy())
            true.append(goal)
            click.append(held == hold)
            p = np.clip(p + dt * v, -0.5, 0.5)
    return np.array(vel), np.array(cur), np.array(true), np.array(click)


def _direction_accuracy(est, true, cursor):
    a, b = est - cursor, true - cursor
    moving = np.hypot(*b.T) > 0.075
    cos = (a * b).sum(1) / np.maximum(np.hypot(*a.T) * np.hypot(*b.T), 1e-12)
    return float(np.mean(cos[moving] >= np.cos(np.pi / 8)))


def test_structured_recursions_equal_the_dense_hmm():
    rng = np.random.default_rng(1)
    hmm = TargetHMM(rng.uniform(-0.5, 0.5, (4, 2)), stay=0.8)
    log_e = rng.normal(size=(5, 4))
    A = np.full((4, 4), (1 - 0.8) / 3)
    np.fill_diagonal(A, 0.8)
    # brute force over all 4^5 paths
    paths = np.array(list(itertools.product(range(4), repeat=5)))
    logp = (np.log(0.25) + log_e[np.arange(5), paths].sum(1)
            + np.log(A[paths[:, :-1], paths[:, 1:]]).sum(1))
    post, loglik = hmm.posterior(log_e)
    w = np.exp(logp - logp.max())
    dense = np.stack([np.bincount(paths[:, t], weights=w, minlength=4) for t in range(5)])
    np.testing.assert_allclose(post, dense / w.sum(), rtol=1e-10)
    assert loglik == pytest.approx(np.log(np.exp(logp).sum()), rel=1e-10)
    np.testing.assert_array_equal(hmm.viterbi(log_e), paths[np.argmax(logp)])


def test_emission_is_a_normalised_von_mises_far_from_the_target():
    hmm = TargetHMM(np.array([[0.4, 0.0], [-0.4, 0.0]]), kappa=3.0, slope=1e3)
    angles = np.linspace(-np.pi, np.pi, 2001)[:-1]
    v = np.stack([np.cos(angles), np.sin(angles)], 1)
    log_e = hmm.log_emission(v, np.zeros_like(v))
    np.testing.assert_allclose(np.exp(log_e).mean(0) * 2 * np.pi, 1.0, rtol=1e-6)
    assert np.argmax(log_e[:, 0]) == 1000  # angle 0 points at the first target


def test_hmm_infers_the_reach_direction_far_above_chance_with_or_without_the_click():
    v, cursor, true, click = _reaches(np.random.default_rng(0))
    hmm = TargetHMM(target_grid(0.5, 20), kappa=2.0)
    est, conf = hmm.infer(v, cursor)
    est_click, _ = hmm.infer(v, cursor, click)
    chance = _direction_accuracy(target_grid(0.5, 20)[np.random.default_rng(2).integers(
        400, size=len(v))], true, cursor)
    assert chance < 0.15  # a 45° cone of a uniform grid
    # seed 0: 0.87 without the click, 0.83 with it (per-bin click rate 0.04): the click pins
    # the end of each reach but does not sharpen the direction here
    assert _direction_accuracy(est, true, cursor) > 0.8
    assert _direction_accuracy(est_click, true, cursor) > 0.75
    assert np.all((conf > 0) & (conf <= 1))
    # what the click does add: where the target is once the cursor holds on it (seeds 0-11:
    # mean error 0.085 -> 0.056 widths, smaller with the click on every seed; seed 0 0.075 -> 0.057)
    holding = np.hypot(*(true - cursor).T) <= 0.075
    error = [np.hypot(*(e - true)[holding].T).mean() for e in (est, est_click)]
    assert error[1] < 0.85 * error[0], error


def test_hmm_labels_point_at_the_inferred_target_with_the_decoded_speed():
    v, cursor, true, click = _reaches(np.random.default_rng(3), n_trials=6)
    hmm = TargetHMM(target_grid(0.5, 20))
    labels, weights = hmm_labels(hmm, v[:, None], cursor[:, None], 0.075, click[:, None])
    speed = np.hypot(*labels[:, 0].T)
    moving = speed > 0
    np.testing.assert_allclose(speed[moving], np.hypot(*v[moving].T))
    assert labels.shape == (len(v), 1, 2) and weights.shape == (len(v), 1)
    assert np.all((weights > 0) & (weights <= 1))


@pytest.mark.parametrize("kwargs, match", [
    ({"stay": 1.0}, "stay"), ({"kappa": 0.0}, "kappa"), ({"click_hit": 0.0}, "click_hit"),
    ({"targets": np.zeros((1, 2))}, "targets"),
])
def test_bad_arguments_name_themselves(kwargs, match):
    args = {"targets": target_grid(0.5, 4), **kwargs}
    with pytest.raises(ValueError, match=match):
        TargetHMM(**args)


def test_bad_sequences_are_refused():
    hmm = TargetHMM(target_grid(0.5, 4))
    with pytest.raises(ValueError, match="cursor must be"):
        hmm.log_emission(np.zeros((5, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="click must have shape"):
        hmm.log_emission(np.zeros((5, 2)), np.zeros((5, 2)), np.zeros(4))


def _lane_by_lane(hmm, v, cursor, click):
    """The inference of each lane alone: the single-sequence recursions, one lane at a time."""
    goals, conf = [], []
    for lane in range(v.shape[1]):
        log_e = hmm.log_emission(v[:, lane], cursor[:, lane], None if click is None else
                                 click[:, lane])
        path = hmm.viterbi(log_e)
        post, _ = hmm.posterior(log_e)
        goals.append(hmm.targets[path])
        conf.append(post[np.arange(path.size), path])
    return np.stack(goals, 1), np.stack(conf, 1)


@pytest.mark.parametrize("with_click", [False, True])
def test_lanes_inferred_together_give_the_same_bits_as_each_lane_alone(monkeypatch, with_click):
    from concurrent.futures import ThreadPoolExecutor

    from cogmodels.agents.decoders import target_hmm

    rng = np.random.default_rng(5)
    runs = [_reaches(rng, n_trials=6) for _ in range(5)]
    T = min(len(r[0]) for r in runs)
    v, cursor, _, click = (np.stack([r[i][:T] for r in runs], 1) for i in range(4))
    v[::37] = 0.0  # bins without a direction
    hmm = TargetHMM(target_grid(0.5, 8), kappa=2.0)
    want = _lane_by_lane(hmm, v, cursor, click if with_click else None)
    c = click if with_click else None
    for block in (10**9, 2 * T * hmm.n_states):  # one block; blocks of 2, 2 and 1 lanes
        monkeypatch.setattr(target_hmm, "_BLOCK_ELEMENTS", block)
        for executor in (None, ThreadPoolExecutor(2)):
            got = infer_lanes(hmm, v, cursor, c, executor=executor)
            for g, w in zip(got, want, strict=True):
                np.testing.assert_array_equal(g, w)
    paths = hmm.viterbi(np.stack([hmm.log_emission(v[:, i], cursor[:, i]) for i in range(5)], 1))
    assert paths.shape == (T, 5)
    np.testing.assert_array_equal(paths[:, 3], hmm.viterbi(hmm.log_emission(v[:, 3], cursor[:, 3])))
