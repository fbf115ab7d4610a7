"""End-to-end fixtures: real terraform/tofu, cdktf-cli and bpg/proxmox against the simulated node."""

from __future__ import annotations

import os
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

from pve_gpu_lxc_testing.e2e.harness import QUIET_ENV, REPO_ROOT, SimEnv, sim_env, stack_dir

TEMPLATES = (
    "local:vztmpl/debian-12-standard_12.2-1_amd64.tar.zst",
    "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst",
)


def seed_templates(env: SimEnv) -> None:
    """The example stacks' templates on the node (PVE refuses to create from a missing volume)."""
    for volid in TEMPLATES:
        if not env.volume_path(volid).exists():
            env.seed_volume(volid, b"template")


def assert_every_request_was_validated(env: SimEnv) -> None:
    """Every authenticated request of the run was checked against PVE's API description
    (pvesim/apischema.py): none reached a path the simulated node does not serve."""
    api2 = env.sim.server.api2 if env.sim.server is not None else None
    assert api2 is not None and not api2.unvalidated, f"requests not validated: {api2 and api2.unvalidated}"


@contextmanager
def oci_sim(base: Path, registry: Any) -> Iterator[SimEnv]:
    """A simulated node that trusts the tests' registry (its CA in the node's
    /etc/containers/certs.d), every request checked when it closes."""
    env = sim_env(base)
    try:
        registry.trust(env.node_root)
        yield env
        assert_every_request_was_validated(env)
    finally:
        env.close()


OCI_APP = """\
import sys
sys.path.insert(0, {repo!r})
from pve_gpu_lxc.engine import App, TerraformStack
from pve_gpu_lxc import Disk, GpuContainer, IdMap, IntelGpu, NvidiaGpu, ProxmoxProvider, Template, configure_backend

app = App()
stack = TerraformStack(app, "apps")
configure_backend(stack, "apps")
ProxmoxProvider(stack, "proxmox")
GpuContainer(stack, "web", node_name="pve", vm_id={vmid}, hostname="web",
             # the image's user is app 1000:1000 (also in render 993): LXC gives the entrypoint only
             # its primary group, so the render node gets gid 1000
             template=Template.oci({reference!r}, os_type="unmanaged", render_gid=1000),
             gpus=[{gpu}], disk=Disk(size_gib=4), idmap={idmap},
             entrypoint={entrypoint!r}, env={env!r})
app.synth()
"""


def synth_oci_app(sim: SimEnv, base: Path, state_dir: Path, *, reference: str, vmid: int, entrypoint: str,
                  env: dict[str, str], gpu: str = "IntelGpu(card=None, render=128)", idmap: str = "None") -> Path:
    """The stack directory of a CDKTF app with one GpuContainer from the tests' OCI image (`gpu`
    and `idmap`: Python expressions), synthesized by the project's Python against `sim`."""
    base.mkdir(parents=True, exist_ok=True)
    (base / "main.py").write_text(OCI_APP.format(repo=str(REPO_ROOT), vmid=vmid, reference=reference, gpu=gpu,
                                                 idmap=idmap, entrypoint=entrypoint, env=env))
    out = base / "cdktf.out"
    run_env = {**os.environ, **QUIET_ENV, **sim.env, "CDKTF_OUTDIR": str(out), "PVE_GPU_LXC_STATE_DIR": str(state_dir)}
    proc = subprocess.run([str(REPO_ROOT / ".venv" / "bin" / "python"), "main.py"], cwd=base, env=run_env,
                          text=True, capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return stack_dir(out, "apps")


@pytest.fixture(scope="module")
def shared_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimEnv]:
    """One simulated node for a whole test module (stacks use distinct vm_ids)."""
    env = sim_env(tmp_path_factory.mktemp("sim"))
    try:
        seed_templates(env)
        yield env
        assert_every_request_was_validated(env)
    finally:
        env.close()


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimEnv]:
    """A simulated node of the test's own."""
    env = sim_env(tmp_path / "sim")
    try:
        seed_templates(env)
        yield env
        assert_every_request_was_validated(env)
    finally:
        env.close()
