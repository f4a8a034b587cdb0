"""The Validation panel's sampling process: a SamplingSession stepped outside the GUI process.

Why a process and not a thread: importing TensorFlow loads its shared libraries with the
GIL held, which froze the window for seconds at a time when the import ran in a worker
thread (measured: gaps of 1.5-2 s on a 2-core machine). A child process imports it
instead, so the window's process never loads TensorFlow at all.

Protocol (one JSON object per line): the parent writes the job, then any further line (or
closing stdin) cancels; the child writes {"theory": fntk-result JSON} (the solver's
predictions, when the job names "theory" tensors), {"device"}, {"progress": [done, total, stage]},
{"width", "result": fntk-result JSON} snapshots (the last one per width is final, with
meta cancelled when stopped), then {"end": true}, or {"error": message}.
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time

NICE = 10  # scheduling priority below the window (POSIX)
SNAPSHOT_S = 0.1  # estimate at most this often: estimates cost more than a chunk of small networks


def command() -> list[str]:
    """How to start this worker: the frozen bundle has no ``-m``, its entry script checks the flag."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "--sampling-worker"]
    return [sys.executable, "-m", "fntk_app.sampling_worker"]


def run(stdin, stdout) -> int:
    if hasattr(os, "nice"):  # the window's process comes first: sampling must not starve its event loop
        try:
            os.nice(NICE)
        except OSError:
            pass
    def emit(msg):
        stdout.write(json.dumps(msg, allow_nan=False) + "\n")
        stdout.flush()

    try:
        job = json.loads(stdin.readline())
        cancel = threading.Event()
        threading.Thread(target=lambda: (stdin.readline(), cancel.set()), daemon=True).start()
        import numpy as np

        from fntk_core.sampling import SamplingSession
        from fntk_core.spec import NetworkSpec

        spec, x = NetworkSpec.from_dict(job["network"]), np.asarray(job["inputs"], float)
        widths, networks = [int(n) for n in job["widths"]], int(job["networks"])
        if job.get("theory"):  # the predictions: solved here too, to keep the window's process idle
            from fntk_core.solver import solve

            emit({"theory": solve(spec, x, job["theory"], cancel=cancel).to_json_dict()})
        total = networks * len(widths)
        devices = job.get("devices", "1")
        devices = None if devices == "1" else devices if devices == "all" else int(devices)
        for k, n in enumerate(widths):
            s = SamplingSession(spec, x, networks=networks, width=n, tensors=job["tensors"], seed=int(job["seed"]),
                                dtype=job["dtype"], devices=devices)
            s.start()  # TensorFlow is imported here
            emit({"device": s.tfinfo.get("device")})
            last = time.perf_counter()
            while not s.done:
                if cancel.is_set():
                    s.cancel()
                    break
                p = s.step()
                emit({"progress": [k * networks + p.done, total, f"n = {n}"]})
                if time.perf_counter() - last > SNAPSHOT_S and not s.done:
                    emit({"width": n, "result": s.snapshot().to_json_dict()})
                    last = time.perf_counter()
            emit({"width": n, "result": s.result().to_json_dict()})
            if s.cancelled:
                break
        emit({"end": True})
        return 0
    except Exception as exc:  # noqa: BLE001 - the parent shows the message
        emit({"error": f"{type(exc).__name__}: {exc}"})
        return 1


def main() -> int:
    return run(sys.stdin, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
