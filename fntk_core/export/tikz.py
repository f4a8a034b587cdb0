"""Diagrams as TikZ-Feynman with explicit coordinates (pdfLaTeX, no automatic layout).

The diagram's JSON rides along as ``%fntk|`` comment lines, so an exported
figure can be opened again as a diagram (:func:`diagram_from_tikz`).
"""
from __future__ import annotations

import json

from ..diagrams.io import MARK, diagram_to_json, diagrams_from_text
from ..diagrams.model import LINE_STYLE, Diagram
from .latex import TENSOR_TEX, label_tex, notation_latex

COMPAT = r"\tikzfeynmanset{compat=1.1.0}"
_VERTEX_STYLE = {"cubic": "dot", "blob": "blob", "vertex": "crossed dot", "pair": "square dot", "line": "small, dot"}
_LEG_TEX = {"z": "z", "ntk": r"\Delta\hat\Theta", "dntk": r"\widehat{dH}", "ddntkI": r"\widehat{dd_IH}",
            "ddntkII": r"\widehat{dd_{II}H}"}
# model.LINE_STYLE names how each leg/line kind looks; this is how TikZ draws each name
TIKZ_LINE = {"solid": "plain", "dotted": "plain, dotted", "dash-dotted": "plain, dash dot",
             "double-dotted": "plain, double, dotted", "double-dashed": "plain, double, dashed"}
_LINE_STYLE = {kind: TIKZ_LINE[name] for kind, name in LINE_STYLE.items()}


def _edge_style(d: Diagram, e: dict) -> str:
    g = d.graph
    t = e["type"]
    if t == "slot":
        return _LINE_STYLE[g.nodes[e["source"]].get("leg", "z")]
    if t in ("end", "vend", "src"):
        line = e["source"] if t == "end" else e["target"]
        return _LINE_STYLE.get(g.nodes[line].get("type"), _LINE_STYLE["ntk"])
    if t == "pair":
        return "plain, thick"
    return "plain"


def _leg_label(a: dict) -> str:
    neural = "".join(f"{n[0]}_{{{n[1:]}}}" if n[1:].isdigit() else n for n in a.get("neural", []))
    samples = "".join(label_tex(s) for s in a.get("samples", []))
    return rf"\({_LEG_TEX.get(a.get('leg'), 'x')}_{{{neural};{samples}}}\)"


def tikz_snippet(d: Diagram, caption: str | None = None) -> str:
    g = d.graph
    pos = d.presentation.get("positions", {})
    names = {n: f"n{k}" for k, n in enumerate(g.nodes)}
    doc = json.dumps(diagram_to_json(d), separators=(",", ":"))
    out = [f"% fntk diagram{': ' + caption if caption else ''} (needs \\usepackage{{tikz-feynman}})"]
    out += [MARK + doc[k:k + 100] for k in range(0, len(doc), 100)]
    out += [COMPAT, r"\begin{tikzpicture}", r"\begin{feynman}"]
    for k, (n, a) in enumerate(g.nodes(data=True)):
        x, y = pos.get(n, [1.5 * k, 0.0])
        if a["kind"] == "leg":
            out.append(rf"\vertex ({names[n]}) at ({x:.3f}, {y:.3f}) {{{_leg_label(a)}}};")
        elif a["kind"] == "vertex":
            out.append(rf"\vertex [crossed dot, label=right:\({TENSOR_TEX.get(a.get('tensor'), a.get('tensor', '?'))}\)] ({names[n]}) at ({x:.3f}, {y:.3f}) {{}};")
        else:
            out.append(rf"\vertex [{_VERTEX_STYLE[a['kind']]}] ({names[n]}) at ({x:.3f}, {y:.3f}) {{}};")
    out.append(r"\diagram* {")
    seen: dict = {}
    edges = []
    for eid, e in d.edge_list():
        s, t = names[e["source"]], names[e["target"]]
        key = tuple(sorted((s, t)))
        k = seen.get(key, 0)
        seen[key] = k + 1
        style = _edge_style(d, e)
        bend = d.presentation.get("bends", {}).get(eid)
        if s == t:
            style += ", loop, min distance=1cm"
        elif bend is not None:
            style += f", bend left={float(bend):.1f}"
        elif k:
            style += f", bend left={25 * ((k + 1) // 2) * (1 if k % 2 else -1)}"
        edges.append(f"  ({s}) -- [{style}] ({t})")
    out.append(",\n".join(edges))
    out += ["};", r"\end{feynman}", r"\end{tikzpicture}"]
    return "\n".join(out) + "\n"


def legend_latex() -> str:
    """What the drawing means: line styles and vertex shapes."""
    names = {"z": "preactivation $z$", "ntk": "NTK", "dntk": "dNTK", "ddntkI": "ddNTK (I)", "ddntkII": "ddNTK (II)"}
    lines = "; ".join(f"{names[k]}: {LINE_STYLE[k]}" for k in LINE_STYLE)
    return ("\\paragraph{Diagrams.} External legs on the left carry their neural and sample indices. Lines "
            f"(legs and internal NTK-type lines) by kind: {lines}. A dot is a cubic vertex (a weight $W$, an "
            "own-layer contraction, $\\Omega$ or a bias), a blob one neuron of layer $\\ell$ (one Gaussian "
            "expectation), a crossed dot an interaction vertex (a layer-$\\ell$ tensor, named beside it) and a "
            "square dot one Kronecker pair of that vertex.\n")


def tikz_document(snippets, captions=None) -> str:
    """A standalone pdfLaTeX document with one or more diagram snippets, its symbols defined."""
    body = [notation_latex(), legend_latex()]
    for k, s in enumerate(snippets):
        if captions:
            body.append(rf"\noindent {captions[k]}\par\medskip")
        body.append(s)
        body.append(r"\par\bigskip")
    return ("\\documentclass{article}\n\\usepackage{amsmath}\n\\usepackage[margin=1.5cm]{geometry}\n"
            "\\usepackage{tikz-feynman}\n" + COMPAT + "\n\\begin{document}\n" + "\n".join(body) +
            "\n\\end{document}\n")


def diagrams_from_tikz(text: str) -> list[Diagram]:
    """Every diagram embedded in an exported .tex file (in file order)."""
    return diagrams_from_text(text)


def diagram_from_tikz(text: str) -> Diagram:
    return diagrams_from_text(text)[0]
