"""Writing files safely: check the destination before the work, write it atomically.

A crash or Ctrl-C while writing never leaves a truncated file: the data goes to a temporary
file in the destination's folder (same file system), is flushed to disk, then renamed over
the destination in one step (``os.replace``).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import FntkError


def check_writable(path) -> Path:
    """Raise FntkError unless ``path`` can be created or overwritten as a file.

    Called before long jobs so a bad ``--out`` fails in a second, not after the work.
    """
    p = Path(path)
    if p.is_dir():
        raise FntkError(f"{p}: is a directory, expected a file name")
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.exists():
        raise FntkError(f"{p}: folder {folder} does not exist")
    if not folder.is_dir():
        raise FntkError(f"{p}: {folder} is not a folder")
    if p.exists() and not os.access(p, os.W_OK):
        raise FntkError(f"{p}: file is read-only")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise FntkError(f"{p}: folder {folder} is read-only")
    return p


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; on any failure the temporary file is removed."""
    return atomic_write_chunks(path, [data])


def atomic_write_chunks(path, chunks) -> Path:
    """Write the byte strings of the iterable ``chunks`` to ``path`` atomically (a large file
    is never held in memory whole); on any failure the temporary file is removed."""
    p = Path(path)
    check_writable(p)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent if str(p.parent) else ".")
    try:
        with os.fdopen(fd, "wb") as fh:
            for data in chunks:
                fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp creates 0600; give the file the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return p


def atomic_write_text(path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see ``atomic_write_bytes``)."""
    return atomic_write_bytes(path, text.encode(encoding))
