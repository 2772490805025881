"""benchmarks/bench_wilson.py: Wilson et al.'s session statistics (failed sessions, rank-sum, subject bootstrap)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import ranksums

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_wilson.py"
_SPEC = importlib.util.spec_from_file_location("bench_wilson", _PATH)
bench = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = bench
_SPEC.loader.exec_module(bench)


def _per_day() -> pd.DataFrame:
    """Two decoders, 4 subjects x 10 days; ``b`` fails every session of subject 3 (10 s), ``a`` none."""
    rng = np.random.default_rng(0)
    rows = []
    for subject in range(4):
        for day in range(10):
            rows.append({"decoder": "a", "subject": subject, "day": day, "trial_time": 1.5 + 0.1 * rng.random()})
            t = 10.0 if subject == 3 else 1.4 + 0.1 * rng.random()
            rows.append({"decoder": "b", "subject": subject, "day": day, "trial_time": t})
    return pd.DataFrame(rows)


def _cells(row: str) -> list[str]:
    return [c.strip() for c in row.strip("|").split("|")]


def test_failed_fraction_rank_sum_and_the_subject_bootstrap():
    per_day = _per_day()
    rows = bench.failure_table(per_day, ["a", "b"], range(1, 10), "a", np.random.default_rng(1), n_boot=400)
    assert len(rows) == 4  # header, rule, a, b
    a, b = _cells(rows[2]), _cells(rows[3])
    assert a[0] == "a" and a[1] == "36" and a[4] == "0.000" and a[5:] == ["—", "—", "—"]
    assert b[0] == "b" and b[1] == "36" and b[4] == "0.250"  # one subject of four, every day after day 0
    sel = per_day[per_day.day >= 1]
    p = ranksums(sel[sel.decoder == "b"].trial_time, sel[sel.decoder == "a"].trial_time).pvalue
    assert b[5] == f"{p:.3g}"
    diff, ci = b[6].split(" [")
    lo, hi = (float(x) for x in ci.rstrip("]").split(","))
    assert float(diff) == 0.25
    # resampling 4 subjects: the failing one drawn 0..4 times, so the difference lies in [0, 1]
    assert 0.0 <= lo < 0.25 < hi <= 1.0
    assert float(a[2].split(" ± ")[0]) == round(sel[sel.decoder == "a"].trial_time.mean(), 2)
    slower, p_paired = b[7].split("; ")
    assert slower.startswith("4 / 4") or slower.split(" / ")[1] == "4"  # the paired test per subject
    assert 0.0 < float(p_paired) <= 1.0


def test_failed_session_threshold_is_wilsons():
    assert bench.FAILED_SESSION_S == 5.0
