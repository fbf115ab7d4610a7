"""pve_gpu_lxc.pve.conf against files PVE itself wrote.  The cases are our own, written from what
pve-container's src/test/snapshot-input and snapshot-expected show of files read and rewritten by
PVE's parse_pct_config/write_pct_config (data facts; no code or file is copied): a PVE-written
file is a fixed point of the writer, description lines keep a leading space, each section has its
own `#` comment lines, `parent`, `snaptime` and odd values (`ostype: redhat`) are kept, and a
`snapstate` line of the main section is dropped."""

from __future__ import annotations

import pytest

from pve_gpu_lxc.pve import conf as pveconf

WRITTEN_BY_PVE = [
    # a container with a snapshot: the main section's description, then the snapshot's own comment
    """\
# kept with its leading space
arch: amd64
cpulimit: 1
cpuunits: 1024
hostname: ct1
memory: 2048
net0: bridge=vmbr0,hwaddr=12:34:56:78:90:AB,ip=dhcp,ip6=dhcp,name=eth0,type=veth
ostype: redhat
parent: before-upgrade
rootfs: local:snapshotable-disk-1
swap: 512
unused0: other:some-disk-1

[before-upgrade]
#a comment of the snapshot
arch: amd64
cpulimit: 2
hostname: ct1
memory: 4096
ostype: redhat
rootfs: local:snapshotable-disk-1
snaptime: 1234567890
swap: 1024
""",
    # mount point, lock, pending changes and raw lxc lines, as PVE writes them
    """\
#GPU%3A 100%25
arch: amd64
dev0: /dev/dri/renderD128,gid=993,mode=0660
hostname: ct2
lock: snapshot
memory: 512
mp0: local:snapshotable-disk-2,mp=/data
ostype: debian
rootfs: local-lvm:vm-102-disk-0,size=8G
unprivileged: 1
lxc.environment.runtime: A=1
lxc.idmap: u 0 100000 65536
lxc.idmap: g 0 100000 65536

[pve:pending]
cores: 2
delete: mp0,swap
""",
]


@pytest.mark.parametrize("text", WRITTEN_BY_PVE)
def test_a_file_pve_wrote_is_a_fixed_point_of_the_writer(text):
    conf = pveconf.parse(text, vmid=101)
    assert conf.warnings == []
    assert pveconf.render(conf) == text


def test_the_main_sections_snapstate_is_dropped_and_a_snapshots_kept():
    text = "arch: amd64\nsnapstate: prepare\nmemory: 512\n\n[snap]\narch: amd64\nsnapstate: delete\n"
    assert pveconf.render(pveconf.parse(text)) == "arch: amd64\nmemory: 512\n\n[snap]\narch: amd64\nsnapstate: delete\n"


def test_the_description_s_leading_space_and_percent_survive_a_rewrite():
    conf = pveconf.parse(WRITTEN_BY_PVE[0])
    assert conf.description == " kept with its leading space\n"
    assert pveconf.parse(WRITTEN_BY_PVE[1]).description == "GPU: 100%\n"
