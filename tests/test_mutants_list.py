"""The mutants tool's own behaviour (no mutant of the catalogue is run here;
tools/mutants.py does that, and refuses a stale mutant when it runs): a
mutant whose original text is not in its file exactly once is refused
loudly, one that applies is applied for the block and then restored, every
mutant of tests/dev/mutants/catalogue.py changes something under a name
of its own and names killer tests that exist, and only a failing test counts
as a kill."""
import os

import pytest

from tests.dev.mutants.catalogue import MUTANTS, Mutant
from tests.dev.mutants.runner import judge
from tests.dev.mutants.tree import StaleMutant, check_applies, mutated

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SYNTHETIC = Mutant("synthetic-sign", "pkg/code.py", "return a + b", "return a - b",
                   "the sum made a difference", ("tests/test_x.py",))


def read(rel):
    with open(os.path.join(REPO, rel)) as f:
        return f.read()


def test_every_mutant_changes_its_text_under_a_name_of_its_own():
    assert MUTANTS
    assert len({m.name for m in MUTANTS}) == len(MUTANTS)
    for m in MUTANTS:
        assert m.original and m.original != m.replacement, m.name


@pytest.mark.parametrize("text, count", [("def f(a, b):\n    return a * b\n", 0),
                                         ("return a + b\nreturn a + b\n", 2)])
def test_a_stale_mutant_fails_loudly(text, count):
    with pytest.raises(StaleMutant) as err:
        check_applies(text, SYNTHETIC)
    assert SYNTHETIC.name in str(err.value) and f"{count} times" in str(err.value)
    assert SYNTHETIC.file in str(err.value)


def test_a_mutant_is_applied_for_the_block_and_restored(tmp_path):
    code = tmp_path / "pkg" / "code.py"
    code.parent.mkdir()
    text = "def f(a, b):\n    return a + b\n"
    code.write_text(text)
    check_applies(text, SYNTHETIC)  # once: no error
    with mutated(str(tmp_path), SYNTHETIC) as path:
        assert path == str(code)
        assert code.read_text() == "def f(a, b):\n    return a - b\n"
    assert code.read_text() == text
    with pytest.raises(RuntimeError):
        with mutated(str(tmp_path), SYNTHETIC):
            raise RuntimeError("a failing run")
    assert code.read_text() == text


def test_a_stale_mutant_leaves_its_file_untouched(tmp_path):
    code = tmp_path / "pkg" / "code.py"
    code.parent.mkdir()
    code.write_text("return a + b\nreturn a + b\n")
    with pytest.raises(StaleMutant):
        with mutated(str(tmp_path), SYNTHETIC):
            raise AssertionError("a stale mutant was applied")
    assert code.read_text() == "return a + b\nreturn a + b\n"


def test_every_killer_is_a_test_file_or_test_that_exists():
    for m in MUTANTS:
        assert m.killers, m.name
        for node in m.killers:
            path, _, test = node.partition("::")
            assert os.path.isfile(os.path.join(REPO, path)), f"{m.name}: {path}"
            assert not test or f"def {test.split('[')[0]}(" in read(path), f"{m.name}: {node}"


def test_only_a_failing_test_counts_as_a_kill():
    assert judge(1, "FAILED tests/test_x.py::test_y - AssertionError") == "killed"
    assert judge(0, "3 passed") == "passed"
    assert judge(5, "no tests ran").startswith("error")
    assert judge(4, "ERROR: file or directory not found: tests/nope.py").startswith("error")
