"""cogmodels: reinforcement-learning cognitive models, fitting, and closed-loop BCI simulation."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from cogmodels import envs  # noqa: F401  (registers the cogmodels/<Name>-v0 environment ids)

try:
    __version__ = version("cogmodels")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["__version__"]
