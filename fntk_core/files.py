"""Stand-in until branch core lands (CONTRACT: fntk_core/files.py); replaced at merge."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import FntkError


def atomic_write_text(path, text: str, encoding: str = "utf-8") -> Path:
    """Write to a temporary file in the same folder, then os.replace it over ``path``."""
    p = Path(path)
    folder = p.parent if str(p.parent) else Path(".")
    if p.is_dir() or not folder.is_dir():
        raise FntkError(f"{p}: cannot write there (a directory, or the folder does not exist)")
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding=encoding) as fh:
            fh.write(text)
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return p
