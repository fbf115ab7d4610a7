"""One home per rule (issue 21): a rule, pattern, constant or list is written once and imported.

(tests/test_one_home.py holds the synthesized document's rules: the bpg type names, Terraform's
escapes, the file reference, the NVIDIA pin.  This file holds the rest.)

Read from the sources with `ast` (docstrings aside), per side: the product (`pve_gpu_lxc`) and
the test infrastructure (`pve_gpu_lxc_testing`).  The simulated node keeps its own reading of
PVE's formats on purpose (it stands in for PVE, so the product is checked against an
independent implementation); duplicates *within* a side fail.
"""

from __future__ import annotations

import ast
import hashlib
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "constructs"
SIDES = ("pve_gpu_lxc", "pve_gpu_lxc_testing")
GENERATED = {"pve_gpu_lxc/l1/generated.py"}
MIN_STATEMENTS = 4  # a function body this long written twice is a copy
MIN_PATTERN = 12  # shorter regexes (`\d+`, `unused\d+`, `https?://.*`) are words, not rules


def _modules(side: str) -> Iterator[tuple[str, ast.Module]]:
    for path in sorted((ROOT / side).rglob("*.py")):
        rel = str(path.relative_to(ROOT))
        if rel not in GENERATED:
            yield rel, ast.parse(path.read_text(), rel)


def _body(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.stmt]:
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    return body


def _regex_literals(tree: ast.Module) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "re"
                and node.func.attr in ("compile", "match", "fullmatch", "search", "sub", "subn", "split")
                and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            yield node.lineno, node.args[0].value.removeprefix("^").removesuffix("$")


def _string_collections(tree: ast.Module) -> Iterator[tuple[int, frozenset[str]]]:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and len(node.elts) >= 3 and all(
                isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
            yield node.lineno, frozenset(e.value for e in node.elts if isinstance(e, ast.Constant))


def _strings(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """String constants and the leading text of f-strings, docstrings aside."""
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value
        elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
            yield node.lineno, f"{node.values[0].value}{{}}"


def _twice(found: dict[object, list[str]]) -> list[list[str]]:
    return [sorted(places) for places in found.values() if len({p.split(":")[0] for p in places}) > 1]


@pytest.mark.parametrize("side", SIDES)
def test_no_function_body_is_written_twice(side: str) -> None:
    bodies: dict[str, list[str]] = defaultdict(list)
    for rel, tree in _modules(side):
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = _body(node)
                if sum(isinstance(n, ast.stmt) for s in body for n in ast.walk(s)) >= MIN_STATEMENTS:
                    key = hashlib.sha256(ast.dump(ast.Module(body=body, type_ignores=[])).encode()).hexdigest()
                    bodies[key].append(f"{rel}:{node.lineno} {node.name}")
    copies = [sorted(v) for v in bodies.values() if len(v) > 1]
    assert not copies, f"function bodies written twice (keep one, import it): {copies}"


@pytest.mark.parametrize("side", SIDES)
def test_no_list_of_names_is_written_in_two_modules(side: str) -> None:
    found: dict[object, list[str]] = defaultdict(list)
    for rel, tree in _modules(side):
        for line, items in _string_collections(tree):
            found[items].append(f"{rel}:{line}")
    assert not _twice(found), f"lists written in two modules (give them one home): {_twice(found)}"


@pytest.mark.parametrize("side", SIDES)
def test_no_pattern_is_written_in_two_modules(side: str) -> None:
    found: dict[object, list[str]] = defaultdict(list)
    for rel, tree in _modules(side):
        for line, pattern in _regex_literals(tree):
            if len(pattern) >= MIN_PATTERN:
                found[pattern].append(f"{rel}:{line}")
    assert not _twice(found), f"regexes written in two modules (give them one home): {_twice(found)}"


# The product's rules with one home each: (what, its module, does a string constant belong to it,
# does a regex literal belong to it).
NVIDIA_NODE_TEXT = ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset",
                    "/dev/nvidia{}", "/dev/nvidia-caps/nvidia-cap{}")
NAME_PATTERN_PARTS = ("[1-9][0-9]{2,8}", "/dev(", "/dev/(", "[a-z_][a-z0-9_.-]", "[A-Za-z][A-Za-z0-9\\-_.]",
                      "[A-Za-z][A-Za-z0-9_.-]", "[A-Za-z0-9](?:[A-Za-z0-9-]", "[a-z0-9]([a-z0-9-]")


def test_nvidia_node_names_are_written_in_core_only() -> None:
    home = "pve_gpu_lxc/core/nvidia_nodes.py"
    elsewhere = [f"{rel}:{line} {text!r}" for rel, tree in _modules("pve_gpu_lxc") if rel != home
                 for line, text in _strings(tree) if text in NVIDIA_NODE_TEXT]
    assert not elsewhere, f"NVIDIA node names outside {home} (import them from there): {elsewhere}"


def test_name_patterns_are_written_in_core_names_only() -> None:
    home = "pve_gpu_lxc/core/names.py"
    elsewhere = [f"{rel}:{line} {pattern!r}" for rel, tree in _modules("pve_gpu_lxc") if rel != home
                 for line, pattern in _regex_literals(tree) if any(part in pattern for part in NAME_PATTERN_PARTS)]
    assert not elsewhere, f"vmid/storage/node/device/user patterns outside {home}: {elsewhere}"


def test_exit_codes_are_defined_in_exit_codes_only() -> None:
    home = "pve_gpu_lxc/cli/exit_codes.py"
    elsewhere = [f"{rel}:{node.lineno}" for rel, tree in _modules("pve_gpu_lxc") if rel != home
                 for node in ast.walk(tree) if isinstance(node, ast.Assign)
                 and any(isinstance(t, ast.Name) and t.id.startswith("EXIT_") for t in node.targets)
                 and isinstance(node.value, ast.Constant)]
    assert not elsewhere, f"exit codes defined outside {home}: {elsewhere}"


def test_the_scan_finds_what_it_looks_for() -> None:
    """The readers above see a copy when there is one (so a pass means something)."""
    tree = ast.parse('import re\nX = re.compile(r"^[1-9][0-9]{2,8}$")\nY = ("a", "b", "c")\n'
                     'Z = f"/dev/nvidia{n}"\nW = "/dev/nvidiactl"\n')
    assert [p for _, p in _regex_literals(tree)] == ["[1-9][0-9]{2,8}"]
    assert [s for _, s in _string_collections(tree)] == [frozenset("abc")]
    texts = [t for _, t in _strings(tree)]
    assert "/dev/nvidia{}" in texts and "/dev/nvidiactl" in texts
    assert _twice({"k": ["a.py:1", "b.py:2"], "j": ["a.py:1", "a.py:5"]}) == [["a.py:1", "b.py:2"]]
