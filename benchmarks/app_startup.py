"""Time from `fntk` to a usable window, against a bare PySide6 window in the same run.

    python benchmarks/app_startup.py [RUNS]

Each run is a fresh process (offscreen platform), timed from before the process starts
to the first turn of the event loop after the window is shown (the window takes
input from then on; the first solve continues in the background), and to the first
solved result. The floor is the same measurement for an empty QMainWindow: what any
PySide6 app pays for Python, Qt and the platform plugin.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import os, sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication(["fntk"])
if sys.argv[1] == "fntk":
    from fntk_app import settings
    from fntk_app.main_window import MainWindow
    settings.init_names()
    win = MainWindow()
else:
    win = QMainWindow()
win.resize(1400, 900)
win.show()
def ready():
    print("usable", time.time(), flush=True)
    if sys.argv[1] == "fntk":
        win.results.wait()
        print("solved", time.time(), flush=True)
    os._exit(0)
QTimer.singleShot(0, ready)
app.exec()
"""


def one(kind: str) -> dict[str, float]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=tempfile.mkdtemp())
    t0 = time.time()
    out = subprocess.run([sys.executable, "-c", CHILD, kind], capture_output=True, text=True, env=env,
                         check=True).stdout
    return {line.split()[0]: float(line.split()[1]) - t0 for line in out.splitlines() if line[:1].isalpha()}


def main(runs: int = 3) -> None:
    fntk = [one("fntk") for _ in range(runs)]
    bare = [one("bare") for _ in range(runs)]
    usable = statistics.median(r["usable"] for r in fntk)
    solved = statistics.median(r["solved"] for r in fntk)
    floor = statistics.median(r["usable"] for r in bare)
    print(f"runs: {runs}; load average {os.getloadavg()[0]:.1f}")
    every = ", ".join(f"{r['usable']:.2f}" for r in fntk)
    print(f"fntk window usable: {usable:.2f} s (median; all: {every})")
    print(f"first result solved: {solved:.2f} s")
    print(f"bare PySide6 window: {floor:.2f} s")
    print(f"usable_s={usable:.2f} bare_s={floor:.2f} ratio={usable / floor:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
