"""A tool's entry point loaded from its file, for the tests of its command
line (`tool.main(argv)`: arguments, messages, exit status) in this process.

tools/ is a folder of scripts, not a package: each is loaded as a module of
its own name from tools/NAME.py, the way `python tools/NAME.py` runs it.
The logic the tools call is tested through experiments/ directly.
"""
import importlib.util
import os

TOOLS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools")
_loaded = {}


def load_tool(name: str):
    """The module of tools/NAME.py, loaded once."""
    if name not in _loaded:
        spec = importlib.util.spec_from_file_location(
            f"tool_{name}", os.path.join(TOOLS, f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _loaded[name] = module
    return _loaded[name]
