"""The wheel holds the product only: pve_gpu_lxc and its data, no test infrastructure or test data."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCT_DATA = {
    "pve_gpu_lxc/py.typed",
    "pve_gpu_lxc/facts/collect-host-facts.sh",
    "pve_gpu_lxc/l1/schema_data/bpg-proxmox-0.111.1.schema.json",
}


def source_tree(dest: Path) -> Path:
    """The project's files as git tracks them (working-tree content), without build leftovers."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp_path = tmp_path_factory.mktemp("wheel")
    source = source_tree(tmp_path / "src")  # setuptools keeps build/ in the tree: start clean
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--disable-pip-version-check", str(source),
         "-w", str(tmp_path / "dist")],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (built,) = (tmp_path / "dist").glob("pve_gpu_lxc-*.whl")
    return built


def test_the_engine_is_an_extra_cdktf_or_cdktn(wheel: Path) -> None:
    """No engine in the base requirements; `[cdktf]` brings cdktf only, `[cdktn]` cdktn only (README Ecosystem)."""
    metadata = zipfile.ZipFile(wheel).read("pve_gpu_lxc-0.1.0.dist-info/METADATA").decode()
    requires = [line.split(": ", 1)[1] for line in metadata.splitlines() if line.startswith("Requires-Dist: ")]
    base = [r for r in requires if "extra ==" not in r]
    assert not [r for r in base if r.startswith(("cdktf", "cdktn", "constructs", "jsii"))], base
    for engine, other in (("cdktf", "cdktn"), ("cdktn", "cdktf")):
        extra = [r.split(";")[0].strip() for r in requires if r.endswith(f'extra == "{engine}"')]
        assert any(r.startswith(f"{engine}==") for r in extra), (engine, extra)
        assert not any(r.startswith(other) for r in extra), (engine, extra)


def test_the_wheel_holds_the_product_only(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    product = [n for n in names if not n.startswith("pve_gpu_lxc-0.1.0.dist-info/")]
    assert product and all(n.startswith("pve_gpu_lxc/") for n in product), sorted(
        n for n in product if not n.startswith("pve_gpu_lxc/"))
    assert PRODUCT_DATA <= set(product)
    data = [n for n in product if not n.endswith(".py")]
    assert sorted(data) == sorted(PRODUCT_DATA), "unexpected data in the wheel (test data belongs to pve_gpu_lxc_testing)"
    # every module of the package source is in the wheel
    sources = {str(p.relative_to(ROOT / "constructs")) for p in (ROOT / "constructs" / "pve_gpu_lxc").rglob("*.py")}
    assert sources <= set(product)
    # the test helpers for users' stacks ship too, with the pytest plugin's entry point
    assert {"pve_gpu_lxc/testing/__init__.py", "pve_gpu_lxc/testing/plugin.py"} <= set(product)
    entry_points = zipfile.ZipFile(wheel).read("pve_gpu_lxc-0.1.0.dist-info/entry_points.txt").decode()
    assert "[pytest11]\npve_gpu_lxc = pve_gpu_lxc.testing.plugin\n" in entry_points
