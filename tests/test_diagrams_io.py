"""fntk-diagram files: lossless round trip, clear refusals, a loader that never crashes."""
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fntk_core.diagrams import DiagramError, RuleError, check_all, enumerate_diagrams, translate
from fntk_core.diagrams.io import diagram_from_json, diagram_to_json, load_diagram, loads
from fntk_core.diagrams.library import ROOT, library_files

SAMPLE = enumerate_diagrams("Theta1")[1].diagram


def test_round_trip_is_lossless(tmp_path):
    doc = diagram_to_json(SAMPLE)
    doc["presentation"]["bends"] = {"e1": 12.5}
    doc["presentation"]["label_offsets"] = {"ntk1": [0.1, -0.2]}
    d = diagram_from_json(doc)
    assert diagram_to_json(d) == doc
    p = tmp_path / "d.json"
    p.write_text(json.dumps(doc))
    assert diagram_to_json(load_diagram(p)) == doc
    assert translate(d).coefficient == translate(SAMPLE).coefficient


def test_round_trip_keeps_parallel_edges_and_self_loops():
    doc = {"format": "fntk-diagram", "version": 1, "presentation": {},
           "topology": {"nodes": [{"id": "b", "kind": "blob"}, {"id": "c", "kind": "cubic", "type": "W"}],
                        "edges": [{"id": "x", "source": "c", "target": "b", "type": "neuron"},
                                  {"id": "y", "source": "c", "target": "b", "type": "neuron"},
                                  {"id": "z", "source": "b", "target": "b", "type": "neuron"}]}}
    out = diagram_to_json(diagram_from_json(doc))
    assert out["topology"] == doc["topology"]


@pytest.mark.parametrize("mutate, words", [
    (lambda d: d.update(version=2), "newer"),
    (lambda d: d.update(format="other"), "format"),
    (lambda d: d.pop("topology"), "topology"),
    (lambda d: d["topology"]["nodes"].append({"id": "q", "kind": "dragon"}), "kind"),
    (lambda d: d["topology"]["nodes"].append(dict(d["topology"]["nodes"][0])), "duplicate"),
    (lambda d: d["topology"]["edges"].append({"id": "zz", "source": "nope", "target": "c1", "type": "slot"}), "ids of nodes"),
    (lambda d: d["presentation"]["positions"].update({"c1": [1, "x"]}), "positions"),
    (lambda d: d["topology"]["nodes"][0].update({"__class__": "os.system"}), "unknown field"),
])
def test_malformed_files_are_refused_with_a_reason(mutate, words):
    doc = diagram_to_json(SAMPLE)
    mutate(doc)
    with pytest.raises(DiagramError) as exc:
        diagram_from_json(json.loads(json.dumps(doc)))
    assert words in str(exc.value)


def test_hostile_text_is_refused():
    for text in ["", "[", "NaN", '{"format": "fntk-diagram", "version": NaN}', "[" * 100000 + "]" * 100000,
                 b"\xff\xfe", "x" * 3_000_000]:
        with pytest.raises(DiagramError):
            loads(text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=20)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_fuzz_arbitrary_json_never_crashes(value):
    try:
        d = loads(json.dumps(value))
    except DiagramError:
        return
    translates_like_check_all(d)


def translates_like_check_all(d):
    """translate raises only RuleError, for the rule that check_all reports first."""
    found = check_all(d)
    try:
        translate(d)
    except RuleError as exc:
        assert found and found[0] == exc.violation
    else:
        assert found == []


KEYS = ["id", "kind", "leg", "samples", "neural", "branch", "type", "tensor", "source", "target", "index"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_mutated_diagrams_never_crash(data):
    """Valid files with random fields replaced: loading and translating raise only DiagramError."""
    name = data.draw(st.sampled_from(["F", "Theta1", "Q", "A", "R", "T"]))
    doc = diagram_to_json(enumerate_diagrams(name)[-1].diagram)
    for _ in range(data.draw(st.integers(1, 4))):
        part = data.draw(st.sampled_from(["nodes", "edges"]))
        items = doc["topology"][part]
        i = data.draw(st.integers(0, len(items) - 1))
        action = data.draw(st.sampled_from(["set", "drop", "delete", "dup"]))
        if action == "delete":
            items.pop(i)
        elif action == "dup":
            items.append(dict(items[i], id=data.draw(st.sampled_from(["n1", "e1", "zz", str(items[i].get("id"))]))))
        else:
            key = data.draw(st.sampled_from(KEYS))
            if action == "drop":
                items[i].pop(key, None)
            else:
                items[i][key] = data.draw(json_values | st.sampled_from(
                    ["z", "ntk", "dntk", "ddntkI", "ddntkII", "W", "omega", "own", "bias", "blob", "pair", "vertex",
                     "line", "slot", "deriv", "vend", "src", "end", "c1", "b1", "L1", "p1", "own13own24", "Wd1",
                     0, 1, 2, 3]))
        if not items:
            break
    try:
        d = diagram_from_json(json.loads(json.dumps(doc)))
    except DiagramError:
        return
    translates_like_check_all(d)


def test_library_matches_the_engine():
    """resources/diagrams is what the engine generates (regenerate: fntk diagrams --write-library)."""
    files = library_files()
    for rel, text in files.items():
        p = ROOT / rel
        assert p.exists(), f"missing {p}; regenerate with `fntk diagrams --write-library`"
        assert p.read_text() == text, f"{rel} is stale; regenerate with `fntk diagrams --write-library`"
    on_disk = {str(p.relative_to(ROOT)) for p in ROOT.rglob("*.json")}
    assert on_disk == set(files)
    index = json.loads(files["index.json"])["tensors"]
    assert len(index["Theta1"]) == 5 and len(index["F"]) == 2
    for entries in index.values():
        for e in entries:
            d = load_diagram(ROOT / e["file"])
            assert str(translate(d).coefficient) == e["coefficient"]
