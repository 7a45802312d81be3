"""The documents: docs/METHOD.md holds every section the code cites, the
README is a front page of at most 250 lines, and every link of README.md
and docs/*.md resolves (every command they give: tests/test_doc_commands.py).

Docstrings, configs, scripts and the READMEs cite "docs/METHOD.md section N"
(or "sections N-M", "sections N and M"); a renumbered or missing section
would leave those citations pointing nowhere.
"""
import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METHOD = os.path.join(REPO, "docs", "METHOD.md")
SCANNED = (".py", ".sh", ".yaml", ".md", ".cff")
SKIPPED_DIRS = {".git", "output", "data", "__pycache__", ".pytest_cache", "Dassl.pytorch",
                ".venv"}
CITATION = re.compile(r"METHOD\.md(?:'s)?\)?,?\s+\(?sections?\s+"
                      r"(\d+(?:\s*(?:-|,|and|to)\s*\d+)*)")


def project_files():
    for top, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS]
        for name in files:
            path = os.path.join(top, name)
            if name.endswith(SCANNED) and path not in (METHOD, os.path.abspath(__file__)):
                yield path


def section_numbers(text: str):
    """'2-4' -> 2, 3, 4; '1 and 6' -> 1, 6."""
    numbers = set()
    for part in re.split(r"\s*(?:,|and)\s*", text):
        ends = [int(n) for n in re.split(r"\s*(?:-|to)\s*", part)]
        numbers.update(range(ends[0], ends[-1] + 1))
    return numbers


def cited_sections() -> dict:
    """{section number: ['file:line', ...]} for every citation in the project."""
    cited = {}
    for path in project_files():
        with open(path, encoding="utf-8", errors="replace") as handle:
            # Join wrapped lines so a citation broken over two lines is seen.
            text = handle.read()
        for match in CITATION.finditer(re.sub(r"\s*\n\s*(?:#\s*)?", " ", text)):
            where = os.path.relpath(path, REPO)
            for number in section_numbers(match.group(1)):
                cited.setdefault(number, []).append(where)
    return cited


def method_headings():
    with open(METHOD, encoding="utf-8") as handle:
        return {int(m.group(1)) for m in re.finditer(r"^## (\d+)\. \S", handle.read(), re.M)}


def test_method_document_exists_with_numbered_sections():
    assert os.path.isfile(METHOD)
    assert method_headings() == set(range(1, len(method_headings()) + 1))


def test_every_cited_section_has_a_heading():
    cited = cited_sections()
    assert len(cited) >= 5  # the scan finds the docstrings' citations
    headings = method_headings()
    missing = {n: files for n, files in cited.items() if n not in headings}
    assert not missing, f"cited sections without a heading in docs/METHOD.md: {missing}"


def test_nothing_cites_the_specification_outside_the_repository():
    stale = [os.path.relpath(p, REPO) for p in project_files()
             if "ADU-" + "METHOD.md" in open(p, encoding="utf-8", errors="replace").read()]
    assert not stale


def test_section_numbers_read_ranges_and_lists():
    assert section_numbers("2-4") == {2, 3, 4}
    assert section_numbers("1 and 6") == {1, 6}
    assert cited_sections_of("see docs/METHOD.md section 8.") == {8}
    assert cited_sections_of("(docs/METHOD.md sections 1 and 6)") == {1, 6}
    assert cited_sections_of("docs/METHOD.md (sections 2-4)") == {2, 3, 4}


def cited_sections_of(text: str):
    return {n for m in CITATION.finditer(text) for n in section_numbers(m.group(1))}


ARXIV = re.compile(r"arxiv\.org/abs/(\d{4}\.\d{4,5})")


def test_citation_license_and_readme_agree_on_the_license_and_the_paper():
    """The three files that name the license and the paper name the same ones:
    CITATION.cff (with the keys CFF 1.2 requires) carries the license the
    LICENSE file grants, the copyright holder its software authors, and the
    arXiv paper that README and docs/METHOD.md cite."""
    import yaml

    def read(name):
        with open(os.path.join(REPO, name), encoding="utf-8") as handle:
            return handle.read()

    cff = yaml.safe_load(read("CITATION.cff"))
    assert {"cff-version", "message", "title", "authors"} <= set(cff)
    assert cff["cff-version"].startswith("1.2")
    license_text = read("LICENSE")
    assert license_text.splitlines()[0] == f"{cff['license']} License"
    holders = [a["name"] for a in cff["authors"] if "name" in a]
    assert holders and all(h in license_text for h in holders)
    paper = ARXIV.findall(cff["preferred-citation"]["url"])
    assert len(paper) == 1
    for doc in ("README.md", "docs/METHOD.md"):
        assert set(ARXIV.findall(read(doc))) == set(paper), doc


def test_readme_links_the_documents_it_names():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as handle:
        readme = handle.read()
    for target in ("docs/METHOD.md", "docs/PERFORMANCE.md", "CITATION.cff", "LICENSE"):
        assert f"]({target}" in readme, target
        assert os.path.isfile(os.path.join(REPO, target))
    assert "arxiv.org/abs/2510.08132" in readme


# --- README.md and docs/*.md: length, links, and every command they give ---

README_MAX_LINES = 250
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def markdown_files():
    from doc_commands import documents
    return documents()


def heading_anchors(path):
    """GitHub's anchors of a Markdown file's headings."""
    with open(path, encoding="utf-8") as handle:
        text = re.sub(r"^ *```.*?^ *```", "", handle.read(), flags=re.M | re.S)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
            for h in re.findall(r"^#+ (.+)$", text, re.M)}


def test_the_readme_is_a_front_page():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"
    assert "docs/RELIABILITY.md" in "\n".join(lines)


def test_every_link_of_the_readme_and_docs_resolves():
    broken = []
    for path in markdown_files():
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target):
                continue  # a web address
            file, _, anchor = target.partition("#")
            resolved = os.path.normpath(os.path.join(os.path.dirname(path), file)) if file else path
            where = f"{os.path.relpath(path, REPO)}: {target}"
            if not os.path.exists(resolved):
                broken.append(where)
            elif anchor and resolved.endswith(".md") and anchor not in heading_anchors(resolved):
                broken.append(f"{where} (no such heading)")
    assert not broken, broken


def test_the_link_check_finds_files_and_headings():
    assert "the-whole-suite" in heading_anchors(os.path.join(REPO, "docs", "TESTING.md"))
    assert "install" in heading_anchors(os.path.join(REPO, "README.md"))
    assert LINK.findall("see [a](docs/X.md#y) and [b](https://e.org)") == ["docs/X.md#y",
                                                                          "https://e.org"]


def documents_text():
    paths = [os.path.join(REPO, "README.md")] + sorted(
        os.path.join(REPO, "docs", f) for f in os.listdir(os.path.join(REPO, "docs"))
        if f.endswith(".md"))
    return {os.path.relpath(p, REPO): open(p, encoding="utf-8").read() for p in paths}


def test_no_document_keeps_a_file_hash_that_goes_stale_silently():
    """A sha256 of results.json in the docs changes whenever the file gains a
    field: equality is stated (`cmp`), the hash is not kept (issue 38)."""
    hashes = re.compile(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{8,}\b")
    found = {name: hashes.findall(text) for name, text in documents_text().items()}
    assert {name: h for name, h in found.items() if h} == {}


def test_the_readmes_demo_times_are_in_the_section_it_links():
    readme = documents_text()["README.md"]
    paragraph = readme[readme.index("It trains three runs"):]
    paragraph = paragraph[:paragraph.index("#the-demos-time-and-threads")]
    times = re.findall(r"\b(\d+) s\b", paragraph)
    performance = documents_text()["docs/PERFORMANCE.md"]
    section = performance[performance.index("## The demo's time and threads"):]
    assert times and all(f"| {t} s |" in section for t in times), times
