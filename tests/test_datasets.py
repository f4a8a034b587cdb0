"""Inputs files (JSON, CSV, .npy): read strictly, every failure names the file and place."""
import json

import numpy as np
import pytest

from fntk_core.cli import main
from fntk_core.datasets import InputsFileError, read_inputs
from fntk_core.results import Result

X = np.array([[0.65, -1.36, -0.38], [-0.68, -0.12, 0.22], [1e-3, 2.5e2, -7.0]])


def _write(tmp_path, kind):
    if kind == "json":
        f = tmp_path / "x.json"
        f.write_text(json.dumps({"inputs": X.tolist()}))
    elif kind == "bare json":
        f = tmp_path / "x.json"
        f.write_text(json.dumps(X.tolist()))
    elif kind == "csv":
        f = tmp_path / "x.csv"
        f.write_text("# a data set\nx0, x1, x2\n" + "\n".join(",".join(repr(float(v)) for v in r) for r in X) + "\n\n")
    else:
        f = tmp_path / "x.npy"
        np.save(f, X)
    return f


@pytest.mark.parametrize("kind", ["json", "bare json", "csv", "npy"])
def test_every_format_reads_the_same_inputs(kind, tmp_path):
    np.testing.assert_array_equal(read_inputs(_write(tmp_path, kind)), X)


@pytest.mark.parametrize("kind", ["json", "csv", "npy"])
def test_solve_reads_each_format(kind, tmp_path, capsys):
    out = tmp_path / "r.json"
    argv = ["solve", "--activation", "relu", "--cw", "2", "--cb", "0.1", "--depth", "2", "--tensors", "K",
            "--inputs", str(_write(tmp_path, kind)), "--out", str(out)]
    assert main(argv) == 0
    res = Result.load(out)
    assert res.tensors["K"].shape == (2, 3, 3)
    # layer 1: K = C_b + C_W x x^T / n0
    np.testing.assert_allclose(res.tensors["K"][0], 0.1 + 2 * X @ X.T / 3, rtol=1e-14)


@pytest.mark.parametrize("name, content, message", [
    ("a.csv", "1,2\n3,x\n", "line 2, field 2: 'x' is not a number"),
    ("a.csv", "1,2\n3,\n", "line 2, field 2 is empty"),
    ("a.csv", "1,2\n3,4,5\n", "line 2 has 3 fields, expected 2"),
    ("a.csv", "a,b\n", "no inputs"),
    ("a.csv", "a,b\n1,2,3\n", "line 2 has 3 fields, expected 2"),
    ("a.csv", "1,nan\n", "input 0 contains NaN or infinity"),
    ("a.json", '{"inputs": [[1, 2], [3]]}', "input 1 has 1 numbers, input 0 has 2"),
    ("a.json", '{"inputs": [[1, "2"]]}', 'input 0: "2" is not a number'),
    ("a.json", '{"inputs": [[1, true]]}', "input 0: true is not a number"),
    ("a.json", '{"x": 1}', 'expected {"inputs"'),
    ("a.json", '[[1, 2]', "not valid JSON"),
])
def test_bad_text_files_name_the_file_and_place(name, content, message, tmp_path):
    f = tmp_path / name
    f.write_text(content)
    with pytest.raises(InputsFileError) as exc:
        read_inputs(f)
    assert str(exc.value).startswith(f"{f}: ") and message in str(exc.value)


def test_npy_never_unpickles(tmp_path):
    f = tmp_path / "obj.npy"
    np.save(f, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputsFileError, match="pickle is never loaded"):
        read_inputs(f)


@pytest.mark.parametrize("array, message", [
    (np.zeros((2, 2, 2)), "expected N x n0"),
    (np.array([["a", "b"]]), "is not real numbers"),
    (np.array([[1.0, np.inf]]), "input 0 contains NaN or infinity"),
    (np.zeros((0, 3)), "no inputs"),
])
def test_bad_npy_arrays_are_refused(array, message, tmp_path):
    f = tmp_path / "a.npy"
    np.save(f, array)
    with pytest.raises(InputsFileError, match=message):
        read_inputs(f)


def test_npy_that_is_not_npy(tmp_path, capsys):
    f = tmp_path / "a.npy"
    f.write_text("1,2\n")
    assert main(["solve", "--activation", "relu", "--cw", "2", "--depth", "2", "--inputs", str(f)]) == 2
    err = capsys.readouterr().err
    assert f"--inputs {f}: not a .npy file" in err and len(err.strip().splitlines()) == 1


def test_missing_file_names_it(tmp_path):
    with pytest.raises(InputsFileError, match="nope.csv: No such file"):
        read_inputs(tmp_path / "nope.csv")
