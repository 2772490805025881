"""benchmarks/bench_reward_drift.py: the saved units' folder names every setting that changes them,
and its manifest the code that made them."""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import subprocess
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
            "subjects": 4, "warmup": 480.0, "warmup_policy": "carried", "gain_grid": "moving"}
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
    ({"warmup_policy": "uncarried"}, "_uncarried"),
    ({"realism": "full_m1", "warmup_policy": "uncarried", "seed": 1}, "_full_m1_uncarried_seed1"),
    ({"gain_grid": "fixed"}, "_fixedgrid"),
    ({"realism": "full_m1", "gain_grid": "fixed", "warmup_policy": "uncarried"},
     "_full_m1_uncarried_fixedgrid"),
])
def test_another_seed_or_realism_gets_its_own_units(over: dict, tag: str) -> None:
    # a run resumes from the units saved under its tag: a shared tag would replay another run's
    assert bench.protocol_tag(_args(**over)) == tag


@pytest.mark.parametrize(("policy", "grid", "carry", "recentred"), [
    ("carried", "moving", True, {"no_labels"}), ("uncarried", "fixed", False, set())])
def test_a_unit_plays_the_warm_up_and_the_gain_grid_it_is_told(monkeypatch, policy, grid, carry,
                                                               recentred) -> None:
    import pandas as pd

    seen = {}

    def fake(*args, **kwargs):
        seen.update(kwargs)
        return pd.DataFrame({"decoder": ["no_labels"]})

    monkeypatch.setattr(bench, "run_reward_drift", fake)
    args = _args(warmup_policy=policy, gain_grid=grid, report_days=[0], early_update=None)
    bench.run_unit(("no_labels", "realistic", "counts"), args)
    assert seen["carry_policy"] is carry and set(seen["recentred"]) == recentred


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


def _units(folder: Path, manifest: dict | None) -> Path:
    """A fake units' folder: one saved unit and ``manifest`` (None: none)."""
    folder.mkdir()
    (folder / "pri_t__realistic__counts.csv.gz").write_bytes(b"trials")
    if manifest is not None:
        (folder / bench.MANIFEST).write_text(json.dumps(manifest))
    return folder


def test_the_manifest_covers_the_code_a_run_imports_lazily_too() -> None:
    sources = bench.code_manifest()["sources"]
    # imported inside functions of the study: the reward learners' core, the strategies' runner
    assert {"cogmodels.agents.continuous", "cogmodels.experiments.drift_study",
            "cogmodels.validation"} <= set(sources)
    code = ("import sys, cogmodels.agents.decoders.outcome_recalibration; "
            "print(' '.join(m for m in sys.modules if m.startswith('cogmodels')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.split()
    assert set(loaded) <= set(sources)


def test_units_of_other_code_are_refused_and_fresh_discards_them(tmp_path: Path) -> None:
    now = bench.code_manifest()
    assert "cogmodels.envs.bci.user" in now["sources"]
    assert "benchmarks/bench_reward_drift.py" in now["sources"]
    edited = {**now, "sources": {**now["sources"], "cogmodels.envs.bci.user": "0" * 64}}
    units = _units(tmp_path / "units", edited)
    with pytest.raises(SystemExit, match=re.escape(
            f"{units} holds 1 saved units of other code (changed sources: "
            "cogmodels.envs.bci.user); resuming would report them as this code's: give another "
            "--out")):
        bench.open_units(units)
    assert (units / "pri_t__realistic__counts.csv.gz").exists()  # nothing discarded unasked
    bench.open_units(units, reuse=True)  # read as saved: the old manifest stays
    assert json.loads((units / bench.MANIFEST).read_text()) == edited
    assert (units / "pri_t__realistic__counts.csv.gz").exists()
    with pytest.raises(SystemExit, match="give one"):
        bench.open_units(units, fresh=True, reuse=True)
    bench.open_units(units, fresh=True)
    assert [p.name for p in units.iterdir()] == [bench.MANIFEST]
    assert json.loads((units / bench.MANIFEST).read_text()) == now
    (units / "pri_t__realistic__counts.csv.gz").write_bytes(b"trials")
    bench.open_units(units)  # this code's units: resumed
    assert (units / "pri_t__realistic__counts.csv.gz").exists()


@pytest.mark.parametrize(("manifest", "why"), [
    (None, "no manifest.json: saved before manifests were written"),
    ({"cogmodels": "0.0.1"}, "cogmodels 0.0.1 -> "),
    ({"numpy": "1.0"}, "numpy 1.0 -> "),
    ({"sources": None}, "an unreadable manifest.json"),
])
def test_units_without_this_code_s_manifest_are_refused(tmp_path: Path, manifest, why) -> None:
    if manifest is not None:
        manifest = {**bench.code_manifest(), **manifest}
    with pytest.raises(SystemExit, match=re.escape(f"saved units of other code ({why}")):
        bench.open_units(_units(tmp_path / "units", manifest))


def test_the_benchmark_refuses_stale_units_before_running_any(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    units = _units(tmp_path / "reward_drift_units_quick_days0-14x3", None)
    monkeypatch.setattr(sys, "argv", ["bench_reward_drift.py", "--quick", "--out", str(tmp_path)])
    monkeypatch.setattr(bench, "run_unit", lambda *a: pytest.fail("a unit ran"))
    with pytest.raises(SystemExit, match=re.escape(f"{units} holds 1 saved units of other code")):
        bench.main()


def test_reuse_units_only_reads_and_runs_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    units = _units(tmp_path / "reward_drift_units_quick_days0-14x3", None)
    monkeypatch.setattr(sys, "argv", ["bench_reward_drift.py", "--quick", "--reuse-units",
                                      "--out", str(tmp_path)])
    monkeypatch.setattr(bench, "run_unit", lambda *a: pytest.fail("a unit ran"))
    with pytest.raises(SystemExit, match=re.escape(f"--reuse-units only reads saved units, and "
                                                   f"{units} lacks ['fixed,pri_t_gated/")):
        bench.main()
    assert not (units / bench.MANIFEST).exists()  # the folder's record left as it was


def test_the_table_reads_every_unit_of_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "units"
    folder.mkdir()
    for name in ("pri_t__realistic__counts", "fixed+daily__realistic__fa"):
        (folder / f"{name}.csv.gz").write_bytes(b"")
    (folder / "manifest.json").write_text("{}")
    assert bench.saved_units(folder) == [("fixed,daily", "realistic", "fa"),
                                         ("pri_t", "realistic", "counts")]


def test_two_units_that_play_one_decoder_are_refused(tmp_path: Path) -> None:
    units = [("fixed,daily_recalibration", "realistic", "counts"), ("fixed", "realistic", "counts"),
             ("fixed", "idealised", "counts")]
    bench.check_one_unit_per_decoder(units[::2], tmp_path)  # another ablation: another label
    with pytest.raises(SystemExit, match=re.escape(
            "holds two units that play 'fixed': fixed,daily_recalibration/realistic/counts and "
            "fixed/realistic/counts")):
        bench.check_one_unit_per_decoder(units, tmp_path)


def test_reuse_units_of_an_empty_folder_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="--reuse-units reads saved units, and .* holds none"):
        bench.open_units(tmp_path / "none", reuse=True)
    assert not (tmp_path / "none").exists()
