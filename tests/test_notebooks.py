"""The tutorials in notebooks/: jupytext percent-format scripts, each executed in quick mode.

Every notebook runs in its own subprocess (no shared state between them) with
``COGMODELS_QUICK=1`` (small sizes), ``MPLBACKEND=Agg`` and ``COGMODELS_NOTEBOOK_OUT`` pointing
at a temporary folder, from a temporary working directory, so nothing is written into the
repository.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9]*.py"))
#: one tutorial per area of the package
AREAS = {
    "01_bandits_and_fitting",
    "02_two_step",
    "03_rlwm",
    "04_dopamine_td",
    "05_meta_rl_rnn",
    "06_bci_drift",
}
#: a notebook in quick mode must finish within this many CPU seconds (a limit the machine's load
#: does not stretch, unlike a wall-clock timeout); the wall-clock limit only catches a hang
CPU_LIMIT_S = 120
HANG_S = 1800


def test_the_six_areas_have_a_notebook():
    assert {p.stem for p in NOTEBOOKS} == AREAS
    assert (NOTEBOOK_DIR / "README.md").is_file()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_percent_format(path: Path):
    text = path.read_text(encoding="utf-8")
    markdown = re.findall(r"^# %% \[markdown\]\s*$", text, flags=re.M)
    code = re.findall(r"^# %%\s*$", text, flags=re.M)
    assert markdown, f"{path.name}: no '# %% [markdown]' cell"
    assert code, f"{path.name}: no '# %%' code cell"
    assert text.lstrip().startswith(("# ---", "# %%")), f"{path.name}: text before the first cell"
    # the shared set-up: quick mode and the output folder come from cogmodels.tutorial
    assert 'tutorial = setup(globals().get("__file__"))' in text, f"{path.name}: no tutorial set-up"
    assert re.search(r"\bif QUICK\b|\bQUICK else\b", text), f"{path.name}: sizes do not depend on quick mode"
    compile(text, str(path), "exec")  # plain Python


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_reads_as_a_notebook(path: Path):
    jupytext = pytest.importorskip("jupytext")
    nb = jupytext.read(path, fmt="py:percent")
    kinds = [c.cell_type for c in nb.cells]
    assert kinds.count("markdown") >= 2, f"{path.name}: cells {kinds}"
    assert kinds.count("code") >= 2, f"{path.name}: cells {kinds}"
    assert nb.cells[0].cell_type == "markdown", f"{path.name}: should open with its introduction"


def _limit_cpu() -> None:
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_LIMIT_S, CPU_LIMIT_S + 5))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_quick_mode(path: Path, tmp_path: Path):
    out = tmp_path / "output"
    env = {**os.environ, "COGMODELS_QUICK": "1", "MPLBACKEND": "Agg",
           "COGMODELS_NOTEBOOK_OUT": str(out)}
    work = tmp_path / "cwd"
    work.mkdir()
    try:
        proc = subprocess.run([sys.executable, str(path)], cwd=work, env=env, capture_output=True,
                              text=True, timeout=HANG_S, preexec_fn=_limit_cpu)
    except subprocess.TimeoutExpired as err:
        partial = err.stdout or b""  # bytes even with text=True
        if isinstance(partial, bytes):
            partial = partial.decode(errors="replace")
        pytest.fail(f"{path.name} hung: no end after {HANG_S} s of wall clock in quick mode\n"
                    f"stdout (tail):\n{partial[-3000:]}")
    assert proc.returncode != -signal.SIGXCPU, f"{path.name} used more than {CPU_LIMIT_S} CPU s in quick mode"
    assert proc.returncode == 0, (
        f"{path.name} failed (exit {proc.returncode})\nstderr:\n{proc.stderr[-6000:]}\n"
        f"stdout (tail):\n{proc.stdout[-2000:]}"
    )
    pngs = sorted(out.glob("*.png"))
    assert pngs, f"{path.name} wrote no figure into {out}; stdout (tail):\n{proc.stdout[-2000:]}"
    assert all(p.stat().st_size > 1000 for p in pngs), [(p.name, p.stat().st_size) for p in pngs]
    assert not any(work.iterdir()), f"{path.name} wrote into its working directory: {list(work.iterdir())}"


def test_tutorial_setup_reads_the_environment(tmp_path, monkeypatch):
    import warnings

    import pandas as pd
    from matplotlib.figure import Figure

    from cogmodels.tutorial import setup

    # setup() sets pandas display options and warning filters: restore both afterwards
    monkeypatch.setattr(warnings, "filters", list(warnings.filters))
    shown = ("display.width", "display.precision", "display.max_columns")
    with pd.option_context(*[x for name in shown for x in (name, pd.get_option(name))]):
        monkeypatch.setenv("COGMODELS_NOTEBOOK_OUT", str(tmp_path / "figs"))
        monkeypatch.setenv("COGMODELS_QUICK", "1")
        tut = setup(None)
        assert tut.quick is True and tut.out == tmp_path / "figs" and tut.out.is_dir()
        assert pd.get_option("display.precision") == 3
        fig = Figure()
        fig.subplots().plot([0, 1], [1, 0])
        path = tut.save(fig, "line")
        assert path == tmp_path / "figs" / "line.png"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        monkeypatch.delenv("COGMODELS_NOTEBOOK_OUT")
        monkeypatch.setenv("COGMODELS_QUICK", "0")
        tut = setup(str(tmp_path / "nb" / "01_x.py"))
        assert tut.quick is False and tut.out == (tmp_path / "nb" / "output").resolve()
