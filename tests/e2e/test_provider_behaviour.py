"""What the real bpg/proxmox provider does on the simulated node, beyond the example stacks.

Each test synthesizes a small stack of its own in-process (ProxmoxProvider reads the
node's SSH address from the simulated node's environment), applies it with real
terraform, changes the configuration or the node, and records what bpg really does:
idmap rewrites, the trailing devN it leaves behind, and how a downloaded template is
checked.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pve_gpu_lxc.engine import App, LocalBackend, TerraformStack

from pve_gpu_lxc import GpuContainer, IdMap, IntelGpu, ProxmoxProvider, Template
from pve_gpu_lxc_testing.e2e.harness import SimEnv, warnings_in
from pve_gpu_lxc_testing.webfiles import serve_directory

pytestmark = pytest.mark.e2e

UBUNTU = "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst"
ADDRESS = "proxmox_virtual_environment_container.ct"
VMID = 230


def synth(env: SimEnv, out: Path, **container: Any) -> Path:
    """One stack, one GpuContainer `ct` (vm_id 230) on the simulated node; returns the stack dir."""
    app = App(outdir=str(out))
    stack = TerraformStack(app, "probe")
    LocalBackend(stack, path=str(env.work_dir / "probe.tfstate"))  # one state per test, never in the repo
    ProxmoxProvider(stack, "proxmox", environ=env.env)
    props: dict[str, Any] = dict(node_name="pve", vm_id=VMID, hostname="probe", template=Template.existing(UBUNTU),
                                 started=False)
    GpuContainer(stack, "ct", **(props | container))
    app.synth()
    return out / "stacks" / "probe"


def idmap_lines(env: SimEnv) -> list[str]:
    return [line for line in env.conf_text(VMID).splitlines() if line.startswith("lxc.idmap:")]


def synthesized_idmap(stack_dir: Path) -> list[str]:
    doc = json.loads((stack_dir / "cdk.tf.json").read_text())
    body = doc["resource"]["proxmox_virtual_environment_container"]["ct"]
    return [f"lxc.idmap: {e['type'][0]} {e['container_id']} {e['host_id']} {e['size']}" for e in body["idmap"]]


def test_idmap_lines_equal_the_synthesized_map_after_apply_and_after_an_update(sim: SimEnv, tmp_path: Path) -> None:
    first = synth(sim, tmp_path / "v1", gpus=[IntelGpu(card=None, render=128)],
                  idmap=IdMap.passthrough(gids={993: 108}))
    sim.apply(first)
    assert idmap_lines(sim) == synthesized_idmap(first)
    assert "lxc.idmap: g 993 108 1" in idmap_lines(sim)

    second = synth(sim, tmp_path / "v2", gpus=[IntelGpu(card=0, render=128)],
                   idmap=IdMap.passthrough(gids={44: 44, 993: 108}))
    code, plan = sim.plan_json(second)
    (change,) = [c for c in plan["resource_changes"] if c["address"] == ADDRESS]
    assert code == 2 and change["change"]["actions"] == ["update"]  # in place, not a replacement
    proc = sim.apply(second)
    assert warnings_in(proc.stdout + proc.stderr) == []
    assert idmap_lines(sim) == synthesized_idmap(second)
    assert "lxc.idmap: g 44 44 1" in idmap_lines(sim)
    assert sim.plan(second) == 0


def test_blind_spot_shrinking_the_device_list_leaves_the_trailing_devn(sim: SimEnv, tmp_path: Path) -> None:
    both = synth(sim, tmp_path / "v1", gpus=[IntelGpu(card=0, render=128)])
    sim.apply(both)
    assert [l.split(":")[0] for l in sim.conf_text(VMID).splitlines() if l.startswith("dev")] == ["dev0", "dev1"]

    old_dev1 = next(l for l in sim.conf_text(VMID).splitlines() if l.startswith("dev1:"))
    render_only = synth(sim, tmp_path / "v2", gpus=[IntelGpu(card=None, render=128)])
    sim.apply(render_only)
    devices = [l for l in sim.conf_text(VMID).splitlines() if l.startswith("dev")]
    # bpg sends the new list as dev0 and never deletes dev1: the old dev1 stays as it was ...
    assert devices == ["dev0: deny-write=0,path=/dev/dri/renderD128,uid=0,gid=993,mode=0660", old_dev1]
    # ... and reads it back, so every later plan wants to remove it again
    assert sim.plan(render_only) == 2


# --- a downloaded template, served from loopback ------------------------------------------------

@pytest.fixture
def http_files(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A directory served over http://127.0.0.1:<port>/ (PVE's download-url fetches from it)."""
    root = tmp_path / "www"
    root.mkdir()
    with serve_directory(root) as url:
        yield root, url


def _download_stack(sim: SimEnv, out: Path, url: str, data: bytes) -> Path:
    sim.volume_path(UBUNTU).unlink(missing_ok=True)  # the node fixture seeds this file; PVE downloads it here
    template = Template.download(url=url, checksum=hashlib.sha256(data).hexdigest())
    return synth(sim, out, template=template, gpus=[IntelGpu(card=None, render=128)])


def test_downloaded_template_deleted_on_node_is_downloaded_again(sim: SimEnv, tmp_path: Path, http_files) -> None:
    root, base = http_files
    data = b"ubuntu rootfs, first build\n" * 100
    (root / "ubuntu-24.04-standard_24.04-2_amd64.tar.zst").write_bytes(data)
    stack = _download_stack(sim, tmp_path / "dl", f"{base}/ubuntu-24.04-standard_24.04-2_amd64.tar.zst", data)
    proc = sim.apply(stack)
    assert warnings_in(proc.stdout + proc.stderr) == []  # proxmox_download_file: the current name
    on_node = sim.volume_path(UBUNTU)
    assert on_node.read_bytes() == data
    assert sim.plan(stack) == 0

    on_node.unlink()
    drift = sim.drift(stack)
    assert any(a.startswith("proxmox_download_file.") for a in drift.addresses())
    sim.apply(stack)
    assert on_node.read_bytes() == data


def test_blind_spot_template_swapped_for_one_of_the_same_size(sim: SimEnv, tmp_path: Path, http_files) -> None:
    root, base = http_files
    data = b"A" * 4096
    (root / "ubuntu-24.04-standard_24.04-2_amd64.tar.zst").write_bytes(data)
    stack = _download_stack(sim, tmp_path / "dl", f"{base}/ubuntu-24.04-standard_24.04-2_amd64.tar.zst", data)
    sim.apply(stack)
    sim.volume_path(UBUNTU).write_bytes(b"B" * 4096)  # another file, same size
    assert sim.drift(stack).resource_drift == []
    assert sim.plan(stack) == 0


def test_checksum_mismatch_fails_the_apply_with_pves_message(sim: SimEnv, tmp_path: Path, http_files) -> None:
    root, base = http_files
    (root / "ubuntu-24.04-standard_24.04-2_amd64.tar.zst").write_bytes(b"what the server has")
    stack = _download_stack(sim, tmp_path / "dl", f"{base}/ubuntu-24.04-standard_24.04-2_amd64.tar.zst",
                            b"what the user pinned")
    sim.init(stack)
    proc = sim.terraform(stack, "apply", "-auto-approve", "-input=false", "-no-color", ok=(1,))
    assert "checksum mismatch" in proc.stderr
    assert not sim.volume_path(UBUNTU).exists()
    assert sim.sim.files.vmids() == []  # nothing half-applied: the container was never created
