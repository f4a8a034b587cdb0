"""Autosave of the drawn diagram to QStandardPaths.AppDataLocation, and recovery after a crash.

Each running window writes ``autosave/autosave-<pid>.json`` (atomically, fntk_core.files)
at most every ``INTERVAL_MS`` after an edit, so a crash or kill loses at most the last
edit; a clean close removes it.  At the next start, files whose process is gone are
offered for recovery.  The file is versioned; one from a newer fntk is refused.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from PySide6.QtCore import QObject, QStandardPaths, QTimer

from fntk_core.diagrams.io import diagram_from_json, diagram_to_json
from fntk_core.errors import FntkError
from fntk_core.files import atomic_write_text

FORMAT, VERSION = "fntk-autosave", 1
INTERVAL_MS = 1000


def folder() -> Path:
    return Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)) / "autosave"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def orphans() -> list[Path]:
    """Autosaves left by processes that are gone (newest first)."""
    out = []
    for p in folder().glob("autosave-*.json"):
        try:
            pid = int(p.stem.split("-", 1)[1])
        except ValueError:
            continue
        if not _alive(pid):
            out.append(p)
    return sorted(out, key=lambda p: p.stat().st_mtime, reverse=True)


def read(path):
    """(diagram, saved time text) of an autosave file; FntkError/ValueError says what is wrong."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{Path(path).name}: not an fntk autosave")
    v = data.get("version")
    if not isinstance(v, int) or v > VERSION:
        raise ValueError(f"{Path(path).name}: autosave version {v} is newer than this fntk understands "
                         f"({VERSION}); update fntk")
    return diagram_from_json(data["diagram"]), str(data.get("saved", ""))


class Autosave(QObject):
    """Writes the editor's diagram shortly after each edit (at most every INTERVAL_MS)."""

    def __init__(self, editor, parent=None):
        super().__init__(parent)
        self.editor = editor
        self.path = folder() / f"autosave-{os.getpid()}.json"
        self.timer = QTimer(self, singleShot=True, interval=INTERVAL_MS)
        self.timer.timeout.connect(self.save_now)
        editor.stack.indexChanged.connect(self._edited)
        self.enabled = True
        self.error: str | None = None

    def _edited(self, _index=None) -> None:
        if self.enabled and not self.timer.isActive():
            self.timer.start()

    def save_now(self) -> None:
        self.timer.stop()
        if self.editor.stack.isClean() or self.editor.is_empty():
            self.discard()
            return
        record = {"format": FORMAT, "version": VERSION, "pid": os.getpid(),
                  "saved": time.strftime("%Y-%m-%d %H:%M:%S"), "diagram": diagram_to_json(self.editor.diagram)}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.path, json.dumps(record, indent=1) + "\n")
            self.error = None
        except (FntkError, OSError) as exc:
            self.error = f"autosave failed: {exc}"

    def discard(self) -> None:
        self.timer.stop()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
