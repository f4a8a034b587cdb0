"""Run every benchmark in turn: python benchmarks/run_all.py"""
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for script in ("solver.py", "sampler.py", "sampler_devices.py", "app_startup.py"):
    print(f"== {script}", flush=True)
    rc = subprocess.call([sys.executable, str(HERE / script)])
    if rc:
        sys.exit(rc)
