"""The single-slot runner: the latest task wins, superseded tasks are cancelled and silent."""
import threading

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QCoreApplication

from fntk_core.jobs import Progress


def test_starting_a_task_cancels_the_running_one(qtbot):
    from fntk_app.runner import Runner

    r = Runner()
    started, seen_cancel = threading.Event(), threading.Event()
    finished, progress = [], []
    r.finished.connect(finished.append)
    r.progress.connect(progress.append)

    def slow(cancel, report):
        started.set()
        report(Progress(0, 1, "slow"))
        assert cancel.wait(10), "never cancelled"
        seen_cancel.set()
        return "slow"

    def fast(cancel, report):
        report(Progress(1, 1, "fast"))
        return "fast"

    r.start(slow)
    assert started.wait(10)
    r.start(fast)
    with qtbot.waitSignal(r.finished, timeout=10_000):
        pass
    assert seen_cancel.wait(10)
    qtbot.wait(50)  # let any late report of the superseded task arrive (it must be dropped)
    assert finished == ["fast"] and [p.stage for p in progress] == ["fast"] and not r.busy()


def test_errors_come_back_as_failed(qtbot):
    from fntk_app.runner import Runner

    r = Runner()

    def bad(cancel, report):
        raise ValueError("C_W: must be > 0")

    with qtbot.waitSignal(r.failed, timeout=10_000) as blocker:
        r.start(bad)
    assert isinstance(blocker.args[0], ValueError) and "C_W" in str(blocker.args[0])
    assert not r.busy()


def test_results_panel_keeps_the_gui_responsive_while_solving(qtbot):
    """The solve runs off the GUI thread: a 10 ms timer keeps firing (longest gap measured)."""
    from fntk_app.results_panel import ResultsPanel
    from PySide6.QtCore import QElapsedTimer, QTimer

    from fntk_core import NetworkSpec, get_activation

    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.set_tensors(("K", "Theta", "K1", "Theta1", "V", "D", "F", "A", "B"))
    spec = NetworkSpec(n0=2, depth=40, activation=get_activation("tanh"))
    clock, gaps = QElapsedTimer(), []
    clock.start()
    last = [clock.elapsed()]

    def tick():
        now = clock.elapsed()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer(interval=10)
    timer.timeout.connect(tick)
    timer.start()
    panel.set_network((spec, [[1.0, 0.5], [-0.5, 1.0], [0.3, 0.2]], {}))
    panel.solve_now()
    with qtbot.waitSignal(panel.runner.finished, timeout=120_000):
        pass
    timer.stop()
    assert panel.result().layers[-1] == 40 and len(gaps) > 5
    # generous bound for a shared 2-core machine; the solve itself takes far longer than this
    assert max(gaps) < 1000 < clock.elapsed(), (max(gaps), clock.elapsed())


def test_results_panel_reports_progress_inside_a_layer(qtbot, monkeypatch):
    """A long layer (many inputs) says how far its expectations are, between the layer reports."""
    import fntk_core.solver
    from fntk_app.results_panel import ResultsPanel

    from fntk_core import NetworkSpec, get_activation

    monkeypatch.setattr(fntk_core.solver, "WITHIN_LAYER_EVERY_S", 0.0)   # every report, not four a second
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.set_tensors(("K", "V"))
    seen = []
    panel.progress.connect(lambda p: seen.append(None if p is None else (p.done, p.stage)))
    x = np.random.default_rng(0).normal(size=(5, 2))
    panel.set_network((NetworkSpec(n0=2, depth=3, activation=get_activation("tanh")), x.tolist(), {}))
    panel.solve_now()
    with qtbot.waitSignal(panel.runner.finished, timeout=120_000):
        pass
    inside = [s for s in seen if s is not None and s[1].startswith("solve (layer")]
    assert inside and {s[1].split(":")[0] for s in inside} >= {"solve (layer 2", "solve (layer 3"}
    layers = [s[0] for s in seen if s is not None and s[1] == "solve"]
    assert layers == [1, 2, 3] and seen[-1] is None and panel.result().layers[-1] == 3


def test_a_task_outliving_its_runner_stops_quietly(qtbot):
    """A panel closed mid-solve: the task's reports go nowhere, no exception, it is cancelled."""
    import shiboken6
    from fntk_app.runner import Runner

    r = Runner()
    go, done, cancelled = threading.Event(), threading.Event(), []

    def task(cancel, report):
        go.wait(10)
        report(Progress(1, 2, "solve"))
        cancelled.append(cancel.is_set())
        done.set()
        return "late"

    r.start(task)
    shiboken6.delete(r)
    go.set()
    assert done.wait(10)
    qtbot.wait(50)
    assert cancelled == [True]


def test_garbage_is_collected_on_the_gui_thread_only(qtbot):
    """Automatic collection is off; the GUI thread's timer collects when a generation is due."""
    import gc
    import weakref

    from fntk_app import qtfix

    qtfix.collect_on_gui_thread()
    assert not gc.isenabled() and qtfix._GC_TIMER.isActive()
    assert qtfix._GC_TIMER.thread() is QCoreApplication.instance().thread()

    class Node:
        pass

    gc.collect()  # start from empty generations: the new cycle is the only garbage
    a, b = Node(), Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b
    keep = [Node() for _ in range(gc.get_threshold()[0] + 10)]  # allocations make generation 0 due
    alive = gone() is not None  # (not inside an assert: pytest keeps an assert's temporaries)
    assert qtfix.collect_if_due() is not None
    assert alive and gone() is None and len(keep) > 0
