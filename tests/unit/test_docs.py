"""The README and docs/: short enough to read, links that lead somewhere, a map of the code that names every module."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
HEADING = re.compile(r"^#{1,6} (.+)$", re.MULTILINE)
LINK = re.compile(r"\]\(([^)\s]+)\)")
MAPPED = ("layers", "functions", "local")  # the folders whose modules the map names


def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings (outside code blocks): lower case, punctuation dropped, spaces to -."""
    seen: Counter[str] = Counter()
    anchors = set()
    for heading in HEADING.findall(FENCE.sub("", markdown)):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(f"{slug}-{seen[slug]}" if seen[slug] else slug)
        seen[slug] += 1
    return anchors


def leads_somewhere(document: Path, target: str) -> bool:
    path, _, anchor = target.partition("#")
    linked = (document.parent / path).resolve() if path else document
    if not linked.exists():
        return False
    return not anchor or linked.suffix != ".md" or anchor in github_anchors(linked.read_text())


def broken_links(document: Path) -> list[str]:
    targets = LINK.findall(FENCE.sub("", document.read_text()))
    return [
        target
        for target in targets
        if not target.startswith(("http://", "https://", "mailto:")) and not leads_somewhere(document, target)
    ]


def test_the_readme_stays_short() -> None:
    # Given the README
    # When its lines are counted
    lines = (REPO / "README.md").read_text().count("\n")
    # Then a newcomer reads it in a few minutes: at most 250 lines, the rest in docs/
    assert lines <= 250


def test_every_link_of_the_docs_leads_to_a_file_and_heading_that_exist() -> None:
    # Given the README and every page of docs/
    # When their relative links (file and #anchor) are followed
    broken = {document.name: broken_links(document) for document in DOCUMENTS}
    # Then each one reaches a file, and a heading of it when it names one
    assert {name: links for name, links in broken.items() if links} == {}


def test_the_map_of_the_code_names_every_module() -> None:
    # Given docs/architecture.md, and every module of the layer, the functions and make serve
    architecture = (REPO / "docs" / "architecture.md").read_text()
    modules = [
        path
        for folder in MAPPED
        for path in sorted((REPO / folder).rglob("*.py"))
        if path.name != "__init__.py" and "__pycache__" not in path.parts
    ]
    # When each one's file name is looked for there
    unnamed = [str(path.relative_to(REPO)) for path in modules if path.name not in architecture]
    # Then none is missing: a newcomer finds each concern from the map
    assert modules and unnamed == []
