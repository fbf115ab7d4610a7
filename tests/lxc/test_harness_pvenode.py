"""Reading a container back from a PVE conf file (what the LXC suite boots after a real apply)."""

from __future__ import annotations

import pytest

from pve_gpu_lxc_testing.lxc.model import HarnessError, IdRange, PassthroughDevice
from pve_gpu_lxc_testing.lxc.pvenode import parse_device, spec_from_conf

CONF = """#GPU box
dev1: deny-write=1,path=/dev/dri/renderD128,uid=0,gid=993,mode=0660
dev0: /dev/dri/card0,gid=44
hookscript: local:snippets/hook.sh
unprivileged: 1
lxc.idmap: u 0 100000 65536
lxc.idmap: g 0 100000 65536
"""


def test_devices_in_index_order_with_pves_defaults_and_a_bare_path() -> None:
    spec = spec_from_conf(CONF, name="ct", vm_id=200, read_volume=lambda volid: f"script {volid}".encode())
    assert spec.devices == (
        PassthroughDevice("/dev/dri/card0", uid=0, gid=44, mode="0660"),
        PassthroughDevice("/dev/dri/renderD128", uid=0, gid=993, mode="0660", deny_write=True),
    )
    assert spec.idmap == (IdRange("u", 0, 100000, 65536), IdRange("g", 0, 100000, 65536))
    assert spec.unprivileged is True
    assert spec.hook_script == "script local:snippets/hook.sh"


def test_a_hookscript_without_a_volume_reader_is_an_error() -> None:
    with pytest.raises(HarnessError, match="hookscript 'local:snippets/hook.sh'"):
        spec_from_conf(CONF, name="ct", vm_id=200)


@pytest.mark.parametrize("value", ["uid=0,/dev/x", "gid=44"])
def test_a_device_string_with_a_late_bare_path_or_none_is_refused(value: str) -> None:
    with pytest.raises(HarnessError):
        parse_device("dev0", value)


def test_a_malformed_idmap_line_is_refused() -> None:
    with pytest.raises(HarnessError, match="lxc.idmap 'x 0 1'"):
        spec_from_conf("lxc.idmap: x 0 1\n", name="ct", vm_id=200)
