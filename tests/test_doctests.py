"""The ``Examples`` sections of the package's docstrings run as doctests.

Docstrings follow the numpydoc convention: an example is an ``Examples`` section of ``>>>``
lines with their real output, which this test runs (``ELLIPSIS`` and ``NORMALIZE_WHITESPACE``
on), module by module, imported by their installed names (``cogmodels.envs....``: pytest's own
``--doctest-modules`` would import ``envs/`` as a top-level package).
"""

from __future__ import annotations

import contextlib
import doctest
import importlib
import io
import re
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"cogmodels": "cogmodels", "envs": "cogmodels.envs", "agents": "cogmodels.agents",
           "fits": "cogmodels.fits"}


def _modules() -> dict[str, Path]:
    out = {}
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            out[".".join([package, *(p for p in rel.parts if p != "__init__")])] = path
    return out


MODULES = _modules()
WITH_EXAMPLES = [m for m, p in MODULES.items() if re.search(r"^\s*>>> ", p.read_text(encoding="utf-8"), re.M)]


@pytest.mark.parametrize("module", WITH_EXAMPLES)
def test_docstring_examples(module: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import pandas as pd

    monkeypatch.chdir(tmp_path)  # an example that writes a file writes it here
    mod = importlib.import_module(module)
    tests = [t for t in doctest.DocTestFinder().find(mod, module) if t.examples]
    assert tests, f"{module} has '>>>' lines but no doctest was found in its docstrings"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report = io.StringIO()
    with pd.option_context("display.width", 88, "display.max_columns", 12, "display.precision", 6), \
            warnings.catch_warnings(), _one_torch_thread():
        warnings.simplefilter("ignore", UserWarning)  # fits on tiny examples: bounds, convergence
        for test in tests:
            runner.run(test, out=report.write)
    assert not runner.failures, report.getvalue()


@contextlib.contextmanager
def _one_torch_thread():
    """The examples run tiny networks, which torch's thread pool slows down many times over on
    a busy 2-core machine; one thread for their duration, then the setting as it was."""
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def test_examples_are_numpydoc_sections():
    """One convention: ``Examples`` sections with ``>>>``, not ``Example::`` literal blocks."""
    old = [f"{p.relative_to(ROOT)}:{n}" for p in MODULES.values()
           for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
           if re.match(r"\s*Examples?::\s*$", line)]
    assert not old, f"write these as numpydoc 'Examples' sections with '>>>' lines: {old}"
    assert len(WITH_EXAMPLES) >= 8
