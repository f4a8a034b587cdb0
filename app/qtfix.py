"""Guard against a reference-count bug of PySide6 6.12 on Python < 3.12.

Every call of a Python override of ``QGraphicsItem.itemChange`` (pyqtgraph's GraphicsObject
has one; so may a canvas) drops one reference to ``None`` (and to small ints/bools it
returns) that it never took. On Python 3.12+ these objects are immortal and nothing
happens; on 3.11 their count reaches zero after some thousands of plot updates, and the
interpreter aborts ("none_dealloc: deallocating None"), often at exit.

``ensure()`` measures the bug once (a few itemChange calls on a probe item) and, only if
references go missing, holds a reserve of extra references so the count cannot reach zero
in any realistic session (a few hundred thousand plot updates; about 24 MB).
"""
from __future__ import annotations

import ctypes
import sys

_RESERVE: tuple | None = None
RESERVE_SIZE = 1_000_000


def leaks_references() -> bool:
    from PySide6.QtCore import QRectF
    from PySide6.QtWidgets import QGraphicsObject, QGraphicsScene

    class Probe(QGraphicsObject):
        def boundingRect(self):
            return QRectF()

        def paint(self, *args):
            pass

        def itemChange(self, change, value):
            return super().itemChange(change, value)

    scene = QGraphicsScene()
    before = sys.getrefcount(None)
    item = Probe()
    scene.addItem(item)
    for _ in range(10):
        item.setVisible(False)
        item.setVisible(True)
    scene.removeItem(item)
    lost = before - sys.getrefcount(None)
    item.deleteLater()
    return lost > 5


def ensure() -> bool:
    """Install the reserve if this PySide6 loses references; True if it did (now or before)."""
    global _RESERVE
    if _RESERVE is not None:
        return True
    if sys.version_info >= (3, 12) or not leaks_references():
        return False
    # a tuple of atoms: the garbage collector untracks it, so full collections do not walk 4 M slots
    _RESERVE = (None, True, False, 0, 1) * (RESERVE_SIZE // 5) + (None,) * (3 * RESERVE_SIZE)
    # Never free it, not even while the interpreter shuts down: Qt items die last and
    # their itemChange calls keep dropping references until the very end.
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(_RESERVE))
    return True


_GC_TIMER = None


def collect_on_gui_thread() -> None:
    """Run Python's cyclic garbage collector only on the GUI thread.

    Otherwise a collection can start in a worker thread (the solver allocates a lot) and
    destroy Qt objects caught in reference cycles there ("QBasicTimer::stop: Failed.
    Possibly trying to stop from a different thread", then a crash). Automatic collection
    is switched off and a QTimer collects from the GUI thread instead (pyqtgraph's
    GarbageCollector pattern).
    """
    global _GC_TIMER
    if _GC_TIMER is not None:
        return
    import gc

    from PySide6.QtCore import QCoreApplication, QTimer

    gc.disable()
    _GC_TIMER = QTimer(QCoreApplication.instance(), interval=500)
    _GC_TIMER.timeout.connect(collect_if_due)
    _GC_TIMER.start()


FREEZE_AFTER_MS = 3000


def freeze_when_started(parent):
    """Once the window has started (its modules, library, widgets and first solve are
    alive for good), move every object to the collector's permanent generation: a full
    collection then walks only what came later (milliseconds, not the 0.2 s a full walk of
    the start-up heap takes on the GUI thread). The returned timer is active until then."""
    from PySide6.QtCore import QTimer

    timer = QTimer(parent, singleShot=True, interval=FREEZE_AFTER_MS)
    timer.timeout.connect(_freeze)
    timer.start()
    return timer


def _freeze() -> None:
    import gc

    gc.collect()   # garbage of the start-up goes first; what survives is long-lived
    gc.freeze()


def unfreeze(timer) -> None:
    """A window closes: give the collector back what was frozen (that window's cycles among
    it), so closing windows, as tests do by the hundred, leaks nothing."""
    import gc

    timer.stop()
    gc.unfreeze()


def collect_if_due() -> int | None:
    """Collect the oldest generation whose count passed its threshold; the generation or None."""
    import gc

    counts, threshold = gc.get_count(), gc.get_threshold()
    for gen in (2, 1, 0):
        if counts[gen] > threshold[gen]:
            gc.collect(gen)
            return gen
    return None
