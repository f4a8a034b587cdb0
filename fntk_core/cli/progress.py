"""One progress display for every job of the command line (solver, sampler, studies).

It receives the job protocol's ``Progress`` record (done, total, stage); on a terminal it
redraws one line, in a log it prints a line per 5 % so logs stay short.
"""
from __future__ import annotations

import sys
import time


class ProgressRenderer:
    """A ``ProgressCallback`` that draws a bar on stderr: ``renderer(progress)``."""

    def __init__(self, stream=None, width: int = 28, unit: str = ""):
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.width = width
        self.unit = unit
        self.t0 = time.perf_counter()
        self.last_step = -1
        self.finished = False

    def __call__(self, progress, total=None, stage: str = "") -> None:
        if total is None:
            done, total, stage = progress.done, progress.total, progress.stage
        else:  # a job still calling progress(done, total[, label])
            done = progress
        stage = stage or "working"
        frac = 1.0 if total <= 0 else min(1.0, max(0.0, done / total))
        elapsed = time.perf_counter() - self.t0
        eta = f" ETA {elapsed * (1 - frac) / frac:4.0f}s" if 0.01 < frac < 1 else ""
        count = f" {done}/{total} {self.unit}".rstrip() if self.unit else ""
        bar = "#" * int(round(frac * self.width))
        line = f"{stage} [{bar:<{self.width}}] {100 * frac:5.1f}%{count} {elapsed:4.0f}s{eta}"
        if self.tty:
            self.stream.write("\r" + line[:150].ljust(150))
            if frac >= 1:
                self.stream.write("\n")
                self.finished = True
        else:
            step = int(100 * frac) // 5
            if step == self.last_step:
                return
            self.last_step = step
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End a redrawn line that stopped before 100 % (cancelled or failed)."""
        if self.tty and not self.finished:
            self.stream.write("\n")
            self.stream.flush()
