"""The records host facts are made of: plain frozen values, no parsing, no I/O (pure).

`parsers` turns command output into them, `model.HostFacts` holds one node's worth.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

NodeType = Literal["c", "b", "d", "l", "f", "p", "s"]
NODE_TYPES: tuple[NodeType, ...] = ("c", "b", "d", "l", "f", "p", "s")
Vendor = Literal["intel", "amd", "nvidia"]

VENDOR_IDS: Mapping[int, Vendor] = {0x8086: "intel", 0x1002: "amd", 0x1022: "amd", 0x10DE: "nvidia"}
DRIVER_VENDORS: Mapping[str, Vendor] = {
    "i915": "intel", "xe": "intel", "amdgpu": "amd", "radeon": "amd", "nvidia": "nvidia", "nouveau": "nvidia",
}
VENDOR_LABELS: Mapping[str, str] = {"intel": "Intel", "amd": "AMD", "nvidia": "NVIDIA"}

# What the collector records (its `devices` globs); other paths (/dev/net/tun, ...) are not checked.
RECORDED_PREFIXES = ("/dev/dri/", "/dev/nvidia", "/dev/kfd", "/dev/accel/")

@dataclass(frozen=True)
class NvidiaVersion:
    """The kernel module named in ``/proc/driver/nvidia/version``."""

    version: str
    flavor: Literal["proprietary", "open"]
    arch: str


@dataclass(frozen=True)
class IdRange:
    """One ``root:<start>:<count>`` line of /etc/subuid or /etc/subgid."""

    start: int
    count: int

    @property
    def end(self) -> int:
        return self.start + self.count


def uncovered(allowed: Iterable[IdRange], start: int, count: int) -> tuple[IdRange, ...]:
    """The parts of host ids [start, start+count) that no `allowed` range covers: what
    /etc/subuid or /etc/subgid must add before root may map them (newuidmap's rule)."""
    cursor, end = start, start + count
    missing: list[IdRange] = []
    for r in sorted(allowed, key=lambda r: r.start):
        if r.end <= cursor or r.start >= end:
            continue
        if r.start > cursor:
            missing.append(IdRange(cursor, r.start - cursor))
        cursor = max(cursor, r.end)
    if cursor < end:
        missing.append(IdRange(cursor, end - cursor))
    return tuple(missing)


@dataclass(frozen=True)
class ProcDevices:
    """``/proc/devices``: (major, name) pairs; one major can carry several names."""

    char: tuple[tuple[int, str], ...] = ()
    block: tuple[tuple[int, str], ...] = ()

    def char_major(self, name: str) -> int | None:
        return next((major for major, n in self.char if n == name), None)


@dataclass(frozen=True)
class NvidiaGpuInfo:
    """One ``/proc/driver/nvidia/gpus/<pci>/information`` file."""

    pci: str
    device_minor: int | None  # None on old drivers that do not print "Device Minor"
    model: str | None = None
    uuid: str | None = None


@dataclass(frozen=True)
class DeviceNode:
    """One entry under /dev on the node (device node, directory or symlink)."""

    path: str
    type: NodeType
    major: int | None = None
    minor: int | None = None
    mode: int | None = None  # permission bits incl. setuid/setgid/sticky, e.g. 0o660
    uid: int | None = None
    owner: str | None = None
    gid: int | None = None
    group: str | None = None
    target: str | None = None  # symlinks only, as readlink prints it

    @property
    def is_char(self) -> bool:
        return self.type == "c"

    @property
    def mode_str(self) -> str | None:
        return None if self.mode is None else f"{self.mode:04o}"

    @property
    def kind_name(self) -> str:
        return {"c": "char device", "b": "block device", "d": "directory", "l": "symlink",
                "f": "regular file", "p": "fifo", "s": "socket"}[self.type]

    def describe(self) -> str:
        """``char device 226:128, root:render 0660`` (what ``ls -l`` would show)."""
        text = self.kind_name
        if self.major is not None:
            text += f" {self.major}:{self.minor}"
        owner = self.owner if self.owner is not None else self.uid
        group = self.group if self.group is not None else self.gid
        text += f", {owner}:{group}" + (f" {self.mode_str}" if self.mode is not None else "")
        if self.target:
            text += f" -> {self.target}"
        return text



@dataclass(frozen=True)
class OciImageFacts:
    """An OCI image archive in a template cache (what PVE's oci-registry-pull stores), as the
    collector read it: the image config, raw, and what resolves its User.

    `config` is the config blob's JSON text verbatim (pve_gpu_lxc.pve.oci.ImageConfig reads it);
    `passwd`/`group` the lines of the image's /etc/passwd and /etc/group that resolve the User
    (None: the image has no such file, or the config has no User); `*_layer` the digest of the layer
    each file came from (the last one holding it); `error` why the image could not be read.
    """

    manifest: str | None = None  # the image manifest's digest (the first of index.json)
    config: str | None = None
    user: str | None = None  # the config's User, as the collector read it
    passwd: str | None = None
    passwd_layer: str | None = None
    group: str | None = None
    group_layer: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class NvidiaRuntimeFacts:
    """What NvidiaGpu(runtime="host") needs on the node: LXC's nvidia mount hook, NVIDIA's
    nvidia-container-cli that the hook runs, and an LXC that knows `lxc.environment.hooks`."""

    cli: str | None = None  # nvidia-container-cli's path; None: not installed
    cli_version: str | None = None  # the first two lines of `nvidia-container-cli --version`
    lxc_hook: bool = False  # /usr/share/lxc/hooks/nvidia is executable
    lxc_package: str | None = None  # lxc-pve, else Debian's lxc; None: neither installed
    lxc_version: str | None = None  # dpkg's version of it (lxc-pve 6.0.5-3: PVE 9.1's)


@dataclass(frozen=True)
class TemplateFacts:
    """One template tarball in a template cache of the node, with the GIDs of its own groups.

    ``video``/``render`` are None when the template has no such group; ``error`` says why the
    collector could not read the tarball (the GIDs are unknown then, not absent).  An OCI image
    archive has ``oci`` instead: an application's ids are its User's, not a system's groups, so
    ``video``/``render`` are not read from it (None).
    """

    volid: str  # local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst
    storage: str
    file: str
    path: str | None = None  # on the node
    video: int | None = None
    render: int | None = None
    video_member: str | None = None  # the archive member the value came from: ./etc/group, ./usr/lib/group
    render_member: str | None = None
    error: str | None = None
    oci: OciImageFacts | None = None  # an OCI image archive (video and render are then not read)

    def describe(self) -> str:
        """``local:vztmpl/x.tar.zst: video 44, render 104`` (or the collector's error)."""
        if self.error is not None:
            return f"{self.volid}: not readable ({self.error})"
        if self.oci is not None:
            state = f"not readable ({self.oci.error})" if self.oci.error else f"User {self.oci.user or '(none)'}"
            return f"{self.volid}: OCI image, {state}"
        values = ", ".join(f"{name} {'none' if gid is None else gid}"
                           for name, gid in (("video", self.video), ("render", self.render)))
        return f"{self.volid}: {values}"
