r"""Exact gradients and Hessians of the fitting objectives, by autograd through the model's code.

The fitting objective of a lane (subject × start) is, in the unconstrained space ``z``,

.. math:: f(z) = -\big(\log p(D \mid x(z)) + \log p(z)\big)

(the prior term is 0 for maximum likelihood). The likelihood term runs the model's own
``action_probabilities`` / ``update`` in float64 torch (:func:`cogmodels.likelihood.log_likelihood`
with tensors), so reverse-mode autodiff gives its exact gradient in one backward pass, and its
exact Hessian in ``k`` more (Griewank & Walther 2008, *Evaluating Derivatives*, ch. 3-5), instead
of the ``k + 1`` (gradient) and ``2k(k + 1)`` (Hessian) likelihood evaluations of finite
differences. Lanes are independent, so the gradient of the summed objective holds every lane's
gradient. The prior term is an elementwise function of ``z`` that costs nothing next to the
likelihood (a scipy density, a Gaussian): its derivatives are central differences.

Computation runs on the GPU when torch sees one, else on the CPU.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cogmodels.fits.optimize import finite_difference_hessian
from cogmodels.likelihood import TrialArrays, log_likelihood
from cogmodels.model import CognitiveModel
from cogmodels.parameters import unpack
from cogmodels.validation import check_choice

__all__ = ["DERIVATIVES", "AutogradObjective", "check_derivatives", "torch_device"]

#: how the optimisers get derivatives
DERIVATIVES = ("finite_difference", "autograd")

PriorFun = Callable[[np.ndarray, np.ndarray], np.ndarray]


def check_derivatives(name: str, value: str) -> str:
    """Check a derivatives option: one of :data:`DERIVATIVES`."""
    return check_choice(name, value, DERIVATIVES)


def torch_device():
    """Return ``torch.device("cuda")`` when torch sees a GPU, else the CPU."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _prior_gradient(log_prior_z: PriorFun, z: np.ndarray, lanes: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Central differences ``(M, k)`` of the log prior, each coordinate stepped in one batch."""
    m, k = z.shape
    step = h * np.maximum(1.0, np.abs(z))
    pts = np.repeat(z[None], 2 * k, axis=0)  # (2k, M, k): +step then -step per coordinate
    for i in range(k):
        pts[i, :, i] += step[:, i]
        pts[k + i, :, i] -= step[:, i]
    vals = log_prior_z(pts.reshape(-1, k), np.tile(lanes, 2 * k)).reshape(2 * k, m)
    return ((vals[:k] - vals[k:]) / (2 * step.T)).T


class AutogradObjective:
    r"""The objective ``f(z) = -(log L + log prior)`` of every lane with exact derivatives.

    Parameters
    ----------
    model : CognitiveModel
        The model fitted.
    data : TrialArrays
        The subjects' trials.
    subject_of_lane : numpy.ndarray of int
        The subject of each lane of the optimiser (subjects × starts).
    log_prior_z : callable
        ``log_prior_z(z, subjects) -> (M,)``, the log prior of each point over ``z`` (numpy).
    device : torch.device, optional
        Where the likelihood is computed (default: :func:`torch_device`).
    """

    def __init__(
        self,
        model: CognitiveModel,
        data: TrialArrays,
        subject_of_lane: np.ndarray,
        log_prior_z: PriorFun,
        device=None,
    ) -> None:
        self.model, self.data = model, data
        self.subject_of_lane = np.asarray(subject_of_lane)
        self.log_prior_z = log_prior_z
        self.device = torch_device() if device is None else device

    def _loglik(self, z: np.ndarray, lanes: np.ndarray):
        """Return ``(z tensor, log-likelihood tensor (M,))`` with the graph built."""
        import torch

        zt = torch.tensor(z, dtype=torch.float64, device=self.device, requires_grad=True)
        ll = log_likelihood(self.model, unpack(self.model.param_specs, zt), self.data, self.subject_of_lane[lanes])
        return zt, ll

    def value_and_gradient(self, z: np.ndarray, lanes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``f`` ``(M,)`` (``inf`` where not finite) and its exact gradient ``(M, k)``.

        Parameters
        ----------
        z : numpy.ndarray
            ``(M, k)`` points, each of the optimiser lane given in ``lanes``.
        lanes : numpy.ndarray of int
            ``(M,)`` optimiser lanes.

        Returns
        -------
        f : numpy.ndarray
            ``(M,)`` objective values.
        grad : numpy.ndarray
            ``(M, k)`` gradients: autograd for the likelihood, central differences for the prior.
        """
        import torch

        z = np.asarray(z, dtype=np.float64)
        with np.errstate(all="ignore"):
            zt, ll = self._loglik(z, lanes)
            (g_ll,) = torch.autograd.grad(ll.sum(), zt)
            prior_lanes = self.subject_of_lane[lanes]
            val = -(ll.detach().cpu().numpy() + self.log_prior_z(z, prior_lanes))
            grad = -(g_ll.cpu().numpy() + _prior_gradient(self.log_prior_z, z, prior_lanes))
        return np.where(np.isfinite(val), val, np.inf), grad

    def hessian(self, z: np.ndarray, lanes: np.ndarray | None = None) -> np.ndarray:
        """Return the exact Hessians ``(M, k, k)`` of ``f`` (the prior's by central differences).

        Parameters
        ----------
        z : numpy.ndarray
            ``(M, k)`` points.
        lanes : numpy.ndarray of int, optional
            ``(M,)`` optimiser lanes of the points (default: ``0 .. M - 1``).

        Returns
        -------
        hess : numpy.ndarray
            ``(M, k, k)``: one backward pass for the gradient with its graph kept, then one per
            coordinate for the rows of the Hessian.
        """
        import torch

        z = np.asarray(z, dtype=np.float64)
        lanes = np.arange(z.shape[0]) if lanes is None else np.asarray(lanes)
        k = z.shape[1]
        with np.errstate(all="ignore"):
            zt, ll = self._loglik(z, lanes)
            (g,) = torch.autograd.grad(ll.sum(), zt, create_graph=True)
            rows = []
            for i in range(k):
                gi = g[:, i].sum()
                if gi.requires_grad:
                    (row,) = torch.autograd.grad(gi, zt, retain_graph=True, allow_unused=True)
                else:
                    row = None
                rows.append(torch.zeros_like(zt) if row is None else row)
            h_ll = torch.stack(rows, dim=1).detach().cpu().numpy()
            prior_lanes = self.subject_of_lane[lanes]

            def neg_prior(points: np.ndarray, idx: np.ndarray) -> np.ndarray:
                return -self.log_prior_z(points, prior_lanes[idx])

            return -h_ll + finite_difference_hessian(neg_prior, z)
