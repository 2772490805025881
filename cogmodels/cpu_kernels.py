"""Which CPU kernels this process computes with: the reason the same seed can give other bytes.

NumPy, its OpenBLAS and torch each pick kernels for the CPU they run on (AVX2, AVX-512, ...),
and kernels of different width round floating-point sums differently in the last bits. A
simulation that only adds and draws is unaffected in practice, but a fit amplifies those bits:
an iterative estimator stops on a threshold (``HierarchicalEM``'s change of the summed log
posterior), so the same data and seed can stop at another iteration on another CPU. Measured on
rlwm EM of WMH Expe1's first 20 subjects (``benchmarks/RESULTS.md``, "EM across CPU kernels"):
38 iterations with this machine's AVX-512 kernels, 31 with OpenBLAS's AVX2 ones forced.

:func:`cpu_kernels` names them; the experiment runner records them for the driver and for every
unit (``manifest.json``) and warns when units ran under different ones. To compute with the
AVX2 kernels on a newer CPU, set ``OPENBLAS_CORETYPE=Haswell`` and ``ATEN_CPU_CAPABILITY=avx2``
before Python starts (NumPy's own SIMD loops: ``NPY_DISABLE_CPU_FEATURES`` with NumPy's target
names, e.g. ``"X86_V4 AVX512_ICL AVX512_SPR"`` for its AVX2 loops, ``X86_V3``).
"""

from __future__ import annotations

import ctypes
import sys
from functools import cache

__all__ = ["cpu_kernels"]

#: OpenBLAS builds name their core-name function differently (NumPy's wheels ship scipy-openblas)
_CORENAME = ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename", "openblas_get_corename64_",
             "openblas_get_corename")


def _openblas_core() -> str:
    """Return the core type OpenBLAS chose in this process (``"SkylakeX"``, ``"Haswell"``, ...)."""
    try:
        with open("/proc/self/maps") as maps:  # Linux: the libraries mapped into this process
            paths = sorted({line.split()[-1] for line in maps if "openblas" in line.lower()})
    except OSError:
        return "unknown"
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _CORENAME:
            func = getattr(lib, name, None)
            if func is not None:
                func.restype = ctypes.c_char_p
                return func().decode()
    return "unknown"


def _numpy_simd() -> str:
    """Return the widest of NumPy's dispatch targets that this CPU has (``"AVX512_SKX"``, ``"AVX2"``, ...)."""
    import numpy as np

    umath = np._core._multiarray_umath
    found = [t for t in umath.__cpu_dispatch__ if umath.__cpu_features__.get(t, False)]
    return found[-1] if found else (umath.__cpu_baseline__[-1] if umath.__cpu_baseline__ else "none")


@cache
def _library_kernels() -> tuple[str, str]:
    import numpy  # noqa: F401 - loads OpenBLAS

    return _openblas_core(), _numpy_simd()


def cpu_kernels() -> dict[str, str]:
    """Name the kernels of this process: ``{"blas": ..., "numpy_simd": ..., "torch": ...}``.

    ``blas``: OpenBLAS's core type (``"unknown"`` off Linux or for another BLAS);
    ``numpy_simd``: the widest SIMD target NumPy dispatches to; ``torch``: torch's CPU capability
    (only if torch is already imported: this never imports it). The libraries fix them when they
    load, so they are read once.
    """
    blas, simd = _library_kernels()
    out = {"blas": blas, "numpy_simd": simd}
    torch = sys.modules.get("torch")
    if torch is not None:
        out["torch"] = str(torch.backends.cpu.get_cpu_capability())
    return out
