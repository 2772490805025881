"""Small helpers shared by the experiment modules."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cogmodels.experiments.runner import save_figure

__all__ = ["TOO_SHORT", "markdown_table", "quiet", "save", "sem_summary", "setting_note"]

#: the label of a figure element whose run was too short to show the effect (a quick setting)
TOO_SHORT = "too short to learn; see the full run"


def markdown_table(
    df: pd.DataFrame, *, digits: int = 3, index: bool = False, decimals: int | None = None
) -> str:
    """Return a GitHub-flavoured markdown table of ``df``.

    Floats are rounded to ``digits`` significant digits, or to ``decimals`` places when given
    (the benchmarks' tables use ``decimals=2``).
    """
    if index:
        df = df.reset_index()
    spec = f".{digits}g" if decimals is None else f".{decimals}f"

    def fmt(v: Any) -> str:
        return format(v, spec) if isinstance(v, float | np.floating) else str(v)

    head = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in df.columns) + " |"
    body = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def save(fig: Any, out: Path, name: str) -> Path:
    """Save ``fig`` as ``out/figures/<name>.png`` and return its absolute path.

    The runner records it relative to the run folder, whatever ``out`` was.
    """
    return save_figure(fig, Path(out) / "figures" / f"{name}.png").resolve()


def setting_note(config: Any) -> str:
    """`` (quick setting)`` for a quick run, else ``""``: for figure titles."""
    return " (quick setting)" if getattr(config, "quick", False) else ""


def sem_summary(df: pd.DataFrame, keys: list[str], value: str) -> pd.DataFrame:
    """Mean, standard error and count of ``value`` across rows (subjects) by ``keys``."""
    g = df.dropna(subset=[value]).groupby(keys, sort=True)[value]
    out = pd.DataFrame({value: g.mean(), "sem": g.std(ddof=1) / np.sqrt(g.size()), "n": g.size()})
    return out.reset_index()


@contextmanager
def quiet() -> Iterator[None]:
    """Silence the fitting's per-subject warnings (bounds, convergence): recorded as columns."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        yield
