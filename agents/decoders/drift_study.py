"""Deprecated import path: the comparison of BCI decoders under neural drift moved to :mod:`cogmodels.experiments.drift_study`.

Every name read from here comes from :mod:`cogmodels.experiments.drift_study` with a ``DeprecationWarning`` naming the new
path; import from there.
"""

from cogmodels.deprecation import moved_module

__getattr__ = moved_module(__name__, "cogmodels.experiments.drift_study")
