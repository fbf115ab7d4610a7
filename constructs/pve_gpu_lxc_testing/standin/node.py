"""The simulated Proxmox node: a directory tree standing in for the host's filesystem.

    <root>/etc/pve/lxc/<vmid>.conf              container configs (real PVE syntax)
    <root>/var/lib/vz/template/cache/            datastore `local`, content `vztmpl`
    <root>/var/lib/vz/snippets/                  datastore `local`, content `snippets`
    <root>/var/lib/vz/template/iso/, dump/, import/
    <root>/run/pve-standin/lxc/<vmid>.status     running|stopped (PVE keeps this in memory)

Only the datastore `local` is file based here (like a default PVE install).
"""

from __future__ import annotations

import os
from pathlib import Path

from . import pveconf

ROOT_ENV = "PVE_STANDIN_ROOT"
NODE_ENV = "PVE_STANDIN_NODE"
DEFAULT_NODE = "pve"
FILE_DATASTORE = "local"

CONTENT_DIRS = {
    "vztmpl": "template/cache",
    "iso": "template/iso",
    "snippets": "snippets",
    "backup": "dump",
    "import": "import",
}


class PveError(Exception):
    """An error the real Proxmox VE API would return (message worded like PVE's)."""


class Node:
    def __init__(self, root: Path, name: str = DEFAULT_NODE):
        self.root = Path(root)
        self.name = name

    @classmethod
    def from_env(cls) -> "Node":
        root = os.environ.get(ROOT_ENV)
        if not root:
            raise PveError(f"{ROOT_ENV} is not set: the stand-in provider needs a directory to act as the Proxmox node")
        return cls(Path(root), os.environ.get(NODE_ENV, DEFAULT_NODE))

    # --- node / datastore ------------------------------------------------------------------
    def check_node(self, node_name: str) -> None:
        if node_name != self.name:
            raise PveError(f"hostname lookup '{node_name}' failed - no such node (the stand-in node is '{self.name}')")

    def datastore_dir(self, datastore_id: str) -> Path:
        if datastore_id != FILE_DATASTORE:
            raise PveError(f"storage '{datastore_id}' is not a file-based storage on this stand-in node "
                           f"(only '{FILE_DATASTORE}' is; set datastore_id = \"{FILE_DATASTORE}\")")
        return self.root / "var/lib/vz"

    def content_dir(self, datastore_id: str, content_type: str) -> Path:
        if content_type not in CONTENT_DIRS:
            raise PveError(f"unknown content type '{content_type}' (one of {', '.join(CONTENT_DIRS)})")
        return self.datastore_dir(datastore_id) / CONTENT_DIRS[content_type]

    def volume_path(self, volid: str) -> Path:
        """`local:vztmpl/x.tar.zst` -> the file it names."""
        try:
            storage, rest = volid.split(":", 1)
            content_type, file_name = rest.split("/", 1)
        except ValueError:
            raise PveError(f"unable to parse volume ID '{volid}' (expected '<storage>:<content>/<file>')") from None
        return self.content_dir(storage, content_type) / file_name

    # --- containers --------------------------------------------------------------------------
    def conf_path(self, vmid: int) -> Path:
        return self.root / "etc/pve/lxc" / f"{vmid}.conf"

    def read_conf(self, vmid: int) -> pveconf.PveConf | None:
        path = self.conf_path(vmid)
        if not path.exists():
            return None
        return pveconf.parse(path.read_text())

    def write_conf(self, vmid: int, conf: pveconf.PveConf) -> None:
        path = self.conf_path(vmid)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".conf.tmp")
        tmp.write_text(pveconf.render(conf))
        tmp.replace(path)

    def delete_conf(self, vmid: int) -> None:
        self.conf_path(vmid).unlink(missing_ok=True)
        self._status_path(vmid).unlink(missing_ok=True)

    def next_vmid(self) -> int:
        used = {int(p.stem) for p in (self.root / "etc/pve/lxc").glob("*.conf") if p.stem.isdigit()}
        vmid = 100
        while vmid in used:
            vmid += 1
        return vmid

    def _status_path(self, vmid: int) -> Path:
        return self.root / "run/pve-standin/lxc" / f"{vmid}.status"

    def status(self, vmid: int) -> str:
        path = self._status_path(vmid)
        return path.read_text().strip() if path.exists() else "stopped"

    def set_status(self, vmid: int, status: str) -> None:
        path = self._status_path(vmid)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(status + "\n")
