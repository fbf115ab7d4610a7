"""What the node's container config holds, from `GET /nodes/{node}/lxc/{vmid}/config` (pure).

PVE returns the options as JSON (`dev0: "deny-write=0,path=/dev/dri/card0,uid=0,gid=44,mode=0660"`,
`hookscript: "local:snippets/x.sh"`, `unprivileged: 1`) and the raw `lxc.*` lines as
`"lxc": [["lxc.idmap", "u 0 100000 65536"], ...]`.  Without `current=1` pending changes are
already applied: this is the configuration the container gets at its next start.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...pve.conf import parse_boolean

_DEV_KEY = re.compile(r"^dev(\d+)$")


@dataclass(frozen=True)
class FoundDevice:
    index: int
    raw: str
    path: str | None
    uid: int | None = None  # None: not set (PVE: 0)
    gid: int | None = None
    mode: str | None = None  # None: not set (PVE: the host node's mode)
    deny_write: bool = False


@dataclass(frozen=True)
class FoundConfig:
    devices: dict[int, FoundDevice] = field(default_factory=dict)
    idmap: tuple[str, ...] = ()
    hookscript: str | None = None
    unprivileged: bool = False
    lock: str | None = None  # PVE's `lock:` option: create, backup, migrate, snapshot ...


def parse_device(index: int, value: str) -> FoundDevice:
    """A devN property string: `[path=]<path>[,deny-write=<0|1>][,gid=<n>][,mode=<octal>][,uid=<n>]`."""
    fields: dict[str, str] = {}
    for position, part in enumerate(value.split(",")):
        name, sep, val = part.partition("=")
        if not sep:
            if position == 0:
                name, val = "path", part
            else:
                continue
        fields[name.strip()] = val.strip()

    def number(key: str) -> int | None:
        text = fields.get(key)
        return int(text) if text is not None and text.isdigit() else None

    mode = fields.get("mode")
    if mode is not None and re.fullmatch(r"[0-7]{1,4}", mode):
        mode = f"{int(mode, 8):04o}"
    return FoundDevice(
        index=index,
        raw=value,
        path=fields.get("path") or None,
        uid=number("uid"),
        gid=number("gid"),
        mode=mode,
        deny_write=parse_boolean(fields.get("deny-write") or "0") == 1,
    )


def normalize_idmap(value: str) -> str:
    return " ".join(str(value).split())


def parse_config(data: Mapping[str, Any]) -> FoundConfig:
    devices = {}
    for key, value in data.items():
        match = _DEV_KEY.match(str(key))
        if match and isinstance(value, str):
            index = int(match.group(1))
            devices[index] = parse_device(index, value)
    idmap = []
    for entry in data.get("lxc") or ():
        if isinstance(entry, (list, tuple)) and len(entry) == 2 and entry[0] == "lxc.idmap":
            idmap.append(normalize_idmap(entry[1]))
    hook = data.get("hookscript")
    lock = data.get("lock")
    return FoundConfig(
        lock=lock if isinstance(lock, str) and lock else None,
        devices=dict(sorted(devices.items())),
        idmap=tuple(idmap),
        hookscript=hook if isinstance(hook, str) and hook else None,
        unprivileged=str(data.get("unprivileged", "0")) in ("1", "true"),
    )
