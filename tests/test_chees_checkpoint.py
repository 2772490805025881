"""ChEES-HMC checkpoints: a stopped run resumes to the same draws, to the byte; another run's file is refused."""

from __future__ import annotations

import multiprocessing
import threading

import numpy as np
import pytest

from cogmodels.fits.chees import _agreed_start, chain_generators, chees_hmc, pipe_gather

SCALES = np.array([0.1, 1.0, 10.0])
MEAN = np.array([1.0, -2.0, 5.0])
RUN = {"n_warmup": 150, "n_draws": 60, "checkpoint_every": 20}


def gaussian(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r = (x - MEAN) / SCALES
    return -0.5 * np.sum(r**2, axis=1), -r / SCALES


class Stop(Exception):
    """Raised by the callback: the run is killed after an iteration."""


def stopper(at: int):
    def callback(it: int) -> None:
        if it == at:
            raise Stop

    return callback


def init() -> np.ndarray:
    return np.random.default_rng(3).normal(size=(4, 3))


def assert_same(a, b) -> None:
    for name in ("draws", "accept_prob", "diverging", "n_leapfrog", "inverse_mass", "warmup_n_leapfrog",
                 "warmup_trajectory_length"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert (a.step_size, a.trajectory_length, a.n_gradients) == (b.step_size, b.trajectory_length, b.n_gradients)


# stopped in the first fast interval, inside a mass-matrix window, in the terminal interval, in sampling
@pytest.mark.parametrize("stop_at", [9, 66, 131, 187])
def test_a_stopped_run_resumes_to_the_uninterrupted_draws(tmp_path, stop_at):
    """Killed after iteration ``stop_at``, the same call resumes from the last checkpoint (at most 19
    iterations back) and ends with the draws, adaptation and gradient count of a run never stopped."""
    whole = chees_hmc(gaussian, init(), seed=5, **RUN)
    path = tmp_path / "run.npz"
    with pytest.raises(Stop):
        chees_hmc(gaussian, init(), seed=5, checkpoint=path, callback=stopper(stop_at), **RUN)
    assert path.exists() == (stop_at > 19)  # the first checkpoint is written after iteration 19
    resumed_from = []
    resumed = chees_hmc(gaussian, init(), seed=5, checkpoint=path, callback=resumed_from.append, **RUN)
    assert resumed_from[0] == (stop_at + 1) // 20 * 20
    assert_same(resumed, whole)


def test_the_previous_generation_serves_when_the_newest_is_lost(tmp_path):
    """With the newest file gone (a kill between the two renames), the run resumes from ``.prev``."""
    whole = chees_hmc(gaussian, init(), seed=5, **RUN)
    path = tmp_path / "run.npz"
    with pytest.raises(Stop):
        chees_hmc(gaussian, init(), seed=5, checkpoint=path, callback=stopper(100), **RUN)
    path.unlink()
    seen = []
    assert_same(chees_hmc(gaussian, init(), seed=5, checkpoint=path, callback=seen.append, **RUN), whole)
    assert seen[0] == 80


def test_a_finished_run_returns_from_its_checkpoint_without_sampling(tmp_path):
    path = tmp_path / "run.npz"
    first = chees_hmc(gaussian, init(), seed=5, checkpoint=path, **RUN)
    calls = []

    def counted(x):
        calls.append(1)
        return gaussian(x)

    again = chees_hmc(counted, init(), seed=5, checkpoint=path, **RUN)
    assert_same(again, first)
    assert len(calls) == 1  # the start's check of the log density only


@pytest.mark.parametrize("change", ["seed", "init", "n_draws", "density"])
def test_another_runs_checkpoint_is_refused(tmp_path, change):
    path = tmp_path / "run.npz"
    with pytest.raises(Stop):
        chees_hmc(gaussian, init(), seed=5, checkpoint=path, callback=stopper(30), **RUN)
    kwargs = dict(RUN, seed=5)
    x0, density = init(), gaussian
    if change == "seed":
        kwargs["seed"] = 6
    elif change == "init":
        x0 = x0 + 0.5
    elif change == "n_draws":
        kwargs["n_draws"] = 61
    else:
        def density(x):
            value, grad = gaussian(x)
            return 2 * value, 2 * grad
    with pytest.raises(ValueError, match=r"checkpoint: .*run\.npz was written by a different run"):
        chees_hmc(density, x0, checkpoint=path, **kwargs)


def test_processes_resume_from_the_newest_iteration_they_all_hold():
    """One process died mid-write (it holds 80 and 60), the other holds 100 and 80: both take 80;
    nothing in common (or nothing at all) starts afresh."""
    def table(*offers):
        return lambda _: np.concatenate([np.tile(np.array(o + [-1] * (2 - len(o)), float), (2, 1))
                                         for o in offers])

    assert _agreed_start([100, 80], table([100, 80], [80, 60]), 2) == 80
    assert _agreed_start([100, 80], table([100, 80], [60, 40]), 2) == 0
    assert _agreed_start([], table([], []), 2) == 0
    assert _agreed_start([40], table([40], [40, 20]), 2) == 40


def test_split_processes_stopped_together_resume_to_the_uninterrupted_draws(tmp_path):
    """2 + 2 chains in two threads joined by pipes (as the estimator's processes): both stopped after
    iteration 101, each resumes from its own file, and the draws are those of a run never stopped."""
    x0, split = init(), [[0, 1], [2, 3]]

    def run(checkpoint: bool, stop_at: int | None) -> list:
        rngs = chain_generators(5, 4)
        connections: list[dict] = [{}, {}]
        connections[0][1], connections[1][0] = multiprocessing.Pipe(duplex=True)
        out: list = [None, None]

        def work(i: int) -> None:
            try:
                out[i] = chees_hmc(gaussian, x0[split[i]], seed=[rngs[c] for c in split[i]],
                                   gather=pipe_gather(i, connections[i]),
                                   checkpoint=tmp_path / f"part{i}.npz" if checkpoint else None,
                                   callback=None if stop_at is None else stopper(stop_at), **RUN)
            except Stop:
                out[i] = "stopped"

        threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        return out

    whole = run(False, None)
    assert run(True, 101) == ["stopped", "stopped"]
    resumed = run(True, None)
    for a, b in zip(resumed, whole, strict=True):
        assert_same(a, b)
