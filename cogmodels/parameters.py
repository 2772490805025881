"""Parameter specifications: bounds, transforms to an unconstrained space, defaults and priors.

Every free parameter of a model is described by a :class:`ParamSpec`. Optimisers work in the
unconstrained space ``z``; the model sees the natural value ``x``:

- both bounds finite: ``x = low + (high - low) * sigmoid(z)`` (logit transform);
- only a lower bound: ``x = low + exp(z)``; only an upper bound: ``x = high - exp(z)``;
- no bounds: ``x = z``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cogmodels.xp import namespace

__all__ = ["ParamSpec", "pack", "unpack"]


def _sigmoid(z: Any) -> Any:
    return 0.5 * (1.0 + namespace(z).tanh(0.5 * z))


@dataclass(frozen=True)
class ParamSpec:
    """One free parameter: its name, bounds, default and optional prior.

    ``prior`` is any object with a ``logpdf`` method over the natural scale (a frozen
    ``scipy.stats`` distribution) or ``None`` (flat); only MAP fits use it. The models of the zoo
    take the documented weak defaults of :mod:`cogmodels.priors`. ``description`` is a short
    human text.
    """

    name: str
    low: float
    high: float
    default: float
    prior: Any = None
    description: str = ""
    kind: str = field(init=False)

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"ParamSpec {self.name!r}: need low < high, got [{self.low}, {self.high}]")
        if not self.low <= self.default <= self.high:
            raise ValueError(
                f"ParamSpec {self.name!r}: default {self.default} outside [{self.low}, {self.high}]"
            )
        finite = (np.isfinite(self.low), np.isfinite(self.high))
        kind = {(True, True): "logit", (True, False): "log", (False, True): "neglog"}.get(
            finite, "identity"
        )
        object.__setattr__(self, "kind", kind)

    @property
    def bounds(self) -> tuple[float, float]:
        """The range ``(low, high)`` on the natural scale."""
        return (self.low, self.high)

    def to_unconstrained(self, x: Any) -> np.ndarray:
        """Map natural values into the unconstrained space (bounds map to ±inf)."""
        x = np.asarray(x, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.kind == "logit":
                u = (x - self.low) / (self.high - self.low)
                return np.log(u) - np.log1p(-u)
            if self.kind == "log":
                return np.log(x - self.low)
            if self.kind == "neglog":
                return np.log(self.high - x)
        return x.copy()

    def from_unconstrained(self, z: Any) -> Any:
        """Map unconstrained values back to the natural scale (numpy, or torch for a tensor)."""
        xp = namespace(z)
        z = np.asarray(z, dtype=np.float64) if xp is np else z
        if self.kind == "logit":
            return self.low + (self.high - self.low) * _sigmoid(z)
        if self.kind == "log":
            return self.low + xp.exp(z)
        if self.kind == "neglog":
            return self.high - xp.exp(z)
        return z.copy() if xp is np else z

    def log_jacobian(self, z: Any) -> np.ndarray:
        """Return log ``|dx/dz|``, which turns a density over x into one over z."""
        z = np.asarray(z, dtype=np.float64)
        if self.kind == "logit":
            return np.log(self.high - self.low) - np.logaddexp(0.0, z) - np.logaddexp(0.0, -z)
        if self.kind in ("log", "neglog"):
            return z.copy()
        return np.zeros_like(z)

    def on_bound(self, x: Any, rtol: float = 1e-3) -> np.ndarray:
        """Return True where ``x`` lies within ``rtol`` of the range's width of a finite bound."""
        x = np.asarray(x, dtype=np.float64)
        width = self.high - self.low if self.kind == "logit" else max(1.0, abs(x).max(initial=1.0))
        tol = rtol * width
        return (np.isfinite(self.low) & (x - self.low <= tol)) | (
            np.isfinite(self.high) & (self.high - x <= tol)
        )

    def log_prior(self, x: Any) -> np.ndarray:
        """Log prior density at natural values ``x`` (0 where the prior is flat)."""
        x = np.asarray(x, dtype=np.float64)
        return np.zeros_like(x) if self.prior is None else np.asarray(self.prior.logpdf(x))


def pack(specs: Sequence[ParamSpec], params: Mapping[str, Any]) -> np.ndarray:
    """Natural parameter record -> unconstrained array of shape ``(lanes, n_params)``."""
    cols = [np.atleast_1d(specs_i.to_unconstrained(params[specs_i.name])) for specs_i in specs]
    return np.stack(np.broadcast_arrays(*cols), axis=-1)


def unpack(specs: Sequence[ParamSpec], z: Any) -> dict[str, Any]:
    """Unconstrained array ``(lanes, n_params)`` -> natural record of ``(lanes,)`` arrays.

    A torch tensor ``z`` gives tensors (autograd follows the transforms).
    """
    if namespace(z) is np:
        z = np.atleast_2d(np.asarray(z, dtype=np.float64))
    elif z.ndim == 1:
        z = z[None, :]
    if z.shape[-1] != len(specs):
        raise ValueError(f"expected {len(specs)} unconstrained columns, got shape {z.shape}")
    return {s.name: s.from_unconstrained(z[..., i]) for i, s in enumerate(specs)}
