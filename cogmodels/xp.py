"""The array namespace of the model code: numpy for numpy arrays, torch for torch tensors.

Every model is written once against the array API standard (https://data-apis.org/array-api/):
``xp = namespace(state["q"])`` and then only ``xp.where``, ``xp.exp``, ``xp.zeros`` ... For
numpy arrays ``xp`` is numpy itself (numpy >= 2's main namespace follows the standard), so the
numpy path costs nothing; for torch tensors it is ``array_api_compat.torch``, so the same model
code runs in float64 torch with autograd (exact gradients and Hessians) and on a GPU.

Torch is imported only when a tensor is seen: the numpy path never pays for it.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Mapping
from types import ModuleType
from typing import Any

import numpy as np

#: an array of either namespace: ``numpy.ndarray`` or ``torch.Tensor``
Array = Any

__all__ = ["Array", "as_namespace", "device", "is_torch", "namespace", "to_numpy", "torch_namespace"]


def is_torch(x: Any) -> bool:
    """Whether ``x`` is a torch tensor (False without importing torch when it is not loaded)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


@functools.cache
def torch_namespace() -> ModuleType:
    """Return ``array_api_compat.torch``, the array-API namespace of torch tensors.

    Raises ``ImportError`` with the install hint when torch or array-api-compat is missing.
    """
    try:
        import array_api_compat.torch as xp_torch
    except ImportError as err:  # pragma: no cover - both are dependencies of the package
        raise ImportError(
            "the torch path of the models needs torch and array-api-compat: pip install torch array-api-compat"
        ) from err
    return xp_torch


def namespace(*arrays: Any) -> ModuleType:
    """Return the array namespace of ``arrays``: torch's if any is a tensor, else numpy.

    Parameters
    ----------
    *arrays : array_like or mapping
        Arrays, scalars or mappings of them (a parameter record); scalars and None are ignored.

    Returns
    -------
    xp : module
        ``numpy``, or ``array_api_compat.torch`` when one of ``arrays`` is a torch tensor.
    """
    for a in arrays:
        if isinstance(a, np.ndarray):
            continue
        if isinstance(a, Mapping):
            if namespace(*a.values()) is not np:
                return torch_namespace()
        elif is_torch(a):
            return torch_namespace()
    return np


def device(x: Any) -> Any:
    """Return the device of array ``x`` (``"cpu"`` for numpy), to create arrays next to it."""
    return x.device if is_torch(x) else "cpu"


def as_namespace(xp: ModuleType, x: Any, like: Any = None, dtype: Any = None) -> Any:
    """Return ``x`` as an array of namespace ``xp``, on the device of ``like``.

    Parameters
    ----------
    xp : module
        The target namespace (from :func:`namespace`).
    x : array_like
        A numpy array, a scalar or a tensor (data: choices, rewards, observation columns;
        parameters). A tensor keeps its autograd graph.
    like : array, optional
        An array of ``xp`` whose device the result shares.
    dtype : dtype, optional
        The result's dtype (default: kept).

    Returns
    -------
    array
        ``x`` itself for numpy, a tensor (shared memory on the CPU) for torch.
    """
    if xp is np:
        return x if dtype is None else np.asarray(x, dtype=dtype)
    where = None if like is None else device(like)
    if is_torch(x):
        return x.to(dtype=x.dtype if dtype is None else dtype, device=x.device if where is None else where)
    return xp.asarray(np.asarray(x), dtype=dtype, device=where)


def to_numpy(x: Any) -> np.ndarray:
    """Return ``x`` as a numpy array (a tensor is detached and moved to the CPU)."""
    if is_torch(x):
        return x.detach().cpu().numpy()
    return np.asarray(x)
