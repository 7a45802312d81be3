"""The registered Dassl trainers, one file each; `register_trainers()` registers them.

`trainers/` holds one file per registered trainer (and `config.py`, every
config key the project adds, and `config_checks.py`, the checks of what a
user gives). The method's plain-PyTorch modules are in
`trainers/modules/` (never importing Dassl), the training logic the trainers
share in `trainers/engine/`, and the run folder's files (the command line's
config, atomic writes, checkpoints and resume, the config fingerprint,
run_info) in `trainers/run/`. train.py, the tools, experiments/ and the
tests import it; nothing here imports tools/ or experiments/. Importing this
package imports nothing else: what needs no torch (trainers.config,
trainers.run) stays cheap to import, e.g. for the launcher's skip test.

Installing a trainer is dropping its file into trainers/: `register_trainers`
imports every `*.py` file there but those of NOT_TRAINERS. A file
may define `extend_cfg(cfg)`, as CoOp's train.py does, to add its own config
keys: train.py calls the hook of every imported trainer file before it
merges the yamls (`extend_cfg_hooks`).
"""
import os
import sys

FOLDER = os.path.dirname(os.path.abspath(__file__))
NOT_TRAINERS = ("__init__", "config", "config_checks")
# File name -> "ErrorType: message" of the trainer files that failed to import.
BROKEN = {}


def trainer_files(folder: str = FOLDER) -> list:
    """The module names of the trainer files in `folder`, sorted."""
    return sorted(f[:-3] for f in os.listdir(folder)
                  if f.endswith(".py") and f[:-3] not in NOT_TRAINERS)


def register_trainers(folder: str = FOLDER, package: str = __name__) -> None:
    """Import every trainer file, which registers its class in Dassl.

    First installs the compatibility fixes the CoOp-family files need (Dassl's
    warm-up schedulers on current torch, clip's private loading calls). A file
    that fails to import is named in one line on stderr (and kept in BROKEN);
    the others still register.
    """
    import importlib
    from .engine.dassl_compat import install_dassl_fixes
    from .modules.clip_compat import install_clip_fixes
    install_dassl_fixes()
    install_clip_fixes()
    for name in trainer_files(folder):
        try:
            importlib.import_module(f"{package}.{name}")
        except Exception as err:  # any error of a third party's file
            path = os.path.relpath(os.path.join(folder, name + ".py"))
            BROKEN[path] = f"{type(err).__name__}: {err}".splitlines()[0]
            print(f"warning: trainer file {path} failed to import "
                  f"({BROKEN[path]}); its trainers are not registered", file=sys.stderr)


def extend_cfg_hooks() -> list:
    """The `extend_cfg(cfg)` functions of the trainer files imported so far:
    this package's files and the module of every trainer registered in Dassl
    (a file imported from elsewhere). Imports nothing: without Dassl loaded
    (the launcher's skip test) only the imported files of trainers/ count."""
    modules = [sys.modules[f"{__name__}.{n}"] for n in trainer_files()
               if f"{__name__}.{n}" in sys.modules]
    engine = sys.modules.get("dassl.engine")
    registry = getattr(engine, "TRAINER_REGISTRY", None)
    for cls in getattr(registry, "_obj_map", {}).values():
        module = sys.modules.get(cls.__module__)
        if module is not None and module not in modules:
            modules.append(module)
    return [m.extend_cfg for m in modules if callable(getattr(m, "extend_cfg", None))]


def declared_classes(paths, registry: str) -> tuple:
    """The classes the files `paths` register with `@<registry>.register()`,
    read from their source (ast) without importing them: ({class name:
    (base names, class-level constants)}, whether the files are read in
    full: False when one does not parse, registers in another way, or
    defines an `extend_cfg` hook, which only importing it can run)."""
    import ast
    import re
    found, complete = {}, True
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                source = f.read()
            tree = ast.parse(source, path)
        except (OSError, SyntaxError, ValueError):
            complete = False
            continue
        decorated = 0
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == "extend_cfg":
                complete = False
            if not isinstance(node, ast.ClassDef):
                continue
            if not any(ast.unparse(d).replace(" ", "") == f"{registry}.register()"
                       for d in node.decorator_list):
                continue
            decorated += 1
            consts = {t.id: s.value.value for s in node.body if isinstance(s, ast.Assign)
                      and isinstance(s.value, ast.Constant)
                      for t in s.targets if isinstance(t, ast.Name)}
            found[node.name] = ([ast.unparse(b) for b in node.bases], consts)
        if len(re.findall(rf"{registry}\s*\.\s*register\s*\(", source)) > decorated:
            complete = False
    return found, complete


def declared_trainers(folder: str = FOLDER) -> tuple:
    """({trainer name: whether it trains weights}, read in full) of the
    trainer files in `folder` and Dassl's own trainers, without importing
    either (train.py refuses a wrong name before torch is imported; see
    declared_classes for when only importing them tells)."""
    paths = [os.path.join(folder, f"{name}.py") for name in trainer_files(folder)]
    found, complete = declared_classes(paths + dassl_sources("engine"), "TRAINER_REGISTRY")

    def trains(name, seen=()):
        bases, consts = found[name]
        if "trains_weights" in consts:
            return bool(consts["trains_weights"])
        return all(trains(b, seen + (name,)) for b in bases if b in found and b not in seen)
    return {name: trains(name) for name in found}, complete


def dassl_sources(package: str) -> list:
    """The *.py files of Dassl's subpackage `package` ("engine",
    "data/datasets"), found without importing it; [] without Dassl."""
    import importlib.util
    spec = importlib.util.find_spec("dassl")
    if spec is None or not spec.submodule_search_locations:
        return []
    top = os.path.join(list(spec.submodule_search_locations)[0], *package.split("/"))
    return sorted(os.path.join(d, f) for d, _, files in os.walk(top)
                  for f in files if f.endswith(".py"))
