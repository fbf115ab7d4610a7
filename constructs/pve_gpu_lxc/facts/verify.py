"""Checks against recorded facts: does a container fit the node as it was recorded? (pure)

The model (`model/container.py`) calls `verify_container` for every container that has
facts; the answer is one `ValidationError` listing every problem, each with its fix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cache
from typing import Literal

from ..core import debian_version, nvidia_pin
from ..core.errors import ValidationError
from ..core.nvidia_nodes import control_nodes, is_nvidia_on_demand
from .boot import BootNodes
from .data import NodeFacts
from .io import host_setup_command, record_command
from .records import RECORDED_PREFIXES, DeviceNode, IdRange, NvidiaRuntimeFacts, uncovered

IdKind = Literal["u", "g"]


def require_char_device(facts: NodeFacts, path: str, why: str = "") -> DeviceNode:
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


def missing_nvidia_control_nodes(facts: NodeFacts) -> tuple[str, ...]:
    """Control nodes userspace creates on demand (nvidia-modprobe) that the node lacks."""
    # nvidiactl, nvidia-uvm, nvidia-uvm-tools: what `nvidia-modprobe -c 255 -u -c 0` makes
    return tuple(p for p in control_nodes() if facts.node(p) is None)


def uncovered_subids(facts: NodeFacts, kind: IdKind, ranges: Iterable[tuple[int, int]]) -> tuple[IdRange, ...]:
    """Parts of host ranges ``(start, count)`` root may not map per the recorded subuid/subgid."""
    allowed = facts.subids(kind) or ()
    return tuple(gap for start, count in ranges for gap in uncovered(allowed, start, count))


def verify_container(
    facts: NodeFacts,
    *,
    node_name: str,
    device_paths: Iterable[str] = (),
    own_boot_nodes: Iterable[str] = (),
    nvidia_driver: str | None = None,
    nvidia_runtime: bool = False,
    idmap: Iterable[tuple[IdKind, int, int]] = (),
) -> None:
    """Raise one ValidationError listing every way a container would not fit this node.

    device_paths: every devN path; each must be a char device here.  NVIDIA's on-demand nodes
      must also be made again by the node's boot before pve-guests starts the onboot guests
      (facts/boot.py), unless they are in ``own_boot_nodes`` (the user makes them at boot).
    nvidia_driver: the version the container's NVIDIA userspace is pinned to.
    nvidia_runtime: an NvidiaGpu takes the host's userspace (runtime="host"): the node needs
      LXC's nvidia hook, nvidia-container-cli and an LXC that knows `lxc.environment.hooks`.
    idmap: ``(kind, host_id, size)`` of every idmap entry (the default map when none).
    """
    problems = _node_name_problem(facts, node_name)
    if not problems:
        own = set(own_boot_nodes)
        at_boot = cache(facts.nodes_at_boot)  # replays the boot: once, and only if a path asks
        problems += [p for p in (_device_problem(facts, path, path not in own, at_boot) for path in device_paths)
                     if p]
        problems += _nvidia_driver_problems(facts, nvidia_driver)
        problems += _nvidia_runtime_problems(facts) if nvidia_runtime else []
        problems += _subid_problems(facts, idmap)
    if problems:
        raise ValidationError(f"does not fit node {node_name!r} as recorded in {facts.source}"
                              f"{' on ' + facts.collected_at if facts.collected_at else ''}: "
                              + "; ".join(problems))


def _node_name_problem(facts: NodeFacts, node_name: str) -> list[str]:
    if node_name == facts.hostname:
        return []
    return [f"the host facts describe node {facts.hostname!r}, not {node_name!r}; pass the facts of "
            f"{node_name!r} (stacks/facts/{node_name}.json)"]


def _device_problem(facts: NodeFacts, path: str, made_at_boot: bool,
                    nodes_at_boot: Callable[[], BootNodes | None]) -> str | None:
    if not path.startswith(RECORDED_PREFIXES):
        return None  # the facts say nothing about it
    node = facts.node(path)
    if node is None:
        if is_nvidia_on_demand(path):
            setup = _host_setup(facts, path)
            return (f"{path} is absent: NVIDIA makes its device nodes on demand and nothing on the node has made "
                    f"this one, and Proxmox refuses to start a container whose devN path is missing (it checks "
                    f"before the hookscript runs). Run {setup} once: it installs a unit that runs nvidia-modprobe "
                    "at every boot before pve-guests.service and now; then re-record the facts")
        known = ", ".join(n.path for n in facts.devices if n.type == "c") or "none"
        return (f"{path} does not exist on the node (Proxmox refuses to start a container whose devN path is "
                f"missing); char devices recorded: {known}")
    if not node.is_char:
        return (f"{path} is a {node.kind_name}, not a char device ({node.describe()}); devN needs a device "
                "node: expand a directory into its nodes, replace a symlink by its target")
    if made_at_boot and is_nvidia_on_demand(path):
        at_boot = nodes_at_boot()
        if at_boot is None:
            return (f"{path} exists now, but {facts.source} was recorded before the collector read the boot "
                    "configuration, so nothing shows that a reboot makes it again: re-record with "
                    f"`{record_command(node=facts.hostname)}`")
        if path not in at_boot:
            setup = _host_setup(facts, path)
            return (f"{path} exists now, but nothing the node runs at boot before pve-guests.service makes it "
                    "again (NVIDIA makes its nodes on demand): after the next reboot Proxmox would refuse to "
                    f"start the container ('Device {path} does not exist'). Run {setup} once, then re-record "
                    "the facts; or, if the node makes it its own way, pass NvidiaGpu(ensure_nodes=False)")
    return None


def _host_setup(facts: NodeFacts, path: str) -> str:
    return f"`{host_setup_command(facts.hostname, paths=[path])}`"


def _nvidia_driver_problems(facts: NodeFacts, version: str | None) -> list[str]:
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


# pve-container 6.1 (PVE 9.1) depends on `lxc-pve (>= 6.0.5-3~~)`, the first LXC of Proxmox's with
# `lxc.environment.hooks` (oci-research.md); Debian's own lxc gets it with upstream 7.0.
LXC_WITH_HOOKS_ENVIRONMENT = {"lxc-pve": "6.0.5-3~~", "lxc": "1:7.0~"}
NVIDIA_RUNTIME_NEED = "NvidiaGpu(runtime='host') has LXC's nvidia hook run nvidia-container-cli at every start"


def nvidia_runtime_problems(runtime: NvidiaRuntimeFacts) -> list[tuple[str, str]]:
    """What the node lacks for NvidiaGpu(runtime="host"), each as (what is wrong, the fix); the
    synth-time check and `check` both report these."""
    problems = []
    cli = nvidia_pin.NVIDIA_CONTAINER_CLI
    if runtime.cli is None:
        problems.append(("nvidia-container-cli is not installed on the node",
                         "install NVIDIA's libnvidia-container-tools (NVIDIA's apt repository)"))
    elif runtime.cli != cli:
        problems.append((f"nvidia-container-cli is at {runtime.cli}, but the hookscript requires {cli}",
                         f"install NVIDIA's libnvidia-container-tools, which puts it at {cli}"))
    if not runtime.lxc_hook:
        problems.append((f"{nvidia_pin.NVIDIA_LXC_HOOK} is not on the node (it comes with lxc-pve)",
                         "reinstall lxc-pve"))
    minimum = LXC_WITH_HOOKS_ENVIRONMENT.get(runtime.lxc_package or "")
    if minimum is None:
        problems.append(("the node has no lxc-pve (nor Debian's lxc), so nothing shows it knows "
                         "`lxc.environment.hooks`", "upgrade to PVE 9.1 or later (lxc-pve >= 6.0.5-3)"))
    elif runtime.lxc_version is None or not _at_least(runtime.lxc_version, minimum):
        problems.append((f"its variables go in `lxc.environment.hooks`, which {runtime.lxc_package} "
                         f"{runtime.lxc_version or '(version not recorded)'} does not know (LXC refuses the "
                         "container's config)",
                         f"upgrade to {runtime.lxc_package} >= {minimum.rstrip('~')} (PVE 9.1 or later)"))
    return problems


def _at_least(version: str, minimum: str) -> bool:
    """dpkg's `ge`; a version dpkg would not have written proves nothing (False)."""
    try:
        return debian_version.at_least(version, minimum)
    except ValueError:
        return False


def _nvidia_runtime_problems(facts: NodeFacts) -> list[str]:
    if facts.nvidia_runtime is None:
        return [f"{NVIDIA_RUNTIME_NEED}, but {facts.source} was recorded before the collector read NVIDIA's "
                f"container runtime: re-record with `{record_command(node=facts.hostname)}`"]
    return [f"{NVIDIA_RUNTIME_NEED}, and {what}: {fix}, then re-record the facts"
            for what, fix in nvidia_runtime_problems(facts.nvidia_runtime)]


def _subid_problems(facts: NodeFacts, idmap: Iterable[tuple[IdKind, int, int]]) -> list[str]:
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
