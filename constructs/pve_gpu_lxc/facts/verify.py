"""Checks against recorded facts: does a container fit the node as it was recorded? (pure)

The model (`model/container.py`) calls `verify_container` for every container that has
facts; the answer is one `ValidationError` listing every problem, each with its fix.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

from ..core.errors import ValidationError
from .model import HostFacts
from .records import NVIDIA_CONTROL_NODES, RECORDED_PREFIXES, DeviceNode, IdRange

IdKind = Literal["u", "g"]


def require_char_device(facts: HostFacts, path: str, why: str = "") -> DeviceNode:
    """The node at ``path``, which must be a char device on the node."""
    node = facts.node(path)
    reason = f" ({why})" if why else ""
    if node is None:
        known = ", ".join(n.path for n in facts.devices if n.type == "c") or "none"
        raise ValidationError(
            f"{facts.label}: {path} does not exist on the node{reason}; Proxmox refuses to start a "
            f"container whose devN path is missing. Char devices recorded: {known}. "
            "Fix the path, or re-record the facts if the node changed"
        )
    if not node.is_char:
        raise ValidationError(
            f"{facts.label}: {path} is a {node.kind_name}, not a char device ({node.describe()}){reason}; "
            "devN needs a device node "
            "(a directory must be expanded into its nodes, a symlink replaced by its target)"
        )
    return node


def missing_nvidia_control_nodes(facts: HostFacts) -> tuple[str, ...]:
    """Control nodes userspace creates on demand (nvidia-modprobe); absent ones need the hook."""
    return tuple(p for p in NVIDIA_CONTROL_NODES if facts.node(p) is None)


def uncovered_subids(facts: HostFacts, kind: IdKind, ranges: Iterable[tuple[int, int]]) -> tuple[IdRange, ...]:
    """Parts of host ranges ``(start, count)`` root may not map per the recorded subuid/subgid."""
    allowed = sorted(facts.subids(kind) or (), key=lambda r: r.start)
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


def verify_container(
    facts: HostFacts,
    *,
    node_name: str,
    device_paths: Iterable[str] = (),
    hook_creates: Iterable[str] = (),
    nvidia_driver: str | None = None,
    idmap: Iterable[tuple[IdKind, int, int]] = (),
) -> None:
    """Raise one ValidationError listing every way a container would not fit this node.

    device_paths: every devN path; each must be a char device here, unless it is in
      ``hook_creates`` (nodes the container's pre-start hook makes) and absent.
    nvidia_driver: the version the container's NVIDIA userspace is pinned to.
    idmap: ``(kind, host_id, size)`` of every idmap entry (the default map when none).
    """
    problems = _node_name_problem(facts, node_name)
    if not problems:
        created = set(hook_creates)
        problems += [p for p in (_device_problem(facts, path, created) for path in device_paths) if p]
        problems += _nvidia_driver_problems(facts, nvidia_driver)
        problems += _subid_problems(facts, idmap)
    if problems:
        raise ValidationError(f"does not fit node {node_name!r} as recorded in {facts.source}"
                              f"{' on ' + facts.collected_at if facts.collected_at else ''}: "
                              + "; ".join(problems))


def _node_name_problem(facts: HostFacts, node_name: str) -> list[str]:
    if node_name == facts.hostname:
        return []
    return [f"the host facts describe node {facts.hostname!r}, not {node_name!r}; pass the facts of "
            f"{node_name!r} (stacks/facts/{node_name}.json)"]


def _device_problem(facts: HostFacts, path: str, created: set[str]) -> str | None:
    if not path.startswith(RECORDED_PREFIXES):
        return None  # the facts say nothing about it
    node = facts.node(path)
    if node is None:
        if path in created and (facts.nvidia_modprobe or not facts.tools_recorded):
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
        known = ", ".join(n.path for n in facts.devices if n.type == "c") or "none"
        return (f"{path} does not exist on the node (Proxmox refuses to start a container whose devN path is "
                f"missing); char devices recorded: {known}")
    if not node.is_char:
        return (f"{path} is a {node.kind_name}, not a char device ({node.describe()}); devN needs a device "
                "node: expand a directory into its nodes, replace a symlink by its target")
    return None


def _nvidia_driver_problems(facts: HostFacts, version: str | None) -> list[str]:
    if version is None:
        return []
    recorded = facts.nvidia_driver_version
    if recorded is None:
        return [f"the container pins NVIDIA driver {version}, but no NVIDIA driver is recorded on the node "
                "(no /proc/driver/nvidia/version): load the module and re-record the facts"]
    if recorded != version:
        return [f"NvidiaGpu driver_version {version} differs from the host's NVIDIA driver {recorded}; the "
                f"container's libraries must match the kernel module exactly: pin driver_version='{recorded}' "
                "and use an image built for it, or re-record the facts if the host was upgraded"]
    return []


def _subid_problems(facts: HostFacts, idmap: Iterable[tuple[IdKind, int, int]]) -> list[str]:
    problems = []
    entries = list(idmap)
    files: tuple[tuple[IdKind, str], ...] = (("u", "/etc/subuid"), ("g", "/etc/subgid"))
    for kind, file in files:
        if facts.subids(kind) is None:
            continue
        missing = uncovered_subids(facts, kind, [(host, size) for k, host, size in entries if k == kind])
        if missing:
            lines = ", ".join(f"root:{r.start}:{r.count}" for r in missing)
            problems.append(
                f"root may not map host {'uids' if kind == 'u' else 'gids'} "
                + ", ".join(f"{r.start}..{r.end - 1}" for r in missing)
                + f" (LXC writes the idmap through newuidmap/newgidmap); add to {file} on the node: {lines}"
            )
    return problems
