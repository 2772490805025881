"""The documentation site builds without a warning.

``make docs`` builds ``docs/`` into ``docs/_build/html`` and runs the tutorials; here a copy of
``docs/`` is built into a temporary folder with the tutorials read but not run
(``nb_execution_mode=off``), warnings as errors, so that a docstring, a guide or the API pages
cannot rot unseen. The guides' code is run by ``tests/test_docs.py`` (a file of its own, so that
pytest-xdist's ``--dist loadfile`` can give the build and the guides to different workers).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
DOCS_EXTRA = "the docs extra is not installed (pip install -e '.[docs]'; `make install` does it)"


def _require_docs_toolchain() -> None:
    for module in ("sphinx", "numpydoc", "myst_nb", "pydata_sphinx_theme", "jupytext"):
        pytest.importorskip(module, reason=DOCS_EXTRA)


def _copy_sources(target: Path) -> Path:
    """docs/ without what a build writes into it (generated pages, tutorial copies, _build)."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        here = Path(folder)
        skip = {"_build", "generated", ".ipynb_checkpoints", "__pycache__"}
        if here.name == "tutorials":
            skip |= {n for n in names if re.match(r"\d.*\.py$", n)}
        if here.name == "reference":
            skip.add("cli.rst")
        return skip & set(names)

    return Path(shutil.copytree(DOCS, target / "docs", ignore=ignore))


@pytest.mark.slow
def test_docs_build_without_warnings(tmp_path: Path):
    _require_docs_toolchain()
    src = _copy_sources(tmp_path)
    out, log = tmp_path / "html", tmp_path / "warnings.txt"
    # in its own process: autodoc_preserve_defaults rewrites the defaults of the live functions it
    # documents, which would leak into every later test of this process
    build = subprocess.run(
        [sys.executable, "-W", "ignore", "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q",
         "-w", str(log), "-d", str(tmp_path / "doctrees"), "-D", "nb_execution_mode=off",
         str(src), str(out)],
        env={**os.environ, "COGMODELS_DOCS_REPO": str(ROOT)}, capture_output=True, text=True,
    )
    status = build.returncode
    assert status == 0, f"the docs build failed or warned:\n{log.read_text()}\n{build.stderr[-3000:]}"
    pages = {
        "index.html": "cogmodels",
        "guides/fit-your-data.html": "compare_models",
        "guides/adaptive-decoder.html": "compare_under_drift",
        "guides/reproduce-an-experiment.html": "run_experiment",
        "guides/trial-tables.html": "validate_trials",
        "tutorials/01_bandits_and_fitting.html": "Bandits and model fitting",
        "reference/cli.html": "cogmodels compare",
        "api/index.html": "cogmodels.fits",
        "api/generated/cogmodels.fits.mle.html": "MaximumLikelihood",
        "api/generated/cogmodels.envs.bci.html": "CursorBCIVector",
        "api/generated/cogmodels.experiments.drift_study.html": "compare_under_drift",
    }
    for page, text in pages.items():
        path = out / page
        assert path.is_file(), f"{page} was not built"
        assert text in path.read_text(encoding="utf-8"), f"{page} does not mention {text!r}"
    # every tutorial in notebooks/ is a page of the site
    for nb in sorted((ROOT / "notebooks").glob("[0-9]*.py")):
        assert (out / "tutorials" / f"{nb.stem}.html").is_file(), f"tutorial {nb.name} has no page"
    # and every module of the package has an API page
    for module in _package_modules():
        assert (out / "api" / "generated" / f"{module}.html").is_file(), f"no API page for {module}"


def _package_modules() -> list[str]:
    """Every public module under cogmodels/, envs/, agents/ and fits/, by its import name."""
    roots = {"cogmodels": "cogmodels", "envs": "cogmodels.envs", "agents": "cogmodels.agents",
             "fits": "cogmodels.fits"}
    names = []
    for folder, package in roots.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            if any(p.startswith("_") for p in parts):
                continue
            names.append(".".join([package, *parts]))
    return names
