"""pve.synthesized: the one reader of the synthesized document (what the example stacks promise per GPU
container, Terraform's template escapes, the provider settings; pure)."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pve_gpu_lxc.engine import Testing as CdktfTesting

from pve_gpu_lxc import GpuContainer, NvidiaGpu, Template
from pve_gpu_lxc.core import nvidia_pin
from pve_gpu_lxc.model.hooks import NvidiaGuard, render_hookscript
from pve_gpu_lxc.pve import synthesized as ex
from stacks import STACKS

from .conftest import synth_json
from .test_idmap import SEED_LINES


@pytest.fixture(scope="module")
def docs() -> dict:
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("PROXMOX_VE_")}
    try:
        app = CdktfTesting.app()
        return {name: synth_json(cls(app, name)) for name, cls in STACKS.items()}
    finally:
        os.environ.update(saved)


def test_intel_jellyfin_devices_and_raw_idmap_lines(docs) -> None:
    (ct,) = ex.containers("intel-jellyfin", docs["intel-jellyfin"])
    assert (ct.stack, ct.name, ct.node, ct.vmid, ct.unprivileged) == ("intel-jellyfin", "jellyfin", "pve", 210, True)
    assert ct.address == "proxmox_virtual_environment_container.jellyfin"
    assert [(d.index, d.path, d.uid, d.gid, d.mode, d.deny_write) for d in ct.devices] == [
        (0, "/dev/dri/card0", 0, 44, "0660", False), (1, "/dev/dri/renderD128", 0, 106, "0660", False)]
    assert ["lxc.idmap: " + line for line in ct.idmap] == SEED_LINES
    assert ct.effective_idmap == ct.idmap
    assert ct.hook is None and ct.nvidia_driver is None and not ct.is_nvidia
    assert ct.devices[1].pve_value() == "path=/dev/dri/renderD128,uid=0,gid=106,mode=0660"


def test_nvidia_ollama_hook_content_is_the_script_bpg_uploads(docs) -> None:
    (ct,) = ex.containers("nvidia-ollama", docs["nvidia-ollama"])
    assert ct.idmap == () and ct.effective_idmap == ex.PVE_DEFAULT_IDMAP
    assert [d.path for d in ct.devices] == ["/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"]
    hook = ct.hook
    assert hook is not None
    assert hook.volid == "local:snippets/pve-gpu-lxc-220.sh"
    assert (hook.storage, hook.snippet) == ("local", "pve-gpu-lxc-220.sh")
    assert hook.file_address.startswith("proxmox_virtual_environment_file.ollama_HookScript")
    assert hook.file_mode == "0700"
    # Terraform's escapes undone: the text on the node has ${...}, the JSON $${...}
    assert 'sysroot="${PVE_GPU_LXC_SYSROOT:-}"' in hook.content and "$${" not in hook.content
    assert hook.sha256 == hashlib.sha256(hook.content.encode()).hexdigest()
    assert ct.nvidia_driver == "575.64.03" and ct.is_nvidia


def test_provider_ssh_settings() -> None:
    doc = {"provider": {"proxmox": [{"ssh": {"agent": True, "username": "root",
                                              "node": [{"name": "pve", "address": "127.0.0.1", "port": 2222}]},
                                      "insecure": True}]}}
    settings = ex.provider_settings(doc)
    assert settings.ssh_username == "root" and settings.ssh_agent is True and settings.insecure is True
    assert settings.ssh_nodes == (ex.SshNode("pve", "127.0.0.1", 2222),)
    assert ex.provider_settings({}) == ex.ProviderSettings()


@pytest.mark.parametrize("text, value", [
    ("plain", "plain"),
    ("a $${b} c", "a ${b} c"),
    ("%%{ if }", "%{ if }"),
    ("$$$${x}", "$$${x}"),
    ("cost: $5", "cost: $5"),
    ("${var.x}", None),
    ("%{ if true }x%{ endif }", None),
])
def test_undo_template_escapes(text, value) -> None:
    assert ex.undo_template_escapes(text) == value
    assert ex.is_expression(text) is (value is None)


@given(st.text(alphabet="${}%x ", max_size=24))
def test_what_escape_literal_writes_reads_back_as_the_text(text: str) -> None:
    """The constructs write hook scripts and descriptions with escape_literal; the reader gets them back."""
    assert ex.undo_template_escapes(ex.escape_literal(text)) == text


def test_file_references() -> None:
    assert ex.file_reference("${proxmox_virtual_environment_file.ollama_HookScript_F55664F4.id}") == \
        "ollama_HookScript_F55664F4"
    for value in ("local:snippets/x.sh", "${proxmox_virtual_environment_file.x.path}", "${proxmox_download_file.x.id}"):
        assert ex.file_reference(value) is None


def test_load_reads_a_json_object_only(tmp_path) -> None:
    path = tmp_path / "cdk.tf.json"
    path.write_text(json.dumps({"resource": {}}))
    assert ex.load(path) == {"resource": {}}
    path.write_text("[]")
    with pytest.raises(ex.ExpectedError, match="not a JSON object"):
        ex.load(path)


def test_the_lxc_harness_reads_the_example_stacks_with_the_same_reader(docs) -> None:
    """The LXC harness's ContainerSpec holds what check reads: devices, idmap, hook text."""
    from pve_gpu_lxc_testing.lxc import bpg

    for stack, doc in docs.items():
        (expected,) = ex.containers(stack, doc)
        spec = bpg.containers(doc)[expected.name]
        assert spec.vm_id == expected.vmid and spec.unprivileged == expected.unprivileged
        assert tuple(r.lxc_value() for r in spec.idmap) == expected.idmap
        assert [(d.path, d.uid, d.gid, d.mode) for d in spec.devices] == \
            [(d.path, d.uid, d.gid, d.mode) for d in expected.devices]
        assert spec.hook_script == (expected.hook.content if expected.hook else None)


def _container(**body) -> dict:
    base = {"node_name": "pve", "vm_id": 300, "device_passthrough": [{"path": "/dev/dri/renderD128", "gid": 106}]}
    base.update(body)
    return {"resource": {"proxmox_virtual_environment_container": {"ct": base}}}


def test_containers_without_devices_are_not_gpu_containers() -> None:
    assert ex.containers("s", _container(device_passthrough=[])) == []
    (ct,) = ex.containers("s", _container())
    assert (ct.devices[0].uid, ct.devices[0].mode, ct.unprivileged) == (0, None, False)
    assert ct.effective_idmap == ()  # privileged without a map: LXC gets none


def test_a_literal_hookscript_volume_has_no_known_content() -> None:
    (ct,) = ex.containers("s", _container(hook_script_file_id="local:snippets/mine.sh"))
    assert ct.hook == ex.ExpectedHook("local:snippets/mine.sh", note=ct.hook.note)
    assert ct.hook.sha256 is None and ct.hook.snippet == "mine.sh"


@pytest.mark.parametrize("body, message", [
    ({"vm_id": None}, "vm_id None is not a literal number"),
    ({"node_name": "${var.node}"}, "is not a literal node name"),
    ({"hook_script_file_id": "${proxmox_virtual_environment_file.gone.id}"}, "which the stack does not have"),
    ({"idmap": [{"type": "uid", "container_id": 0}]}, "misses container_id, host_id or size"),
])
def test_unreadable_configurations_are_named(body, message) -> None:
    with pytest.raises(ex.ExpectedError, match=message.replace("$", r"\$").replace("{", r"\{")):
        ex.containers("s", _container(**body))


def test_pin_comes_from_the_generated_hook_line_only() -> None:
    assert nvidia_pin.pinned_version(f"{nvidia_pin.FUNCTION}() {{\n") is None  # the definition pins nothing
    text = render_hookscript(vmid=230, hostname="ai", nvidia=NvidiaGuard("580.65.06"))
    assert f"        {nvidia_pin.call('580.65.06')}" in text.splitlines()  # the pre-start line
    assert nvidia_pin.pinned_version(text) == "580.65.06"
    assert nvidia_pin.pinned_version(render_hookscript(vmid=230, hostname="ai")) is None
    assert nvidia_pin.pinned_version(f"  {nvidia_pin.FUNCTION} '575.64.03'\n") == "575.64.03"  # quoted by hand


def test_host_runtime_comes_from_the_generated_hook_line_only() -> None:
    assert nvidia_pin.host_runtime(f"{nvidia_pin.RUNTIME_FUNCTION}() {{\n") is None  # the definition
    text = render_hookscript(vmid=230, hostname="ai", nvidia_runtime="compute,utility")
    assert f"        {nvidia_pin.runtime_call('compute,utility')}" in text.splitlines()
    assert nvidia_pin.host_runtime(text) == "compute,utility" and nvidia_pin.pinned_version(text) is None
    assert nvidia_pin.host_runtime(render_hookscript(vmid=230, hostname="ai", nvidia=NvidiaGuard("580.65.06"))) is None


def test_a_synthesized_host_runtime_container_is_read_back(stack, synth) -> None:
    GpuContainer(stack, "app", node_name="pve", vm_id=230, hostname="app",
                 template=Template.oci("docker.io/library/app:1.0", os_type="unmanaged"),
                 gpus=[NvidiaGpu(runtime="host", capabilities="utility,compute")], entrypoint="/app", env={"PATH": "/bin"})
    (ct,) = ex.containers("test", synth(stack))
    assert (ct.nvidia_runtime, ct.nvidia_driver, ct.is_nvidia) == ("compute,utility", None, True)


def test_ownership_of_the_example_stacks(docs) -> None:
    (ct,) = ex.containers("intel-jellyfin", docs["intel-jellyfin"])
    assert ct.hostname == "jellyfin" and ct.guarded and not ct.imported
    assert ct.tags == ("gpu", "media", "pve-gpu-lxc.intel-jellyfin.jellyfin")
    assert ex.managed_vmids(docs["intel-jellyfin"]) == {210}


def test_an_import_block_marks_the_container_imported() -> None:
    body = {"node_name": "pve", "vm_id": 300, "device_passthrough": [{"path": "/dev/dri/renderD128"}],
            "initialization": {"hostname": "db"}}
    doc = {"resource": {ex.CONTAINER_TYPE: {"db": body, "plain": {"node_name": "pve", "vm_id": "301"}}},
           "import": [{"to": f"{ex.CONTAINER_TYPE}.db", "id": "pve/300"}]}
    (ct,) = ex.containers("s", doc)
    assert ct.imported and not ct.guarded and ct.hostname == "db" and ct.tags == ()
    assert ex.managed_vmids(doc) == {300, 301}  # every container of the stack, GPU or not
