"""Device nodes passed into a container with Proxmox `devN` (pure; no cdktf import).

A `Device` names the container-side owner of the node Proxmox creates: uid/gid
are ids *inside* the container (Proxmox maps them through the idmap).  A GPU
preset names the group by role (`render`, `video`) because the number belongs
to the template, not the host; `resolve_devices` turns roles into numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import KW_ONLY, dataclass
from typing import Literal

from ..core.errors import ValidationError
from ..core.rules import got, require_bool
from . import validation

GroupRole = Literal["render", "video"]
GROUP_ROLES: tuple[GroupRole, ...] = ("render", "video")
DEFAULT_MODE = "0660"  # PVE's devN default
KFD = "/dev/kfd"  # AMD's compute node (ROCm)


def group_role(path: str) -> GroupRole | None:
    """The group a GPU node belongs to, as udev's rules on Debian and Ubuntu give it: `render` for
    /dev/dri/renderD* and /dev/kfd, `video` for /dev/dri/card*, None for any other node."""
    name = path.rsplit("/", 1)[-1]
    if path == KFD or (path.startswith("/dev/dri/") and name.startswith("renderD")):
        return "render"
    if path.startswith("/dev/dri/") and name.startswith("card"):
        return "video"
    return None


@dataclass(frozen=True)
class Device:
    """One device node for `devN`.

    path: absolute node path on the host, recreated at the same path inside.
    uid, gid: owner inside the container (default 0/root, as PVE).
    group: instead of `gid`, the container group by role, resolved from the template.
    mode: four-digit octal string.  deny_write: read-only access.
    """

    path: str
    _: KW_ONLY
    uid: int = 0
    gid: int | None = None
    group: GroupRole | None = None
    mode: str = DEFAULT_MODE
    deny_write: bool = False

    def __post_init__(self) -> None:
        where = f"Device {self.path!r}"
        try:
            validation.device_path(self.path)
            validation.container_id(self.uid, "uid")
            if self.gid is not None:
                validation.container_id(self.gid, "gid")
            validation.mode(self.mode)
        except ValidationError as err:
            raise ValidationError(f"{where}: {err}") from None
        if self.gid is not None and self.group is not None:
            raise ValidationError(f"{where}: give either gid={self.gid} or group={self.group!r}, not both")
        if self.group is not None and self.group not in GROUP_ROLES:
            raise ValidationError(f"{where}: group {got(self.group)} is not one of {', '.join(GROUP_ROLES)}")
        try:
            require_bool(self.deny_write, "deny_write")
        except ValidationError as err:
            raise ValidationError(f"{where}: {err}") from None


@dataclass(frozen=True)
class ResolvedDevice:
    """A device with numeric container-side owner: what becomes one devN line."""

    path: str
    uid: int
    gid: int
    mode: str
    deny_write: bool


def resolve_devices(
    devices: Iterable[Device], group_gids: Mapping[str, int | None]
) -> tuple[ResolvedDevice, ...]:
    """Give every device a numeric gid, de-duplicate identical ones, refuse conflicting ones.

    `group_gids` maps roles to the container's GIDs (None = unknown); a device
    whose role is unknown raises, naming the role and the path.
    """
    resolved: dict[str, ResolvedDevice] = {}
    for device in devices:
        gid = device.gid
        if device.group is not None:
            gid = group_gids.get(device.group)
            if gid is None:
                raise ValidationError(
                    f"device {device.path} needs the container's '{device.group}' GID, which is unknown "
                    "for this template"
                )
        item = ResolvedDevice(device.path, device.uid, gid if gid is not None else 0, device.mode, device.deny_write)
        previous = resolved.get(item.path)
        if previous is not None and previous != item:
            raise ValidationError(
                f"device {item.path} is listed twice with different settings: {_describe(previous)} "
                f"and {_describe(item)}; keep one"
            )
        resolved[item.path] = item
    if len(resolved) > validation.MAX_DEVICES:
        raise ValidationError(
            f"{len(resolved)} device nodes requested; bpg/proxmox passes at most {validation.MAX_DEVICES} "
            "per container (device_passthrough)"
        )
    return tuple(resolved.values())


def _describe(d: ResolvedDevice) -> str:
    return f"uid={d.uid} gid={d.gid} mode={d.mode} deny_write={d.deny_write}"
