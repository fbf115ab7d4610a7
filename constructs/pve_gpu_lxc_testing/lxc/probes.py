"""What runs inside the container, and how its report is judged (pure).

The container's init is a busybox shell script that records what the
container sees (its uid_map/gid_map, `stat` of every passed node, and whether
test users can open each node) into a report file.  The host parses that
report and compares it with the plan.  Expected access comes from the devN
entry as declared (container-side uid/gid/mode), so a wrong idmap or a wrong
host owner shows up as a probe mismatch.
"""

from __future__ import annotations

import shlex
import stat
from dataclasses import dataclass, field
from typing import Literal

from pve_gpu_lxc.model.devices import group_role

from .model import HarnessError, IdRange, PassthroughDevice
from .render import ContainerPlan, DeviceNode

REPORT = "/results/report"
INIT = "/pve-gpu-lxc-check"
FULL_RANGE = 4294967295  # how a map looks in the initial namespace (privileged container)


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int  # primary group
    groups: tuple[int, ...] = ()  # supplementary groups

    def all_gids(self) -> frozenset[int]:
        return frozenset((self.gid, *self.groups))


@dataclass(frozen=True)
class Probe:
    user: User
    path: str
    access: str  # "r" or "w"
    expected: bool


@dataclass(frozen=True)
class Accounts:
    passwd: str
    group: str
    users: tuple[User, ...]
    group_names: dict[int, str]


@dataclass
class Observed:
    maps: dict[str, list[IdRange]] = field(default_factory=lambda: {"u": [], "g": []})
    nodes: dict[str, tuple[int, int, int, int, int] | None] = field(default_factory=dict)  # uid gid rawmode major minor
    probes: dict[tuple[str, str, str], bool] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    complete: bool = False


def accounts(p: ContainerPlan) -> Accounts:
    """/etc/passwd and /etc/group for the test rootfs.

    Groups: the rootfs groups the spec names, plus one per device gid not among
    them.  Users: one member of each of those groups, one user per non-root
    device owner uid, and one outsider.
    """
    group_names: dict[int, str] = {0: "root"}
    for name, gid in p.spec.rootfs_groups:
        if gid in group_names or name in group_names.values():
            raise HarnessError(f"rootfs group {name}={gid} clashes with {group_names}")
        group_names[gid] = name
    for node in p.nodes:
        gid = node.device.gid
        if gid not in group_names:
            wanted = group_role(node.device.path)
            group_names[gid] = wanted if wanted and wanted not in group_names.values() else f"dev{gid}"
    taken = set(group_names) | {n.device.uid for n in p.nodes}
    free = (i for i in range(3000, 65000) if i not in taken)
    users = [User("root", 0, 0)]
    for gid, name in sorted(group_names.items()):
        if gid != 0:
            uid = next(free)
            users.append(User(f"in-{name}", uid, uid, (gid,)))
    for owner in sorted({n.device.uid for n in p.nodes} - {0}):
        users.append(User(f"owner-{owner}", owner, next(free)))
    uid = next(free)
    users.append(User("outsider", uid, uid))
    passwd = "".join(f"{u.name}:x:{u.uid}:{u.gid}::/:/bin/sh\n" for u in users)
    groups = dict(group_names)
    groups.update({u.gid: u.name for u in users if u.uid != 0})
    members = {g: [u.name for u in users if g in u.groups] for g in groups}
    group = "".join(f"{name}:x:{gid}:{','.join(members[gid])}\n" for gid, name in sorted(groups.items()))
    return Accounts(passwd=passwd, group=group, users=tuple(users), group_names=group_names)


def may_open(user: User, node: DeviceNode, access: str) -> bool:
    """Classic owner/group/other check against the declared container-side owner and mode."""
    shift = 6 if user.uid == node.device.uid else 3 if node.device.gid in user.all_gids() else 0
    bit = 4 if access == "r" else 2
    return bool((node.device.perm >> shift) & bit)


def probes(p: ContainerPlan, acc: Accounts) -> tuple[Probe, ...]:
    """Who should be able to open what.

    Every node: the outsider and the member of the node's declared group get
    what the declared mode gives them.  GPU nodes: the member of the group the
    node is meant for (render/video, when the rootfs has it) must get read and
    write access - that is the point of passing the node.
    """
    result: dict[tuple[str, str, str], Probe] = {}
    for node in p.nodes:
        # a node left at gid 0 (PVE's default, e.g. an owner-only /dev/kfd) is meant for no group
        meant_for = group_role(node.device.path) if node.device.gid != 0 else None
        for user in acc.users:
            if user.uid == 0:
                continue  # container root's access depends on capabilities, not on the mode
            user_groups = {acc.group_names.get(g) for g in user.groups}
            intended = meant_for is not None and meant_for in user_groups
            if user.groups and node.device.gid not in user.groups and not intended:
                continue  # members are probed on their own group's nodes
            for access in ("r", "w"):
                expected = True if intended else may_open(user, node, access)
                result[(user.name, node.device.path, access)] = Probe(user, node.device.path, access, expected)
    return tuple(result.values())


def check_script(p: ContainerPlan, probe_list: tuple[Probe, ...]) -> str:
    q = shlex.quote
    lines = [
        "#!/bin/sh",
        "# Written by pve_gpu_lxc_testing.lxc: record what this container sees, then exit.",
        "{",
        "echo BEGIN",
        "while read a b c; do echo \"MAP u $a $b $c\"; done < /proc/self/uid_map",
        "while read a b c; do echo \"MAP g $a $b $c\"; done < /proc/self/gid_map",
    ]
    for node in p.nodes:
        path = q(node.device.path)
        lines.append(f"if [ -e {path} ]; then stat -c 'NODE %n %u %g %f %t %T' {path}; else echo NODE {path} MISSING; fi")
    for user in sorted({pr.user for pr in probe_list}, key=lambda u: u.uid):
        lines.append(f"echo IDS {user.name} $(su -s /bin/sh {q(user.name)} -c id 2>&1)")
    for pr in probe_list:
        redirect = "<" if pr.access == "r" else ">"
        cmd = q(f": {redirect} {pr.path}")
        lines.append(
            f"if su -s /bin/sh {q(pr.user.name)} -c {cmd} 2>/dev/null; "
            f"then echo PROBE {pr.user.name} {path_q(pr.path)} {pr.access} OK; "
            f"else echo PROBE {pr.user.name} {path_q(pr.path)} {pr.access} DENIED; fi"
        )
    lines += ["echo END", f"}} > {REPORT} 2>&1", ""]
    return "\n".join(lines)


def path_q(path: str) -> str:
    if any(c.isspace() for c in path):
        raise HarnessError(f"device path {path!r} contains whitespace")
    return shlex.quote(path)


def parse_report(text: str) -> Observed:
    obs = Observed()
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        tag = parts[0]
        if tag == "MAP" and len(parts) == 5:
            obs.maps[parts[1]].append(IdRange(parts[1], int(parts[2]), int(parts[3]), int(parts[4])))  # type: ignore[arg-type]
        elif tag == "NODE" and len(parts) == 3 and parts[2] == "MISSING":
            obs.nodes[parts[1]] = None
        elif tag == "NODE" and len(parts) == 7:
            obs.nodes[parts[1]] = (int(parts[2]), int(parts[3]), int(parts[4], 16), int(parts[5], 16), int(parts[6], 16))
        elif tag == "PROBE" and len(parts) == 5:
            obs.probes[(parts[1], parts[2], parts[3])] = parts[4] == "OK"
        elif tag == "IDS" and len(parts) >= 2:
            obs.ids[parts[1]] = " ".join(parts[2:])
        elif tag == "END":
            obs.complete = True
    return obs


def expected_maps(p: ContainerPlan) -> dict[str, list[IdRange]]:
    if not p.idmap:
        return {k: [IdRange(k, 0, 0, FULL_RANGE)] for k in ("u", "g")}
    return {k: list(p.ranges(k)) for k in ("u", "g")}


def verify(p: ContainerPlan, probe_list: tuple[Probe, ...], obs: Observed) -> list[str]:
    """Every difference between the plan and what the container saw, as readable sentences."""
    problems: list[str] = []
    if not obs.complete:
        problems.append("the check script inside the container did not finish (no END line in its report)")
    for kind, want in expected_maps(p).items():
        got = obs.maps[kind]
        if got != want:
            problems.append(
                f"/proc/self/{kind}id_map inside is {_fmt(got)}, expected the idmap {_fmt(want)}"
            )
    for node in p.nodes:
        problems += _node_problems(node, obs.nodes.get(node.device.path, "absent"))
    for pr in probe_list:
        got_ok = obs.probes.get((pr.user.name, pr.path, pr.access))
        if got_ok is None:
            problems.append(f"no result for probe: {pr.user.name} opening {pr.path} ({pr.access})")
        elif got_ok != pr.expected:
            verb = "could" if got_ok else "could not"
            problems.append(
                f"user {pr.user.name} (uid {pr.user.uid}, gids {sorted(pr.user.all_gids())}; "
                f"seen as: {obs.ids.get(pr.user.name, '?')}) {verb} open {pr.path} for "
                f"{'reading' if pr.access == 'r' else 'writing'}, but the devN entry "
                f"(uid {_dev(p, pr.path).uid}, gid {_dev(p, pr.path).gid}, mode {_dev(p, pr.path).mode}) says "
                f"{'it should' if pr.expected else 'it must not'}"
            )
    return problems


def _dev(p: ContainerPlan, path: str) -> PassthroughDevice:
    return next(n.device for n in p.nodes if n.device.path == path)


def _node_problems(node: DeviceNode, seen: tuple[int, int, int, int, int] | None | Literal["absent"]) -> list[str]:
    path = node.device.path
    if seen == "absent":
        return [f"{path}: the check script reported nothing about it"]
    if seen is None:
        return [f"{path}: missing inside the container"]
    uid, gid, raw, major, minor = seen
    problems = []
    if not stat.S_ISCHR(raw):
        problems.append(f"{path}: not a character device inside (raw mode {raw:o})")
    if (major, minor) != node.rdev:
        problems.append(f"{path}: device numbers {major}:{minor} inside, expected {node.rdev[0]}:{node.rdev[1]}")
    if stat.S_IMODE(raw) != node.device.perm:
        problems.append(f"{path}: mode {stat.S_IMODE(raw):04o} inside, expected {node.device.mode}")
    if (uid, gid) != (node.seen_uid, node.seen_gid):
        problems.append(
            f"{path}: owner {uid}:{gid} inside, expected {node.seen_uid}:{node.seen_gid} "
            f"(devN uid={node.device.uid} gid={node.device.gid}, host node {node.host_uid}:{node.host_gid})"
        )
    return problems


def _fmt(ranges: list[IdRange]) -> str:
    return "[" + ", ".join(r.lxc_value() for r in ranges) + "]"
