"""Criticality (docs/theory.md §6)."""
import pytest

from fntk_core import get_activation
from fntk_core.criticality import chi_parallel, chi_perp, find_critical


def test_gelu_critical_point():
    pts = find_critical(get_activation("gelu"))["critical_points"]
    p = pts[0]
    assert p["C_W"] == pytest.approx(1.98305826, abs=1e-8)
    assert p["C_b"] == pytest.approx(0.17292239, abs=1e-8)
    assert chi_parallel(get_activation("gelu"), p["K_star"], p["C_W"]) == pytest.approx(1.0, abs=1e-10)
    assert chi_perp(get_activation("gelu"), p["K_star"], p["C_W"]) == pytest.approx(1.0, abs=1e-12)


def test_tanh_and_relu_classes():
    t = find_critical(get_activation("tanh"))["critical_points"]
    assert t == [{"K_star": 0.0, "C_b": 0.0, "C_W": 1.0, "chi_parallel": 1.0, "chi_perp": 1.0}]
    r = find_critical(get_activation("relu"))["critical_points"][0]
    assert (r["C_W"], r["C_b"]) == (2.0, 0.0)
    lk = find_critical(get_activation("leaky_relu", alpha=0.1))["critical_points"][0]
    assert lk["C_W"] == pytest.approx(2 / 1.01)


def test_relu_susceptibilities_exact():
    relu = get_activation("relu")
    for K in (0.1, 1.0, 7.0):
        assert chi_perp(relu, K, 2.0) == pytest.approx(1.0, abs=1e-14)
        assert chi_parallel(relu, K, 2.0) == pytest.approx(1.0, abs=1e-14)


def test_silu_matches_pdlt():
    p = find_critical(get_activation("silu"))["critical_points"][0]
    assert p["C_W"] == pytest.approx(1.988, abs=1e-3)
    assert p["C_b"] == pytest.approx(0.555, abs=1e-3)
