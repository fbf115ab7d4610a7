"""Command line: `pve-gpu-lxc drift|check|explain|facts|host-setup|image ...` (also `python -m pve_gpu_lxc ...`).

One parser for every command and one exit policy (`exit_codes.py`): 0 ok, 1 error (usage
errors included), 2 drift or a finding, 3 destructive.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from typing import NoReturn

from . import drift_command, explain_command, facts_command, host_setup_command, image_command
from .check import command as check_command
from .exit_codes import EXIT_USAGE

# Every command is a module with NAME, add_parser(sub) and run(args, environ, parser); its work
# loads only when it runs, so `drift` in a pipeline does not pay for `explain` or `check`.
COMMANDS = (drift_command, check_command, explain_command, facts_command, host_setup_command, image_command)


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
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """The console script `pve-gpu-lxc`; returns the exit code (a usage error exits 1 at once)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    env = os.environ if environ is None else environ
    command = next(c for c in COMMANDS if c.NAME == args.command)
    code: int = command.run(args, env, parser)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
