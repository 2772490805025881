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

__all__ = ["markdown_table", "quiet", "save", "sem_summary"]


def markdown_table(df: pd.DataFrame, *, digits: int = 3, index: bool = False) -> str:
    """A GitHub-flavoured markdown table of ``df`` (floats rounded to ``digits``)."""
    if index:
        df = df.reset_index()

    def fmt(v: Any) -> str:
        return f"{v:.{digits}g}" if isinstance(v, float | np.floating) else str(v)

    head = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in df.columns) + " |"
    body = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def save(fig: Any, out: Path, name: str) -> Path:
    """Save ``fig`` as ``out/figures/<name>.png``."""
    return save_figure(fig, Path(out) / "figures" / f"{name}.png")


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
