"""Core names no first-party environment, proxy or builder in its code.

The words below are the names of first-party plugins (environments ``spacegroup``,
``composition``, ``lattice``; proxies ``density``, ``formation_energy``, ``band_gap``; the
structure builder ``pyxtal``). Core's *code* (identifiers, imports, string literals) must not
use them, so that a third-party package can replace any plugin without touching core.
Docstrings and comments may mention them as examples; the scan skips those.

``ALLOWED`` lists, per core module, the words its code still uses, and why. A module not
listed, or a word not listed for its module, fails the test: shrink the list, never grow it
without a reason written next to the entry.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[1] / "core" / "src" / "crystalgfn"
WORDS = re.compile(r"spacegroup|composition|lattice|pyxtal|formation_energy|band_gap|density", re.I)

#: Part vocabulary: the state parts envs provide and proxies read are data, shared by name
#: (``crystalgfn.parts`` is the schema both sides import; geometry computes on the
#: ``lattice`` part by that name).
_PART_VOCABULARY = {
    "parts.py": {"spacegroup", "composition", "lattice"},
    "geometry.py": {"lattice"},
}
#: Capability protocols name concepts (a lattice-system target), not an environment: any
#: environment with the members fits.
_CAPABILITIES = {"interfaces.py": {"lattice"}}
ALLOWED = {**_PART_VOCABULARY, **_CAPABILITIES}


def _docstring_nodes(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                found.add(id(body[0].value))
    return found


def _code_texts(node: ast.AST, docstrings: set[int]) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [] if id(node) in docstrings else [node.value]
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        return [node.attr]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.arg):
        return [node.arg]
    if isinstance(node, ast.keyword):
        return [node.arg] if node.arg else []
    if isinstance(node, ast.alias):
        return [node.name]
    if isinstance(node, ast.ImportFrom):
        return [node.module] if node.module else []
    return []


def plugin_names_in_code(source: str) -> dict[str, list[int]]:
    """Word (lower case) -> line numbers where ``source``'s code (not its docstrings or
    comments) uses it."""
    tree = ast.parse(source)
    docstrings = _docstring_nodes(tree)
    found: dict[str, list[int]] = {}
    for node in ast.walk(tree):
        for text in _code_texts(node, docstrings):
            for word in WORDS.findall(text):
                found.setdefault(word.lower(), []).append(getattr(node, "lineno", 0))
    return found


def test_the_scan_sees_code_and_skips_docstrings_and_comments():
    source = '''
"""A module about the composition environment."""
import crystalgfn_pyxtal  # the pyxtal builder
def f(lattice):
    """Uses the density proxy."""
    return {"band_gap": lattice.Formation_Energy}
'''
    found = plugin_names_in_code(source)
    assert set(found) == {"pyxtal", "lattice", "band_gap", "formation_energy"}
    assert "composition" not in found and "density" not in found


def _core_modules() -> list[str]:
    return sorted(str(path.relative_to(CORE)) for path in CORE.rglob("*.py"))


def test_core_sources_are_found():
    assert {"compose.py", "env.py", "cli.py", "restrictions.py"} <= set(_core_modules())


@pytest.mark.parametrize("module", _core_modules())
def test_core_code_names_no_first_party_plugin(module):
    found = plugin_names_in_code((CORE / module).read_text(encoding="utf-8"))
    unexpected = {w: lines for w, lines in found.items() if w not in ALLOWED.get(module, set())}
    assert not unexpected, (
        f"core/src/crystalgfn/{module} names first-party plugins in its code: {unexpected} "
        "(word -> lines). Use what environments and proxies declare instead, or justify an "
        "entry in ALLOWED"
    )
