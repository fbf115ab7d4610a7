"""The example stacks through real cdktf-cli + terraform and the real bpg/proxmox provider,
against the simulated Proxmox VE node.

Per stack: `cdktf deploy` writes exactly the expected PVE config with no warning, a
second plan is empty, out-of-band edits on the node are reported as drift naming the
resource and attribute, `cdktf deploy` restores the file byte for byte, bpg's blind
spots stay blind (as observed with the real provider), and `cdktf destroy` leaves the
node empty.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from pve_gpu_lxc_testing.e2e.harness import SimEnv, warnings_in
from pve_gpu_lxc_testing.pvesim.lxc_config import mac_address

pytestmark = pytest.mark.e2e

CONTAINER = "proxmox_virtual_environment_container"


def _expected_intel() -> str:
    return "\n".join([
        "#Jellyfin with Intel Quick Sync (UHD 630)",
        "arch: amd64",
        "cmode: tty",
        "console: 1",
        "cores: 4",
        "cpulimit: 0",
        "dev0: deny-write=0,path=/dev/dri/card0,uid=0,gid=44,mode=0660",
        "dev1: deny-write=0,path=/dev/dri/renderD128,uid=0,gid=106,mode=0660",
        "features: nesting=1",
        "hostname: jellyfin",
        "memory: 4096",
        f"net0: name=eth0,bridge=vmbr0,host-managed=0,hwaddr={mac_address(210, 0)},ip=dhcp,type=veth",
        "onboot: 1",
        "ostype: debian",
        "protection: 0",
        "rootfs: local-lvm:vm-210-disk-0,size=8G",
        "swap: 512",
        "tags: gpu;media;pve-gpu-lxc.intel-jellyfin.jellyfin",  # the ownership tag, in the create request
        "template: 0",
        "tty: 2",
        "unprivileged: 1",
        "lxc.idmap: u 0 100000 65536",
        "lxc.idmap: g 0 100000 44",
        "lxc.idmap: g 44 44 1",
        "lxc.idmap: g 45 100045 61",
        "lxc.idmap: g 106 108 1",
        "lxc.idmap: g 107 100107 65429",
    ]) + "\n"


def _expected_nvidia() -> str:
    return "\n".join([
        "#Ollama on an RTX 5090 (NVIDIA 575.64.03)",
        "arch: amd64",
        "cmode: tty",
        "console: 1",
        "cores: 8",
        "cpulimit: 0",
        "dev0: deny-write=0,path=/dev/nvidia0,uid=0,gid=0,mode=0666",
        "dev1: deny-write=0,path=/dev/nvidiactl,uid=0,gid=0,mode=0666",
        "dev2: deny-write=0,path=/dev/nvidia-uvm,uid=0,gid=0,mode=0666",
        "dev3: deny-write=0,path=/dev/nvidia-uvm-tools,uid=0,gid=0,mode=0666",
        "features: nesting=1",
        "hookscript: local:snippets/pve-gpu-lxc-220.sh",
        "hostname: ollama",
        "memory: 16384",
        f"net0: name=eth0,bridge=vmbr0,host-managed=0,hwaddr={mac_address(220, 0)},ip=dhcp,type=veth",
        "onboot: 1",
        "ostype: ubuntu",
        "protection: 0",
        "rootfs: local-lvm:vm-220-disk-0,size=64G",
        "swap: 512",
        "tags: gpu;llm;pve-gpu-lxc.nvidia-ollama.ollama",
        "template: 0",
        "tty: 2",
        "unprivileged: 1",
    ]) + "\n"


@dataclass(frozen=True)
class Example:
    stack: str
    vmid: int
    template: str
    expected: Callable[[], str]
    snippet: str | None = None


EXAMPLES = {
    "intel-jellyfin": Example("intel-jellyfin", 210, "local:vztmpl/debian-12-standard_12.2-1_amd64.tar.zst",
                              _expected_intel),
    "nvidia-ollama": Example("nvidia-ollama", 220, "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst",
                             _expected_nvidia, snippet="local:snippets/pve-gpu-lxc-220.sh"),
}


@dataclass
class Deployed:
    env: SimEnv
    example: Example
    stack_dir: Path
    address: str
    deploy_output: str = ""

    @property
    def conf(self) -> Path:
        return self.env.conf_path(self.example.vmid)

    def deploy(self) -> None:
        """`cdktf deploy` of the already synthesized stack (the app itself runs once per stack)."""
        self.stack_dir = self.env.cdktf_deploy(self.example.stack, skip_synth=True)

    def apply(self) -> None:
        """What `cdktf deploy` runs, minus its ~4 s of node start-up: `terraform apply` in the stack dir."""
        self.env.apply(self.stack_dir)


@pytest.fixture(scope="module", params=sorted(EXAMPLES))
def deployed(request: pytest.FixtureRequest, shared_sim: SimEnv) -> Deployed:
    example = EXAMPLES[request.param]
    stack_dir = shared_sim.cdktf_deploy(example.stack)
    doc = json.loads((stack_dir / "cdk.tf.json").read_text())
    (name,) = doc["resource"][CONTAINER]
    deployed = Deployed(shared_sim, example, stack_dir, f"{CONTAINER}.{name}")
    deployed.deploy_output = shared_sim.last_output
    return deployed


def test_deploy_writes_exactly_the_expected_config(deployed: Deployed) -> None:
    assert deployed.conf.read_text() == deployed.example.expected()


def test_deploy_prints_no_warning(deployed: Deployed) -> None:
    assert "Apply complete!" in deployed.deploy_output
    assert warnings_in(deployed.deploy_output) == []


def test_second_plan_is_empty_and_warning_free(deployed: Deployed) -> None:
    proc = deployed.env.terraform(deployed.stack_dir, "plan", "-detailed-exitcode", "-input=false", "-no-color",
                                  ok=(0, 2))
    assert proc.returncode == 0, f"perpetual diff right after deploy:\n{proc.stdout}"
    assert warnings_in(proc.stdout + proc.stderr) == []
    # not the exit code: Terraform 1.10/1.11 exits 2 on a clean refresh-only plan (docs/drift-and-gitops.md)
    assert deployed.env.drift(deployed.stack_dir).resource_drift == []


# --- out-of-band edits on the node --------------------------------------------------------------

def _drop_first(prefix: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        lines = text.splitlines(keepends=True)
        index = next(i for i, line in enumerate(lines) if line.startswith(prefix))
        return "".join(lines[:index] + lines[index + 1:])
    return edit


def _bump_gid(text: str) -> str:
    line = next(l for l in text.splitlines() if l.startswith("dev1:"))
    changed = re.sub(r"gid=(\d+)", lambda m: f"gid={int(m.group(1)) + 1}", line)
    return text.replace(line, changed)


def _edit_idmap(text: str) -> str:
    lines = text.splitlines(keepends=True)
    idmaps = [i for i, line in enumerate(lines) if line.startswith("lxc.idmap:")]
    if idmaps:  # remove the last mapping line
        return "".join(lines[:idmaps[-1]] + lines[idmaps[-1] + 1:])
    return text + "lxc.idmap: u 0 100000 65536\n"  # a stack without idmap gets one


def _repoint_hookscript(text: str) -> str:
    if "\nhookscript: " in text:
        return re.sub(r"(?m)^hookscript: .*$", "hookscript: local:snippets/someone-elses.sh", text)
    return text.replace("\nhostname: ", "\nhookscript: local:snippets/someone-elses.sh\nhostname: ")


# Restoring through cdktf-cli costs ~4 s per call on this machine: one edit per stack (and the
# deleted-config case) goes through `cdktf deploy`, the others through `terraform apply` in the
# same synthesized directory (the command `cdktf deploy` runs there).
VIA_CDKTF = {"delete-dev0-line"}
EDITS: dict[str, tuple[Callable[[str], str], str]] = {
    "delete-dev0-line": (_drop_first("dev0:"), "device_passthrough"),
    "change-gid": (_bump_gid, "device_passthrough"),
    "remove-or-add-idmap-line": (_edit_idmap, "idmap"),
    "repoint-hookscript": (_repoint_hookscript, "hook_script_file_id"),
    "change-description": (lambda t: t.replace("#", "#edited ", 1), "description"),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_edit_is_drift_and_deploy_restores(deployed: Deployed, edit: str) -> None:
    change, attribute = EDITS[edit]
    deployed.conf.write_text(change(deployed.conf.read_text()))

    drift = deployed.env.drift(deployed.stack_dir)
    assert drift.exit_code == 2, f"{edit}: terraform plan -refresh-only saw no drift"
    assert drift.addresses() == [deployed.address]
    assert attribute in drift.changed_attributes(deployed.address)

    if edit in VIA_CDKTF:
        deployed.deploy()
    else:
        deployed.apply()
    # a replacement destroys the container with its disk and creates it anew (next free disk name)
    assert without_disk_number(deployed.conf.read_text()) == without_disk_number(deployed.example.expected())
    assert deployed.env.plan(deployed.stack_dir) == 0


def test_deleted_config_plans_create_and_deploy_recreates(deployed: Deployed) -> None:
    deployed.conf.unlink()
    drift = deployed.env.drift(deployed.stack_dir)
    assert drift.exit_code == 2
    assert drift.changed_attributes(deployed.address) == {"<deleted>"}
    code, plan = deployed.env.plan_json(deployed.stack_dir)
    actions = {c["address"]: c["change"]["actions"] for c in plan["resource_changes"]}
    assert code == 2 and actions[deployed.address] == ["create"]

    disk = deployed.env.volume_path(f"local-lvm:vm-{deployed.example.vmid}-disk-0")
    assert disk.exists(), "deleting a conf file by hand leaves the container's disk on the storage"
    deployed.deploy()
    # PVE allocates the next free disk name: the old one is still there (an orphan to clean up by hand)
    assert deployed.conf.read_text() == with_disk(deployed.example.expected(), 1)
    assert disk.exists()


def with_disk(conf: str, number: int) -> str:
    return re.sub(r"(?m)^(rootfs: local-lvm:vm-\d+-disk-)0,", rf"\g<1>{number},", conf)


def without_disk_number(conf: str) -> str:
    return re.sub(r"(?m)^(rootfs: local-lvm:vm-\d+-disk-)\d+,", r"\1N,", conf)


def test_unprivileged_changed_by_hand_plans_replacement(deployed: Deployed) -> None:
    deployed.conf.write_text(deployed.conf.read_text().replace("unprivileged: 1\n", ""))
    drift = deployed.env.drift(deployed.stack_dir)
    assert "unprivileged" in drift.changed_attributes(deployed.address)
    code, plan = deployed.env.plan_json(deployed.stack_dir)
    change = next(c for c in plan["resource_changes"] if c["address"] == deployed.address)
    assert change["change"]["actions"] == ["delete", "create"]  # ForceNew
    assert ["unprivileged"] in change["change"]["replace_paths"]

    deployed.apply()
    # a replacement destroys the container with its disk and creates it anew (next free disk name)
    assert without_disk_number(deployed.conf.read_text()) == without_disk_number(deployed.example.expected())


# --- bpg's blind spots, as observed with the real provider (docs/drift-and-gitops.md) --------------

def test_blind_spot_removing_all_devices_is_not_detected(deployed: Deployed) -> None:
    original = deployed.conf.read_text()
    deployed.conf.write_text("".join(l for l in original.splitlines(keepends=True) if not l.startswith("dev")))
    try:
        assert deployed.env.drift(deployed.stack_dir).resource_drift == []
        assert deployed.env.plan(deployed.stack_dir) == 0
    finally:
        deployed.conf.write_text(original)


WITH_SNIPPET = pytest.mark.parametrize("deployed", [s for s, e in EXAMPLES.items() if e.snippet], indirect=True)


@WITH_SNIPPET
def test_blind_spot_snippet_content_edited_on_node_is_not_detected(deployed: Deployed) -> None:
    assert deployed.example.snippet
    snippet = deployed.env.volume_path(deployed.example.snippet)
    original = snippet.read_bytes()
    snippet.write_bytes(original + b"\necho tampered\n")
    try:
        assert deployed.env.drift(deployed.stack_dir).resource_drift == []
        assert deployed.env.plan(deployed.stack_dir) == 0
    finally:
        snippet.write_bytes(original)


@WITH_SNIPPET
def test_blind_spot_hookscript_made_non_executable_is_not_detected(deployed: Deployed) -> None:
    """`chmod -x` on the node: bpg never reads a file's mode back, so Terraform sees nothing,
    although PVE will refuse the next start ("script ... is not executable")."""
    assert deployed.example.snippet
    snippet = deployed.env.volume_path(deployed.example.snippet)
    snippet.chmod(0o600)
    try:
        assert deployed.env.drift(deployed.stack_dir).resource_drift == []
        assert deployed.env.plan(deployed.stack_dir) == 0
    finally:
        snippet.chmod(0o700)


@WITH_SNIPPET
def test_deleted_snippet_is_recreated(deployed: Deployed) -> None:
    assert deployed.example.snippet
    snippet = deployed.env.volume_path(deployed.example.snippet)
    content = snippet.read_bytes()
    snippet.unlink()
    drift = deployed.env.drift(deployed.stack_dir)
    assert drift.exit_code == 2
    assert any(a.startswith("proxmox_virtual_environment_file.") for a in drift.addresses())
    deployed.apply()
    assert snippet.read_bytes() == content
    assert snippet.stat().st_mode & 0o777 == 0o700  # file_mode applied: PVE runs only executable hookscripts


def test_destroy_removes_config_and_snippet(deployed: Deployed) -> None:
    deployed.env.cdktf_destroy(deployed.example.stack, skip_synth=True)
    assert not deployed.conf.exists()
    assert deployed.example.vmid not in deployed.env.sim.files.vmids()
    if deployed.example.snippet:
        assert not deployed.env.volume_path(deployed.example.snippet).exists()
