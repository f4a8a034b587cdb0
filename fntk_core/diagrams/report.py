"""What ``fntk diagrams --check FILE`` reports: every diagram of any fntk export, its value as text
or every rule it breaks.  The command line only prints this."""
from __future__ import annotations

import sympy as sp

from ..recursions.terms import Expectation, Field, Term
from .io import load_diagrams
from .translate import check_all, translate


def _field_text(f: Field) -> str:
    prime = {0: "", 1: "'", 2: "''"}.get(f.order, f"^({f.order})")
    return f"sigma{prime}_{f.label}"


def _expectation_text(e: Expectation) -> str:
    body = " ".join(_field_text(f) for f in e.fields)
    if e.derivs:
        body = "".join(f"d_{d} " for d in e.derivs) + f"({body})"
    return f"<{body}>"


def term_text(term: Term, external=()) -> str:
    """A term as plain text, e.g. ``C_W**2*r * sum_{b1 b2} <d_b1 (sigma_1 sigma'_3)> ... F[b1 3 b2 4]``.

    Labels not in ``external`` are summed over the inputs; <...> is the Gaussian expectation
    at layer l, d_b a derivative by z_b, Theta[a b] the leading-order NTK, X[...] a layer-l tensor.
    """
    parts = [str(sp.sympify(term.coeff))]
    dummies = [lab for lab in term.labels() if lab not in external]
    if dummies:
        parts.append("sum_{" + " ".join(dummies) + "}")
    parts += [f"Theta[{a} {b}]" for a, b in term.thetas]
    parts += [_expectation_text(e) for e in term.expectations]
    if term.tensor is not None:
        parts.append(f"{term.tensor.name}[{' '.join(term.tensor.labels)}]")
    return " * ".join(parts[:1]) + ("" if len(parts) == 1 else " * " + " ".join(parts[1:]))


def check_diagram(d) -> dict:
    """{"ok", "violations"} or, when it translates, statistic, labels, order, coefficient (as in the
    library index), prefactor (coefficient x r per vertex, as the terms print) and terms as text."""
    found = check_all(d)
    if found:
        return {"ok": False, "violations": [v.to_dict() for v in found]}
    tr = translate(d)
    return {"ok": True, "statistic": tr.statistic, "labels": list(tr.labels), "order": tr.order,
            "coefficient": str(tr.coefficient), "prefactor": str(tr.prefactor), "terms": [term_text(t, tr.labels) for t in tr.terms]}


def check_file(path) -> list[dict]:
    """One report per diagram in the file (any fntk export, read by content), numbered from 1."""
    return [{"diagram": k, **check_diagram(d)} for k, d in enumerate(load_diagrams(path), 1)]


def violation_lines(reports: list[dict]) -> list[str]:
    """One line per broken rule: 'diagram 2: c1: message [rule cubic]'."""
    out = []
    for rep in reports:
        for v in rep.get("violations", ()):
            where = f"{v['elements'][0]}: " if v["elements"] else ""
            out.append(f"diagram {rep['diagram']}: {where}{v['message']} [rule {v['rule']}]")
    return out
