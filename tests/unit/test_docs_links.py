"""The docs stay true to the tree: links resolve, every variable and module is documented."""
from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
INDEX = DOCS / "README.md"
CONFIGURATION = DOCS / "configuration.md"
PAGES = [*sorted(DOCS.glob("*.md")), ROOT / "README.md", ROOT / "schemas" / "README.md"]

FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
VARIABLE = re.compile(r"\bFUSEBOX_[A-Z0-9_]*[A-Z0-9]\b")
DOCUMENTED_VARIABLE = re.compile(r"^\| `((?:FUSEBOX_[A-Z0-9_]+)|REDIS_URL)` \|", re.M)

CODE_ROOTS = ("fusebox", "services", "bench", "deploy", "tests")
CODE_SUFFIXES = {".py", ".sh", ".yaml", ".yml", ".toml"}
CODE_NAMES = {"Makefile", "Dockerfile"}
MAPPED_ROOTS = ("fusebox", "services", "bench", "deploy")
SKIPPED_PARTS = {".git", ".venv", ".run", ".hypothesis", ".pytest_cache", "__pycache__", "node_modules", "build", "dist"}


def prose(text: str) -> str:
    """Markdown without its fenced code blocks, where links are not links."""
    return FENCE.sub("", text)


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = heading.replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


@cache
def anchors(page: Path) -> frozenset[str]:
    return frozenset(slug(h) for h in HEADING.findall(prose(page.read_text(encoding="utf-8"))))


def links(page: Path) -> list[str]:
    text = INLINE_CODE.sub(lambda m: m.group(0).replace("](", "] ("), prose(page.read_text(encoding="utf-8")))
    return LINK.findall(text)


def is_relative(target: str) -> bool:
    return not re.match(r"^[a-z][a-z0-9+.-]*:", target)


@cache
def tree() -> tuple[Path, ...]:
    """Every file of the working tree that git would track (or every file, without git)."""
    try:
        listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                                capture_output=True, text=True, check=True).stdout.splitlines()
        paths = [ROOT / line for line in listed]
    except (OSError, subprocess.CalledProcessError):
        paths = [p for p in ROOT.rglob("*") if p.is_file()]
    return tuple(sorted(p for p in paths if p.is_file() and not any(
        part in SKIPPED_PARTS or part.endswith(".egg-info") for part in p.relative_to(ROOT).parts)))


def code_files() -> list[Path]:
    return [p for p in tree() if p.relative_to(ROOT).parts[0] in CODE_ROOTS
            and (p.suffix in CODE_SUFFIXES or p.name in CODE_NAMES)] + [ROOT / "Makefile"]


def variables_in_code() -> set[str]:
    found: set[str] = set()
    for path in code_files():
        found |= set(VARIABLE.findall(path.read_text(encoding="utf-8", errors="replace")))
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_of_a_page_resolves_to_a_file_and_heading(page: Path) -> None:
    broken = []
    for target in links(page):
        if not is_relative(target):
            continue
        path_part, _, fragment = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
            broken.append(f"{target}: no heading #{fragment} in {resolved.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)} has broken links: {broken}"


def test_every_fusebox_variable_the_code_reads_is_in_the_configuration_table() -> None:
    documented = set(DOCUMENTED_VARIABLE.findall(CONFIGURATION.read_text(encoding="utf-8")))
    missing = sorted(variables_in_code() - documented)
    assert not missing, f"add these to the table in docs/configuration.md: {missing}"


def test_every_variable_in_the_configuration_table_is_still_read_somewhere() -> None:
    documented = set(DOCUMENTED_VARIABLE.findall(CONFIGURATION.read_text(encoding="utf-8"))) - {"REDIS_URL"}
    gone = sorted(documented - variables_in_code())
    assert not gone, f"docs/configuration.md documents variables no code reads: {gone}"


def test_the_module_map_names_every_module_of_the_tree() -> None:
    linked = {(INDEX.parent / target.partition("#")[0]).resolve() for target in links(INDEX) if is_relative(target)}
    missing = []
    for path in tree():
        relative = path.relative_to(ROOT)
        if relative.parts[0] in MAPPED_ROOTS:
            if path.resolve() not in linked and not linked.intersection(path.resolve().parents):
                missing.append(str(relative))
        elif relative.parts[0] == "tests" and path.suffix == ".py" and path.name != "__init__.py":
            if path.resolve() not in linked and path.parent.resolve() not in linked:
                missing.append(str(relative))
    assert not missing, f"add these to the module map in docs/README.md: {missing}"


def test_the_docs_index_links_every_page_of_the_docs() -> None:
    linked = {(INDEX.parent / target.partition("#")[0]).resolve() for target in links(INDEX) if is_relative(target)}
    unlisted = [page.name for page in sorted(DOCS.glob("*.md")) if page != INDEX and page.resolve() not in linked]
    assert not unlisted, f"add these pages to docs/README.md: {unlisted}"


def test_no_file_cites_a_document_the_repository_does_not_have() -> None:
    original_contract = re.compile(r"\b" + "DES" + r"IGN\b")  # spelt apart so that this file does not cite it
    citing = [str(p.relative_to(ROOT)) for p in tree()
              if p.suffix in {".py", ".md", ".yaml", ".json", ".sql", ".sh", ".toml"}
              and original_contract.search(p.read_text(encoding="utf-8", errors="replace"))]
    assert not citing, f"point these at docs/ instead: {citing}"
