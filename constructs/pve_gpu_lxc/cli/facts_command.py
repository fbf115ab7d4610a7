"""`pve-gpu-lxc facts`: its arguments (the CLI wiring calls these); the work is in `facts.py`,
loaded only when the command runs, so other commands do not pay for its imports."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .project_args import add_project_dir_argument

NAME = "facts"
HELP = "record a node's host facts (GPUs, driver, subuid/subgid, templates' GIDs) over SSH"
DESCRIPTION = (
    "Run the read-only host facts collector on a Proxmox node over SSH and write "
    "<project-dir>/stacks/facts/<NAME>.json (or --out FILE): device nodes, PCI links, majors, the NVIDIA "
    "driver, root's subuid/subgid, and the video/render GIDs of every template in the node's template "
    "caches, read from each tarball's /etc/group as a stream (nothing is unpacked or written on the node). "
    "The file is replaced only when the node's output is a valid facts document for NAME. "
    "Exit codes: 0 recorded, 1 an error."
)


def add_parser(sub: argparse._SubParsersAction[Any]) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(NAME, help=HELP, description=DESCRIPTION)
    p.add_argument("--node", required=True, metavar="NAME",
                   help="the Proxmox node name (GpuContainer's node_name); the node's hostname must equal it")
    p.add_argument("--ssh", required=True, metavar="USER@HOST[:PORT]",
                   help="where to log in, e.g. root@192.0.2.10 or root@[2001:db8::1]:2222 (port 22 by default)")
    p.add_argument("--out", type=Path, metavar="FILE",
                   help="where to write the facts (default: <project-dir>/stacks/facts/<NAME>.json)")
    p.add_argument("--identity", type=Path, metavar="FILE",
                   help="SSH private key (default: PROXMOX_VE_SSH_PRIVATE_KEY, the ssh-agent, then ~/.ssh/id_*)")
    p.add_argument("--allow-hostname-mismatch", action="store_true",
                   help="write the facts even when the node's hostname is not NAME (synthesis will still "
                        "refuse them for node_name=NAME)")
    add_project_dir_argument(p)
    return p


def run(args: argparse.Namespace, environ: Mapping[str, str], parser: argparse.ArgumentParser) -> int:
    from . import facts  # the collector run (SSH, the facts loader, the model's validation) loads only here

    return facts.run(args, environ)
