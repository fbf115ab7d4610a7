"""`pve-gpu-lxc host-setup`: its arguments (the CLI wiring calls these); the work is in
`host_setup.py`, loaded only when the command runs."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .project_args import add_project_dir_argument

NAME = "host-setup"
HELP = "install the NVIDIA boot set-up that makes the GPU device nodes before Proxmox starts guests"
DESCRIPTION = (
    "NVIDIA makes its device nodes (/dev/nvidiaN, nvidiactl, nvidia-uvm, ...) on demand, and Proxmox refuses "
    "to start a container whose devN path is missing, checking before the container's hookscript runs: after a "
    "reboot, onboot containers with an NVIDIA GPU fail unless the node makes the nodes first. host-setup prints "
    "what makes them (a modules-load.d entry for nvidia and nvidia_uvm, and a systemd unit ordered "
    "Before=pve-guests.service running the node's nvidia-modprobe for its GPUs) and, with --apply, installs it "
    "over SSH, starts it, and records the node's facts again (a second run changes nothing). Without --ssh it "
    "reads <project-dir>/stacks/facts/<NAME>.json. Exit codes: 0 installed or nothing to do, 2 changes pending "
    "(without --apply), 1 an error."
)


def add_parser(sub: argparse._SubParsersAction[Any]) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(NAME, help=HELP, description=DESCRIPTION)
    p.add_argument("--node", required=True, metavar="NAME", help="the Proxmox node name (its facts file's name)")
    p.add_argument("--ssh", metavar="USER@HOST[:PORT]",
                   help="read the node live and, with --apply, install there (e.g. root@192.0.2.10); "
                        "without it the node's facts file is read")
    p.add_argument("--apply", action="store_true", help="install the set-up over --ssh (needs --ssh)")
    p.add_argument("--identity", type=Path, metavar="FILE",
                   help="SSH private key (default: PROXMOX_VE_SSH_PRIVATE_KEY, the ssh-agent, then ~/.ssh/id_*)")
    p.add_argument("--facts", type=Path, metavar="FILE",
                   help="the node's facts: read without --ssh, rewritten after --apply "
                        "(default: <project-dir>/stacks/facts/<NAME>.json)")
    p.add_argument("--modeset", action="store_true",
                   help="also make /dev/nvidia-modeset (containers with NvidiaGpu(modeset=True))")
    p.add_argument("--caps", default="", metavar="1,2",
                   help="also make /dev/nvidia-caps/nvidia-cap1 (MIG config) and/or cap2 (MIG monitor), "
                        "for containers with NvidiaGpu(caps=(1, 2))")
    p.add_argument("--allow-profiling", action="store_true",
                   help="NVreg_RestrictProfilingToAdminUsers=0: GPU performance counters for non-root users "
                        "(from the next boot)")
    add_project_dir_argument(p)
    return p


def run(args: argparse.Namespace, environ: Mapping[str, str], parser: argparse.ArgumentParser) -> int:
    from . import host_setup  # SSH, the facts loader and the set-up load only here

    return host_setup.run(args, environ)
