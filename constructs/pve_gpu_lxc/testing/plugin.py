"""The pytest plugin of pve-gpu-lxc (entry point `pytest11`: `pve_gpu_lxc`): stack fixtures.

pytest loads this module in every run where the package is installed, so it imports
nothing heavy: the engine (cdktf and its node process) starts only when a fixture runs.

- `pve_app`: a fresh test App (the engine's `Testing.app()`) writing to its own temp dir.
- `pve_stack`: a fresh `TerraformStack` with the id `"test"` in `pve_app` (no provider:
  add your `ProxmoxProvider`, e.g. with `environ={}` so the test ignores the shell's
  `PROXMOX_VE_*`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ..engine import App, TerraformStack

STACK_ID = "test"


@pytest.fixture
def pve_app(tmp_path_factory: pytest.TempPathFactory) -> App:
    """A fresh App for one test; `app.outdir` is a new temp dir."""
    from ..engine import Testing

    return Testing.app(outdir=str(tmp_path_factory.mktemp("cdktf.out")))


@pytest.fixture
def pve_stack(pve_app: App) -> TerraformStack:
    """A fresh, empty TerraformStack `"test"` in `pve_app`."""
    from ..engine import TerraformStack

    return TerraformStack(pve_app, STACK_ID)
