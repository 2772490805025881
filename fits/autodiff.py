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

__all__ = ["DERIVATIVES", "GRADIENT_BACKENDS", "AutogradObjective", "LaneLogLikelihood", "check_derivatives", "torch_device"]

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


#: how :class:`LaneLogLikelihood` computes its gradient
GRADIENT_BACKENDS = ("finite_difference", "forward_difference", "autograd", "compiled")


class LaneLogLikelihood:
    r"""The log-likelihood of fixed lanes and its gradient, prepared once for many calls.

    For lanes :math:`\ell` (subject :math:`s(\ell)`, unconstrained parameters :math:`z_\ell`) it
    returns :math:`\log p(D_{s(\ell)} \mid x(z_\ell))` and its gradient w.r.t. :math:`z_\ell`,
    from the model's one definition (:func:`cogmodels.likelihood.log_likelihood`). The data and
    lanes are fixed, as they are through a sampler's or an optimiser's run, so the control flow of
    the trial loop (missing trials, resets: decided on NumPy masks) is fixed too:

    - ``"finite_difference"``: the NumPy likelihood at :math:`z` and at :math:`z \pm h e_j`
      (central differences, :math:`h = 10^{-5}`) in one call over ``(2k + 1) × lanes`` lanes,
      with no torch at all. The per-trial cost of the NumPy loop is mostly fixed overhead, so
      this is 4× cheaper than autograd at 400 lanes × 200 trials (``benchmarks/RESULTS.md``).
      The gradient is approximate (error :math:`O(h^2)`, about :math:`10^{-10}` relative),
      which Hamiltonian Monte Carlo tolerates exactly: its leapfrog map stays reversible and
      volume-preserving for any position-dependent force, and the Metropolis step uses the
      exact log density (Neal 2011, §5.3.1);
    - ``"forward_difference"``: the same at :math:`z` and :math:`z + h e_j` only,
      :math:`h = 10^{-7}`, one call over ``(k + 1) × lanes`` lanes instead of ``(2k + 1) ×
      lanes``:

      .. math:: \partial_j \log p \approx (\log p(z + h e_j) - \log p(z)) / h,

      with an error of at most :math:`\tfrac h2 \max|\partial_j^2 \log p| + 2 u |\log p| / h`
      (:math:`u = 2^{-53}`; Nocedal & Wright 2006, §8.1): about :math:`10^{-5}` for 200 trials,
      where the gradient reaches hundreds. Cheaper still, and just as exact for HMC (above);
    - ``"autograd"``: the model's torch path with autograd, every call (Python runs the model's
      code and autograd records its graph, at every trial): exact;
    - ``"compiled"``: :func:`torch.fx.experimental.proxy_tensor.make_fx` records the forward and
      backward passes once as a flat graph of ATen operations, which :func:`torch.compile`
      (TorchInductor) turns into fused C++ loops: exact, at a one-off trace and compile cost
      (``trace_time_s_``, ``compile_time_s_``) that grows with the number of trials.

    Parameters
    ----------
    model : CognitiveModel
        The model.
    data : TrialArrays
        The subjects' trials.
    lanes : numpy.ndarray of int
        ``(L,)`` the subject of each lane.
    backend : {"finite_difference", "forward_difference", "autograd", "compiled"}, default "finite_difference"
        How the gradient is computed (above).
    compile_mode : str, optional
        ``torch.compile``'s ``mode`` for ``"compiled"`` (None: the default; ``"reduce-overhead"``).

    Attributes
    ----------
    trace_time_s_, compile_time_s_ : float
        CPU seconds spent tracing and compiling (0 where not done).
    """

    def __init__(self, model: CognitiveModel, data: TrialArrays, lanes: np.ndarray, backend: str = "finite_difference",
                 compile_mode: str | None = None) -> None:
        self.model, self.data = model, data
        self.lanes = np.asarray(lanes)
        self.backend = check_choice("backend", backend, GRADIENT_BACKENDS)
        self.compile_mode = compile_mode
        self.trace_time_s_ = self.compile_time_s_ = 0.0
        self._graph = None

    def _eager(self, z):
        """``(loglik, gradient)`` tensors of the eager loop with autograd."""
        import torch

        zt = z.detach().requires_grad_(True)
        with torch.enable_grad():
            ll = log_likelihood(self.model, unpack(self.model.param_specs, zt), self.data, self.lanes)
            (g,) = torch.autograd.grad(ll.sum(), zt)
        return ll.detach(), g

    def _prepare(self, z):
        """Trace and compile the forward and backward passes at ``z``, once."""
        import time

        import torch
        from torch.fx.experimental.proxy_tensor import make_fx

        t0 = time.process_time()
        with np.errstate(all="ignore"):
            graph = make_fx(lambda zt: self._eager(zt))(z)
        self.trace_time_s_ = time.process_time() - t0
        t0 = time.process_time()
        graph = torch.compile(graph, mode=self.compile_mode, dynamic=False, fullgraph=True)
        graph(z)  # compile now, not in the first timed call
        self.compile_time_s_ = time.process_time() - t0
        self._graph = graph

    def __call__(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the ``(L,)`` log-likelihoods and their ``(L, k)`` gradients at ``z`` ``(L, k)``."""
        z = np.asarray(z, dtype=np.float64)
        if self.backend in ("finite_difference", "forward_difference"):
            return self._finite_difference(z, central=self.backend == "finite_difference")
        import torch

        zt = torch.from_numpy(np.ascontiguousarray(z))
        if self.backend == "autograd":
            with np.errstate(all="ignore"):
                ll, g = self._eager(zt)
        else:
            if self._graph is None:
                self._prepare(zt)
            ll, g = self._graph(zt)
        return ll.numpy(), g.numpy()

    def _finite_difference(self, z: np.ndarray, central: bool) -> tuple[np.ndarray, np.ndarray]:
        """Central (``h = 1e-5``) or forward (``h = 1e-7``) differences, every point in one likelihood call."""
        n, k = z.shape
        h = 1e-5 if central else 1e-7
        m = 2 * k + 1 if central else k + 1
        pts = np.repeat(z[None], m, axis=0)  # z, then +h (and -h) along each coordinate
        for j in range(k):
            pts[1 + j, :, j] += h
            if central:
                pts[1 + k + j, :, j] -= h
        with np.errstate(all="ignore"):  # a point outside the support gives a non-finite value, not a warning
            ll = log_likelihood(self.model, unpack(self.model.param_specs, pts.reshape(-1, k)), self.data,
                                np.tile(self.lanes, m)).reshape(m, n)
            if central:
                return ll[0], ((ll[1:k + 1] - ll[k + 1:]) / (2 * h)).T
            step = np.stack([pts[1 + j, :, j] - z[:, j] for j in range(k)])  # the step taken, after rounding
            return ll[0], ((ll[1:] - ll[0]) / step).T

    def torch_function(self, z):
        """Return the ``(L,)`` log-likelihood tensor at ``z`` whose backward pass is the prepared gradient.

        For Pyro's NUTS: autograd sees one operation whose gradient was computed with its
        value, by :attr:`backend`.
        """
        return _PreparedLogLikelihood.apply(z, self)


def _prepared_function():
    import torch

    class Prepared(torch.autograd.Function):
        @staticmethod
        def forward(ctx, z, lane_loglik):  # noqa: ANN001, ANN205
            ll, g = lane_loglik(z.detach().cpu().numpy())
            ctx.save_for_backward(torch.as_tensor(g, dtype=z.dtype, device=z.device))
            return torch.as_tensor(ll, dtype=z.dtype, device=z.device)

        @staticmethod
        def backward(ctx, grad_out):  # noqa: ANN001, ANN205
            (g,) = ctx.saved_tensors
            return grad_out[:, None] * g, None

    return Prepared


class _LazyFunction:
    """``torch.autograd.Function`` built on first use, so that importing this module needs no torch."""

    _fn = None

    def apply(self, *args):  # noqa: ANN002, ANN201
        if _LazyFunction._fn is None:
            _LazyFunction._fn = _prepared_function()
        return _LazyFunction._fn.apply(*args)


_PreparedLogLikelihood = _LazyFunction()
