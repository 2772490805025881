"""Checkpoints of trained networks and trainers: plain tensors and JSON, written atomically.

A checkpoint folder holds ``checkpoint.pt`` (state dicts and counters, written by
:func:`torch.save`), ``config.json`` (the trainer's settings) and ``history.json`` (its learning
curve). Loading goes through ``torch.load(weights_only=True)`` only, so a file never unpickles
arbitrary objects; any file that is not such a checkpoint is refused unread with one message
naming it. Every file is written to a temporary name and renamed, so a crash never leaves a
torn file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from cogmodels.atomic import atomic_path, atomic_write_text

__all__ = ["load_json", "load_tensors", "read_checkpoint", "save_tensors", "write_checkpoint",
           "write_text"]

#: the file names of a checkpoint folder
CHECKPOINT, CONFIG, HISTORY = "checkpoint.pt", "config.json", "history.json"


def first_line(exc: BaseException) -> str:
    """Return the first line of an exception's message (its type's name when empty)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def short_error(exc: BaseException, n: int = 160) -> str:
    """Return an exception's message on one line, cut to ``n`` characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= n else text[: n - 3] + "..."


def load_tensors(path: Path, writer: str) -> Any:
    """Load a file of tensors with ``torch.load(weights_only=True)``, refusing any other file.

    Parameters
    ----------
    path : Path
        The file.
    writer : str
        What writes such files, named in the error message.

    Returns
    -------
    state : Any
        The loaded dict of tensors and numbers.

    Raises
    ------
    ValueError
        For any file that is not one (tampered, foreign, truncated), naming ``path``; never
        torch's advice to load it with ``weights_only=False``, which would run whatever code a
        tampered file holds.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError, EOFError, ... for a foreign file
        reason = ("not a file of plain tensors that torch loads safely" if "weights_only" in str(exc)
                  else first_line(exc))
        raise ValueError(
            f"{path}: not a cogmodels checkpoint ({reason}); it was refused unread. Load only "
            f"files written by {writer}"
        ) from None


def load_json(path: Path, writer: str) -> Any:
    """Read a JSON file; a file that is not JSON is a ``ValueError`` naming ``path`` and ``writer``."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(
            f"{path}: not a cogmodels config ({first_line(exc)}); load only files written by {writer}"
        ) from None


def save_tensors(obj: Any, path: Path) -> None:
    """Write ``obj`` with :func:`torch.save` atomically (:func:`cogmodels.atomic.atomic_path`)."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (:func:`cogmodels.atomic.atomic_write_text`)."""
    atomic_write_text(path, text)


def write_checkpoint(
    path_dir: str | os.PathLike, config: dict[str, Any], history: list[dict], state: dict[str, Any]
) -> Path:
    """Write a checkpoint folder: ``config.json``, ``history.json`` and ``checkpoint.pt``.

    Parameters
    ----------
    path_dir : str or PathLike
        The folder (created if missing).
    config : dict
        The trainer's settings, JSON-serialisable.
    history : list of dict
        The learning curve, one dict of numbers per row.
    state : dict
        state dicts and counters (plain tensors and numbers only).

    Returns
    -------
    path : Path
        The folder.
    """
    d = Path(path_dir)
    d.mkdir(parents=True, exist_ok=True)
    write_text(d / CONFIG, json.dumps(config, indent=2))
    write_text(d / HISTORY, json.dumps(history))
    save_tensors(state, d / CHECKPOINT)
    return d


def read_checkpoint(path_dir: str | os.PathLike, writer: str) -> tuple[dict, list[dict], dict]:
    """Read :func:`write_checkpoint`'s folder; return ``(config, history, state)``.

    Parameters
    ----------
    path_dir : str or PathLike
        The folder.
    writer : str
        What writes such folders, named in the error messages.

    Returns
    -------
    config, history, state : dict, list of dict, dict
        What :func:`write_checkpoint` wrote (``history`` empty when the file is missing).

    Raises
    ------
    ValueError
        When the folder lacks ``checkpoint.pt`` or ``config.json``, or a file is not what the
        writer writes.
    """
    d = Path(path_dir)
    if not (d / CHECKPOINT).is_file() or not (d / CONFIG).is_file():
        raise ValueError(
            f"path_dir must be a folder written by {writer} holding {CHECKPOINT} and {CONFIG}, "
            f"got {str(d)!r}"
        )
    config = load_json(d / CONFIG, writer)
    history = load_json(d / HISTORY, writer) if (d / HISTORY).is_file() else []
    return config, history, load_tensors(d / CHECKPOINT, writer)
