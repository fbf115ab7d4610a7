"""The REAL bpg/proxmox v0.111.1 provider and real terraform against the simulated node.

A hand-written Terraform JSON config (no cdktf) with the provider from a filesystem mirror:
an API upload of a template (`proxmox_virtual_environment_file`, vztmpl), a download from a
loopback HTTP server with a checksum (`proxmox_download_file`), and a GPU container
(`device_passthrough` of /dev/dri/renderD128, gid 993, mode 0660; unprivileged; started;
nesting).  With the SSH side available (pvesim/ssh.py + Debian's sshd) the container also gets
an idmap and a hookscript uploaded as a snippet with file_mode 0700.

Proves: apply works without warnings; a second plan has no diff; a hand edit of the conf
(a devN gid) shows as drift in a refresh-only plan; apply restores it; destroy leaves no
conf and no volume; an API token is refused for devN with PVE's message.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any, Iterator

import pytest

from pve_gpu_lxc_testing.webfiles import serve_directory
from pve_gpu_lxc_testing.pvesim import Simulator

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
FACTS = REPO / "stacks" / "facts" / "pve.json"
PROVIDER_NAME = "terraform-provider-proxmox_v0.111.1"
PROVIDER_CANDIDATES = [REPO / ".tools" / "bin" / PROVIDER_NAME, Path("/tmp/gobuild/bin") / PROVIDER_NAME]
VMID = 210
DEV = {"path": "/dev/dri/renderD128", "gid": 993, "mode": "0660"}
_WARNING = re.compile(r"^[\s│╷╵]*Warning: (.+)$", re.MULTILINE)


def provider_binary() -> Path:
    for candidate in PROVIDER_CANDIDATES:
        if candidate.exists():
            return candidate
    raise AssertionError(f"the bpg/proxmox provider binary is missing (looked at {', '.join(map(str, PROVIDER_CANDIDATES))});"
                         " run `make tools` (scripts/build-go-tools.sh)")


def terraform_binary() -> str:
    found = shutil.which("terraform") or shutil.which("tofu")
    if found:
        return found
    tofu = REPO / ".tools" / "bin" / "tofu"
    if tofu.exists():
        return str(tofu)
    raise AssertionError("neither terraform nor tofu is installed; run `make tools`")


def ssh_available() -> bool:
    return (REPO / "constructs" / "pve_gpu_lxc_testing" / "pvesim" / "ssh.py").exists() and \
        Path("/usr/sbin/sshd").exists() and os.geteuid() == 0


def template_bytes(marker: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = b"ID=debian\n" + marker
        info = tarfile.TarInfo("etc/os-release")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class Workspace:
    def __init__(self, base: Path, sim: Simulator, env: dict[str, str]):
        self.base, self.sim, self.env = base, sim, env
        self.stack = base / "stack"
        self.stack.mkdir()
        self.terraform = terraform_binary()

    def write(self, config: dict[str, Any]) -> None:
        (self.stack / "main.tf.json").write_text(json.dumps(config, indent=1))

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.terraform, *args, "-no-color"], cwd=self.stack, env=env or self.env,
                              capture_output=True, text=True, timeout=600)

    def ok(self, *args: str) -> str:
        result = self.run(*args)
        assert result.returncode == 0, f"terraform {' '.join(args)}:\n{result.stdout}\n{result.stderr}\n" \
                                       f"{self.sim_log()}"
        output = result.stdout + result.stderr
        assert _WARNING.findall(output) == [], f"terraform {' '.join(args)} warned:\n{output}"
        return output

    def sim_log(self) -> str:
        try:
            return (self.sim.state_dir / "pvesim.log").read_text()[-4000:]
        except OSError:
            return ""


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    mirror = tmp_path / "mirror" / "registry.terraform.io" / "bpg" / "proxmox" / "0.111.1" / "linux_amd64"
    mirror.mkdir(parents=True)
    shutil.copy2(provider_binary(), mirror / PROVIDER_NAME)
    cli_config = tmp_path / "terraformrc"
    cli_config.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path = "{tmp_path / "mirror"}"\n'
        '    include = ["registry.terraform.io/bpg/proxmox"]\n  }\n'
        '  direct {\n    exclude = ["registry.terraform.io/bpg/proxmox"]\n  }\n}\n')
    sim = Simulator(tmp_path / "node", tmp_path / "sim-state", facts=FACTS, ssh=ssh_available(),
                    tokens={"root@pam!ci": "0b6ec4b2-7c43-4c3b-a8b9-0d4f7a6a9e11"}).start()
    try:
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("PROXMOX_VE_", "TF_", "PVE_GPU_LXC_"))}
        env.update(sim.env)
        env.update({"TF_CLI_CONFIG_FILE": str(cli_config), "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1",
                    "TF_INPUT": "0", "TF_LOG": "DEBUG", "TF_LOG_PATH": str(tmp_path / "terraform.log")})
        env.pop("TERRAFORM_BINARY_NAME", None)
        yield Workspace(tmp_path, sim, env)
    finally:
        sim.stop()


@pytest.fixture
def web(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    directory = tmp_path / "www"
    directory.mkdir()
    with serve_directory(directory) as url:
        yield url, directory


def config(ws: Workspace, web: tuple[str, Path], *, with_ssh: bool) -> dict[str, Any]:
    base, directory = web
    local = ws.base / "debian-12-standard_12.7-1_amd64.tar.gz"
    local.write_bytes(template_bytes(b"uploaded"))
    served = directory / "ubuntu-24.04-standard_24.04-2_amd64.tar.gz"
    served.write_bytes(template_bytes(b"downloaded"))
    container: dict[str, Any] = {
        "node_name": "pve", "vm_id": VMID, "unprivileged": True, "started": True,
        "operating_system": [{"template_file_id": "${proxmox_virtual_environment_file.template.id}",
                              "type": "debian"}],
        "device_passthrough": [dict(DEV)],
        "network_interface": [{"name": "eth0", "bridge": "vmbr0"}],
        "disk": [{"datastore_id": "local-lvm", "size": 8}],
        "features": [{"nesting": True}],
        "initialization": [{"hostname": "jellyfin", "ip_config": [{"ipv4": [{"address": "dhcp"}]}]}],
    }
    resources: dict[str, Any] = {
        "proxmox_virtual_environment_file": {
            "template": {"node_name": "pve", "datastore_id": "local", "content_type": "vztmpl",
                         "source_file": [{"path": str(local)}]}},
        "proxmox_download_file": {
            "downloaded": {"node_name": "pve", "datastore_id": "local", "content_type": "vztmpl",
                           "url": f"{base}/{served.name}", "checksum_algorithm": "sha256",
                           "checksum": hashlib.sha256(served.read_bytes()).hexdigest()}},
        "proxmox_virtual_environment_container": {"ct": container},
    }
    provider: dict[str, Any] = {}
    if with_ssh:
        ssh = ws.sim.ssh
        provider["ssh"] = [{"username": "root", "node": [{"name": "pve", "address": ssh.address, "port": ssh.port}]}]
        resources["proxmox_virtual_environment_file"]["hook"] = {
            "node_name": "pve", "datastore_id": "local", "content_type": "snippets", "file_mode": "0700",
            "source_raw": [{"data": "#!/bin/sh\nexit 0\n", "file_name": "gpu-hook.sh"}]}
        container["hook_script_file_id"] = "${proxmox_virtual_environment_file.hook.id}"
        container["idmap"] = [
            {"type": "uid", "container_id": 0, "host_id": 100000, "size": 65536},
            {"type": "gid", "container_id": 0, "host_id": 100000, "size": 44},
            {"type": "gid", "container_id": 44, "host_id": 44, "size": 1},
            {"type": "gid", "container_id": 45, "host_id": 100045, "size": 65491},
        ]
    return {"terraform": {"required_providers": {"proxmox": {"source": "bpg/proxmox", "version": "0.111.1"}}},
            "provider": {"proxmox": provider}, "resource": resources}


def container_drift(ws: Workspace) -> list[dict[str, Any]]:
    result = ws.run("plan", "-refresh-only", "-out=drift.tfplan")
    assert result.returncode == 0, result.stdout + result.stderr
    shown = subprocess.run([ws.terraform, "show", "-json", "drift.tfplan"], cwd=ws.stack, env=ws.env,
                           capture_output=True, text=True, check=True)
    return [d for d in json.loads(shown.stdout).get("resource_drift", [])
            if d["address"] == "proxmox_virtual_environment_container.ct"]


def test_real_provider_apply_plan_drift_restore_destroy(workspace: Workspace, web: tuple[str, Path]):
    ws = workspace
    with_ssh = ws.sim.ssh is not None
    ws.write(config(ws, web, with_ssh=with_ssh))
    ws.run("init")  # init warns about the lock file of a filesystem mirror; that is terraform, not bpg
    ws.ok("apply", "-auto-approve")

    conf_path = ws.sim.files.conf_path(VMID)
    text = conf_path.read_text()
    assert "dev0: deny-write=0,path=/dev/dri/renderD128,uid=0,gid=993,mode=0660\n" in text
    assert "unprivileged: 1\n" in text and "features: nesting=1\n" in text
    assert f"rootfs: local-lvm:vm-{VMID}-disk-0,size=8G\n" in text
    assert ws.sim.files.status(VMID) == "running"
    assert ws.sim.files.volume_path("local:vztmpl/debian-12-standard_12.7-1_amd64.tar.gz").exists()
    assert ws.sim.files.volume_path("local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.gz").exists()
    if with_ssh:
        assert "hookscript: local:snippets/gpu-hook.sh\n" in text
        assert text.endswith("lxc.idmap: u 0 100000 65536\nlxc.idmap: g 0 100000 44\nlxc.idmap: g 44 44 1\n"
                             "lxc.idmap: g 45 100045 65491\n")
        snippet = ws.sim.files.volume_path("local:snippets/gpu-hook.sh")
        assert snippet.read_text() == "#!/bin/sh\nexit 0\n" and snippet.stat().st_mode & 0o777 == 0o700

    second = ws.run("plan", "-detailed-exitcode")
    assert second.returncode == 0, f"perpetual diff:\n{second.stdout}\n{second.stderr}"

    conf_path.write_text(text.replace("gid=993", "gid=44"))
    drift = container_drift(ws)
    assert len(drift) == 1
    before = drift[0]["change"]["before"]["device_passthrough"][0]
    after = drift[0]["change"]["after"]["device_passthrough"][0]
    assert (before["gid"], after["gid"]) == (993, 44)

    ws.ok("apply", "-auto-approve")
    assert "gid=993,mode=0660\n" in conf_path.read_text() and "[pve:pending]" not in conf_path.read_text()
    again = ws.run("plan", "-detailed-exitcode")
    assert again.returncode == 0, f"diff after restoring:\n{again.stdout}\n{again.stderr}"

    ws.ok("destroy", "-auto-approve")
    assert not conf_path.exists()
    assert not ws.sim.files.volume_path(f"local-lvm:vm-{VMID}-disk-0").exists()
    assert not ws.sim.files.volume_path("local:vztmpl/debian-12-standard_12.7-1_amd64.tar.gz").exists()
    assert not ws.sim.files.volume_path("local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.gz").exists()


def test_real_provider_with_an_api_token_is_refused_device_passthrough(workspace: Workspace, web: tuple[str, Path]):
    ws = workspace
    ws.write(config(ws, web, with_ssh=False))
    env = {k: v for k, v in ws.env.items() if k not in ("PROXMOX_VE_USERNAME", "PROXMOX_VE_PASSWORD")}
    env["PROXMOX_VE_API_TOKEN"] = "root@pam!ci=0b6ec4b2-7c43-4c3b-a8b9-0d4f7a6a9e11"
    ws.run("init")
    result = ws.run("apply", "-auto-approve", env=env)
    assert result.returncode == 1
    output = re.sub(r"\s+", " ", result.stdout + result.stderr)
    assert "received an HTTP 403 response - Reason: Permission check failed (configuring device passthrough " \
           "is only allowed for root@pam)" in output
    assert not ws.sim.files.conf_path(VMID).exists()
