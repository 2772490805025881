"""The documentation site builds without a warning, and its guides' code runs.

``make docs`` builds ``docs/`` into ``docs/_build/html`` and runs the tutorials; here a copy of
``docs/`` is built into a temporary folder with the tutorials read but not run
(``nb_execution_mode=off``), warnings as errors, so that a docstring, a guide or the API pages
cannot rot unseen. The guides' code blocks are run by :func:`test_guide_code_runs`:
``python`` blocks are executed, ``pycon`` blocks are doctests, ``toml`` blocks whose first line
is ``# file: NAME`` are written to ``NAME``, and the ``$ cogmodels ...`` lines of ``console``
blocks are run through :func:`cogmodels.cli.main`; in order, in one namespace per guide, from a
temporary folder holding a copy of ``experiments/``.
"""

from __future__ import annotations

import contextlib
import doctest
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
GUIDES = sorted(p for p in (DOCS / "guides").glob("*.md") if p.stem != "index")
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
        "api/generated/cogmodels.agents.decoders.drift_study.html": "compare_under_drift",
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


# -- the guides' code ----------------------------------------------------------------------------
_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)(?P=fence)\s*$",
                    re.M | re.S)


def guide_blocks(path: Path) -> list[tuple[str, str, int]]:
    """The fenced code blocks of a guide: (language, code, line number)."""
    text = path.read_text(encoding="utf-8")
    return [(m["lang"], m["body"], text.count("\n", 0, m.start()) + 1) for m in _FENCE.finditer(text)]


def _run_block(lang: str, code: str, where: str, namespace: dict) -> None:
    if lang == "python":
        exec(compile(code, where, "exec"), namespace)
    elif lang == "pycon":
        test = doctest.DocTestParser().get_doctest(code, namespace, where, where, 0)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        report = io.StringIO()
        runner.run(test, out=report.write, clear_globs=False)
        namespace.update(test.globs)  # a DocTest works on a copy of the namespace
        assert not runner.failures, f"{where}:\n{report.getvalue()}"
    elif lang == "toml":  # a config the next blocks use: "# file: NAME" on its first line
        tomllib.loads(code)
        first = code.partition("\n")[0]
        if first.startswith("# file: "):
            Path(first.removeprefix("# file: ").strip()).write_text(code, encoding="utf-8")
    elif lang == "console":
        from cogmodels.cli import main

        for line in code.replace("\\\n", " ").splitlines():
            if not line.startswith("$ cogmodels "):
                continue
            argv = shlex.split(line[len("$ cogmodels "):], comments=True)
            if "dask" in argv:
                pytest.importorskip("dask.distributed", reason="dask is not installed (the cluster extra)")
            with contextlib.redirect_stdout(io.StringIO()) as printed:
                status = main(argv)
            assert status == 0, f"{where}: `cogmodels {shlex.join(argv)}` exited {status}:\n{printed.getvalue()}"


@pytest.mark.slow
@pytest.mark.parametrize("guide", GUIDES, ids=lambda p: p.stem)
def test_guide_code_runs(guide: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import pandas as pd

    from cogmodels.experiments import registry

    shutil.copytree(ROOT / "experiments", tmp_path / "experiments")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # a reader's fresh process: only the shipped experiments, not the ones other tests register
    monkeypatch.setattr(registry, "EXPERIMENTS", {k: v for k, v in registry.EXPERIMENTS.items()
                                                  if k in registry._BUILTIN})
    namespace: dict = {"__name__": f"guide_{guide.stem}"}
    with pd.option_context("display.width", 88, "display.max_columns", 12, "display.precision", 6), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # fits on tiny data hit bounds: the tables say so
        for lang, code, line in guide_blocks(guide):
            _run_block(lang, code, f"{guide.name}:{line}", namespace)


def test_guides_have_code_and_titles():
    assert {p.stem for p in GUIDES} >= {"fit-your-data", "adaptive-decoder", "reproduce-an-experiment",
                                       "trial-tables"}
    for guide in GUIDES:
        if guide.stem == "index":
            continue
        text = guide.read_text(encoding="utf-8")
        assert text.startswith("# "), f"{guide.name} should open with its title"
        langs = {lang for lang, _, _ in guide_blocks(guide)}
        assert langs & {"python", "pycon", "console"}, f"{guide.name} has no code the tests run"
        assert not langs - {"python", "pycon", "console", "text", "toml", ""}, (
            f"{guide.name}: code blocks in {sorted(langs)}; the tests run python, pycon and console"
        )
