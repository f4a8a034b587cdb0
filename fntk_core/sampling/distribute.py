"""One ensemble over several devices and machines with ``tf.distribute`` (imports TensorFlow).

Each step covers ``replicas x chunk`` consecutive networks: replica r (its global index in
the sync group, across all workers) draws networks [e0 + r chunk, e0 + (r+1) chunk) of the
Philox stream keyed by network index, so every network is the same network wherever it
runs; the block sums of all replicas are added by the strategy's all-reduce, and every
worker ends a step holding the same sums.  Memory per device is that of one chunk.

Local devices (``devices=N``) are set up before TensorFlow initialises its runtime: N GPUs,
or N logical CPU devices where there is no GPU.  A cluster (``cluster=True``) is a
MultiWorkerMirroredStrategy described by TF_CONFIG, or by Slurm's variables under Slurm.
"""
from __future__ import annotations

import os
import shutil

import numpy as np
import tensorflow as tf

from ..errors import FntkError

_STRATEGY: dict = {}  # one strategy per process: ("local", n) or ("cluster",)
CLUSTER_TIMEOUT_ENV = "FNTK_CLUSTER_TIMEOUT"  # seconds a collective may wait for a lost worker
CLUSTER_PORT_ENV = "FNTK_CLUSTER_PORT"  # first port of the workers under Slurm (one more per task on a node)


class LostWorkerError(FntkError):
    """A worker of the cluster stopped answering (or the collective timed out)."""


# what a collective raises when a peer is down, restarted or silent past the timeout
_LOST = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError,
         tf.errors.AbortedError, tf.errors.FailedPreconditionError, tf.errors.InternalError)


def _runtime_initialised() -> bool:
    from tensorflow.python.eager import context

    return bool(context.context()._initialized)  # noqa: SLF001 - no public query exists


def local_strategy(devices) -> tf.distribute.Strategy:
    """MirroredStrategy over ``devices`` local devices ("all": every GPU, or the CPU).

    Without GPUs, N logical CPU devices are configured; that must happen before TensorFlow
    initialises its devices in this process, else a FntkError says how to do it."""
    key = ("local", devices)
    if key in _STRATEGY:
        return _STRATEGY[key]
    if any(k[0] == "cluster" for k in _STRATEGY):
        raise FntkError("devices: this process already runs as a cluster worker (--cluster); use one or the other")
    from .engine import memory_growth

    gpus = memory_growth()
    if devices == "all":
        n = max(1, len(gpus))
    else:
        n = int(devices)
        if n < 1:
            raise FntkError(f"devices: must be >= 1 or 'all', got {devices!r}")
    if gpus:
        if n > len(gpus):
            raise FntkError(f"devices: {n} requested, this machine has {len(gpus)} GPU(s)")
        names = [f"/gpu:{i}" for i in range(n)]
    else:
        cpu = tf.config.list_physical_devices("CPU")[0]
        have = tf.config.get_logical_device_configuration(cpu)
        if n > 1 and (have is None or len(have) < n):
            if _runtime_initialised():
                now = len(tf.config.list_logical_devices("CPU"))
                raise FntkError(
                    f"devices: {n} logical CPU devices are needed, but TensorFlow has already set up its devices "
                    f"in this process ({now} CPU device(s)); ask for the devices before the first TensorFlow "
                    f"job: call fntk_core.sampling.configure_devices({n}) first, or run in a new process")
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
        names = [f"/cpu:{i}" for i in range(n)]
    strategy = tf.distribute.MirroredStrategy(
        names, cross_device_ops=None if gpus else tf.distribute.ReductionToOneDevice("/cpu:0"))
    _STRATEGY[key] = strategy
    return strategy


def cluster_resolver():
    """TF_CONFIG's cluster, or Slurm's (SlurmClusterResolver) when run under Slurm without TF_CONFIG."""
    if os.environ.get("TF_CONFIG"):
        return tf.distribute.cluster_resolver.TFConfigClusterResolver()
    if os.environ.get("SLURM_PROCID") is not None and os.environ.get("SLURM_STEP_NUM_TASKS"):
        port = int(os.environ.get(CLUSTER_PORT_ENV, "8888"))
        # GPUs are counted by nvidia-smi (or CUDA_VISIBLE_DEVICES), and each task gets its share of
        # them through CUDA_VISIBLE_DEVICES: that must happen before TensorFlow looks at the GPUs
        has_gpus = bool(os.environ.get("CUDA_VISIBLE_DEVICES")) or shutil.which("nvidia-smi") is not None
        if has_gpus:
            return tf.distribute.cluster_resolver.SlurmClusterResolver(port_base=port)
        # CPU nodes: the resolver pairs tasks with GPU slots (and fails with none), so give it
        # placeholder slots and let it set no CUDA_VISIBLE_DEVICES
        return tf.distribute.cluster_resolver.SlurmClusterResolver(port_base=port, gpus_per_node=1024,
                                                                   gpus_per_task=1, auto_set_gpu=False)
    raise FntkError("cluster: TF_CONFIG is not set and this is not a Slurm job step (srun); describe the cluster "
                    "in TF_CONFIG (see README, 'Several devices and machines')")


def cluster_strategy() -> tf.distribute.Strategy:
    """MultiWorkerMirroredStrategy of this process's cluster (created once per process)."""
    key = ("cluster",)
    if key in _STRATEGY:
        return _STRATEGY[key]
    if any(k[0] == "local" for k in _STRATEGY):
        raise FntkError("cluster: this process already runs a local multi-device strategy; use one or the other")
    resolver = cluster_resolver()
    resolver.cluster_spec()  # under Slurm this sets the task's CUDA_VISIBLE_DEVICES: before TF lists GPUs
    if _runtime_initialised():
        raise FntkError("cluster: TensorFlow has already set up its devices in this process; start the cluster "
                        "worker in a new process (fntk sample --cluster)")
    from .engine import memory_growth

    memory_growth()
    timeout = float(os.environ.get(CLUSTER_TIMEOUT_ENV, "300"))
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout)
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver, communication_options=options)
    except (ValueError, RuntimeError, tf.errors.OpError) as exc:
        raise FntkError(f"cluster: cannot join the cluster ({type(exc).__name__}: {exc})") from exc
    _STRATEGY[key] = strategy
    return strategy


def is_chief(strategy) -> bool:
    """Whether this process writes results and checkpoints (always, without a cluster)."""
    return bool(strategy.extended.should_checkpoint)


def describe(strategy) -> dict:
    """For meta: replicas in sync, workers, this process's devices."""
    resolver = getattr(strategy, "cluster_resolver", None)
    workers = 1
    if resolver is not None and resolver.cluster_spec().as_dict():
        spec = resolver.cluster_spec().as_dict()
        workers = sum(len(v) for k, v in spec.items() if k in ("chief", "worker"))
    return {"replicas": int(strategy.num_replicas_in_sync), "workers": workers,
            "devices": list(strategy.extended.worker_devices), "strategy": type(strategy).__name__}


class DistributedEnsemble:
    """Runs an Ensemble's chunks on every replica of a strategy and all-reduces their block sums."""

    def __init__(self, strategy, ens):
        self.strategy, self.ens = strategy, ens
        self.replicas = int(strategy.num_replicas_in_sync)
        self.step_networks = self.replicas * ens.chunk
        chunk = ens.chunk

        def replica_fn(e0, total, key, stop):
            ctx = tf.distribute.get_replica_context()
            rid = tf.cast(ctx.replica_id_in_sync_group, tf.int64)
            start = e0 + rid * chunk
            valid = tf.cast(tf.clip_by_value(total - rid * chunk, 0, chunk), tf.int32)
            sums, counts, bad = ens._fn(start, valid, key)  # noqa: SLF001 - the Ensemble's own chunk function
            names = sorted(sums)
            # one all-reduce of everything (counts as float64: exact below 2^53)
            flat = tf.concat([tf.reshape(sums[k], [-1]) for k in names]
                             + [tf.cast(counts, tf.float64), tf.cast(tf.reshape(bad, [1]), tf.float64),
                                tf.reshape(stop, [1])], 0)
            return ctx.all_reduce(tf.distribute.ReduceOp.SUM, flat)

        def step(e0, total, key, stop):
            out = strategy.run(replica_fn, args=(e0, total, key, stop))
            return strategy.experimental_local_results(out)[0]

        self._step = tf.function(step, autograph=False)
        # shapes of the block sums (the output of the chunk function, traced once, not run)
        spec = ens._fn.get_concrete_function().structured_outputs[0]  # noqa: SLF001
        self.shapes = {k: tuple(v.shape) for k, v in spec.items()}

    def run_step(self, e0: int, valid: int, seed: int, stop: bool = False):
        """Block sums of networks [e0, e0 + valid), valid <= replicas x chunk, over all replicas,
        and whether any worker asked to stop (``stop``: this one does, e.g. after Ctrl-C)."""
        key = tf.constant([int(seed) % (2**64)], tf.uint64)
        try:
            flat = self._step(tf.constant(e0, tf.int64), tf.constant(valid, tf.int64), key,
                              tf.constant(1.0 if stop else 0.0, tf.float64)).numpy()
        except _LOST as exc:
            raise LostWorkerError(f"a worker of the cluster was lost while drawing networks {e0}..{e0 + valid - 1} "
                                  f"({type(exc).__name__} in an all-reduce)") from exc
        sums, off = {}, 0
        for k in sorted(self.shapes):
            size = int(np.prod(self.shapes[k]))
            sums[k] = flat[off:off + size].reshape(self.shapes[k])
            off += size
        counts = np.rint(flat[off:off + self.ens.blocks]).astype(np.int64)
        return sums, counts, int(round(float(flat[-2]))), bool(flat[-1] > 0)

    def agree_on(self, value: int) -> int:
        """The chief's ``value`` on every worker (e.g. where a resumed run starts)."""
        chief = is_chief(self.strategy)
        first = [True]

        def value_fn(ctx):
            mine = first[0] and chief
            first[0] = False
            return tf.constant(float(value) if mine else 0.0, tf.float64)

        per = self.strategy.experimental_distribute_values_from_function(value_fn)
        try:
            total = self.strategy.reduce(tf.distribute.ReduceOp.SUM, per, axis=None)
        except _LOST as exc:
            raise LostWorkerError(f"a worker of the cluster did not answer ({type(exc).__name__}); start the same "
                                  "command on every worker of the cluster") from exc
        return int(round(float(total.numpy())))


_DIST: dict = {}


def cached_distributed(strategy, ens) -> DistributedEnsemble:
    """One DistributedEnsemble (and its traced step) per strategy and Ensemble."""
    key = (id(strategy), id(ens))
    hit = _DIST.get(key)
    if hit is None or hit.ens is not ens or hit.strategy is not strategy:
        hit = _DIST[key] = DistributedEnsemble(strategy, ens)
    while len(_DIST) > 8:
        _DIST.pop(next(iter(_DIST)))
    return hit
