"""Old spellings of renamed arguments and attributes, kept for a while as deprecated aliases.

When the glossary (``docs/developer/glossary.md``) renames an argument or an attribute at a
boundary of the package, the old spelling keeps working and warns: a ``DeprecationWarning`` that
names the new spelling. :func:`renamed_arguments` does it for keyword arguments of a function or a
constructor, :func:`renamed_attribute` for attributes read on an object. When a name or a whole
module moves, :func:`moved_names` and :func:`moved_module` keep the old import path working with
the same warning, naming the new path.
"""

from __future__ import annotations

import functools
import importlib
import warnings
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

__all__ = ["moved_module", "moved_names", "renamed_arguments", "renamed_attribute", "warn_renamed"]

F = TypeVar("F", bound=Callable[..., Any])


def warn_renamed(old: str, new: str, *, stacklevel: int = 3) -> None:
    """Warn that ``old`` is a deprecated spelling of ``new``.

    Parameters
    ----------
    old : str
        The deprecated spelling, e.g. ``"n_arms"``.
    new : str
        The spelling to use, e.g. ``"n_actions"``.
    stacklevel : int, default 3
        As :func:`warnings.warn`: 3 points at the caller of the function that calls this one.
    """
    warnings.warn(
        f"{old} is deprecated and will be removed; use {new} instead",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


def renamed_arguments(**renames: str) -> Callable[[F], F]:
    """Decorate a function so that it also takes the old names of renamed keyword arguments.

    ``@renamed_arguments(n_arms="n_actions")`` lets ``f(n_arms=3)`` call ``f(n_actions=3)`` with a
    ``DeprecationWarning`` naming ``n_actions``; passing both spellings is a ``TypeError``.

    Parameters
    ----------
    **renames : str
        ``old_name="new_name"`` pairs.

    Returns
    -------
    decorator : callable
    """

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, new in renames.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(
                            f"{fn.__qualname__}() got both {new}={kwargs[new]!r} and its deprecated "
                            f"spelling {old}={kwargs[old]!r}: pass {new} only"
                        )
                    warn_renamed(old, new)
                    kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def renamed_attribute(old: str, new: str) -> property:
    """Return a read-only property ``old`` that warns and returns the attribute ``new``.

    Parameters
    ----------
    old : str
        The deprecated attribute name (the name the property is bound to in the class).
    new : str
        The attribute to read instead.

    Returns
    -------
    prop : property
    """

    def get(self: Any) -> Any:
        warn_renamed(old, new)
        return getattr(self, new)

    return property(get, doc=f"Deprecated spelling of :attr:`{new}`.")


def moved_names(module: str, names: Iterable[str], new_module: str) -> Callable[[str], Any]:
    """Return the module ``__getattr__`` that keeps moved names importable from their old module.

    ``from old import name`` (or ``old.name``) imports ``name`` from ``new_module`` and raises a
    ``DeprecationWarning`` naming ``new_module.name``; other unknown names raise the usual
    ``AttributeError``. Put ``__getattr__ = moved_names(__name__, [...], "new.module")`` in the
    old module (PEP 562).

    Parameters
    ----------
    module : str
        The old module's name (``__name__``), for the ``AttributeError`` of other names.
    names : iterable of str
        The names that moved.
    new_module : str
        The module that defines them now.

    Returns
    -------
    getattr : callable
        ``getattr(name) -> object``, the old module's ``__getattr__``.
    """
    moved = frozenset(names)

    def __getattr__(name: str) -> Any:  # noqa: N807 - the module hook of PEP 562
        if name not in moved:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        warn_renamed(f"{module}.{name}", f"{new_module}.{name}")
        return getattr(importlib.import_module(new_module), name)

    return __getattr__


def moved_module(module: str, new_module: str) -> Callable[[str], Any]:
    """Return the ``__getattr__`` of a module whose whole content moved to ``new_module``.

    Every name read from the old module (public or not) comes from ``new_module``, with a
    ``DeprecationWarning`` naming the new path. The old module keeps only its docstring and
    ``__getattr__ = moved_module(__name__, "new.module")``.

    Parameters
    ----------
    module : str
        The old module's name (``__name__``).
    new_module : str
        The module that holds its content now.

    Returns
    -------
    getattr : callable
        ``getattr(name) -> object``, the old module's ``__getattr__``.
    """

    def __getattr__(name: str) -> Any:  # noqa: N807 - the module hook of PEP 562
        if name.startswith("__"):  # module machinery (__path__, __file__ ...): not a moved name
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        target = importlib.import_module(new_module)
        if not hasattr(target, name):
            raise AttributeError(f"module {module!r} (moved to {new_module!r}) has no attribute {name!r}")
        warn_renamed(f"{module}.{name}", f"{new_module}.{name}")
        return getattr(target, name)

    return __getattr__
