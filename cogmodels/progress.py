"""Progress bars for the jobs that take more than a few seconds (fits, comparisons, recovery).

Every such job takes ``progress: bool`` (True by default). A bar is drawn on standard error only
when ``progress`` is True *and* standard error is a terminal, so logs, pipes, notebooks' captured
output and tests stay clean; ``progress=False`` (``--quiet`` on the command line) never draws one.
"""

from __future__ import annotations

from typing import Any

from tqdm import tqdm

from cogmodels.validation import check_bool

__all__ = ["progress_bar"]


def progress_bar(progress: bool, **kwargs: Any) -> tqdm:
    """Return a ``tqdm`` bar, disabled when ``progress`` is False or stderr is not a terminal.

    ``kwargs`` go to ``tqdm`` (``total``, ``desc``, ``unit``, ``leave``...). Use it as a context
    manager, or close it.
    """
    on = check_bool("progress", progress)
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(disable=None if on else True, **kwargs)
