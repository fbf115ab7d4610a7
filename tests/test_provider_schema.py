"""The kept bpg/proxmox schema is what the real provider reports (`make schema` rewrites it).

The e2e test runs the provider built by `make tools` (scripts/build-go-tools.sh) through
`.tools/bin/tofu providers schema -json`; without `.tools/` it fails and says what to run.
The other tests cover the filtering and the diff summary without any subprocess.
"""

from __future__ import annotations

import copy
import json

import pytest

from pve_gpu_lxc.l1 import codegen
from pve_gpu_lxc.l1.schema import PROVIDER_SOURCE, provider_schemas
from pve_gpu_lxc_testing import provider_schema as ps

CT = "proxmox_virtual_environment_container"


@pytest.mark.e2e
def test_kept_schema_is_what_the_built_provider_reports() -> None:
    missing = [p for p in (ps.DEFAULT_CLI, ps.TERRAFORMRC) if not p.is_file()]
    if missing:
        pytest.fail(f"{missing[0]} is missing: build the real provider and OpenTofu first with `{ps.BUILD_COMMAND}`")
    fresh = ps.filter_schema(ps.provider_schema())
    kept = ps.kept_schema()
    lines = ps.diff_summary(kept, fresh)
    assert not lines, "the kept schema differs from bpg/proxmox's own; run `make schema`:\n" + "\n".join(lines)
    assert ps.KEPT_FILE.read_text() == ps.render(fresh), "same content, other formatting: run `make schema`"


def _cli_output() -> dict:
    """A `providers schema -json` document as the CLI prints it, rebuilt from the kept file plus types the library does not use."""
    entry = copy.deepcopy(provider_schemas())
    entry["resource_schemas"]["proxmox_virtual_environment_vm"] = {"version": 0, "block": {"attributes": {}}}
    entry["resource_schemas"]["proxmox_virtual_environment_download_file"] = {"version": 0, "block": {"deprecated": True}}
    entry["data_source_schemas"]["proxmox_virtual_environment_vms"] = {"version": 0, "block": {}}
    entry["data_source_schemas"]["proxmox_virtual_environment_container"] = {"version": 0, "block": {}}
    entry["functions"] = {}
    return {"format_version": "1.0", "provider_schemas": {PROVIDER_SOURCE: entry}}


def test_filter_keeps_the_provider_and_the_emitted_resource_types_in_the_cli_layout() -> None:
    doc = ps.filter_schema(_cli_output())
    assert list(doc) == ["format_version", "provider_schemas"]
    entry = doc["provider_schemas"][PROVIDER_SOURCE]
    # strictly the provider block and what the library emits: no other resource type or data source
    assert set(entry) == {"data_source_schemas", "provider", "resource_schemas"}
    assert set(entry["resource_schemas"]) == set(codegen.RESOURCES) == set(ps.RESOURCE_TYPES)
    # the guard's listing (README "What is guarded"), not the other data sources the CLI prints
    assert set(entry["data_source_schemas"]) == set(codegen.DATA_SOURCES) == {"proxmox_virtual_environment_containers"}
    # the kept file is exactly this rendering (what the loader in l1/schema.py reads)
    assert ps.render(doc) == ps.KEPT_FILE.read_text()


def test_filter_names_a_resource_type_the_provider_lacks() -> None:
    doc = _cli_output()
    del doc["provider_schemas"][PROVIDER_SOURCE]["resource_schemas"]["proxmox_download_file"]
    with pytest.raises(ps.ProviderSchemaError, match="has no resource type proxmox_download_file"):
        ps.filter_schema(doc)
    doc = _cli_output()
    del doc["provider_schemas"][PROVIDER_SOURCE]["data_source_schemas"]["proxmox_virtual_environment_containers"]
    with pytest.raises(ps.ProviderSchemaError, match="has no data source proxmox_virtual_environment_containers"):
        ps.filter_schema(doc)
    with pytest.raises(ps.ProviderSchemaError, match="no registry.terraform.io/bpg/proxmox schema"):
        ps.filter_schema({"provider_schemas": {"registry.opentofu.org/bpg/proxmox": {}}})


def test_diff_summary_is_one_readable_line_per_difference() -> None:
    kept = ps.filter_schema(_cli_output())
    fresh = copy.deepcopy(kept)
    block = fresh["provider_schemas"][PROVIDER_SOURCE]["resource_schemas"][CT]["block"]
    block["attributes"]["new_thing"] = {"type": "string", "optional": True}
    del block["attributes"]["description"]
    block["attributes"]["vm_id"]["type"] = "string"
    data = fresh["provider_schemas"][PROVIDER_SOURCE]["data_source_schemas"]["proxmox_virtual_environment_containers"]
    data["block"]["attributes"]["node_name"]["optional"] = False
    lines = ps.diff_summary(kept, fresh)
    assert lines[0] == "~ data.proxmox_virtual_environment_containers.attributes.node_name.optional: kept true, provider false"
    assert f"- {CT}.attributes.description: only in the kept file" in lines
    assert f'~ {CT}.attributes.vm_id.type: kept "number", provider "string"' in lines
    assert f'+ {CT}.attributes.new_thing: only in the provider ({{"optional": true, "type": "string"}})' in lines
    assert ps.diff_summary(kept, copy.deepcopy(kept)) == []
    many = copy.deepcopy(kept)
    many["provider_schemas"][PROVIDER_SOURCE]["resource_schemas"][CT]["block"]["attributes"] = {}
    assert ps.diff_summary(kept, many, limit=3)[-1].startswith("... and ")


def test_missing_tools_name_the_command(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setattr(ps, "DEFAULT_CLI", tmp_path / "tofu")
    with pytest.raises(ps.ProviderSchemaError, match="make tools"):
        ps.provider_schema()


def test_the_kept_file_is_valid_json_for_the_loader() -> None:
    doc = json.loads(ps.KEPT_FILE.read_text())
    assert doc["provider_schemas"][PROVIDER_SOURCE] == provider_schemas()
