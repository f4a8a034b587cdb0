"""`fntk solve` / `fntk criticality`: flags, outputs, errors."""
import json

import numpy as np
import pytest

from fntk_core import Result
from fntk_core.cli import main

X0 = "0.6540248765053858,-1.3592788739383235,-0.3791179316445409,0.34191025226280697"
X1 = "-0.6786403121150224,-0.12161213502515096,0.21716372787141658,-1.4709063616118982"


def test_solve_writes_fntk_result(tmp_path):
    out = tmp_path / "r.json"
    rc = main(["solve", "--activation", "relu", "--cw", "2", "--depth", "3", "--input=-0.5,1.2",
               "--input", "1,0", "--tensors", "K,Theta,V,Theta1", "--out", str(out)])
    assert rc == 0
    d = json.loads(out.read_text())
    assert d["format"] == "fntk-result" and d["version"] == 1
    assert d["layers"] == [1, 2, 3]
    assert set(d["tensors"]) == {"K", "Theta", "V", "Theta1"}
    assert np.array(d["tensors"]["V"]).shape == (3, 2, 2, 2, 2)
    assert d["meta"]["network"]["activation"]["name"] == "relu"
    res = Result.load(out)
    # Theta^(l) = l |x|^2 / n0 on the diagonal (docs/theory.md §5)
    assert res.tensors["Theta"][2, 0, 0] == pytest.approx(3 * (0.25 + 1.44) / 2)


def test_solve_inputs_file_and_table(tmp_path, capsys):
    f = tmp_path / "in.json"
    f.write_text(json.dumps({"inputs": [[float(v) for v in X0.split(",")], [float(v) for v in X1.split(",")]]}))
    rc = main(["solve", "--activation", "gelu", "--cw", "1.98305826", "--depth", "4", "--inputs", str(f),
               "--tensors", "K,Theta1", "--format", "table"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "# Theta1" in text and "l=4" in text and "Theta1[1,1]" in text


def test_custom_formula_matches_builtin(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    common = ["--cw", "1", "--depth", "3", "--input", X0, "--tensors", "K,Theta1"]
    assert main(["solve", "--activation", "tanh", "--out", str(a), *common]) == 0
    assert main(["solve", "--activation", "custom", "--formula", "tanh(z)", "--out", str(b), *common]) == 0
    np.testing.assert_allclose(Result.load(a).tensors["Theta1"], Result.load(b).tensors["Theta1"], rtol=1e-12)


@pytest.mark.parametrize("argv, message", [
    (["--activation", "nope"], "unknown activation"),
    (["--activation", "custom", "--formula", "__import__('os').system('x')"],
     "function \"__import__('os').system\" is not allowed"),
    (["--activation", "relu", "--input", "1,abc"], "comma-separated"),
    (["--activation", "relu", "--cw", "-2"], "c_w"),
    (["--activation", "relu", "--tensors", "K,Zeta"], "unknown Zeta"),
    (["--activation", "relu", "--input", "1,2,3", "--input", "1,2"], "same dimension"),
])
def test_solve_errors_are_one_clear_line(argv, message, capsys):
    base = {"--cw": "2", "--depth": "2"}
    args = ["solve"] + argv
    for k, v in base.items():
        if k not in argv:
            args += [k, v]
    if "--input" not in argv:
        args += ["--input", "1,2"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_missing_inputs_file(capsys, tmp_path):
    assert main(["solve", "--activation", "relu", "--cw", "2", "--depth", "2", "--inputs",
                 str(tmp_path / "nothing.json")]) == 2
    assert "--inputs" in capsys.readouterr().err


def test_criticality_command(capsys):
    assert main(["criticality", "--activation", "gelu"]) == 0
    d = json.loads(capsys.readouterr().out)
    first = d["critical_points"][0]
    assert first["C_W"] == pytest.approx(1.98305826, abs=1e-8)
    assert first["C_b"] == pytest.approx(0.17292239, abs=1e-8)
