"""Value rules of the container model: ids, names, modes, device paths (pure; no cdktf import).

Every check raises `ValidationError` with the value received, what is allowed and
how to fix it.  Limits come from Proxmox VE and bpg/proxmox; each says where.  Rules
shared with the host facts and the image definitions are in `core/rules.py`.
"""

from __future__ import annotations

import re

from ..core import names
from ..core.errors import ValidationError
from ..core.rules import got, require_int

VMID_MIN, VMID_MAX = names.VMID_MIN, names.VMID_MAX
MAX_CONTAINER_ID = 65_535  # uid/gid inside an unprivileged container (default 65536-id map)
MAX_DEVICES = 128  # bpg device_passthrough MaxItems (PVE itself allows 256)

_OCTAL_MODE = re.compile(r"^0[0-7]{3}$")
# Nodes that are directories on every host: devN stat()s the path at start and
# refuses anything that is not a char/block device ("... is not a device").
KNOWN_DEVICE_DIRECTORIES = frozenset(
    {
        "/dev/dri", "/dev/nvidia-caps", "/dev/nvidia-caps-imex-channels", "/dev/accel",
        "/dev/bus", "/dev/bus/usb", "/dev/input", "/dev/snd", "/dev/net", "/dev/disk",
        "/dev/mapper", "/dev/pts", "/dev/shm", "/dev/char", "/dev/block", "/dev/serial",
        "/dev/v4l", "/dev/vfio", "/dev/hugepages", "/dev/mqueue", "/dev/cpu",
    }
)
# udev symlink folders: devN recreates exactly the path it is given inside the
# container, so a by-path link would appear there as a by-path link (gpu-facts §4).
_LINK_FOLDERS = ("by-path", "by-id", "by-uuid", "by-label", "by-partuuid")


def vm_id(value: object) -> int:
    return require_int(value, "vm_id", VMID_MIN, VMID_MAX, "Pick a free VMID on the cluster (e.g. 200)")


def hostname(value: object) -> str:
    """RFC 1123 host name (optionally fully qualified), as PVE's `dns-name` format."""
    if not isinstance(value, str) or not value:
        raise ValidationError(f"hostname must be a non-empty string, got {got(value)}")
    if not names.is_dns_name(value):
        raise ValidationError(
            f"hostname {value!r} is not a valid DNS name; allowed: labels of 1-63 letters, digits "
            "and inner hyphens, separated by dots, at most 253 characters (e.g. 'jellyfin' or "
            "'jellyfin.lan')"
        )
    return value


def node_name(value: object) -> str:
    if not isinstance(value, str) or not names.is_node_name(value):
        raise ValidationError(
            f"node_name {value!r} is not a Proxmox node name; allowed: one DNS label "
            "(letters, digits, inner hyphens), as shown by `pvecm nodes` or `hostname`"
        )
    return value


def container_id(value: object, name: str) -> int:
    return require_int(value, name, 0, MAX_CONTAINER_ID, "It is an id inside the container")


def mode(value: object, name: str = "mode") -> str:
    if not isinstance(value, str) or not _OCTAL_MODE.match(value):
        raise ValidationError(
            f"{name} {value!r} is not a four-digit octal mode; allowed: '0' then three digits 0-7 "
            "as a string, e.g. '0660' (owner and group read/write) or '0666'"
        )
    return value


def device_path(value: object) -> str:
    """A path PVE's devN accepts and that is safe to quote into hook scripts."""
    if not isinstance(value, str):
        raise ValidationError(f"device path must be a string, got {got(value)}")
    parts = value.split("/")
    if ".." in parts or "." in parts:
        raise ValidationError(f"device path {value!r} contains '.' or '..'; give the node's real absolute path")
    if not names.is_device_path(value):  # bpg writes it into a property string, hooks quote it
        raise ValidationError(
            f"device path {value!r} is not allowed; it must be absolute under /dev/ and use only "
            "letters, digits and _ . + - (no whitespace, commas, '=', quotes or shell metacharacters), "
            "e.g. '/dev/dri/renderD128'"
        )
    if value in KNOWN_DEVICE_DIRECTORIES:
        raise ValidationError(
            f"device path {value!r} is a directory; Proxmox passes single device nodes only "
            "('... is not a device'). List each node instead, e.g. '/dev/dri/renderD128' or "
            "'/dev/nvidia-caps/nvidia-cap1'"
        )
    if any(folder in parts for folder in _LINK_FOLDERS):
        raise ValidationError(
            f"device path {value!r} is a udev symlink; devN recreates exactly this path inside the "
            "container, so pass the canonical node it points to (e.g. '/dev/dri/renderD128'), "
            "or select the GPU by PCI address with host facts"
        )
    return value


def datastore_id(value: object, name: str = "datastore_id") -> str:
    if not isinstance(value, str) or not names.is_storage_id(value):
        raise ValidationError(
            f"{name} {value!r} is not a Proxmox storage id (e.g. 'local', 'local-lvm'); see `pvesm status`"
        )
    return value
