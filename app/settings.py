"""QSettings (organisation "fntk", application "fntk"): window layout, recent files, last folders.

Only presentation state lives here; documents are files (fntk-session).
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QCoreApplication, QSettings

ORG = APP = "fntk"
MAX_RECENT = 10


def init_names() -> None:
    """Set before the first QSettings so every part of the app reads the same store."""
    QCoreApplication.setOrganizationName(ORG)
    QCoreApplication.setApplicationName(APP)


def store() -> QSettings:
    init_names()
    return QSettings(ORG, APP)


def reset() -> str:
    """Forget everything (``fntk --reset-settings``); returns where the settings were."""
    s = store()
    where = s.fileName()
    s.clear()
    s.sync()
    return where


def save_window(win) -> None:
    s = store()
    s.setValue("window/geometry", win.saveGeometry())
    s.setValue("window/state", win.saveState())


def restore_window(win) -> None:
    s = store()
    geometry, state = s.value("window/geometry"), s.value("window/state")
    if geometry is not None:
        win.restoreGeometry(geometry)
    if state is not None:
        win.restoreState(state)


def recent_files() -> list[str]:
    v = store().value("recent", [])
    v = [v] if isinstance(v, str) else list(v or [])
    return [p for p in v if Path(p).exists()]


def add_recent(path) -> list[str]:
    p = str(Path(path).resolve())
    files = [p] + [f for f in recent_files() if f != p]
    store().setValue("recent", files[:MAX_RECENT])
    return files[:MAX_RECENT]


def last_folder(kind: str) -> str:
    return str(store().value(f"folders/{kind}", "") or "")


def set_last_folder(kind: str, path) -> None:
    store().setValue(f"folders/{kind}", str(Path(path).resolve().parent))
