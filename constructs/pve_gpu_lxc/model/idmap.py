"""`lxc.idmap` arithmetic (pure; no cdktf import).

Proxmox adds no default map once a container has any `lxc.idmap` line, so a map
must cover container ids 0..size-1 for users AND groups, with no overlap on the
container side or the host side (the kernel rejects the write), and every host
range must be allowed for root in /etc/subuid or /etc/subgid (LXC writes maps
through newuidmap/newgidmap).  `IdMap.passthrough` punches 1:1 holes into the
standard shifted range, like Incus' `raw.idmap`, and merges adjacent ranges.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from ..core.errors import ValidationError
from ..core.rules import got

Kind = Literal["u", "g"]
KINDS: tuple[Kind, ...] = ("u", "g")
DEFAULT_HOST_BASE = 100_000  # PVE's hard-coded unprivileged base (LXC.pm)
DEFAULT_SIZE = 65_536
MAX_HOST_ID = 4_294_967_294  # (uid_t)-1 is reserved
MAX_LINES_PER_KIND = 340  # kernel limit on lines per uid_map/gid_map (Linux >= 4.15)
_KIND_NAMES = {"u": "uid", "g": "gid"}


@dataclass(frozen=True, order=True)
class IdMapEntry:
    """One `lxc.idmap` line: container ids [container_id, +size) -> host ids [host_id, +size)."""

    kind: Kind
    container_id: int
    host_id: int
    size: int

    @property
    def container_end(self) -> int:
        return self.container_id + self.size

    @property
    def host_end(self) -> int:
        return self.host_id + self.size

    @property
    def bpg_type(self) -> str:
        """bpg's `idmap.type` value: "uid" or "gid"."""
        return _KIND_NAMES[self.kind]

    def lxc_line(self) -> str:
        return f"lxc.idmap: {self.kind} {self.container_id} {self.host_id} {self.size}"

    def __str__(self) -> str:
        return f"{self.kind} {self.container_id} {self.host_id} {self.size}"


def _check_id(value: object, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"idmap: {what} must be an integer, got {got(value)}")
    if not low <= value <= high:
        raise ValidationError(f"idmap: {what} is {value}, outside the allowed range {low}..{high}")
    return value


def _merge(entries: list[IdMapEntry]) -> list[IdMapEntry]:
    """Join neighbours that continue each other on both sides (sorted by container id)."""
    merged: list[IdMapEntry] = []
    for entry in sorted(entries, key=lambda e: e.container_id):
        last = merged[-1] if merged else None
        if last and last.container_end == entry.container_id and last.host_end == entry.host_id:
            merged[-1] = IdMapEntry(entry.kind, last.container_id, last.host_id, last.size + entry.size)
        else:
            merged.append(entry)
    return merged


def _first_overlap(entries: list[IdMapEntry], side: str) -> tuple[IdMapEntry, IdMapEntry] | None:
    def start(e: IdMapEntry) -> int:
        return e.container_id if side == "container" else e.host_id

    ordered = sorted(entries, key=start)
    for a, b in itertools.pairwise(ordered):
        if start(b) < start(a) + a.size:
            return a, b
    return None


def validate_entries(entries: Iterable[IdMapEntry], size: int = DEFAULT_SIZE) -> tuple[IdMapEntry, ...]:
    """Check a complete map the way the kernel and Proxmox would, but as a hard error.

    Per kind: positive sizes, no overlap on the container or the host side, and
    exact coverage of container ids 0..size-1 (Proxmox adds no defaults).
    """
    if isinstance(entries, (str, bytes)) or not isinstance(entries, Iterable):
        raise ValidationError(f"idmap: entries must be a list of IdMapEntry, got {got(entries)}")
    entries = tuple(entries)
    for e in entries:
        if not isinstance(e, IdMapEntry):
            raise ValidationError(f"idmap: entry {got(e)} is not an IdMapEntry(kind, container_id, host_id, size)")
        if not isinstance(e.kind, str) or e.kind not in KINDS:
            raise ValidationError(f"idmap: kind {e.kind!r} is not 'u' or 'g' in entry {e}")
        _check_id(e.size, f"the size of entry '{e}'", 1, MAX_HOST_ID)
        _check_id(e.container_id, f"the container id of entry '{e}'", 0, size - 1)
        _check_id(e.host_id, f"the host id of entry '{e}'", 0, MAX_HOST_ID)
        if e.host_end - 1 > MAX_HOST_ID:
            raise ValidationError(f"idmap: entry '{e}' runs past the largest host id {MAX_HOST_ID}")
    for kind in KINDS:
        mine = [e for e in entries if e.kind == kind]
        for side in ("container", "host"):
            clash = _first_overlap(mine, side)
            if clash:
                a, b = clash
                raise ValidationError(
                    f"idmap: entries '{a}' and '{b}' overlap on the {side} side; the kernel refuses "
                    f"overlapping {_KIND_NAMES[kind]} ranges ('Failed to write mapping'). "
                    "Give each container id and each host id exactly one mapping"
                )
        _check_coverage(kind, mine, size)
        if len(mine) > MAX_LINES_PER_KIND:
            raise ValidationError(
                f"idmap: {len(mine)} '{kind}' lines exceed the kernel's limit of {MAX_LINES_PER_KIND} per map"
            )
    return tuple(sorted(entries, key=lambda e: (KINDS.index(e.kind), e.container_id)))


def _check_coverage(kind: Kind, entries: list[IdMapEntry], size: int) -> None:
    gaps, cursor = [], 0
    for e in sorted(entries, key=lambda e: e.container_id):
        if e.container_id > cursor:
            gaps.append(f"{cursor}..{e.container_id - 1}")
        cursor = max(cursor, e.container_end)
    if cursor < size:
        gaps.append(f"{cursor}..{size - 1}")
    if cursor > size:
        raise ValidationError(f"idmap: '{kind}' entries map container ids up to {cursor - 1}, beyond 0..{size - 1}")
    if gaps:
        raise ValidationError(
            f"idmap: container {_KIND_NAMES[kind]}s {', '.join(gaps)} are not mapped; once a container has "
            f"any lxc.idmap line Proxmox adds no defaults, so the '{kind}' map must cover 0..{size - 1}"
        )


def _holes(kind: Kind, requested: object, host_base: int, size: int) -> dict[int, int]:
    """Validate the requested {container id: host id} holes of one kind."""
    name = _KIND_NAMES[kind]
    if requested is not None and not isinstance(requested, Mapping):
        raise ValidationError(
            f"idmap: {name}s must be a mapping {{container {name}: host {name}}} such as {{44: 44}}, "
            f"got {got(requested)}"
        )
    holes: dict[int, int] = {}
    by_host: dict[int, int] = {}
    for ct, host in (requested or {}).items():
        _check_id(ct, f"container {name}", 0, size - 1)
        _check_id(host, f"host {name} for container {name} {ct}", 0, MAX_HOST_ID)
        if host in by_host:
            first, second = sorted((by_host[host], ct))
            raise ValidationError(
                f"idmap: container {name}s {first} and {second} both map to host {name} {host}; "
                "a host id can back only one container id (the ranges would overlap on the host side)"
            )
        by_host[host] = ct
        holes[ct] = host
    for ct, host in sorted(holes.items()):
        shadowed = host - host_base  # the container id whose shifted mapping uses this host id
        if 0 <= shadowed < size and shadowed != ct and shadowed not in holes:
            raise ValidationError(
                f"idmap: container {name} {ct} -> host {name} {host} collides with the shifted range, "
                f"where container {name} {shadowed} already maps to host {host} "
                f"({host_base}..{host_base + size - 1} backs container ids 0..{size - 1}); "
                f"use a host id outside that range (e.g. the host group's own id)"
            )
    return holes


def _passthrough_kind(kind: Kind, holes: Mapping[int, int], host_base: int, size: int) -> list[IdMapEntry]:
    entries: list[IdMapEntry] = []
    cursor = 0
    for ct in sorted(holes):
        if ct > cursor:
            entries.append(IdMapEntry(kind, cursor, host_base + cursor, ct - cursor))
        entries.append(IdMapEntry(kind, ct, holes[ct], 1))
        cursor = ct + 1
    if cursor < size:
        entries.append(IdMapEntry(kind, cursor, host_base + cursor, size - cursor))
    return _merge(entries)


class IdMap:
    """A complete, validated `lxc.idmap` for an unprivileged container.

    Build one with `IdMap.passthrough(...)` (the usual case), `IdMap.default()`
    or `IdMap(entries)` for a hand-written map; all three are validated.
    """

    def __init__(
        self,
        entries: Iterable[IdMapEntry],
        *,
        host_base: int = DEFAULT_HOST_BASE,
        size: int = DEFAULT_SIZE,
    ) -> None:
        _check_id(size, "size", 1, DEFAULT_SIZE * 65_536)
        _check_id(host_base, "host_base", 0, MAX_HOST_ID - size + 1)
        self.size = size
        self.host_base = host_base
        self.entries: tuple[IdMapEntry, ...] = validate_entries(entries, size)

    @classmethod
    def passthrough(
        cls,
        *,
        uids: Mapping[int, int] | None = None,
        gids: Mapping[int, int] | None = None,
        host_base: int = DEFAULT_HOST_BASE,
        size: int = DEFAULT_SIZE,
    ) -> IdMap:
        """The standard shifted map (ct id c -> host_base + c) with 1:1 holes {container id: host id}.

        Giving only `gids` still yields the full `u` map.
        """
        _check_id(size, "size", 1, DEFAULT_SIZE * 65_536)
        _check_id(host_base, "host_base", 0, MAX_HOST_ID - size + 1)
        entries: list[IdMapEntry] = []
        requests: tuple[tuple[Kind, Mapping[int, int] | None], ...] = (("u", uids), ("g", gids))
        for kind, requested in requests:
            entries += _passthrough_kind(kind, _holes(kind, requested, host_base, size), host_base, size)
        return cls(entries, host_base=host_base, size=size)

    @classmethod
    def default(cls, *, host_base: int = DEFAULT_HOST_BASE, size: int = DEFAULT_SIZE) -> IdMap:
        """What Proxmox uses for an unprivileged container with no lxc.idmap lines."""
        return cls.passthrough(host_base=host_base, size=size)

    @classmethod
    def from_lxc_lines(cls, lines: Iterable[str], *, host_base: int = DEFAULT_HOST_BASE,
                       size: int = DEFAULT_SIZE) -> IdMap:
        """Parse `lxc.idmap: g 0 100000 44` (or `g 0 100000 44`) lines."""
        entries = []
        for raw in lines:
            text = raw.strip()
            if not text or text.startswith("#"):
                continue
            if text.startswith("lxc.idmap"):
                text = text.split(":", 1)[1] if ":" in text else text.split("=", 1)[1]
            fields = text.split()
            kind: Kind | None = "u" if fields[:1] == ["u"] else "g" if fields[:1] == ["g"] else None
            if len(fields) != 4 or kind is None or not all(f.isdigit() for f in fields[1:]):
                raise ValidationError(f"idmap: cannot parse {raw!r}; expected 'lxc.idmap: u|g <ct> <host> <size>'")
            entries.append(IdMapEntry(kind, int(fields[1]), int(fields[2]), int(fields[3])))
        return cls(entries, host_base=host_base, size=size)

    def of_kind(self, kind: Kind) -> tuple[IdMapEntry, ...]:
        return tuple(e for e in self.entries if e.kind == kind)

    def to_host(self, kind: Kind, container_id: int) -> int:
        """The host id backing a container id."""
        for e in self.of_kind(kind):
            if e.container_id <= container_id < e.container_end:
                return e.host_id + (container_id - e.container_id)
        raise ValidationError(f"idmap: container {_KIND_NAMES[kind]} {container_id} is not mapped")

    def holes(self, kind: Kind) -> dict[int, int]:
        """Container ids that do not follow the shifted base mapping, with their host ids."""
        return {
            e.container_id + i: e.host_id + i
            for e in self.of_kind(kind)
            if e.host_id != self.host_base + e.container_id
            for i in range(e.size)
        }

    def lxc_lines(self) -> list[str]:
        return [e.lxc_line() for e in self.entries]

    def _sub_lines(self, kind: Kind, include_base: bool, user: str) -> list[str]:
        base_end = self.host_base + self.size
        ranges = [
            (e.host_id, e.host_end)
            for e in self.of_kind(kind)
            if not (self.host_base <= e.host_id and e.host_end <= base_end)
        ]
        if include_base:
            ranges.append((self.host_base, base_end))
        merged: list[list[int]] = []
        for start, end in sorted(ranges):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        return [f"{user}:{start}:{end - start}" for start, end in merged]

    def subuid_lines(self, *, include_base: bool = False, user: str = "root") -> list[str]:
        """/etc/subuid lines the map needs, merged.

        By default only what goes beyond Proxmox's stock `root:100000:65536`
        (the lines to add); `include_base=True` lists everything.
        """
        return self._sub_lines("u", include_base, user)

    def subgid_lines(self, *, include_base: bool = False, user: str = "root") -> list[str]:
        """/etc/subgid lines the map needs (see `subuid_lines`)."""
        return self._sub_lines("g", include_base, user)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdMap) and self.entries == other.entries

    def __hash__(self) -> int:
        return hash(self.entries)

    def __repr__(self) -> str:
        return f"IdMap({', '.join(str(e) for e in self.entries)})"
