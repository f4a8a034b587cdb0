"""The one registry of the statistics fntk computes (definitions: docs/theory.md section 2).

Every tensor list in fntk derives from ``TENSORS``: names, ranks, which are first order,
which engines support them, and what each sample index of the stored arrays means.
A stored tensor has the layer axis first, then its sample indices in ``axes`` order.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TensorInfo:
    name: str
    rank: int  # number of sample indices
    order: int  # 0: leading (infinite width); 1: coefficient of 1/n_{l-1}
    axes: tuple[str, ...]  # meaning of each sample index, in storage order
    storage: str  # how the indices are stored
    title: str
    description: str
    latex: str
    solver: bool = True
    sampler: bool = True


def _t(name, order, axes, storage, title, description, latex, **kw) -> TensorInfo:
    return TensorInfo(name, len(axes), order, tuple(axes), storage, title, description, latex, **kw)


_Z2 = ("α1: input of the first z", "α2: input of the second z")
_H2 = ("α1: first input of the NTK", "α2: second input of the NTK")
_DH = ("δ0: input of the differentiated z", "δ1: input of the first derivative",
       "δ2: input of the second derivative", "δ3: input of z")
_DD = ("δ0", "δ1", "δ2", "δ3")

TENSORS: dict[str, TensorInfo] = {t.name: t for t in (
    _t("K", 0, _Z2, "K[l,a1,a2] = K_(a1a2)", "NNGP kernel",
       "Infinite-width covariance of the preactivations z_i;a1, z_i;a2.", r"K"),
    _t("Theta", 0, _H2, "Theta[l,a1,a2] = Θ_(a1a2)", "NTK",
       "Infinite-width mean of the neural tangent kernel.", r"\Theta"),
    _t("K1", 1, _Z2, "K1[l,a1,a2] = K¹_(a1a2)", "NNGP kernel, 1/n correction",
       "Coefficient of 1/n_{l-1} in the covariance of the preactivations.", r"K^{\{1\}}"),
    _t("Theta1", 1, _H2, "Theta1[l,a1,a2] = Θ¹_(a1a2)", "NTK mean, 1/n correction",
       "Coefficient of 1/n_{l-1} in the mean NTK.", r"\Theta^{\{1\}}"),
    _t("V", 1, ("α1: first z of pair 1", "α2: second z of pair 1", "α3: first z of pair 2", "α4: second z of pair 2"),
       "V[l,a1,a2,a3,a4] = V_(a1a2)(a3a4)", "four-point vertex",
       "Connected four-point function of the preactivations, times n_{l-1}.", r"V"),
    _t("D", 1, ("α1: first z", "α2: second z", "α3: first NTK input", "α4: second NTK input"),
       "D[l,a1,a2,a3,a4] = D_a1a2a3a4", "D (z z with the NTK, paired)",
       "Covariance of z z with the NTK fluctuation, neurons paired z-z and NTK-NTK, times n_{l-1}.", r"D"),
    _t("F", 1, ("α1: first z", "α3: NTK input on the first z's neuron", "α2: second z",
                "α4: NTK input on the second z's neuron"),
       "F[l,a1,a3,a2,a4] = F_a1a3a2a4", "F (z z with the NTK, crossed)",
       "Covariance of z z with the NTK fluctuation, each z sharing a neuron with an NTK index, times n_{l-1}.", r"F"),
    _t("A", 1, ("α1: first NTK, first input", "α2: first NTK, second input", "α3: second NTK, first input",
                "α4: second NTK, second input"),
       "A[l,a1,a2,a3,a4] = A_(a1a2)(a3a4)", "NTK variance (paired)",
       "Covariance of two NTK fluctuations with neurons paired within each NTK, times n_{l-1}.", r"A"),
    _t("B", 1, ("α1: first NTK, first input", "α3: second NTK, first input", "α2: first NTK, second input",
                "α4: second NTK, second input"),
       "B[l,a1,a3,a2,a4] = B_a1a3a2a4", "NTK variance (crossed)",
       "Covariance of two NTK fluctuations with neurons crossed between them, times n_{l-1}.", r"B"),
    _t("P", 1, _DH, "P[l,d0,d1,d2,d3] = P_d0d1d2d3", "dNTK-z correlator P",
       "Mean of the dNTK times z, neuron of z = differentiated neuron, times n_{l-1}.", r"P"),
    _t("Q", 1, _DH, "Q[l,d0,d1,d2,d3] = Q_d0d1d2d3", "dNTK-z correlator Q",
       "Mean of the dNTK times z, differentiated neuron = first derivative's neuron, times n_{l-1}.", r"Q"),
    _t("R", 1, _DD, "R[l,d0,d1,d2,d3] = R_d0d1d2d3", "ddNTK (type I) R",
       "Mean of the type-I ddNTK, times n_{l-1}.", r"R"),
    _t("S", 1, _DD, "S[l,d1,d2,d3,d4] = S_d1d2d3d4", "ddNTK (type II) S",
       "Mean of the type-II ddNTK, neurons paired (12)(34), times n_{l-1}.", r"S"),
    _t("T", 1, _DD, "T[l,d1,d3,d4,d2] = T_d1d3d4d2", "ddNTK (type II) T",
       "Mean of the type-II ddNTK, neurons paired (13)(24), times n_{l-1}.", r"T"),
    _t("U", 1, _DD, "U[l,d1,d4,d2,d3] = U_d1d4d2d3", "ddNTK (type II) U",
       "Mean of the type-II ddNTK, neurons paired (14)(23), times n_{l-1}.", r"U"),
)}

RANKS: dict[str, int] = {n: t.rank for n, t in TENSORS.items()}
LEADING = tuple(n for n, t in TENSORS.items() if t.order == 0)
FIRST_ORDER = tuple(n for n, t in TENSORS.items() if t.order == 1)
SOLVER_TENSORS = tuple(n for n, t in TENSORS.items() if t.solver)
SAMPLER_TENSORS = tuple(n for n, t in TENSORS.items() if t.sampler)
# what solve()/sample() compute when not told: leading order and the first-order set of the paper
DEFAULT_TENSORS = ("K", "Theta", "V", "K1", "Theta1", "D", "F", "A", "B")


def check_tensor_names(names, *, engine: str) -> list[str]:
    """The unique names in order; ValueError naming an unknown or unsupported one."""
    out = list(dict.fromkeys(names))
    if not out:
        raise ValueError("tensors: none requested")
    supported = SOLVER_TENSORS if engine == "solver" else SAMPLER_TENSORS
    for name in out:
        if name not in TENSORS:
            raise ValueError(f"unknown tensor {name!r}; known: {', '.join(TENSORS)}")
        if name not in supported:
            raise ValueError(f"tensor {name!r}: not computed by the {engine}; it computes {', '.join(supported)}")
    return out
