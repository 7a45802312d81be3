"""The mutant list cannot go stale silently: every mutant of
tests/dev/mutants/catalogue.py still finds its original text exactly once
in its file, names killer tests that exist, and is listed in docs/TESTING.md
(no mutant is run here; tools/mutants.py does that)."""
import os

from tests.dev.mutants.catalogue import MUTANTS
from tests.dev.mutants.runner import judge
from tests.dev.mutants.tree import StaleMutant, check_applies

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read(rel):
    with open(os.path.join(REPO, rel)) as f:
        return f.read()


def test_every_mutants_original_text_occurs_once_in_its_file():
    assert len(MUTANTS) >= 20
    assert len({m.name for m in MUTANTS}) == len(MUTANTS)
    for m in MUTANTS:
        assert m.original != m.replacement, m.name
        check_applies(read(m.file), m)


def test_a_stale_mutant_fails_loudly():
    m = MUTANTS[0]
    try:
        check_applies(read(m.file).replace(m.original, ""), m)
    except StaleMutant as err:
        assert m.name in str(err) and "0 times" in str(err)
    else:
        raise AssertionError("a mutant whose text is gone was not refused")


def test_every_killer_is_a_test_file_or_test_that_exists():
    for m in MUTANTS:
        assert m.killers, m.name
        for node in m.killers:
            path, _, test = node.partition("::")
            assert os.path.isfile(os.path.join(REPO, path)), f"{m.name}: {path}"
            assert not test or f"def {test.split('[')[0]}(" in read(path), f"{m.name}: {node}"


def test_docs_testing_lists_every_mutant():
    docs = read("docs/TESTING.md")
    missing = [m.name for m in MUTANTS if f"| `{m.name}` |" not in docs]
    assert not missing, f"docs/TESTING.md's mutant table lacks {missing}"


def test_only_a_failing_test_counts_as_a_kill():
    assert judge(1, "FAILED tests/test_x.py::test_y - AssertionError") == "killed"
    assert judge(0, "3 passed") == "passed"
    assert judge(5, "no tests ran").startswith("error")
    assert judge(4, "ERROR: file or directory not found: tests/nope.py").startswith("error")
