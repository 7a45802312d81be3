"""The package layout holds: the method's modules, the run folder's code and
the Dassl-free parts of the engine import without Dassl (the run folder's
without the engine too), importing the package changes no global warnings
filter, trainers/ holds only registered trainers, and no production code
carries a fault-injection hook; tools/ are entry points over the library
(experiments/): one sys.path edit each, no tool imported by another; the
research path (train.py, trainers/, datasets/, configs/) imports no harness
(experiments/, tools/) and no test, the harness calls train.py's functions
instead of importing it for its side effects, no two packages of
experiments/ import each other, and only tests/ and tools/ import the
development package tests/dev/ (fault injection, the mutants)."""
import ast
import json
import os
import re

import pytest

from fresh_python import BLOCK_DASSL, REPO, assert_prints_ok, run_python


def module_names(folder: str):
    package = folder.replace("/", ".")
    return sorted(f"{package}.{f[:-3]}" for f in os.listdir(os.path.join(REPO, folder))
                  if f.endswith(".py") and f != "__init__.py")


def test_every_method_module_imports_with_dassl_blocked():
    modules = module_names("trainers/modules")
    assert {"trainers.modules.losses", "trainers.modules.adu_model",
            "trainers.modules.adu_model"} <= set(modules)
    dassl_free_engine = ["trainers.engine.lr_scheduler", "trainers.engine.precision",
                         "trainers.engine.training_step", "trainers.engine.loss_log",
                         "trainers.engine.progress"]
    code = BLOCK_DASSL + "".join(f"import {m}\n"
                                 for m in modules + run_modules() + dassl_free_engine) + (
        "assert not any(m == 'dassl' or m.startswith('dassl.') for m in sys.modules)\n"
        "print('ok')\n")
    assert_prints_ok(code)


def run_modules():
    """The run folder's modules (train.py's config path is train.py's own:
    test_the_command_line_resolves_without_torch_or_dassls_engine)."""
    modules = module_names("trainers/run")
    assert {"trainers.run.checkpoint", "trainers.run.files", "trainers.run.fingerprint",
            "trainers.run.run_info"} <= set(modules)
    return modules


def test_the_command_line_resolves_without_torch_or_dassls_engine():
    """train.py's config (its own, the launcher's skip test) needs Dassl's
    config defaults only: yacs, no torch."""
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'torch' or name.startswith(('dassl.engine', "
        "'dassl.data', 'dassl.modeling')):\n"
        "            raise ImportError(f'blocked: {name}')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from train import parse_args, setup_cfg\n"
        "cfg = setup_cfg(parse_args(['--trainer', 'ADU', 'OPTIM.MAX_EPOCH', '3']), quiet=True)\n"
        "assert cfg.OPTIM.MAX_EPOCH == 3 and cfg.TRAINER.ADU.DDL_GAMMA == 30.0\n"
        "print('ok')\n")
    assert_prints_ok(code)


def test_the_run_folders_code_imports_without_dassl_and_without_the_engine():
    # The last import guards the check: importing the engine shows up.
    code = BLOCK_DASSL + "".join(f"import {m}\n" for m in run_modules()) + (
        "engine = lambda: [m for m in sys.modules if m.startswith('trainers.engine')]\n"
        "assert not engine(), engine()\n"
        "import trainers.engine.precision\n"
        "assert engine()\n"
        "print('ok')\n")
    assert_prints_ok(code)


def test_the_block_is_real():
    # Guards the test above: with the block, importing Dassl fails.
    result = run_python(BLOCK_DASSL + "import dassl\n")
    assert result.returncode != 0
    assert "dassl is blocked" in result.stderr


# One fresh Python for two checks (its imports cost seconds): while the
# package is imported and every trainer and dataset registered, it records
# each warnings filter that code of this repository adds (one still in force
# afterwards is global: a filter set inside `warnings.catch_warnings()` is
# gone when the block ends), and it checks the trainer files: any file dropped
# into trainers/ is a trainer file unless the package names it in
# NOT_TRAINERS; each trainer file registers at least one class in Dassl's
# registry when imported, the other modules register none.
REGISTRATION_PROBE = f"""import importlib, json, os, sys, warnings
repo = {REPO!r}
added, results = [], {{}}
def recording(original):
    def add(*args, **kwargs):
        original(*args, **kwargs)
        caller = sys._getframe(1).f_code.co_filename
        if caller.startswith(repo) and "site-packages" not in caller:  # not .venv
            added.append((caller, warnings.filters[0]))
    return add
warnings.filterwarnings = recording(warnings.filterwarnings)
warnings.simplefilter = recording(warnings.simplefilter)
import trainers
from dassl.engine import TRAINER_REGISTRY
try:
    folder = os.path.dirname(trainers.__file__)
    modules = sorted(f[:-3] for f in os.listdir(folder) if f.endswith('.py'))
    files = trainers.trainer_files()
    assert files, 'no trainer files'
    assert sorted(set(modules) - set(files)) == sorted(trainers.NOT_TRAINERS), (modules, files)
    dassls_own = set(TRAINER_REGISTRY.registered_names())
    for name in trainers.NOT_TRAINERS:
        importlib.import_module('trainers' if name == '__init__' else 'trainers.' + name)
    assert set(TRAINER_REGISTRY.registered_names()) == dassls_own
    trainers.register_trainers()
    assert not trainers.BROKEN, trainers.BROKEN
    registered = {{cls.__module__ for cls in TRAINER_REGISTRY._obj_map.values()}}
    missing = [n for n in files if 'trainers.' + n not in registered]
    assert not missing, ('trainer files that register no trainer', missing)
    results['trainers'] = 'ok'
except AssertionError as err:
    results['trainers'] = repr(err)
import trainers.modules.clip_loading, trainers.run.run_info, trainers.engine.evaluation, datasets
trainers.register_trainers()
datasets.register_datasets()
try:
    assert added, 'clip_loading silences its import warning: the recorder saw nothing'
    left = [(c, str(f)) for c, f in added if any(f is g for g in warnings.filters)]
    assert not left, left
    results['filters'] = 'ok'
except AssertionError as err:
    results['filters'] = repr(err)
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def registration_probe() -> dict:
    result = run_python(REGISTRATION_PROBE)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_importing_the_package_installs_no_global_warnings_filter(registration_probe):
    assert registration_probe["filters"] == "ok"


def test_every_trainer_file_registers_a_trainer_and_the_others_are_not_trainers(
        registration_probe):
    assert registration_probe["trainers"] == "ok"


# An import of Dassl, of the package (trainers...) or of a parent package
# (from ..), but for trainers.config: the keys the project adds (yacs only),
# from which the fingerprint derives the keys it leaves out at their default.
PACKAGE_IMPORT = re.compile(
    r"^\s*(?:from|import)\s+(?:dassl|trainers(?!\.config\b)|\.\.)", re.M)


def test_the_run_folders_code_imports_nothing_of_the_package_or_dassl():
    assert PACKAGE_IMPORT.search("from ..engine import base\n")  # the pattern is real
    assert PACKAGE_IMPORT.search("from trainers.config_checks import x\n")
    assert not PACKAGE_IMPORT.search("from trainers.config import extend_cfg\n")
    for name in run_modules():
        path = os.path.join(REPO, *name.split(".")) + ".py"
        with open(path) as f:
            assert not PACKAGE_IMPORT.search(f.read()), path


def production_files():
    yield os.path.join(REPO, "train.py")
    for top, _, files in os.walk(os.path.join(REPO, "trainers")):
        yield from (os.path.join(top, f) for f in files if f.endswith(".py"))


def test_no_production_code_carries_a_fault_hook_or_imports_the_experiments():
    # Fault injection wraps the seams from outside (tests/dev/faults/).
    forbidden = re.compile(r"\bfault|^\s*(?:from|import)\s+experiments", re.M | re.I)
    assert forbidden.search("from . import fault\n")  # the pattern is real
    assert not forbidden.search("the default step")
    for path in production_files():
        with open(path) as f:
            assert not forbidden.search(f.read()), path


def test_modules_never_import_the_engine_or_the_trainers():
    for name in module_names("trainers/modules"):
        path = os.path.join(REPO, *name.split(".")) + ".py"
        with open(path) as f:
            text = f.read()
        for forbidden in ("from ..", "import trainers", "from trainers", "dassl"):
            assert forbidden not in text, f"{path}: {forbidden}"


# ----- tools/ are entry points over experiments/ ---------------------------------------

def python_files(folder: str):
    for base, _, files in os.walk(os.path.join(REPO, folder)):
        yield from sorted(os.path.join(base, f) for f in files if f.endswith(".py"))


def parsed(path: str) -> ast.Module:
    with open(path) as f:
        return ast.parse(f.read(), path)


def is_sys_path(node) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "path"
            and isinstance(node.value, ast.Name) and node.value.id == "sys")


def sys_path_edits(tree) -> list:
    """Every statement that changes sys.path: a call of one of its methods, an
    assignment to it or to a slice of it, an augmented assignment."""
    edits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and is_sys_path(node.func.value):
            edits.append(node)
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, ast.AugAssign) else [])
        for target in targets:
            if is_sys_path(target) or (isinstance(target, ast.Subscript)
                                       and is_sys_path(target.value)):
                edits.append(node)
    return edits


def is_root_insert(node) -> bool:
    """sys.path.insert(0, <the repository root: two dirname()s of this file>)."""
    if not (isinstance(node, ast.Call) and node.func.attr == "insert" and len(node.args) == 2
            and isinstance(node.args[0], ast.Constant) and node.args[0].value == 0):
        return False
    root = node.args[1]
    return isinstance(root, ast.Name) and root.id == "REPO" or (
        ast.unparse(root).count("dirname(") == 2 and "abspath(__file__)" in ast.unparse(root))


def test_only_the_tools_edit_sys_path_and_each_once_to_put_the_root_first():
    tools = list(python_files("tools"))
    assert tools
    for path in tools:
        edits = sys_path_edits(parsed(path))
        assert len(edits) == 1 and is_root_insert(edits[0]), (
            f"{path}: {[ast.unparse(e) for e in edits]}")
    for path in python_files("experiments"):
        edits = sys_path_edits(parsed(path))
        assert not edits, f"{path} edits sys.path: {[ast.unparse(e) for e in edits]}"


def imported_modules(tree) -> set:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_no_tool_imports_another_tool_and_the_library_imports_no_tool():
    tools = {os.path.basename(p)[:-3] for p in python_files("tools")}
    for folder in ("tools", "experiments"):
        for path in python_files(folder):
            imported = imported_modules(parsed(path))
            siblings = {m for m in imported
                        if m.split(".")[0] in tools or m == "tools" or m.startswith("tools.")}
            assert not siblings, f"{path} imports {sorted(siblings)}"


def test_every_tool_is_an_entry_point():
    for path in python_files("tools"):
        with open(path) as f:
            text = f.read()
        assert text.startswith('"""') and "def main(" in text, path
        assert 'if __name__ == "__main__":' in text, path


# ----- the research path apart from the harness ----------------------------------------
# The research path (train.py, trainers/, datasets/, configs/) imports nothing of the
# harness (experiments/, tools/) or of the tests; the harness calls train.py's functions,
# never imports it for what importing does; no two packages of experiments/ import each
# other; the development machinery (tests/dev/) is imported by tests/ and tools/ only.

HARNESS = ("experiments", "tools", "tests")


def absolute_imports(tree, module: str) -> list:
    """(the imported module's dotted name, line) of every import in `tree`,
    the relative ones resolved against `module` (the file's own dotted name)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[:len(module.split(".")) - node.level]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module
            found.append((name, node.lineno))
            found += [(f"{name}.{alias.name}", node.lineno) for alias in node.names]
    return found


def dotted(path: str) -> str:
    """experiments/launch/plan.py -> experiments.launch.plan (an __init__ keeps
    its name, so that a relative import resolves from its package)."""
    return os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")


def research_files():
    yield os.path.join(REPO, "train.py")
    for folder in ("trainers", "datasets", "configs"):
        yield from python_files(folder)


def harness_imports(path: str) -> list:
    return [f"{name} (line {line})"
            for name, line in absolute_imports(parsed(path), dotted(path))
            if name.split(".")[0] in HARNESS]


def test_the_research_path_imports_no_harness_and_no_test():
    plant = ast.parse("from experiments.results import records\nimport tools.analyze\n"
                      "from ..engine import base\n")
    assert {n for n, _ in absolute_imports(plant, "trainers.run.x")} >= {
        "experiments.results", "tools.analyze", "trainers.engine.base"}  # the resolver is real
    files = list(research_files())
    assert os.path.join(REPO, "trainers", "engine", "base.py") in files
    for path in files:
        assert not harness_imports(path), f"{path} imports {harness_imports(path)}"


def bare_train_imports(tree) -> list:
    """Lines of `import train` (or `import train as x`) in a file that never
    uses the name: an import made for its side effects only."""
    bound = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "train":
                    bound[alias.asname or "train"] = node.lineno
    used = {node.value.id for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)}
    return [line for name, line in bound.items() if name not in used]


def test_the_harness_calls_train_py_instead_of_importing_it_for_its_side_effects():
    assert bare_train_imports(ast.parse("def f():\n    import train\n    return 1\n")) == [2]
    assert not bare_train_imports(ast.parse("import train\ntrain.register()\n"))
    for path in python_files("experiments"):
        assert not bare_train_imports(parsed(path)), (
            f"{path}: `import train` at line(s) {bare_train_imports(parsed(path))} with no "
            "use of train.*: call train.register() / setup_cfg() / build() instead")


def package_graph() -> dict:
    """{package of experiments/: the other packages of experiments/ it imports}."""
    graph = {}
    for path in python_files("experiments"):
        parts = dotted(path).split(".")
        if len(parts) < 3:
            continue  # experiments/__init__.py
        edges = graph.setdefault(parts[1], set())
        for name, _ in absolute_imports(parsed(path), dotted(path)):
            target = name.split(".")
            if target[0] == "experiments" and len(target) > 1 and target[1] != parts[1] \
                    and os.path.isdir(os.path.join(REPO, "experiments", target[1])):
                edges.add(target[1])
    return graph


def mutual_imports(graph: dict) -> list:
    return sorted((a, b) for a, targets in graph.items() for b in targets
                  if a < b and a in graph.get(b, ()))


def test_no_two_packages_of_the_experiments_import_each_other():
    assert mutual_imports({"launch": {"results"}, "results": {"launch"}}) == [
        ("launch", "results")]
    graph = package_graph()
    assert {"launch", "results", "analysis", "export"} <= set(graph)
    assert "results" in graph["launch"]  # the graph sees an import
    assert not mutual_imports(graph), f"packages that import each other: " \
        f"{mutual_imports(graph)} (graph: {graph})"


def test_only_the_tests_and_the_tools_import_the_development_package():
    """tests/dev/ (fault injection, the mutants) is no part of the product."""
    def imports_dev(tree, module):
        return [f"{name} (line {line})" for name, line in absolute_imports(tree, module)
                if name in ("tests.dev", "dev") or name.startswith(("tests.dev.", "dev."))]
    assert imports_dev(ast.parse("from tests.dev.faults import hooks\n"), "experiments.x")
    assert imports_dev(ast.parse("from ..dev import mutants\n"), "tests.x.y")
    checked = 0
    for base, dirs, files in os.walk(REPO):
        top = os.path.relpath(base, REPO).split(os.sep)[0]
        if top in ("tests", "tools") or (top != "." and top.startswith(".")):
            dirs[:] = []
            continue
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(base, f)
                checked += 1
                found = imports_dev(parsed(path), dotted(path))
                assert not found, f"{path} imports {found}"
    assert checked > 50


RUNNERS = {"run", "Popen", "call", "check_call", "check_output", "spawnv", "spawnvp",
           "execv", "execvp", "join"}


def tool_paths(tree) -> list:
    """The calls of a module that build a tool's path or run one: a process
    runner (subprocess, os.spawn*/exec*) or a path join given "tools" or
    "tools/NAME.py"."""
    found = []
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        name = getattr(call.func, "attr", getattr(call.func, "id", ""))
        if name not in RUNNERS:
            continue
        words = [c.value for arg in call.args for c in ast.walk(arg)
                 if isinstance(c, ast.Constant) and isinstance(c.value, str)]
        if any(w == "tools" or (w.startswith("tools/") and w.endswith(".py")) for w in words):
            found.append(ast.unparse(call))
    return found


def test_the_library_never_runs_a_tool():
    """experiments/ calls the tools' logic as functions: no module there
    builds a tool's path or runs one in another process."""
    assert tool_paths(ast.parse('subprocess.run(["python", "tools/gpu_check.py"])'))
    assert tool_paths(ast.parse('os.spawnvp(0, py, [py, join(REPO, "tools", "x.py")])'))
    assert not tool_paths(ast.parse('ArgumentParser(prog="export.py")'))
    for path in python_files("experiments"):
        assert not tool_paths(parsed(path)), f"{path} runs a tool: {tool_paths(parsed(path))}"
