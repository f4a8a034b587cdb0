"""The one LaTeX printer: PDLT notation for Terms and Recursions.

A subclass of SymPy's LatexPrinter, so coefficients print the SymPy way and the
structural objects (Term, Expectation, Field, TensorRef, Recursion) print through
``_print_<Class>`` methods of the same printer.
"""
from __future__ import annotations

import re

import sympy as sp
from sympy.printing.latex import LatexPrinter

from ..recursions.terms import Expectation, Field, Recursion, TensorRef, Term

TENSOR_TEX = {"K": "K", "Theta": r"\Theta", "K1": r"K^{\{1\}}", "Theta1": r"\Theta^{\{1\}}",
              "chi": r"\chi"}
PAIRED = {"V", "A"}  # printed with their pair structure (12)(34)
LAYER, NEXT = r"(\ell)", r"(\ell+1)"


def label_tex(label: str) -> str:
    """'1' -> alpha_1, 'd0' -> delta_0, 'b2' -> beta_2 (PDLT sample indices)."""
    if re.fullmatch(r"\d+", label):
        return rf"\alpha_{{{label}}}"
    m = re.fullmatch(r"([db])(\d+)", label)
    if m:
        return rf"\{'delta' if m.group(1) == 'd' else 'beta'}_{{{m.group(2)}}}"
    return rf"\mathrm{{{label}}}"


def tensor_tex(name: str, labels, layer: str = LAYER) -> str:
    base = TENSOR_TEX.get(name, name)
    idx = [label_tex(l) for l in labels]
    if name in PAIRED and len(idx) == 4:
        sub = f"({idx[0]}{idx[1]})({idx[2]}{idx[3]})"
    else:
        sub = "".join(idx)
    if "^" in base:  # K^{\{1\}} -> K^{\{1\}(\ell)}
        return f"{base[:-1]}{layer}}}_{{{sub}}}"
    return f"{base}^{{{layer}}}_{{{sub}}}"


class FntkLatexPrinter(LatexPrinter):
    printmethod = "_fntk_latex"

    def _print_Field(self, f: Field) -> str:
        prime = {0: "", 1: "'", 2: "''"}.get(f.order, f"^{{({f.order})}}")
        return rf"\sigma{prime}_{{{label_tex(f.label)}}}"

    def _print_Expectation(self, e: Expectation) -> str:
        body = "".join(self._print(f) for f in e.fields)
        if e.derivs:
            ds = "".join(rf"\partial_{{{label_tex(d)}}}" for d in e.derivs)
            body = rf"{ds}\!\left({body}\right)"
        return rf"\left\langle {body} \right\rangle_{{K^{{{LAYER}}}}}"

    def _print_TensorRef(self, t: TensorRef) -> str:
        return tensor_tex(t.name, t.labels)

    def _print_Term(self, t: Term, external=()) -> str:
        """The term without its sign handling (see _signed)."""
        parts = []
        dummies = [l for l in t.labels() if l not in external]
        if dummies:
            parts.append(r"\sum_{" + "".join(label_tex(d) for d in dummies) + "}")
        parts += [rf"\Theta^{{{LAYER}}}_{{{label_tex(a)}{label_tex(b)}}}" for a, b in t.thetas]
        parts += [self._print(e) for e in t.expectations]
        if t.tensor is not None:
            parts.append(self._print(t.tensor))
        c = sp.sympify(t.coeff)
        factors = " ".join(parts)
        if c == 1:
            return factors or "1"
        cs = self._print(c)
        if isinstance(c, sp.Add):
            cs = rf"\left({cs}\right)"
        return f"{cs} {factors}".strip()

    def signed(self, t: Term, external=()) -> tuple[str, str]:
        c = sp.sympify(t.coeff)
        if c.could_extract_minus_sign():
            return "-", self._print_Term(Term(-c, t.thetas, t.expectations, t.tensor), external)
        return "+", self._print_Term(t, external)

    def _print_Recursion(self, rec: Recursion) -> str:
        return recursion_latex(rec, printer=self)


_PRINTER = FntkLatexPrinter()


def _readable(terms):
    """New (no lower-layer tensor) terms first, then by tensor; stable otherwise."""
    return sorted(terms, key=lambda t: (t.tensor is not None, t.tensor.name if t.tensor else ""))


def term_latex(t: Term, external=()) -> str:
    sign, body = _PRINTER.signed(t, external)
    return ("-" if sign == "-" else "") + body


def terms_inline(terms, external=()) -> str:
    out = ""
    for k, t in enumerate(terms):
        sign, body = _PRINTER.signed(t, external)
        out += (("-" if sign == "-" else "") if k == 0 else f" {sign} ") + body
    return out or "0"


def lhs_latex(rec_or_name, labels) -> str:
    name = rec_or_name.name if isinstance(rec_or_name, Recursion) else rec_or_name
    return tensor_tex(name, labels, NEXT)


def recursion_latex(rec: Recursion, printer: FntkLatexPrinter | None = None, per_line: int = 1) -> str:
    """amsmath align: one term per line when there are more than two."""
    terms = _readable(rec.terms)
    lhs = lhs_latex(rec, rec.labels)
    if len(terms) <= 2:
        return f"\\begin{{align}}\n{lhs} &= {terms_inline(terms, rec.labels)}\n\\end{{align}}"
    lines = []
    for k in range(0, len(terms), per_line):
        chunk = terms[k:k + per_line]
        text = terms_inline(chunk, rec.labels)
        if k == 0:
            lines.append(f"{lhs} &= {text}")
        else:
            lead = "-" if text.startswith("-") else "+"
            lines.append(rf"&\quad {lead} {text.lstrip('-')}")
    return "\\begin{align}\n" + " \\nonumber\\\\\n".join(lines) + "\n\\end{align}"


def translation_latex(tr) -> str:
    """The value of one diagram (its terms), inline math."""
    return terms_inline(list(tr.terms), tr.labels)


PREAMBLE = "\\documentclass{article}\n\\usepackage{amsmath,amssymb}\n\\usepackage[margin=2cm]{geometry}\n"


def latex_document(body: str, extra_preamble: str = "") -> str:
    return (PREAMBLE + extra_preamble + "\\allowdisplaybreaks\n\\begin{document}\n" + body +
            "\n\\end{document}\n")
