"""``fntk sample``: Monte-Carlo estimates from ensembles of finite-width networks.

Ctrl-C stops after the current chunk of networks: the estimates from the networks drawn
so far are written (meta ``cancelled`` true, ``networks_used``) and the command says where.
"""
from __future__ import annotations

import importlib
import os
import sys
import tempfile

from ..sampling import DEFAULT_TENSORS
from ..sampling.api import chief_from_env
from .common import (CliError, add_network_arguments, add_output_arguments, cancel_on_interrupt, check_out,
                     parse_tensor_list, positive_int, spec_and_inputs_from_args, tensor_names, write_result)
from .progress import ProgressRenderer

SAMPLED_DEFAULT = ",".join(DEFAULT_TENSORS)

HELP = "Monte-Carlo estimates from ensembles of finite-width networks (TensorFlow)"
DESCRIPTION = ("Sample E networks at width n and estimate the statistics with standard errors. "
               "Ctrl-C writes the estimates of the networks drawn so far.")


def configure(p) -> None:
    add_network_arguments(p, widths_help="hidden width n of the sampled networks (required)")
    p.add_argument("--networks", type=positive_int, required=True,
                   help="number of networks E (at least 2: standard errors need two)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    p.add_argument("--chunk", type=positive_int, default=None, help="networks per chunk (default: automatic)")
    p.add_argument("--outputs", type=positive_int, default=None, help="output width n_L (default: the hidden width)")
    p.add_argument("--tensors", default=SAMPLED_DEFAULT, help=f"comma-separated tensors to estimate (default "
                                                              f"{SAMPLED_DEFAULT}); known: {','.join(tensor_names('sampler'))}")
    p.add_argument("--compare-plain", action="store_true",
                   help="also compute the plain estimators and report meta variance_ratio (Rao-Blackwellised vs "
                        "plain); slower: the last layer's weights are then drawn too")
    add_distribution_arguments(p)
    add_output_arguments(p)


def devices_arg(text: str):
    """argparse type of --devices: a whole number >= 1 or "all"."""
    return "all" if text.strip().lower() == "all" else positive_int(text)


def add_distribution_arguments(p) -> None:
    """--devices, --cluster, --checkpoint, --checkpoint-every (fntk sample)."""
    p.add_argument("--devices", type=devices_arg, default=None, metavar="N|all",
                   help="spread the ensemble over N local devices with tf.distribute.MirroredStrategy: N GPUs, or N "
                        "logical CPU devices without GPUs ('all': every GPU); --chunk is then per device")
    p.add_argument("--cluster", action="store_true",
                   help="run as one worker of a tf.distribute.MultiWorkerMirroredStrategy cluster described by "
                        "TF_CONFIG (or by Slurm under srun); the chief writes the result, the others nothing")
    p.add_argument("--checkpoint", default=None, metavar="FILE",
                   help="keep the block sums of the finished networks in FILE (atomically); rerunning the same "
                        "command resumes from it")
    p.add_argument("--checkpoint-every", type=float, default=60.0, metavar="SECONDS",
                   help="seconds between checkpoints (default 60; also written on Ctrl-C and at the end)")


def load_engine(verbose: bool) -> None:
    """Import the TensorFlow engine now; unless --verbose, hide the lines TensorFlow's C++
    writes to the stderr file descriptor while loading (they bypass TF_CPP_MIN_LOG_LEVEL)."""
    if verbose or "tensorflow" in sys.modules:
        importlib.import_module("fntk_core.sampling.engine")
        return
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:
        importlib.import_module("fntk_core.sampling.engine")
        return
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 2)
        try:
            importlib.import_module("fntk_core.sampling.engine")
        except BaseException:
            os.dup2(saved, 2)
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace"))  # the import failed: show why
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def run(args) -> int:
    """Sample args.networks networks at hidden width args.width; write the fntk-result."""
    from ..sampling import SamplingSession
    from ..sampling.api import drive

    tensors = parse_tensor_list(args.tensors, "sampler")
    if args.networks < 2:
        raise CliError("--networks: at least 2 networks are needed for standard errors")
    if args.width is None:
        raise CliError("--width: fntk sample needs the hidden width n")
    spec, x = spec_and_inputs_from_args(args)
    if args.cluster and args.devices is not None:
        raise CliError("--devices: a --cluster worker uses all its local GPUs (or its CPU); give one or the other")
    if not (args.cluster and chief_from_env() is False):  # other workers write nothing
        check_out(args.out)
        if args.checkpoint is not None:
            check_out(args.checkpoint, "--checkpoint")
    if not args.checkpoint_every >= 0:
        raise CliError(f"--checkpoint-every: must be >= 0 seconds, got {args.checkpoint_every}")
    outputs = args.outputs if args.outputs is not None else args.width
    spec_w = spec.with_widths([args.width] * (spec.depth - 1) + [outputs])
    load_engine(getattr(args, "verbose", False))
    bar = ProgressRenderer(unit="networks")
    with cancel_on_interrupt("fntk sample") as cancel:
        try:
            session = SamplingSession(spec_w, x, networks=args.networks, tensors=tensors, seed=args.seed,
                                      dtype=args.dtype, chunk=args.chunk, compare_plain=args.compare_plain,
                                      allow_nonfinite=args.allow_nonfinite, devices=args.devices,
                                      cluster=args.cluster, checkpoint=args.checkpoint,
                                      checkpoint_every=args.checkpoint_every)
            result = drive(session, progress=bar, cancel=cancel)
        finally:
            bar.close()
    if not session.chief:  # another worker of the cluster writes the result
        if result.meta.get("cancelled"):
            print(f"fntk sample: cancelled after {session.networks_drawn} of {args.networks} networks; the chief "
                  "writes the partial result", file=sys.stderr)
            return 130
        print(f"fntk sample: worker done ({args.networks} networks); the chief writes the result", file=sys.stderr)
        return 0
    if result.meta.get("cancelled"):
        used = result.meta.get("networks_used")
        where = args.out or "standard output"
        print(f"fntk sample: cancelled after {used} of {args.networks} networks; writing the partial result "
              f"(meta cancelled: true) to {where}", file=sys.stderr)
        write_result(result, args.out, args.format)
        return 130
    write_result(result, args.out, args.format)
    return 0
