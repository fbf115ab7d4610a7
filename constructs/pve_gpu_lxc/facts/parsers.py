"""Parsers for what a node prints: ls -l, /proc/devices, NVIDIA's proc files, subuid, /etc/group (pure).

Text in, records (`records.py`) out; nothing reads the host.  Pasted output is accepted in
its common variants (GNU and busybox ls, ISO and locale dates), and a line that looks like
an entry but cannot be read raises, so nothing is dropped silently.
"""

from __future__ import annotations

import posixpath
import re
import stat
from typing import Literal

from ..core.errors import ValidationError
from ..core.rules import driver_version
from .records import DeviceNode, IdRange, NodeType, NvidiaGpuInfo, NvidiaVersion, ProcDevices

_PCI = re.compile(r"^(?:(?P<domain>[0-9a-f]{4,8}):)?(?P<bus>[0-9a-f]{2}):(?P<dev>[0-1][0-9a-f])\.(?P<fn>[0-7])$")


def normalize_pci(value: object, what: str = "PCI address") -> str:
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


_NVRM_OPEN = re.compile(
    r"NVRM version: NVIDIA UNIX Open Kernel Module for (?P<arch>\S+)\s+(?P<v>\d+(?:\.\d+)+)(?:\s|$)"
)
_NVRM_PROPRIETARY = re.compile(r"NVRM version: NVIDIA UNIX (?P<arch>\S+) Kernel Module\s+(?P<v>\d+(?:\.\d+)+)(?:\s|$)")


def parse_nvidia_version(text: str) -> NvidiaVersion:
    """Parse ``/proc/driver/nvidia/version`` (proprietary and open kernel module formats)."""
    flavors: tuple[tuple[Literal["open", "proprietary"], re.Pattern[str]], ...] = (
        ("open", _NVRM_OPEN), ("proprietary", _NVRM_PROPRIETARY))
    for flavor, pattern in flavors:
        match = pattern.search(text)
        if match:
            version = driver_version(match["v"], "version in /proc/driver/nvidia/version")
            return NvidiaVersion(version=version, flavor=flavor, arch=match["arch"])
    first = text.strip().splitlines()[0] if text.strip() else ""
    raise ValidationError(
        f"cannot find the driver version in /proc/driver/nvidia/version text {first!r}; expected a line "
        "like 'NVRM version: NVIDIA UNIX x86_64 Kernel Module  575.64.03  ...' or "
        "'NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  575.64.03  ...'"
    )



def parse_subid(text: str, user: str = "root") -> tuple[IdRange, ...]:
    """root's ranges from /etc/subuid or /etc/subgid text (``0`` also names root)."""
    names = {user, "0"} if user == "root" else {user}
    ranges = []
    for line in text.splitlines():
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[0] in names and parts[1].isdigit() and parts[2].isdigit():
            ranges.append(IdRange(int(parts[1]), int(parts[2])))
    return tuple(ranges)


def parse_group_file(text: str, source: str = "/etc/group") -> dict[str, int]:
    """``name -> gid`` from /etc/group text, of a node or of a container template.

    A group listed twice with one GID counts once; with two different GIDs the file is
    ambiguous (getent would answer the first, a tool reading the last another) and raises.
    """
    groups: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split(":")
        if len(parts) >= 3 and parts[2].isdigit():
            name, gid = parts[0], int(parts[2])
            if groups.setdefault(name, gid) != gid:
                raise ValidationError(f"{source} defines group {name} twice ({groups[name]} and {gid})")
    return groups



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



def parse_nvidia_information(text: str, pci: str | None = None) -> NvidiaGpuInfo:
    """Parse an ``information`` file; ``pci`` is its directory name when the file lacks Bus Location."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    address = pci or fields.get("Bus Location")
    if not address:
        raise ValidationError(
            "NVIDIA information text has no 'Bus Location:' line; pass the PCI address (its folder name)"
        )
    minor = fields.get("Device Minor")
    return NvidiaGpuInfo(
        pci=normalize_pci(address, "NVIDIA GPU PCI address"),
        device_minor=int(minor) if minor and minor.isdigit() else None,
        model=fields.get("Model"),
        uuid=fields.get("GPU UUID"),
    )



_TYPE_FROM_LS: dict[str, NodeType] = {"c": "c", "b": "b", "d": "d", "l": "l", "-": "f", "p": "p", "s": "s"}
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
        type=_TYPE_FROM_LS[match["type"]],
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
