"""What `/etc/pve/lxc/<vmid>.conf` holds after bpg creates a container (pure).

PVE's side of a create (pve-container `API2/LXC.pm` create_vm, `LXC/Config.pm`
update_pct_config / vmconfig_apply_pending, `LXC.pm` create_disks), applied to the request
`bpg.create_request` builds, then bpg's SSH step (`sed -i '/^lxc\\.idmap:/d'` + `tee -a`),
which leaves the `lxc.idmap` lines at the end of the file.  From an OCI image (`image`: its config
as the host facts record it), the create runs Create.pm restore_oci_archive instead of unpacking
a template (`oci.restore_oci_archive`), and a pre-start hookscript may write the declared
entrypoint and env at the first start (`app`: `oci.app_config_written`).  The file is written with the one
writer (`conf.render`) the simulated node uses too.

Two values PVE decides at create time:

* the root disk's volume name: PVE allocates the first free `vm-<vmid>-disk-N`; predicted
  with N = 0 (a fresh vmid) in the naming of the storage's type, known for PVE's installer
  storages (`local-lvm`: LVM-thin `vm-<vmid>-disk-0`, `local-zfs`: `subvol-<vmid>-disk-0`,
  `local`: directory `<vmid>/vm-<vmid>-disk-0.raw`), assumed LVM-thin for any other name;
* each NIC's MAC address when `mac_address` is not set: drawn at random with the datacenter's
  prefix (default BC:24:11); shown as `MAC_PLACEHOLDER`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import conf, oci
from .bpg import CreateRequest

MAC_PLACEHOLDER = "BC:24:11:XX:XX:XX"  # PVE draws the last three bytes at create time
# PVE's installer storages and their types; any other name is assumed to be LVM-thin
_KNOWN_STORAGE_TYPES = {"local-lvm": "lvmthin", "local-zfs": "zfspool", "local": "dir"}
# create_vm drops these before it stores the rest (API2/LXC.pm)
_NOT_STORED = ("vmid", "start", "unprivileged", "password", "ssh-public-keys", "pool", "ostemplate", "storage",
               "ignore-unpack-errors", "bwlimit", "ha-managed", "unique", "force", "restore")


@dataclass(frozen=True)
class Note:
    """A value of the predicted file PVE decides at create time (`key` is the option)."""

    key: str
    text: str


@dataclass(frozen=True)
class PredictedConf:
    vmid: int
    conf: conf.PveConf
    notes: tuple[Note, ...]

    @property
    def text(self) -> str:
        return conf.render(self.conf)


def volume_name(storage: str, vmid: int, storage_type: str | None = None) -> tuple[str, str]:
    """The volume id PVE allocates first for a container's root disk, and how sure that is."""
    kind = storage_type or _KNOWN_STORAGE_TYPES.get(storage, "lvmthin")
    if kind in ("dir", "nfs", "cifs", "glusterfs", "cephfs", "btrfs"):
        name = f"{vmid}/vm-{vmid}-disk-0.raw"
    elif kind == "zfspool":
        name = f"subvol-{vmid}-disk-0"
    else:
        name = f"vm-{vmid}-disk-0"
    assumed = "" if storage_type or storage in _KNOWN_STORAGE_TYPES else \
        f" (storage {storage!r} assumed LVM-thin; a directory storage names it {vmid}/vm-{vmid}-disk-0.raw)"
    return f"{storage}:{name}", (
        f"PVE allocates the volume name: the first free vm-{vmid}-disk-N, N = 0 on a fresh vmid{assumed}")


def _rootfs(request: CreateRequest, notes: list[Note]) -> str:
    storage = request.params.get("storage") or "local"
    value = request.params.get("rootfs") or f"{storage}:4"
    data = conf.parse_property_string(conf.ROOTFS_SCHEMA, value)
    match = re.fullmatch(r"(?:([^/:\s]+):)?(\d+(?:\.\d+)?)", data["volume"])
    if match:  # a new disk: `<storage>:<GiB>`
        sid = match.group(1) or storage
        data["volume"], note = volume_name(sid, request.vmid)
        data["size"] = conf.format_size(int(float(match.group(2)) * (1 << 30)))
        notes.append(Note("rootfs", note))
    return conf.print_property_string(conf.ROOTFS_SCHEMA, data, ("mp",))


def _network(value: str) -> tuple[str, bool]:
    """Config.pm print_lxc_network: type=veth, and a hwaddr when the request had none."""
    data = conf.parse_property_string(conf.NET_SCHEMA, value)
    data["type"] = "veth"
    drawn = not data.get("hwaddr")
    if drawn:
        data["hwaddr"] = MAC_PLACEHOLDER
    return conf.print_property_string(conf.NET_SCHEMA, data), drawn


def _errors(err: conf.PropertyStringError) -> str:
    return "; ".join(f"{key}: {text}" for key, text in sorted(err.errors.items()))


def created_conf(request: CreateRequest, image: oci.ImageConfig | None = None,
                 app: oci.AppConfig | None = None) -> PredictedConf:
    """The config file after the create task, bpg's SSH idmap step and the start.

    `image`: the template is an OCI image with this config (API2/LXC.pm create_vm runs
    restore_oci_archive on it after create_disks, before the defaults below); `app`: the container's
    pre-start hookscript writes that entrypoint and env at the start."""
    params = dict(request.params)
    notes: list[Note] = []
    options: dict[str, str] = {}
    for key, value in params.items():
        if key in _NOT_STORED or key == "rootfs" or re.fullmatch(r"mp\d+", key):
            continue
        if key == "cpuunits":  # cgroup v2 weight range
            value = str(min(int(value), 10000) or 1)
        elif key in ("nameserver", "searchdomain"):
            value = " ".join(conf.split_list(value))
        elif key == "tags":
            value = conf.unique_tags(value)
        elif re.fullmatch(r"net\d+", key):
            try:
                value, drawn = _network(value)
            except conf.PropertyStringError as err:
                raise ValueError(f"PVE refuses {key}={value!r}: {_errors(err)}") from None
            if drawn:
                notes.append(Note(key, f"hwaddr: PVE draws a random MAC at create, shown as {MAC_PLACEHOLDER}"))
        options[key] = value
    try:
        options["rootfs"] = _rootfs(request, notes)
    except conf.PropertyStringError as err:
        raise ValueError(f"PVE refuses rootfs={request.params.get('rootfs')!r}: {_errors(err)}") from None
    lxc: list[tuple[str, str]] = []
    if image is not None:
        restored = oci.restore_oci_archive(conf.PveConf(options=options), image)
        options, lxc = restored.options, restored.lxc
    if conf.parse_boolean(params.get("unprivileged", "1")) == 1:
        options["unprivileged"] = "1"
    options.setdefault("arch", "amd64")
    if not options.get("hostname"):
        options["hostname"] = f"CT{request.vmid}"
    if not options.get("memory"):
        options["memory"] = "512"
    options.setdefault("swap", "512")
    description = options.pop("description", None)
    result = conf.PveConf(description=description, options=options,
                          lxc=[*lxc, *(("lxc.idmap", line) for line in request.idmap_lines)])
    if app is not None:
        result = oci.app_config_written(result, app)
    return PredictedConf(request.vmid, result, tuple(sorted(notes, key=lambda n: n.key)))


def with_placeholders(text: str, predicted: PredictedConf) -> str:
    """`text` (a file read from a node) with the hwaddr of every NIC whose MAC PVE drew replaced
    by MAC_PLACEHOLDER: the one normalisation needed to compare a node's file with `predicted`."""
    for key in {n.key for n in predicted.notes if n.key.startswith("net")}:
        text = re.sub(rf"^({key}: (?:.*,)?hwaddr=)[0-9A-Fa-f:]{{17}}", rf"\g<1>{MAC_PLACEHOLDER}", text, flags=re.M)
    return text
