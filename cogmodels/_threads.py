"""The number of threads torch computes with, set for a piece of work.

torch starts with one thread per core. When training shares the machine (several worker
processes, other jobs), those threads fight over the cores and a small network trains 10-80x
slower than with one thread (A2C, 5 updates on 2 busy cores: 13.0 s with 2 threads, 0.5 s with 1).
Every training entry point therefore takes ``threads`` (``A2CConfig.threads``, the experiment
runner's ``threads``, ``cogmodels run --threads``), applied with :func:`torch_threads`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cogmodels.validation import check_int

__all__ = ["check_threads", "set_threads", "torch_threads"]

#: read by torch (its OpenMP / MKL pools) when it is imported
_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def check_threads(name: str, value: Any) -> int | None:
    """``None`` (leave torch's setting) or an integer >= 1."""
    return None if value is None else check_int(name, value, minimum=1)


def set_threads(n: int | None) -> None:
    """Make torch in this process use ``n`` threads from now on (``None``: leave it).

    If torch is not imported yet it is not imported here: the environment variables it reads at
    import (``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``) are set instead.
    """
    n = check_threads("threads", n)
    if n is None:
        return
    for var in _ENV:
        os.environ[var] = str(n)
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "set_num_threads"):
        torch.set_num_threads(n)


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the body with torch using ``n`` threads, then put the previous setting back.

    ``None`` changes nothing. A torch first imported inside the body starts with ``n`` threads
    (through ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS``, restored afterwards) and keeps them.
    """
    n = check_threads("threads", n)
    if n is None:
        yield
        return
    saved_env = {var: os.environ.get(var) for var in _ENV}
    torch = sys.modules.get("torch")
    saved = torch.get_num_threads() if torch is not None and hasattr(torch, "get_num_threads") else None
    set_threads(n)
    try:
        yield
    finally:
        for var, value in saved_env.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
        if saved is not None:
            torch.set_num_threads(saved)
