"""Read containers out of a (simulated) Proxmox node's files, as pve-container would.

After a real-provider apply the node holds `/etc/pve/lxc/<vmid>.conf` (devN
property strings, raw `lxc.idmap` lines, `unprivileged`, `hookscript`) and the
hookscript snippet in its storage.  Booting from these files, instead of from
our own reading of the synthesized JSON, tests what the provider really wrote.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

from pve_gpu_lxc.pve import conf as pveconf

from .model import ContainerSpec, HarnessError, IdRange, PassthroughDevice

_DEV_KEY = re.compile(r"^dev(\d+)$")


def parse_device(key: str, value: str) -> PassthroughDevice:
    """A `devN` property string (`deny-write=0,path=/dev/x,uid=0,gid=44,mode=0660`; the path key is optional)."""
    fields: dict[str, str] = {}
    for index, part in enumerate(value.split(",")):
        name, sep, val = part.partition("=")
        if not sep:
            if index != 0:
                raise HarnessError(f"{key}: {value!r}: only the first item may omit 'path='")
            name, val = "path", part
        fields[name] = val
    if "path" not in fields:
        raise HarnessError(f"{key}: {value!r} has no path")
    return PassthroughDevice(
        path=fields["path"],
        uid=int(fields.get("uid", "0")),
        gid=int(fields.get("gid", "0")),
        mode=fields.get("mode", "0660"),
        deny_write=fields.get("deny-write", "0") == "1",
    )


def parse_idmap(value: str) -> IdRange:
    parts = value.split()
    if len(parts) != 4 or parts[0] not in ("u", "g"):
        raise HarnessError(f"lxc.idmap {value!r} is not 'u|g <container id> <host id> <size>'")
    return IdRange(parts[0], int(parts[1]), int(parts[2]), int(parts[3]))  # type: ignore[arg-type]


def spec_from_conf(text: str, *, name: str, vm_id: int,
                   read_volume: Callable[[str], bytes] | None = None) -> ContainerSpec:
    """A ContainerSpec from a PVE conf file's text; `read_volume(volid)` reads the hookscript snippet."""
    conf = pveconf.parse(text)
    devices = sorted(
        ((int(m.group(1)), parse_device(key, value)) for key, value in conf.options.items()
         if (m := _DEV_KEY.match(key))),
        key=lambda item: item[0],
    )
    hook = conf.options.get("hookscript")
    hook_text = None
    if hook:
        if read_volume is None:
            raise HarnessError(f"CT {vm_id} has hookscript {hook!r} but no way to read node volumes was given")
        hook_text = read_volume(hook).decode()
    return ContainerSpec(
        name=name,
        vm_id=vm_id,
        unprivileged=conf.options.get("unprivileged") == "1",
        idmap=tuple(parse_idmap(v) for v in conf.lxc_values("lxc.idmap")),
        devices=tuple(device for _, device in devices),
        hook_script=hook_text,
    )


def spec_from_node(conf_dir: Path, vm_id: int, *, name: str,
                   read_volume: Callable[[str], bytes] | None = None) -> ContainerSpec:
    path = Path(conf_dir) / f"{vm_id}.conf"
    if not path.exists():
        raise HarnessError(f"the node has no config for CT {vm_id} ({path})")
    return spec_from_conf(path.read_text(), name=name, vm_id=vm_id, read_volume=read_volume)
