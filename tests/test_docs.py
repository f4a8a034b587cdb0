"""The documentation stays inside the repository and its cross-references resolve.

README.md and docs/*.md may link only to files of this repository (and to anchors that
exist in them); code and docs cite the theory page as "docs/theory.md §N", and every
such N must be a section of docs/theory.md.  The section numbers are a contract with
those citations, so their titles are pinned too.
"""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md"))
MARKDOWN = [ROOT / "README.md", *DOCS]
THEORY = ROOT / "docs" / "theory.md"
CODE_DIRS = ("fntk_core", "app", "tests", "benchmarks")

_FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\[[^\]\n]*\]\(\s*([^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$", re.MULTILINE)
# "docs/theory.md §3", "docs/theory.md §2-3", "docs/theory.md §2 and §4", "docs/theory.md §8(b)"
_CITATION = re.compile(r"docs/theory\.md (§\d+(?:(?:[-–]| and §|, §)\d+)*)")
# a citation of the theory page that does not go through docs/ (the team's notes, or a bare name)
_STALE = re.compile(r"(?<![\w/])(?:shared/)?theory\.md|\.\./shared/|/work/")


def _prose(text: str) -> str:
    """Markdown without fenced blocks and inline code: what is left holds the real links."""
    return _INLINE_CODE.sub("", _FENCE.sub("", text))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading)
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for _, title in _HEADING.findall(_FENCE.sub("", path.read_text(encoding="utf-8"))):
        base = _slug(title)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def _links(path: Path) -> list[str]:
    return _LINK.findall(_prose(path.read_text(encoding="utf-8")))


def _theory_sections() -> dict[int, str]:
    return {int(m.group(1)): m.group(2) for m in re.finditer(r"^## (\d+)\. (.+)$", THEORY.read_text(encoding="utf-8"), re.MULTILINE)}


def test_documents_exist():
    for name in ("theory.md", "formats.md", "ddntk.md"):
        assert (ROOT / "docs" / name).is_file(), name


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: p.name)
def test_links_point_to_files_in_the_repository(path):
    links = _links(path)
    if path.name in ("README.md", "theory.md", "formats.md"):
        assert links, f"{path.name}: no links found (is the link pattern still right?)"
    for target in links:
        if re.match(r"https?://", target):
            continue  # a web page, not a file
        assert not re.match(r"[a-z]+:", target), f"{path.name}: {target}: only relative links to files here"
        file_part, _, fragment = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        assert dest.is_relative_to(ROOT), f"{path.name}: {target} leaves the repository"
        assert dest.exists(), f"{path.name}: {target}: no such file"
        if fragment and dest.suffix == ".md":
            assert fragment in _anchors(dest), f"{path.name}: {target}: no heading with anchor #{fragment}"


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: p.name)
def test_documents_do_not_mention_files_outside_the_repository(path):
    text = path.read_text(encoding="utf-8")
    bad = [m.group(0) for m in _STALE.finditer(text) if not text[: m.start()].endswith("docs/")]
    # "theory.md" written inside docs/ itself is a sibling link text, fine; outside paths are not
    bad = [b for b in bad if b != "theory.md" or path.parent != ROOT / "docs"]
    assert not bad, f"{path.name} mentions {bad}"


def test_theory_keeps_its_section_numbers():
    """The code cites these numbers; renumbering would silently break every citation."""
    want = {1: "network", 2: "statistics", 3: "recursions", 4: "feynman", 5: "closed forms",
            6: "criticality", 7: "studies", 8: "checked", 9: "kinks"}
    got = _theory_sections()
    for n, word in want.items():
        assert n in got and word in got[n].lower(), (n, got.get(n))


def _code_files():
    """Python files that may cite the theory page (this test file excepted: it holds patterns)."""
    me = Path(__file__).resolve()
    for d in CODE_DIRS:
        yield from (p for p in sorted((ROOT / d).rglob("*.py")) if ".venv" not in p.parts and p.resolve() != me)


def test_every_citation_names_an_existing_section():
    sections = set(_theory_sections())
    found = 0
    for path in [*_code_files(), *MARKDOWN]:
        for m in _CITATION.finditer(path.read_text(encoding="utf-8")):
            found += 1
            numbers = [int(x) for x in re.findall(r"\d+", m.group(1))]
            if re.search(r"[-–]", m.group(1)):
                numbers = list(range(numbers[0], numbers[-1] + 1))
            missing = [n for n in numbers if n not in sections]
            assert not missing, f"{path.relative_to(ROOT)}: '{m.group(0)}' cites missing section(s) {missing}"
    assert found, "no citations found (is the citation pattern still right?)"


def test_code_cites_the_theory_page_in_the_repository():
    """Docstrings and --help point users at docs/theory.md, never at a page they do not have."""
    for path in _code_files():
        text = path.read_text(encoding="utf-8")
        for m in _STALE.finditer(text):
            if text[: m.start()].endswith("docs/"):
                continue
            line = text.count("\n", 0, m.start()) + 1
            pytest.fail(f"{path.relative_to(ROOT)}:{line}: cites {m.group(0)!r}; cite 'docs/theory.md §N'")


def test_slug_matches_github():
    assert _slug("7. The paper's three numerical studies") == "7-the-papers-three-numerical-studies"
    assert _slug("Several diagrams: `fntk diagrams --json`") == "several-diagrams-fntk-diagrams---json"
    assert _slug("9. Kinks: what the dNTK terms mean for ReLU") == "9-kinks-what-the-dntk-terms-mean-for-relu"
