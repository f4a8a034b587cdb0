"""The one LaTeX printer: PDLT notation for Terms and Recursions.

A subclass of SymPy's LatexPrinter, so coefficients print the SymPy way and the
structural objects (Term, Expectation, Field, TensorRef, Recursion) print through
``_print_<Class>`` methods of the same printer.  Every function that prints takes
an optional ``printer``; :func:`mathtext_printer` gives one whose output
matplotlib's mathtext renders (one line, no \\left/\\right, no \\!, no align).
Documents (:func:`latex_document`) define every symbol they use.
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
    """PDLT notation; ``mathtext=True`` keeps to what matplotlib's mathtext renders."""

    printmethod = "_fntk_latex"
    _default_settings = {**LatexPrinter._default_settings, "mathtext": False}

    @property
    def mathtext(self) -> bool:
        return bool(self._settings["mathtext"])

    def finish(self, text: str) -> str:
        """The printed text as the target reads it (mathtext: plain brackets, no negative spaces)."""
        if not self.mathtext:
            return text
        for big, small in ((r"\left(", "("), (r"\right)", ")"), (r"\left[", "["), (r"\right]", "]"),
                           (r"\left\langle", r"\langle"), (r"\right\rangle", r"\rangle"), (r"\!", "")):
            text = text.replace(big, small)
        return text

    def _print_Field(self, f: Field) -> str:
        prime = {0: "", 1: "'", 2: "''"}.get(f.order, f"^{{({f.order})}}")
        return rf"\sigma{prime}_{{{label_tex(f.label)}}}"

    def _print_Expectation(self, e: Expectation) -> str:
        body = "".join(self._print(f) for f in e.fields)
        if e.derivs:
            ds = "".join(rf"\partial_{{{label_tex(d)}}}" for d in e.derivs)
            body = rf"{ds}({body})" if self.mathtext else rf"{ds}\!\left({body}\right)"
        if self.mathtext:
            return rf"\langle {body} \rangle_{{K^{{{LAYER}}}}}"
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
            cs = f"({cs})" if self.mathtext else rf"\left({cs}\right)"
        return f"{cs} {factors}".strip()

    def signed(self, t: Term, external=()) -> tuple[str, str]:
        c = sp.sympify(t.coeff)
        if c.could_extract_minus_sign():
            return "-", self._print_Term(Term(-c, t.thetas, t.expectations, t.tensor), external)
        return "+", self._print_Term(t, external)

    def _print_Recursion(self, rec: Recursion) -> str:
        return recursion_latex(rec, printer=self)


_PRINTER = FntkLatexPrinter()


def mathtext_printer() -> FntkLatexPrinter:
    """A printer whose output matplotlib's mathtext renders (wrap it in $...$)."""
    return FntkLatexPrinter(settings={"mathtext": True})


def _readable(terms):
    """New (no lower-layer tensor) terms first, then by tensor; stable otherwise."""
    return sorted(terms, key=lambda t: (t.tensor is not None, t.tensor.name if t.tensor else ""))


def term_latex(t: Term, printer: FntkLatexPrinter | None = None, external=()) -> str:
    """One term, its sign in front."""
    return terms_inline([t], external, printer)


def terms_inline(terms, external=(), printer: FntkLatexPrinter | None = None) -> str:
    printer = printer or _PRINTER
    out = ""
    for k, t in enumerate(terms):
        sign, body = printer.signed(t, external)
        out += (("-" if sign == "-" else "") if k == 0 else f" {sign} ") + body
    return printer.finish(out or "0")


def lhs_latex(rec_or_name, labels) -> str:
    name = rec_or_name.name if isinstance(rec_or_name, Recursion) else rec_or_name
    return tensor_tex(name, labels, NEXT)


def recursion_latex(rec: Recursion, printer: FntkLatexPrinter | None = None, per_line: int = 1) -> str:
    """amsmath align, one term per line when there are more than two; a mathtext printer gets one line."""
    printer = printer or _PRINTER
    terms = _readable(rec.terms)
    lhs = lhs_latex(rec, rec.labels)
    if printer.mathtext:
        return f"{lhs} = {terms_inline(terms, rec.labels, printer)}"
    if len(terms) <= 2:
        return f"\\begin{{align}}\n{lhs} &= {terms_inline(terms, rec.labels, printer)}\n\\end{{align}}"
    lines = []
    for k in range(0, len(terms), per_line):
        chunk = terms[k:k + per_line]
        text = terms_inline(chunk, rec.labels, printer)
        if k == 0:
            lines.append(f"{lhs} &= {text}")
        else:
            lead = "-" if text.startswith("-") else "+"
            lines.append(rf"&\quad {lead} {text.lstrip('-')}")
    return "\\begin{align}\n" + " \\nonumber\\\\\n".join(lines) + "\n\\end{align}"


def translation_latex(tr, printer: FntkLatexPrinter | None = None) -> str:
    """The value of one diagram (its terms, symmetry factor and r included), inline math."""
    return terms_inline(list(tr.terms), tr.labels, printer)


def diagram_term_latex(diagram, printer: FntkLatexPrinter | None = None) -> str:
    """The value of a diagram as its terms print; raises RuleError for a diagram that breaks a rule."""
    from ..diagrams.translate import translate

    return translation_latex(translate(diagram), printer)


PREAMBLE = "\\documentclass{article}\n\\usepackage{amsmath,amssymb}\n\\usepackage[margin=2cm]{geometry}\n"

# What every symbol the printer writes means (the legend of every exported document)
NOTATION = (
    (r"\ell", r"the layer: a recursion gives layer $\ell+1$ from layer $\ell$"),
    (r"n_{\ell}", r"the width (number of neurons) of layer $\ell$"),
    (r"r", r"$= n_{\ell}/n_{\ell-1}$, the ratio of consecutive widths; a first-order tensor of layer $\ell$ is "
           r"$n_{\ell-1}$ times its $O(1/n)$ part"),
    (r"C_{W}", r"weight variance of layer $\ell+1$ (each weight has variance $C_W/n_{\ell}$)"),
    (r"C_{b}", r"bias variance of layer $\ell+1$"),
    (r"\lambda_{W}", r"learning-rate factor of the weights of layer $\ell+1$ (it weights their NTK contribution)"),
    (r"\lambda_{b}", r"learning-rate factor of the biases of layer $\ell+1$"),
    (r"\alpha_{k},\ \delta_{k}", "sample indices of the statistic (inputs)"),
    (r"\beta_{k}", r"summed sample indices: each $\sum$ runs over all inputs"),
    (r"\sigma_{\alpha},\ \sigma'_{\alpha},\ \sigma''_{\alpha}",
     r"the activation function and its derivatives at the preactivation $z_{\alpha}$"),
    (r"\langle f \rangle_{K^{(\ell)}}", r"Gaussian expectation over one neuron's preactivations "
                                       r"$z \sim \mathcal{N}(0, K^{(\ell)})$"),
    (r"\partial_{\beta}", r"$\partial/\partial z_{\beta}$, acting on the whole product after it"),
)


_TEXT_ESCAPES = {"\\": r"\textbackslash{}", "_": r"\_", "^": r"\^{}", "&": r"\&", "%": r"\%", "#": r"\#",
                 "$": r"\$", "{": r"\{", "}": r"\}", "~": r"\~{}"}


def _text(s: str) -> str:
    """Plain text for LaTeX's text mode."""
    return re.sub(r"[\\_^&%#${}~]", lambda m: _TEXT_ESCAPES[m.group()], s)


def notation_latex() -> str:
    """The legend: every symbol and tensor the printer can write, with its meaning."""
    from ..diagrams.rules import STATISTICS

    rows = [rf"\item[$ {sym} $] {text}" for sym, text in NOTATION]
    for name, stat in STATISTICS.items():
        symbol = tensor_tex(name, (), LAYER).rsplit("_{", 1)[0]
        labels = ", ".join(stat.labels)
        rows.append(rf"\item[$ {symbol} $] {_text(stat.description)}; sample indices in the order ({_text(labels)})")
    return "\\paragraph{Notation.}\n\\begin{description}\n" + "\n".join(rows) + "\n\\end{description}\n"


def latex_document(body: str, extra_preamble: str = "") -> str:
    """A standalone document: the notation legend, then ``body``."""
    return (PREAMBLE + extra_preamble + "\\allowdisplaybreaks\n\\begin{document}\n" + notation_latex() + body +
            "\n\\end{document}\n")
