"""check.nodeconf: the API's container config as the check reads it (pure)."""

from __future__ import annotations

import pytest

from pve_gpu_lxc.cli.check.nodeconf import FoundDevice, parse_config, parse_device


@pytest.mark.parametrize("value, device", [
    ("deny-write=0,path=/dev/dri/card0,uid=0,gid=44,mode=0660",
     FoundDevice(0, "deny-write=0,path=/dev/dri/card0,uid=0,gid=44,mode=0660", "/dev/dri/card0", 0, 44, "0660", False)),
    ("/dev/dri/renderD128,gid=106", FoundDevice(0, "/dev/dri/renderD128,gid=106", "/dev/dri/renderD128", None, 106)),
    ("path=/dev/kfd,mode=660,deny-write=1", FoundDevice(0, "path=/dev/kfd,mode=660,deny-write=1", "/dev/kfd",
                                                         mode="0660", deny_write=True)),
])
def test_device_property_strings(value, device) -> None:
    assert parse_device(0, value) == device


def test_config_devices_idmap_and_hookscript() -> None:
    conf = parse_config({
        "dev1": "path=/dev/dri/renderD128,gid=106", "dev0": "path=/dev/dri/card0,gid=44", "dev12": "/dev/x",
        "hookscript": "local:snippets/h.sh", "unprivileged": 1, "memory": 512,
        "lxc": [["lxc.idmap", "u 0 100000 65536"], ["lxc.cgroup2.devices.allow", "c 226:* rwm"],
                ["lxc.idmap", "g  0   100000 65536 "]],
    })
    assert list(conf.devices) == [0, 1, 12]
    assert conf.idmap == ("u 0 100000 65536", "g 0 100000 65536")
    assert conf.hookscript == "local:snippets/h.sh" and conf.unprivileged is True
    assert parse_config({}).devices == {} and parse_config({}).hookscript is None
