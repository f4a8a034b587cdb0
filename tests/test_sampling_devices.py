"""Sampler on several devices and workers (tf.distribute), checkpoints and resume.

The multi-device and multi-process runs are subprocesses (logical devices and cluster
workers must be set up before TensorFlow starts) and marked slow; each stays well under a
minute on two cores."""
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from fntk_core import NetworkSpec, Result, get_activation
from fntk_core.cli import main
from fntk_core.errors import FntkError

X2 = np.array([[0.5, -1.0, 0.3], [1.2, 0.3, -0.4]])
TENSORS = ["K", "Theta", "V", "D", "F", "B"]
RTOL = 1e-12
CLI = ["sample", "--activation", "tanh", "--cw", "1.5", "--cb", "0.1", "--depth", "3", "--width", "5",
       "--input=0.5,-1", "--input=1,0.2", "--seed", "7", "--tensors", "K,Theta,V,F"]


def _spec():
    return NetworkSpec(n0=3, depth=3, activation=get_activation("tanh"), c_w=[1.5, 1.2, 0.8], c_b=[0.3, 0.2, 0.1],
                       lambda_w=[0.7, 1.3, 0.9], lambda_b=[0.2, 0.5, 0.3])


def _same(a: Result, b: Result, rtol=RTOL):
    assert set(a.tensors) == set(b.tensors)
    for k in a.tensors:
        np.testing.assert_allclose(b.tensors[k], a.tensors[k], rtol=rtol, atol=0, err_msg=k)
        np.testing.assert_allclose(b.stderr[k], a.stderr[k], rtol=1e-9, atol=1e-15, err_msg=k)
    assert a.meta["networks_used"] == b.meta["networks_used"]


def _env():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    env.pop("TF_CONFIG", None)
    return env


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


# -- fast: options and checkpoints in this process ----------------------------------------
@pytest.mark.parametrize("bad", [0, -1, "two", 1.5, True])
def test_devices_option_is_checked(bad):
    from fntk_core.sampling import SamplingSession

    with pytest.raises(ValueError, match="devices"):
        SamplingSession(_spec(), X2, networks=8, width=4, devices=bad)


def test_devices_and_cluster_exclude_each_other(capsys):
    from fntk_core.sampling import SamplingSession

    with pytest.raises(ValueError, match="devices"):
        SamplingSession(_spec(), X2, networks=8, width=4, devices=2, cluster=True)
    assert main(CLI + ["--networks", "8", "--devices", "2", "--cluster"]) == 2
    assert "--devices" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(CLI + ["--networks", "8", "--devices", "0"])
    assert "--devices" in capsys.readouterr().err


def test_cluster_without_tf_config_says_so(monkeypatch, capsys):
    for var in ("TF_CONFIG", "SLURM_PROCID", "SLURM_STEP_NUM_TASKS"):
        monkeypatch.delenv(var, raising=False)
    from fntk_core.sampling import distribute

    with pytest.raises(FntkError, match="TF_CONFIG is not set"):
        distribute.cluster_resolver()


def test_checkpoint_resume_equals_uninterrupted_run(tmp_path):
    """Cancel after two chunks; a new session with the same checkpoint (another chunk size) ends
    with the estimates of an uninterrupted run; the checkpoint says which networks it covers."""
    from fntk_core.sampling import SamplingSession, sample

    full = sample(_spec(), X2, networks=60, width=5, tensors=TENSORS, seed=4, chunk=8)
    ck = tmp_path / "run.ckpt"
    s = SamplingSession(_spec(), X2, networks=60, width=5, tensors=TENSORS, seed=4, chunk=8, checkpoint=ck,
                        checkpoint_every=3600)
    s.step()
    s.step()
    assert not ck.exists()  # not yet due
    s.cancel()
    doc = json.loads(ck.read_text())
    assert doc["format"] == "fntk-sample-checkpoint" and doc["networks_done"] == [0, 16]
    again = SamplingSession(_spec(), X2, networks=60, width=5, tensors=TENSORS, seed=4, chunk=11, checkpoint=ck)
    again.start()
    assert again.networks_drawn == 16
    while not again.done:
        again.step()
    _same(full, again.result())
    assert json.loads(ck.read_text())["networks_done"] == [0, 60]


def test_checkpoint_of_another_job_is_refused(tmp_path):
    from fntk_core.sampling import SamplingSession

    ck = tmp_path / "run.ckpt"
    s = SamplingSession(_spec(), X2, networks=20, width=5, tensors=["K"], seed=1, chunk=10, checkpoint=ck,
                        checkpoint_every=0)
    s.step()
    other = SamplingSession(_spec(), X2, networks=20, width=5, tensors=["K"], seed=2, chunk=10, checkpoint=ck)
    with pytest.raises(FntkError, match=r"different sampling job \(seed differs\)"):
        other.start()
    ck.write_text("{not json")
    with pytest.raises(FntkError, match="unreadable"):
        SamplingSession(_spec(), X2, networks=20, width=5, tensors=["K"], seed=1, checkpoint=ck).start()


# -- slow: subprocesses -----------------------------------------------------------------------
DEVICES_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    from fntk_core import NetworkSpec, get_activation
    from fntk_core.errors import FntkError
    from fntk_core.sampling import sample
    spec = NetworkSpec(n0=3, depth=3, activation=get_activation("tanh"), c_w=[1.5, 1.2, 0.8], c_b=[0.3, 0.2, 0.1],
                       lambda_w=[0.7, 1.3, 0.9], lambda_b=[0.2, 0.5, 0.3])
    x = np.array([[0.5, -1.0, 0.3], [1.2, 0.3, -0.4]])
    kw = dict(networks=45, width=5, tensors=%r, seed=4)
    two = sample(spec, x, devices=2, chunk=4, **kw)      # 2 replicas x 4 networks per step
    one = sample(spec, x, chunk=9, **kw)                   # no tf.distribute
    one_dev = sample(spec, x, devices=1, chunk=16, **kw)   # MirroredStrategy over one device
    try:
        sample(spec, x, devices=3, **kw)
        late = None
    except FntkError as exc:
        late = str(exc)
    out = {"late": late, "replicas": two.meta.extra["replicas"], "devices": two.meta.extra["devices"]}
    for name, r in (("two", two), ("one", one), ("one_dev", one_dev)):
        r.save(sys.argv[1] + "/" + name + ".json")
    print(json.dumps(out))
""")


@pytest.mark.slow
def test_two_logical_cpu_devices_give_the_same_estimates(tmp_path):
    script = tmp_path / "devices.py"
    script.write_text(DEVICES_SCRIPT % (TENSORS,))
    p = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=120,
                       env=_env())
    assert p.returncode == 0, p.stderr[-3000:]
    info = json.loads(p.stdout.strip().splitlines()[-1])
    assert info["replicas"] == 2 and [d[-5:] for d in info["devices"]] == ["CPU:0", "CPU:1"]
    one = Result.load(tmp_path / "one.json")
    _same(one, Result.load(tmp_path / "two.json"))
    _same(one, Result.load(tmp_path / "one_dev.json"))
    # too late for a third logical device in this process: a clear error that says what to do
    assert "already set up its devices" in info["late"] and "configure_devices(3)" in info["late"]


def _workers(args, tmp_path, n=2, env=None):
    """Start n `fntk sample --cluster` workers on 127.0.0.1 (TF_CONFIG); returns the Popen objects."""
    ports = _free_ports(n)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for i in range(n):
        e = dict(_env(), **(env or {}), TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}))
        out = tmp_path / f"w{i}.log"
        procs.append(subprocess.Popen([sys.executable, "-m", "fntk_core.cli"] + args, env=e, cwd=tmp_path,
                                      stdout=subprocess.DEVNULL, stderr=out.open("w")))
    return procs


def _wait(procs, timeout):
    end = time.monotonic() + timeout
    try:
        return [p.wait(timeout=max(1, end - time.monotonic())) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


@pytest.mark.slow
def test_two_workers_on_localhost_give_the_same_estimates_as_one_process(tmp_path):
    """Two `--cluster` workers (TF_CONFIG, 127.0.0.1) continue a one-process checkpoint of the first
    20 networks to 50 and end with the estimates of one process drawing all 50."""
    assert main(CLI + ["--networks", "20", "--chunk", "6", "--checkpoint", str(tmp_path / "run.ckpt"),
                       "--out", str(tmp_path / "first.json")]) == 0
    procs = _workers(CLI + ["--networks", "50", "--chunk", "6", "--cluster", "--checkpoint", "run.ckpt",
                            "--out", "r.json"], tmp_path)
    assert main(CLI + ["--networks", "50", "--chunk", "6", "--out", str(tmp_path / "one.json")]) == 0  # traced above
    rcs = _wait(procs, 100)
    logs = [(tmp_path / f"w{i}.log").read_text()[-2000:] for i in range(2)]
    assert rcs == [0, 0], logs
    assert "the chief writes the result" in logs[1]
    r = Result.load(tmp_path / "r.json")  # written once, by the chief (worker 0)
    assert r.meta.extra["replicas"] == 2 and r.meta.extra["workers"] == 2 and r.meta.extra["resumed_from"] == 20
    _same(Result.load(tmp_path / "one.json"), r)
    assert json.loads((tmp_path / "run.ckpt").read_text())["networks_done"] == [0, 50]


@pytest.mark.slow
def test_lost_worker_ends_the_run_with_how_to_resume(tmp_path):
    """SIGKILL one of two workers: the chief stops with a one-line error naming the checkpoint."""
    ck = tmp_path / "run.ckpt"
    procs = _workers(CLI + ["--networks", "100000", "--chunk", "2", "--cluster", "--checkpoint", "run.ckpt",
                            "--checkpoint-every", "0", "--out", "r.json"], tmp_path,
                     env={"FNTK_CLUSTER_TIMEOUT": "20"})
    end = time.monotonic() + 60
    while not ck.exists() and procs[0].poll() is None and time.monotonic() < end:
        time.sleep(0.05)
    procs[1].kill()
    rc = _wait(procs[:1], 60)[0]
    procs[1].wait()
    err = (tmp_path / "w0.log").read_text()
    assert rc == 2, err[-2000:]
    assert "a worker of the cluster was lost" in err and "run.ckpt" in err
    assert "restart every worker with the same arguments to resume" in err
    done = json.loads(ck.read_text())["networks_done"]
    assert 0 < done[1] < 100000 and not (tmp_path / "r.json").exists()


@pytest.mark.slow
def test_killed_run_resumes_from_its_checkpoint(tmp_path):
    """SIGKILL a run after its first checkpoint; the same command resumes there and ends with the
    result of an uninterrupted run (here: on two logical devices, another chunk size)."""
    base = CLI + ["--networks", "1200", "--checkpoint", "run.ckpt", "--checkpoint-every", "0"]
    ck = tmp_path / "run.ckpt"
    p = subprocess.Popen([sys.executable, "-m", "fntk_core.cli"] + base + ["--chunk", "2", "--out", "r.json"],
                         cwd=tmp_path, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    end = time.monotonic() + 60
    while not ck.exists() and p.poll() is None and time.monotonic() < end:
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.wait()
    done = json.loads(ck.read_text())["networks_done"]
    assert 0 < done[1] < 1200, done  # killed halfway: the premise of the test
    assert not (tmp_path / "r.json").exists()
    q = subprocess.run([sys.executable, "-m", "fntk_core.cli"] + base + ["--chunk", "64", "--devices", "2",
                        "--out", "r.json"], cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120)
    assert q.returncode == 0, q.stderr[-3000:]
    assert main(CLI + ["--networks", "1200", "--chunk", "100", "--out", str(tmp_path / "full.json")]) == 0
    _same(Result.load(tmp_path / "full.json"), Result.load(tmp_path / "r.json"))


def test_study_points_on_a_device_strategy_match(tmp_path):
    """run_study(devices=1) samples through MirroredStrategy and stores the same points."""
    from fntk_core.studies import run_study

    opts = dict(networks=12, width=4, depths="1-3", c_w="2", seed=3, first_order=False)
    plain = run_study("gradient-stability", tmp_path / "a", **opts)
    mirrored = run_study("gradient-stability", tmp_path / "b", devices=1, **opts)
    assert [p.key for p in plain.points] == [p.key for p in mirrored.points]
    for p, q in zip(plain.points, mirrored.points):
        assert q.sampled.meta.extra["strategy"] == "MirroredStrategy" and p.sampled.meta.extra["replicas"] == 1
        _same(p.sampled, q.sampled)


def test_slurm_job_step_gives_the_cluster(monkeypatch):
    """Under srun (no TF_CONFIG) the cluster comes from Slurm's variables: one worker per task."""
    from fntk_core.sampling import distribute

    monkeypatch.delenv("TF_CONFIG", raising=False)
    for k, v in {"SLURM_PROCID": "1", "SLURM_STEP_NUM_TASKS": "2", "SLURM_STEP_NODELIST": "localhost",
                 "SLURM_STEP_TASKS_PER_NODE": "2", "CUDA_VISIBLE_DEVICES": "", "FNTK_CLUSTER_PORT": "9100"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(distribute.shutil, "which", lambda name: None)  # no nvidia-smi: CPU workers
    r = distribute.cluster_resolver()
    assert r.cluster_spec().as_dict() == {"worker": ["localhost:9100", "localhost:9101"]}
    assert (r.task_type, r.task_id) == ("worker", 1)


@pytest.mark.parametrize("conf, chief", [
    ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 0}}, True),
    ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}}, False),
    ({"cluster": {"chief": ["c:1"], "worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}, False),
    ({"cluster": {"chief": ["c:1"], "worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}, True),
])
def test_only_the_chief_checks_its_output_files(tmp_path, monkeypatch, capsys, conf, chief):
    """A worker's machine need not have the chief's output folder; the chief's must exist."""
    from fntk_core.sampling import SamplingSession
    from fntk_core.sampling.api import chief_from_env

    monkeypatch.setenv("TF_CONFIG", json.dumps(conf))
    assert chief_from_env() is chief
    missing = str(tmp_path / "no" / "such" / "r.json")
    if chief:
        assert main(CLI + ["--networks", "8", "--cluster", "--out", missing]) == 2
        assert "--out" in capsys.readouterr().err
        with pytest.raises(FntkError, match="does not exist"):
            SamplingSession(_spec(), X2, networks=8, width=4, cluster=True, checkpoint=missing)
    else:
        SamplingSession(_spec(), X2, networks=8, width=4, cluster=True, checkpoint=missing)  # no error


@pytest.mark.slow
def test_ctrl_c_on_the_chief_stops_every_worker_together(tmp_path):
    """SIGINT to the chief: the workers agree in the next all-reduce and stop after the same step;
    the chief writes the partial result (meta cancelled) and the checkpoint to resume from."""
    ck = tmp_path / "run.ckpt"
    procs = _workers(CLI + ["--networks", "100000", "--chunk", "2", "--cluster", "--checkpoint", "run.ckpt",
                            "--checkpoint-every", "0", "--out", "r.json"], tmp_path)
    end = time.monotonic() + 60
    while not ck.exists() and procs[0].poll() is None and time.monotonic() < end:
        time.sleep(0.05)
    procs[0].send_signal(signal.SIGINT)
    rcs = _wait(procs, 60)
    logs = [(tmp_path / f"w{i}.log").read_text()[-2000:] for i in range(2)]
    assert rcs == [130, 130], logs
    r = Result.load(tmp_path / "r.json")
    done = json.loads(ck.read_text())["networks_done"][1]
    assert r.meta["cancelled"] and r.meta.extra["networks_drawn"] == done and 0 < done < 100000
    assert f"cancelled after {done} of 100000" in logs[1]
