"""A single-slot task runner per panel (Orange's pattern): starting a task cancels the last.

A task is ``fn(cancel: threading.Event, report: Callable[[Progress], None]) -> value``
and runs on a QThreadPool thread. It never touches widgets: it speaks the core's job
protocol (Progress, cancel flag) and its value, progress and errors come back to the GUI
thread through queued signals. Reports of a superseded task are dropped, so a panel only
ever sees its latest task.
"""
from __future__ import annotations

import threading
import traceback

from PySide6.QtCore import QEventLoop, QObject, QRunnable, QThreadPool, QTimer, Signal


class _Relay(QObject):
    # Emitted on the worker thread; the Runner (GUI thread) receives it queued.
    event = Signal(object)


class _Job(QRunnable):
    def __init__(self, token: int, fn, cancel: threading.Event, relay: _Relay):
        super().__init__()
        self.setAutoDelete(True)
        self.token, self.fn, self.cancel, self.relay = token, fn, cancel, relay

    def run(self):
        try:
            value = self.fn(self.cancel, lambda p: self._emit("progress", p))
        except Exception as exc:  # noqa: BLE001 - reported to the panel, which shows it
            exc.fntk_traceback = traceback.format_exc()
            self._emit("failed", exc)
        else:
            self._emit("finished", value)

    def _emit(self, kind, payload):
        try:
            self.relay.event.emit((self.token, kind, payload))
        except RuntimeError:  # the panel (and its runner) were deleted: nobody listens, stop
            self.cancel.set()


class Runner(QObject):
    """Runs one task at a time; ``start`` cancels the running one and supersedes it."""

    started = Signal()
    progress = Signal(object)   # fntk_core.jobs.Progress
    finished = Signal(object)   # the task's value
    failed = Signal(object)     # the exception it raised

    def __init__(self, parent=None, pool: QThreadPool | None = None):
        super().__init__(parent)
        self._pool = pool or QThreadPool.globalInstance()
        self._relay = _Relay(self)
        self._relay.event.connect(self._on_event)
        self._token = 0
        self._cancel: threading.Event | None = None
        self._busy = False

    def start(self, fn) -> None:
        self.cancel()
        self._token += 1
        self._cancel = threading.Event()
        self._busy = True
        self.started.emit()
        self._pool.start(_Job(self._token, fn, self._cancel, self._relay))

    def cancel(self) -> None:
        """Ask the running task to stop; its reports are ignored from now on."""
        if self._cancel is not None:
            self._cancel.set()
        self._token += 1
        self._busy = False

    def busy(self) -> bool:
        return self._busy

    def wait(self, timeout_ms: int = 60_000) -> bool:
        """Run the event loop until the current task reports its end (for --screenshot, tests)."""
        if not self._busy:
            return True
        loop = QEventLoop()
        self.finished.connect(loop.quit)
        self.failed.connect(loop.quit)
        QTimer.singleShot(timeout_ms, loop.quit)
        loop.exec()  # ok-eval: the Qt event loop, not Python exec
        self.finished.disconnect(loop.quit)
        self.failed.disconnect(loop.quit)
        return not self._busy

    def _on_event(self, event) -> None:
        token, kind, payload = event
        if token != self._token:
            return
        if kind == "progress":
            self.progress.emit(payload)
            return
        self._busy = False
        (self.finished if kind == "finished" else self.failed).emit(payload)
