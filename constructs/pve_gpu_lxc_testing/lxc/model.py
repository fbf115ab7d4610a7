"""Plain data the harness works on: idmap ranges, devN entries, one container.

These mirror what Proxmox stores for a container (`lxc.idmap` lines, `devN`
property strings), not the product's classes, so the harness can be fed either
a synthesized bpg resource body or hand-written values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Literal

IdKind = Literal["u", "g"]


class HarnessError(Exception):
    """The harness could not do what it was asked (bad input or a host problem)."""


@dataclass(frozen=True)
class IdRange:
    """One `lxc.idmap` line: container ids [ct, ct+size) -> host ids [host, host+size)."""

    kind: IdKind
    ct: int
    host: int
    size: int

    def __post_init__(self) -> None:
        if self.kind not in ("u", "g"):
            raise HarnessError(f"idmap kind must be 'u' or 'g', got {self.kind!r}")
        for name in ("ct", "host", "size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise HarnessError(f"idmap {name} must be a non-negative integer, got {value!r}")

    def lxc_value(self) -> str:
        return f"{self.kind} {self.ct} {self.host} {self.size}"


@dataclass(frozen=True)
class PassthroughDevice:
    """One PVE `devN` entry; uid/gid are container-side ids, as in PVE."""

    path: str
    uid: int = 0
    gid: int = 0
    mode: str = "0660"
    deny_write: bool = False

    def __post_init__(self) -> None:
        if not self.path.startswith("/dev/") or "/../" in self.path or "/./" in self.path:
            raise HarnessError(f"device path must start with /dev/ and hold no /./ or /../, got {self.path!r}")
        if len(self.mode) != 4 or self.mode[0] != "0" or any(c not in "01234567" for c in self.mode):
            raise HarnessError(f"device mode must look like 0660, got {self.mode!r} for {self.path}")

    @property
    def perm(self) -> int:
        return int(self.mode, 8)

    def pve_value(self) -> str:
        """The property string bpg sends and PVE stores verbatim (bpg `containers_types.go`)."""
        return (
            f"deny-write={int(self.deny_write)},path={self.path},"
            f"uid={self.uid},gid={self.gid},mode={self.mode}"
        )


@dataclass(frozen=True)
class ContainerSpec:
    """What the harness needs to know about one container."""

    name: str
    vm_id: int
    unprivileged: bool = True
    idmap: tuple[IdRange, ...] = ()
    devices: tuple[PassthroughDevice, ...] = ()
    hook_script: str | None = None
    # Extra lines for /etc/subuid and /etc/subgid (e.g. the product's own
    # suggestion); None means "derive them from the idmap".
    subuid_lines: tuple[str, ...] | None = None
    subgid_lines: tuple[str, ...] | None = None
    # Groups of the container's rootfs (its /etc/group), e.g. (("video", 44), ("render", 106)).
    # A member of the group a node is meant for (render for renderD*, video for
    # card*) must be able to open it, whatever gid the devN entry declares.
    rootfs_groups: tuple[tuple[str, int], ...] = ()
    notes: dict[str, Any] = field(default_factory=dict, compare=False)


def ranges_from_entries(entries: Iterable[Any]) -> tuple[IdRange, ...]:
    """Adapt idmap entries from the product or a bpg body to IdRange.

    Accepts IdRange, bpg idmap dicts ({type, container_id, host_id, size}),
    objects with the same attribute names (or kind/ct/host), and 4-tuples.
    """
    return tuple(_one_range(entry) for entry in entries)


def _one_range(entry: Any) -> IdRange:
    if isinstance(entry, IdRange):
        return entry
    if isinstance(entry, dict):
        return IdRange(_kind(entry["type"]), entry["container_id"], entry["host_id"], entry["size"])
    if isinstance(entry, (tuple, list)) and len(entry) == 4:
        return IdRange(_kind(entry[0]), entry[1], entry[2], entry[3])
    for kind_attr, ct_attr, host_attr in (("type", "container_id", "host_id"), ("kind", "ct", "host")):
        if all(hasattr(entry, a) for a in (kind_attr, ct_attr, host_attr, "size")):
            return IdRange(
                _kind(getattr(entry, kind_attr)),
                getattr(entry, ct_attr),
                getattr(entry, host_attr),
                getattr(entry, "size"),
            )
    raise HarnessError(f"cannot read an idmap range from {entry!r}")


def _kind(value: Any) -> IdKind:
    text = str(getattr(value, "value", value)).lower()
    if text in ("u", "uid"):
        return "u"
    if text in ("g", "gid"):
        return "g"
    raise HarnessError(f"idmap type must be uid/gid (or u/g), got {value!r}")
