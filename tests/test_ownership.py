"""Ownership: the tag every GpuContainer carries, and the guard that stops a plan whose vm_id is another's.

The rule is pure (model/ownership.py); the precondition text is pinned here so that a change to it
is deliberate, and tests/e2e/test_ownership_guard.py runs it with the real provider and Terraform.
"""

from __future__ import annotations

import re

import pytest

from pve_gpu_lxc import GpuContainer, GpuContainerProps, IntelGpu, ProxmoxProvider, Template, ValidationError
from pve_gpu_lxc.engine import App, TerraformStack
from pve_gpu_lxc.engine import Testing as EngineTesting  # renamed: pytest would try to collect `Testing*`
from pve_gpu_lxc.model.container import build_model
from pve_gpu_lxc.model.ownership import (
    IMPORT_IGNORED_CHANGES, Listed, Owner, blocks, guard, orphans, ownership_tag, parse_tag, stack_owns, tag_part,
)
from pve_gpu_lxc.testing import container, synth

from .conftest import ROOT_PASSWORD_ENV

UBUNTU = Template.existing("local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst")
PVE_TAG = re.compile(r"^[a-z0-9_][a-z0-9_\-+.]*$", re.I)  # pve-common JSONSchema.pm $PVE_TAG_RE
LISTING = "data.proxmox_virtual_environment_containers.pve_gpu_lxc_guard"


def props(**overrides: object) -> GpuContainerProps:
    return GpuContainerProps(**(dict(node_name="pve", vm_id=210, hostname="jellyfin", template=UBUNTU) | overrides))


# --- the tag ------------------------------------------------------------------------------------


def test_the_tag_names_the_stack_and_the_construct_in_pves_tag_characters() -> None:
    assert Owner("intel-jellyfin", "jellyfin").tag == "pve-gpu-lxc.intel-jellyfin.jellyfin"
    odd = Owner("Media Stack", "Jelly.Fin+1")
    assert odd.tag == "pve-gpu-lxc.media-stack.jelly-fin-1" and odd.stack_prefix == "pve-gpu-lxc.media-stack."
    for owner in (odd, Owner("ä", "x_y"), Owner("A.B.C", "-")):
        assert PVE_TAG.match(owner.tag) and owner.tag == owner.tag.lower()  # PVE stores tags lower case
        assert parse_tag(owner.tag) is not None and owner.tag.count(".") == 2
    assert tag_part("Ünïcode") == "-n-code"


def test_parse_tag_reads_only_the_three_part_form() -> None:
    found = parse_tag("PVE-GPU-LXC.Media.Jellyfin")  # as a case-sensitive tag style might keep it
    assert found is not None and (found.stack, found.construct_id) == ("media", "jellyfin")
    for other in ("gpu", "pve-gpu-lxc", "pve-gpu-lxc.media", "pve-gpu-lxc.a.b.c", "pve-gpu-lxc..x", "other.a.b"):
        assert parse_tag(other) is None, other
    assert stack_owns(["gpu", "pve-gpu-lxc.media.old-name"], "media")  # any tag of the stack
    assert not stack_owns(["pve-gpu-lxc.media2.jellyfin", "media"], "media")
    assert ownership_tag(["gpu", "pve-gpu-lxc.media.x"], "Media") == "pve-gpu-lxc.media.x"


# --- the rule in Python (check, drift) -----------------------------------------------------------


def test_blocks_a_container_at_the_vm_id_without_a_tag_of_the_stack() -> None:
    rule = dict(stack="intel-jellyfin", vm_id=210, hostname="jellyfin", imported=False)
    assert blocks(Listed(210, "pve", "postgres-prod"), **rule)
    assert blocks(Listed(210, "pve2", "jellyfin", ("pve-gpu-lxc.other.jellyfin",)), **rule)  # another stack's
    assert not blocks(Listed(210, "pve", "jellyfin", ("gpu", "pve-gpu-lxc.intel-jellyfin.jellyfin")), **rule)
    assert not blocks(Listed(210, "pve", "x", ("pve-gpu-lxc.intel-jellyfin.renamed",)), **rule)
    assert not blocks(Listed(211, "pve", "postgres-prod"), **rule)
    # import_existing: the container with the declared host name is the one to import
    imported = rule | {"imported": True}
    assert not blocks(Listed(210, "pve", "jellyfin"), **imported)
    assert blocks(Listed(210, "pve", "postgres-prod"), **imported)


def test_orphans_carry_a_tag_of_the_stack_at_a_vm_id_it_does_not_manage() -> None:
    listed = [Listed(212, "pve", "old", ("pve-gpu-lxc.media.old",)), Listed(210, "pve", "jellyfin", ("pve-gpu-lxc.media.jellyfin",)),
              Listed(300, "pve", "db"), Listed(301, "pve2", "x", ("pve-gpu-lxc.other.x",))]
    assert orphans(listed, "media", [210]) == [listed[0]]
    assert orphans(listed, "media", [210, 212]) == []


# --- the rule in Terraform's language -----------------------------------------------------------


def test_the_guard_condition_and_message_as_terraform_reads_them() -> None:
    owner = Owner("intel-jellyfin", "jellyfin")
    g = guard(LISTING, owner=owner, vm_id=210, hostname="jellyfin",
              tags=["gpu", "media", owner.tag], imported=False)
    ours = ('anytrue([for t in (c.tags == null ? [] : c.tags) : startswith(t, "pve-gpu-lxc.intel-jellyfin.")])')
    assert g.condition == f"${{alltrue([for c in {LISTING}.containers : c.vm_id != 210 || {ours}])}}"
    # the other container's host name, node and tags come from the listing; the fix names the tag to put back
    assert g.error_message.startswith(
        "GpuContainer 'jellyfin' of stack 'intel-jellyfin': vm_id 210 is taken by ${join(\" and \", "
        f"[for c in {LISTING}.containers : \"container '${{c.name}}' on node ${{c.node_name}} (tags: ")
    assert f"if !(c.vm_id != 210 || {ours})])}}, which this stack did not create" in g.error_message
    assert "`pct set 210 --tags 'gpu;media;pve-gpu-lxc.intel-jellyfin.jellyfin'`" in g.error_message
    assert "import_existing=True" in g.error_message and "pvesh get /cluster/nextid" in g.error_message


def test_the_import_guard_accepts_the_declared_host_name() -> None:
    g = guard(LISTING, owner=Owner("s", "db"), vm_id=300, hostname="db", tags=[], imported=True)
    assert g.condition.endswith(' || c.name == "db"])}')
    assert "imports vm_id 300 (import_existing=True) as host 'db', but vm_id 300 is ${join(" in g.error_message


def test_literal_text_in_the_message_cannot_become_a_template() -> None:
    g = guard(LISTING, owner=Owner("s${x}", "a%{y}"), vm_id=300, hostname="db", tags=[], imported=False)
    assert "stack 's$${x}'" in g.error_message and "'a%%{y}'" in g.error_message


# --- props and model ----------------------------------------------------------------------------


def test_the_model_adds_the_tag_to_the_users_tags_and_guards_only_with_an_owner() -> None:
    model = build_model(props(tags=["media", "gpu"]), owner=Owner("intel-jellyfin", "jellyfin"))
    assert model.tags == ["gpu", "media", "pve-gpu-lxc.intel-jellyfin.jellyfin"]
    assert model.ownership_tag == "pve-gpu-lxc.intel-jellyfin.jellyfin"
    assert model.import_id is None and model.ignored_changes == ()
    assert model.guard(LISTING) is not None
    bare = build_model(props(tags=["gpu"]))  # a model outside a stack (the LXC harness): no tag, no guard
    assert bare.tags == ["gpu"] and bare.guard(LISTING) is None and bare.ownership_tag is None
    imported = build_model(props(import_existing=True), owner=Owner("s", "db"))
    assert imported.import_id == "pve/210" and imported.ignored_changes == IMPORT_IGNORED_CHANGES


def test_reserved_tags_and_import_with_ssh_keys_are_refused() -> None:
    with pytest.raises(ValidationError, match=r"^tag 'pve-gpu-lxc.other.x' is reserved: tags starting with "
                                              r"'pve-gpu-lxc\.' mark which stack owns a container"):
        props(tags=["gpu", "pve-gpu-lxc.other.x"])
    with pytest.raises(ValidationError, match=r"^ssh_keys are set with import_existing=True; Proxmox takes root's "
                                              r"keys only when a container is created"):
        props(import_existing=True, ssh_keys=["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB0 admin@laptop"])
    with pytest.raises(ValidationError, match=r"^import_existing must be True or False, got 'yes'"):
        props(import_existing="yes")


# --- what GpuContainer synthesizes ---------------------------------------------------------------


def _stack(app: App, name: str = "media") -> TerraformStack:
    stack = TerraformStack(app, name)
    ProxmoxProvider(stack, "proxmox", environ=ROOT_PASSWORD_ENV)
    return stack


def test_one_listing_per_stack_and_a_precondition_on_every_container() -> None:
    app = EngineTesting.app()
    stack = _stack(app)
    GpuContainer(stack, "jellyfin", node_name="pve", vm_id=210, hostname="jellyfin", template=UBUNTU,
                 gpus=[IntelGpu()], tags=["gpu"])
    GpuContainer(stack, "plex", node_name="pve2", vm_id=211, hostname="plex", template=UBUNTU, gpus=[IntelGpu()])
    doc = synth(stack)
    # every node of the cluster: no node_name (a vm_id is unique per cluster)
    assert set(doc["data"]) == {"proxmox_virtual_environment_containers"}
    (listing,) = doc["data"]["proxmox_virtual_environment_containers"].items()
    assert listing[0] == "pve_gpu_lxc_guard" and listing[1] == {}  # no node_name: every node of the cluster
    for name, vmid in (("jellyfin", 210), ("plex", 211)):
        ct = container(doc, name)
        assert f"pve-gpu-lxc.media.{name}" in ct["tags"]
        (pre,) = ct["lifecycle"]["precondition"]
        assert pre["condition"].startswith(f"${{alltrue([for c in {LISTING}.containers : c.vm_id != {vmid} || ")
        assert "ignore_changes" not in ct["lifecycle"]
    assert container(doc, "jellyfin")["tags"] == ["gpu", "pve-gpu-lxc.media.jellyfin"]
    assert "import" not in doc


def test_import_existing_emits_the_import_block_and_ignores_the_template() -> None:
    app = EngineTesting.app()
    stack = _stack(app)
    GpuContainer(stack, "db", node_name="pve", vm_id=300, hostname="postgres", template=UBUNTU, gpus=[IntelGpu()],
                 import_existing=True)
    doc = synth(stack)
    assert doc["import"] == [{"to": "proxmox_virtual_environment_container.db", "id": "pve/300"}]
    ct = container(doc, "db")
    assert ct["lifecycle"]["ignore_changes"] == ["operating_system[0].template_file_id"]
    (pre,) = ct["lifecycle"]["precondition"]
    assert pre["condition"].endswith(' || c.name == "postgres"])}')
    assert ct["tags"] == ["pve-gpu-lxc.media.db"]


def test_two_stacks_whose_names_make_one_tag_are_refused() -> None:
    app = EngineTesting.app()
    GpuContainer(_stack(app, "Media"), "a", node_name="pve", vm_id=210, hostname="a", template=UBUNTU)
    with pytest.raises(ValidationError, match=r"^GpuContainer 'media/b': stacks 'Media' and 'media' would both tag "
                                              r"their containers pve-gpu-lxc\.media\.\*"):
        GpuContainer(_stack(app, "media"), "b", node_name="pve", vm_id=211, hostname="b", template=UBUNTU)


def test_explain_shows_the_tag_in_the_file_the_guard_and_an_import() -> None:
    from pve_gpu_lxc.cli.explain import explain_stack

    app = EngineTesting.app()
    stack = _stack(app)
    GpuContainer(stack, "jellyfin", node_name="pve", vm_id=210, hostname="jellyfin", template=UBUNTU, gpus=[IntelGpu()])
    GpuContainer(stack, "db", node_name="pve", vm_id=300, hostname="postgres", template=UBUNTU, gpus=[IntelGpu()],
                 import_existing=True)
    found = {e.name: e for e in explain_stack("media", synth(stack), lambda node: None)}
    assert found["jellyfin"].conf is not None and "\ntags: pve-gpu-lxc.media.jellyfin\n" in found["jellyfin"].conf
    assert found["jellyfin"].ownership_lines() == [
        "  ownership: tag pve-gpu-lxc.media.jellyfin (sent in bpg's create request); the plan stops when vm_id 210 "
        "is taken by a container without a pve-gpu-lxc.media.* tag"]
    assert found["db"].ownership_lines()[0].startswith(
        "  ownership: imported (import_existing=True): the apply imports CT 300 (pve/300), updates it to this "
        "configuration and adds its tag pve-gpu-lxc.media.db")
    assert found["db"].to_json()["ownership"] == {"tag": "pve-gpu-lxc.media.db", "guarded": True, "imported": True}
