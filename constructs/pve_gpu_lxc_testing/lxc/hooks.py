"""Run a Proxmox hookscript on the host the way Proxmox does: `<script> <vmid> <phase>`.

For NVIDIA hooks, `FakeNvidiaHost` builds what the product's hookscript test
seam reads: a sysroot (PVE_GPU_LXC_SYSROOT) with sys/module/nvidia/version,
proc/driver/nvidia/version and stand-in /dev nodes.
"""

from __future__ import annotations

import os
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
    """A throw-away sysroot for hook runs (the directory is owned by the caller): the loaded
    module's /sys/module/nvidia/version and /proc/driver/nvidia/version, and stand-in /dev
    nodes.  The hook checks the driver only; NVIDIA's nodes are the node's boot's to make
    (host-setup), which tests/e2e/test_reboot.py and tests/lxc boot through the simulated node.
    """

    def __init__(self, root: Path, driver_version: str | None, nodes: Sequence[str] = ()):
        self.root = root
        self.sysroot = root / "sysroot"
        (self.sysroot / "dev").mkdir(parents=True)
        if driver_version is not None:
            version = self.sysroot / "proc/driver/nvidia/version"
            version.parent.mkdir(parents=True)
            version.write_text(nvidia_version_text(driver_version))
            module = self.sysroot / "sys/module/nvidia/version"
            module.parent.mkdir(parents=True)
            module.write_text(driver_version + "\n")
        for node in nodes:
            self.make_node(node)

    def make_node(self, node: str) -> None:
        path = self.sysroot / node.removeprefix("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mknod(path, 0o020666, os.makedev(*STAND_IN_RDEV))

    def env(self) -> dict[str, str]:
        return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", SYSROOT_VARIABLE: str(self.sysroot)}
