"""The same round trip with OpenTofu instead of Terraform: deploy, drift, restore, destroy.

OpenTofu comes from `.tools/bin/tofu` (built from its Go module by `make tools`) unless
one is on PATH; it installs bpg/proxmox from the same local mirror
(registry.opentofu.org/bpg/proxmox).  cdktf-cli runs it through TERRAFORM_BINARY_NAME.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from pve_gpu_lxc import cli
from pve_gpu_lxc_testing import tools
from pve_gpu_lxc_testing.e2e.harness import SimEnv, sim_env, warnings_in

from .conftest import seed_templates

pytestmark = pytest.mark.e2e

STACK = "intel-jellyfin"


@pytest.fixture
def tofu_sim(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = sim_env(tmp_path / "sim", terraform=tools.tofu_binary())
    try:
        seed_templates(env)
        yield env
    finally:
        env.close()


def test_deploy_drift_restore_destroy_with_opentofu(tofu_sim: SimEnv, capsys: pytest.CaptureFixture[str]) -> None:
    env = tofu_sim
    version = env.run([env.terraform_path, "version"], env.work_dir).stdout
    assert version.startswith("OpenTofu v"), version

    stack_dir = env.cdktf_deploy(STACK)  # cdktf-cli drives tofu (TERRAFORM_BINARY_NAME)
    assert "Apply complete!" in env.last_output and warnings_in(env.last_output) == []
    assert (stack_dir / ".terraform" / "providers" / "registry.opentofu.org" / "bpg" / "proxmox").is_dir()
    conf = env.conf_path(210)
    deployed = conf.read_text()
    assert "dev1: deny-write=0,path=/dev/dri/renderD128,uid=0,gid=106,mode=0660" in deployed
    assert env.plan(stack_dir) == 0

    def drift() -> tuple[int, str]:
        capsys.readouterr()
        code = cli.main(["drift", "--no-synth", "--outdir", str(env.project / "cdktf.out"), "--stack", STACK],
                        environ={**os.environ, **env.env})
        return code, capsys.readouterr().out

    assert drift()[0] == 0
    conf.write_text(re.sub(r"(dev1: .*)gid=106,", r"\1gid=107,", deployed))
    code, out = drift()
    assert code == 2, out
    assert "device_passthrough[1].gid: 106 -> 107" in out

    env.cdktf_deploy(STACK, skip_synth=True)
    assert conf.read_text() == deployed
    assert drift()[0] == 0

    env.cdktf_destroy(STACK, skip_synth=True)
    assert env.sim.files.vmids() == []
