"""The set-up the tutorials in ``notebooks/`` share: quick mode, the output folder, tidy output.

Each tutorial starts with ``tutorial = setup(globals().get("__file__"))`` and then reads
``tutorial.quick`` and saves its figures with ``tutorial.save(fig, name)``:

- ``quick`` is ``COGMODELS_QUICK=1`` in the environment (small sizes, as the tests run them);
- figures go to ``COGMODELS_NOTEBOOK_OUT`` when set, else to ``notebooks/output/`` when the
  tutorial runs as a script, else to ``output/`` next to the notebook in Jupyter;
- outside Jupyter, matplotlib draws off-screen (Agg); pandas prints wide tables with 3 digits,
  and the estimators' warnings about bounds and unconverged starts, which their tables already
  flag (``on_bound_``, ``converged_``), are not repeated.
"""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import pandas as pd
from matplotlib.figure import Figure

__all__ = ["Tutorial", "setup"]

#: warnings whose content the estimators' result tables already carry
QUIET = (r".*on a parameter bound", r".*did not converge", r".*EM stopped after")


@dataclass(frozen=True)
class Tutorial:
    """Where a tutorial writes and how big it runs."""

    quick: bool
    out: Path

    def save(self, fig: Figure, name: str) -> Path:
        """Write ``fig`` to ``out/name.png`` (120 dpi), print and return the path.

        In Jupyter (and when the documentation site runs the tutorials) the figure is also
        shown in the notebook, as the PNG written.
        """
        path = self.out / f"{name}.png"
        fig.savefig(path, dpi=120)
        print(f"figure: {path}")
        if "ipykernel" in sys.modules:
            from IPython.display import Image, display

            display(Image(filename=str(path)))
        return path


def setup(script: str | None = None) -> Tutorial:
    """Configure a tutorial run.

    ``script`` is the tutorial's ``__file__`` when it runs as a script
    (``globals().get("__file__")``: ``None`` in Jupyter).
    """
    if "ipykernel" not in sys.modules:
        matplotlib.use("Agg")
    if "COGMODELS_NOTEBOOK_OUT" in os.environ:
        out = Path(os.environ["COGMODELS_NOTEBOOK_OUT"])
    elif script is not None:
        out = Path(script).resolve().parent / "output"
    else:
        out = Path("output")
    out.mkdir(parents=True, exist_ok=True)
    for message in QUIET:
        warnings.filterwarnings("ignore", message=message)
    pd.set_option("display.width", 120)
    pd.set_option("display.precision", 3)
    pd.set_option("display.max_columns", 20)
    return Tutorial(quick=os.environ.get("COGMODELS_QUICK", "0") == "1", out=out)
