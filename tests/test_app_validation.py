"""The Validation panel, driven through its real widgets (pytest-qt, offscreen; tiny networks, TF on the CPU)."""
import os

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QElapsedTimer, Qt, QTimer
from PySide6.QtGui import QImage

from fntk_core import validation as val
from fntk_core.results import Result
from fntk_core.session import spec_from_settings
from fntk_core.solver import finite_width_prediction, solve

NET = {"activation": "gelu", "depth": "3", "c_w": "1.98305826", "inputs": [["1", "0.5"], ["-0.5", "1"]]}


@pytest.fixture(autouse=True)
def _own_places(own_places):
    """Every test of this file keeps its settings and autosaves in its own folder."""


@pytest.fixture
def win(qtbot):
    from fntk_app.main_window import MainWindow

    w = MainWindow()
    w.persist = False
    qtbot.addWidget(w)
    w.resize(1300, 900)
    s = w.network.settings()
    s.update(NET)
    w.network.set_settings(s)
    w.show()
    qtbot.waitExposed(w)
    w.focus_panel("validation")
    yield w
    w.validation.shutdown()


def settle(win, qtbot) -> None:
    """Let the window finish its start-up work (the first solve, the symbols, the first paints,
    the start-up heap frozen for the collector), so a StallMeter started next measures sampling."""
    from fntk_app import mathtext

    qtbot.waitUntil(lambda: mathtext.ready() and not win.results.runner.busy() and not win.library._pending
                    and not win.freeze_timer.isActive(), timeout=60_000)
    qtbot.wait(200)


SCHEDSTAT = "/proc/thread-self/schedstat"   # Linux: (ns on the CPU, ns waiting in the run queue, slices)


def _sched_ns() -> tuple[int, int] | None:
    """(ns this thread has run, ns it has waited runnable while the OS ran others), or None."""
    try:
        with open(SCHEDSTAT) as f:
            ran, queued = f.read().split()[:2]
        return int(ran), int(queued)
    except (OSError, ValueError):
        return None


class StallMeter:
    """Gaps between ticks of a 10 ms QTimer: how long the event loop was blocked.

    For each gap it also reads how much of it the GUI thread spent computing and how much
    the OS kept it waiting for a CPU (on a 2-core CI host another test process can hold both
    cores for 100 ms: that delay is the scheduler's, not the app's)."""

    def __init__(self):
        self.clock = QElapsedTimer()
        self.longest_wall = self.longest_app = self.longest_cpu = 0
        self.last = _sched_ns()
        self.timer = QTimer(interval=10)
        self.timer.timeout.connect(self._tick)
        self.clock.start()
        self.timer.start()

    def _tick(self):
        wall = self.clock.restart()
        now = _sched_ns()
        ran = queued = 0
        if now is not None and self.last is not None:
            ran, queued = ((a - b) // 1_000_000 for a, b in zip(now, self.last))
        self.last = now
        self.longest_wall = max(self.longest_wall, wall)
        self.longest_app = max(self.longest_app, wall - queued)   # computing, or sleeping on something
        self.longest_cpu = max(self.longest_cpu, ran)             # computing on the GUI thread

    def stop(self) -> dict:
        self.timer.stop()
        return {"wall": self.longest_wall, "app": self.longest_app, "cpu": self.longest_cpu,
                "measured": self.last is not None}


def assert_no_stall(stall: dict) -> None:
    """The app never blocked its event loop for 100 ms: never computed that long on the GUI
    thread, and (less the OS's run-queue delay) never waited that long. The waiting part is
    only meaningful on a host that is not oversubscribed; an over-long wait there is a skip."""
    detail = f"(wall clock {stall['wall']} ms, computing {stall['cpu']} ms, less run queue {stall['app']} ms)"
    if stall["cpu"] >= 100:
        raise AssertionError(f"the GUI thread computed {stall['cpu']} ms at a stretch during sampling {detail}")
    if (stall["app"] if stall["measured"] else stall["wall"]) < 100:
        return
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    if load > cores:
        pytest.skip(f"stall bound not checkable: load average {load:.1f} on {cores} cores {detail}")
    raise AssertionError(f"the event loop stalled during sampling {detail}")


def _spec_x():
    spec, x, errors = spec_from_settings({**_settings(), **NET})
    assert not errors
    return spec, x


def _settings():
    from fntk_core.session import DEFAULT_SETTINGS
    return dict(DEFAULT_SETTINGS)


def _plotted(panel):
    x, y = panel.items["sampled"].getData()
    eb = panel.error_bars.opts
    return x, y, eb["height"] / 2


def test_a_run_from_the_window_plots_the_samplers_result_without_stalling(qtbot, win):
    from fntk_core.sampling import sample

    v = win.validation
    v.view.setCurrentIndex(val.VIEWS.index("layers"))
    v.networks_spin.setValue(200)
    v.width_spin.setValue(8)
    v.seed_spin.setValue(7)
    settle(win, qtbot)
    meter = StallMeter()
    qtbot.mouseClick(v.run_button, Qt.LeftButton)
    assert v.busy()
    qtbot.waitUntil(lambda: not v.busy(), timeout=300_000)
    stall = meter.stop()
    assert "CPU" in v.device.text()
    spec, x = _spec_x()
    ref = sample(spec, x, networks=200, width=8, tensors=["K"], seed=7)
    xs, ys, es = _plotted(v)
    idx = (slice(None), 0, 0)
    np.testing.assert_array_equal(xs, [1, 2, 3])
    np.testing.assert_allclose(ys, ref.tensors["K"][idx], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(es, ref.stderr["K"][idx], rtol=1e-12, atol=1e-15)
    theory = solve(spec, x, ["K", "K1"])
    np.testing.assert_allclose(v.items["infinite"].getData()[1], theory.tensors["K"][idx], rtol=1e-12)
    pred = finite_width_prediction(theory, spec, 8)["K"][idx]
    np.testing.assert_allclose(v.items["first-order"].getData()[1], pred, rtol=1e-12)
    assert v.status.text().startswith("sampled")
    assert_no_stall(stall)


@pytest.mark.slow
def test_two_devices_plot_the_same_estimates_as_one(qtbot, win):
    """The devices choice spreads the ensemble over two logical CPU devices (in the sampling
    process); the same seed gives the same estimates as one device."""
    from fntk_core.sampling import sample

    v = win.validation
    v.view.setCurrentIndex(val.VIEWS.index("layers"))
    v.networks_spin.setValue(64)
    v.width_spin.setValue(6)
    v.seed_spin.setValue(5)
    v.devices.setFocus()
    qtbot.keyClicks(v.devices, "2")
    assert v.devices.currentText() == "2 devices"
    qtbot.mouseClick(v.run_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not v.busy(), timeout=300_000)
    assert v.status.text().startswith("sampled"), v.status.text()
    r = v._buf.view()[1][6]
    assert r.meta["replicas"] == 2
    spec, x = _spec_x()
    ref = sample(spec, x, networks=64, width=6, tensors=["K"], seed=5)
    _, ys, es = _plotted(v)
    np.testing.assert_allclose(ys, ref.tensors["K"][:, 0, 0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(es, ref.stderr["K"][:, 0, 0], rtol=1e-12, atol=1e-15)


def test_cancel_halfway_keeps_and_plots_the_partial_result(qtbot, win):
    v = win.validation
    v.view.setCurrentIndex(val.VIEWS.index("layers"))
    v.networks_spin.setValue(10**6)
    v.width_spin.setValue(8)
    settle(win, qtbot)
    meter = StallMeter()
    qtbot.mouseClick(v.run_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: v.progress_bar.value() >= 500 and v.items["sampled"].getData()[1] is not None
                    and len(v.items["sampled"].getData()[1]) == 3, timeout=300_000)
    qtbot.mouseClick(v.cancel_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not v.busy(), timeout=60_000)
    stall = meter.stop()
    r = v._buf.view()[1][8]
    assert r.meta["cancelled"] is True and 0 < r.meta["networks_used"] < 10**6
    xs, ys, es = _plotted(v)
    np.testing.assert_allclose(ys, r.tensors["K"][:, 0, 0], rtol=1e-12, atol=1e-15)
    assert np.all(es[1:] > 0)
    assert v.status.text().startswith("cancelled") and not v.cancel_button.isEnabled()
    assert_no_stall(stall)


def test_width_views_exports_and_reopening(qtbot, win, tmp_path):
    v = win.validation
    v.networks_spin.setValue(100)
    v.view.setCurrentIndex(val.VIEWS.index("widths"))
    qtbot.mouseClick(v.widths_edit, Qt.LeftButton)
    qtbot.keyClick(v.widths_edit, Qt.Key_A, Qt.ControlModifier)
    qtbot.keyClicks(v.widths_edit, "6,12")
    qtbot.mouseClick(v.run_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not v.busy(), timeout=300_000)
    xs, ys, _ = _plotted(v)
    np.testing.assert_array_equal(xs, [6, 12])
    v.view.setCurrentIndex(val.VIEWS.index("scaled"))
    sampled = v._buf.view()[1]
    theory = solve(*_spec_x(), ["K", "K1"])
    inf = theory.tensors["K"][2, 0, 0]
    np.testing.assert_allclose(v.items["sampled"].getData()[1],
                               [n * (sampled[n].tensors["K"][2, 0, 0] - inf) for n in (6, 12)], rtol=1e-10)
    np.testing.assert_allclose(v.items["first-order"].getData()[1], theory.tensors["K1"][2, 0, 0], rtol=1e-12)
    for ext in ("png", "pdf", "svg"):
        assert v.export_figure(str(tmp_path / f"fig.{ext}"))
    assert not QImage(str(tmp_path / "fig.png")).isNull()
    assert (tmp_path / "fig.pdf").read_bytes().startswith(b"%PDF")
    assert "<svg" in (tmp_path / "fig.svg").read_text()
    assert v.export_data(str(tmp_path / "data.csv"))
    back = val.read_curves_csv((tmp_path / "data.csv").read_text())
    for c in v.curves():
        np.testing.assert_allclose(back[c.label]["x"], c.x, rtol=1e-15)
        np.testing.assert_allclose(back[c.label]["y"], c.y, rtol=1e-15)
    assert v.export_data(str(tmp_path / "r.json"))
    r = Result.load(tmp_path / "r.json")
    np.testing.assert_array_equal(r.tensors["K"], sampled[12].tensors["K"])
    assert not v.export_data(str(tmp_path / "r.txt")) and ".csv or .json" in v.status.text()
    # the saved result opens as a per-layer plot of the same numbers
    assert v.open_path(str(tmp_path / "r.json"))
    assert v.view_name() == "layers"
    np.testing.assert_allclose(_plotted(v)[1], r.tensors["K"][:, 0, 0], rtol=1e-15)


def test_the_canvas_diagram_selects_its_statistic(qtbot, win):
    from fntk_core.diagrams import library

    entry = library()["V"][0]
    win.show_diagram(entry.id, entry.diagram)
    assert win.validation.name() == "V"


def test_scaled_view_only_for_leading_tensors():
    with pytest.raises(ValueError, match="only for K and Theta"):
        val.across_widths("V", (0, 0, 0, 0), 2, None, {}, scaled=True)


def test_a_width_study_from_fntk_study_opens_as_the_width_view(qtbot, tmp_path):
    """results.json of ``fntk study`` (points over the width): plotted as sampled per width with the theory."""
    from fntk_app.validation_panel import ValidationPanel
    from fntk_core.studies.base import Point, write_results_json

    spec, x = _spec_x()
    predicted = solve(spec, x, ["K", "Theta", "K1", "Theta1"])
    rng = np.random.default_rng(3)
    points = []
    for n in (8, 16, 32):
        k = predicted.tensors["K"] + rng.normal(0, 0.01, predicted.tensors["K"].shape)
        sampled = Result(predicted.layers, {"K": k}, {"source": "sampler", "network": spec.to_dict(),
                                                      "networks_used": 100}, {"K": np.full_like(k, 0.01)})
        points.append(Point(f"n{n}", {"width": n}, spec, x, n, 100, 0, ("K",), ("K", "K1"), sampled=sampled,
                            predicted=predicted))
    path = write_results_json("finite-width-corrections", points, {}, {}, tmp_path)
    v = ValidationPanel()
    qtbot.addWidget(v)
    assert v.open_path(str(path))
    assert v.view_name() == "widths" and v.name() == "K" and v.layer_spin.value() == 3
    xs, ys, es = _plotted(v)
    np.testing.assert_array_equal(xs, [8, 16, 32])
    np.testing.assert_allclose(ys, [p.sampled.tensors["K"][2, 0, 0] for p in points], rtol=1e-15)
    np.testing.assert_allclose(es, 0.01, rtol=1e-12)
    np.testing.assert_allclose(v.items["infinite"].getData()[1], predicted.tensors["K"][2, 0, 0], rtol=1e-15)


def test_a_solver_result_is_refused_with_the_reason(qtbot, tmp_path):
    from fntk_app.validation_panel import ValidationPanel

    solve(*_spec_x(), ["K"]).save(tmp_path / "s.json")
    v = ValidationPanel()
    qtbot.addWidget(v)
    assert not v.open_path(str(tmp_path / "s.json"))
    assert "not a sampled result" in v.status.text()
