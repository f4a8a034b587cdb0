"""A single-slot task runner per panel (Orange's pattern): starting a task cancels the last.

A task is ``fn(cancel: threading.Event, report: Callable[[Progress], None]) -> value``
and runs on a QThreadPool thread. It never touches a Qt object: it speaks the core's job
protocol (Progress, cancel flag) and puts its progress, value and errors into a plain
thread-safe queue, which the Runner drains on the GUI thread from a timer. (Emitting a
signal from the worker raced with the deletion of a closed panel's objects and could
crash the process.) Reports of a superseded task are dropped, so a panel only ever sees
its latest task.
"""
from __future__ import annotations

import queue
import threading
import traceback

from PySide6.QtCore import QEventLoop, QObject, QRunnable, QThreadPool, QTimer, Signal

DRAIN_MS = 25  # how often the GUI thread collects a running task's reports


class _Job(QRunnable):
    def __init__(self, token: int, fn, cancel: threading.Event, events: queue.SimpleQueue):
        super().__init__()
        self.setAutoDelete(True)
        self.token, self.fn, self.cancel, self.events = token, fn, cancel, events

    def run(self):
        try:
            value = self.fn(self.cancel, lambda p: self.events.put((self.token, "progress", p)))
        except Exception as exc:  # noqa: BLE001 - reported to the panel, which shows it
            exc.fntk_traceback = traceback.format_exc()
            self.events.put((self.token, "failed", exc))
        else:
            self.events.put((self.token, "finished", value))


class Runner(QObject):
    """Runs one task at a time; ``start`` cancels the running one and supersedes it."""

    started = Signal()
    progress = Signal(object)   # fntk_core.jobs.Progress
    finished = Signal(object)   # the task's value
    failed = Signal(object)     # the exception it raised

    def __init__(self, parent=None, pool: QThreadPool | None = None):
        super().__init__(parent)
        self._pool = pool or QThreadPool.globalInstance()
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self._drain_timer = QTimer(self, interval=DRAIN_MS)
        self._drain_timer.timeout.connect(self._drain)
        self._token = 0
        self._cancel: threading.Event | None = None
        self._busy = False
        # a runner deleted mid-task (its panel closed) cancels the task: nobody will read its reports
        live = self._live = [None]
        self.destroyed.connect(lambda *_: live[0] is not None and live[0].set())

    def start(self, fn) -> None:
        self.cancel()
        self._token += 1
        self._cancel = self._live[0] = threading.Event()
        self._busy = True
        self.started.emit()
        self._drain_timer.start()
        self._pool.start(_Job(self._token, fn, self._cancel, self._events))

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

    def _drain(self) -> None:
        """Hand the queued reports to the panel, in order (GUI thread)."""
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                break
            self._on_event(event)
        if not self._busy:
            self._drain_timer.stop()

    def _on_event(self, event) -> None:
        token, kind, payload = event
        if token != self._token:
            return
        if kind == "progress":
            self.progress.emit(payload)
            return
        self._busy = False
        (self.finished if kind == "finished" else self.failed).emit(payload)
