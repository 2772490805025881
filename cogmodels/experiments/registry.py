"""Experiment definitions and the registry of experiments by name."""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cogmodels.validation import check_int, check_number

__all__ = ["EXPERIMENTS", "Config", "Experiment", "Range", "experiment_names", "get_experiment", "register"]

Tables = dict[str, pd.DataFrame]


@dataclass
class Config:
    """A resolved experiment configuration: every parameter set, the seed fixed."""

    experiment: str
    seed: int
    params: dict[str, Any]
    quick: bool = False
    source: str | None = None
    #: with ``quick``: the values of the config's ``[params]`` that the experiment's quick setting
    #: replaced, ``{key: (value in [params], value used)}`` (reported by the runner)
    quick_replaced: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.params[key]


@dataclass(frozen=True)
class Range:
    """The allowed values of a numeric parameter, or of each item of a list parameter.

    ``low`` .. ``high``, either end ``None`` for unbounded; the ends are included unless
    ``low_open`` / ``high_open``. An integer parameter's range has integer, included ends.
    ``Experiment(ranges={"n_subjects": (1, None)})`` is short for ``Range(1, None)``.
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def check(self, name: str, value: Any, *, integer: bool) -> Any:
        """Return ``value`` (already of the parameter's type) if it is in the range.

        Otherwise raise ``ValueError`` naming ``name``, the range and the value.
        """
        if integer:
            return check_int(name, value, None if self.low is None else int(self.low),
                             None if self.high is None else int(self.high))
        return check_number(name, value, -math.inf if self.low is None else self.low,
                            math.inf if self.high is None else self.high,
                            low_open=self.low_open, high_open=self.high_open)


@dataclass(frozen=True)
class Experiment:
    """One reproducible experiment, split into independent work units.

    - ``defaults``: every parameter with its full-size value (this also fixes each one's type);
    - ``quick``: overrides for the small setting (``--quick``, used by the tests);
    - ``choices``: allowed values of a string parameter, or of the items of a list parameter;
    - ``ranges``: the allowed :class:`Range` (or ``(low, high)``, ends included) of a numeric
      parameter or of the items of a numeric list; every numeric parameter of a shipped
      experiment declares one, and a config's value outside it fails when the config loads;
    - ``units(config) -> [unit, ...]``: small JSON-able dicts, one per work unit;
    - ``run_unit(config, unit, seed) -> {table: DataFrame}``: pure; ``seed`` is the unit's integer
      seed from ``SeedSequence(config.seed).spawn``; a long unit may keep checkpoints in
      :func:`~cogmodels.experiments.runner.unit_checkpoint_dir` to resume a stopped run, giving
      the same tables as a unit never stopped;
    - ``combine(config, tables) -> {table: DataFrame}``: optional derived tables across units
      (added to the results);
    - ``report(config, tables, out) -> (markdown, [figure paths])``: figures written under
      ``out / "figures"`` and the experiment's part of ``report.md``; the first figure is the
      headline one of a suite report.

    The callables must be module-level functions, so that process and Dask workers can unpickle
    the definition.
    """

    name: str
    description: str
    defaults: Mapping[str, Any]
    quick: Mapping[str, Any]
    units: Callable[[Config], list[dict[str, Any]]]
    run_unit: Callable[[Config, dict[str, Any], int], Tables]
    report: Callable[[Config, Tables, Path], tuple[str, list[Path]]]
    combine: Callable[[Config, Tables], Tables] | None = None
    choices: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    ranges: Mapping[str, Range | tuple[float | None, float | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for what in ("choices", "ranges"):
            unknown = [k for k in getattr(self, what) if k not in self.defaults]
            if unknown:
                raise ValueError(f"experiment {self.name!r}: {what} names unknown parameter(s) {unknown}; "
                                 f"parameters: {list(self.defaults)}")
        ranges = {}
        for key, r in self.ranges.items():
            if isinstance(r, tuple) and len(r) == 2:
                r = Range(*r)
            if not isinstance(r, Range):
                raise TypeError(f"experiment {self.name!r}: ranges[{key!r}] must be a Range or (low, high), got {r!r}")
            ranges[key] = r
        object.__setattr__(self, "ranges", ranges)


#: registered experiments by name (the built-in ones are imported on first use)
EXPERIMENTS: dict[str, Experiment] = {}

#: built-in experiment name -> module defining ``EXPERIMENT``
_BUILTIN: dict[str, str] = {
    "bandit_recovery": "cogmodels.experiments.bandit_recovery",
    "two_step": "cogmodels.experiments.two_step",
    "dopamine": "cogmodels.experiments.dopamine",
    "rlwm": "cogmodels.experiments.rlwm",
    "bci_drift": "cogmodels.experiments.bci_drift",
    "bci_meta_decoder": "cogmodels.experiments.bci_meta_decoder",
    "bci_wilson": "cogmodels.experiments.bci_wilson",
    "meta_rl_bandit": "cogmodels.experiments.meta_rl_bandit",
}


def register(experiment: Experiment, *, replace: bool = False) -> Experiment:
    """Add ``experiment`` to the registry under its name; returns it."""
    if not isinstance(experiment, Experiment):
        raise TypeError(f"experiment must be an Experiment, got {type(experiment).__name__}")
    if not replace and experiment.name in EXPERIMENTS and EXPERIMENTS[experiment.name] is not experiment:
        raise ValueError(f"an experiment named {experiment.name!r} is registered already; pass replace=True")
    EXPERIMENTS[experiment.name] = experiment
    return experiment


def experiment_names() -> list[str]:
    """Return the names of the built-in and registered experiments, sorted."""
    return sorted(set(_BUILTIN) | set(EXPERIMENTS))


def get_experiment(name: str) -> Experiment:
    """Return the experiment registered as ``name`` (imports a built-in one on first use)."""
    if name not in EXPERIMENTS and name in _BUILTIN:
        register(importlib.import_module(_BUILTIN[name]).EXPERIMENT)
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of {experiment_names()}, got {name!r}")
    return EXPERIMENTS[name]
