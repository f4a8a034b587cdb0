"""``fntk solve``: the layer recursions for given inputs, written as an fntk-result."""
from __future__ import annotations

from ..tensors import DEFAULT_TENSORS
from .common import (add_network_arguments, add_output_arguments, check_out, parse_tensor_list,
                     spec_and_inputs_from_args, tensor_names)

HELP = "solve the layer recursions (docs/theory.md) for given inputs"
DESCRIPTION = "Solve the recursions for K, Theta and the first-order tensors, layer by layer."


def configure(p) -> None:
    add_network_arguments(p, widths_help="hidden width n (all layers; only ratios enter the recursions, "
                                         "the width is recorded and used for finite-width predictions)")
    p.add_argument("--tensors", default=",".join(DEFAULT_TENSORS),
                   help=f"comma-separated (default {','.join(DEFAULT_TENSORS)}); known: {','.join(tensor_names('solver'))}")
    p.add_argument("--recursions", choices=("builtin", "diagrams"), default="builtin",
                   help="built-in recursions (docs/theory.md) or the ones assembled from Feynman diagrams")
    add_output_arguments(p)


def run(args) -> int:
    from ..solver import solve
    from .common import write_result

    names = parse_tensor_list(args.tensors)
    spec, x = spec_and_inputs_from_args(args)
    check_out(args.out)
    recursions = None
    if args.recursions == "diagrams":
        from ..diagrams import assembled_recursions

        recursions = assembled_recursions(names)
    result = solve(spec, x, tensors=names, recursions=recursions, allow_nonfinite=args.allow_nonfinite)
    write_result(result, args.out, args.format)
    return 0
