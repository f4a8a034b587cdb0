"""The public API: the names a researcher guesses, all importable; TensorFlow not imported."""
import json
import subprocess
import sys

import numpy as np

import fntk_core


def test_every_promised_name_is_exported():
    for name in fntk_core.__all__:
        assert getattr(fntk_core, name) is not None, name
    from fntk_core import (TENSORS, Diagram, NetworkSpec, Result, find_critical, get_activation, iter_sample,  # noqa: F401
                           iter_solve, load_diagram, sample, solve)

    spec = NetworkSpec(2, 2, get_activation("relu"), c_w=2.0)
    r = solve(spec, [[1.0, 0.5]], tensors=["K"])
    assert isinstance(r, Result) and isinstance(r["K"], np.ndarray)
    assert find_critical(get_activation("tanh"))["critical_points"]


def test_library_is_public():
    from fntk_core import library

    entries = library()
    assert "K" in entries and isinstance(entries["K"][0].diagram, fntk_core.Diagram)


def test_import_does_not_import_tensorflow():
    code = ("import sys, json, fntk_core\n"
            "from fntk_core import solve, sample, iter_sample, SamplingSession, Diagram, load_diagram\n"
            "import fntk_core.sampling, fntk_core.studies\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'matplotlib'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_all_lists_exactly_the_lazy_and_eager_names():
    assert set(fntk_core._LAZY) <= set(fntk_core.__all__)
    assert len(fntk_core.__all__) == len(set(fntk_core.__all__))
