"""The map inference's between-session drift kernel: ``ErrorMapInference.new_session(gap_days)``."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from cogmodels.agents.decoders.map_inference import (
    ErrorMapInference,
    drift_kernel,
    learner_sessions,
    map_inference_sessions,
)
from cogmodels.agents.decoders.meta_rnn import MetaDecoderConfig


def sure_learner(n_lanes: int = 3, **kwargs) -> ErrorMapInference:
    """A learner whose posterior is peaked (as after a first session), a different mode per lane."""
    learner = ErrorMapInference(n_lanes, seed=0, **kwargs)
    rng = np.random.default_rng(1)
    learner.log_posterior = rng.normal(0.0, 3.0, learner.log_posterior.shape)
    for lane in range(n_lanes):
        learner.log_posterior[lane, 5 * lane + 3] += 40.0
    return learner


def entropy(p: np.ndarray) -> np.ndarray:
    return -(p * np.log(np.maximum(p, 1e-300))).sum(axis=1)


@pytest.mark.parametrize("sd", [0.0, 0.5, 3.0, 25.0, 200.0, 2000.0])
def test_the_kernel_is_a_distribution_on_the_grid(sd):
    w = drift_kernel(36, sd)
    assert w.shape == (36,) and (w >= 0).all() and w.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(w[1:], w[1:][::-1], atol=1e-12)  # symmetric: no turn preferred
    assert w[0] == w.max()


@pytest.mark.parametrize("kwargs", [{}, {"reflection_flip_per_day": 0.05, "floor_per_day": 0.01}])
def test_the_diffused_posterior_keeps_total_mass_one(kwargs):
    learner = sure_learner(**kwargs).new_session(gap_days=[1, 7, 30])
    np.testing.assert_allclose(np.exp(learner.log_posterior).sum(axis=1), 1.0, atol=1e-12)


def test_gap_none_keeps_the_posterior_byte_for_byte():
    learner = sure_learner()
    before = learner.log_posterior.copy()
    learner.new_session()
    assert learner.log_posterior.tobytes() == before.tobytes()
    learner.new_session(None)
    assert learner.log_posterior.tobytes() == before.tobytes()


def test_gap_zero_leaves_the_posterior_unchanged():
    learner = sure_learner(reflection_flip_per_day=0.1, floor_per_day=0.1)
    before = learner.log_posterior.copy()
    learner.new_session(gap_days=0)
    assert learner.log_posterior.tobytes() == before.tobytes()
    learner.new_session(gap_days=[0, 3, 0])  # per lane: only the middle one diffuses
    assert learner.log_posterior[[0, 2]].tobytes() == before[[0, 2]].tobytes()
    assert not np.array_equal(learner.log_posterior[1], before[1])


def test_a_longer_gap_gives_a_flatter_posterior():
    h = [entropy(sure_learner().new_session(gap_days=g).posterior()) for g in (0, 1, 3, 7, 30, 365)]
    assert all((b > a).all() for a, b in zip(h, h[1:])), np.round(h, 3)
    assert (h[-1] <= np.log(72) + 1e-9).all()


def test_the_mode_stays_and_the_angle_spreads_within_its_reflection():
    learner = sure_learner(n_lanes=1)
    mode = learner.log_posterior.argmax(axis=1)
    p = learner.new_session(gap_days=7).posterior()
    assert (p.argmax(axis=1) == mode).all()
    assert p[0, 36:].sum() < 1e-6  # no flip hazard: the other reflection stays (almost) empty
    flip = sure_learner(n_lanes=1, reflection_flip_per_day=0.05).new_session(gap_days=7).posterior()
    assert flip[0, 36:].sum() == pytest.approx(0.5 * (1 - 0.9**7), rel=1e-3)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3", [1, 2], [1, -2, 3], [1.0, 2.0, 3.0], None])
def test_bad_gaps_are_refused_naming_the_argument_the_allowed_values_and_the_value(bad):
    learner = sure_learner()
    if bad is None:  # None is allowed: today's behaviour
        learner.new_session(bad)
        return
    with pytest.raises(ValueError, match=r"gap_days must be an integer >= 0 or a sequence of 3 of them "
                                         r"\(one per lane\), got ") as err:
        learner.new_session(gap_days=bad)
    assert repr(bad) in str(err.value)


def test_bad_kernel_constants_are_refused():
    with pytest.raises(ValueError, match="drift_deg_per_sqrt_day"):
        ErrorMapInference(1, drift_deg_per_sqrt_day=-1.0)
    with pytest.raises(ValueError, match="reflection_flip_per_day"):
        ErrorMapInference(1, reflection_flip_per_day=0.6)
    with pytest.raises(ValueError, match="floor_per_day"):
        ErrorMapInference(1, floor_per_day=1.5)


#: a small task (as tests/test_meta_decoder.py's EASY, the realistic channel's rates at 1 Hz)
SMALL = MetaDecoderConfig(env_kwargs={"dt": 0.05, "n_units": 8, "modulation_depth": [20, 40],
                                      "baseline_rate": [10, 20], "timeout": 2.0, "hold_time": 0.1,
                                      "target_radius": 0.12, "error_interval": 1.0},
                          error_signal=[0.75, 0.03], max_day=0, n_components=2, calibration_s=1.0,
                          num_envs=4, seed=0)


class GapRecorder:
    """A learner that records what ``new_session`` is handed (and moves nowhere)."""

    def __init__(self, n_lanes: int, takes_gap: bool) -> None:
        self.n_lanes, self.calls = n_lanes, []
        if not takes_gap:
            self.new_session = lambda: self.calls.append("no argument")

    def act(self, z):
        return np.zeros((self.n_lanes, 2))

    def observe(self, feedback):
        pass

    def new_session(self, gap_days=None):
        self.calls.append(np.asarray(gap_days).tolist())


def test_learner_sessions_hands_each_later_session_its_gap_per_lane_only_when_asked():
    made = []

    def make(takes_gap):
        def build(env):
            made.append(GapRecorder(env.num_envs, takes_gap))
            return made[-1]
        return build

    then = [([1, 2, 3, 4], 1.0), ([8, 2, 10, 4], 1.0)]
    learner_sessions(SMALL, [0, 1, 2, 3], make(True), 1.0, seed=3, then=then, gaps=True)
    assert made[-1].calls == [[1, 1, 1, 1], [7, 0, 7, 0]]
    learner_sessions(SMALL, [0, 1, 2, 3], make(False), 1.0, seed=3, then=then)  # a learner without gaps
    assert made[-1].calls == ["no argument", "no argument"]
    with pytest.raises(ValueError, match=r"none before the previous session's \[0, 1, 2, 3\], got \[1, 0, 3, 4\]"):
        learner_sessions(SMALL, [0, 1, 2, 3], make(True), 1.0, seed=3, then=[([1, 0, 3, 4], 1.0)], gaps=True)


def _digest(table) -> str:
    return hashlib.sha256(table.to_csv(index=False).encode()).hexdigest()[:16]


def test_without_the_kernel_the_carried_sessions_are_as_before():
    """``gap_kernel=False`` (the default) plays exactly what the learner played before the kernel
    existed: the digest was recorded with the code of commit 6183db4 (``OPENBLAS_CORETYPE=Haswell``,
    as the package's pinned tests); with the kernel the first session is the same."""
    kwargs = {"seed": 5, "then": [([2] * 4, 10.0)]}
    plain = map_inference_sessions(SMALL, [0] * 4, 30.0, **kwargs)
    assert _digest(plain) == _digest(map_inference_sessions(SMALL, [0] * 4, 30.0, gap_kernel=False, **kwargs))
    assert _digest(plain) == PLAIN_DIGEST
    kernel = map_inference_sessions(SMALL, [0] * 4, 30.0, gap_kernel=True, **kwargs)
    assert _digest(kernel[kernel["session"] == 0]) == _digest(plain[plain["session"] == 0])


PLAIN_DIGEST = "975d4328c83d5f72"
