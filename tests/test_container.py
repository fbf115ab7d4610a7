"""GpuContainer: what it synthesizes, and what it refuses (exact messages)."""

from __future__ import annotations

import pytest
from pve_gpu_lxc import (
    AmdGpu, Device, Disk, Features, GpuContainer, GpuContainerProps, Hooks, IdMap, IntelGpu, Network,
    NvidiaGpu, Template, ValidationError,
)
from pve_gpu_lxc.engine import TerraformStack
from pve_gpu_lxc.testing import assert_device, assert_idmap, container

UBUNTU = Template.existing("local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst")
DEBIAN13 = Template.existing("local:vztmpl/debian-13-standard_13.1-2_amd64.tar.zst")


def make(stack: TerraformStack, id: str = "ct", **overrides) -> GpuContainer:
    props = dict(node_name="pve", vm_id=200, hostname="ct", template=UBUNTU) | overrides
    return GpuContainer(stack, id, **props)


def devices(doc: dict, name: str = "ct") -> list[tuple]:
    return [(d["path"], d["uid"], d["gid"], d["mode"], d["deny_write"]) for d in container(doc, name)["device_passthrough"]]


def paths(doc: dict, name: str = "ct") -> list[str]:
    return [d["path"] for d in container(doc, name)["device_passthrough"]]


def test_intel_on_ubuntu_2404_uses_render_993_and_video_44(stack, synth) -> None:
    make(stack, gpus=[IntelGpu()])
    doc = synth(stack)
    assert paths(doc) == ["/dev/dri/card0", "/dev/dri/renderD128"]
    assert_device(doc, "ct", "/dev/dri/card0", uid=0, gid=44, mode="0660", deny_write=False)
    assert_device(doc, "ct", "/dev/dri/renderD128", uid=0, gid=993, mode="0660", deny_write=False)


def test_amd_rocm_on_debian_13_gives_kfd_the_render_gid(stack, synth) -> None:
    make(stack, template=DEBIAN13, gpus=[AmdGpu(card=None, rocm=True)])
    assert devices(synth(stack)) == [("/dev/dri/renderD128", 0, 992, "0660", False), ("/dev/kfd", 0, 992, "0660", False)]


def test_explicit_gid_overrides_the_table(stack, synth) -> None:
    make(stack, template=Template.existing("local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst", render_gid=2000), gpus=[IntelGpu(card=None)])
    assert devices(synth(stack)) == [("/dev/dri/renderD128", 0, 2000, "0660", False)]


def test_plain_device_and_gpu_together(stack, synth) -> None:
    make(stack, gpus=[IntelGpu(card=None)], devices=[Device("/dev/net/tun", mode="0666"), Device("/dev/ttyUSB0", gid=20, deny_write=True)])
    doc = synth(stack)
    assert paths(doc) == ["/dev/dri/renderD128", "/dev/net/tun", "/dev/ttyUSB0"]
    assert_device(doc, "ct", "/dev/net/tun", uid=0, gid=0, mode="0666", deny_write=False)
    assert_device(doc, "ct", "/dev/ttyUSB0", uid=0, gid=20, mode="0660", deny_write=True)


def test_container_basics(stack, synth) -> None:
    make(
        stack,
        cores=4,
        memory_mib=4096,
        swap_mib=0,
        disk=Disk(datastore_id="tank", size_gib=32),
        network=Network(bridge="vmbr1", ipv4="192.168.1.50/24", gateway="192.168.1.1", vlan_id=20),
        ssh_keys=["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB0 admin@laptop"],
        tags=["media", "gpu", "media"],
        start_on_boot=False,
    )
    ct = container(synth(stack), "ct")
    assert ct["node_name"] == "pve" and ct["vm_id"] == 200 and ct["unprivileged"] is True
    assert ct["cpu"] == {"cores": 4}
    assert ct["memory"] == {"dedicated": 4096, "swap": 0}
    assert ct["disk"] == {"datastore_id": "tank", "size": 32}
    assert ct["network_interface"] == [{"name": "eth0", "bridge": "vmbr1", "vlan_id": 20}]
    assert ct["initialization"] == {
        "hostname": "ct",
        "ip_config": [{"ipv4": {"address": "192.168.1.50/24", "gateway": "192.168.1.1"}}],
        "user_account": {"keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB0 admin@laptop"]},
    }
    assert ct["tags"] == ["gpu", "media", "pve-gpu-lxc.test.ct"]  # with the ownership tag (test_ownership.py)
    assert ct["start_on_boot"] is False and ct["started"] is True
    assert ct["operating_system"] == {"template_file_id": "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst", "type": "ubuntu"}
    assert "device_passthrough" not in ct and "idmap" not in ct and "hook_script_file_id" not in ct


def test_nesting_defaults_on_for_unprivileged_only(stack, synth) -> None:
    make(stack, "a", vm_id=201)
    make(stack, "b", vm_id=202, unprivileged=False)
    make(stack, "c", vm_id=203, features=Features(nesting=False, keyctl=True))
    doc = synth(stack)
    assert container(doc, "a")["features"] == {"nesting": True}
    assert "features" not in container(doc, "b") and container(doc, "b")["unprivileged"] is False
    assert container(doc, "c")["features"] == {"keyctl": True}


def test_idmap_blocks_are_the_seeds_lines(stack, synth) -> None:
    make(stack, gpus=[IntelGpu()], template=Template.existing("local:vztmpl/debian-12-standard_12.2-1_amd64.tar.zst"), idmap=IdMap.passthrough(gids={44: 44, 106: 108}))
    doc = synth(stack)
    assert_idmap(doc, "ct", ["u 0 100000 65536", "g 0 100000 44", "g 44 44 1", "g 45 100045 61", "g 106 108 1", "g 107 100107 65429"])
    assert doc["output"]["ct_host_subid_lines"]["value"] == {"subuid": [], "subgid": ["root:44:1", "root:108:1"]}


def test_nvidia_adds_hookscript_snippet_and_reference(stack, synth) -> None:
    ct = make(stack, gpus=[NvidiaGpu(driver_version="575.64.03")])
    doc = synth(stack)
    files = doc["resource"]["proxmox_virtual_environment_file"]
    (name, hook), = files.items()
    assert container(doc, "ct")["hook_script_file_id"] == f"${{proxmox_virtual_environment_file.{name}.id}}"
    assert hook["content_type"] == "snippets" and hook["file_mode"] == "0700" and hook["datastore_id"] == "local"
    assert hook["source_raw"]["file_name"] == "pve-gpu-lxc-200.sh"
    # Terraform un-escapes $${ to ${: what reaches the node is exactly the rendered script.
    assert hook["source_raw"]["data"].replace("$${", "${").replace("%%{", "%{") == ct.model.hookscript
    assert "require_nvidia_driver 575.64.03" in ct.model.hookscript


def test_user_hooks_without_gpu_make_a_hookscript(stack, synth) -> None:
    make(stack, hooks=Hooks(post_start=[["/usr/bin/logger", "started"]]))
    doc = synth(stack)
    data = next(iter(doc["resource"]["proxmox_virtual_environment_file"].values()))["source_raw"]["data"]
    assert "/usr/bin/logger started || fail 'command failed: /usr/bin/logger'" in data


def test_description_is_escaped_for_terraform(stack, synth) -> None:
    make(stack, description="uses ${HOME} and %{ if }")
    assert container(synth(stack), "ct")["description"] == "uses $${HOME} and %%{ if }"


def test_escape_hatch_reaches_the_primary_resource(stack, synth) -> None:
    ct = make(stack)
    ct.resource.add_override("protection", True)
    assert container(synth(stack), "ct")["protection"] is True


def test_props_object_form(stack, synth) -> None:
    GpuContainer(stack, "ct", GpuContainerProps(node_name="pve", vm_id=200, hostname="ct", template=UBUNTU, gpus=[IntelGpu()]))
    assert len(devices(synth(stack))) == 2


# --- refusals --------------------------------------------------------------------------------

def refused(stack, **overrides) -> str:
    with pytest.raises(ValidationError) as err:
        make(stack, **overrides)
    return str(err.value)


def test_unknown_template_with_gpu_and_no_gid(stack) -> None:
    message = refused(stack, template=Template.existing("local:vztmpl/my-image.tar.gz"), gpus=[IntelGpu(card=None)])
    assert message == (
        "GpuContainer 'test/ct': template 'my-image.tar.gz' has no known 'render' GID, and /dev/dri/renderD128 must "
        "belong to the container's 'render' group. Record the node's templates with `pve-gpu-lxc facts --node pve "
        "--ssh root@<host>` (it reads /etc/group out of every template on 'pve', writing nothing there) and pass "
        "host_facts=HostFacts.load('stacks/facts/pve.json'); or read it from the template (tar -xOf <template> "
        "./etc/group | grep '^render:') and pass Template.existing(..., render_gid=N). Never use the host's GID: "
        "inside the container that number names another group"
    )


def test_predicted_build_is_a_hint_never_a_value(stack) -> None:
    message = refused(stack, template=Template.existing("local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"), gpus=[IntelGpu()])
    assert "(an emulated build predicts 104, unverified)" in message


def test_unknown_template_without_gpu_is_fine(stack, synth) -> None:
    make(stack, template=Template.existing("local:vztmpl/my-image.tar.gz"))
    assert container(synth(stack), "ct")["operating_system"]["type"] == "unmanaged"


def test_duplicate_vm_id_on_a_node_within_the_app(app) -> None:
    one, two = TerraformStack(app, "one"), TerraformStack(app, "two")
    make(one, "a")
    make(two, "b", node_name="pve2")  # same id on another node is fine
    with pytest.raises(ValidationError) as err:
        make(two, "c")
    assert str(err.value) == (
        "GpuContainer 'two/c': vm_id 200 on node 'pve' is already used by GpuContainer 'one/a'; each container "
        "on a node needs its own vm_id"
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(vm_id=99), "GpuContainer 'test/ct': vm_id 99 is out of range; allowed 100..999999999. Pick a free VMID on the cluster (e.g. 200)"),
        (dict(vm_id="200"), "GpuContainer 'test/ct': vm_id must be an integer in 100..999999999, got '200'. Pick a free VMID on the cluster (e.g. 200)"),
        (dict(hostname="jelly_fin"), "GpuContainer 'test/ct': hostname 'jelly_fin' is not a valid DNS name; allowed: labels of 1-63 letters, digits and inner hyphens, separated by dots, at most 253 characters (e.g. 'jellyfin' or 'jellyfin.lan')"),
        (dict(hostname="-x"), "GpuContainer 'test/ct': hostname '-x' is not a valid DNS name; allowed: labels of 1-63 letters, digits and inner hyphens, separated by dots, at most 253 characters (e.g. 'jellyfin' or 'jellyfin.lan')"),
        (dict(unprivileged=False, idmap=IdMap.passthrough(gids={44: 44})), "GpuContainer 'test/ct': idmap is set on a privileged container (unprivileged=False); lxc.idmap applies to unprivileged containers only. Remove idmap, or set unprivileged=True"),
        (dict(cores=0), "GpuContainer 'test/ct': cores 0 is out of range; allowed 1..128"),
        (dict(node_name="pve 1"), "GpuContainer 'test/ct': node_name 'pve 1' is not a Proxmox node name; allowed: one DNS label (letters, digits, inner hyphens), as shown by `pvecm nodes` or `hostname`"),
        (dict(tags=["-bad"]), "GpuContainer 'test/ct': tag '-bad' is not a Proxmox tag; allowed: letters, digits and _ + . - , not starting with + . or -"),
        (dict(tags=["Media"]), "GpuContainer 'test/ct': tag 'Media' has upper-case letters: Proxmox VE stores tags lower-cased (datacenter tag-style default) and bpg/proxmox compares them case-sensitively, so every plan would show a change; write 'media'"),
        (dict(gpus="IntelGpu"), "GpuContainer 'test/ct': gpus must be a list, got the string 'IntelGpu'"),
        (dict(gpus=[NvidiaGpu(driver_version="575.64.03"), NvidiaGpu(driver_version="570.1.2", index=1)]), "GpuContainer 'test/ct': NVIDIA GPUs pin different driver versions 570.1.2, 575.64.03; one host runs one kernel module, so pin the same version on every NvidiaGpu"),
        (dict(devices=[Device(f"/dev/fake{i}") for i in range(129)]), "GpuContainer 'test/ct': 129 device nodes requested; bpg/proxmox passes at most 128 per container (device_passthrough)"),
    ],
)
def test_refusals(stack, overrides: dict, message: str) -> None:
    assert refused(stack, **overrides) == message


def test_network_props_reject_gateway_with_dhcp() -> None:
    with pytest.raises(ValidationError, match=r"Network.gateway '10.0.0.1' needs a static ipv4 \(got ipv4='dhcp'\)"):
        Network(ipv4="dhcp", gateway="10.0.0.1")
    with pytest.raises(ValidationError, match=r"Network.ipv4 '10.0.0.5' is not 'dhcp', 'manual' or an address with prefix"):
        Network(ipv4="10.0.0.5")


def test_unknown_keyword_names_the_construct(stack) -> None:
    with pytest.raises(ValidationError, match=r"^GpuContainer 'test/ct': props got an unexpected keyword argument 'memory'"):
        make(stack, memory=2048)


def test_failed_construction_leaves_no_half_built_container(stack) -> None:
    with pytest.raises(ValidationError):
        make(stack, hostname="bad_name", gpus=[IntelGpu()])
    assert stack.node.try_find_child("ct") is None
    make(stack, gpus=[IntelGpu()])  # the id and the vm_id are still free
