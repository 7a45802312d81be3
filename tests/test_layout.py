"""The package layout holds: the method's modules, the run folder's code and
the Dassl-free parts of the engine import without Dassl (the run folder's
without the engine too), importing the package changes no global warnings
filter, trainers/ holds only registered trainers, and no production code
carries a fault-injection hook; tools/ are entry points over the library
(experiments/): one sys.path edit each, no tool imported by another."""
import ast
import os
import re

from fresh_python import BLOCK_DASSL, REPO, assert_prints_ok, run_python


def module_names(folder: str):
    package = folder.replace("/", ".")
    return sorted(f"{package}.{f[:-3]}" for f in os.listdir(os.path.join(REPO, folder))
                  if f.endswith(".py") and f != "__init__.py")


def test_every_method_module_imports_with_dassl_blocked():
    modules = module_names("trainers/modules")
    assert {"trainers.modules.losses", "trainers.modules.instapg",
            "trainers.modules.adu_clip"} <= set(modules)
    dassl_free_engine = ["trainers.engine.lr_scheduler", "trainers.engine.precision",
                         "trainers.engine.training_step", "trainers.engine.loss_log",
                         "trainers.engine.progress"]
    code = BLOCK_DASSL + "".join(f"import {m}\n"
                                 for m in modules + run_modules() + dassl_free_engine) + (
        "assert not any(m == 'dassl' or m.startswith('dassl.') for m in sys.modules)\n"
        "print('ok')\n")
    assert_prints_ok(code)


def run_modules():
    """The run folder's modules but resolve.py, which reads Dassl's default
    config (test_the_command_line_resolves_without_torch_or_dassls_engine)."""
    modules = module_names("trainers/run")
    assert {"trainers.run.checkpoint", "trainers.run.files", "trainers.run.fingerprint",
            "trainers.run.run_info", "trainers.run.resolve"} <= set(modules)
    return [m for m in modules if m != "trainers.run.resolve"]


def test_the_command_line_resolves_without_torch_or_dassls_engine():
    """trainers/run/resolve.py (train.py's config, the launcher's skip test)
    needs Dassl's config defaults only: yacs, no torch."""
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'torch' or name.startswith(('dassl.engine', "
        "'dassl.data', 'dassl.modeling')):\n"
        "            raise ImportError(f'blocked: {name}')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from trainers.run.resolve import parse_args, setup_cfg\n"
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


def test_importing_the_package_installs_no_global_warnings_filter():
    # Record each filter that code of this repository adds while the package
    # is imported; one still in force afterwards is global (a filter set
    # inside `warnings.catch_warnings()` is gone when the block ends).
    code = f"""import sys, warnings
repo = {REPO!r}
added = []
def recording(original):
    def add(*args, **kwargs):
        original(*args, **kwargs)
        caller = sys._getframe(1).f_code.co_filename
        if caller.startswith(repo) and "site-packages" not in caller:  # not .venv
            added.append((caller, warnings.filters[0]))
    return add
warnings.filterwarnings = recording(warnings.filterwarnings)
warnings.simplefilter = recording(warnings.simplefilter)
import trainers, trainers.modules.clip_loading, trainers.run.run_info
import trainers.engine.evaluation, datasets
trainers.register_trainers()
datasets.register_datasets()
assert added, 'clip_loading silences its import warning: the recorder saw nothing'
left = [(c, f) for c, f in added if any(f is g for g in warnings.filters)]
assert not left, left
print('ok')
"""
    assert_prints_ok(code)


def test_every_trainer_file_registers_a_trainer_and_the_others_are_not_trainers():
    # Any file dropped into trainers/ is a trainer file unless the package
    # names it in NOT_TRAINERS; each trainer file registers at least one class
    # in Dassl's registry when imported, the other modules register none.
    code = """import os, importlib
import trainers
from dassl.engine import TRAINER_REGISTRY
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
registered = {cls.__module__ for cls in TRAINER_REGISTRY._obj_map.values()}
missing = [n for n in files if 'trainers.' + n not in registered]
assert not missing, ('trainer files that register no trainer', missing)
print('ok')
"""
    assert_prints_ok(code)


# An import of Dassl, of the package (trainers...) or of a parent package (from ..).
PACKAGE_IMPORT = re.compile(r"^\s*(?:from|import)\s+(?:dassl|trainers|\.\.)", re.M)


def test_the_run_folders_code_imports_nothing_of_the_package_or_dassl():
    assert PACKAGE_IMPORT.search("from ..engine import base\n")  # the pattern is real
    for name in run_modules():
        path = os.path.join(REPO, *name.split(".")) + ".py"
        with open(path) as f:
            assert not PACKAGE_IMPORT.search(f.read()), path


def production_files():
    yield os.path.join(REPO, "train.py")
    for top, _, files in os.walk(os.path.join(REPO, "trainers")):
        yield from (os.path.join(top, f) for f in files if f.endswith(".py"))


def test_no_production_code_carries_a_fault_hook_or_imports_the_experiments():
    # Fault injection wraps the seams from outside (experiments/faults/).
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


# experiments/launch/ is another change's: its sys.path edit (config_tree)
# and its import of the tool parse_results (result_is_complete, now
# experiments.results.records) go when that change is merged with this one.


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
