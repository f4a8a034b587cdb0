"""The ``fntk`` command line: the parser, dispatch to one module per subcommand, errors.

Only fntk's own errors (``FntkError``) are reported as one-line user errors (exit 2);
anything else is a bug and keeps its traceback. ``--debug`` shows the traceback of
user errors too.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys

from ..errors import FntkError
from . import criticality, diagrams, sample, solve, study

SUBCOMMANDS = {"solve": solve, "criticality": criticality, "sample": sample, "diagrams": diagrams, "study": study}


def _common_options() -> argparse.ArgumentParser:
    """--debug and --verbose, accepted before or after the subcommand."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="show the Python traceback of an error")
    p.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS,
                   help="show TensorFlow's own log lines (device set-up, CPU features)")
    return p


def build_parser() -> argparse.ArgumentParser:
    common = _common_options()
    p = argparse.ArgumentParser(
        prog="fntk", parents=[common],
        description="Finite-width NTK statistics from Feynman rules. Without a subcommand, opens the desktop app.",
    )
    app = p.add_argument_group("desktop app (without a subcommand)")
    app.add_argument("--screenshot", metavar="FILE", help="render the app window to FILE and exit")
    app.add_argument("--open", metavar="FILE", help="open a diagram or session file")
    app.add_argument("--panel", metavar="P", help="with --screenshot: the panel to show")
    app.add_argument("--size", metavar="WxH", help="with --screenshot: the window size")
    app.add_argument("--reset-settings", action="store_true", help="forget the app's saved window layout and settings")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, mod in SUBCOMMANDS.items():
        mod.configure(sub.add_parser(name, help=mod.HELP, description=mod.DESCRIPTION, parents=[common]))
    return p


def open_app(argv: list[str]) -> int:
    """Hand the command line to the desktop app (imported only now: it needs PySide6).

    The core never imports Qt itself: it only asks whether PySide6 is installed."""
    if importlib.util.find_spec("PySide6") is None:
        raise FntkError("the desktop app needs PySide6 (pip install PySide6-Essentials); "
                        "the subcommands work without it, see fntk --help")
    try:
        from fntk_app.launch import main as launch
    except ImportError as exc:
        raise FntkError(f"the desktop app is not available in this installation ({exc}); "
                        "use the subcommands, see fntk --help") from None
    return launch(argv)


def _quiet_tensorflow(verbose: bool) -> None:
    """TensorFlow's C++ log lines (cuInit, oneDNN, CPU features): hidden unless --verbose.

    Set unconditionally: fntk_core.sampling has already put its library default (2, which
    still shows errors such as cuInit) by the time the command line runs."""
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0" if verbose else "3"


def _stdout_closed() -> None:
    """The reader of our output went away (``fntk solve ... | head -1``): stop quietly."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # stdout without a file descriptor (tests): nothing more will be written


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    debug = getattr(args, "debug", False)
    _quiet_tensorflow(getattr(args, "verbose", False))
    prog = f"fntk {args.command}" if args.command else "fntk"
    try:
        rc = open_app(argv) if args.command is None else SUBCOMMANDS[args.command].run(args)
        sys.stdout.flush()
        return rc
    except FntkError as exc:
        if debug:
            raise
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        _stdout_closed()
        return 141  # as a shell reports a process ended by SIGPIPE
    except KeyboardInterrupt:
        print(f"{prog}: cancelled", file=sys.stderr)
        return 130
