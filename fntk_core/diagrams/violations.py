"""The Feynman rules a diagram can break, as data: an id, a title and one line each.

``check_all`` reports every :class:`RuleViolation`; ``translate`` raises the first
as a :class:`~fntk_core.diagrams.model.RuleError`.  Each violation names the
offending elements (node or edge ids), so that an editor can highlight them.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Rule(StrEnum):
    """A Feynman rule; the value is its stable id (used in files, messages and the CLI)."""

    def __new__(cls, value: str, title: str, explanation: str):
        obj = str.__new__(cls, value)
        obj._value_ = value
        obj.title = title  # shadows str.title on purpose: the contract names it so
        obj.explanation = explanation
        return obj

    STRUCTURE = ("structure", "Structure",
                 "node kinds, edge types and the kinds they join are known, indices are in range")
    LEG = ("leg", "External leg", "an external leg has a known kind and one sample and neural label per index")
    BRANCH = ("branch", "Forward-equation branch", "an external leg takes one branch of its forward equation")
    LEG_SLOTS = ("leg-slots", "Contracted indices", "every neural index of an external leg is contracted exactly once")
    CUBIC = ("cubic", "Cubic vertex",
             "a W vertex joins two W-slots; own, omega and bias vertices join a pair the branch contracts")
    CUBIC_BLOB = ("cubic-blob", "Neuron of a cubic vertex",
                  "a W, own or omega vertex sits in exactly one blob; a bias vertex in none")
    LINE = ("line", "Internal line",
            "an internal line is opened by its leg's branch and ends where that branch says")
    BLOB_EMPTY = ("blob-empty", "Empty blob", "a blob holds at least one cubic vertex (it is a neuron)")
    VERTEX = ("vertex", "Interaction vertex",
              "an interaction vertex is made of Kronecker pairs of two indices each and takes whole lines")
    VERTEX_PATTERN = ("vertex-pattern", "Vertex pattern",
                      "the vertex's Kronecker pattern is a known tensor, and the one it says it is")
    KRONECKER = ("kronecker", "Kronecker pair", "both indices of a vertex pair sit on the same neuron (blob)")
    MEAN_LINE = ("mean-line", "Line at its mean",
                 "an NTK line that no vertex touches has its mean only on one neuron (both ends in one blob)")
    OMEGA = ("omega", "Omega vertex",
             "an NTK leg contracted with itself at its mean is the Omega vertex, not W plus a line")
    DNTK_MEAN = ("dntk-mean", "dNTK line without vertex",
                 "a dNTK or ddNTK line has no O(1) mean: it must end on an interaction vertex")
    CONNECTED = ("connected", "Connected",
                 "the diagram is connected (disconnected pieces cancel in connected statistics)")
    ORDER = ("order", "Order in 1/n", "at most O(1/n): one interaction vertex, or none and one blob")
    STATISTIC = ("statistic", "Known statistic",
                 "the external legs with their Kronecker pattern are a statistic fntk knows")


@dataclass(frozen=True)
class RuleViolation:
    """One broken rule: which, where (node/edge ids, the main offender first), and what is wrong."""

    rule: Rule
    elements: tuple[str, ...]
    message: str

    def __str__(self) -> str:
        where = f"{self.elements[0]}: " if self.elements else ""
        return f"{where}{self.message} [rule {self.rule.value}]"

    def to_dict(self) -> dict:
        return {"rule": self.rule.value, "title": self.rule.title, "elements": list(self.elements),
                "message": self.message}
