"""Run a Proxmox hookscript on the host the way Proxmox does: `<script> <vmid> <phase>`.

For NVIDIA hooks, `FakeNvidiaHost` builds what the product's hookscript test
seam reads: a sysroot (PVE_GPU_LXC_SYSROOT) with proc/driver/nvidia/version
and stand-in /dev nodes, and a fake `nvidia-modprobe` first on PATH that
records its arguments and creates the nodes a real one would.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from pve_gpu_lxc.model.hooks import SYSROOT_VARIABLE  # the product's test seam

from .render import STAND_IN_RDEV


@dataclass(frozen=True)
class HookRun:
    phase: str
    returncode: int
    stdout: str
    stderr: str


def run_hook(script: Path, vmid: int, phase: str, env: Mapping[str, str] | None = None, timeout: float = 30) -> HookRun:
    result = subprocess.run(
        [str(script), str(vmid), phase],
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
    )
    return HookRun(phase, result.returncode, result.stdout, result.stderr)


def install_script(text: str, directory: Path, name: str = "hook.sh") -> Path:
    """Write the script like PVE stores a snippet it may execute (mode 0700)."""
    path = directory / name
    path.write_text(text)
    path.chmod(0o700)
    return path


def nvidia_version_text(version: str) -> str:
    """The first line of /proc/driver/nvidia/version as the open kernel module prints it."""
    return (
        f"NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  {version}  "
        "Release Build  (dvs-builder@U16-I3-B03-4-3)  Tue Jun 10 18:14:50 UTC 2025\n"
        "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n"
    )


class FakeNvidiaHost:
    """A throw-away sysroot + PATH for hook runs (the directory is owned by the caller).

    The fake `nvidia-modprobe` creates the nodes the real one creates for the
    flags it gets (-u: nvidia-uvm and nvidia-uvm-tools; -cN: nvidiaN and
    nvidiactl; -m: nvidia-modeset), under the sysroot, so a hook that passes
    the wrong flags ends up with missing nodes.
    """

    def __init__(self, root: Path, driver_version: str | None, nodes: Sequence[str] = ()):
        self.root = root
        self.sysroot = root / "sysroot"
        self.bin = root / "bin"
        self.calls = root / "nvidia-modprobe.calls"
        (self.sysroot / "dev").mkdir(parents=True)
        self.bin.mkdir()
        if driver_version is not None:
            version = self.sysroot / "proc/driver/nvidia/version"
            version.parent.mkdir(parents=True)
            version.write_text(nvidia_version_text(driver_version))
        for node in nodes:
            self.make_node(node)
        fake = self.bin / "nvidia-modprobe"
        fake.write_text(_FAKE_MODPROBE.format(
            calls=shlex.quote(str(self.calls)), var=SYSROOT_VARIABLE, major=STAND_IN_RDEV[0], minor=STAND_IN_RDEV[1]
        ))
        fake.chmod(0o755)

    def make_node(self, node: str) -> None:
        path = self.sysroot / node.removeprefix("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mknod(path, 0o020666, os.makedev(*STAND_IN_RDEV))

    def env(self, with_modprobe: bool = True) -> dict[str, str]:
        base_path = "/usr/sbin:/usr/bin:/sbin:/bin"
        return {
            "PATH": f"{self.bin}:{base_path}" if with_modprobe else base_path,
            SYSROOT_VARIABLE: str(self.sysroot),
        }

    def modprobe_calls(self) -> list[str]:
        return self.calls.read_text().splitlines() if self.calls.exists() else []


_FAKE_MODPROBE = """#!/bin/sh
echo "$*" >> {calls}
mk() {{ [ -e "${var}$1" ] || mknod "${var}$1" c {major} {minor}; }}
while [ $# -gt 0 ]; do
    case "$1" in
        -u) mk /dev/nvidia-uvm; mk /dev/nvidia-uvm-tools ;;
        -m) mk /dev/nvidia-modeset ;;
        -c) shift; mk "/dev/nvidia$1"; mk /dev/nvidiactl ;;
        -c*) mk "/dev/nvidia${{1#-c}}"; mk /dev/nvidiactl ;;
    esac
    shift
done
"""
