"""The memory estimate of a solve: an honest bound, checked before any work, limit raisable."""
import tracemalloc

import numpy as np
import pytest

from fntk_core import NetworkSpec, get_activation
from fntk_core.cli import main
from fntk_core.memory import DEFAULT_MAX_MEMORY, MemoryLimitError, parse_bytes
from fntk_core.recursions import compiled
from fntk_core import solver
from fntk_core.solver import memory_estimate, solve


def _spec(name="relu", depth=3):
    return NetworkSpec(n0=3, depth=depth, activation=get_activation(name), c_w=2.0, c_b=0.1)


@pytest.mark.parametrize("name", ["relu", "tanh"])
def test_estimate_bounds_the_measured_peak(name):
    x = np.random.default_rng(1).normal(size=(3, 3))
    spec = _spec(name, depth=2)
    est = memory_estimate(spec, x)
    compiled.cached_plan.cache_clear()  # the plan's tables count too
    tracemalloc.start()
    try:
        solve(spec, x)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # the numerical arrays are bounded; Python objects of the plan add a few hundred kB at any N
    assert peak <= est.total + 2_000_000, (peak, est)
    assert est.total <= 20 * peak


def test_four_index_tensors_dominate_at_large_n():
    """At N = 64 one V per layer is 64^4 float64 = 128 MiB; the default set is refused by default."""
    x = np.random.default_rng(2).normal(size=(64, 3))
    est = memory_estimate(_spec(), x, ["V"])
    assert est.storage >= 3 * 64**4 * 8
    with pytest.raises(MemoryLimitError, match=r"exceeds the limit of 8\.0 GiB; raise it with max_memory"):
        solve(_spec(), x, max_memory=DEFAULT_MAX_MEMORY)


def test_refused_before_any_work(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("the solve started")

    monkeypatch.setattr(solver, "_layers", boom)
    x = np.random.default_rng(3).normal(size=(4, 3))
    with pytest.raises(MemoryLimitError, match="memory estimate for 4 inputs"):
        solve(_spec(), x, max_memory=10_000)


def test_limit_can_be_raised_or_lifted():
    x = np.random.default_rng(4).normal(size=(3, 3))
    small = memory_estimate(_spec(), x).total
    a = solve(_spec(), x, max_memory=small + 1)
    b = solve(_spec(), x, max_memory=None)
    np.testing.assert_array_equal(a.tensors["V"], b.tensors["V"])


def test_coinciding_inputs_are_counted_once():
    x = np.random.default_rng(5).normal(size=(4, 3))
    est = memory_estimate(_spec(), np.vstack([x, x]))
    assert (est.n_inputs, est.n_solved) == (8, 4)


@pytest.mark.parametrize("text, value", [("8G", 8 * 2**30), ("500M", 500 * 2**20), ("24GB", 24 * 2**30),
                                         ("1.5GiB", int(1.5 * 2**30)), ("1000", 1000)])
def test_parse_bytes(text, value):
    assert parse_bytes(text) == value


@pytest.mark.parametrize("text", ["", "-1G", "0", "8X", "lots"])
def test_parse_bytes_refuses(text):
    with pytest.raises(ValueError, match="expected a positive size"):
        parse_bytes(text)


def test_cli_max_memory(capsys):
    argv = ["solve", "--activation", "relu", "--cw", "2", "--depth", "2", "--input=1,2", "--input=0.5,-1"]
    assert main(argv + ["--max-memory", "1K"]) == 2
    err = capsys.readouterr().err
    assert "exceeds the limit of 1.0 KiB" in err and "--max-memory" in err and len(err.strip().splitlines()) == 1
    assert main(argv + ["--max-memory", "none", "--tensors", "K"]) == 0
    with pytest.raises(SystemExit):
        main(argv + ["--max-memory", "huge"])
    assert "--max-memory: expected a positive size" in capsys.readouterr().err


@pytest.mark.parametrize("name, per_thread", [("tanh", True), ("relu", False)])
def test_each_quadrature_thread_is_counted(name, per_thread, monkeypatch):
    """Every quadrature thread holds its own chunk of nodes; closed forms hold none."""
    from fntk_core.memory import QUADRATURE

    spec = NetworkSpec(n0=3, depth=3, activation=get_activation(name), c_w=1.5, c_b=0.2)
    x = np.random.default_rng(1).normal(size=(4, 3))
    working = {}
    for threads in (1, 4):
        monkeypatch.setenv("FNTK_THREADS", str(threads))
        working[threads] = memory_estimate(spec, x).working
    assert working[4] - working[1] == (3 * QUADRATURE if per_thread else 0)


def test_plan_tables_are_counted_by_their_components_not_the_dense_shape():
    """The index tables hold one entry per nonzero component; the estimate bounds them closely
    (a six-label factor with two fields has ~16 n^2 components, not n^6)."""
    from fntk_core.memory import _components
    from fntk_core.recursions.compiled import Plan

    recs = solver._needed(["K", "Theta", "V", "K1", "Theta1", "D", "F", "A", "B"], None)
    n = 6
    plan = Plan(recs, n)
    for rec, compiled_rec in zip(recs.values(), plan.compiled.values()):
        for term, cterm in zip(rec.terms, compiled_rec.terms):
            for e, parts in zip(term.expectations, cterm.factors):
                stored = sum(len(flat) for _, flat, _ in parts)
                assert stored <= _components(e, n) <= 2 * stored + 64
