"""Which libraries a submission uses: a static scan of its source.

An exercise that asks for an implementation may forbid the libraries that
would do the work (``Exercise.forbid``: torch, scipy, cnnlib ...). The scan
finds ``import m``, ``from m import ...``, ``__import__("m")`` and
``importlib.import_module("m")`` anywhere in the source, at any depth; the
sandbox then makes sure that what the scan cannot see (a name built at run
time) cannot be imported either.
"""

from __future__ import annotations

import ast

__all__ = ["imported_modules"]


#: what a learner's notebook may import of cnnlib: the checkers it calls while working (in the
#: sandbox the import fails, harmlessly); the rest of cnnlib (solutions included) counts as help
ALLOWED = ("cnnlib.exercises", "cnnlib.exercises.check_")


def _root(name: str) -> str | None:
    if name == ALLOWED[0] or name.startswith(ALLOWED[1]):
        return None
    return name.split(".", 1)[0]


def imported_modules(units: list[tuple[str, str, str]]) -> dict[str, list[str]]:
    """Top-level module name -> where it is imported ("module, line 3", "<cell 2>, line 1")."""
    found: dict[str, list[str]] = {}
    for _, where, source in units:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):  # reported by the run itself
            continue
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                    and isinstance(node.args[0].value, str):
                func = node.func
                called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
                if called in ("__import__", "import_module"):
                    names = [node.args[0].value]
            for name in filter(None, map(_root, names)):
                found.setdefault(name, []).append(f"{where}, line {node.lineno}")
    return found
