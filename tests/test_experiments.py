"""The experiment runner: every shipped experiment end to end, determinism across executors,
resume, failing units, config errors and atomic writes."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cogmodels.cli import main
from cogmodels.cpu_kernels import cpu_kernels
from cogmodels.experiments import (
    Config,
    Experiment,
    Range,
    atomic_path,
    atomic_write_text,
    experiment_names,
    get_experiment,
    load_config,
    register,
    resolve_config,
    run_experiment,
    run_suite,
    runner,
    unit_checkpoint_dir,
)
from cogmodels.experiments._common import TOO_SHORT, markdown_table
from cogmodels.experiments.runner import RunInterrupted

CONFIGS = Path(__file__).resolve().parents[1] / "experiments"
SHIPPED = [n for n in experiment_names() if not n.startswith("test_")]


pytestmark = pytest.mark.usefixtures("silence_warnings")


def _results(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((folder / "results").glob("*.csv"))}


# -- a tiny test-only experiment: counts its calls, fails or "is killed" on request --------------
def _toy_units(config: Config) -> list[dict]:
    return [{"i": i} for i in range(config["n_units"])]


def _toy_run_unit(config: Config, unit: dict, seed: int) -> dict[str, pd.DataFrame]:
    i = unit["i"]
    calls = Path(config["counter_dir"])
    n = len(list(calls.glob(f"{i}-*")))
    (calls / f"{i}-{n}").touch()
    if i == config["fail_on"]:
        raise RuntimeError(f"boom on unit {i}")
    marker = calls / "killed"
    progress = unit_checkpoint_dir()
    resumed = config["keep_progress"] and (progress / "progress").exists()
    if i == config["kill_on"] and not marker.exists():
        marker.touch()
        if config["keep_progress"]:  # what a long unit keeps before it is stopped
            progress.mkdir(parents=True)
            (progress / "progress").write_text(str(i))
        raise KeyboardInterrupt  # as if the run were killed here
    rng = np.random.default_rng(seed)
    values = pd.DataFrame({"i": i, "x": rng.random(3)})
    return {"values": values.assign(resumed=resumed) if config["keep_progress"] else values}


def _toy_report(config: Config, tables: dict[str, pd.DataFrame], out: Path):
    from matplotlib.figure import Figure

    from cogmodels.experiments import save_figure

    fig = Figure(figsize=(2, 2))
    fig.subplots().plot(tables["values"]["x"].to_numpy())
    return "![values](figures/values.png)", [save_figure(fig, out / "figures" / "values.png")]


TOY = register(Experiment(
    name="test_toy",
    description="A test-only experiment.",
    defaults={"n_units": 4, "fail_on": -1, "kill_on": -1, "counter_dir": "", "keep_progress": 0},
    quick={},
    units=_toy_units,
    run_unit=_toy_run_unit,
    report=_toy_report,
), replace=True)


def _toy(counter: Path, **params) -> dict:
    counter.mkdir(exist_ok=True)
    return {"experiment": "test_toy", "seed": 3, "params": {"counter_dir": str(counter), **params}}


def _calls(counter: Path) -> dict[int, int]:
    out: dict[int, int] = {}
    for p in counter.glob("[0-9]*-[0-9]*"):
        i = int(p.name.split("-")[0])
        out[i] = out.get(i, 0) + 1
    return out


# -- (a) every shipped experiment, quick, through the CLI ------------------------------------------
@pytest.mark.parametrize("name", SHIPPED)
def test_every_experiment_runs_quick_through_the_cli(name, tmp_path, capsys):
    config = CONFIGS / f"{name}.toml"
    assert config.is_file(), f"experiments/{name}.toml is missing"
    out = tmp_path / name
    rc = main(["run", str(config), "--quick", "--out", str(out), "--executor", "serial", "--seed", "1"])
    assert rc == 0, capsys.readouterr().err
    assert f"run folder: {out}" in capsys.readouterr().out
    for f in ("report.md", "manifest.json", "config.toml"):
        assert (out / f).is_file()
    assert list((out / "results").glob("*.csv")) and list((out / "figures").glob("*.png"))
    report = (out / "report.md").read_text()
    for png in (out / "figures").glob("*.png"):
        assert f"figures/{png.name}" in report
    assert TOO_SHORT not in report  # the quick setting shows its effect (here with seed 1)
    if name == "bci_drift":  # every decoder hits targets, the reward-only one too
        assert (pd.read_csv(out / "results" / "metrics.csv")["n_success"] > 0).all()
    if name == "bci_meta_decoder":  # the frozen GRU adapts from the error signal, and not without it
        curve = pd.read_csv(out / "results" / "learning_curve.csv").set_index(["decoder", "session"])
        gru, cut = curve.loc[("amortised_gru", 0)], curve.loc[("amortised_gru_no_error_input", 0)]
        assert gru["successes_per_min"].iloc[0] == 0.0 and gru["successes_per_min"].iloc[-1] > 20.0
        assert cut["successes_per_min"].max() < 5.0
        summary = pd.read_csv(out / "results" / "summary.csv").set_index(["decoder", "session"])
        assert summary["share_of_fresh_kalman"].xs("amortised_gru").iloc[1] > 0.6  # carried over
    if name == "bci_wilson":  # paired: both strategies meet the same subject on day 0
        per_day = pd.read_csv(out / "results" / "per_subject_day.csv").set_index(["decoder", "day"])
        assert per_day.loc[("hmm_wilson", 0), "trial_time"] == per_day.loc[("fixed", 0), "trial_time"]
        stats = pd.read_csv(out / "results" / "session_statistics.csv")
        assert stats["decoder"].tolist() == ["hmm_wilson", "fixed", "hmm_wilson", "fixed"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "ok" and manifest["seed"] == 1 and manifest["quick"]
    assert {"cogmodels", "numpy", "pandas"} <= set(manifest["versions"])
    assert all(u["status"] == "computed" for u in manifest["units"])
    children = np.random.SeedSequence(1).spawn(len(manifest["units"]))
    assert [u["seed"] for u in manifest["units"]] == [int(c.generate_state(1)[0]) for c in children]
    resolved = tomllib.loads((out / "config.toml").read_text())
    assert resolved["experiment"] == name and resolved["seed"] == 1
    assert resolved["params"] == load_config(config, quick=True, seed=1).params
    if _has_pyarrow():
        assert list((out / "results").glob("*.parquet"))


def _has_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


# -- (b) the same bytes serial, in local processes and on dask -------------------------------------
@pytest.fixture(scope="module")
def serial_dopamine(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("serial") / "dopamine"
    assert run_experiment(CONFIGS / "dopamine.toml", out, quick=True, executor="serial", progress=False).ok
    return out


def test_local_processes_give_the_serial_bytes(serial_dopamine, tmp_path):
    out = tmp_path / "local"
    res = run_experiment(CONFIGS / "dopamine.toml", out, quick=True, executor="local", workers=2,
                         progress=False)
    assert res.ok and res.manifest["executor"] == "local"
    assert _results(out) == _results(serial_dopamine) and _results(out)


def test_dask_local_cluster_gives_the_serial_bytes(serial_dopamine, tmp_path):
    pytest.importorskip("dask.distributed")
    out = tmp_path / "dask"
    res = run_experiment(CONFIGS / "dopamine.toml", out, quick=True, executor="dask", workers=2,
                         progress=False)
    assert res.ok and res.manifest["executor"] == "dask"
    assert _results(out) == _results(serial_dopamine)


# -- (c) resume: finished units are not recomputed -------------------------------------------------
def test_a_killed_run_resumes_without_recomputing(tmp_path):
    counter, out = tmp_path / "calls", tmp_path / "run"
    with pytest.raises(KeyboardInterrupt) as info:
        run_experiment(_toy(counter, kill_on=2), out, executor="serial", progress=False)
    assert isinstance(info.value, RunInterrupted)
    assert (info.value.path, info.value.done, info.value.total) == (out, 2, 4)
    assert _calls(counter) == {0: 1, 1: 1, 2: 1}
    assert sorted(p.name for p in (out / "units").iterdir()) == ["000-0", "001-1"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted" and manifest["interrupted"]
    assert [u["status"] for u in manifest["units"]] == ["computed", "computed", "cancelled", "cancelled"]
    res = run_experiment(_toy(counter, kill_on=2), out, executor="serial", progress=False)
    assert res.ok
    assert _calls(counter) == {0: 1, 1: 1, 2: 2, 3: 1}  # 0 and 1 not recomputed, none lost
    assert [u["status"] for u in res.manifest["units"]] == ["resumed", "resumed", "computed", "computed"]
    clean_counter, clean = tmp_path / "calls_clean", tmp_path / "clean"
    assert run_experiment(_toy(clean_counter), clean, executor="serial", progress=False).failed == {}
    assert _results(out) == _results(clean)
    values = pd.read_csv(out / "results" / "values.csv")
    assert values["i"].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]  # unit order, no duplicate


def test_a_stopped_unit_resumes_from_its_checkpoint_folder(tmp_path):
    """The runner keeps a stopped unit's checkpoint folder and hands it back, then deletes it."""
    counter, out = tmp_path / "calls", tmp_path / "run"
    config = _toy(counter, kill_on=1, keep_progress=1)
    assert unit_checkpoint_dir() is None  # outside a run
    with pytest.raises(RunInterrupted):
        run_experiment(config, out, executor="serial", progress=False)
    kept = out / "units" / ".001-1.checkpoint"
    assert (kept / "progress").read_text() == "1"
    assert unit_checkpoint_dir() is None
    res = run_experiment(config, out, executor="serial", progress=False)
    assert res.ok and _calls(counter) == {0: 1, 1: 2, 2: 1, 3: 1}
    values = pd.read_csv(out / "results" / "values.csv")
    assert values.groupby("i")["resumed"].first().tolist() == [False, True, False, False]
    # the manifest says which unit found a stopped run's progress (its seconds: the last run's)
    rows = json.loads((out / "manifest.json").read_text())["units"]
    assert [r.get("checkpoint_found", False) for r in rows] == [False, True, False, False]
    assert [r["status"] for r in rows] == ["resumed", "computed", "computed", "computed"]
    # a folder holding only a killed write's temporary file is no progress
    tmp_only = tmp_path / "units_tmp"
    (tmp_only / ".u.checkpoint").mkdir(parents=True)
    (tmp_only / ".u.checkpoint" / "state.pkl.tmp").write_bytes(b"")
    assert not runner._has_progress(tmp_only / ".u.checkpoint")
    (tmp_only / ".u.checkpoint" / "state.pkl").write_bytes(b"")
    assert runner._has_progress(tmp_only / ".u.checkpoint")
    assert sorted(p.name for p in (out / "units").iterdir()) == ["000-0", "001-1", "002-2", "003-3"]


def test_bci_wilson_resumes_a_stopped_unit_at_its_next_day(tmp_path, monkeypatch, capsys):
    """A ``bci_wilson`` unit stopped after day 0 resumes at day 1: the bytes of a run never stopped."""
    from cogmodels.agents.decoders import day_checkpoint

    config = {"experiment": "bci_wilson", "seed": 2,
              "params": {"strategies": ["fixed"], "days": 2, "n_subjects": 1, "session_s": 10.0,
                         "sweep_s": 1.0}}
    clean = tmp_path / "clean"
    assert run_experiment(config, clean, executor="serial", progress=False).ok
    save = day_checkpoint.DayCheckpoint.save

    def save_then_stop(self, state):  # killed right after day 0's checkpoint
        save(self, state)
        raise KeyboardInterrupt

    out = tmp_path / "run"
    monkeypatch.setattr(day_checkpoint.DayCheckpoint, "save", save_then_stop)
    with pytest.raises(RunInterrupted):
        run_experiment(config, out, executor="serial", progress=False)
    assert day_checkpoint.saved_day(out / "units" / ".000-fixed-2.checkpoint", "fixed") == 1
    monkeypatch.setattr(day_checkpoint.DayCheckpoint, "save", save)
    capsys.readouterr()
    assert run_experiment(config, out, executor="serial", progress=False).ok
    assert "fixed had played 1 of 2 days when the run stopped" in capsys.readouterr().err
    assert _results(out) == _results(clean)
    assert not list((out / "units").glob(".*"))

    def stop_in_save(self, state):  # killed while day 0's checkpoint was written: its trials only
        raise KeyboardInterrupt

    again = tmp_path / "again"
    monkeypatch.setattr(day_checkpoint.DayCheckpoint, "save", stop_in_save)
    with pytest.raises(RunInterrupted):
        run_experiment(config, again, executor="serial", progress=False)
    assert [p.name for p in (again / "units" / ".000-fixed-2.checkpoint").iterdir()] == ["fixed.csv"]
    monkeypatch.setattr(day_checkpoint.DayCheckpoint, "save", save)
    assert run_experiment(config, again, executor="serial", progress=False).ok  # starts over
    assert _results(again) == _results(clean)


def test_resume_refuses_a_different_config(tmp_path):
    counter, out = tmp_path / "calls", tmp_path / "run"
    assert run_experiment(_toy(counter, n_units=2), out, executor="serial", progress=False).ok
    with pytest.raises(ValueError, match="holds a run of a different config"):
        run_experiment(_toy(counter, n_units=3), out, executor="serial", progress=False)


# -- (d) a failing unit is reported, the others go on ----------------------------------------------
def test_a_failing_unit_is_reported_and_the_others_finish(tmp_path, capsys):
    counter, out = tmp_path / "calls", tmp_path / "run"
    config = tmp_path / "toy.toml"
    config.write_text(f'experiment = "test_toy"\nseed = 5\n[params]\nfail_on = 1\ncounter_dir = "{counter}"\n')
    counter.mkdir()
    assert main(["run", str(config), "--out", str(out), "--executor", "serial"]) == 1
    err = capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    failed = [u for u in manifest["units"] if u["status"] == "failed"]
    seed1 = int(np.random.SeedSequence(5).spawn(4)[1].generate_state(1)[0])
    assert [(u["id"], u["seed"]) for u in failed] == [("001-1", seed1)]
    assert "RuntimeError: boom on unit 1" in failed[0]["error"]
    assert f"unit 001-1 (seed {seed1}) failed" in err and "boom on unit 1" in err
    assert manifest["status"] == "failed"
    assert _calls(counter) == {0: 1, 1: 1, 2: 1, 3: 1}
    assert pd.read_csv(out / "results" / "values.csv")["i"].unique().tolist() == [0, 2, 3]
    assert "001-1" in (out / "report.md").read_text()


# -- (e) config errors --------------------------------------------------------------------------------
def test_config_errors_name_the_valid_choices(tmp_path, capsys):
    def err(raw, **kw):
        with pytest.raises(ValueError) as info:
            resolve_config(raw, **kw)
        return str(info.value)

    assert err({"experiment": "dopamine", "params": {"n_trails": 5}}) == (
        "unknown key(s) ['n_trails'] in [params] of experiment 'dopamine'; valid keys: "
        "['representations', 'n_trials', 'n_late', 'gamma', 'lam']")
    assert err({"experiment": "dopamine", "sed": 1}) == (
        "unknown key(s) ['sed']; valid keys: ['experiment', 'seed', 'description', 'params', 'quick']")
    assert err({"experiment": "nope"}) == f"experiment must be one of {experiment_names()}, got 'nope'"
    assert err({"experiment": "dopamine", "params": {"n_trials": "60"}}) == (
        "n_trials must be an integer (like the default 200), got '60' (a string)")
    assert err({"experiment": "dopamine", "params": {"n_trials": 6.5}}) == (
        "n_trials must be an integer (like the default 200), got 6.5 (a number)")
    assert err({"experiment": "dopamine", "params": {"representations": ["csc", "spline"]}}) == (
        "representations[1] must be one of ['csc', 'microstimulus', 'presence', 'tabular'], got 'spline'")
    assert err({"experiment": "bci_drift", "params": {"drift": "wild"}}).startswith(
        "drift must be one of ['")
    assert err({"experiment": "dopamine"}, seed=-1) == "seed must be an integer >= 0, got -1"
    # integers are accepted for floats; the quick setting comes last
    cfg = resolve_config({"experiment": "dopamine", "params": {"gamma": 1, "n_trials": 500}}, quick=True)
    assert cfg.params["gamma"] == 1.0 and isinstance(cfg.params["gamma"], float)
    assert cfg.params["n_trials"] == get_experiment("dopamine").quick["n_trials"]
    # through the CLI: exit status 2 and the message
    bad = tmp_path / "bad.toml"
    bad.write_text('experiment = "dopamine"\n[params]\nn_trails = 5\n')
    with pytest.raises(SystemExit) as info:
        main(["run", str(bad), "--out", str(tmp_path / "x")])
    assert info.value.code == 2
    assert "cogmodels run: error: unknown key(s) ['n_trails']" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


# -- (f) atomic writes -----------------------------------------------------------------------------------
def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "table.csv"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half a ta")
            raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []
    atomic_write_text(target, "old\n")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("new but partial")
            raise RuntimeError("killed")
    assert target.read_text() == "old\n" and list(tmp_path.iterdir()) == [target]


# -- suites ------------------------------------------------------------------------------------------------
def test_run_suite_links_each_report_and_headline_figure(tmp_path):
    toy = tmp_path / "toy.toml"
    (tmp_path / "calls").mkdir()
    toy.write_text(f'experiment = "test_toy"\n[params]\ncounter_dir = "{tmp_path / "calls"}"\n')
    out = run_suite([CONFIGS / "dopamine.toml", toy], tmp_path / "suite", quick=True, progress=False)
    report = (out / "report.md").read_text()
    for name in ("test_toy", "dopamine"):
        assert f"({name}/report.md)" in report and (out / name / "report.md").is_file()
        assert re.search(rf"!\[{name}\]\({name}/figures/\w+\.png\)", report)
    assert json.loads((out / "suite.json").read_text())["dopamine"]["status"] == "ok"
    # a later suite of one experiment into the same folder keeps the other's section (a demo
    # re-run with --only); the one it runs again is replaced, in its place
    dopamine = report[report.index("## dopamine"):report.index("## test_toy")]
    run_suite([toy], out, quick=True, progress=False)
    again = (out / "report.md").read_text()
    assert dopamine in again and again.index("## dopamine") < again.index("## test_toy")
    assert again.count("## test_toy") == 1 and "an earlier run into this folder" not in again
    suite = json.loads((out / "suite.json").read_text())
    assert list(suite) == ["dopamine", "test_toy"] and suite["test_toy"]["status"] == "ok"
    # a suite.json of the old form (no sections) is enough: sections come from the manifests
    (out / "suite.json").write_text(json.dumps({"dopamine": {"status": "ok", "failed_units": []}}))
    run_suite([toy], out, quick=True, progress=False)
    assert (out / "report.md").read_text() == again
    # a figure that is gone is not linked; a run folder that is gone drops its section
    for png in (out / "dopamine" / "figures").glob("*.png"):
        png.unlink()
    run_suite([toy], out, quick=True, progress=False)
    assert "## dopamine" in (out / "report.md").read_text()
    assert "![dopamine]" not in (out / "report.md").read_text()
    shutil.rmtree(out / "dopamine")
    run_suite([toy], out, quick=True, progress=False)
    assert "## dopamine" not in (out / "report.md").read_text()


# -- (g) declared ranges: out-of-range values fail when the config loads ------------------------------
def test_every_numeric_parameter_of_a_shipped_experiment_declares_a_range():
    for name in SHIPPED:
        exp = get_experiment(name)
        numeric = [k for k, v in exp.defaults.items()
                   if not isinstance(v, bool) and isinstance(v, int | float)
                   or isinstance(v, list) and v and all(isinstance(x, int | float) and not isinstance(x, bool)
                                                        for x in v)]
        assert [k for k in numeric if k not in exp.ranges] == [], name
        resolve_config({"experiment": name})  # the defaults and the quick setting are in range
        resolve_config({"experiment": name}, quick=True)


def test_out_of_range_values_name_the_key_and_the_range(tmp_path, capsys):
    def err(params, name="two_step", where="params"):
        with pytest.raises(ValueError) as info:
            resolve_config({"experiment": name, where: params}, quick=where == "quick")
        return str(info.value)

    assert err({"n_subjects": -5}) == "n_subjects must be an integer >= 1, got -5"
    assert err({"n_subjects": -5}, where="quick") == "n_subjects must be an integer >= 1, got -5"
    assert err({"w": 1.5}) == "w must be a finite number in [0, 1], got 1.5"
    assert err({"beta": -1}) == "beta must be a finite number in [0, inf), got -1"
    assert err({"agents": []}) == (
        "agents must be a non-empty list (like the default ['two_step_mf', 'two_step_mb', "
        "'two_step_hybrid']), got []")
    assert err({"session_seconds": 0}, "bci_drift") == "session_seconds must be a finite number in (0, inf), got 0"
    assert err({"days": [0, -7]}, "bci_drift") == "days[1] must be an integer >= 0, got -7"
    assert err({"n_subjects": 80}, "rlwm") == "n_subjects must be an integer in [0, 79], got 80"
    assert err({"gamma": float("nan")}, "dopamine") == "gamma must be a finite number in [0, 1], got nan"
    # through the CLI: exit status 2, one line naming the key and the range, nothing written
    bad = tmp_path / "bad.toml"
    bad.write_text('experiment = "two_step"\n[params]\nn_subjects = -5\n')
    with pytest.raises(SystemExit) as info:
        main(["run", str(bad), "--out", str(tmp_path / "x")])
    assert info.value.code == 2
    assert capsys.readouterr().err == "cogmodels run: error: n_subjects must be an integer >= 1, got -5\n"
    assert not (tmp_path / "x").exists()


def test_ranges_must_name_parameters_and_be_ranges():
    kw = dict(name="test_bad", description="", quick={}, units=_toy_units, run_unit=_toy_run_unit,
              report=_toy_report)
    with pytest.raises(ValueError, match=r"ranges names unknown parameter\(s\) \['n'\]"):
        Experiment(defaults={"k": 1}, ranges={"n": (0, None)}, **kw)
    with pytest.raises(TypeError, match="must be a Range or"):
        Experiment(defaults={"k": 1}, ranges={"k": [0, 1]}, **kw)
    exp = Experiment(defaults={"k": 1}, ranges={"k": (0, 3)}, **kw)
    assert exp.ranges == {"k": Range(0, 3)}


# -- (h) --quick replaces [params] values, and says which ------------------------------------------------
def test_quick_names_the_values_of_params_it_replaces(tmp_path, capsys):
    raw = {"experiment": "dopamine", "params": {"n_trials": 30, "n_late": 3, "representations": ["csc"]}}
    cfg = resolve_config(raw, quick=True)
    assert cfg.params["n_trials"] == 60 and cfg.params["n_late"] == 3
    assert cfg.quick_replaced == {"n_trials": (30, 60)}
    assert resolve_config(raw).quick_replaced == {}
    # a value in the config's [quick] table is used as it is, and is no replacement
    cfg = resolve_config({**raw, "quick": {"n_trials": 20}}, quick=True)
    assert cfg.params["n_trials"] == 20 and cfg.quick_replaced == {}
    # a [params] value equal to the quick one is not replaced
    assert resolve_config({"experiment": "dopamine", "params": {"n_trials": 60}}, quick=True).quick_replaced == {}

    config = tmp_path / "mine.toml"
    config.write_text('experiment = "dopamine"\n[params]\nn_trials = 30\nrepresentations = ["csc"]\n')
    out = tmp_path / "run"
    assert main(["run", str(config), "--quick", "--out", str(out), "--executor", "serial"]) == 0
    assert capsys.readouterr().err == (
        f"dopamine: the quick setting replaces these values of [params] of {config}: n_trials = 30 -> 60 "
        "(to keep one with --quick, set it in the config's [quick] table too)\n")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["quick_replaced"] == {"n_trials": {"params": 30, "quick": 60}}
    assert tomllib.loads((out / "config.toml").read_text())["params"]["n_trials"] == 60


# -- (i) --out: an existing file or a folder that cannot be written -------------------------------------
def _toy_config(tmp_path: Path) -> Path:
    config = tmp_path / "toy.toml"
    (tmp_path / "calls").mkdir()
    config.write_text(f'experiment = "test_toy"\n[params]\ncounter_dir = "{tmp_path / "calls"}"\n')
    return config


def test_out_that_is_a_file_fails_with_one_line(tmp_path, capsys):
    config = _toy_config(tmp_path)
    target = tmp_path / "results.csv"
    target.write_text("precious\n")
    assert main(["run", str(config), "--out", str(target), "--executor", "serial"]) == 2
    assert capsys.readouterr().err == (
        f"cogmodels run: error: --out {target} is an existing file, not a folder; give a new folder, or "
        "the folder of a run to resume\n")
    assert target.read_text() == "precious\n" and _calls(tmp_path / "calls") == {}
    assert main(["run", str(config), "--out", str(target / "sub"), "--executor", "serial"]) == 2
    assert capsys.readouterr().err == (
        f"cogmodels run: error: --out {target / 'sub'} cannot be written (Not a directory); give a folder "
        "you can write to\n")


def test_out_that_cannot_be_written_fails_with_one_line(tmp_path, capsys, monkeypatch):
    import os
    import tempfile

    config = _toy_config(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if os.geteuid() == 0:  # root writes anywhere: refuse the write as the file system would
        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(tempfile, "mkstemp", refuse)
    try:
        assert main(["run", str(config), "--out", str(locked), "--executor", "serial"]) == 2
    finally:
        locked.chmod(0o755)
    assert capsys.readouterr().err == (
        f"cogmodels run: error: --out {locked} cannot be written (Permission denied); give a folder you "
        "can write to\n")
    assert list(locked.iterdir()) == [] and _calls(tmp_path / "calls") == {}


# -- (j) the progress bar: on a terminal, not with --quiet -------------------------------------------------
@pytest.mark.parametrize("quiet", [False, True])
def test_progress_bar_over_units_unless_quiet(quiet, tmp_path, capsys, monkeypatch):
    import sys

    config = _toy_config(tmp_path)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    args = ["run", str(config), "--out", str(tmp_path / "run"), "--executor", "serial"]
    assert main(args + (["--quiet"] if quiet else [])) == 0
    err = capsys.readouterr().err
    if quiet:
        assert err == ""
    else:
        assert "test_toy: 100%" in err and "4/4" in err


def test_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path, capsys):
    config = _toy_config(tmp_path)
    assert main(["run", str(config), "--out", str(tmp_path / "run"), "--executor", "serial"]) == 0
    assert capsys.readouterr().err == ""


# -- (k) torch threads ----------------------------------------------------------------------------------
def _threads_units(config: Config) -> list[dict]:
    return [{"i": 0}, {"i": 1}]


def _threads_run_unit(config: Config, unit: dict, seed: int) -> dict[str, pd.DataFrame]:
    import torch

    return {"threads": pd.DataFrame({"i": [unit["i"]], "threads": [torch.get_num_threads()]})}


def _no_report(config: Config, tables: dict[str, pd.DataFrame], out: Path):
    return "", []


register(Experiment(name="test_threads", description="Records torch's thread count.", defaults={},
                    quick={}, units=_threads_units, run_unit=_threads_run_unit, report=_no_report),
         replace=True)


def test_the_runner_runs_units_with_its_threads_and_puts_them_back(tmp_path):
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        res = run_experiment({"experiment": "test_threads"}, tmp_path / "one", executor="serial", progress=False)
        assert res.manifest["threads"] == 1
        assert pd.read_csv(tmp_path / "one" / "results" / "threads.csv")["threads"].tolist() == [1, 1]
        assert torch.get_num_threads() == 2
        run_experiment({"experiment": "test_threads"}, tmp_path / "none", executor="serial", threads=None,
                       progress=False)
        assert pd.read_csv(tmp_path / "none" / "results" / "threads.csv")["threads"].tolist() == [2, 2]
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError, match="threads must be an integer >= 1, got 0"):
        run_experiment({"experiment": "test_threads"}, tmp_path / "bad", threads=0)


def test_cli_threads_option(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    config = tmp_path / "t.toml"
    config.write_text('experiment = "test_threads"\n')
    with pytest.raises(SystemExit) as info:
        main(["run", str(config), "--threads", "0"])
    assert info.value.code == 2 and "--threads: must be an integer >= 1, got '0'" in capsys.readouterr().err
    before = torch.get_num_threads()
    try:
        assert main(["run", str(config), "--out", str(tmp_path / "run"), "--executor", "serial",
                     "--threads", "3"]) == 0
    finally:
        torch.set_num_threads(before)
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["threads"] == 3
    assert pd.read_csv(tmp_path / "run" / "results" / "threads.csv")["threads"].tolist() == [3, 3]


def test_a2c_trains_with_its_threads_and_puts_them_back():
    torch = pytest.importorskip("torch")
    from cogmodels.agents.a2c import A2CConfig, A2CTrainer

    with pytest.raises(ValueError, match="threads must be an integer >= 1, got 0"):
        A2CConfig(threads=0)
    assert A2CConfig().threads is None and A2CConfig.from_dict(A2CConfig(threads=1).to_dict()).threads == 1
    trainer = A2CTrainer(n_lanes=4, hidden_size=4, n_trials=5, total_updates=2, threads=1)
    seen = []
    step = trainer._train_episode

    def spy():
        seen.append(torch.get_num_threads())
        return step()

    trainer._train_episode = spy
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        trainer.train(progress=False)
        assert seen == [1, 1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_markdown_table_rounds_to_significant_digits_or_to_decimals():
    df = pd.DataFrame({"decoder": ["kf", "pri_t"], "rate": [44.8731, np.float64(0.5)], "n": [4, 8]})
    assert markdown_table(df).splitlines() == [
        "| decoder | rate | n |", "| --- | --- | --- |", "| kf | 44.9 | 4 |", "| pri_t | 0.5 | 8 |"]
    assert markdown_table(df, decimals=2).splitlines()[2:] == ["| kf | 44.87 | 4 |", "| pri_t | 0.50 | 8 |"]


# -- (d) the CPU kernels of the driver and of every unit -------------------------------------------
def test_a_run_resumed_under_other_cpu_kernels_says_so(tmp_path, capsys):
    counter, out = tmp_path / "calls", tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run_experiment(_toy(counter, kill_on=2), out, executor="serial", progress=False)
    here = cpu_kernels()
    unit = out / "units" / "000-0" / "unit.json"
    meta = json.loads(unit.read_text())
    assert meta["kernels"] == here
    other = {**here, "blas": "Haswell" if here["blas"] != "Haswell" else "SkylakeX"}  # as on another CPU
    unit.write_text(json.dumps({**meta, "kernels": other}))
    capsys.readouterr()
    res = run_experiment(_toy(counter, kill_on=2), out, executor="serial", progress=False)
    assert res.ok and res.manifest["kernels"] == here
    assert [u["kernels"] for u in res.manifest["units"]] == [other, here, here, here]
    assert res.manifest["kernels_differ"] == [other, here]
    assert "ran under different CPU kernels" in capsys.readouterr().err
    clean = run_experiment(_toy(tmp_path / "calls_clean"), tmp_path / "clean", executor="serial", progress=False)
    assert "kernels_differ" not in clean.manifest


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_cpu_kernels_name_the_openblas_core_the_environment_forces():
    if cpu_kernels()["blas"] == "unknown":
        pytest.skip("NumPy is not linked to OpenBLAS here")
    code = "from cogmodels.cpu_kernels import cpu_kernels; print(cpu_kernels()['blas'])"
    env = {**os.environ, "OPENBLAS_CORETYPE": "Nehalem"}  # SSE4.2 kernels, which any x86-64 CPU of the last 15 years runs
    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("OPENBLAS_CORETYPE names x86 cores")
    forced = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert forced.stdout.strip() == "Nehalem"


#: a stand-in for torch, as a unit that trains a network leaves it imported in its process
_FAKE_TORCH = type(sys)("torch")
_FAKE_TORCH.backends = type(sys)("torch.backends")
_FAKE_TORCH.backends.cpu = type(sys)("torch.backends.cpu")
_FAKE_TORCH.backends.cpu.get_cpu_capability = lambda: "AVX2"


def _torch_units(config: Config) -> list[dict]:
    return [{"i": i} for i in range(3)]


def _torch_run_unit(config: Config, unit: dict, seed: int) -> dict[str, pd.DataFrame]:
    if unit["i"] >= 1:  # units 1 and 2 import torch (meta_rl_bandit's gru_a2c); unit 0 does not
        sys.modules["torch"] = _FAKE_TORCH
    return {"values": pd.DataFrame({"i": [unit["i"]]})}


register(Experiment(name="test_kernels_torch", description="Some units import torch.", defaults={},
                    quick={}, units=_torch_units, run_unit=_torch_run_unit, report=_no_report), replace=True)


def test_units_that_import_torch_and_units_that_do_not_share_one_machines_kernels(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)  # not imported yet (restored after the test)
    here = cpu_kernels()
    res = run_experiment({"experiment": "test_kernels_torch"}, tmp_path / "run", executor="serial", progress=False)
    kernels = [u["kernels"] for u in res.manifest["units"]]
    assert res.ok and all({k: v for k, v in u.items() if k != "torch"} == here for u in kernels)
    assert "kernels_differ" not in res.manifest
    assert "ran under different CPU kernels" not in capsys.readouterr().err
