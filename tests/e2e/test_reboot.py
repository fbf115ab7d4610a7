"""NVIDIA containers across a reboot of the node: the real bpg/proxmox provider deploys them, the
simulated node reboots as PVE does (stopall, NVIDIA's on-demand nodes gone, the node's boot
configuration replayed with its own programs, startall in pve-container's start order), and
`pve-gpu-lxc host-setup` installs the remedy over the node's real sshd.

The node starts WITHOUT any boot step that makes the nodes (its facts lack the `boot` section):
- the NVIDIA example (CT 220) and a control container passing /dev/nvidia-uvm as a plain devN
  (CT 250) run after the deploy, and are both down after a reboot, PVE's error in their tasks;
- `host-setup --apply` over SSH installs the unit (a second run changes nothing on the node);
- after the next reboot both run, and the plan is empty.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from pve_gpu_lxc import cli
from pve_gpu_lxc.hostsetup import UNIT_PATH
from pve_gpu_lxc_testing.e2e.harness import FACTS, QUIET_ENV, REPO_ROOT, SimEnv, sim_env, stack_dir, synth_app

from ..pvesim.test_api import Client
from .conftest import seed_templates

pytestmark = pytest.mark.e2e

CONTROL_APP = """\
import sys
sys.path.insert(0, {repo!r})
from pve_gpu_lxc.engine import App, TerraformStack
from pve_gpu_lxc import Device, GpuContainer, ProxmoxProvider, Template, configure_backend

app = App()
stack = TerraformStack(app, "control")
configure_backend(stack, "control")
ProxmoxProvider(stack, "proxmox")
GpuContainer(stack, "control", node_name="pve", vm_id=250, hostname="control",
             template=Template.existing("local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst"),
             devices=[Device("/dev/nvidia-uvm", mode="0666")])  # no host facts, no remedy
app.synth()
"""


class Node:
    def __init__(self, env: SimEnv, stacks: dict[str, Path], facts_out: Path):
        self.env = env
        self.stacks = stacks
        self.facts_out = facts_out
        self.api = Client(env.sim)
        assert self.api.login().status == 200

    def status(self, vmid: int) -> str:
        return str(self.api.call("GET", f"/nodes/pve/lxc/{vmid}/status/current").data["status"])

    def reboot(self) -> None:
        reply = self.api.call("POST", "/nodes/pve/status", {"command": "reboot"})
        assert (reply.status, reply.data) == (200, None), reply.json

    def last_start(self, vmid: int) -> dict:
        return self.api.call("GET", "/nodes/pve/tasks", {"vmid": vmid, "typefilter": "vzstart", "limit": 1}).data[0]

    def host_setup(self, *extra: str) -> tuple[int, str]:
        ssh = self.env.sim.ssh
        assert ssh is not None
        proc = subprocess.run(
            [str(REPO_ROOT / ".venv/bin/pve-gpu-lxc"), "host-setup", "--node", "pve",
             "--ssh", f"root@{ssh.address}:{ssh.port}", "--facts", str(self.facts_out), *extra],
            env={**os.environ, **self.env.env}, capture_output=True, text=True, timeout=300)
        return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    base = tmp_path_factory.mktemp("reboot")
    bare = json.loads(FACTS.read_text())
    bare.pop("boot")
    (base / "bare.json").write_text(json.dumps(bare))
    env = sim_env(base / "sim", facts=base / "bare.json")
    try:
        seed_templates(env)
        examples = synth_app(base / "examples", env=env.env, state_dir=base / "state")
        control_dir = base / "control"
        control_dir.mkdir()
        (control_dir / "main.py").write_text(CONTROL_APP.format(repo=str(REPO_ROOT)))
        run_env = {**os.environ, **QUIET_ENV, **env.env, "CDKTF_OUTDIR": str(control_dir / "cdktf.out"),
                   "PVE_GPU_LXC_STATE_DIR": str(base / "state")}
        proc = subprocess.run([str(REPO_ROOT / ".venv/bin/python"), "main.py"], cwd=control_dir, env=run_env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        stacks = {"nvidia-ollama": stack_dir(examples, "nvidia-ollama"),
                  "control": stack_dir(control_dir / "cdktf.out", "control")}
        for path in stacks.values():
            env.apply(path)
        yield Node(env, stacks, base / "recorded" / "pve.json")
    finally:
        env.close()


def test_deployed_they_run(node: Node) -> None:
    assert node.status(220) == "running" and node.status(250) == "running"


def test_without_a_boot_step_a_reboot_leaves_them_down_with_pves_error(node: Node) -> None:
    node.reboot()
    assert node.status(220) == "stopped" and node.status(250) == "stopped"
    assert node.last_start(220)["status"] == "Device /dev/nvidia0 does not exist"
    assert node.last_start(250)["status"] == "Device /dev/nvidia-uvm does not exist"
    startall = node.api.call("GET", "/nodes/pve/tasks", {"typefilter": "startall", "limit": 1}).data[0]
    log = node.api.task(startall["upid"])[1]
    assert "Starting CT 250 failed: Device /dev/nvidia-uvm does not exist" in log


def test_host_setup_installs_the_unit_over_ssh_and_a_second_run_changes_nothing(node: Node) -> None:
    code, out = node.host_setup()
    assert code == 2 and f"  {UNIT_PATH}: create" in out  # the plan, before --apply
    code, out = node.host_setup("--apply")
    assert code == 0, out
    assert f"  written {UNIT_PATH}" in out
    assert "makes the nodes at the next boot" in out  # no systemd runs on the simulated node
    recorded = json.loads(node.facts_out.read_text())
    # what the node records now is what the committed example facts say host-setup installs
    assert recorded["boot"] == json.loads(FACTS.read_text())["boot"]
    before = node.env.node_fingerprint()
    code, out = node.host_setup("--apply")
    assert code == 0 and f"  unchanged {UNIT_PATH}" in out, out
    assert node.env.node_fingerprint() == before


def test_with_host_setups_unit_they_run_after_a_reboot_and_the_plan_is_empty(node: Node) -> None:
    node.reboot()
    assert node.status(220) == "running" and node.status(250) == "running"
    assert node.last_start(220)["status"] == "OK"
    boot_log = (node.env.node_root / "var/log/pvesim-boot.log").read_text()
    assert "pve-gpu-lxc-nvidia-nodes.service: ExecStart=/usr/bin/nvidia-modprobe -u -c 0" in boot_log
    for path in node.stacks.values():
        assert node.env.plan(path) == 0


def test_check_finds_the_boot_set_up_in_place(node: Node) -> None:
    report = node.facts_out.parent / "check.json"
    code = cli.main(["check", "nvidia-ollama", "--no-synth", "--outdir", str(node.stacks["nvidia-ollama"].parent.parent),
                     "--project-dir", str(REPO_ROOT), "--facts", f"pve={node.facts_out}",
                     "--json", str(report)], environ={**os.environ, **node.env.env})
    result = json.loads(report.read_text())
    (container,) = result["stacks"][0]["containers"]
    assert "boot" in container["checked"], container
    assert [f for f in container["findings"] if f["item"] == "boot"] == []
    assert code == 0, container
