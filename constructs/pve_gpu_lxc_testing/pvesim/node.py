"""The simulated node's files, all under one root directory (the node's "/").

    etc/pve/lxc/<vmid>.conf                  container configs, real PVE syntax (conf.py); etc/pve/lxc
                                             links to nodes/<node>/lxc as on a real node
    etc/pve/storage.cfg                      storages, real PVE section-config syntax
    var/lib/vz/{template/cache,template/iso,snippets,dump,import}/   storage `local`
    dev/pve/vm-<vmid>-disk-<n>               `local-lvm` thin volumes (sparse files)
    dev/null, dev/zero, dev/dri/...          real character devices (os.mknod) from host facts, and
                                             the facts' /dev/dri/by-path symlinks
    etc/subuid, etc/subgid, etc/group        from host facts
    etc/modules-load.d, etc/systemd, ...     the boot configuration the facts record (what a reboot runs)
    sys/class/net/vmbr0/mtu                  the bridge (PVE::Network::read_bridge_mtu reads it)
    sys/module/, run/pvesim/proc/            the kernel and the NVIDIA driver as the facts record them (kernel.py)
    var/lib/lxc/<vmid>/config                what update_lxc_config writes before every start (lxc_start.py)
    run/pvesim/lxc/<vmid>.status             running|stopped (PVE keeps this in memory)

Everything is read from disk on every call: a hand edit is what the API returns next.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pve_gpu_lxc.pve import conf as pveconf

log = logging.getLogger("pvesim")
log.propagate = False

DEFAULT_STORAGE_CFG = """\
dir: local
\tpath /var/lib/vz
\tcontent vztmpl,iso,snippets,backup,import

lvmthin: local-lvm
\tthinpool data
\tvgname pve
\tcontent rootdir,images

"""

# The content types, in PVE::Storage volume_list's order (its @ctypes)
CONTENT_TYPES = ("rootdir", "images", "vztmpl", "iso", "backup", "snippets", "import")
# PVE::Storage::Plugin subdirectories of a file-based storage
CONTENT_SUBDIRS = {
    "images": "images",
    "rootdir": "private",
    "vztmpl": "template/cache",
    "iso": "template/iso",
    "backup": "dump",
    "snippets": "snippets",
    "import": "import",
}

ISO_EXT = r"\.(?:iso|img)"
VZTMPL_EXT = r"\.(tar|tar\.(?:gz|xz|zst|bz2))"
IMPORT_EXT = r"\.(ova|ovf|qcow2|raw|vmdk)"
BACKUP_EXT = r"\.(tgz|(?:tar|vma)(?:\.(?:gz|lzo|zst|bz2))?)"
_VOLUME_ID = re.compile(r"^([a-z][a-z0-9\-_.]*[a-z0-9]):(.+)$", re.IGNORECASE)


class PveError(Exception):
    """An error as PVE's API reports it: HTTP status, message, optional per-parameter errors."""

    def __init__(self, message: str, status: int = 500, errors: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.errors = errors or {}


def param_error(errors: dict[str, str]) -> PveError:
    """PVE::Exception::raise_param_exc."""
    return PveError("Parameter verification failed.", 400, errors)


def perm_error(what: str = "") -> PveError:
    """PVE::Exception::raise_perm_exc."""
    return PveError("Permission check failed" + (f" ({what})" if what else ""), 403)


@dataclass
class Storage:
    id: str
    type: str
    props: dict[str, str] = field(default_factory=dict)

    @property
    def content(self) -> set[str]:
        return {c for c in pveconf.split_list(self.props.get("content", "")) if c != "none"}

    @property
    def path(self) -> str | None:
        """The node path of a file-based storage (None for block storages)."""
        if self.type in ("dir", "btrfs"):
            return self.props.get("path")
        if self.type in ("nfs", "cifs", "cephfs", "glusterfs"):
            return self.props.get("path") or f"/mnt/pve/{self.id}"
        return None

    @property
    def disabled(self) -> bool:
        return self.props.get("disable", "0") not in ("0", "")

    def api_view(self, digest: str) -> dict[str, Any]:
        """What `GET /storage/{id}` returns."""
        data: dict[str, Any] = {"storage": self.id, "type": self.type, "digest": digest}
        for key, value in self.props.items():
            if key == "content":
                data[key] = ",".join(sorted(self.content)) or "none"
            elif key in ("disable", "shared", "sparse", "saferemove", "krbd", "mkdir", "is_mountpoint"):
                data[key] = pveconf.parse_boolean(value) if pveconf.parse_boolean(value) is not None else value
            else:
                data[key] = value
        if self.type in ("nfs", "cifs", "cephfs", "glusterfs") and "path" not in data:
            data["path"] = self.path
        return data


def parse_storage_cfg(text: str) -> dict[str, Storage]:
    """PVE::SectionConfig: `type: id` headers, indented `key value` lines, blank line ends a section."""
    storages: dict[str, Storage] = {}
    current: Storage | None = None
    for line in text.split("\n"):
        if not line.strip() or line.lstrip().startswith("#"):
            if not line.strip():
                current = None
            continue
        header = re.match(r"^(\S+):\s*(\S+)\s*$", line)
        if header and not line[0].isspace():
            current = Storage(header.group(2), header.group(1))
            storages[current.id] = current
            continue
        prop = re.match(r"^\s+(\S+)(?:\s+(.*\S))?\s*$", line)
        if prop and current is not None:
            current.props[prop.group(1)] = prop.group(2) if prop.group(2) is not None else "1"
    return storages


def render_storage_cfg(storages: dict[str, Storage]) -> str:
    out = []
    for storage in storages.values():
        out.append(f"{storage.type}: {storage.id}\n")
        out.extend(f"\t{k} {v}\n" for k, v in storage.props.items())
        out.append("\n")
    return "".join(out)


def parse_volume_id(volid: str) -> tuple[str, str]:
    match = _VOLUME_ID.match(volid)
    if not match:
        raise PveError(f"unable to parse volume ID '{volid}'")
    return match.group(1), match.group(2)


@dataclass(frozen=True)
class Volume:
    storage: Storage
    volname: str
    vtype: str  # images | rootdir | vztmpl | iso | backup | snippets | import
    vmid: int | None
    node_path: str  # the path on the node
    format: str


class NodeFiles:
    def __init__(self, root: Path, name: str = "pve", logger: logging.Logger | None = None):
        self.root = Path(root)
        self.name = name
        self.log = logger or log

    # --- paths --------------------------------------------------------------------------------
    def path(self, node_path: str) -> Path:
        """The file a node path (e.g. `/var/lib/vz`) names, under the root."""
        return self.root / node_path.lstrip("/")

    def conf_dir(self) -> Path:
        return self.root / "etc/pve/lxc"

    def conf_path(self, vmid: int | str) -> Path:
        return self.conf_dir() / f"{vmid}.conf"

    def storage_cfg_path(self) -> Path:
        return self.root / "etc/pve/storage.cfg"

    def status_path(self, vmid: int | str) -> Path:
        return self.root / "run/pvesim/lxc" / f"{vmid}.status"

    # --- set-up -------------------------------------------------------------------------------
    def setup(self, facts: Path | None = None) -> None:
        """Create the node's tree (idempotent; existing files, storage.cfg included, are kept)."""
        for d in (f"etc/pve/nodes/{self.name}/lxc", f"etc/pve/nodes/{self.name}/qemu-server", "run/pvesim/lxc",
                  "dev", "proc", "tmp", "var/tmp", "var/lib/lxc"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        for name in ("lxc", "qemu-server"):  # as on a real node: /etc/pve/lxc -> nodes/<node>/lxc
            link = self.root / "etc/pve" / name
            if not link.exists() and not link.is_symlink():
                link.symlink_to(f"nodes/{self.name}/{name}")
        (self.root / "tmp").chmod(0o1777)
        if not self.storage_cfg_path().exists():
            self.storage_cfg_path().write_text(DEFAULT_STORAGE_CFG)
        for storage in self.storages().values():
            if storage.path:
                for sub in ("template/cache", "template/iso", "snippets", "dump", "import", "images"):
                    self.path(storage.path).joinpath(sub).mkdir(parents=True, exist_ok=True)
            if storage.type == "lvmthin":
                (self.root / "dev" / storage.props.get("vgname", "pve")).mkdir(parents=True, exist_ok=True)
        self._mknod("/dev/null", 1, 3, 0, 0, 0o666)
        self._mknod("/dev/zero", 1, 5, 0, 0, 0o666)
        facts_data: dict[str, Any] = json.loads(Path(facts).read_text()) if facts else {}
        for device in facts_data.get("devices", []):
            if device.get("type") == "d":
                target = self.path(device["path"])
                target.mkdir(parents=True, exist_ok=True)
                target.chmod(int(str(device.get("mode", "0755")), 8))
                os.chown(target, device.get("uid", 0), device.get("gid", 0))
        for device in facts_data.get("devices", []):
            if device.get("type") == "c":
                self._mknod(device["path"], device["major"], device["minor"], device.get("uid", 0),
                            device.get("gid", 0), int(str(device.get("mode", "0660")), 8))
        for entry in facts_data.get("dri_by_path", []):
            link = self.path(entry["link"])
            if not link.is_symlink() and not link.exists():
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(entry["target"])
        groups = {"root": 0, **facts_data.get("groups", {})}
        group = self.root / "etc/group"
        if not group.exists():
            group.write_text("".join(f"{name}:x:{gid}:\n" for name, gid in groups.items()))
        for iface, mtu in (("lo", 65536), ("eno1", 1500), ("vmbr0", 1500)):  # the node's network (nodes.py)
            mtu_file = self.root / "sys/class/net" / iface / "mtu"
            if not mtu_file.exists():
                mtu_file.parent.mkdir(parents=True, exist_ok=True)
                mtu_file.write_text(f"{mtu}\n")
        # the boot configuration the facts record (host-setup's unit, a udev rule, ...): what a reboot
        # of this node runs (nodeboot.py)
        boot = facts_data.get("boot") or {}
        for entry in boot.get("files", []):
            target = self.path(entry["path"])
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(entry["text"])
        for entry in boot.get("enabled", []):
            link = self.path(entry["link"])
            if not link.is_symlink() and not link.exists():
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(entry["target"])
        for kind in ("subuid", "subgid"):
            target = self.root / "etc" / kind
            if not target.exists():
                ranges = facts_data.get(kind, [{"start": 100000, "count": 65536}])
                target.write_text("".join(f"root:{r['start']}:{r['count']}\n" for r in ranges))

    def _mknod(self, node_path: str, major: int, minor: int, uid: int, gid: int, mode: int) -> None:
        target = self.path(node_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            st = target.lstat()
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(major, minor):
                return
            target.unlink()
        except FileNotFoundError:
            pass
        try:
            os.mknod(target, stat.S_IFCHR | mode, os.makedev(major, minor))
        except PermissionError:
            # not root: a regular file stands in (the API only checks that the node has it)
            self.log.warning("cannot mknod %s (not root): creating a regular file instead", target)
            target.touch()
        os.chmod(target, mode)
        try:
            os.chown(target, uid, gid)
        except PermissionError:
            pass

    # --- containers ---------------------------------------------------------------------------
    def vmids(self) -> list[int]:
        return sorted(int(p.stem) for p in self.conf_dir().glob("*.conf") if p.stem.isdigit())

    def conf_text(self, vmid: int | str) -> str | None:
        try:
            return self.conf_path(vmid).read_text()
        except FileNotFoundError:
            return None

    def read_conf(self, vmid: int | str) -> pveconf.PveConf | None:
        text = self.conf_text(vmid)
        if text is None:
            return None
        conf = pveconf.parse(text, vmid)
        for warning in conf.warnings:
            self.log.warning("%s", warning)
        return conf

    def write_conf(self, vmid: int | str, conf: pveconf.PveConf) -> None:
        path = self.conf_path(vmid)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(pveconf.render(conf))
        tmp.replace(path)

    def delete_conf(self, vmid: int | str) -> None:
        self.conf_path(vmid).unlink(missing_ok=True)
        self.status_path(vmid).unlink(missing_ok=True)

    def status(self, vmid: int | str) -> str:
        try:
            return self.status_path(vmid).read_text().strip() or "stopped"
        except FileNotFoundError:
            return "stopped"

    def set_status(self, vmid: int | str, status: str) -> None:
        path = self.status_path(vmid)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(status + "\n")

    def started_at(self, vmid: int | str) -> float | None:
        try:
            return self.status_path(vmid).stat().st_mtime if self.status(vmid) == "running" else None
        except FileNotFoundError:
            return None

    # --- datacenter.cfg ---------------------------------------------------------------------
    def tag_style(self) -> tuple[bool, str]:
        """`etc/pve/datacenter.cfg`'s `tag-style` as pve-guest-common GuestHelpers.pm
        get_unique_tags reads it: (case-sensitive, ordering); PVE's defaults without the file or key."""
        try:
            text = (self.root / "etc/pve/datacenter.cfg").read_text()
        except FileNotFoundError:
            return False, "alphabetical"
        match = re.search(r"^tag-style:\s*(\S.*?)\s*$", text, re.M)
        style = dict(part.split("=", 1) for part in (match.group(1).split(",") if match else []) if "=" in part)
        return pveconf.parse_boolean(style.get("case-sensitive", "0")) == 1, style.get("ordering", "alphabetical")

    # --- storage ------------------------------------------------------------------------------
    def storage_cfg_text(self) -> str:
        try:
            return self.storage_cfg_path().read_text()
        except FileNotFoundError:
            return ""

    def storages(self) -> dict[str, Storage]:
        return parse_storage_cfg(self.storage_cfg_text())

    def storage(self, storage_id: str) -> Storage:
        """PVE::Storage::storage_config."""
        storage = self.storages().get(storage_id)
        if storage is None:
            raise PveError(f"storage '{storage_id}' does not exist")
        return storage

    def storage_check_enabled(self, storage_id: str) -> Storage:
        storage = self.storage(storage_id)
        if storage.disabled:
            raise PveError(f"storage '{storage_id}' is disabled")
        nodes = pveconf.split_list(storage.props.get("nodes", ""))
        if nodes and self.name not in nodes:
            raise PveError(f"storage '{storage_id}' is not available on node '{self.name}'")
        return storage

    def volume(self, volid: str) -> Volume:
        """PVE::Storage::parse_volname + path."""
        storage_id, volname = parse_volume_id(volid)
        storage = self.storage(storage_id)
        if storage.path is not None:
            base = storage.path.rstrip("/")
            patterns = [
                (r"^(\d+)/((?:base|vm|subvol|basevol)-\d+-\S+\.(raw|qcow2|vmdk|subvol))$", "images"),
                (rf"^iso/([^/]+{ISO_EXT})$", "iso"),
                (rf"^vztmpl/([^/]+{VZTMPL_EXT})$", "vztmpl"),
                (r"^rootdir/(\d+)$", "rootdir"),
                (rf"^backup/([^/]+{BACKUP_EXT})$", "backup"),
                (r"^snippets/([^/]+)$", "snippets"),
                (rf"^import/([^/]+{IMPORT_EXT})$", "import"),
            ]
            for pattern, vtype in patterns:
                match = re.match(pattern, volname, re.IGNORECASE if vtype == "iso" else 0)
                if not match:
                    continue
                if vtype == "images":
                    vmid: int | None = int(match.group(1))
                    node_path = f"{base}/images/{volname}"
                    fmt = match.group(3)
                elif vtype == "rootdir":
                    vmid, node_path, fmt = int(match.group(1)), f"{base}/private/{match.group(1)}", "subvol"
                else:
                    vmid, fmt = None, _file_format(vtype, match.group(1))
                    node_path = f"{base}/{CONTENT_SUBDIRS[vtype]}/{match.group(1)}"
                return Volume(storage, volname, vtype, vmid, node_path, fmt)
            raise PveError(f"unable to parse directory volume name '{volname}'")
        if storage.type in ("lvmthin", "lvm"):
            match = re.match(r"^((vm|base)-(\d+)-\S+)$", volname)
            if not match:
                raise PveError(f"unable to parse lvm volume name '{volname}'")
            vg = storage.props.get("vgname", "pve")
            return Volume(storage, volname, "images", int(match.group(3)), f"/dev/{vg}/{volname}", "raw")
        raise PveError(f"storage type '{storage.type}' is not supported by the simulated node")

    def volume_path(self, volid: str) -> Path:
        """The file under the root a volume ID such as `local:vztmpl/x.tar.zst` names."""
        return self.path(self.volume(volid).node_path)

    def list_volumes(self, storage_id: str, content: str | None = None) -> list[dict[str, Any]]:
        """PVE::Storage::volume_list: the storage's volumes of the enabled content types (a guest
        volume is `rootdir` when its owner is a container, `images` otherwise)."""
        storage = self.storage(storage_id)
        wanted = [content] if content else list(CONTENT_TYPES)
        wanted = [c for c in wanted if c in storage.content]
        containers = set(self.vmids())
        result: list[dict[str, Any]] = []

        def guest_volume(ctype: str, volid: str, f: Path, owner: int) -> None:
            if ctype == ("rootdir" if owner in containers else "images"):
                result.append(self._volume_entry(storage, volid, ctype, f, owner))

        if storage.path is not None:
            base = self.path(storage.path)
            for ctype in wanted:
                if ctype in ("images", "rootdir"):
                    for f in sorted((base / "images").glob("*/*")):
                        if f.is_file() and f.parent.name.isdigit() and re.match(r"^(vm|base)-\d+-", f.name):
                            guest_volume(ctype, f"{storage.id}:{f.parent.name}/{f.name}", f, int(f.parent.name))
                    continue
                directory = base / CONTENT_SUBDIRS[ctype]
                if not directory.is_dir():
                    continue
                ext = {"iso": ISO_EXT, "vztmpl": VZTMPL_EXT, "import": IMPORT_EXT,
                       "backup": BACKUP_EXT, "snippets": ""}[ctype]
                for f in sorted(directory.iterdir()):
                    if not f.is_file() or not re.search(f"{ext}$", f.name, re.IGNORECASE if ctype == "iso" else 0):
                        continue
                    result.append(self._volume_entry(storage, f"{storage.id}:{ctype}/{f.name}", ctype, f, None))
        elif storage.type in ("lvmthin", "lvm"):
            vg_dir = self.root / "dev" / storage.props.get("vgname", "pve")
            for ctype in wanted:
                if ctype not in ("images", "rootdir") or not vg_dir.is_dir():
                    continue
                for f in sorted(vg_dir.iterdir()):
                    match = re.match(r"^(vm|base)-(\d+)-", f.name)
                    if f.is_file() and match:
                        guest_volume(ctype, f"{storage.id}:{f.name}", f, int(match.group(2)))
        result.sort(key=lambda item: item["volid"].lower())
        return result

    def _volume_entry(self, storage: Storage, volid: str, ctype: str, f: Path, vmid: int | None) -> dict[str, Any]:
        st = f.stat()
        if ctype in ("images", "rootdir"):
            fmt = "raw"
        else:
            fmt = _file_format(ctype, f.name)
        entry: dict[str, Any] = {"volid": volid, "content": ctype, "format": fmt, "size": st.st_size,
                                 "ctime": int(st.st_ctime)}
        if vmid is not None:
            entry["vmid"] = vmid
            entry["used"] = st.st_blocks * 512
        return entry

    def device_exists(self, node_path: str) -> bool:
        return self.path(node_path).exists()

    # --- network ------------------------------------------------------------------------------
    def read_bridge_mtu(self, bridge: str | None) -> int:
        """pve-common `PVE/Network.pm` read_bridge_mtu: the first line of the node's
        `/sys/class/net/<bridge>/mtu` (setup writes lo, eno1 and vmbr0; a test adds or removes
        interfaces there).  The one bridge check: Config.pm update_pct_config (a netN with `mtu`)
        and LXC.pm update_lxc_config (every netN, after a config PUT and at every start) call it."""
        path = self.root / "sys/class/net" / (bridge or "") / "mtu"
        try:
            with open(path) as f:
                mtu = f.readline().rstrip("\n")
        except OSError:
            mtu = ""
        if not mtu or mtu == "0":
            raise PveError(f"bridge '{bridge or ''}' does not exist")
        if not re.fullmatch(r"\d+", mtu):
            raise PveError(f"unexpeted error: unable to parse mtu value '{mtu}' as integer")  # sic (PVE's typo)
        return int(mtu)


def _file_format(ctype: str, name: str) -> str:
    if ctype == "vztmpl":
        match = re.search(VZTMPL_EXT + "$", name)
        ext = match.group(1) if match else "tar"
        return {"tar": "tar", "tar.gz": "tgz", "tar.xz": "txz", "tar.zst": "tzst", "tar.bz2": "tbz2"}.get(ext, ext)
    if ctype == "iso":
        return "iso"
    if ctype == "snippets":
        return "snippet"
    if ctype == "import":
        match = re.search(IMPORT_EXT + "$", name)
        return match.group(1) if match else "raw"
    if ctype == "backup":
        match = re.search(BACKUP_EXT + "$", name)
        return match.group(1) if match else "tar"
    return "raw"

