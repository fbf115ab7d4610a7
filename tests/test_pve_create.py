"""pve/bpg.py and pve/create.py: bpg's create request for a synthesized container and the file PVE
writes for it.  (The end-to-end proof against the real provider and the simulated node is
tests/e2e/test_explain_command.py.)"""

from __future__ import annotations

from typing import Any

import pytest

from pve_gpu_lxc.pve import bpg, conf, create

BASE: dict[str, Any] = {
    "node_name": "pve",
    "vm_id": 300,
    "operating_system": {"template_file_id": "local:vztmpl/debian-12-standard_12.2-1_amd64.tar.zst",
                         "type": "debian"},
    "unprivileged": True,
}


def predicted(**attrs: Any) -> create.PredictedConf:
    return create.created_conf(bpg.create_request({**BASE, **attrs}))


def test_bpg_defaults_land_in_the_file() -> None:
    """A resource with nothing but a template: every default bpg sends, PVE's own defaults too."""
    assert predicted().text == (
        "arch: amd64\ncmode: tty\nconsole: 1\ncores: 1\ncpulimit: 0\nhostname: CT300\nmemory: 512\n"
        "onboot: 1\nostype: debian\nprotection: 0\nrootfs: local:300/vm-300-disk-0.raw,size=4G\nswap: 0\n"
        "template: 0\ntty: 2\nunprivileged: 1\n")


def test_devices_idmap_and_hookscript() -> None:
    body = {**BASE, "device_passthrough": [{"path": "/dev/dri/renderD128", "gid": 993, "mode": "0660"},
                                           {"path": "/dev/kfd", "deny_write": True}],
            "idmap": [{"type": "uid", "container_id": 0, "host_id": 100000, "size": 65536},
                      {"type": "gid", "container_id": 0, "host_id": 100000, "size": 65536}]}
    result = create.created_conf(bpg.create_request(body, hookscript="local:snippets/x.sh"))
    text = result.text
    assert "dev0: deny-write=0,path=/dev/dri/renderD128,uid=0,gid=993,mode=0660\n" in text
    assert "dev1: deny-write=1,path=/dev/kfd,uid=0,gid=0,mode=0660\n" in text
    assert "hookscript: local:snippets/x.sh\n" in text
    # bpg's SSH step appends the idmap after everything PVE wrote
    assert text.endswith("unprivileged: 1\nlxc.idmap: u 0 100000 65536\nlxc.idmap: g 0 100000 65536\n")


def test_network_as_pve_reprints_it() -> None:
    result = predicted(
        network_interface=[{"name": "eth0", "bridge": "vmbr1", "vlan_id": 20, "firewall": True},
                           {"name": "eth1", "mac_address": "BC:24:11:00:00:01"}],
        initialization={"hostname": "gpu", "ip_config": [{"ipv4": {"address": "10.0.0.5/24", "gateway": "10.0.0.1"}}],
                        "dns": {"domain": "lan", "servers": ["10.0.0.1", "10.0.0.2"]}})
    text = result.text
    assert (f"net0: name=eth0,bridge=vmbr1,firewall=1,gw=10.0.0.1,host-managed=0,hwaddr={create.MAC_PLACEHOLDER},"
            "ip=10.0.0.5/24,tag=20,type=veth\n") in text
    assert "net1: name=eth1,bridge=vmbr0,host-managed=0,hwaddr=BC:24:11:00:00:01,type=veth\n" in text
    assert "nameserver: 10.0.0.1 10.0.0.2\nnet0: " in text and "searchdomain: lan\n" in text
    # only the drawn MAC is marked, and only it is normalised in a node's file
    assert [n.key for n in result.notes] == ["net0", "rootfs"]
    node_text = text.replace(create.MAC_PLACEHOLDER, "BC:24:11:AB:CD:EF")
    assert create.with_placeholders(node_text, result) == text


def test_pve_version_before_9_1_gets_no_host_managed() -> None:
    request = bpg.create_request({**BASE, "network_interface": [{"name": "eth0"}]}, pve_version=(9, 0))
    assert request.params["net0"] == "bridge=vmbr0,name=eth0"


@pytest.mark.parametrize(("datastore", "volume"), [
    ("local-lvm", "local-lvm:vm-300-disk-0"),
    ("local-zfs", "local-zfs:subvol-300-disk-0"),
    ("local", "local:300/vm-300-disk-0.raw"),
    ("fast", "fast:vm-300-disk-0"),
])
def test_the_root_disk_name_pve_allocates(datastore: str, volume: str) -> None:
    result = predicted(disk={"datastore_id": datastore, "size": 16})
    assert f"rootfs: {volume},size=16G\n" in result.text
    note = dict((n.key, n.text) for n in result.notes)["rootfs"]
    assert ("assumed LVM-thin" in note) == (datastore == "fast")


def test_description_tags_and_escapes() -> None:
    text = predicted(description="Jellyfin: $${HOME}\nsecond line 100%", tags=["media", "gpu", "GPU", " media "]).text
    assert text.startswith("#Jellyfin%3A ${HOME}\n#second line 100%25\narch: amd64\n")
    assert "tags: gpu;media\n" in text  # bpg trims and sorts; PVE lower-cases, sorts, drops duplicates
    assert conf.parse(text).description == "Jellyfin: ${HOME}\nsecond line 100%\n"


def test_values_known_only_at_apply_are_refused() -> None:
    with pytest.raises(bpg.Unknown, match="only known at apply time"):
        bpg.create_request({**BASE, "description": "${var.text}"})
    with pytest.raises(bpg.Unknown, match="vm_id is not set"):
        bpg.create_request({k: v for k, v in BASE.items() if k != "vm_id"})


def test_attributes_not_modelled_are_named() -> None:
    request = bpg.create_request({**BASE, "mount_point": [{"volume": "local-lvm", "size": "8G", "path": "/data"}],
                                  "disk": {"datastore_id": "local-lvm", "size": 8, "acl": True},
                                  "timeout_create": 60})
    assert request.unmodelled == ("disk.acl", "mount_point")


def test_a_value_pve_refuses_is_named() -> None:
    with pytest.raises(ValueError, match=r"PVE refuses net0='bridge=vmbr0,host-managed=0,name=eth 0': name: "
                                         "value does not match the regex pattern"):
        predicted(network_interface=[{"name": "eth 0"}])
