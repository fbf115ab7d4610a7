"""The layers are enforced by import-linter, and docs/architecture.md shows the real imports.

`lint-imports` runs the contracts of pyproject.toml (the product's, and the test
infrastructure's); a copy of the packages with one bad import added shows each contract
catching its violation; grimp (import-linter's graph library) derives the layer graph that
docs/architecture.md's table must match.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "constructs" / "pve_gpu_lxc"
PACKAGES = ("pve_gpu_lxc", "pve_gpu_lxc_testing")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
ARCHITECTURE = ROOT / "docs" / "architecture.md"
# the third-party packages the table shows (the standard library and optional helpers are left out)
SHOWN_PACKAGES = frozenset({"cdktf", "cdktn", "constructs", "jsii", "yaml"})


def lint_imports(cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )


def test_the_layer_contracts_hold() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 8 kept, 0 broken." in result.stdout


@pytest.mark.parametrize(
    ("module", "bad_import", "contract"),
    [
        # a lower layer importing a higher one
        ("pve_gpu_lxc/model/devices.py", "from ..cdk import container", "Layers: cli > cdk"),
        # the pure side loading the engine, here through l1
        ("pve_gpu_lxc/facts/parsers.py", "from ..l1 import schema", "never load the engine"),
        # a construct importing cdktf itself instead of through pve_gpu_lxc.engine
        ("pve_gpu_lxc/cdk/mapping.py", "import cdktf", "Only pve_gpu_lxc.engine imports"),
        ("pve_gpu_lxc/l1/base.py", "from cdktn import App", "Only pve_gpu_lxc.engine imports"),
        # the command line loading the fork (it must run without any engine)
        ("pve_gpu_lxc/cli/drift.py", "import cdktn", "The command line runs without the engine"),
        # the product reaching into the test infrastructure (which the wheel does not ship)
        ("pve_gpu_lxc/pve/conf.py", "from pve_gpu_lxc_testing import tools", "The product never imports the test"),
        # the simulated node using a harness that drives it
        ("pve_gpu_lxc_testing/pvesim/storage.py", "from pve_gpu_lxc_testing.e2e import harness",
         "Test infrastructure: harnesses"),
        ("pve_gpu_lxc_testing/tools.py", "from pve_gpu_lxc_testing.pvesim import node",
         "Test infrastructure: harnesses"),
        # the simulated node applying the product's rules instead of PVE's
        ("pve_gpu_lxc_testing/pvesim/lxc_config.py", "from pve_gpu_lxc.model import props",
         "The simulated node takes only PVE's file formats"),
        # inside pvesim: node files below handlers below the server, and the lxc modules in order
        ("pve_gpu_lxc_testing/pvesim/node.py", "from . import server", "pvesim: sim > server"),
        ("pve_gpu_lxc_testing/pvesim/lxc_config.py", "from . import lxc_status", "pvesim: sim > server"),
        ("pve_gpu_lxc_testing/pvesim/tasks.py", "from . import storage", "pvesim: sim > server"),
    ],
)
def test_a_violation_fails_the_contracts(tmp_path: Path, module: str, bad_import: str, contract: str) -> None:
    for package in PACKAGES:
        shutil.copytree(ROOT / "constructs" / package, tmp_path / "src" / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "src" / module
    target.write_text(target.read_text() + f"\n{bad_import}  # added by tests/test_layers.py\n")
    result = lint_imports(tmp_path, pythonpath=tmp_path / "src")
    assert result.returncode == 1, result.stdout + result.stderr
    report = " ".join(result.stdout.split())
    assert f"{contract}" in report and "BROKEN" in report
    assert module[:-3].replace("/", ".") in report  # it names the importer


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if parts[0] == "pve_gpu_lxc" and len(parts) > 1 else parts[0]


def real_layer_graph() -> dict[str, set[str]]:
    """Layer -> the layers (and engine packages) its modules import directly, from the code."""
    # external packages as one node each: cdktn need not be installed here to show as imported
    graph = grimp.build_graph("pve_gpu_lxc", include_external_packages=True)
    layers = {_layer(m) for m in graph.modules if m.startswith("pve_gpu_lxc.") and m.count(".") >= 1}
    layers -= {"__main__"}
    edges: dict[str, set[str]] = {layer: set() for layer in layers}
    for module in graph.modules:
        if not module.startswith("pve_gpu_lxc.") or _layer(module) not in edges:
            continue
        for imported in graph.find_modules_directly_imported_by(module):
            if not imported.startswith("pve_gpu_lxc.") and imported not in SHOWN_PACKAGES:
                continue
            if _layer(imported) != _layer(module):
                edges[_layer(module)].add(_layer(imported))
    return edges


def documented_layer_graph() -> dict[str, set[str]]:
    """The table "The layers and what each imports" of docs/architecture.md."""
    rows = re.findall(r"^\| `(\w+)` \| [^|]+ \|([^|]*)\|$", ARCHITECTURE.read_text(), re.M)
    return {layer: {name.strip() for name in imports.split(",") if name.strip()} for layer, imports in rows}


def test_the_architecture_doc_shows_the_real_imports() -> None:
    real, documented = real_layer_graph(), documented_layer_graph()
    assert set(documented) == set(real), "docs/architecture.md's table lists other layers than the code has"
    differences = {layer: (sorted(documented[layer]), sorted(real[layer]))
                   for layer in real if documented[layer] != real[layer]}
    assert not differences, f"layer: (documented, real imports) differ: {differences}"
