"""Recorded host facts: what a Proxmox node's GPUs look like (pure; no cdktf import).

Facts are files committed next to the stacks (``stacks/facts/<node>.json``), written by
``data/collect-host-facts.sh`` run on the node.  They can also be built from pasted
``ls -l /dev/dri`` / ``ls -l /dev/nvidia*``, ``/proc/devices`` and
``/proc/driver/nvidia/version`` text (`HostFacts.from_listings`).  The model answers the
questions the constructs ask at synth time: which ``cardN``/``renderDNNN``/``nvidiaN``
belongs to a PCI address, whether a path is a char device on the node, which driver
version the node runs and whether root's subuid/subgid allow an idmap's host ranges.
Nothing here reads the host; ``HostFacts.load`` reads one facts file.
"""

from __future__ import annotations

import json
import posixpath
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping

from ..model import validation
from ..core.errors import ValidationError

SCHEMA = "pve-gpu-lxc/host-facts"
SCHEMA_VERSION = 1
COLLECTOR = "constructs/pve_gpu_lxc/facts/collect-host-facts.sh"

NodeType = Literal["c", "b", "d", "l", "f", "p", "s"]
Vendor = Literal["intel", "amd", "nvidia"]

VENDOR_IDS: Mapping[int, Vendor] = {0x8086: "intel", 0x1002: "amd", 0x1022: "amd", 0x10DE: "nvidia"}
_DRIVER_VENDORS: Mapping[str, Vendor] = {
    "i915": "intel", "xe": "intel", "amdgpu": "amd", "radeon": "amd", "nvidia": "nvidia", "nouveau": "nvidia",
}
VENDOR_LABELS: Mapping[str, str] = {"intel": "Intel", "amd": "AMD", "nvidia": "NVIDIA"}

NVIDIA_MAJOR = 195  # fixed: nvidiaN = 195:N, nvidiactl = 195:255, nvidia-modeset = 195:254
NVIDIA_CONTROL_NODES = ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools")
# What the collector records (its `devices` globs); other paths (/dev/net/tun, ...) are not checked.
RECORDED_PREFIXES = ("/dev/dri/", "/dev/nvidia", "/dev/kfd", "/dev/accel/")

_PCI = re.compile(r"^(?:(?P<domain>[0-9a-f]{4,8}):)?(?P<bus>[0-9a-f]{2}):(?P<dev>[0-1][0-9a-f])\.(?P<fn>[0-7])$")
_BY_PATH = re.compile(r"^pci-(?P<pci>[0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])-(?P<kind>card|render)$")


def collector_script() -> Path:
    """The collector shipped with the package (``ssh root@<node> sh -s < <this path>``)."""
    return Path(__file__).with_name("collect-host-facts.sh")


# --------------------------------------------------------------------------- small values


def normalize_pci(value: Any, what: str = "PCI address") -> str:
    """``0000:00:02.0`` form: 4-digit domain (default 0000), lower-case hex.

    Accepts ``00:02.0`` and nvidia-smi's 8-digit domain ``00000000:01:00.0``.
    """
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be a string like '0000:01:00.0', got {value!r}")
    match = _PCI.match(value.strip().lower())
    if not match:
        raise ValidationError(
            f"{what} {value!r} is not a PCI address; expected domain:bus:device.function in hex, "
            "e.g. '0000:01:00.0' (see `lspci -D` or the 'pci' entries in the host facts)"
        )
    domain = int(match["domain"] or "0", 16)
    if domain > 0xFFFF:
        raise ValidationError(f"{what} {value!r} has a PCI domain above ffff")
    return f"{domain:04x}:{match['bus']}:{match['dev']}.{match['fn']}"


def validate_driver_version(value: Any, what: str = "NVIDIA driver version") -> str:
    """Strict ``575.64.03`` / ``555.58`` form: the value reaches URLs and shell commands."""
    if not validation.is_driver_version(value):
        raise ValidationError(
            f"{what} {value!r} is not a driver version; expected digits and dots only, "
            "like '575.64.03' or '555.58' (the host's /proc/driver/nvidia/version shows it)"
        )
    return value


@dataclass(frozen=True)
class NvidiaVersion:
    """The kernel module named in ``/proc/driver/nvidia/version``."""

    version: str
    flavor: Literal["proprietary", "open"]
    arch: str


_NVRM_OPEN = re.compile(r"NVRM version: NVIDIA UNIX Open Kernel Module for (?P<arch>\S+)\s+(?P<v>\d+(?:\.\d+)+)(?:\s|$)")
_NVRM_PROPRIETARY = re.compile(r"NVRM version: NVIDIA UNIX (?P<arch>\S+) Kernel Module\s+(?P<v>\d+(?:\.\d+)+)(?:\s|$)")


def parse_nvidia_version(text: str) -> NvidiaVersion:
    """Parse ``/proc/driver/nvidia/version`` (proprietary and open kernel module formats)."""
    for flavor, pattern in (("open", _NVRM_OPEN), ("proprietary", _NVRM_PROPRIETARY)):
        match = pattern.search(text)
        if match:
            version = validate_driver_version(match["v"], "version in /proc/driver/nvidia/version")
            return NvidiaVersion(version=version, flavor=flavor, arch=match["arch"])  # type: ignore[arg-type]
    first = text.strip().splitlines()[0] if text.strip() else ""
    raise ValidationError(
        f"cannot find the driver version in /proc/driver/nvidia/version text {first!r}; expected a line "
        "like 'NVRM version: NVIDIA UNIX x86_64 Kernel Module  575.64.03  ...' or "
        "'NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  575.64.03  ...'"
    )


@dataclass(frozen=True)
class IdRange:
    """One ``root:<start>:<count>`` line of /etc/subuid or /etc/subgid."""

    start: int
    count: int

    @property
    def end(self) -> int:
        return self.start + self.count


def parse_subid(text: str, user: str = "root") -> tuple[IdRange, ...]:
    """root's ranges from /etc/subuid or /etc/subgid text (``0`` also names root)."""
    names = {user, "0"} if user == "root" else {user}
    ranges = []
    for line in text.splitlines():
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[0] in names and parts[1].isdigit() and parts[2].isdigit():
            ranges.append(IdRange(int(parts[1]), int(parts[2])))
    return tuple(ranges)


def parse_group_file(text: str) -> dict[str, int]:
    """``name -> gid`` from /etc/group text (first entry wins, as getent does)."""
    groups: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 3 and parts[2].isdigit():
            groups.setdefault(parts[0], int(parts[2]))
    return groups


@dataclass(frozen=True)
class ProcDevices:
    """``/proc/devices``: (major, name) pairs; one major can carry several names."""

    char: tuple[tuple[int, str], ...] = ()
    block: tuple[tuple[int, str], ...] = ()

    def char_major(self, name: str) -> int | None:
        return next((major for major, n in self.char if n == name), None)


def parse_proc_devices(text: str) -> ProcDevices:
    """Parse ``cat /proc/devices`` (elided ``...`` lines in pasted output are skipped)."""
    sections: dict[str, list[tuple[int, str]]] = {"char": [], "block": []}
    current: list[tuple[int, str]] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("Character devices:"):
            current = sections["char"]
        elif stripped.startswith("Block devices:"):
            current = sections["block"]
        elif current is not None:
            match = re.match(r"^(\d+)\s+(\S.*)$", stripped)
            if match:
                current.append((int(match[1]), match[2].rstrip()))
    if not sections["char"] and not sections["block"]:
        raise ValidationError("no 'Character devices:' section found; paste the whole output of `cat /proc/devices`")
    return ProcDevices(char=tuple(sections["char"]), block=tuple(sections["block"]))


@dataclass(frozen=True)
class NvidiaGpuInfo:
    """One ``/proc/driver/nvidia/gpus/<pci>/information`` file."""

    pci: str
    device_minor: int | None  # None on old drivers that do not print "Device Minor"
    model: str | None = None
    uuid: str | None = None


def parse_nvidia_information(text: str, pci: str | None = None) -> NvidiaGpuInfo:
    """Parse an ``information`` file; ``pci`` is its directory name when the file lacks Bus Location."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    address = pci or fields.get("Bus Location")
    if not address:
        raise ValidationError("NVIDIA information text has no 'Bus Location:' line; pass the PCI address (its folder name)")
    minor = fields.get("Device Minor")
    return NvidiaGpuInfo(
        pci=normalize_pci(address, "NVIDIA GPU PCI address"),
        device_minor=int(minor) if minor and minor.isdigit() else None,
        model=fields.get("Model"),
        uuid=fields.get("GPU UUID"),
    )


# --------------------------------------------------------------------------- device nodes


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


_TYPE_FROM_LS = {"c": "c", "b": "b", "d": "d", "l": "l", "-": "f", "p": "p", "s": "s"}
_LS_ENTRY = re.compile(
    r"^(?P<type>[-bcdlps])(?P<perm>[-rwxsStT]{9})[.+@]?\s+\d+\s+(?P<owner>\S+)\s+(?P<group>\S+)\s+"
    r"(?:(?P<major>\d+),\s*(?P<minor>\d+)|\d+(?:[.,]\d+)?[KMGTPkB]?)\s+(?P<rest>\S.*)$",
    re.ASCII,
)
_LOOKS_LIKE_ENTRY = re.compile(r"^[-bcdlps][-rwxsStT]{9}[.+@]?\s", re.ASCII)
_BLANKS = " \t\r\n\f\v"
_LS_COMMAND = re.compile(r"(?:^|[#$%>]\s*)ls\s+(?P<args>.*)$", re.ASCII)
_ISO_DATE = re.compile(r"^\d{4}-\d\d-\d\d\s", re.ASCII)
_SHORT_ISO = re.compile(r"^\d\d-\d\d\s+\d\d:\d\d\s", re.ASCII)


def _mode_from_perm(perm: str) -> int:
    """``rwxr-s--T`` style permission text -> mode bits.  s/t = special bit + x, S/T = special bit only."""
    mode = sum(1 << (8 - index) for index, char in enumerate(perm) if char in "rwxst")
    specials = {2: stat.S_ISUID, 5: stat.S_ISGID, 8: stat.S_ISVTX}
    return mode | sum(bit for index, bit in specials.items() if perm[index] in "sStT")


def _split_name(rest: str) -> str:
    """Drop the date columns in front of the file name (default, ISO and locale styles)."""
    if _ISO_DATE.match(rest):
        tokens = re.split(r"[ \t]+", rest, maxsplit=3)
        date_tokens = 3 if len(tokens) > 3 and re.match(r"^[+-]\d{4}$", tokens[2]) else 2
    elif _SHORT_ISO.match(rest):
        date_tokens = 2
    else:
        date_tokens = 3  # "May 12 21:54", "May 12  2023", "17 ott 23.00"
    parts = re.split(r"[ \t]+", rest, maxsplit=date_tokens)
    if len(parts) <= date_tokens:
        raise ValidationError(f"ls line has no file name after the date: {rest!r}")
    return parts[date_tokens]


def _ls_base(args: str) -> str | None:
    operands = [a for a in args.split() if not a.startswith("-")]
    if len(operands) == 1 and not any(c in operands[0] for c in "*?[") and operands[0].startswith("/"):
        return operands[0].rstrip("/") or "/"
    return None


def parse_ls(text: str, base: str | None = None) -> tuple[DeviceNode, ...]:
    """Device nodes from pasted ``ls -l`` output (GNU, busybox, ``-n``, ``-h``, ISO or locale dates).

    Relative names are joined to ``base``, to the directory of a ``/dev/x:`` header, or
    to the single directory named in a pasted ``# ls -l /dev/dri`` prompt line.  Lines
    that look like entries but cannot be read raise, so no node is silently dropped.
    """
    nodes: list[DeviceNode] = []
    directory = base.rstrip("/") if base else None
    for raw in text.split("\n"):  # not splitlines(): it also splits at U+0085, U+2028, ...
        line = raw.rstrip(_BLANKS)  # ASCII only: U+0085 and friends can be part of a name
        if not line.strip(_BLANKS):
            continue
        command = _LS_COMMAND.search(line) if not _LOOKS_LIKE_ENTRY.match(line) else None
        if command:
            directory = _ls_base(command["args"]) or directory
            continue
        if line.endswith(":") and line.startswith("/") and " " not in line:
            directory = line[:-1].rstrip("/")
            continue
        if not _LOOKS_LIKE_ENTRY.match(line):
            continue  # "total 0", prompts, "..." elisions
        match = _LS_ENTRY.match(line)
        if not match:
            raise ValidationError(
                f"cannot read this ls line: {line!r}; paste plain `LC_ALL=C ls -l` output "
                "(type, permissions, links, owner, group, size or 'major, minor', date, name)"
            )
        name, _, target = _split_name(match["rest"]).partition(" -> ")
        if name in (".", ".."):
            continue
        if not name.startswith("/"):
            if directory is None:
                raise ValidationError(
                    f"ls entry {name!r} has a relative name; pass base='/dev/dri' (the listed directory) "
                    "or paste the `ls -l /dev/dri` command line with the output"
                )
            name = posixpath.join(directory, name)
        nodes.append(_node_from_ls(match, name, target or None))
    return tuple(nodes)


def _node_from_ls(match: re.Match[str], path: str, target: str | None) -> DeviceNode:
    owner, group = match["owner"], match["group"]
    return DeviceNode(
        path=posixpath.normpath(path),
        type=_TYPE_FROM_LS[match["type"]],  # type: ignore[arg-type]
        major=int(match["major"]) if match["major"] else None,
        minor=int(match["minor"]) if match["minor"] else None,
        mode=_mode_from_perm(match["perm"]),
        uid=int(owner) if owner.isdigit() else None,
        owner=None if owner.isdigit() else owner,
        gid=int(group) if group.isdigit() else None,
        group=None if group.isdigit() else group,
        target=target,
    )


# --------------------------------------------------------------------------- DRM and GPUs


@dataclass(frozen=True)
class DrmMinor:
    """``/sys/class/drm/<name>``: a DRM node and the bus device behind it."""

    name: str  # card0, renderD128, controlD64
    dev: str | None = None  # "226:0" from sysfs
    bus_id: str | None = None  # "0000:00:02.0" for PCI GPUs, "simple-framebuffer.0" for simpledrm
    subsystem: str | None = None  # "pci", "platform"
    vendor_id: int | None = None
    device_id: int | None = None
    driver: str | None = None

    @property
    def pci(self) -> str | None:
        if self.bus_id is None or self.subsystem not in (None, "pci"):
            return None
        try:
            return normalize_pci(self.bus_id)
        except ValidationError:
            return None


@dataclass(frozen=True)
class GpuFacts:
    """One PCI GPU as the facts describe it, with its canonical node paths."""

    pci: str
    vendor: Vendor | None
    vendor_id: int | None
    device_id: int | None
    driver: str | None
    card: str | None  # /dev/dri/cardN
    render: str | None  # /dev/dri/renderDNNN
    nvidia_minor: int | None = None
    model: str | None = None

    @property
    def nvidia_node(self) -> str | None:
        return None if self.nvidia_minor is None else f"/dev/nvidia{self.nvidia_minor}"

    def describe(self) -> str:
        ids = (f"{self.vendor_id:04x}:{self.device_id:04x}" if self.vendor_id is not None and self.device_id is not None
               else "ids unknown")
        label = VENDOR_LABELS.get(self.vendor or "", "unknown vendor")
        nodes = [p.rsplit("/", 1)[1] for p in (self.card, self.render, self.nvidia_node) if p]
        extra = f" {self.model}" if self.model else ""
        driver = f" ({self.driver})" if self.driver else ""
        return f"{self.pci} {label} {ids}{driver}{extra}: {' '.join(nodes) or 'no device nodes'}"


def _vendor_of(vendor_id: int | None, driver: str | None) -> Vendor | None:
    if vendor_id is not None and vendor_id in VENDOR_IDS:
        return VENDOR_IDS[vendor_id]
    return _DRIVER_VENDORS.get(driver or "")


def _hex_or_none(value: Any) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, int):
        return value
    return int(str(value), 16)


# --------------------------------------------------------------------------- HostFacts


@dataclass(frozen=True)
class NvidiaFacts:
    version_file: str
    module_version: str | None = None
    gpus: tuple[NvidiaGpuInfo, ...] = ()

    @property
    def parsed(self) -> NvidiaVersion:
        return parse_nvidia_version(self.version_file)

    @property
    def driver_version(self) -> str:
        return self.parsed.version


@dataclass(frozen=True)
class HostFacts:
    """Everything recorded about one node.  Build with `load`, `from_json` or `from_listings`."""

    hostname: str
    devices: tuple[DeviceNode, ...] = ()
    dri_by_path: tuple[tuple[str, str], ...] = ()  # (link, target as readlink prints it)
    drm: tuple[DrmMinor, ...] = ()
    proc_devices: ProcDevices = field(default_factory=ProcDevices)
    nvidia: NvidiaFacts | None = None
    nvidia_modprobe: str | None = None  # its path on the node; None = absent (or not recorded)
    tools_recorded: bool = False  # whether the collector looked for nvidia-modprobe
    groups: tuple[tuple[str, int], ...] = ()
    subuid: tuple[IdRange, ...] | None = None  # None: not recorded (pasted facts without the file)
    subgid: tuple[IdRange, ...] | None = None
    kernel: str | None = None
    pve_version: str | None = None
    collected_at: str | None = None
    source: str = field(default="(in memory)", compare=False)  # where the facts came from, for messages

    # ---------------------------------------------------------------- construction

    @classmethod
    def load(cls, path: str | Path) -> "HostFacts":
        """Read a facts file written by the collector (``stacks/facts/<node>.json``)."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ValidationError(
                f"host facts file {str(path)!r} does not exist; record it on the node with "
                f"`ssh root@<node> sh -s < {COLLECTOR} > {path}`"
            ) from None
        except UnicodeDecodeError as err:
            raise ValidationError(f"host facts file {str(path)!r} is not UTF-8 ({err}); re-run the collector") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValidationError(f"host facts file {str(path)!r} is not valid JSON: {err}") from None
        return cls.from_json(data, source=str(path))

    @classmethod
    def from_json(cls, data: Mapping[str, Any], source: str = "(in memory)") -> "HostFacts":
        if not isinstance(data, Mapping) or data.get("schema") != SCHEMA:
            raise ValidationError(f"{source} is not a host facts document (expected \"schema\": \"{SCHEMA}\")")
        if data.get("schema_version") != SCHEMA_VERSION:
            raise ValidationError(
                f"{source} has schema_version {data.get('schema_version')!r}; this library reads "
                f"version {SCHEMA_VERSION}. Re-run {COLLECTOR} from this version of the library"
            )
        hostname = data.get("hostname")
        if not isinstance(hostname, str) or not hostname:
            raise ValidationError(f"{source} has no hostname")
        try:
            return cls(
                hostname=hostname,
                devices=tuple(_device_from_json(d) for d in data.get("devices", ())),
                dri_by_path=tuple((b["link"], b["target"]) for b in data.get("dri_by_path", ())),
                drm=tuple(_drm_from_json(d) for d in data.get("drm", ())),
                proc_devices=ProcDevices(
                    char=tuple((int(m), str(n)) for m, n in data.get("proc_devices", {}).get("char", ())),
                    block=tuple((int(m), str(n)) for m, n in data.get("proc_devices", {}).get("block", ())),
                ),
                nvidia=_nvidia_from_json(data.get("nvidia")),
                nvidia_modprobe=data.get("nvidia_modprobe"),
                tools_recorded="nvidia_modprobe" in data,
                groups=tuple(sorted((k, int(v)) for k, v in (data.get("groups") or {}).items() if v is not None)),
                subuid=_subids_from_json(data.get("subuid")),
                subgid=_subids_from_json(data.get("subgid")),
                kernel=data.get("kernel"),
                pve_version=data.get("pve_version"),
                collected_at=data.get("collected_at"),
                source=source,
            )
        except (KeyError, TypeError, ValueError) as err:
            if isinstance(err, ValidationError):
                raise
            raise ValidationError(f"{source} is malformed ({type(err).__name__}: {err}); re-run {COLLECTOR}") from None

    @classmethod
    def from_listings(
        cls,
        hostname: str,
        *,
        ls: Iterable[str | tuple[str, str]] = (),
        proc_devices: str | None = None,
        nvidia_version: str | None = None,
        nvidia_information: Mapping[str, str] | None = None,
        group_file: str | None = None,
        subuid: str | None = None,
        subgid: str | None = None,
    ) -> "HostFacts":
        """Facts from pasted command output, when the collector cannot be run.

        ``ls`` items are ``ls -l`` texts, or ``(text, base_directory)`` pairs.  Listings of
        ``/dev/dri/by-path`` give the PCI mapping; there are no sysfs vendor ids then.
        """
        nodes: list[DeviceNode] = []
        for item in ls:
            text, base = (item, None) if isinstance(item, str) else item
            nodes.extend(parse_ls(text, base))
        by_path = tuple((n.path, n.target) for n in nodes if n.type == "l" and "/by-path/" in n.path and n.target)
        devices = tuple(n for n in nodes if "/by-path/" not in n.path)
        groups = parse_group_file(group_file) if group_file else {}
        nvidia = None
        if nvidia_version is not None:
            parse_nvidia_version(nvidia_version)  # fail early on unreadable text
            infos = tuple(parse_nvidia_information(t, pci) for pci, t in (nvidia_information or {}).items())
            nvidia = NvidiaFacts(version_file=nvidia_version, gpus=infos)
        return cls(
            hostname=hostname,
            devices=devices,
            dri_by_path=by_path,
            proc_devices=parse_proc_devices(proc_devices) if proc_devices else ProcDevices(),
            nvidia=nvidia,
            groups=tuple(sorted((g, groups[g]) for g in ("video", "render") if g in groups)),
            subuid=parse_subid(subuid) if subuid is not None else None,
            subgid=parse_subid(subgid) if subgid is not None else None,
            source="pasted listings",
        )

    def to_json(self) -> dict[str, Any]:
        """The collector's document shape (so pasted facts can be saved as a facts file)."""
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "collected_at": self.collected_at,
            "hostname": self.hostname,
            "kernel": self.kernel,
            "pve_version": self.pve_version,
            "devices": [_device_to_json(d) for d in self.devices],
            "dri_by_path": [{"link": link, "target": target} for link, target in self.dri_by_path],
            "drm": [_drm_to_json(m) for m in self.drm],
            "proc_devices": {"char": [list(p) for p in self.proc_devices.char],
                             "block": [list(p) for p in self.proc_devices.block]},
            **({"nvidia_modprobe": self.nvidia_modprobe} if self.tools_recorded else {}),
            "nvidia": None if self.nvidia is None else {
                "version_file": self.nvidia.version_file,
                "module_version": self.nvidia.module_version,
                "gpus": [{"pci": g.pci, "device_minor": g.device_minor, "model": g.model, "uuid": g.uuid}
                         for g in self.nvidia.gpus],
            },
            "groups": {"video": self.group_gid("video"), "render": self.group_gid("render")},
            "subuid": _subids_to_json(self.subuid),
            "subgid": _subids_to_json(self.subgid),
        }

    # ---------------------------------------------------------------- queries

    @property
    def label(self) -> str:
        return f"host facts for node {self.hostname!r} ({self.source})"

    def node(self, path: str) -> DeviceNode | None:
        return next((n for n in self.devices if n.path == path), None)

    def char_major(self, name: str) -> int | None:
        return self.proc_devices.char_major(name)

    def group_gid(self, name: str) -> int | None:
        return dict(self.groups).get(name)

    @property
    def nvidia_driver_version(self) -> str | None:
        return None if self.nvidia is None else self.nvidia.driver_version

    def gpus(self) -> tuple[GpuFacts, ...]:
        """PCI GPUs from sysfs DRM entries, by-path links and NVIDIA's proc files, by address."""
        found: dict[str, dict[str, Any]] = {}

        def entry(pci: str) -> dict[str, Any]:
            return found.setdefault(pci, {"pci": pci, "vendor_id": None, "device_id": None, "driver": None,
                                          "card": None, "render": None, "nvidia_minor": None, "model": None})

        for minor in self.drm:
            if minor.pci is None:
                continue
            gpu = entry(minor.pci)
            for key in ("vendor_id", "device_id", "driver"):
                gpu[key] = gpu[key] if gpu[key] is not None else getattr(minor, key)
            kind = "card" if minor.name.startswith("card") else "render" if minor.name.startswith("renderD") else None
            if kind:
                gpu[kind] = gpu[kind] or f"/dev/dri/{minor.name}"
        for link, target in self.dri_by_path:
            match = _BY_PATH.match(posixpath.basename(link))
            if match:
                gpu = entry(normalize_pci(match["pci"]))
                gpu[match["kind"]] = gpu[match["kind"]] or posixpath.normpath(
                    posixpath.join(posixpath.dirname(link), target))
        for info in self.nvidia.gpus if self.nvidia else ():
            gpu = entry(info.pci)
            gpu["nvidia_minor"], gpu["model"] = info.device_minor, info.model
            gpu["vendor_id"] = gpu["vendor_id"] if gpu["vendor_id"] is not None else 0x10DE
        return tuple(
            GpuFacts(vendor=_vendor_of(g["vendor_id"], g["driver"]), **g) for _, g in sorted(found.items())
        )

    def describe_gpus(self) -> str:
        gpus = self.gpus()
        if not gpus:
            return "no GPUs recorded"
        return "GPUs recorded: " + "; ".join(g.describe() for g in gpus)

    def select_gpu(
        self,
        vendor: Vendor,
        *,
        pci: str | None = None,
        vendor_id: int | None = None,
        product_id: int | None = None,
    ) -> GpuFacts:
        """The one GPU of ``vendor`` matching every given filter (Incus' pci/vendorid/productid).

        No filter selects the vendor's only GPU; several matches are an error, as is none.
        """
        if pci is not None and product_id is not None:
            raise ValidationError("select a GPU by pci OR by vendor_id/product_id, not both (pci already names one GPU)")
        wanted = normalize_pci(pci) if pci is not None else None
        # GPUs of unknown vendor (facts from pasted by-path listings) count when named by address
        candidates = [g for g in self.gpus() if g.vendor == vendor or (g.vendor is None and g.pci == wanted)]
        matches = [
            g for g in candidates
            if (wanted is None or g.pci == wanted)
            and (vendor_id is None or g.vendor_id == vendor_id)
            and (product_id is None or g.device_id == product_id)
        ]
        selector = ", ".join(
            part for part in (
                f"pci {wanted}" if wanted else "",
                f"vendor_id 0x{vendor_id:04x}" if vendor_id is not None else "",
                f"product_id 0x{product_id:04x}" if product_id is not None else "",
            ) if part
        )
        label = VENDOR_LABELS[vendor]
        if not matches:
            hint = ""
            other = next((g for g in self.gpus() if wanted and g.pci == wanted), None)
            if other is not None:
                hint = f" (that address is {other.describe()})"
            problem = f"no {label} GPU matches {selector}" if selector else f"no {label} GPU is recorded"
            raise ValidationError(
                f"{self.label}: {problem}{hint}. {self.describe_gpus()}. "
                "Pick one of these PCI addresses, or re-record the facts if the hardware changed"
            )
        if len(matches) > 1:
            raise ValidationError(
                f"{self.label}: {len(matches)} {label} GPUs match {selector or 'the selection'}: "
                + "; ".join(g.describe() for g in matches)
                + ". Select one by pci='<address>'"
            )
        return matches[0]

    def require_char_device(self, path: str, why: str = "") -> DeviceNode:
        """The node at ``path``, which must be a char device on the node."""
        node = self.node(path)
        reason = f" ({why})" if why else ""
        if node is None:
            known = ", ".join(n.path for n in self.devices if n.type == "c") or "none"
            raise ValidationError(
                f"{self.label}: {path} does not exist on the node{reason}; Proxmox refuses to start a "
                f"container whose devN path is missing. Char devices recorded: {known}. "
                "Fix the path, or re-record the facts if the node changed"
            )
        if not node.is_char:
            raise ValidationError(
                f"{self.label}: {path} is a {node.kind_name}, not a char device ({node.describe()}){reason}; "
                "devN needs a device node "
                "(a directory must be expanded into its nodes, a symlink replaced by its target)"
            )
        return node

    def missing_nvidia_control_nodes(self) -> tuple[str, ...]:
        """Control nodes userspace creates on demand (nvidia-modprobe); absent ones need the hook."""
        return tuple(p for p in NVIDIA_CONTROL_NODES if self.node(p) is None)

    def subids(self, kind: Literal["u", "g"]) -> tuple[IdRange, ...] | None:
        return self.subuid if kind == "u" else self.subgid

    def uncovered_subids(self, kind: Literal["u", "g"], ranges: Iterable[tuple[int, int]]) -> tuple[IdRange, ...]:
        """Parts of host ranges ``(start, count)`` root may not map per the recorded subuid/subgid."""
        allowed = sorted(self.subids(kind) or (), key=lambda r: r.start)
        missing: list[IdRange] = []
        for start, count in ranges:
            cursor, end = start, start + count
            for r in allowed:
                if r.end <= cursor or r.start >= end:
                    continue
                if r.start > cursor:
                    missing.append(IdRange(cursor, r.start - cursor))
                cursor = max(cursor, r.end)
            if cursor < end:
                missing.append(IdRange(cursor, end - cursor))
        return tuple(missing)


    # ---------------------------------------------------------------- synth-time checks

    def verify_container(
        self,
        *,
        node_name: str,
        device_paths: Iterable[str] = (),
        hook_creates: Iterable[str] = (),
        nvidia_driver: str | None = None,
        idmap: Iterable[tuple[Literal["u", "g"], int, int]] = (),
    ) -> None:
        """Raise one ValidationError listing every way a container would not fit this node.

        device_paths: every devN path; each must be a char device here, unless it is in
          ``hook_creates`` (nodes the container's pre-start hook makes) and absent.
        nvidia_driver: the version the container's NVIDIA userspace is pinned to.
        idmap: ``(kind, host_id, size)`` of every idmap entry (the default map when none).
        """
        problems = self._node_name_problem(node_name)
        if not problems:
            created = set(hook_creates)
            problems += [p for p in (self._device_problem(path, created) for path in device_paths) if p]
            problems += self._nvidia_driver_problems(nvidia_driver)
            problems += self._subid_problems(idmap)
        if problems:
            raise ValidationError(f"does not fit node {node_name!r} as recorded in {self.source}"
                                  f"{' on ' + self.collected_at if self.collected_at else ''}: "
                                  + "; ".join(problems))

    def _node_name_problem(self, node_name: str) -> list[str]:
        if node_name == self.hostname:
            return []
        return [f"the host facts describe node {self.hostname!r}, not {node_name!r}; pass the facts of "
                f"{node_name!r} (stacks/facts/{node_name}.json)"]

    def _device_problem(self, path: str, created: set[str]) -> str | None:
        if not path.startswith(RECORDED_PREFIXES):
            return None  # the facts say nothing about it
        node = self.node(path)
        if node is None:
            if path in created and (self.nvidia_modprobe or not self.tools_recorded):
                return None
            if path in created:
                return (f"{path} is absent and the pre-start hook cannot create it: nvidia-modprobe is not "
                        "installed on the node (it comes with the NVIDIA .run driver, or Debian's "
                        "nvidia-modprobe package); install it and re-record the facts")
            if path in NVIDIA_CONTROL_NODES or path == "/dev/nvidia-modeset" or re.fullmatch(r"/dev/nvidia\d+", path):
                return (f"{path} is absent and nothing creates it: NVIDIA makes its nodes on demand "
                        "(nvidia-modprobe), and devN refuses to start without them; keep NvidiaGpu(ensure_nodes=True) "
                        "so the pre-start hook creates them, or run `nvidia-modprobe -u -c0` from a unit before "
                        "pve-guests.service")
            known = ", ".join(n.path for n in self.devices if n.type == "c") or "none"
            return (f"{path} does not exist on the node (Proxmox refuses to start a container whose devN path is "
                    f"missing); char devices recorded: {known}")
        if not node.is_char:
            return (f"{path} is a {node.kind_name}, not a char device ({node.describe()}); devN needs a device "
                    "node: expand a directory into its nodes, replace a symlink by its target")
        return None

    def _nvidia_driver_problems(self, version: str | None) -> list[str]:
        if version is None:
            return []
        recorded = self.nvidia_driver_version
        if recorded is None:
            return [f"the container pins NVIDIA driver {version}, but no NVIDIA driver is recorded on the node "
                    "(no /proc/driver/nvidia/version): load the module and re-record the facts"]
        if recorded != version:
            return [f"NvidiaGpu driver_version {version} differs from the host's NVIDIA driver {recorded}; the "
                    f"container's libraries must match the kernel module exactly: pin driver_version='{recorded}' "
                    "and use an image built for it, or re-record the facts if the host was upgraded"]
        return []

    def _subid_problems(self, idmap: Iterable[tuple[Literal["u", "g"], int, int]]) -> list[str]:
        problems = []
        entries = list(idmap)
        for kind, file in (("u", "/etc/subuid"), ("g", "/etc/subgid")):
            if self.subids(kind) is None:
                continue
            missing = self.uncovered_subids(kind, [(host, size) for k, host, size in entries if k == kind])
            if missing:
                lines = ", ".join(f"root:{r.start}:{r.count}" for r in missing)
                problems.append(
                    f"root may not map host {'uids' if kind == 'u' else 'gids'} "
                    + ", ".join(f"{r.start}..{r.end - 1}" for r in missing)
                    + f" (LXC writes the idmap through newuidmap/newgidmap); add to {file} on the node: {lines}"
                )
        return problems


# --------------------------------------------------------------------------- JSON helpers


def _subids_from_json(value: Any) -> tuple[IdRange, ...] | None:
    return None if value is None else tuple(IdRange(int(r["start"]), int(r["count"])) for r in value)


def _subids_to_json(value: tuple[IdRange, ...] | None) -> list[dict[str, int]] | None:
    return None if value is None else [{"start": r.start, "count": r.count} for r in value]


def _device_from_json(d: Mapping[str, Any]) -> DeviceNode:
    node_type = d["type"]
    if node_type not in _TYPE_FROM_LS.values():
        raise ValueError(f"device {d.get('path')!r} has unknown type {node_type!r}")
    mode = d.get("mode")
    return DeviceNode(
        path=str(d["path"]), type=node_type, major=d.get("major"), minor=d.get("minor"),
        mode=int(mode, 8) if isinstance(mode, str) else mode,
        uid=d.get("uid"), owner=d.get("owner"), gid=d.get("gid"), group=d.get("group"), target=d.get("target"),
    )


def _device_to_json(n: DeviceNode) -> dict[str, Any]:
    out = {"path": n.path, "type": n.type, "major": n.major, "minor": n.minor, "uid": n.uid, "owner": n.owner,
           "gid": n.gid, "group": n.group, "mode": n.mode_str}
    if n.target is not None:
        out["target"] = n.target
    return out


def _drm_from_json(d: Mapping[str, Any]) -> DrmMinor:
    return DrmMinor(
        name=str(d["name"]), dev=d.get("dev"), bus_id=d.get("bus_id"), subsystem=d.get("subsystem"),
        vendor_id=_hex_or_none(d.get("vendor")), device_id=_hex_or_none(d.get("device")), driver=d.get("driver"),
    )


def _drm_to_json(m: DrmMinor) -> dict[str, Any]:
    return {"name": m.name, "dev": m.dev, "bus_id": m.bus_id, "subsystem": m.subsystem,
            "vendor": None if m.vendor_id is None else f"0x{m.vendor_id:04x}",
            "device": None if m.device_id is None else f"0x{m.device_id:04x}", "driver": m.driver}


def _nvidia_from_json(d: Mapping[str, Any] | None) -> NvidiaFacts | None:
    if d is None:
        return None
    gpus = tuple(
        NvidiaGpuInfo(pci=normalize_pci(g["pci"], "NVIDIA GPU PCI address"), device_minor=g.get("device_minor"),
                      model=g.get("model"), uuid=g.get("uuid"))
        for g in d.get("gpus", ())
    )
    facts = NvidiaFacts(version_file=str(d["version_file"]), module_version=d.get("module_version"), gpus=gpus)
    facts.parsed  # fail at load time, not at first use
    return facts
