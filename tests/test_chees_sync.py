"""ChEES-HMC with its chains split over processes: one shared adaptation, the draws of one process."""

from __future__ import annotations

import multiprocessing
import threading

import numpy as np
import pytest

from cogmodels.fits.chees import chain_generators, chees_hmc, pipe_gather

SCALES = np.array([0.1, 1.0, 10.0])
MEAN = np.array([1.0, -2.0, 5.0])


def gaussian(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A badly scaled Gaussian: the mass matrix and the trajectory length both have work to do."""
    r = (x - MEAN) / SCALES
    return -0.5 * np.sum(r**2, axis=1), -r / SCALES


def run_split(init: np.ndarray, split: list[np.ndarray], seed: int, **kwargs) -> list:
    """Run ``chees_hmc`` on each group of chains in its own thread, the groups joined by pipes."""
    rngs = chain_generators(seed, init.shape[0])
    n = len(split)
    connections: list[dict] = [{} for _ in split]
    for i in range(n):
        for j in range(i + 1, n):
            connections[i][j], connections[j][i] = multiprocessing.Pipe(duplex=True)
    results: list = [None] * n

    def work(i: int) -> None:
        results[i] = chees_hmc(gaussian, init[split[i]], seed=[rngs[c] for c in split[i]],
                               gather=pipe_gather(i, connections[i]), **kwargs)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


@pytest.mark.parametrize("split", [[[0, 1], [2, 3]], [[0], [1, 2], [3]]])
def test_split_chains_draw_what_one_process_draws(split):
    """2 + 2 or 1 + 2 + 1 chains with shared adaptation: the same step size, trajectory length, mass
    matrix and leapfrog steps as 4 chains in one process, and the same draws, bit for bit (each chain
    has its own generator; the Gaussian's density is elementwise)."""
    init = np.random.default_rng(3).normal(size=(4, 3))
    kwargs = {"n_warmup": 150, "n_draws": 50}
    whole = chees_hmc(gaussian, init, seed=chain_generators(7, 4), **kwargs)
    parts = run_split(init, [np.array(s) for s in split], 7, **kwargs)
    for part in parts:
        assert part.step_size == whole.step_size
        assert part.trajectory_length == whole.trajectory_length
        np.testing.assert_array_equal(part.inverse_mass, whole.inverse_mass)
        np.testing.assert_array_equal(part.n_leapfrog, whole.n_leapfrog)
    np.testing.assert_array_equal(np.concatenate([p.draws for p in parts]), whole.draws)
    assert sum(p.n_gradients for p in parts) == len(parts) * whole.n_gradients  # equal work in each


def test_the_shared_adaptation_sees_every_chain():
    """One chain per process still adapts (the criterion compares the 2 chains across the processes),
    and samples the Gaussian: means within 4 MCSE, SDs within 15 %."""
    import arviz as az

    init = np.zeros((2, 3))
    parts = run_split(init, [np.array([0]), np.array([1])], 0, n_warmup=250, n_draws=300)
    draws = np.concatenate([p.draws for p in parts])
    mcse = az.mcse(az.convert_to_dataset(draws))["x"].to_numpy()
    assert np.all(np.abs(draws.mean(axis=(0, 1)) - MEAN) < 4 * mcse)
    np.testing.assert_allclose(draws.std(axis=(0, 1)), SCALES, rtol=0.15)
    # the mass matrix learnt the scales from both chains (Stan's regularised variance)
    np.testing.assert_allclose(np.sqrt(parts[0].inverse_mass), SCALES, rtol=0.35)


def test_a_lone_chain_is_refused():
    """The criterion needs 2 chains in all: 1 chain and no peer is a ValueError naming init."""
    with pytest.raises(ValueError, match="at least 2 chains in all.*got 1"):
        chees_hmc(gaussian, np.zeros((1, 3)), n_warmup=5, n_draws=5, seed=0)


def test_one_generator_per_chain_is_checked():
    """A sequence seed must hold one Generator per chain."""
    with pytest.raises(ValueError, match=r"one Generator per chain \(4\), got a sequence of 3"):
        chain_generators([np.random.default_rng(i) for i in range(3)], 4)


# ChEES against Pyro's NUTS on a small hierarchical posterior (~150 CPU s, most of it Pyro) is a
# benchmark, benchmarks/bench_chees_nuts.py; the suite keeps the cheap companions above and in
# tests/test_bayes_fast.py (the ChEES density equals Pyro's potential to 1e-8).
