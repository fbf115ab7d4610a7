"""Turn a ContainerSpec into what Proxmox would run: idmap lines, device nodes, subids.

Pure functions: no file system, no processes.  The Proxmox behaviour copied
here (see docs/lxc-harness.md for sources):

* `lxc.idmap` lines are the idmap entries verbatim, in order.  An unprivileged
  container with none gets PVE's hard-coded `u 0 100000 65536`/`g 0 100000 65536`.
* For every `devN`, PVE mknods a node with the entry's mode and chowns it to
  the entry's container uid/gid mapped to the host through the idmap (the first
  range that covers the id; an id no range covers is used unchanged,
  `map_ct_id_to_host` in PVE/LXC.pm), then bind-mounts it to the same path
  under the container's /dev.
* LXC writes the maps with newuidmap/newgidmap, so root needs an /etc/subuid
  or /etc/subgid entry for every host range.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .model import ContainerSpec, HarnessError, IdKind, IdRange, PassthroughDevice

PVE_STOCK_SUBID = "root:100000:65536"  # what a PVE node has in /etc/subuid and /etc/subgid
PVE_DEFAULT_IDMAP = (IdRange("u", 0, 100000, 65536), IdRange("g", 0, 100000, 65536))
OVERFLOW_ID = 65534  # /proc/sys/kernel/overflow{u,g}id: how unmapped ids show inside
STAND_IN_RDEV = (1, 3)  # /dev/null: always present, readable and writable

RdevLookup = Callable[[str], tuple[int, int]]


def stand_in_rdev(path: str) -> tuple[int, int]:
    """Every passed node becomes a /dev/null twin under its own name (no GPU needed)."""
    return STAND_IN_RDEV


def host_rdev(path: str) -> tuple[int, int]:
    """What PVE does at start: stat the host node; it must exist and be a char device."""
    import os
    import stat

    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise HarnessError(f"Device {path} does not exist on this host (use stand-in nodes)") from None
    if not stat.S_ISCHR(st.st_mode):
        raise HarnessError(f"{path} is not a character device")
    return os.major(st.st_rdev), os.minor(st.st_rdev)


@dataclass(frozen=True)
class DeviceNode:
    device: PassthroughDevice
    rdev: tuple[int, int]
    host_uid: int
    host_gid: int
    seen_uid: int  # owner as `stat` shows it inside the container
    seen_gid: int


@dataclass(frozen=True)
class ContainerPlan:
    spec: ContainerSpec
    idmap: tuple[IdRange, ...]
    nodes: tuple[DeviceNode, ...]
    subuid_lines: tuple[str, ...]
    subgid_lines: tuple[str, ...]

    def ranges(self, kind: IdKind) -> tuple[IdRange, ...]:
        return tuple(r for r in self.idmap if r.kind == kind)

    def host_root(self) -> tuple[int, int]:
        """Host uid/gid of the container's root: the owner of its rootfs."""
        return ct_to_host(self.idmap, "u", 0), ct_to_host(self.idmap, "g", 0)


def effective_idmap(spec: ContainerSpec) -> tuple[IdRange, ...]:
    if spec.idmap:
        return spec.idmap
    return PVE_DEFAULT_IDMAP if spec.unprivileged else ()


def ct_to_host(idmap: tuple[IdRange, ...], kind: IdKind, ct_id: int) -> int:
    for r in idmap:
        if r.kind == kind and r.ct <= ct_id < r.ct + r.size:
            return r.host + (ct_id - r.ct)
    return ct_id


def host_to_ct(idmap: tuple[IdRange, ...], kind: IdKind, host_id: int) -> int:
    """The id the kernel shows inside for a host id (no idmap: privileged, identity)."""
    if not idmap:
        return host_id
    for r in idmap:
        if r.kind == kind and r.host <= host_id < r.host + r.size:
            return r.ct + (host_id - r.host)
    return OVERFLOW_ID


def subid_lines(idmap: tuple[IdRange, ...], kind: IdKind, owner: str = "root") -> tuple[str, ...]:
    lines: list[str] = []
    for r in idmap:
        line = f"{owner}:{r.host}:{r.size}"
        if r.kind == kind and line not in lines:
            lines.append(line)
    return tuple(lines)


def plan(spec: ContainerSpec, rdev_of: RdevLookup = host_rdev) -> ContainerPlan:
    idmap = effective_idmap(spec)
    seen: set[str] = set()
    nodes = []
    for device in spec.devices:
        if device.path in seen:
            raise HarnessError(f"container {spec.name}: device {device.path} is passed twice")
        seen.add(device.path)
        host_uid = ct_to_host(idmap, "u", device.uid)
        host_gid = ct_to_host(idmap, "g", device.gid)
        nodes.append(
            DeviceNode(
                device=device,
                rdev=rdev_of(device.path),
                host_uid=host_uid,
                host_gid=host_gid,
                seen_uid=_seen(idmap, "u", device.uid, host_uid),
                seen_gid=_seen(idmap, "g", device.gid, host_gid),
            )
        )
    needs_subids = bool(idmap)
    return ContainerPlan(
        spec=spec,
        idmap=idmap,
        nodes=tuple(nodes),
        subuid_lines=_pick(spec.subuid_lines, subid_lines(idmap, "u")) if needs_subids else (),
        subgid_lines=_pick(spec.subgid_lines, subid_lines(idmap, "g")) if needs_subids else (),
    )


def _seen(idmap: tuple[IdRange, ...], kind: IdKind, ct_id: int, host_id: int) -> int:
    """Owner id expected inside: the declared id when the map covers it (independent
    of the ct->host arithmetic above), else whatever the unchanged host id maps back to."""
    if not idmap or any(r.kind == kind and r.ct <= ct_id < r.ct + r.size for r in idmap):
        return ct_id
    return host_to_ct(idmap, kind, host_id)


def _pick(given: tuple[str, ...] | None, derived: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(given) if given is not None else derived


def pve_config_lines(p: ContainerPlan) -> list[str]:
    """The GPU-relevant part of /etc/pve/lxc/<vmid>.conf as bpg leaves it."""
    lines = ["unprivileged: 1"] if p.spec.unprivileged else []
    lines += [f"dev{i}: {n.device.pve_value()}" for i, n in enumerate(p.nodes)]
    lines += [f"lxc.idmap: {r.lxc_value()}" for r in p.spec.idmap]  # verbatim; PVE adds defaults itself
    return lines


def lxc_config(p: ContainerPlan, name: str, rootfs: Path, node_dir: Path, init_cmd: str) -> str:
    """Raw LXC config: the PVE-derived idmap and device binds plus a minimal busybox boot.

    `node_dir` holds the host-side nodes at their /dev-relative paths, like
    PVE's /var/lib/lxc/<vmid>/passthrough tmpfs.
    """
    lines = [
        f"lxc.uts.name = {name}",
        f"lxc.rootfs.path = dir:{rootfs}",
        "lxc.net.0.type = empty",
        "lxc.autodev = 1",
        "lxc.mount.auto = proc:mixed sys:ro",
        "lxc.tty.max = 0",
        "lxc.pty.max = 4",
        f"lxc.init.cmd = {init_cmd}",
    ]
    lines += [f"lxc.idmap = {r.lxc_value()}" for r in p.idmap]
    for n in p.nodes:
        rel = n.device.path.removeprefix("/")
        lines.append(f"lxc.mount.entry = {node_dir / rel.removeprefix('dev/')} {rel} none bind,create=file 0 0")
    return "\n".join(lines) + "\n"
