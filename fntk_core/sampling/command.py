"""``fntk sample``: run the sampler from the command line (called by fntk_core.cli)."""
from __future__ import annotations

import sys
import time


class _ProgressBar:
    """A one-line progress bar on stderr (plain lines when stderr is not a terminal)."""

    def __init__(self, stream=None, width: int = 30):
        self.stream = stream or sys.stderr
        self.width = width
        self.t0 = time.perf_counter()
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.last = -1.0

    def __call__(self, progress) -> None:  # a fntk_core.jobs.Progress
        done, total = progress.done, progress.total
        frac = done / total if total else 1.0
        now = time.perf_counter()
        if not self.tty and done < total and now - self.last < 2.0:
            return
        self.last = now
        filled = int(round(frac * self.width))
        rate = done / max(now - self.t0, 1e-9)
        line = f"sampling [{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} networks ({rate:.0f}/s)"
        if self.tty:
            self.stream.write("\r" + line + ("\n" if done >= total else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def run_sample(spec, x, args) -> int:
    """Sample args.networks networks at hidden width args.width; write the fntk-result JSON."""
    from ..cli import CliError, parse_tensor_list, write_result
    from .api import sample

    tensors = parse_tensor_list(args.tensors)
    width = args.width
    if width is None:
        raise CliError("fntk sample needs --width n")
    hidden = [int(width)] * (spec.depth - 1)
    outputs = args.outputs if args.outputs is not None else (int(width))
    spec_w = spec.with_widths(hidden + [int(outputs)])
    try:
        result = sample(spec_w, x, networks=args.networks, tensors=tensors, seed=args.seed, dtype=args.dtype,
                        chunk=args.chunk, progress=_ProgressBar(),
                        compare_plain=bool(getattr(args, "compare_plain", False)))
    except KeyboardInterrupt:
        print("fntk sample: cancelled", file=sys.stderr)
        return 130
    if result.meta.get("nan_count"):
        print(f"fntk sample: warning: {result.meta['nan_count']} networks produced NaN/Inf and were dropped",
              file=sys.stderr)
    write_result(result, args.out, args.format)
    return 0
