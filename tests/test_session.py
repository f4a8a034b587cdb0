"""fntk-session: round trip, strict loading, settings -> spec."""
import json
from pathlib import Path

import numpy as np
import pytest

from fntk_core.diagrams.io import dumps, load_diagram
from fntk_core.errors import FntkError
from fntk_core.session import (
    DEFAULT_SETTINGS,
    Session,
    SessionError,
    spec_from_settings,
)
from fntk_core.solver import solve

ROOT = Path(__file__).resolve().parents[1]  # the checkout: test data only


def _session():
    d = load_diagram(ROOT / "resources/diagrams/F/2.json")
    spec, x, errors = spec_from_settings(DEFAULT_SETTINGS)
    assert errors == {}
    return Session(diagram=d, network=dict(DEFAULT_SETTINGS, c_w="1.5"), tensors=("K", "K1"), width=64,
                   result=solve(spec, x, ("K", "K1")))


def test_round_trip(tmp_path):
    s = _session()
    p = s.save(tmp_path / "a.fntk-session.json")
    back = Session.load(p)
    assert back.network == s.network and back.tensors == ("K", "K1") and back.width == 64
    assert dumps(back.diagram) == dumps(s.diagram)
    np.testing.assert_array_equal(back.result["K1"], s.result["K1"])
    assert not list(tmp_path.glob(".*tmp"))


@pytest.mark.parametrize("mutate, words", [
    (lambda d: d.update(version=2), "newer"),
    (lambda d: d.update(format="fntk-result"), "format"),
    (lambda d: d.update(width="wide"), "'width'"),
    (lambda d: d["network"].update(c_w=2.0), "network.c_w"),
    (lambda d: d["network"].update(evil="x"), "evil"),
    (lambda d: d.update(tensors=["K", "Zeta"]), "Zeta"),
    (lambda d: d["result"].update(layers="x"), "'result'"),
    (lambda d: d["diagram"].update(topology=5), "'diagram'"),
])
def test_malformed_files_are_refused_with_the_field_named(tmp_path, mutate, words):
    d = _session().to_json_dict()
    mutate(d)
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(d))
    with pytest.raises(SessionError, match=words) as info:
        Session.load(p)
    assert isinstance(info.value, FntkError) and str(p) in str(info.value)


def test_not_json_and_nan_constants(tmp_path):
    p = tmp_path / "x.json"
    p.write_text("{nope")
    with pytest.raises(SessionError, match="not valid JSON"):
        Session.load(p)
    p.write_text('{"format": "fntk-session", "version": 1, "width": NaN}')
    with pytest.raises(SessionError, match="NaN"):
        Session.load(p)


def test_settings_to_spec_matches_fields():
    spec, x, errors = spec_from_settings(dict(DEFAULT_SETTINGS, activation="leaky_relu", alpha="0.2",
                                              c_w="1, 2, 1", depth="3", widths="10, 20"))
    assert errors == {}
    assert spec.activation.describe()["alpha"] == 0.2 and spec.c_w == (1.0, 2.0, 1.0) and spec.widths == (10, 20)
    np.testing.assert_array_equal(x, [[1, 0.5], [-0.5, 1]])


def test_settings_errors_name_every_bad_field():
    _, _, errors = spec_from_settings(dict(DEFAULT_SETTINGS, activation="custom", formula="z**", depth="0",
                                           c_b="x", inputs=[["1", "a"]]))
    assert set(errors) == {"formula", "depth", "c_b", "inputs"}
    _, _, errors = spec_from_settings(dict(DEFAULT_SETTINGS, c_w="1, 2"))
    assert set(errors) == {"c_w"} and "per layer" in errors["c_w"]


def test_parse_table_reads_spreadsheet_paste_and_csv():
    from fntk_core.session import format_table, parse_table

    assert parse_table("1\t2\n3\t4\n") == [["1", "2"], ["3", "4"]]
    assert parse_table("# x\n1, 2\n\n3;4\n5 6\n") == [["1", "2"], ["3", "4"], ["5", "6"]]
    assert parse_table(format_table([["1", "-0.5"], ["2", "3"]])) == [["1", "-0.5"], ["2", "3"]]


def test_document_kind_by_content(tmp_path):
    from fntk_core.session import document_kind

    s = _session()
    s.save(tmp_path / "s.txt")
    s.result.save(tmp_path / "r.txt")
    (tmp_path / "d.tex").write_text("\\begin{document}")
    assert [document_kind(tmp_path / n) for n in ("s.txt", "r.txt", "d.tex")] == ["session", "result", "diagrams"]
    assert document_kind(ROOT / "resources/diagrams/F/2.json") == "diagrams"
