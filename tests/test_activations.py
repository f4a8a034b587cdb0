"""The activation registry and the whitelist formula parser."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from fntk_core.activations import ACTIVATION_NAMES, FormulaError, get_activation, parse_formula


@pytest.mark.parametrize("name", [n for n in ACTIVATION_NAMES if n not in ("custom",)])
def test_derivatives_match_finite_differences(name):
    act = get_activation(name)
    z = np.array([-2.3, -0.7, 0.4, 1.9])  # away from the kink at 0
    h = 1e-5
    for k in range(3):
        fd = (act.derivative(k)(z + h) - act.derivative(k)(z - h)) / (2 * h)
        np.testing.assert_allclose(act.derivative(k + 1)(z), fd, rtol=1e-6, atol=1e-8)


def test_scale_invariant_flags():
    assert get_activation("relu").slopes == (1.0, 0.0)
    assert get_activation("leaky_relu", alpha=0.1).slopes == (1.0, 0.1)
    assert get_activation("linear").scale_invariant
    assert not get_activation("gelu").scale_invariant


def test_stable_at_large_arguments():
    z = np.array([-800.0, 800.0])
    for name in ("silu", "softplus"):
        for k in range(4):
            assert np.all(np.isfinite(get_activation(name).derivative(k)(z)))


def test_custom_formula():
    act = get_activation("custom", formula="z*tanh(softplus(z))")  # mish
    z = np.linspace(-3, 3, 7)
    np.testing.assert_allclose(act(z), z * np.tanh(np.log1p(np.exp(z))), rtol=1e-12)
    assert parse_formula("z^2 + 2*z") == parse_formula("z**2+2*z")


@pytest.mark.parametrize("text, message", [
    ("", "empty"), ("y + 1", "unknown name"), ("open('f')", "not allowed"), ("z.__class__", "not allowed"),
    ("exp(z, 2)", "one argument"), ("3", "does not depend on z"), ("z +", "syntax"), ("[z]", "not allowed"),
    ("lambda: z", "not allowed"), ("z" * 600, "longer"),
])
def test_formula_refusals(text, message):
    with pytest.raises(FormulaError, match=message):
        parse_formula(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_formula_parser_never_crashes(text):
    try:
        parse_formula(text)
    except FormulaError:
        pass


def test_unknown_and_misused_names():
    with pytest.raises(ValueError, match="unknown activation"):
        get_activation("swish2")
    with pytest.raises(ValueError, match="alpha"):
        get_activation("relu", alpha=0.1)
