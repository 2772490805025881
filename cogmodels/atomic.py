"""Atomic file writes: a reader sees the old file or the whole new one, never a partial file.

Every writer of the package that replaces a file (trial tables, experiment results, manifests,
checkpoints, configs) goes through :func:`atomic_path`: write a temporary file in the same folder,
flush it to disk (``fsync``) and rename it onto the target with ``os.replace``, which is atomic on
POSIX and Windows when both paths are on one file system. Without the ``fsync`` a crash soon after
the rename can leave an empty file under the new name on file systems that reorder metadata and
data writes (ext4 ``data=writeback``, XFS).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text"]


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success flush it to disk and rename it onto ``path``.

    The body writes the temporary file with any writer (``pandas.DataFrame.to_parquet``,
    ``torch.save``, ``open``). If the body raises, the temporary file is removed and ``path`` is
    left as it was. The parent folder is created if missing.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write.

    Yields
    ------
    tmp : pathlib.Path
        A fresh, empty file in the same folder (``.{name}.<random>.tmp``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename); return the path.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write.
    data : bytes
        Its new content.

    Returns
    -------
    path : pathlib.Path
    """
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; return the path.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write.
    text : str
        Its new content, encoded as UTF-8 (on every platform).

    Returns
    -------
    path : pathlib.Path
    """
    return atomic_write_bytes(path, text.encode("utf-8"))


def _fsync_file(path: str | os.PathLike) -> None:
    fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Flush the folder entry of the rename too (POSIX; Windows cannot open a folder)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
