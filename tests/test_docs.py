"""The guides' code runs, in order, as a reader would run it.

The guides' code blocks are run by :func:`test_guide_code_runs`:
``python`` blocks are executed, ``pycon`` blocks are doctests, ``toml`` blocks whose first line
is ``# file: NAME`` are written to ``NAME``, and the ``$ cogmodels ...`` lines of ``console``
blocks are run through :func:`cogmodels.cli.main`; in order, in one namespace per guide, from a
temporary folder holding a copy of ``experiments/``. The site's build (warnings as errors) is
tested by ``tests/test_docs_build.py``.
"""

from __future__ import annotations

import contextlib
import doctest
import io
import re
import shlex
import shutil
import tomllib
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
GUIDES = sorted(p for p in (DOCS / "guides").glob("*.md") if p.stem != "index")


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
