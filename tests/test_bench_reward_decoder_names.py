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
