"""``fntk criticality``: the critical initialisation of an activation, as JSON."""
from __future__ import annotations

import json

from ..activations import ACTIVATION_NAMES, get_activation
from .common import finite_float

HELP = "critical (C_b, C_W) and susceptibilities of an activation"
DESCRIPTION = "Find the critical initialisation (chi_par = chi_perp = 1) of an activation."


def configure(p) -> None:
    p.add_argument("--activation", required=True, help=f"one of: {', '.join(ACTIVATION_NAMES)}")
    p.add_argument("--alpha", type=finite_float, help="LeakyReLU negative slope")
    p.add_argument("--formula", help="custom activation in z (with --activation custom)")


def run(args) -> int:
    from ..criticality import find_critical

    act = get_activation(args.activation, alpha=args.alpha, formula=args.formula)
    print(json.dumps(find_critical(act), indent=1))
    return 0
