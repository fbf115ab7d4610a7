"""`pve-gpu-lxc drift`: its arguments (the CLI wiring calls these); the work is in `drift.py`,
loaded only when the command runs."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .project_args import add_project_arguments, synth_outdir

if TYPE_CHECKING:
    from .drift import DriftOptions

NAME = "drift"
HELP = "show what changed on the Proxmox node since the last apply (or, with --plan, what an apply would do)"
DESCRIPTION = (
    "Synthesize when needed, then run `terraform plan -refresh-only -detailed-exitcode` "
    "(or OpenTofu's `tofu plan ...`) in every synthesized stack and summarise it. "
    "Exit codes: 0 clean, 2 drift (or, with --plan, pending changes), "
    "3 --plan would replace or destroy a GPU container (pass --allow-replace to accept), 1 error."
)


def add_parser(sub: argparse._SubParsersAction[Any]) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(NAME, help=HELP, description=DESCRIPTION)
    p.add_argument("--stack", action="append", default=[], metavar="NAME",
                   help="check only this stack (repeatable; default: every synthesized stack)")
    p.add_argument("--plan", action="store_true",
                   help="normal plan: also show configuration changes not applied yet")
    p.add_argument("--allow-replace", action="store_true",
                   help="with --plan: do not fail (exit 3) when a container would be replaced or destroyed")
    p.add_argument("--json", type=Path, metavar="FILE", dest="json_path",
                   help="also write a machine-readable report to FILE")
    p.add_argument("--plan-dir", type=Path, metavar="DIR",
                   help="keep the plan files as DIR/<stack>.tfplan (for `terraform apply <file>`)")
    add_project_arguments(p)
    p.add_argument("--terraform", default=None, metavar="PATH",
                   help="terraform or tofu executable, a name on PATH or a path (default: "
                        "$TERRAFORM_BINARY_NAME, else `terraform` on PATH, else `tofu` on PATH)")
    p.add_argument("--lock-timeout", metavar="DURATION",
                   help="wait this long for a state lock held by someone else (e.g. 60s)")
    p.add_argument("--live", action="store_true",
                   help="after the refresh, also run `pve-gpu-lxc check` on the same stacks "
                        "(what Terraform cannot see)")
    return p


def drift_options(args: argparse.Namespace, environ: Mapping[str, str]) -> DriftOptions:
    from .drift import DriftOptions

    return DriftOptions(
        project_dir=args.project_dir.resolve(),
        outdir=synth_outdir(args, environ),
        stacks=tuple(args.stack),
        mode="plan" if args.plan else "drift",
        allow_replace=args.allow_replace,
        synth=args.synth,
        json_path=args.json_path.resolve() if args.json_path else None,
        plan_dir=args.plan_dir.resolve() if args.plan_dir else None,
        terraform=args.terraform,  # None: drift.find_terraform picks from the environment
        lock_timeout=args.lock_timeout,
        live=args.live,
        environ=dict(environ),
    )


def run(args: argparse.Namespace, environ: Mapping[str, str], parser: argparse.ArgumentParser) -> int:
    if args.allow_replace and not args.plan:
        parser.error("--allow-replace only applies with --plan")
    from .drift import run_drift  # terraform's plan and its report load only when `drift` runs

    return run_drift(drift_options(args, environ))
