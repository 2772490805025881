"""The root conftest.py: ``--store-durations`` records CPU seconds per file, and the files are
collected heaviest first by them (the order ``make test`` hands them to its workers)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_BUSY = """
import time


def test_{name}():
    end = time.process_time() + {seconds}
    while time.process_time() < end:
        pass
"""


def _pytest(where: Path, *args: str) -> str:
    # no third-party plugins: they are not what is tested, and loading them costs a second a run
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=where, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_files_are_collected_heaviest_first_by_their_stored_cpu_seconds(tmp_path: Path):
    shutil.copy(ROOT / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")  # the rootdir, as in the repository
    tests = tmp_path / "tests"
    tests.mkdir()
    # alphabetical order is light, heavy; the CPU each burns decides the stored order
    for name, seconds in (("a_light", 0.01), ("b_heavy", 0.2), ("c_unlisted", 0.0)):
        (tests / f"test_{name}.py").write_text(_BUSY.format(name=name, seconds=seconds), encoding="utf-8")
    _pytest(tmp_path, "-q", "--store-durations", "tests/test_a_light.py", "tests/test_b_heavy.py")
    stored = json.loads((tests / "durations.json").read_text(encoding="utf-8"))
    assert set(stored) == {"tests/test_a_light.py", "tests/test_b_heavy.py"}
    assert stored["tests/test_b_heavy.py"] >= 0.2 > 0.1 > stored["tests/test_a_light.py"]
    # a file durations.json does not list goes first; then the heaviest
    order = [line for line in _pytest(tmp_path, "-q", "--collect-only").splitlines() if "::" in line]
    assert order == ["tests/test_c_unlisted.py::test_c_unlisted", "tests/test_b_heavy.py::test_b_heavy",
                     "tests/test_a_light.py::test_a_light"]
    # a later run of one file updates its entry and keeps the others
    (tests / "test_a_light.py").write_text(_BUSY.format(name="a_light", seconds=0.3), encoding="utf-8")
    _pytest(tmp_path, "-q", "--store-durations", "tests/test_a_light.py")
    restored = json.loads((tests / "durations.json").read_text(encoding="utf-8"))
    assert restored["tests/test_b_heavy.py"] == stored["tests/test_b_heavy.py"]
    assert restored["tests/test_a_light.py"] >= 0.3
