"""A copy of the working tree to mutate, and one mutant applied to it."""
import os
import shutil
import subprocess
from contextlib import contextmanager


class StaleMutant(Exception):
    """A mutant whose original text is not in its file exactly once."""


def tracked_files(repo: str):
    """The files git knows of (tracked, or untracked and not ignored): the
    tree as it would be committed, without .venv, outputs and caches."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=repo, capture_output=True, text=True, check=True).stdout
    return [p for p in out.split("\0") if p and os.path.isfile(os.path.join(repo, p))]


def copy_tree(repo: str, dest: str) -> str:
    """Copy the repository's files into `dest`, with a link to its .venv."""
    for rel in tracked_files(repo):
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.join(repo, rel), target)
    venv = os.path.join(repo, ".venv")
    if os.path.exists(venv):
        os.symlink(os.path.realpath(venv), os.path.join(dest, ".venv"))
    return dest


def check_applies(text: str, mutant) -> None:
    count = text.count(mutant.original)
    if count != 1:
        raise StaleMutant(
            f"{mutant.name}: its original text occurs {count} times in {mutant.file} "
            "(expected once); update tests/dev/mutants/catalogue.py")


@contextmanager
def mutated(tree: str, mutant):
    """`mutant` applied to its file under `tree` for the block, then restored."""
    path = os.path.join(tree, mutant.file)
    with open(path) as f:
        original = f.read()
    check_applies(original, mutant)
    with open(path, "w") as f:
        f.write(original.replace(mutant.original, mutant.replacement))
    try:
        yield path
    finally:
        with open(path, "w") as f:
            f.write(original)
