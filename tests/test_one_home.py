"""One home per rule (issue 21): the rules of the synthesized document are written down once.

`pve_gpu_lxc/pve/synthesized.py` is the one reader of the synthesized Terraform JSON: the bpg
type names, Terraform's template escapes (written and undone) and the hookscript's file
reference live there; `pve_gpu_lxc/core/nvidia_pin.py` is the one home of the hookscript's
NVIDIA pin (the model writes it, the reader reads it back).  Every other module takes them
from there.  This test scans the string literals (docstrings aside: they may name what they
describe) of both packages, the product and the test infrastructure, and fails on a second
copy.  The L1 classes are generated from the schema with the type names in them, so
`l1/generated.py` is left out, as is the schema data (JSON, not a module).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "constructs"
PACKAGES = ("pve_gpu_lxc", "pve_gpu_lxc_testing")
GENERATED = frozenset({"pve_gpu_lxc/l1/generated.py"})
READER = "pve_gpu_lxc/pve/synthesized.py"
PIN = "pve_gpu_lxc/core/nvidia_pin.py"

# rule -> (its home, what a copy of it looks like in a string literal)
RULES: dict[str, tuple[str, re.Pattern[str]]] = {
    # proxmox_virtual_environment_container, proxmox_download_file, ... (the prefix alone is no name,
    # nor the provider's binary, terraform-provider-proxmox_v<version>)
    "a bpg type name": (READER, re.compile(r"(?<![\w-])proxmox_[a-z][a-z0-9_]*")),
    # $${ and %%{, as text or as a regular expression
    "Terraform's template escapes": (READER, re.compile(r"\$\$\{|%%\{|\\\$\\\$\\\{|%%\\\{")),
    # a regular expression for a live ${ (or %{): telling a value from an expression
    "a live template expression": (READER, re.compile(r"\\\$\\\{|\[\$%\]\\?\{|\[%\$\]\\?\{")),
    # ${proxmox_virtual_environment_file.<name>.id}, e.g. as a pattern built around the type name
    "the file reference": (READER, re.compile(r"\.id\}|\\\.id\\\}")),
    "the NVIDIA pin's function": (PIN, re.compile(r"require_nvidia_driver")),
}


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the docstring nodes of a module, its classes and functions."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                found.add(id(first.value))
    return found


def literals(source: str) -> Iterator[tuple[int, str]]:
    """(line, text) of every string literal but the docstrings; an f-string gives its literal parts."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            yield node.lineno, node.value


def copies(source: str) -> list[tuple[str, int, str]]:
    """(rule, line, literal) for each string literal of `source` that holds one of the rules."""
    return [(rule, line, text) for line, text in literals(source)
            for rule, (_, pattern) in RULES.items() if pattern.search(text)]


def modules() -> list[str]:
    return sorted(str(path.relative_to(SOURCES)) for package in PACKAGES
                  for path in (SOURCES / package).rglob("*.py") if "__pycache__" not in path.parts)


def test_each_rule_of_the_document_has_one_home() -> None:
    found = []
    for module in modules():
        if module in GENERATED:
            continue
        for rule, line, text in copies((SOURCES / module).read_text()):
            if RULES[rule][0] != module:
                found.append(f"{module}:{line}: {rule} ({text!r}); take it from {RULES[rule][0]}")
    assert not found, "a second copy of a rule of the synthesized document:\n" + "\n".join(found)


def test_the_homes_hold_what_the_scan_looks_for() -> None:
    """Not a vacuous scan: each pattern finds its rule in its home."""
    held = {home: {rule for rule, _, _ in copies((SOURCES / home).read_text())} for home in (READER, PIN)}
    for rule, (home, _) in RULES.items():
        assert rule in held[home], f"{home} no longer holds {rule}: update RULES"


@pytest.mark.parametrize(("source", "rule"), [
    ('CONTAINER = "proxmox_virtual_environment_container"\n', "a bpg type name"),
    ('message = f"no {name} in proxmox_download_file"\n', "a bpg type name"),
    ('def unescape(t):\n    return t.replace("$${", "${")\n', "Terraform's template escapes"),
    ('TOKEN = re.compile(r"\\$\\$\\{|%%\\{|\\$\\{|%\\{")\n', "Terraform's template escapes"),
    ('LIVE = re.compile(r"[$%]\\{")\n', "a live template expression"),
    ('REF = re.compile(r"^\\$\\{" + FILE_TYPE + r"\\.([a-z_]+)\\.id\\}$")\n', "the file reference"),
    ('PIN = re.compile(r"require_nvidia_driver (\\S+)")\n', "the NVIDIA pin's function"),
])
def test_a_planted_copy_is_found(source: str, rule: str) -> None:
    assert rule in {found for found, _, _ in copies(source)}


def test_docstrings_may_name_what_they_describe() -> None:
    source = '"""Reads `proxmox_virtual_environment_container` bodies; `$${` is a literal `${`."""\n'
    assert copies(source) == []
