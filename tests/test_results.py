"""The fntk-result schema: lossless round trip, clear refusals."""
import json

import numpy as np
import pytest

from fntk_core import Result, ResultError
from fntk_core.tensors import TENSORS


def make():
    return Result([1, 2], {"K": np.arange(8.0).reshape(2, 2, 2), "V": np.ones((2, 2, 2, 2, 2))},
                  {"note": "x"}, {"K": np.full((2, 2, 2), 0.1)})


def test_round_trip(tmp_path):
    r = make()
    r.save(tmp_path / "r.json")
    back = Result.load(tmp_path / "r.json")
    assert back.layers == [1, 2] and back.meta == {"note": "x", "cancelled": False, "partial": False}
    assert back.meta.extra == {"note": "x"} and back.meta["note"] == "x"
    np.testing.assert_array_equal(back.tensors["K"], r.tensors["K"])
    np.testing.assert_array_equal(back.stderr["K"], r.stderr["K"])


def test_inf_and_nan_stay_distinct(tmp_path):
    r = Result([1], {"K": np.array([[[np.nan, np.inf], [-np.inf, 2.0]]])})
    r.save(tmp_path / "r.json")
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["tensors"]["K"] == [[["nan", "inf"], ["-inf", 2.0]]]
    back = Result.load(tmp_path / "r.json").tensors["K"][0]
    assert np.isnan(back[0, 0]) and back[0, 1] == np.inf and back[1, 0] == -np.inf


def test_streamed_file_is_the_json_document(tmp_path):
    """save() writes one row of numbers at a time; the file is the same JSON document as
    to_json_dict(), and a failure half-way through keeps the previous file."""
    r = make()
    r.save(tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text()) == json.loads(json.dumps(r.to_json_dict()))
    before = (tmp_path / "r.json").read_text()
    bad = Result([1], {"K": np.ones((1, 2, 2))})
    bad.tensors["V"] = np.array([[[[[object()]]]]], dtype=object)   # not a number: fails mid-stream
    with pytest.raises(TypeError):
        bad.save(tmp_path / "r.json")
    assert (tmp_path / "r.json").read_text() == before and len(list(tmp_path.iterdir())) == 1


def test_old_null_reads_as_nan(tmp_path):
    p = tmp_path / "old.json"
    p.write_text(json.dumps({"format": "fntk-result", "version": 1, "layers": [1],
                             "tensors": {"K": [[[None, 1.0], [1.0, 2.0]]]},
                             "meta": {"kind": "sampled", "elapsed_s": 1.5, "networks_requested": 8}}))
    r = Result.load(p)
    assert np.isnan(r.tensors["K"][0, 0, 0])
    assert (r.meta.source, r.meta.seconds, r.meta.networks) == ("sampler", 1.5, 8)


def test_save_is_atomic(tmp_path, monkeypatch):
    """A failure while writing keeps the previous file whole and leaves no temporary file."""
    r = make()
    r.save(tmp_path / "r.json")
    before = (tmp_path / "r.json").read_text()
    monkeypatch.setattr(json, "dumps", lambda *a, **k: "{half")
    import os
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        r.save(tmp_path / "r.json")
    assert (tmp_path / "r.json").read_text() == before
    assert sorted(os.listdir(tmp_path)) == ["r.json"]


def test_short_repr_axes_and_at_layer():
    r = make()
    r.meta.source = "solver"
    text = repr(r)
    assert text == "<Result solver: K, V; layers 1..2; 2 inputs, with stderr>" and len(text) < 100
    assert r.axes["K"] == ("layer", *TENSORS["K"].axes) and len(r.axes["V"]) == 5
    np.testing.assert_array_equal(r.at_layer("K", 2), r.tensors["K"][1])
    with pytest.raises(KeyError, match="layer 3"):
        r.at_layer("K", 3)
    assert isinstance(Result([1], {"K": [[[1.0]]]}).tensors["K"], np.ndarray)


def test_one_tensor_registry():
    """Every tensor list derives from fntk_core.tensors.TENSORS."""
    from fntk_core.recursions.library import IMPLEMENTED
    from fntk_core.results import TENSOR_RANKS
    from fntk_core.sampling import DEFAULT_TENSORS as SAMPLER_DEFAULT
    from fntk_core.sampling.estimators import NEEDS
    from fntk_core.solver import DEFAULT_TENSORS as SOLVER_DEFAULT
    from fntk_core.tensors import DEFAULT_TENSORS, SAMPLER_TENSORS, SOLVER_TENSORS

    assert TENSOR_RANKS == {n: t.rank for n, t in TENSORS.items()}
    assert set(IMPLEMENTED) == set(SOLVER_TENSORS) and set(NEEDS) == set(SAMPLER_TENSORS)
    assert SAMPLER_DEFAULT is DEFAULT_TENSORS and SOLVER_DEFAULT is DEFAULT_TENSORS
    for t in TENSORS.values():
        assert len(t.axes) == t.rank and t.order in (0, 1) and t.title and t.description


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
