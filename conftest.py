"""The order in which ``make test`` hands test files to its two workers: the heaviest first.

``make test`` runs ``pytest -n 2 --dist loadfile --no-loadscope-reorder``: each file goes whole
to one worker (its module fixtures are computed once), in the order of the collection. Left to
itself, pytest-xdist orders the files by their number of tests, so that a file of one long test
(the docs build, a parameter recovery) starts last and keeps one worker busy while the other
idles. Here the files are collected heaviest first, by the CPU seconds recorded in
``tests/durations.json``: the longest-processing-time-first rule, whose finish time on two workers
is within 7/6 of the best possible schedule (Graham 1969, "Bounds on multiprocessing timing
anomalies", SIAM J. Appl. Math. 17(2)); the light files fill the end. A file that
``tests/durations.json`` does not list yet goes first, as if it were the heaviest.

``pytest --store-durations`` (with or without ``-n``) writes each file it ran, its CPU seconds
summed over setup, call and teardown of its tests (the worker's process and the subprocesses it
waited for, so that a loaded machine does not stretch them), into ``tests/durations.json``;
files it did not run keep their entry.
"""

from __future__ import annotations

import json
import resource
import time
from collections import defaultdict
from pathlib import Path

import pytest

#: CPU seconds per test file, as ``pytest --store-durations`` last measured them
DURATIONS = Path(__file__).resolve().parent / "tests" / "durations.json"
_CPU_KEY = "cpu_seconds"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--store-durations``."""
    parser.addoption("--store-durations", action="store_true", default=False,
                     help=f"write each test file's CPU seconds into {DURATIONS.name}, the order "
                          "in which the files are handed to the workers (heaviest first)")


def _file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def _recorded() -> dict[str, float]:
    return json.loads(DURATIONS.read_text(encoding="utf-8")) if DURATIONS.is_file() else {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Order the files by their recorded CPU seconds, heaviest first (unlisted files before all).

    The sort is stable: the tests of a file keep their order, and files of equal weight theirs.
    """
    seconds = _recorded()
    items.sort(key=lambda item: -seconds.get(_file_of(item.nodeid), float("inf")))


def _cpu_seconds() -> float:
    """CPU seconds of this process and of the children it has waited for (user + system)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Attach the CPU seconds of each phase to its report (which reaches the controlling process)."""
    outcome = yield
    if item.config.getoption("store_durations"):
        start = getattr(item, "_cpu_mark", None)
        now = _cpu_seconds()
        report = outcome.get_result()
        if start is not None:
            report.user_properties.append((_CPU_KEY, now - start))
        item._cpu_mark = now  # the next phase starts here


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Mark the CPU clock before the test's fixtures are set up."""
    if item.config.getoption("store_durations"):
        item._cpu_mark = _cpu_seconds()


class _DurationStore:
    """Sum the reported CPU seconds by file and write them when the session ends."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for key, value in report.user_properties:
            if key == _CPU_KEY:
                self.seconds[_file_of(report.nodeid)] += value

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not self.seconds:
            return
        merged = {**_recorded(), **{f: round(s, 1) for f, s in self.seconds.items()}}
        DURATIONS.write_text(json.dumps(dict(sorted(merged.items())), indent=1) + "\n", encoding="utf-8")


def pytest_configure(config: pytest.Config) -> None:
    """Under ``--store-durations``, collect the CPU seconds on the controlling process.

    Only there (an xdist worker has ``workerinput``): it receives every worker's reports.
    """
    if config.getoption("store_durations") and not hasattr(config, "workerinput"):
        config.pluginmanager.register(_DurationStore(), "cogmodels-duration-store")
