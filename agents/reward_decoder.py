"""Deprecated import path: the reward-trained cursor decoder moved to :mod:`cogmodels.agents.decoders.reward`.

Every name read from here comes from :mod:`cogmodels.agents.decoders.reward` with a ``DeprecationWarning`` naming the new
path; import from there.
"""

from cogmodels.deprecation import moved_module

__getattr__ = moved_module(__name__, "cogmodels.agents.decoders.reward")
