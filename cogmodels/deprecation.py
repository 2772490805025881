"""Old spellings of renamed arguments and attributes, kept for a while as deprecated aliases.

When the glossary (``docs/developer/glossary.md``) renames an argument or an attribute at a
boundary of the package, the old spelling keeps working and warns: a ``DeprecationWarning`` that
names the new spelling. :func:`renamed_arguments` does it for keyword arguments of a function or a
constructor, :func:`renamed_attribute` for attributes read on an object. When a name or a whole
module moves, :func:`moved_names` and :func:`moved_module` keep the old import path working with
the same warning, naming the new path. Renamed table *columns* have no alias (a table is data,
not a call): :func:`require_columns` names the new column where a table still holds the old one.
"""

from __future__ import annotations

import functools
import importlib
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

__all__ = ["RENAMED_COLUMNS", "moved_module", "moved_names", "renamed_arguments", "renamed_attribute",
           "require_columns", "warn_renamed"]

#: old table columns -> their names in the glossary's vocabulary (``subject``, ``session``, ``time``)
RENAMED_COLUMNS: dict[str, str] = {"lane": "subject", "episode": "session", "time_s": "time"}

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


def require_columns(name: str, table: Any, columns: Sequence[str], what: str = "") -> None:
    """Raise ``ValueError`` unless the DataFrame ``table`` has every column in ``columns``.

    The message names the missing columns and the columns present; where ``table`` holds the old
    name of a missing column (:data:`RENAMED_COLUMNS`: ``lane``, ``episode``, ``time_s``), it says
    so and gives the rename, e.g. for a trial table written before the rename.

    Parameters
    ----------
    name : str
        The argument's name, e.g. ``"history"``.
    table : pandas.DataFrame
        The table.
    columns : sequence of str
        The columns needed.
    what : str, optional
        What the table should be, e.g. ``"a trial table of RewardDecoder.run"``.
    """
    present = [str(c) for c in table.columns]
    missing = [c for c in columns if c not in table.columns]
    if not missing:
        return
    old = {o: n for o, n in RENAMED_COLUMNS.items() if n in missing and o in table.columns}
    hint = (f"; {', '.join(f'{o!r} is the old name of {n!r}' for o, n in old.items())}: rename with "
            f"{name} = {name}.rename(columns={old!r})") if old else ""
    raise ValueError(f"{name} must be {what or 'a table'} with the column(s) {missing}; it has "
                     f"{present}{hint}")
