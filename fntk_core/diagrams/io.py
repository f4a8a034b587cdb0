"""The fntk-diagram JSON file: {"format", "version", "topology", "presentation"}.

:func:`load_diagrams` reads any of fntk's own exports, recognised by content (not
by the file name): one diagram, the multi-diagram JSON of ``fntk diagrams --json``
(``{"statistic", "diagrams": [{..., "diagram": <fntk-diagram>}]}``), or a TeX file
with diagrams embedded as ``%fntk|`` comment lines (the TikZ export).

Loading is defensive: plain ``json`` (no eval, no pickle), size and depth limits,
every field type-checked; anything wrong is a :class:`DiagramError` whose message
says what.  Rule checks (is it a valid Feynman diagram?) are translate()'s job.
"""
from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path

from .model import EDGE_TYPES, NODE_KINDS, Diagram, DiagramError

FORMAT, VERSION = "fntk-diagram", 1
MAX_BYTES, MAX_NODES, MAX_EDGES = 2_000_000, 2000, 5000
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_NODE_FIELDS = {"id", "kind", "leg", "samples", "neural", "branch", "type", "tensor"}
_EDGE_FIELDS = {"id", "source", "target", "type", "index"}


def diagram_to_json(d: Diagram) -> dict:
    nodes = [{"id": n, **{k: (list(v) if isinstance(v, tuple) else v) for k, v in a.items()}}
             for n, a in d.graph.nodes(data=True)]
    edges = [{"id": k, **{f: e[f] for f in ("source", "target", "type", "index") if f in e}}
             for k, e in d.edge_list()]
    return {"format": FORMAT, "version": VERSION, "topology": {"nodes": nodes, "edges": edges},
            "presentation": copy.deepcopy(d.presentation)}


def dumps(d: Diagram) -> str:
    return json.dumps(diagram_to_json(d), indent=1, sort_keys=False)


def loads(text: str | bytes) -> Diagram:
    if not isinstance(text, (str, bytes)):
        raise DiagramError("expected JSON text")
    return diagram_from_json(_parse(text))


def _parse(text: str | bytes):
    """JSON text -> data, with size and depth limits and no NaN/Infinity."""
    if isinstance(text, bytes):
        if len(text) > MAX_BYTES:
            raise DiagramError(f"file too large ({len(text)} bytes; limit {MAX_BYTES})")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DiagramError(f"not UTF-8 text ({exc.reason})") from None
    if len(text) > MAX_BYTES:
        raise DiagramError(f"file too large ({len(text)} characters; limit {MAX_BYTES})")
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise DiagramError(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise DiagramError("JSON nested too deeply") from None


def load_diagram(path) -> Diagram:
    """One fntk-diagram JSON file."""
    return loads(_read(path))


def load_diagrams(path) -> list[Diagram]:
    """Every diagram in an fntk export, whatever its name: a diagram JSON, the JSON of
    ``fntk diagrams --json``, or an exported TeX file with embedded diagrams."""
    raw = _read(path)
    head = raw.lstrip()[:1]
    try:
        if head == b"{":
            return _diagrams_from_json_text(raw)
        if MARK.encode() in raw:
            return diagrams_from_text(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DiagramError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except DiagramError as exc:
        raise DiagramError(f"{path}: {exc}") from None
    raise DiagramError(f"{path}: not an fntk diagram file (a diagram JSON, the JSON of `fntk diagrams --json`, "
                       f"or a TeX export with embedded diagrams)")


def _read(path) -> bytes:
    try:
        p = Path(path)
        if p.stat().st_size > MAX_BYTES:
            raise DiagramError(f"{path}: file too large (limit {MAX_BYTES} bytes)")
        return p.read_bytes()
    except OSError as exc:
        raise DiagramError(f"{path}: {exc.strerror}") from None


def _diagrams_from_json_text(raw: bytes) -> list[Diagram]:
    data = _parse(raw)
    if isinstance(data, dict) and "diagrams" in data and "format" not in data:
        items = data["diagrams"]
        if not isinstance(items, list) or not all(isinstance(x, dict) and "diagram" in x for x in items):
            raise DiagramError('"diagrams" must be a list of objects with a "diagram"')
        out = []
        for k, item in enumerate(items, 1):
            try:
                out.append(diagram_from_json(item["diagram"]))
            except DiagramError as exc:
                raise DiagramError(f"diagram {k}: {exc}") from None
        return out
    return [diagram_from_json(data)]


# Exported TeX carries each diagram's JSON in comment lines starting with MARK.
MARK = "%fntk|"


def diagrams_from_text(text: str) -> list[Diagram]:
    """Every diagram embedded (``%fntk|`` lines) in a TeX text, in file order."""
    out, chunk = [], []
    for line in text.splitlines():
        if line.startswith(MARK):
            chunk.append(line[len(MARK):])
        elif chunk:
            out.append(loads("".join(chunk)))
            chunk = []
    if chunk:
        out.append(loads("".join(chunk)))
    if not out:
        raise DiagramError(f"no embedded fntk diagram (lines starting with {MARK}) in this TeX text")
    return out


def dump_diagram(d: Diagram, path) -> None:
    Path(path).write_text(dumps(d) + "\n")


def _no_constant(name):
    raise DiagramError(f"not valid JSON: {name} is not a number")


def diagram_from_json(data) -> Diagram:
    if not isinstance(data, dict):
        raise DiagramError("a diagram file is a JSON object")
    if data.get("format") != FORMAT:
        raise DiagramError(f'not a diagram file: "format" must be "{FORMAT}"')
    v = data.get("version")
    if not isinstance(v, int) or isinstance(v, bool):
        raise DiagramError('"version" must be an integer')
    if v > VERSION:
        raise DiagramError(f"diagram file version {v} is newer than this fntk understands ({VERSION}); update fntk")
    if v < 1:
        raise DiagramError(f"unknown diagram file version {v}")
    extra = set(data) - {"format", "version", "topology", "presentation"}
    if extra:
        raise DiagramError(f"unknown top-level field(s): {', '.join(sorted(map(str, extra)))}")
    topo = data.get("topology")
    if not isinstance(topo, dict) or not isinstance(topo.get("nodes"), list) or not isinstance(topo.get("edges"), list):
        raise DiagramError('"topology" must be {"nodes": [...], "edges": [...]}')
    if set(topo) - {"nodes", "edges"}:
        raise DiagramError("unknown field in topology")
    if len(topo["nodes"]) > MAX_NODES or len(topo["edges"]) > MAX_EDGES:
        raise DiagramError(f"too many nodes or edges (limits {MAX_NODES}, {MAX_EDGES})")
    d = Diagram()
    for i, n in enumerate(topo["nodes"]):
        _node(d, i, n)
    for i, e in enumerate(topo["edges"]):
        _edge(d, i, e)
    d.presentation = _presentation(data.get("presentation", {}), d)
    return d


def _id(x, what) -> str:
    if not isinstance(x, str) or not _ID.match(x):
        raise DiagramError(f"{what}: id must be 1-64 characters of letters, digits, _ . : -")
    return x


def _labels(x, what) -> list:
    if not isinstance(x, list) or len(x) > 8 or not all(isinstance(s, str) and 0 < len(s) <= 32 for s in x):
        raise DiagramError(f"{what}: must be a list of up to 8 short strings")
    return list(x)


def _node(d: Diagram, i: int, n) -> None:
    where = f"node {i}"
    if not isinstance(n, dict):
        raise DiagramError(f"{where}: must be an object")
    nid = _id(n.get("id"), where)
    where = f"node {nid}"
    if nid in d.graph:
        raise DiagramError(f"{where}: duplicate id")
    extra = set(n) - _NODE_FIELDS
    if extra:
        raise DiagramError(f"{where}: unknown field(s) {', '.join(sorted(map(str, extra)))}")
    kind = n.get("kind")
    if kind not in NODE_KINDS:
        raise DiagramError(f"{where}: kind must be one of {', '.join(NODE_KINDS)}")
    attrs = {}
    for key in ("leg", "branch", "type", "tensor"):
        if key in n:
            if not isinstance(n[key], str) or len(n[key]) > 32:
                raise DiagramError(f"{where}: {key} must be a short string")
            attrs[key] = n[key]
    for key in ("samples", "neural"):
        if key in n:
            attrs[key] = _labels(n[key], f"{where} {key}")
    d.add_node(nid, kind, **attrs)


def _edge(d: Diagram, i: int, e) -> None:
    where = f"edge {i}"
    if not isinstance(e, dict):
        raise DiagramError(f"{where}: must be an object")
    eid = _id(e.get("id"), where)
    where = f"edge {eid}"
    if any(k == eid for _, _, k in d.graph.edges(keys=True)):
        raise DiagramError(f"{where}: duplicate id")
    extra = set(e) - _EDGE_FIELDS
    if extra:
        raise DiagramError(f"{where}: unknown field(s) {', '.join(sorted(map(str, extra)))}")
    t = e.get("type")
    if not isinstance(t, str) or t not in EDGE_TYPES:
        raise DiagramError(f"{where}: type must be one of {', '.join(EDGE_TYPES)}")
    s, tt = e.get("source"), e.get("target")
    for end in (s, tt):
        if not isinstance(end, str) or end not in d.graph:
            raise DiagramError(f"{where}: source and target must be ids of nodes")
    index = e.get("index")
    if index is not None and (not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < 16):
        raise DiagramError(f"{where}: index must be an integer 0-15")
    d.add_edge(s, tt, t, index, eid=eid)


def _presentation(p, d: Diagram) -> dict:
    if not isinstance(p, dict):
        raise DiagramError('"presentation" must be an object')
    extra = set(p) - {"positions", "bends", "label_offsets"}
    if extra:
        raise DiagramError(f"presentation: unknown field(s) {', '.join(sorted(map(str, extra)))}")
    out = {"positions": {}, "bends": {}, "label_offsets": {}}
    edge_ids = {k for _, _, k in d.graph.edges(keys=True)}
    for key, ids, size in (("positions", d.graph, 2), ("label_offsets", d.graph, 2), ("bends", edge_ids, 1)):
        val = p.get(key, {})
        if not isinstance(val, dict):
            raise DiagramError(f"presentation.{key} must be an object")
        for k, v in val.items():
            if k not in ids:
                raise DiagramError(f"presentation.{key}: {k!r} is not an element of the diagram")
            nums = v if size == 2 else [v]
            if (not isinstance(nums, list) or len(nums) != size
                    or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                               and abs(x) < 1e6 for x in nums)):
                raise DiagramError(f"presentation.{key}[{k}] must be {'[x, y]' if size == 2 else 'a number'}")
            out[key][k] = list(nums) if size == 2 else nums[0]
    return out
