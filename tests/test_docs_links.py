"""The documentation holds together: every relative link in README.md and docs/*.md reaches an existing file
(and heading, for `page.md#anchor`), the README stays a short front door, and no page names a machine path."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / 'README.md', *sorted((REPO / 'docs').glob('*.md'))]
README_MAX_LINES = 200

# Pages other work is writing now; a link to one of them is accepted only while it does not exist.
# Delete a name here once its page has landed (an existing page is checked in full either way).
ALLOWED_MISSING: set[str] = set()

LINK = re.compile(r'(?<!!)\[[^\]]*\]\(([^()\s]+)\)')
HEADING = re.compile(r'^(#{1,6})\s+(.*?)\s*#*\s*$')
FENCE = re.compile(r'^\s*(```|~~~)')


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks, with inline code spans removed."""
    lines, in_code = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            in_code = not in_code
            continue
        if not in_code:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped (except - and _), spaces to hyphens."""
    text = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', heading).strip().lower()
    text = ''.join(c for c in text if c.isalnum() or c in ' -_')
    return text.replace(' ', '-')


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file, with GitHub's -1, -2 … suffixes for repeated headings."""
    seen: dict[str, int] = {}
    result = set()
    for line in prose_lines(path.read_text(encoding='utf-8')):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        result.add(base if count == 0 else f'{base}-{count}')
    return result


def relative_links(page: Path) -> list[str]:
    links = []
    for line in prose_lines(page.read_text(encoding='utf-8')):
        line = re.sub(r'`[^`]*`', '', line)
        for target in LINK.findall(line):
            if not re.match(r'^[a-z][a-z0-9+.-]*:', target):  # http:, https:, mailto: are not checked
                links.append(target)
    return links


def test_the_documentation_pages_exist() -> None:
    """README.md links into docs/, which holds one page per topic."""
    assert (REPO / 'README.md').is_file()
    assert len(PAGES) > 10, [p.name for p in PAGES]


@pytest.mark.parametrize('page', PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(page: Path) -> None:
    """Each relative link names an existing file (or one of ALLOWED_MISSING while it is missing) and, with
    `#anchor`, a heading of that file; a bare `#anchor` names a heading of the page itself."""
    broken = []
    for link in relative_links(page):
        target, _, anchor = link.partition('#')
        path = (page.parent / target).resolve() if target else page
        name = path.relative_to(REPO).as_posix() if path.is_relative_to(REPO) else str(path)
        if not path.exists():
            if name not in ALLOWED_MISSING:
                broken.append(f'{link}: no file {name}')
            continue
        if anchor and path.suffix == '.md' and anchor not in anchors(path):
            broken.append(f'{link}: no heading #{anchor} in {name}')
    assert not broken, broken


def test_readme_is_a_short_front_door() -> None:
    """README.md stays at most 200 lines; the topics live in docs/."""
    lines = (REPO / 'README.md').read_text(encoding='utf-8').splitlines()
    assert len(lines) <= README_MAX_LINES, f'README.md has {len(lines)} lines (at most {README_MAX_LINES})'


@pytest.mark.parametrize('page', PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_page_names_a_machine_path(page: Path) -> None:
    """Pages show paths relative to the repository or of the target system, never of a developer's machine."""
    text = page.read_text(encoding='utf-8')
    found = sorted(set(re.findall(r'(?<![\w.~}])/(?:work|tmp)/[\w./-]*', text)))
    assert not found, found


def test_slug_follows_githubs_rules() -> None:
    """The anchor rule the link check relies on."""
    assert slug('Compatibility with learning_loop_node 0.27.0 (`make test-compat`)') == \
        'compatibility-with-learning_loop_node-0270-make-test-compat'
    assert slug('`POST /detect` — inference on one image') == 'post-detect--inference-on-one-image'
    assert slug('Pruning (`KEEP_MODELS`, default 3)') == 'pruning-keep_models-default-3'
