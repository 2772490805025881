"""ChEES's bookkeeping of its work: every log-density call counted, the warm-up's trajectory recorded."""

from __future__ import annotations

import numpy as np
import pytest

from cogmodels.fits.chees import chees_hmc

SCALES = np.exp(np.linspace(-1.0, 1.0, 10))


def _counted_gaussian():
    calls = [0]

    def density(x):
        calls[0] += 1
        return -0.5 * np.sum((x / SCALES) ** 2, axis=1), -x / SCALES**2

    return density, calls


def test_every_log_density_call_is_counted():
    """The step-size heuristic's calls too (it runs at the start and after every mass-matrix window):
    ``n_gradients`` is the number of calls, the metric the benchmarks compare."""
    density, calls = _counted_gaussian()
    result = chees_hmc(density, np.random.default_rng(0).uniform(-2, 2, (4, 10)), n_warmup=150, n_draws=30, seed=0)
    assert result.n_gradients == calls[0]
    leapfrog = int(result.warmup_n_leapfrog.sum() + result.n_leapfrog.sum())
    # one call at the start, then the heuristic (>= 1 call, at the start and after each of the 3 windows)
    assert result.n_gradients - leapfrog - 1 >= 4


def test_the_warm_up_trajectory_is_recorded():
    density, _ = _counted_gaussian()
    result = chees_hmc(density, np.random.default_rng(1).uniform(-2, 2, (4, 10)), n_warmup=120, n_draws=20, seed=1)
    assert result.warmup_n_leapfrog.shape == result.warmup_trajectory_length.shape == (120,)
    assert result.warmup_trajectory_length[-1] == result.trajectory_length
    assert result.warmup_n_leapfrog.min() >= 1 and np.all(result.warmup_trajectory_length > 0)



def test_chees_warms_up_for_500_iterations_by_default_and_nuts_for_1000():
    """ChEES's default warm-up is 500 (RESULTS, Round 6), NUTS keeps Stan's 1,000; a given value is kept."""
    from cogmodels.fits import HierarchicalNUTS
    from cogmodels.models import make_model

    model = make_model("q_learning")
    assert HierarchicalNUTS(model, sampler="chees").n_warmup == 500
    assert HierarchicalNUTS(model).n_warmup == 1000
    assert HierarchicalNUTS(model, sampler="chees", n_warmup=1000).n_warmup == 1000
    with pytest.raises(ValueError, match="n_warmup"):
        HierarchicalNUTS(model, sampler="chees", n_warmup=0)
