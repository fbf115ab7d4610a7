"""`pve-gpu-lxc explain`: its arguments (the CLI wiring calls these); the work is in `explain.py`,
loaded only when the command runs, so other commands do not pay for its imports."""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..pve.version import DEFAULT_PVE_VERSION
from .project_args import add_project_arguments

NAME = "explain"
HELP = "show what an apply puts on the node for each GPU container: conf file, subuid/subgid, devices, idmap"
DESCRIPTION = (
    "For each GPU container of the synthesized stacks: /etc/pve/lxc/<vmid>.conf as Proxmox VE will "
    "write it after `terraform apply` (bpg/proxmox 0.111.1, PVE >= 9.1), the /etc/subuid and "
    "/etc/subgid lines to add, which host device each devN is (major:minor from the host facts) "
    "and the idmap as a table; --svg draws the idmap of one container. Reads only the synthesized "
    "JSON: no node, no Terraform. Exit codes: 0 ok, 1 error."
)


def add_parser(sub: argparse._SubParsersAction[Any]) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(NAME, help=HELP, description=DESCRIPTION)
    p.add_argument("targets", nargs="*", metavar="STACK[/CONTAINER]",
                   help="stacks or one container of a stack (default: every synthesized stack)")
    p.add_argument("--svg", type=Path, metavar="FILE",
                   help="draw the idmap of the one selected container into FILE")
    p.add_argument("--json", type=Path, metavar="FILE", dest="json_path",
                   help="also write everything shown as JSON to FILE")
    p.add_argument("--facts", action="append", default=[], metavar="NODE=FILE",
                   help="host facts of NODE for the devices' major:minor (repeatable; default: "
                        "<project-dir>/stacks/facts/<node>.json when it exists)")
    p.add_argument("--pve-version", metavar="X.Y", type=_version,
                   help="the node's Proxmox VE version (bpg sends a NIC's host-managed flag only to 9.1 and "
                        f"later; default: the host facts' pve_version, else {DEFAULT_PVE_VERSION[0]}."
                        f"{DEFAULT_PVE_VERSION[1]})")
    add_project_arguments(p)
    return p


def _version(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)\.(\d+)(?:\.\d+)?", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a version like 9.1")
    return int(match.group(1)), int(match.group(2))


def run(args: argparse.Namespace, environ: Mapping[str, str], parser: argparse.ArgumentParser) -> int:
    from . import explain  # the explanation (model, pve) loads only when `explain` runs

    return explain.run(args, environ)
