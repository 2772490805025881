"""Ctrl-C, kill -9 and dying workers in `cogmodels run`, with real processes.

The runs use a test-only experiment whose units sleep (`sleepy_units.py`, written to a temporary
folder that the subprocess puts on its path); the subprocess is `cogmodels.cli.main`, as the
`cogmodels` script runs it. Ctrl-C is sent as a terminal sends it: SIGINT to the whole process
group of the run.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from cogmodels.experiments import run_experiment
from cogmodels.experiments.runner import NO_MAIN_GUARD_MESSAGE

ROOT = Path(__file__).resolve().parents[1]

SLEEPY = '''
import os
import time
from pathlib import Path

import pandas as pd

from cogmodels.experiments import Experiment, register


def units(config):
    return [{"i": i} for i in range(config["n_units"])]


def run_unit(config, unit, seed):
    i = unit["i"]
    (Path(config["marks"]) / f"started-{i}-{os.getpid()}").touch()
    if i == config["die_on"]:
        os._exit(3)
    time.sleep(0.0 if i < config["n_fast"] else float(os.environ.get("SLEEPY_SECONDS", "60")))
    return {"values": pd.DataFrame({"i": [i]})}


def report(config, tables, out):
    return "", []


EXPERIMENT = register(Experiment(
    name="test_sleepy", description="Units that sleep.",
    defaults={"n_units": 6, "n_fast": 1, "die_on": -1, "marks": ""}, quick={},
    units=units, run_unit=run_unit, report=report,
    ranges={"n_units": (1, None), "n_fast": (0, None), "die_on": (-1, None)},
), replace=True)
'''

CLI = ("import sys; sys.path.insert(0, sys.argv.pop(1)); import sleepy_units; "
       "from cogmodels.cli import main; sys.exit(main(sys.argv[1:]))")


@pytest.fixture
def sleepy(tmp_path):
    """(helper folder, config path, marks folder)."""
    helper = tmp_path / "helper"
    helper.mkdir()
    (helper / "sleepy_units.py").write_text(SLEEPY)
    marks = tmp_path / "marks"
    marks.mkdir()
    config = tmp_path / "sleepy.toml"
    config.write_text(f'experiment = "test_sleepy"\n[params]\nmarks = "{marks}"\n')
    return helper, config, marks


def _start(helper: Path, args: list[str], **env: str) -> subprocess.Popen:
    """`cogmodels ARGS` in its own process group, SIGINT at its default (as in a terminal)."""
    return subprocess.Popen(
        [sys.executable, "-c", CLI, str(helper), *args], cwd=helper.parent, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **env},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _started(marks: Path) -> dict[int, set[int]]:
    """unit index -> pids of the processes that started it."""
    out: dict[int, set[int]] = {}
    for m in marks.glob("started-*"):
        _, i, pid = m.name.split("-")
        out.setdefault(int(i), set()).add(int(pid))
    return out


def _wait_for(cond, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    t0 = time.monotonic()
    while not cond():
        if proc.poll() is not None:
            pytest.fail(f"the run ended early ({proc.returncode}): {proc.communicate()}")
        if time.monotonic() - t0 > timeout:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"timed out: {proc.communicate()}")
        time.sleep(0.05)


def _gone(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return "\nState:\tZ" in status  # a zombie has exited; only its parent can reap it


def _wait_gone(pids, timeout: float) -> list[int]:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        left = [p for p in pids if not _gone(p)]
        if not left:
            return []
        time.sleep(0.05)
    return left


pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists() or sys.platform == "win32",
                                reason="needs POSIX signals and /proc")


def _interrupt(executor: str, sleepy, workers: int = 2):
    helper, config, marks = sleepy
    out = helper.parent / "run"
    proc = _start(helper, ["run", str(config), "--out", str(out), "--executor", executor,
                           "--workers", str(workers)])
    n_started = 2 if executor == "serial" else 3  # unit 0 done; 1 (and 2) asleep in the workers
    _wait_for(lambda: (out / "units" / "000-0" / "unit.json").exists() and len(_started(marks)) >= n_started,
              proc)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal
    t0 = time.monotonic()
    try:
        stdout, stderr = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"still running 30 s after Ctrl-C: {proc.communicate()}")
    return proc, out, time.monotonic() - t0, stdout, stderr


def _check_interrupted(proc, out, seconds, stdout, stderr, marks, config):
    assert proc.returncode == 130, stderr
    assert seconds < 5, f"took {seconds:.1f} s to stop"
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert stderr == (
        f"cogmodels run: interrupted; 1 of 6 units are finished and kept in {out}; to resume: "
        f"cogmodels run {config} --out {out}\n")
    assert stdout == ""
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert [u["status"] for u in manifest["units"]] == ["computed"] + ["cancelled"] * 5
    assert sorted(p.name for p in (out / "units").iterdir()) == ["000-0"]
    workers = {pid for pids in _started(marks).values() for pid in pids} - {proc.pid}
    assert _wait_gone(workers, 5) == []


def test_ctrl_c_serial_keeps_finished_units_and_exits_130(sleepy):
    proc, out, seconds, stdout, stderr = _interrupt("serial", sleepy)
    _check_interrupted(proc, out, seconds, stdout, stderr, sleepy[2], sleepy[1])


@pytest.mark.slow
def test_ctrl_c_local_cancels_the_workers_and_the_printed_command_resumes(sleepy):
    helper, config, marks = sleepy
    proc, out, seconds, stdout, stderr = _interrupt("local", sleepy)
    _check_interrupted(proc, out, seconds, stdout, stderr, marks, config)
    assert len(_started(marks)[1] | _started(marks)[2]) == 2  # two worker processes were running
    # the command printed resumes the run: unit 0 is not run again
    resume = shlex.split(re.search(r"to resume: (.*)$", stderr.strip()).group(1))
    assert resume[:2] == ["cogmodels", "run"]
    again = _start(helper, resume[1:], SLEEPY_SECONDS="0")
    stdout, stderr = again.communicate(timeout=120)
    assert again.returncode == 0, stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "ok"
    assert [u["status"] for u in manifest["units"]] == ["resumed"] + ["computed"] * 5
    assert len(_started(marks)[0]) == 1


@pytest.mark.slow
def test_ctrl_c_dask(sleepy):
    pytest.importorskip("dask.distributed")
    helper, config, marks = sleepy
    proc, out, seconds, stdout, stderr = _interrupt("dask", sleepy)
    _check_interrupted(proc, out, seconds, stdout, stderr, marks, config)


@pytest.mark.parametrize("executor", ["local", pytest.param("dask", marks=pytest.mark.slow)])
def test_kill_9_of_the_runner_leaves_no_worker(executor, sleepy):
    if executor == "dask":
        pytest.importorskip("dask.distributed")
    helper, config, marks = sleepy
    proc = _start(helper, ["run", str(config), "--out", str(helper.parent / "run"), "--executor", executor,
                           "--workers", "2"])
    _wait_for(lambda: len({p for pids in _started(marks).values() for p in pids}) >= 2, proc)
    workers = {p for pids in _started(marks).values() for p in pids}
    assert proc.pid not in workers
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert _wait_gone(workers, 5) == [], "worker processes outlived the runner"


@pytest.mark.slow
def test_a_worker_that_dies_fails_its_unit_only(sleepy, tmp_path, monkeypatch):
    helper, _, marks = sleepy
    monkeypatch.syspath_prepend(str(helper))  # the spawned workers get this path too
    monkeypatch.setenv("SLEEPY_SECONDS", "0")
    import sleepy_units  # noqa: F401  (registers test_sleepy)

    res = run_experiment({"experiment": "test_sleepy", "params": {"marks": str(marks), "die_on": 2,
                                                                  "n_units": 4}},
                         tmp_path / "run", executor="local", workers=2, progress=False)
    statuses = [u["status"] for u in res.manifest["units"]]
    assert statuses == ["computed", "computed", "failed", "computed"]
    assert res.failed == {"002-2": "the worker process running this unit died (exit status 3)\n"}
    assert res.manifest["status"] == "failed"


@pytest.mark.slow
def test_a_script_without_the_main_guard_is_told_in_one_line(tmp_path):
    script = tmp_path / "no_guard.py"
    script.write_text(textwrap.dedent('''
        from cogmodels.experiments import run_experiment

        run_experiment({"experiment": "dopamine", "params": {"n_trials": 20, "representations": ["csc", "presence"]}},
                       "run", executor="local", workers=2, progress=False)
    '''))
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 1
    assert proc.stderr.count(NO_MAIN_GUARD_MESSAGE) == 1, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == f"cogmodels.experiments.runner.WorkerStartError: {NO_MAIN_GUARD_MESSAGE}"
    assert "BrokenProcessPool" not in proc.stderr
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["error"] == NO_MAIN_GUARD_MESSAGE
    assert all(u["status"] == "pending" and "error" not in u for u in manifest["units"])


@pytest.mark.slow
def test_the_readme_local_example_runs_as_a_script(tmp_path):
    readme = (ROOT / "README.md").read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if 'executor="local"' in b]
    assert len(blocks) == 1
    code = blocks[0]
    assert 'if __name__ == "__main__":' in code
    config = tmp_path / "small.toml"
    config.write_text('experiment = "dopamine"\n[params]\nn_trials = 20\nrepresentations = ["csc", "presence"]\n')
    code = code.replace('"experiments/rlwm.toml"', repr(str(config))).replace('"runs/rlwm"', repr(str(tmp_path / "run")))
    (tmp_path / "example.py").write_text(code)
    proc = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "'status': 'computed'" in proc.stdout
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["status"] == "ok"
