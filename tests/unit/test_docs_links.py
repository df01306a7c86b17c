"""The documentation holds together: every relative Markdown link in README.md and docs/*.md (and the demo model's
card) points to a file that exists, and to a heading that exists when it names one; the README stays a short front
door with the two commands; the docs describe the software, not how it was built."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = sorted([REPO / "README.md", REPO / "assets" / "demo-vlm" / "README.md", *(REPO / "docs").glob("*.md")])
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def _prose(text: str) -> str:
    """The text outside fenced code blocks and inline code (links there are examples, not links)."""
    text = re.sub(r"^(```|~~~).*?^\1", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped (hyphens and underscores kept), spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    text = re.sub(r"^(```|~~~).*?^\1", "", path.read_text(), flags=re.S | re.M)
    for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, flags=re.M):
        slug = _slug(m.group(1))
        n = seen.get(slug, 0)
        out.add(slug if n == 0 else f"{slug}-{n}")
        seen[slug] = n + 1
    return out


def links(path: Path) -> list[str]:
    return [m.group(1) for m in LINK.finditer(_prose(path.read_text()))]


def test_slug_follows_github():
    assert _slug("Memory: `bench/memory.py`") == "memory-benchmemorypy"
    assert _slug("GPU tests (`tests/gpu`)") == "gpu-tests-testsgpu"
    assert _slug("Exit-layer frontier and the recommended shortcut") == "exit-layer-frontier-and-the-recommended-shortcut"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(doc: Path):
    bad = []
    for target in links(doc):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: ...
            continue
        file_part, _, anchor = target.partition("#")
        dest = (doc.parent / file_part).resolve() if file_part else doc
        if not dest.exists():
            bad.append(f"{target}: {dest.relative_to(REPO) if dest.is_relative_to(REPO) else dest} does not exist")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"{target}: no heading '#{anchor}' in {dest.relative_to(REPO)}")
    assert not bad, f"broken links in {doc.relative_to(REPO)}:\n" + "\n".join(bad)


def test_docs_have_links_to_check():
    readme = links(REPO / "README.md")
    for needed in ("docs/method.md", "docs/results.md", "docs/benchmarks.md", "docs/development.md", "docs/img/"):
        assert any(t.startswith(needed) for t in readme), f"README.md does not link {needed}"


def test_readme_is_a_short_front_door_with_the_two_commands():
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) < 160
    assert "bash run.sh app" in text and "bash run.sh test" in text
    first_screen = "\n".join(text.splitlines()[:25])
    assert "bash run.sh app" in first_screen and "bash run.sh test" in first_screen
    run_sh = (REPO / "run.sh").read_text()
    assert re.search(r"^\s*app\)", run_sh, re.M) and re.search(r"^\s*test\)", run_sh, re.M)


def test_method_document_is_the_projects_own():
    """Docs and code cite docs/method.md, never the team's shared copy."""
    offenders = []
    for path in [*DOCS, *REPO.glob("sn_core/**/*.py"), *REPO.glob("app_pages/*.py"), *REPO.glob("bench/*.py"),
                 REPO / "app.py"]:
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"shared[/ ]docs|\.\./shared|method-choices\.md", line):
                offenders.append(f"{path.relative_to(REPO)}:{i}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
    assert (REPO / "docs" / "method.md").exists()


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_docs_state_the_software_not_how_it_was_built(doc: Path):
    hits = [line.strip() for line in doc.read_text().splitlines()
            if re.search(r"session [0-9]|earlier session|was lent|lent (an? )?(gpu|machine|h200)|honestly|device time"
                         r"|did not fit", line, re.I)]
    assert not hits, f"{doc.relative_to(REPO)}:\n" + "\n".join(hits)
