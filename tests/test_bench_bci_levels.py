"""The BCI benchmarks' realism levels: Gilja et al.'s comparison and the grid on any level's
array."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import pytest

from cogmodels.envs.bci import CursorBCIVector
from cogmodels.envs.bci.realism import FULL_POPULATION, M1_POPULATION
from cogmodels.envs.bci.user import WILLETT_USER

_BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, _BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


refit = _load("bench_bci_refit")
bci = _load("bench_bci")


def test_the_default_array_leaves_every_condition_as_it_was() -> None:
    for over, _, _ in refit.CONDITIONS.values():
        assert refit.on_array(over, "realistic") == over


@pytest.mark.parametrize(("level", "population"), [("full", FULL_POPULATION),
                                                    ("full_m1", M1_POPULATION)])
def test_a_level_s_array_keeps_the_condition_s_user_and_context(level, population) -> None:
    same = refit.on_array(refit.CONDITIONS["same code open / closed loop"][0], level)
    assert same["population"] == population and same["user"] is WILLETT_USER
    assert [type(p).__name__ for p in same["session_drift"]] == ["BaselineShift", "TransientLoss"]
    env = CursorBCIVector(num_envs=2, n_trials=10, **same)
    pop = env.config.population
    # the condition's own context over the level's population: one code in both contexts
    assert (pop.observation_gain, pop.observation_rotation, pop.observation_offset) == (1, 0, 0)
    assert (pop.n_units, pop.depth, pop.latent_sd) == (population.n_units, population.depth,
                                                       population.latent_sd)
    ideal = refit.on_array(refit.CONDITIONS["idealised (before issue 14)"][0], level)
    assert ideal["user"] == "feedback" and ideal["population"] == population


def test_the_benchmark_builds_every_condition_on_the_array_asked_for() -> None:
    args = argparse.Namespace(see_velocity=True, willett_push=False, tanh_push=True,
                              realism="full_m1")
    for cond, (over, _, _) in refit.CONDITIONS.items():
        built = refit.condition_overrides(over, args)
        assert built["population"] == M1_POPULATION, cond
        if over["user"] is WILLETT_USER:
            assert built["user"].see_velocity and built["user"].push == "tanh"
    with pytest.raises(ValueError, match=r"level must be one of \['realistic', 'full', "
                                         r"'full_m1'\], got 'off'"):
        refit.on_array({"user": "feedback"}, "off")


def test_the_grid_figure_draws_the_levels_that_ran() -> None:
    run = {"tuning_bitrate_by_gain": {"1.0": 1.0}, "bitrate_median": 2.0}
    res = {"grid_bitrate_tuned": {f"{sel}/{lv}/{dec}": run for sel in ("hold", "click")
                                  for lv in ("off", "full_m1") for dec in ("kf", "refit")}}
    fig = bci.grid_figure(res)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == [bci.GRID_LEVEL_NAMES["off"], bci.GRID_LEVEL_NAMES["full_m1"]]
    assert bci.REALISM["full_m1"]["population"] == M1_POPULATION
