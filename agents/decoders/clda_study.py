"""Deprecated import path: cLDA from different seed decoders (Orsborn et al. 2012) moved to :mod:`cogmodels.experiments.clda_study`.

Every name read from here comes from :mod:`cogmodels.experiments.clda_study` with a ``DeprecationWarning`` naming the new
path; import from there.
"""

from cogmodels.deprecation import moved_module

__getattr__ = moved_module(__name__, "cogmodels.experiments.clda_study")
