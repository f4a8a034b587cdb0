"""The fntk-result schema: lossless round trip, clear refusals."""
import json

import numpy as np
import pytest

from fntk_core import Result, ResultError


def make():
    return Result([1, 2], {"K": np.arange(8.0).reshape(2, 2, 2), "V": np.ones((2, 2, 2, 2, 2))},
                  {"note": "x"}, {"K": np.full((2, 2, 2), 0.1)})


def test_round_trip(tmp_path):
    r = make()
    r.save(tmp_path / "r.json")
    back = Result.load(tmp_path / "r.json")
    assert back.layers == [1, 2] and back.meta == {"note": "x"}
    np.testing.assert_array_equal(back.tensors["K"], r.tensors["K"])
    np.testing.assert_array_equal(back.stderr["K"], r.stderr["K"])


def test_nan_survives_as_null(tmp_path):
    r = Result([1], {"K": np.array([[[np.nan, 1.0], [1.0, 2.0]]])})
    r.save(tmp_path / "r.json")
    assert "null" in (tmp_path / "r.json").read_text()
    assert np.isnan(Result.load(tmp_path / "r.json").tensors["K"][0, 0, 0])


@pytest.mark.parametrize("doc, message", [
    ({"format": "other"}, "not an fntk-result"),
    ({"format": "fntk-result", "version": 99}, "unsupported"),
    ({"format": "fntk-result", "version": 1, "layers": [1], "tensors": {"K": [[1, 2]]}}, "axes"),
    ({"format": "fntk-result", "version": 1, "layers": [1, 2], "tensors": {"K": [[[1]]]}}, "layers"),
    ({"format": "fntk-result", "version": 1, "layers": [1], "tensors": {"K": [[["a"]]]}}, "non-numeric"),
    ({"format": "fntk-result", "version": 1, "tensors": {}}, "malformed"),
])
def test_malformed_files_refused(tmp_path, doc, message):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(ResultError, match=message):
        Result.load(p)


def test_not_json(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text("{oops")
    with pytest.raises(ResultError, match="not valid JSON"):
        Result.load(p)
