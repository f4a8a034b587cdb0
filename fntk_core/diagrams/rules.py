"""The Feynman rules as data (theory.md sections 2 and 4).

Two tables drive everything else, so that adding a tensor (R, S, T, U) or a leg
kind means adding rows here, not code elsewhere:

* ``STATISTICS``: each tensor as a Kronecker component of a layer statistic
  (its legs, which neural slots are paired, and the storage order of its sample
  indices).  The same rows describe an external statistic and, one layer down,
  an interaction vertex.
* ``BRANCHES``: the forward equation of each leg kind, one branch per term
  (which slots carry a weight W, which pairs are own-layer contractions, which
  fields they bring, which internal NTK/dNTK/ddNTK lines they open).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from functools import lru_cache

import sympy as sp

from ..recursions.terms import lambda_b, lambda_W

SLOTS = {"z": 1, "ntk": 2, "dntk": 3, "ddntkI": 4, "ddntkII": 4}
# permutations of a leg's slots that leave the leg itself unchanged
SLOT_SYMMETRIES = {
    "z": [(0,)],
    "ntk": [(0, 1), (1, 0)],
    "dntk": [(0, 1, 2), (0, 2, 1)],
    "ddntkI": [(0,) + p for p in itertools.permutations((1, 2, 3))],
    "ddntkII": [(0, 1, 2, 3), (1, 0, 3, 2)],
}

Slot = tuple  # (leg index, slot index)


@dataclass(frozen=True)
class Statistic:
    """A tensor: the component of E[legs] (or E^c) with Kronecker pattern ``pattern``."""

    name: str
    legs: tuple[str, ...]
    pattern: frozenset  # frozenset of frozenset({slot, slot})
    storage: tuple[Slot, ...]
    samples: tuple[tuple[str, ...], ...]  # external sample labels per leg (the library's)
    order: int = 1
    connected: bool = True  # cumulant (subtract disconnected parts) or plain mean
    description: str = ""

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.samples[l][s] for l, s in self.storage)


def _p(*pairs) -> frozenset:
    return frozenset(frozenset(p) for p in pairs)


_Z = lambda i: (i, 0)  # noqa: E731

STATISTICS: dict[str, Statistic] = {s.name: s for s in [
    Statistic("K", ("z", "z"), _p((_Z(0), _Z(1))), (_Z(0), _Z(1)), (("1",), ("2",)), 0, False,
              "E[z z]: the kernel"),
    Statistic("Theta", ("ntk",), _p(((0, 0), (0, 1))), ((0, 0), (0, 1)), (("1", "2"),), 0, False,
              "E[NTK]: the frozen NTK"),
    Statistic("K1", ("z", "z"), _p((_Z(0), _Z(1))), (_Z(0), _Z(1)), (("1",), ("2",)), 1, False,
              "1/n correction to E[z z]"),
    Statistic("Theta1", ("ntk",), _p(((0, 0), (0, 1))), ((0, 0), (0, 1)), (("1", "2"),), 1, False,
              "1/n correction to E[NTK]"),
    Statistic("V", ("z",) * 4, _p((_Z(0), _Z(1)), (_Z(2), _Z(3))), tuple(_Z(i) for i in range(4)),
              (("1",), ("2",), ("3",), ("4",)), description="four-point vertex E^c[z z z z]"),
    Statistic("D", ("z", "z", "ntk"), _p((_Z(0), _Z(1)), ((2, 0), (2, 1))), (_Z(0), _Z(1), (2, 0), (2, 1)),
              (("1",), ("2",), ("3", "4")), description="E^c[z z NTK], z's paired with each other"),
    Statistic("F", ("z", "z", "ntk"), _p((_Z(0), (2, 0)), (_Z(1), (2, 1))), (_Z(0), (2, 0), _Z(1), (2, 1)),
              (("1",), ("2",), ("3", "4")), description="E^c[z z NTK], each z paired with the NTK"),
    Statistic("A", ("ntk", "ntk"), _p(((0, 0), (0, 1)), ((1, 0), (1, 1))), ((0, 0), (0, 1), (1, 0), (1, 1)),
              (("1", "2"), ("3", "4")), description="E[NTK NTK (fluctuations)], each NTK self-paired"),
    Statistic("B", ("ntk", "ntk"), _p(((0, 0), (1, 0)), ((0, 1), (1, 1))), ((0, 0), (1, 0), (0, 1), (1, 1)),
              (("1", "2"), ("3", "4")), description="E[NTK NTK (fluctuations)], the NTKs paired across"),
    Statistic("P", ("dntk", "z"), _p(((0, 0), _Z(1)), ((0, 1), (0, 2))), ((0, 0), (0, 1), (0, 2), _Z(1)),
              (("d0", "d1", "d2"), ("d3",)), description="E[dH z], z paired with the dNTK's first index"),
    Statistic("Q", ("dntk", "z"), _p(((0, 0), (0, 1)), ((0, 2), _Z(1))), ((0, 0), (0, 1), (0, 2), _Z(1)),
              (("d0", "d1", "d2"), ("d3",)), description="E[dH z], z paired with a dNTK derivative index"),
    # ddNTK means (PDLT section 11.2; docs/ddntk.md)
    Statistic("R", ("ddntkI",), _p(((0, 0), (0, 1)), ((0, 2), (0, 3))), tuple((0, i) for i in range(4)),
              (("d0", "d1", "d2", "d3"),), connected=False, description="E[ddI H]"),
    Statistic("S", ("ddntkII",), _p(((0, 0), (0, 1)), ((0, 2), (0, 3))), tuple((0, i) for i in range(4)),
              (("d0", "d1", "d2", "d3"),), connected=False, description="E[ddII H], pattern (12)(34)"),
    Statistic("T", ("ddntkII",), _p(((0, 0), (0, 2)), ((0, 3), (0, 1))), ((0, 0), (0, 2), (0, 3), (0, 1)),
              (("d0", "d1", "d2", "d3"),), connected=False, description="E[ddII H], pattern (13)(42)"),
    Statistic("U", ("ddntkII",), _p(((0, 0), (0, 3)), ((0, 1), (0, 2))), ((0, 0), (0, 3), (0, 1), (0, 2)),
              (("d0", "d1", "d2", "d3"),), connected=False, description="E[ddII H], pattern (14)(23)"),
]}


# --------------------------------------------------------------------------
# Forward equations of the external legs (theory.md section 1).
@dataclass(frozen=True)
class Own:
    """A contraction inside one leg: own-layer lambda_W term, Omega, or a bias."""

    slots: tuple[int, int]
    type: str  # "own" | "omega" | "bias"
    weight: sp.Expr
    fields: tuple[tuple[int, int], ...] = ()  # (sigma order, sample slot); omega: Omega(slot0, slot1)


@dataclass(frozen=True)
class LineSpec:
    """An internal NTK-type line opened by a branch; end e sits on ``ends[e]`` with sample slot."""

    type: str
    ends: tuple[tuple[tuple[str, int], int], ...]  # ((("slot", s) | ("own", k)), sample slot)


@dataclass(frozen=True)
class Branch:
    name: str
    wslots: dict = field(default_factory=dict)  # slot -> fields ((order, sample slot), ...)
    bias_slots: tuple[int, ...] = ()  # z-leg bias: paired with another z-leg's bias (C_b)
    owns: tuple[Own, ...] = ()
    lines: tuple[LineSpec, ...] = ()
    note: str = ""

    def __hash__(self):
        return hash(self.name)


def _line(kind: str, *ends) -> LineSpec:
    """A line of ``kind``; each end is (where, sample slot), where = a slot index or ("own", k)."""
    return LineSpec(kind, tuple(((w if isinstance(w, tuple) else ("slot", w)), samp) for w, samp in ends))


def _wslots(*slot_orders) -> dict:
    """W-slots each bringing sigma^(order) at its own sample: (slot, order), ..."""
    return {s: ((o, s),) for s, o in slot_orders}


def _own(a: int, b: int, order_a: int, order_b: int) -> Own:
    """delta_{ia ib} (lambda_W/n) sigma^(order_a)_{j;a} sigma^(order_b)_{j;b}: one own-layer contraction."""
    return Own((a, b), "own", lambda_W, ((order_a, a), (order_b, b)))


_OWN0, _OWN1 = ("own", 0), ("own", 1)


def _ddI_branches() -> dict[str, Branch]:
    """dd_I H_{i0i1i2i3} (slots 0..3, sample slots likewise); docs/ddntk.md section 1."""
    out = {}
    for a in (1, 2, 3):  # delta_{i0 ia} (lambda_W/n) sigma_{j;a} W W sigma' sigma' [...]
        k1, k2 = (s for s in (1, 2, 3) if s != a)
        w = _wslots((k1, 1), (k2, 1))
        out[f"own{a}a"] = Branch(f"own{a}a", w, owns=(_own(0, a, 2, 0),),
                                 lines=(_line("ntk", (_OWN0, 0), (k1, k1)), _line("ntk", (_OWN0, 0), (k2, k2))),
                                 note=f"delta_(i0 i{a}) lambda_W sigma'' sigma W W sigma' sigma' Theta-hat Theta-hat")
        out[f"own{a}b"] = Branch(f"own{a}b", w, owns=(_own(0, a, 1, 0),),
                                 lines=(_line("dntk", (_OWN0, 0), (k1, k1), (k2, k2)),),
                                 note=f"delta_(i0 i{a}) lambda_W sigma' sigma W W sigma' sigma' dH")
    out["WWW"] = Branch("WWW", _wslots((0, 3), (1, 1), (2, 1), (3, 1)),
                        lines=tuple(_line("ntk", (0, 0), (s, s)) for s in (1, 2, 3)),
                        note="W W W W sigma''' sigma' sigma' sigma' Theta-hat Theta-hat Theta-hat")
    for a, b in ((1, 2), (1, 3), (2, 3)):
        c = 6 - a - b
        out[f"Wd{a}{b}"] = Branch(f"Wd{a}{b}", _wslots((0, 2), (1, 1), (2, 1), (3, 1)),
                                  lines=(_line("dntk", (0, 0), (a, a), (b, b)), _line("ntk", (0, 0), (c, c))),
                                  note=f"W W W W sigma'' sigma' sigma' sigma' dH_(0{a}{b}) Theta-hat_(0{c})")
    out["Wdd"] = Branch("Wdd", _wslots((0, 1), (1, 1), (2, 1), (3, 1)),
                        lines=(_line("ddntkI", (0, 0), (1, 1), (2, 2), (3, 3)),),
                        note="W W W W sigma' sigma' sigma' sigma' ddI-H")
    return out


def _ddII_branches() -> dict[str, Branch]:
    """dd_II H_{i1i2i3i4} (slots 0..3 = i1..i4, sample slots likewise); docs/ddntk.md section 1."""
    return {
        "own12": Branch("own12", _wslots((2, 1), (3, 1)), owns=(_own(0, 1, 1, 1),),
                        lines=(_line("ntk", (_OWN0, 0), (2, 2)), _line("ntk", (_OWN0, 1), (3, 3))),
                        note="delta_(i1 i2) lambda_W sigma' sigma' W W sigma' sigma' Theta-hat_(13) Theta-hat_(24)"),
        "own13a": Branch("own13a", _wslots((1, 2), (3, 1)), owns=(_own(0, 2, 1, 0),),
                         lines=(_line("ntk", (_OWN0, 0), (1, 1)), _line("ntk", (1, 1), (3, 3))),
                         note="delta_(i1 i3) lambda_W sigma' sigma W sigma'' W sigma' Theta-hat_(12) Theta-hat_(24)"),
        "own13b": Branch("own13b", _wslots((1, 1), (3, 1)), owns=(_own(0, 2, 1, 0),),
                         lines=(_line("dntk", (1, 1), (_OWN0, 0), (3, 3)),),
                         note="delta_(i1 i3) lambda_W sigma' sigma W sigma' W sigma' dH_(214)"),
        "own24a": Branch("own24a", _wslots((0, 2), (2, 1)), owns=(_own(1, 3, 1, 0),),
                         lines=(_line("ntk", (_OWN0, 1), (0, 0)), _line("ntk", (0, 0), (2, 2))),
                         note="delta_(i2 i4) lambda_W sigma' sigma W sigma'' W sigma' Theta-hat_(21) Theta-hat_(13)"),
        "own24b": Branch("own24b", _wslots((0, 1), (2, 1)), owns=(_own(1, 3, 1, 0),),
                         lines=(_line("dntk", (0, 0), (_OWN0, 1), (2, 2)),),
                         note="delta_(i2 i4) lambda_W sigma' sigma W sigma' W sigma' dH_(123)"),
        "own13own24": Branch("own13own24", owns=(_own(0, 2, 1, 0), _own(1, 3, 1, 0)),
                             lines=(_line("ntk", (_OWN0, 0), (_OWN1, 1)),),
                             note="delta_(i1 i3) delta_(i2 i4) lambda_W^2 sigma' sigma sigma' sigma Theta-hat_(12)"),
        "WW": Branch("WW", _wslots((0, 2), (1, 2), (2, 1), (3, 1)),
                     lines=(_line("ntk", (0, 0), (1, 1)), _line("ntk", (0, 0), (2, 2)), _line("ntk", (1, 1), (3, 3))),
                     note="W W W W sigma'' sigma'' sigma' sigma' Theta-hat_(12) Theta-hat_(13) Theta-hat_(24)"),
        "Wd1": Branch("Wd1", _wslots((0, 2), (1, 1), (2, 1), (3, 1)),
                      lines=(_line("ntk", (0, 0), (2, 2)), _line("dntk", (1, 1), (0, 0), (3, 3))),
                      note="W W W W sigma'' sigma' sigma' sigma' Theta-hat_(13) dH_(214)"),
        "Wd2": Branch("Wd2", _wslots((0, 1), (1, 2), (2, 1), (3, 1)),
                      lines=(_line("ntk", (1, 1), (3, 3)), _line("dntk", (0, 0), (1, 1), (2, 2))),
                      note="W W W W sigma' sigma'' sigma' sigma' Theta-hat_(24) dH_(123)"),
        "Wdd": Branch("Wdd", _wslots((0, 1), (1, 1), (2, 1), (3, 1)),
                      lines=(_line("ddntkII", (0, 0), (1, 1), (2, 2), (3, 3)),),
                      note="W W W W sigma' sigma' sigma' sigma' ddII-H"),
    }


BRANCHES: dict[str, dict[str, Branch]] = {
    "z": {
        "W": Branch("W", {0: ((0, 0),)}, note="z = W sigma"),
        "bias": Branch("bias", bias_slots=(0,), note="z = b"),
    },
    "ntk": {
        "omega": Branch("omega", owns=(Own((0, 1), "omega", sp.Integer(1)),),
                        note="both neural indices contracted together, NTK line at its mean: Omega"),
        "W": Branch("W", {0: ((1, 0),), 1: ((1, 1),)},
                    lines=(LineSpec("ntk", ((("slot", 0), 0), (("slot", 1), 1))),),
                    note="W W sigma' sigma' Theta-hat"),
        "bias": Branch("bias", owns=(Own((0, 1), "bias", lambda_b),), note="lambda_b delta"),
    },
    "dntk": {
        "own1": Branch("own1", {2: ((1, 2),)}, owns=(Own((0, 1), "own", lambda_W, ((1, 0), (0, 1))),),
                       lines=(LineSpec("ntk", ((("own", 0), 0), (("slot", 2), 2))),),
                       note="delta_{i0i1} lambda_W sigma' sigma W sigma' Theta-hat"),
        "own2": Branch("own2", {1: ((1, 1),)}, owns=(Own((0, 2), "own", lambda_W, ((1, 0), (0, 2))),),
                       lines=(LineSpec("ntk", ((("own", 0), 0), (("slot", 1), 1))),),
                       note="delta_{i0i2} lambda_W sigma' sigma W sigma' Theta-hat"),
        "WW": Branch("WW", {0: ((2, 0),), 1: ((1, 1),), 2: ((1, 2),)},
                     lines=(LineSpec("ntk", ((("slot", 0), 0), (("slot", 1), 1))),
                            LineSpec("ntk", ((("slot", 0), 0), (("slot", 2), 2)))),
                     note="W W W sigma'' sigma' sigma' Theta-hat Theta-hat"),
        "Wd": Branch("Wd", {0: ((1, 0),), 1: ((1, 1),), 2: ((1, 2),)},
                     lines=(LineSpec("dntk", ((("slot", 0), 0), (("slot", 1), 1), (("slot", 2), 2))),),
                     note="W W W sigma' sigma' sigma' dH"),
    },
    # ddNTK forward equations (docs/ddntk.md section 1); a bracket [a + b] is two branches
    "ddntkI": _ddI_branches(),
    "ddntkII": _ddII_branches(),
}

# --------------------------------------------------------------------------
def images(stat: Statistic, kinds: tuple[str, ...]):
    """All (pattern, storage) of ``stat`` placed on concrete legs of ``kinds``.

    Relabelling legs of equal kind and using each leg's own slot symmetry gives
    every Kronecker component of the same statistic; the first storage per pattern wins.
    """
    if sorted(stat.legs) != sorted(kinds):
        return []
    out: dict[frozenset, tuple] = {}
    for perm in itertools.permutations(range(len(kinds))):
        if any(stat.legs[i] != kinds[perm[i]] for i in range(len(kinds))):
            continue
        for syms in itertools.product(*[SLOT_SYMMETRIES[k] for k in stat.legs]):
            def m(slot):
                leg, s = slot
                return (perm[leg], syms[leg][s])

            pattern = frozenset(frozenset(m(x) for x in pair) for pair in stat.pattern)
            out.setdefault(pattern, tuple(m(x) for x in stat.storage))
    return list(out.items())


@lru_cache(maxsize=None)
def components(kinds: tuple[str, ...], order: int = 1) -> tuple:
    """(pattern, name, storage) of every tensor of this order on concrete legs ``kinds``."""
    out = []
    for stat in STATISTICS.values():
        if stat.order != order:
            continue
        for pattern, storage in images(stat, kinds):
            out.append((pattern, stat.name, storage))
    return tuple(out)


@lru_cache(maxsize=None)
def tensor_symmetries(name: str) -> tuple[tuple[int, ...], ...]:
    """Permutations pi of storage positions with T[x] == T[x o pi] (from the leg symmetries)."""
    stat = STATISTICS[name]
    pos = {s: i for i, s in enumerate(stat.storage)}
    perms = set()
    for perm in itertools.permutations(range(len(stat.legs))):
        if any(stat.legs[i] != stat.legs[perm[i]] for i in range(len(perm))):
            continue
        for syms in itertools.product(*[SLOT_SYMMETRIES[k] for k in stat.legs]):
            m = lambda x: (perm[x[0]], syms[x[0]][x[1]])  # noqa: E731
            pattern = frozenset(frozenset(m(x) for x in pair) for pair in stat.pattern)
            if pattern == stat.pattern:
                perms.add(tuple(pos[m(x)] for x in stat.storage))
    return tuple(sorted(perms))


def vertex_types() -> dict[tuple[str, ...], list[str]]:
    """Interaction vertices: first-order statistics grouped by their sorted leg kinds."""
    out: dict[tuple[str, ...], list[str]] = {}
    for s in STATISTICS.values():
        if s.order == 1:
            out.setdefault(tuple(sorted(s.legs, key=_kind_order)), []).append(s.name)
    return out


def _kind_order(k: str) -> int:
    return list(SLOTS).index(k)


def identify(kinds: tuple[str, ...], pattern: frozenset, order: int):
    """The statistic whose component on legs ``kinds`` has ``pattern``: (Statistic, storage) or None."""
    for stat in STATISTICS.values():
        if stat.order != order:
            continue
        for pat, storage in images(stat, kinds):
            if pat == pattern:
                return stat, storage
    return None
