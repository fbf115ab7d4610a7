"""SDKv2 / framework plan semantics of the stand-in, driven by the product's schema data (pure)."""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from tf.types import Unknown

from pve_gpu_lxc_testing.standin import planning, tfschema
from pve_gpu_lxc_testing.standin.container import TYPE as CT

BLOCK = tfschema.resource_block_spec(CT)
EXTRAS = tfschema.resource_extras(CT)


def config(**overrides: Any) -> dict[str, Any]:
    base = {
        "node_name": "pve", "vm_id": 210, "unprivileged": True,
        "device_passthrough": [{"path": "/dev/dri/renderD128", "gid": 106}],
        "operating_system": [{"template_file_id": "local:vztmpl/d.tar.zst", "type": "debian"}],
        "disk": [{"datastore_id": "local-lvm", "size": 8}],
    }
    base.update(overrides)
    return planning.complete(BLOCK, base)


def test_sdk_defaults_fill_omitted_optional_attributes() -> None:
    planned = planning.plan(BLOCK, EXTRAS, None, config(), config()).planned
    assert planned["device_passthrough"][0]["mode"] == "0660"
    assert planned["device_passthrough"][0]["deny_write"] is False
    assert planned["start_on_boot"] is True and planned["timeout_create"] == 1800
    assert planned["id"] is Unknown  # computed
    assert planned["vm_id"] == 210  # optional+computed, configured


def test_a_state_holding_the_defaults_plans_no_change() -> None:
    cfg = config()
    state = deepcopy(planning.plan(BLOCK, EXTRAS, None, cfg, cfg).planned)
    state.update(id="210", ipv4={}, ipv6={})
    state["device_passthrough"][0]["uid"] = 0  # bpg reads uid=0 back for an omitted uid
    state["cpu"] = []
    result = planning.plan(BLOCK, EXTRAS, state, _proposed(state, cfg), cfg)
    assert result.planned == state
    assert result.requires_replace == []


def _proposed(prior: dict, cfg: dict) -> dict:
    """Terraform's ProposedNew, enough for these tests: config, computed values from prior."""
    out = deepcopy(cfg)
    for name, spec in BLOCK["attributes"].items():
        if spec.get("computed") and out.get(name) is None:
            out[name] = prior.get(name)
    return out


def test_force_new_attributes_are_reported_as_replace_paths() -> None:
    cfg = config()
    prior = planning.plan(BLOCK, EXTRAS, None, cfg, cfg).planned
    prior.update(id="210", ipv4={}, ipv6={})
    changed = config(unprivileged=False,
                     operating_system=[{"template_file_id": "local:vztmpl/other.tar.zst", "type": "debian"}],
                     disk=[{"datastore_id": "zfs", "size": 8}])
    replace = planning.plan(BLOCK, EXTRAS, prior, _proposed(prior, changed), changed).requires_replace
    assert ["unprivileged"] in replace
    assert ["operating_system", 0, "template_file_id"] in replace
    assert ["disk", 0, "datastore_id"] in replace
    device_change = config(device_passthrough=[{"path": "/dev/dri/card0"}])
    assert planning.plan(BLOCK, EXTRAS, prior, _proposed(prior, device_change), device_change).requires_replace == []


def test_force_new_list_block_replaces_only_on_count_change() -> None:
    cfg = config(mount_point=[{"path": "/data", "volume": "local-lvm"}])
    prior = planning.plan(BLOCK, EXTRAS, None, cfg, cfg).planned
    prior.update(id="210")
    more = config(mount_point=[{"path": "/data", "volume": "local-lvm"}, {"path": "/b", "volume": "local-lvm"}])
    assert ["mount_point"] in planning.plan(BLOCK, EXTRAS, prior, _proposed(prior, more), more).requires_replace


def test_framework_defaults_and_requires_replace_for_download_file() -> None:
    block = tfschema.resource_block_spec("proxmox_virtual_environment_download_file")
    extras = tfschema.resource_extras("proxmox_virtual_environment_download_file")
    cfg = planning.complete(block, {"content_type": "vztmpl", "datastore_id": "local", "node_name": "pve",
                                    "url": "http://127.0.0.1/x.tar.zst"})
    planned = planning.plan(block, extras, None, cfg, cfg).planned
    assert planned["verify"] is True and planned["upload_timeout"] == 600 and planned["overwrite_unmanaged"] is False
    assert planned["size"] is Unknown and planned["file_name"] is Unknown
    prior = dict(planned, size=5, file_name="x.tar.zst", id="local:vztmpl/x.tar.zst")
    moved = dict(cfg, url="http://127.0.0.1/y.tar.zst")
    proposed = dict(moved, size=5, file_name="x.tar.zst", id=prior["id"])
    assert planning.plan(block, extras, prior, proposed, moved).requires_replace == [["url"]]


def test_every_schema_attribute_is_served_with_list_nesting() -> None:
    pb_schema = tfschema.resource_schema(CT).to_pb()
    served = {a.name for a in pb_schema.block.attributes}
    assert served == set(BLOCK["attributes"])
    nesting = {b.type_name: b.nesting for b in pb_schema.block.block_types}
    assert set(nesting) == set(BLOCK["block_types"])
    from tf.gen import tfplugin_pb2 as pb
    assert nesting["device_passthrough"] == pb.Schema.NestedBlock.NestingMode.LIST
    assert nesting["idmap"] == pb.Schema.NestedBlock.NestingMode.LIST
    ssh = next(b for b in tfschema.provider_schema().to_pb().block.block_types if b.type_name == "ssh")
    assert ssh.max_items == 1 and {b.type_name for b in ssh.block.block_types} == {"node"}
