"""The shell commands that README.md and docs/*.md tell a user to run, read
out of their ```bash blocks and their inline code, for tests/test_docs.py.

A command is one line of a block (backslash continuations joined, the
comment after `#` dropped) or an inline code span that starts like one
(`bash scripts/...`, `python ...`, `make ...`, with optional VAR=value
settings in front). `export A=1 B=2` lines set the environment of the
commands after them in their block; a `for x in a b; do ...; done` loop
(on one line or several) is its body for the first value.
"""
import glob
import os
import re
import shlex
from typing import NamedTuple

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STARTS = ("bash scripts/", "python ", "make ", "srun ")
SETTING = re.compile(r"^[A-Z_][A-Z0-9_]*=")


class Command(NamedTuple):
    where: str   # file:line
    env: dict    # VAR=value settings in front of it and exported before it
    args: list   # the command's words, settings removed


def documents():
    return [os.path.join(REPO, "README.md"), *sorted(glob.glob(os.path.join(REPO, "docs", "*.md")))]


def split_settings(words, env):
    env = dict(env)
    while words and SETTING.match(words[0]):
        name, value = words.pop(0).split("=", 1)
        env[name] = value
    return env, words


def parse(text, where, env):
    """Command of one shell line, or None (a blank line, an export)."""
    text = text.split(" #")[0].strip() if not text.startswith("#") else ""
    loop = re.fullmatch(r"for (\w+) in ([^;]+); do (.+); done", text)
    if loop:
        first = loop.group(2).split()[0]
        text = loop.group(3).replace("$" + loop.group(1), first)
    if not text:
        return None
    words = shlex.split(text)
    if words[0] == "export":
        env.update(split_settings(words[1:], {})[0])
        return None
    settings, words = split_settings(words, env)
    if not words:  # RUN=... alone sets a shell variable for the lines after it
        env.update(settings)
        return None
    return Command(where, settings, words)


def block_commands(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for match in re.finditer(r"^ *```bash\n(.*?)^ *```", text, re.M | re.S):
        first_line = text[:match.start()].count("\n") + 2
        env, loop = {}, None
        lines = match.group(1).replace("\\\n", " ").splitlines()
        for offset, line in enumerate(lines):
            line = line.strip()
            head = re.fullmatch(r"for (\w+) in ([^;]+); do", line)
            if head:  # a loop over lines: its body for the first value
                loop = ("$" + head.group(1), head.group(2).split()[0])
                continue
            if line == "done":
                loop = None
                continue
            if loop:
                line = line.replace(*loop)
            command = parse(line, f"{os.path.relpath(path, REPO)}:{first_line + offset}", env)
            if command:
                yield command


def inline_commands(path):
    with open(path, encoding="utf-8") as f:
        text = re.sub(r"^ *```.*?^ *```", "", f.read(), flags=re.M | re.S)
    for match in re.finditer(r"`([^`]+)`", text):
        span = " ".join(match.group(1).split())
        bare = " ".join(w for w in span.split() if not SETTING.match(w))
        if bare.startswith(STARTS) and "..." not in span and "<" not in span:
            line = text[:match.start()].count("\n") + 1
            command = parse(span, f"{os.path.relpath(path, REPO)}:~{line}", {})
            if command:
                yield command


def all_commands():
    for path in documents():
        yield from block_commands(path)
        yield from inline_commands(path)
