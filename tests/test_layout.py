"""The `constructs/` folder is a source root, never a package that shadows the constructs library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def python_in_repo_root(code: str) -> str:
    """Run `code` in a fresh interpreter from the repository root (as `python main.py` does); its stdout."""
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_constructs_folder_is_not_a_package() -> None:
    assert not (ROOT / "constructs" / "__init__.py").exists(), "constructs/__init__.py would break `import cdktf`"


def test_imports_resolve_to_the_right_places_from_the_repo_root() -> None:
    code = (
        "import pve_gpu_lxc.engine, constructs, pve_gpu_lxc, pathlib;"  # loads cdktf or cdktn
        "print(pathlib.Path(constructs.__file__).parent.parent.name);"
        "print(pathlib.Path(pve_gpu_lxc.__file__).parent.parent.name)"
    )
    assert python_in_repo_root(code).split() == ["site-packages", "constructs"]


def test_public_names_resolve_and_the_pure_model_loads_without_cdktf() -> None:
    code = (
        "import sys, pve_gpu_lxc;"
        "from pve_gpu_lxc import IdMap, IntelGpu, HostFacts, ValidationError;"
        "assert 'cdktf' not in sys.modules, 'the pure model imported cdktf';"
        "missing = [n for n in pve_gpu_lxc.__all__ if getattr(pve_gpu_lxc, n, None) is None];"
        "assert not missing, missing;"
        "print('ok')"
    )
    assert python_in_repo_root(code).strip() == "ok"
