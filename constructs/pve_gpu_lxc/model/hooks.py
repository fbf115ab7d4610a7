"""Hooks: the container's hookscript as a value, and its text (pure; no cdktf import).

`Hooks` is what users pass; `NvidiaGuard` is what NVIDIA presets add; `render_hookscript`
writes the script.  The cdk layer uploads it (`cdk/hookscript.py`, the `HookScript` construct).


Proxmox runs `<script> <vmid> <phase>` as root on the node, for the phases
pre-start, post-start, pre-stop and post-stop.  The script is a security
boundary: every value that reaches it is validated AND single-quoted with
`shlex.quote`, and user commands are argv lists, never shell strings, so no
value a user passes is ever parsed as shell code.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from ..core.errors import ValidationError
from ..core.rules import driver_version, got
from . import validation

Phase = Literal["pre-start", "post-start", "pre-stop", "post-stop"]
PHASES: tuple[Phase, ...] = ("pre-start", "post-start", "pre-stop", "post-stop")
_PROGRAM = re.compile(r"^/[A-Za-z0-9_.+/-]+$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# Test seam: on a real node PVE_GPU_LXC_SYSROOT is unset and paths are the host's own.
SYSROOT_VARIABLE = "PVE_GPU_LXC_SYSROOT"


@dataclass(frozen=True)
class HookCommand:
    """A program the hook runs on the host in one phase: an argv list, never a shell string."""

    phase: Phase
    argv: tuple[str, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.phase, str) or self.phase not in PHASES:
            raise ValidationError(f"hook phase {got(self.phase)} is not one of {', '.join(PHASES)}")
        argv = tuple(self.argv) if isinstance(self.argv, (list, tuple)) else None
        if not argv or not all(isinstance(a, str) for a in argv):
            raise ValidationError(
                f"{self.phase} hook command {self.argv!r} must be a non-empty list of strings "
                "(argv), e.g. ['/usr/bin/nvidia-smi', '-pm', '1']"
            )
        object.__setattr__(self, "argv", argv)
        program = argv[0]
        if not _PROGRAM.match(program) or "/../" in program or program.endswith("/.."):
            raise ValidationError(
                f"{self.phase} hook program {program!r} must be an absolute path of letters, digits "
                "and _ . + - / (the hook runs as root: no PATH lookup, no shell syntax)"
            )
        for arg in argv[1:]:
            if _CONTROL.search(arg):
                raise ValidationError(f"{self.phase} hook argument {arg!r} contains control characters")


@dataclass(frozen=True, kw_only=True)
class Hooks:
    """Extra commands for the container's hookscript, per phase (each an argv list)."""

    pre_start: Sequence[Sequence[str]] = ()
    post_start: Sequence[Sequence[str]] = ()
    pre_stop: Sequence[Sequence[str]] = ()
    post_stop: Sequence[Sequence[str]] = ()
    commands: tuple[HookCommand, ...] = field(init=False)

    def __post_init__(self) -> None:
        built = []
        for phase in PHASES:
            value = getattr(self, phase.replace("-", "_"))
            if isinstance(value, str):
                raise ValidationError(
                    f"Hooks({phase.replace('-', '_')}=...) takes a list of argv lists, got the string "
                    f"{value!r}; write [['/path/to/program', 'arg']]"
                )
            if not isinstance(value, (list, tuple)):
                raise ValidationError(
                    f"Hooks({phase.replace('-', '_')}=...) takes a list of argv lists, got {got(value)}; "
                    "write [['/path/to/program', 'arg']]"
                )
            built += [HookCommand(phase, tuple(argv) if isinstance(argv, (list, tuple)) else argv) for argv in value]
        object.__setattr__(self, "commands", tuple(built))


@dataclass(frozen=True)
class NvidiaGuard:
    """Pre-start checks for NVIDIA: the host module's exact version, and the on-demand nodes."""

    driver_version: str
    gpu_indexes: tuple[int, ...]
    modeset: bool
    nodes: tuple[str, ...]
    create_nodes: bool = True

    def __post_init__(self) -> None:
        driver_version(self.driver_version, "NvidiaGuard driver_version")
        for node in self.nodes:
            validation.device_path(node)

    def modprobe_argv(self) -> list[str]:
        # -u: load nvidia-uvm and create its nodes; -c N: create /dev/nvidiaN and nvidiactl; -m: modeset.
        argv = ["nvidia-modprobe", "-u"] + [f"-c{i}" for i in self.gpu_indexes]
        return argv + (["-m"] if self.modeset else [])

    def created_nodes(self) -> tuple[str, ...]:
        """The nodes `modprobe_argv` makes, so they need not exist before the hook runs."""
        if not self.create_nodes:
            return ()
        nodes = ["/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"]
        nodes += [f"/dev/nvidia{i}" for i in self.gpu_indexes] + (["/dev/nvidia-modeset"] if self.modeset else [])
        return tuple(nodes)


_PRELUDE = """\
#!/bin/sh
# Proxmox VE hookscript for CT {vmid} ({hostname}), generated by pve-gpu-lxc.
# Managed by Terraform: edits on the node are overwritten on the next apply.
# Proxmox runs it as: <script> <vmid> <phase>
set -u
vmid="$1"
phase="$2"
# Test seam: a prefix for /proc and /dev lookups; unset on a real node.
sysroot="${{{sysroot_var}:-}}"

fail() {{
    echo "pve-gpu-lxc hook (CT $vmid, $phase): $*" >&2
    exit 1
}}
"""

_NVIDIA_FUNCTIONS = """
require_nvidia_driver() {
    expected="$1"
    version_file="$sysroot/proc/driver/nvidia/version"
    if [ ! -r "$version_file" ]; then
        fail "the NVIDIA kernel module is not loaded ($version_file is missing); this container's userspace is pinned to driver $expected. Load the module (modprobe nvidia) or repair the host driver."
    fi
    found=$(awk '/NVRM version/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+[.][0-9]+([.][0-9]+)?$/) { print $i; exit } }' "$version_file")
    if [ "$found" != "$expected" ]; then
        fail "host NVIDIA driver is ${found:-unknown} but this container is pinned to $expected; the userspace inside must match exactly (NVML 'Driver/library version mismatch'). Rebuild the template for ${found:-the host version} and update NvidiaGpu(driver_version=...), or install driver $expected on the host."
    fi
}

require_nodes() {
    missing=""
    for node in "$@"; do
        [ -c "$sysroot$node" ] || missing="$missing $node"
    done
    if [ -n "$missing" ]; then
        fail "device node(s)$missing missing on the host; Proxmox devN refuses to start without them. Load the NVIDIA modules and run nvidia-modprobe (or nvidia-smi) on the host."
    fi
}
"""


def _q(value: str | int) -> str:
    return shlex.quote(str(value))


def _nvidia_pre_start(guard: NvidiaGuard) -> list[str]:
    lines = [f"require_nvidia_driver {_q(guard.driver_version)}"]
    if guard.create_nodes:
        # Control nodes are made on demand by userspace, not devtmpfs: create them before devN needs them.
        argv = " ".join(_q(a) for a in guard.modprobe_argv())
        lines.append(f"if command -v nvidia-modprobe >/dev/null 2>&1; then {argv} || fail 'nvidia-modprobe failed'; fi")
    lines.append("require_nodes " + " ".join(_q(n) for n in guard.nodes))
    return lines


def render_hookscript(
    *,
    vmid: int,
    hostname: str,
    nvidia: NvidiaGuard | None = None,
    commands: Sequence[HookCommand] = (),
) -> str:
    """The whole hookscript text.  Deterministic: same inputs, same bytes."""
    validation.vm_id(vmid)
    validation.hostname(hostname)
    text = _PRELUDE.format(vmid=vmid, hostname=hostname, sysroot_var=SYSROOT_VARIABLE)
    if nvidia is not None:
        text += _NVIDIA_FUNCTIONS
    by_phase: dict[str, list[str]] = {phase: [] for phase in PHASES}
    if nvidia is not None:
        by_phase["pre-start"] += _nvidia_pre_start(nvidia)
    for command in commands:
        argv = " ".join(_q(a) for a in command.argv)
        by_phase[command.phase].append(f"{argv} || fail {_q('command failed: ' + command.argv[0])}")
    text += '\ncase "$phase" in\n'
    for phase in PHASES:
        body = by_phase[phase] or [":"]
        text += f"    {phase})\n" + "".join(f"        {line}\n" for line in body) + "        ;;\n"
    text += "    *)\n        # phases added by future Proxmox versions are ignored\n        ;;\nesac\nexit 0\n"
    return text
