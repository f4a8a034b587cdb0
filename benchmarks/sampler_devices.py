"""Sampler over several devices and workers: networks per second and the cost of tf.distribute.

    python benchmarks/sampler_devices.py [--networks 4000] [--width 50] [--depth 4]

Each configuration runs in its own process (logical devices and cluster workers must be set
up before TensorFlow starts), samples K and Theta once to trace, then times a second run of
the same job (median of ``--repeat``):
  * plain: no tf.distribute (the default path);
  * devices=1, devices=2: MirroredStrategy over 1 or 2 logical CPU devices (GPUs where present);
  * 1 worker, 2 workers: MultiWorkerMirroredStrategy, worker processes on 127.0.0.1 (TF_CONFIG);
    the time of a step is that of the slowest worker.
Overhead = 1 - throughput(devices=1) / throughput(plain).  All configurations give the same
estimates (checked here to 1e-12 relative).  Where a GPU is present, also float32 and
float64 at widths 100, 500, 1000 and depths 4, 30 on one GPU against the CPU.
Last line: ``scaling_2_workers: X`` = throughput(2 workers) / throughput(1 worker).
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
X = [[-0.9895229339599609, -0.5992491841316223], [-0.17877478897571564, 2.253682851791382]]


def child(cfg: dict) -> dict:
    """Run one configuration in this (fresh) process; returns timings and the estimates."""
    sys.path.insert(0, str(ROOT))
    import numpy as np

    from fntk_core import NetworkSpec, get_activation
    from fntk_core.sampling import SamplingSession
    from fntk_core.sampling.api import drive

    spec = NetworkSpec(n0=2, depth=cfg["depth"], activation=get_activation("tanh"), c_w=1.0, c_b=0.0)
    kw = dict(width=cfg["width"], tensors=["K", "Theta"], seed=1, dtype=cfg.get("dtype", "float64"),
              chunk=cfg["chunk"], devices=cfg.get("devices"), cluster=cfg.get("cluster", False))
    drive(SamplingSession(spec, np.array(X), networks=cfg["chunk"] * 4, **kw))  # trace
    times, res = [], None
    for _ in range(cfg["repeat"]):
        s = SamplingSession(spec, np.array(X), networks=cfg["networks"], **kw)
        s.start()
        t = time.perf_counter()
        res = drive(s)
        times.append(time.perf_counter() - t)
    return {"seconds": sorted(times)[len(times) // 2], "chief": s.chief, "device": res.meta.device,
            "K": np.asarray(res.tensors["K"]).tolist(), "Theta": np.asarray(res.tensors["Theta"]).tolist()}


def run_child(cfg: dict, env_extra: dict | None = None, wait: bool = True):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **(env_extra or {}))
    if not cfg.get("gpu"):
        env["CUDA_VISIBLE_DEVICES"] = ""
    p = subprocess.Popen([sys.executable, __file__, "--child", json.dumps(cfg)], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    return p if not wait else collect(p)


def collect(p) -> dict:
    out, err = p.communicate(timeout=1800)
    if p.returncode:
        raise SystemExit(f"benchmark child failed:\n{err[-3000:]}")
    return json.loads(out.strip().splitlines()[-1])


def workers(cfg: dict, n: int) -> dict:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    cluster = {"worker": [f"127.0.0.1:{s.getsockname()[1]}" for s in socks]}
    for s in socks:
        s.close()
    procs = [run_child(dict(cfg, cluster=True), {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {
        "type": "worker", "index": i}})}, wait=False) for i in range(n)]
    outs = [collect(p) for p in procs]
    chief = next(o for o in outs if o["chief"])
    return dict(chief, seconds=max(o["seconds"] for o in outs))


def same(a: dict, b: dict) -> float:
    import numpy as np

    return max(float(np.max(np.abs(np.subtract(a[k], b[k])) / np.abs(a[k]))) for k in ("K", "Theta"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child")
    ap.add_argument("--networks", type=int, default=4000)
    ap.add_argument("--width", type=int, default=50)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--chunk", type=int, default=32, help="networks per chunk and device")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(json.loads(a.child))))
        return
    base = dict(networks=a.networks, width=a.width, depth=a.depth, chunk=a.chunk, repeat=a.repeat)
    print(f"K, Theta; width {a.width}, depth {a.depth}, 2 inputs, float64, {a.networks} networks, "
          f"chunk {a.chunk} per device; {os.cpu_count()} CPU cores; load {os.getloadavg()[0]:.1f}")
    rows = {"plain": run_child(base), "devices=1": run_child(dict(base, devices=1)),
            "devices=2": run_child(dict(base, devices=2)),
            "1 worker": workers(base, 1), "2 workers": workers(base, 2)}
    rate = {k: a.networks / v["seconds"] for k, v in rows.items()}
    for k, v in rows.items():
        print(f"{k:>10}: {rate[k]:8.0f} networks/s  ({v['seconds']:.3f} s)  max rel. diff vs plain "
              f"{same(rows['plain'], v):.1e}")
    print(f"overhead of MirroredStrategy (1 device): {1 - rate['devices=1'] / rate['plain']:+.1%}")
    print(f"overhead of MultiWorkerMirroredStrategy (1 worker): {1 - rate['1 worker'] / rate['plain']:+.1%}")
    print(f"scaling_2_devices: {rate['devices=2'] / rate['devices=1']:.2f}")
    gpu = subprocess.run([sys.executable, "-c", "import tensorflow as tf; print(len(tf.config.list_physical_devices('GPU')))"],
                         capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    if gpu.returncode == 0 and gpu.stdout.strip().splitlines()[-1:] not in (["0"], []):
        print("one GPU against the CPU (networks/s):")
        for dtype in ("float32", "float64"):
            for depth in (4, 30):
                for width in (100, 500, 1000):
                    cfg = dict(base, width=width, depth=depth, dtype=dtype, networks=512, chunk=64, repeat=1)
                    g = run_child(dict(cfg, gpu=True))
                    c = run_child(dict(cfg, networks=64)) if width <= 500 else None
                    print(f"  {dtype} width {width} depth {depth}: GPU {512 / g['seconds']:.0f}, CPU "
                          f"{64 / c['seconds']:.0f}" if c else f"  {dtype} width {width} depth {depth}: "
                          f"GPU {512 / g['seconds']:.0f}, CPU not run")
    else:
        print("no GPU here: the GPU rows are not measured")
    print(f"scaling_2_workers: {rate['2 workers'] / rate['1 worker']:.2f}")


if __name__ == "__main__":
    main()
