"""One duration suffix (glossary: a span of time in seconds ends in ``_s``): the old ``*_seconds``
spellings still work, warn and name the new one; no public signature uses them any more. And
A2CConfig counts lanes (``n_lanes``), not ``num_envs``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import warnings

import pytest

import cogmodels
from cogmodels.agents.a2c import A2CConfig
from cogmodels.agents.decoders import RML, SmoothBatch, SteadyStateKalmanDecoder
from cogmodels.agents.decoders.outcome_recalibration import (
    OutcomeRecalibration,
    pri_t_model,
    refit_times,
)
from cogmodels.agents.decoders.reward import RewardDecoder
from cogmodels.agents.reward_learners import GainBandit
from cogmodels.agents.schedules import run_fraction
from cogmodels.envs.bci import CursorBCIVector


def _public_parameters():
    """(module, name, parameter) of every public function and method of the package."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # moved modules re-export with a DeprecationWarning
        for info in pkgutil.walk_packages(cogmodels.__path__, "cogmodels."):
            module = importlib.import_module(info.name)
            for name, obj in vars(module).items():
                if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                    continue
                targets = [obj]
                if inspect.isclass(obj):
                    targets = [obj.__init__, *(v for k, v in vars(obj).items()
                                               if not k.startswith("_") and callable(v))]
                for target in targets:
                    try:
                        params = inspect.signature(target).parameters
                    except (TypeError, ValueError):
                        continue
                    yield from ((info.name, name, p) for p in params)


def test_no_public_argument_ends_in_seconds():
    assert [p for p in _public_parameters() if p[2].endswith("_seconds")] == []


def _decoder():
    env = CursorBCIVector(num_envs=1, n_units=8)
    env.reset(seed=0)
    from cogmodels.agents.decoders.session import calibration_block

    return env, SteadyStateKalmanDecoder().fit(*calibration_block(env, 2.0))


def test_the_old_spellings_build_the_same_objects_and_warn():
    env, dec = _decoder()
    cases = [
        (lambda **k: SmoothBatch(dec, **k), "batch_seconds", "batch_s", 2.0,
         lambda o: o.batch_bins, 100),
        (lambda **k: RML(dec, **k), "update_seconds", "update_s", 0.5, lambda o: o.update_bins, 25),
        (lambda **k: RML(dec, **k), "prior_seconds", "prior_s", 7.0, lambda o: o.prior_s, 7.0),
        (lambda **k: GainBandit(2, seed=0, **k), "prior_seconds", "prior_s", 3.0,
         lambda o: o.prior_s, 3.0),
        (lambda **k: OutcomeRecalibration(pri_t_model(env), None, error_hmm=False, **k), "prior_seconds", "prior_s",
         4.0, lambda o: o.prior_s, 4.0),
        (lambda **k: A2CConfig(schedule_unit="seconds", **k), "total_seconds", "total_s", 9.0,
         lambda o: o.total_s, 9.0),
        (lambda **k: A2CConfig(**k), "num_envs", "n_lanes", 8, lambda o: o.n_lanes, 8),
    ]
    for build, old, new, value, read, expected in cases:
        with pytest.warns(DeprecationWarning, match=f"{old} is deprecated and will be removed; use {new} instead"):
            obj = build(**{old: value})
        assert read(obj) == expected == read(build(**{new: value}))
        with pytest.warns(DeprecationWarning, match=f"use {new} instead"):
            assert getattr(obj, old) == getattr(obj, new)  # the old attribute too
        with pytest.raises(TypeError, match=f"got both {new}={value!r} and its deprecated spelling {old}"):
            build(**{old: value, new: value})
    reward_env = CursorBCIVector(num_envs=1, n_units=8, error_signal="realistic")
    with pytest.warns(DeprecationWarning, match="n_seconds is deprecated and will be removed; use seconds"):
        assert RewardDecoder(8, 1, seed=0).evaluate(reward_env, n_seconds=0.1).attrs["n_bins"] == 5
    with pytest.warns(DeprecationWarning, match="use total_s instead"):
        assert run_fraction(seconds=30.0, total_seconds=60.0) == 0.5
    with pytest.warns(DeprecationWarning, match="use early_update_s instead"):
        assert refit_times(60.0, 15.0, early_update_seconds=5.0, early_s=30.0).tolist() == [
            5, 10, 15, 20, 25, 30, 45, 60]


def test_a2c_configurations_saved_with_the_old_names_load_without_a_warning():
    """A checkpoint's config.json written before the renames holds ``total_seconds`` and
    ``num_envs`` (lanes inside the package: ``num_envs`` only at Gymnasium's edge)."""
    saved = {**A2CConfig(schedule_unit="seconds", total_s=60.0, n_lanes=8).to_dict()}
    saved["total_seconds"], saved["num_envs"] = saved.pop("total_s"), saved.pop("n_lanes")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        config = A2CConfig.from_dict(saved)
    assert (config.total_s, config.n_lanes) == (60.0, 8)
    assert {"total_s", "n_lanes"} <= set(config.to_dict()) and "num_envs" not in config.to_dict()
    with pytest.raises(ValueError, match=r"unknown A2CConfig fields \['total_minutes'\]"):
        A2CConfig.from_dict({"total_minutes": 1.0})
