"""benchmarks/bench_reward_drift.py: the saved units' folder names every setting that changes them."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_reward_drift.py"
_SPEC = importlib.util.spec_from_file_location("bench_reward_drift", _PATH)
bench = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = bench
_SPEC.loader.exec_module(bench)


def _args(**over) -> argparse.Namespace:
    base = {"quick": False, "days": bench.parse_days(bench.DAYS), "interim": None, "session": 120.0,
            "early_update": None, "prior_seconds": bench.PRIOR_SECONDS, "realism": "off", "seed": 0,
            "subjects": 4, "warmup": 480.0}
    args = argparse.Namespace(**{**base, **over})
    if "report_days" not in over:
        args.report_days = bench.default_report_days(args.days)
    return args


def test_the_default_protocol_keeps_the_committed_names() -> None:
    assert bench.protocol_tag(_args()) == ""
    every_day = _args(days=bench.parse_days("0-60"), interim=60.0)
    assert bench.protocol_tag(every_day) == "_days0-60x61_interim60"
    quick = _args(quick=True, subjects=2, session=30.0, days=[0, 7, 14])
    assert bench.protocol_tag(quick) == "_quick_days0-14x3"


@pytest.mark.parametrize(("over", "tag"), [
    ({"seed": 1}, "_seed1"),
    ({"realism": "realistic"}, "_realistic"),
    ({"realism": "full", "seed": 2}, "_full_seed2"),
    ({"subjects": 8}, "_n8"),
    ({"session": 60.0, "warmup": 240.0}, "_session60_warmup240"),
    ({"report_days": [0, 28]}, "_report0+28"),
])
def test_another_seed_or_realism_gets_its_own_units(over: dict, tag: str) -> None:
    # a run resumes from the units saved under its tag: a shared tag would replay another run's
    assert bench.protocol_tag(_args(**over)) == tag


def test_the_ratio_ci_pairs_the_subjects(monkeypatch: pytest.MonkeyPatch) -> None:
    # every subject at 0.9 of its own reference, the subjects far apart: paired, the ratio's
    # interval is the point; a draw of decoder and reference subjects apart would be wide
    import pandas as pd

    rates = [10.0, 25.0, 40.0, 55.0]
    per = pd.DataFrame(
        [{"decoder": d, "day": 28, "subject": s, "successes_per_min": r * f}
         for d, f in (("daily_recalibration", 1.0), ("pri_t", 0.9)) for s, r in enumerate(rates)])
    monkeypatch.setattr(bench, "summarize", lambda trials, by, n_targets: per)
    out = bench.paired_ratios(pd.DataFrame({"day": [28]}), [28])
    assert out.decoder.tolist() == ["pri_t"]
    assert out.loc[0, ["ratio", "ratio_lo", "ratio_hi"]].tolist() == pytest.approx([0.9] * 3)
