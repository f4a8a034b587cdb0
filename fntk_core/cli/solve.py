"""``fntk solve``: the layer recursions for given inputs, written as an fntk-result."""
from __future__ import annotations

import argparse
import sys
import time

from ..memory import DEFAULT_MAX_MEMORY, format_bytes, parse_bytes
from ..tensors import DEFAULT_TENSORS
from .common import (CliError, add_network_arguments, add_output_arguments, check_out, parse_tensor_list,
                     spec_and_inputs_from_args, tensor_names)
from .progress import ProgressRenderer

HELP = "solve the layer recursions (docs/theory.md) for given inputs"
PRINT_ABOVE = 256 * 2**20
SHOW_PROGRESS_AFTER_S = 1.0   # quick solves print nothing; long ones (many inputs) draw a bar
DESCRIPTION = "Solve the recursions for K, Theta and the first-order tensors, layer by layer."


def configure(p) -> None:
    add_network_arguments(p, widths_help="hidden width n (all layers; only ratios enter the recursions, "
                                         "the width is recorded and used for finite-width predictions)")
    p.add_argument("--tensors", default=",".join(DEFAULT_TENSORS),
                   help=f"comma-separated (default {','.join(DEFAULT_TENSORS)}); known: {','.join(tensor_names('solver'))}")
    p.add_argument("--recursions", choices=("builtin", "diagrams"), default="builtin",
                   help="built-in recursions (docs/theory.md) or the ones assembled from Feynman diagrams")
    p.add_argument("--layers", type=layer_choice, default=None, metavar="WHICH",
                   help="layers to keep in the result: all (default), last, or numbers such as 1,5,10; every "
                        "layer is computed, only these are stored (four-index tensors over many inputs)")
    p.add_argument("--max-memory", type=memory_size, default=DEFAULT_MAX_MEMORY, metavar="SIZE",
                   help="refuse a solve whose memory estimate exceeds SIZE (e.g. 500M, 24G; 'none': no limit; "
                        f"default {format_bytes(DEFAULT_MAX_MEMORY)}); estimates above 256 MiB are printed first")
    add_output_arguments(p)


def layer_choice(text: str):
    """argparse type: None (all), "last", or a sorted list of layer numbers (checked against the depth later)."""
    t = text.strip().lower()
    if t == "all":
        return None
    if t == "last":
        return "last"
    try:
        return sorted({int(v) for v in t.split(",") if v.strip()}) or None
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected all, last or layer numbers such as 1,5,10, got {text!r}") from None


def memory_size(text: str) -> int | None:
    """argparse type: a size such as 24G, or 'none'."""
    if text.strip().lower() == "none":
        return None
    try:
        return parse_bytes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run(args) -> int:
    from ..memory import check_memory
    from ..solver import memory_estimate, solve
    from .common import write_result

    names = parse_tensor_list(args.tensors)
    spec, x = spec_and_inputs_from_args(args)
    check_out(args.out)
    recursions = None
    if args.recursions == "diagrams":
        from ..diagrams import assembled_recursions

        recursions = assembled_recursions(names)
    layers = [spec.depth] if args.layers == "last" else args.layers
    if layers is not None and not all(1 <= v <= spec.depth for v in layers):
        raise CliError(f"--layers: layers run from 1 to --depth {spec.depth}, got {','.join(map(str, layers))}")
    estimate = memory_estimate(spec, x, names, recursions=recursions, layers=layers)
    if estimate.total > PRINT_ABOVE:
        print(f"fntk solve: {estimate.describe()}", file=sys.stderr)
    check_memory(estimate, args.max_memory)
    result = solve(spec, x, tensors=names, recursions=recursions, allow_nonfinite=args.allow_nonfinite,
                   max_memory=args.max_memory, progress=_bar_after(SHOW_PROGRESS_AFTER_S), layers=layers)
    write_result(result, args.out, args.format)
    return 0


def _bar_after(seconds: float):
    """A progress bar on stderr that appears once the solve has run ``seconds``."""
    bar, t0 = ProgressRenderer(unit="layers"), time.perf_counter()

    def show(p):
        if time.perf_counter() - t0 >= seconds:
            bar(p)
    return show
