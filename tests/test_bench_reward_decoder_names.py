"""benchmarks/bench_reward_decoder.py: the output files' names carry the seed (and keep the committed ones)."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_reward_decoder.py"
_SPEC = importlib.util.spec_from_file_location("bench_reward_decoder", _PATH)
bench = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = bench
_SPEC.loader.exec_module(bench)


def _tag(**over) -> str:
    return bench.output_tag(argparse.Namespace(**{"quick": False, "tag": "", "seed": 0,
                                                  "realism": "off", **over}))


@pytest.mark.parametrize(("over", "tag"), [
    ({}, ""),
    ({"seed": 1}, "_seed1"),
    ({"seed": 2, "realism": "full"}, "_seed2_full"),
    ({"quick": True, "seed": 3}, "_quick_seed3"),
    ({"tag": "_n16_seed0"}, "_n16_seed0"),
    ({"tag": "_n16_seed1", "seed": 1, "realism": "realistic"}, "_n16_seed1_realistic"),
    ({"tag": "_n16_seed1", "seed": 12}, "_n16_seed1_seed12"),
])
def test_another_seed_gets_its_own_files(over: dict, tag: str) -> None:
    # without the seed in the names, --seed 1 wrote over seed 0's files unless --tag was given
    assert _tag(**over) == tag


def test_the_committed_figures_keep_their_names() -> None:
    figures = _PATH.parent / "figures"
    assert (figures / f"reward_decoder_learning{_tag()}.csv").is_file()
    assert (figures / f"reward_decoder_days{_tag()}.csv").is_file()
    tag = _tag(tag="_n16_seed1", seed=1, realism="full")  # RESULTS.md's command for seed 1
    assert (figures / f"reward_decoder_learning_per_subject{tag}.csv").is_file()


@pytest.mark.parametrize("days", [[0], [0, 7, 28]])
def test_the_figure_draws_each_configuration_and_the_days_when_there_are_several(days):
    """Left: one mean line per configuration (one colour each, the same on the right); right,
    only over several days: one line per decoder, the daily supervised reference in black."""
    import pandas as pd

    configs = ("realistic/outcome_weighted/running", "realistic/outcome_weighted/running_uncarried")
    each = pd.DataFrame([{"config": c, "subject": s, "minute": m, "successes_per_min": 2.0 * m + s}
                         for c in configs for s in range(3) for m in range(4)])
    metrics = pd.DataFrame([{"decoder": d, "day": day, "successes_per_min": 10.0 + day}
                            for d in ("daily_recalibration", *configs) for day in days])
    fig = bench.figure(each, metrics, "t")
    axes = fig.axes
    assert len(axes) == (2 if len(days) > 1 else 1)
    left = {line.get_label(): line for line in axes[0].get_lines() if not line.get_label().startswith("_")}
    assert sorted(left) == sorted(configs)
    assert list(left[configs[0]].get_ydata()) == [1.0, 3.0, 5.0, 7.0]  # the mean of 3 subjects
    if len(days) > 1:
        right = {line.get_label(): line for line in axes[1].get_lines()}
        assert right["daily_recalibration"].get_color() == "black"
        assert right[configs[1]].get_color() == left[configs[1]].get_color()
