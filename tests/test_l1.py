"""The L1 layer is derived from the schema, and the schema checker catches what it must."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from pve_gpu_lxc.l1 import codegen, generated, schema
from pve_gpu_lxc.l1.schema import check_resource, check_synthesized, resource_block


def test_generated_module_is_up_to_date() -> None:
    assert codegen.TARGET.read_text() == codegen.generate(), "run: python -m pve_gpu_lxc.l1.codegen"


def test_every_settable_container_attribute_and_block_is_typed() -> None:
    block = resource_block("proxmox_virtual_environment_container")
    import inspect

    params = set(inspect.signature(generated.VirtualEnvironmentContainer.__init__).parameters)
    settable = {n for n, a in block["attributes"].items() if a.get("optional") or a.get("required")} - {"id"}
    assert settable | set(block["block_types"]) <= params
    passthrough = {f.name for f in dataclasses.fields(generated.ContainerDevicePassthrough)}
    assert passthrough == set(block["block_types"]["device_passthrough"]["block"]["attributes"])


CT = "proxmox_virtual_environment_container"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"node_name": "pve", "gpu": True}, f"{CT}.x.gpu: unknown attribute or block"),
        ({"node_name": "pve", "vm_id": "two hundred"}, f"{CT}.x.vm_id: expected number, got str 'two hundred'"),
        ({"node_name": "pve", "started": "yes"}, f"{CT}.x.started: expected bool, got str 'yes'"),
        ({"vm_id": 200}, f"{CT}.x.node_name: required attribute is missing"),
        ({"node_name": "pve", "device_passthrough": [{"gid": 5}]}, f"{CT}.x.device_passthrough[0].path: required attribute is missing"),
        ({"node_name": "pve", "device_passthrough": [{"path": f"/dev/x{i}"} for i in range(129)]}, f"{CT}.x.device_passthrough: 129 blocks, at most 128 allowed"),
        ({"node_name": "pve", "cpu": [{"cores": 1}, {"cores": 2}]}, f"{CT}.x.cpu: 2 blocks, at most 1 allowed"),
        ({"node_name": "pve", "ipv4": {"eth0": "1.2.3.4"}}, f"{CT}.x.ipv4: attribute is computed by the provider and cannot be set"),
        ({"node_name": "pve", "tags": "gpu"}, f"{CT}.x.tags: expected list, got str 'gpu'"),
        ({"node_name": "pve", "idmap": [{"type": "gid", "container_id": 0, "host_id": 1}]}, f"{CT}.x.idmap[0].size: required attribute is missing"),
        # marked deprecated in bpg 0.111.1's own schema
        ({"node_name": "pve", "timeout_start": 300}, f"{CT}.x.timeout_start: deprecated in bpg/proxmox 0.111.1"),
        ({"node_name": "pve", "initialization": {"dns": {"server": "1.1.1.1"}}}, f"{CT}.x.initialization[0].dns[0].server: deprecated"),
    ],
)
def test_checker_reports(body: dict, error: str) -> None:
    errors = check_resource(CT, "x", body)
    assert any(e.startswith(error) for e in errors), errors


def test_checker_accepts_references_and_meta_arguments() -> None:
    body = {"node_name": "pve", "vm_id": "${var.id}", "depends_on": ["x.y"], "//": {}, "hook_script_file_id": "${a.b.id}"}
    assert check_resource(CT, "x", body) == []
    # a template directive is an expression too (Terraform computes the value); an escaped one is text
    assert check_resource(CT, "x", {"node_name": "pve", "vm_id": "%{ if var.x }300%{ else }301%{ endif }"}) == []
    assert check_resource(CT, "x", {"node_name": "pve", "vm_id": "$${var.id}"}) != []


def test_checker_rejects_unknown_resource_types() -> None:
    errors = check_synthesized({"resource": {"proxmox_virtual_environment_lxc": {"x": {}}}})
    assert errors == ["proxmox_virtual_environment_lxc: resource type not in bpg/proxmox 0.111.1 schema"]


def test_the_deprecated_download_file_name_is_refused_and_not_generated(monkeypatch: pytest.MonkeyPatch) -> None:
    # bpg 0.111.1: "Use \"proxmox_download_file\" instead"; the kept schema holds only the emitted types
    body = {"node_name": "pve", "datastore_id": "local", "content_type": "vztmpl", "url": "https://e/x.tar.zst"}
    errors = check_synthesized({"resource": {"proxmox_virtual_environment_download_file": {"x": body}}})
    assert errors == ["proxmox_virtual_environment_download_file: resource type not in bpg/proxmox 0.111.1 schema"]
    assert check_synthesized({"resource": {"proxmox_download_file": {"x": body}}}) == []
    # a type the schema knows but marks deprecated is refused as such
    entry = copy.deepcopy(schema.provider_schemas())
    old = copy.deepcopy(entry["resource_schemas"]["proxmox_download_file"])
    old["block"]["deprecated"] = True
    entry["resource_schemas"]["proxmox_virtual_environment_download_file"] = old
    monkeypatch.setattr(schema, "provider_schemas", lambda: entry)
    errors = check_synthesized({"resource": {"proxmox_virtual_environment_download_file": {"x": body}}})
    assert errors == ["proxmox_virtual_environment_download_file: resource type deprecated in bpg/proxmox 0.111.1 "
                      "(Terraform warns on every plan; use its replacement)"]
    assert set(codegen.RESOURCES) == {
        "proxmox_virtual_environment_container", "proxmox_virtual_environment_file", "proxmox_download_file",
        "proxmox_oci_image",
    }
    assert generated.DownloadFile.TF_TYPE == "proxmox_download_file"


def test_checker_rejects_deprecated_provider_settings() -> None:
    errors = check_synthesized({"provider": {"proxmox": [{"otp": "123456"}]}})
    assert errors == ["provider.proxmox.otp: deprecated in bpg/proxmox 0.111.1 "
                      "(Terraform warns on every plan; use its replacement)"]


def test_no_emitted_resource_type_is_deprecated() -> None:
    assert not [t for t in codegen.RESOURCES if resource_block(t).get("deprecated")]


def test_the_guards_data_source_is_generated_from_the_kept_schema() -> None:
    assert set(codegen.DATA_SOURCES) == {"proxmox_virtual_environment_containers"}
    cls = generated.DataVirtualEnvironmentContainers
    assert cls.TF_TYPE == "proxmox_virtual_environment_containers"
    import inspect

    block = schema.data_source_block(cls.TF_TYPE)
    params = set(inspect.signature(cls.__init__).parameters)
    settable = {n for n, a in block["attributes"].items() if a.get("optional") or a.get("required")} - {"id"}
    assert settable | set(block["block_types"]) <= params and "containers" not in params  # computed only
    assert not block.get("deprecated")
    # the listing the guard reads: each container's vm_id, node, host name and tags
    listed = block["attributes"]["containers"]["type"]
    assert listed[0] == "list" and {"vm_id", "node_name", "name", "tags"} <= set(listed[1][1])
    with pytest.raises(KeyError, match="not in the kept bpg schema"):
        schema.data_source_block("proxmox_virtual_environment_vms")
