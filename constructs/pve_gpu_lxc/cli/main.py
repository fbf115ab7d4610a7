"""Command line: `pve-gpu-lxc drift|check|explain|facts|host-setup|image ...` (also `python -m pve_gpu_lxc ...`).

One parser for every command and one exit policy (`exit_codes.py`): 0 ok, 1 error (usage
errors included), 2 drift or a finding, 3 destructive.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NoReturn

from . import drift, explain_command, facts_command, host_setup_command, image_command
from .check import command as check_command
from .exit_codes import EXIT_USAGE
from .project_args import add_project_arguments, synth_outdir


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on a usage error, which a pipeline would read as drift: the policy says 1."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pve-gpu-lxc",
        description=(
            "Tools around the pve-gpu-lxc CDKTF app. Exit codes, for every command: 0 ok, 1 error "
            "(usage errors too), 2 drift or a finding, 3 a destructive plan."
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)
    p = sub.add_parser(
        "drift",
        help="show what changed on the Proxmox node since the last apply (or, with --plan, what an apply would do)",
        description=(
            "Synthesize when needed, then run `terraform plan -refresh-only -detailed-exitcode` "
            "(or OpenTofu's `tofu plan ...`) in every synthesized stack and summarise it. "
            "Exit codes: 0 clean, 2 drift (or, with --plan, pending changes), "
            "3 --plan would replace or destroy a GPU container (pass --allow-replace to accept), 1 error."
        ),
    )
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
    check_command.add_parser(sub)
    explain_command.add_parser(sub)
    facts_command.add_parser(sub)
    host_setup_command.add_parser(sub)
    image_command.add_arguments(sub.add_parser("image", help=image_command.HELP, description=image_command.HELP),
                                _Parser)
    return parser


def drift_options(args: argparse.Namespace, environ: Mapping[str, str]) -> drift.DriftOptions:
    return drift.DriftOptions(
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


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """The console script `pve-gpu-lxc`; returns the exit code (a usage error exits 1 at once)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    env = os.environ if environ is None else environ
    if args.command == "image":
        return image_command.run(args)
    if args.command == "explain":
        return explain_command.run(args, env)
    if args.command == "check":
        return check_command.run(args, env, parser)
    if args.command == "facts":
        return facts_command.run(args, env)
    if args.command == "host-setup":
        return host_setup_command.run(args, env)
    if args.allow_replace and not args.plan:
        parser.error("--allow-replace only applies with --plan")
    return drift.run_drift(drift_options(args, env))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
