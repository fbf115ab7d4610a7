"""End-to-end fixtures: real terraform and cdktf-cli against the stand-in bpg/proxmox provider."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest

from pve_gpu_lxc_testing.standin.fixtures import standin, standin_reattached, synthesized  # noqa: F401
from pve_gpu_lxc_testing.standin.harness import CDKTF, TERRAFORM, StandinEnv, standin_env

FIXTURES = Path(__file__).parent / "fixtures"


def _tools_present() -> None:
    missing = [str(p) for p in (Path(TERRAFORM), CDKTF) if not Path(p).exists()]
    if missing:
        pytest.fail(f"end-to-end tools missing: {', '.join(missing)} (install terraform; run `npm ci`)")


@pytest.fixture(scope="module")
def shared_standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandinEnv]:
    """One reattached provider and node root for a whole test module (stacks use distinct vm_ids)."""
    _tools_present()
    env = standin_env(tmp_path_factory.mktemp("standin"), reattach=True)
    try:
        yield env
    finally:
        env.close()


@pytest.fixture
def fixture_stack(tmp_path: Path):
    """Copy a hand-written cdk.tf.json fixture into tmp_path; returns its directory."""
    def copy(name: str) -> Path:
        dest = tmp_path / name
        shutil.copytree(FIXTURES / name, dest)
        return dest
    return copy
