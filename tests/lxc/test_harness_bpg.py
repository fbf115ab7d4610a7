"""pve_gpu_lxc_testing.lxc.bpg: reading containers and hook scripts out of synthesized JSON."""

from __future__ import annotations

import pytest

from pve_gpu_lxc.pve.synthesized import CONTAINER_TYPE, FILE_TYPE
from pve_gpu_lxc_testing.lxc import HarnessError, plan
from pve_gpu_lxc_testing.lxc import bpg, render

from .lxc_cases import SEED_INTEL_BODY, SEED_LINES, seed_plan


def test_idmap_lines_are_the_idmap_blocks_verbatim_and_in_order() -> None:
    p = seed_plan()
    assert [r.lxc_value() for r in p.idmap] == list(SEED_LINES)
    assert [line for line in render.pve_config_lines(p) if line.startswith("lxc.idmap")] == [
        f"lxc.idmap: {line}" for line in SEED_LINES
    ]


def test_devn_lines_match_bpg_property_strings() -> None:
    assert render.pve_config_lines(seed_plan())[1:3] == [
        "dev0: deny-write=0,path=/dev/dri/card0,uid=0,gid=44,mode=0660",
        "dev1: deny-write=0,path=/dev/dri/renderD128,uid=0,gid=106,mode=0660",
    ]


def test_unprivileged_without_idmap_gets_proxmox_default_and_privileged_gets_none() -> None:
    body = {"vm_id": 200, "unprivileged": True}
    assert plan(bpg.spec_from_body("a", body)).idmap == render.PVE_DEFAULT_IDMAP
    assert plan(bpg.spec_from_body("a", {**body, "unprivileged": False})).idmap == ()
    # bpg's schema default for unprivileged is false
    assert plan(bpg.spec_from_body("a", {"vm_id": 200})).idmap == ()


def test_hook_script_is_read_through_hook_script_file_id_and_unescaped() -> None:
    doc = {
        "resource": {
            CONTAINER_TYPE: {"ct": {**SEED_INTEL_BODY, "hook_script_file_id": "${proxmox_virtual_environment_file.hook.id}"}},
            FILE_TYPE: {"hook": {"datastore_id": "local", "source_raw": {"data": 'x="$${1:-}"\n%%{ not a directive }\n$$${y}', "file_name": "h.sh"}}},
        }
    }
    spec = bpg.containers(doc)["ct"]
    # `$$${y}` is how Terraform (and the product's escape_literal) writes the literal `$${y}`
    assert spec.hook_script == 'x="${1:-}"\n%{ not a directive }\n$${y}'


@pytest.mark.parametrize("data", ['echo "${var.x}"', "%{ if true }x%{ endif }"])
def test_live_terraform_interpolation_in_hook_is_refused(data: str) -> None:
    doc = {
        "resource": {
            CONTAINER_TYPE: {"ct": {**SEED_INTEL_BODY, "hook_script_file_id": "${proxmox_virtual_environment_file.hook.id}"}},
            FILE_TYPE: {"hook": {"datastore_id": "local", "source_raw": {"data": data, "file_name": "h.sh"}}},
        }
    }
    with pytest.raises(HarnessError, match="the script text holds a Terraform expression; the harness can only run"):
        bpg.containers(doc)


def test_unresolvable_hook_reference_names_the_reference() -> None:
    doc = {"resource": {CONTAINER_TYPE: {"ct": {**SEED_INTEL_BODY, "hook_script_file_id": "local:snippets/x.sh"}}}}
    with pytest.raises(HarnessError, match="local:snippets/x.sh"):
        bpg.containers(doc)
