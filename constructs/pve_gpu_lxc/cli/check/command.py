"""`pve-gpu-lxc check [STACK...]`: its arguments and options (the CLI wiring calls these)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..project_args import add_project_arguments, parse_facts_options, synth_outdir

if TYPE_CHECKING:
    from .runner import CheckOptions


NAME = "check"
DESCRIPTION = (
    "Read-only live check of every GPU container in the synthesized stacks against the node: devN, "
    "raw lxc.idmap and /etc/subuid+subgid, the hookscript's content and mode, the passed device nodes "
    "(against the host facts), and inside running containers the render/video GIDs and nodes; for "
    "NVIDIA the host driver against the pinned version. One Proxmox API request per container (plus "
    "the login) and one SSH session per node, with bpg's PROXMOX_VE_* settings. Exit codes: 0 clean, "
    "2 at least one finding, 1 an error."
)


def add_parser(sub: argparse._SubParsersAction[Any]) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        NAME, help="check the GPU containers on the node, live and read-only (what Terraform cannot see)",
        description=DESCRIPTION)
    p.add_argument("stacks", nargs="*", metavar="STACK", help="stacks to check (default: every synthesized stack)")
    p.add_argument("--json", type=Path, metavar="FILE", dest="json_path",
                   help="also write a machine-readable report to FILE")
    p.add_argument("--facts", action="append", default=[], metavar="NODE=FILE",
                   help="host facts of NODE (repeatable; default: <project-dir>/stacks/facts/<node>.json "
                        "when it exists)")
    add_project_arguments(p)
    return p


def options_from_args(args: argparse.Namespace, environ: Mapping[str, str]) -> CheckOptions:
    from .runner import CheckOptions  # the runner (API, SSH, compare) loads only when `check` runs

    return CheckOptions(
        project_dir=args.project_dir.resolve(),
        outdir=synth_outdir(args, environ),
        stacks=tuple(args.stacks),
        synth=args.synth,
        json_path=args.json_path.resolve() if args.json_path else None,
        facts=parse_facts_options(args.facts),
        environ=dict(environ),
    )


def run(args: argparse.Namespace, environ: Mapping[str, str], parser: argparse.ArgumentParser) -> int:
    try:
        options = options_from_args(args, environ)
    except ValueError as err:
        parser.error(str(err))
    from .runner import run_check

    return run_check(options)
