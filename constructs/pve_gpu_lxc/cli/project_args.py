"""The options every command that reads synthesized stacks shares (drift, check)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_project_arguments(p: argparse.ArgumentParser) -> None:
    """--no-synth/--synth, --project-dir and --outdir, with one meaning for every command."""
    synth = p.add_mutually_exclusive_group()
    synth.add_argument("--no-synth", dest="synth", action="store_const", const="never",
                       help="use cdktf.out as it is")
    synth.add_argument("--synth", dest="synth", action="store_const", const="always",
                       help="synthesize even when cdktf.out looks current")
    p.set_defaults(synth="auto")
    add_project_dir_argument(p)
    p.add_argument("--outdir", type=Path, metavar="DIR",
                   help="synthesis output (default: $CDKTF_OUTDIR or <project-dir>/cdktf.out)")


def add_project_dir_argument(p: argparse.ArgumentParser) -> None:
    """--project-dir alone, for commands that read or write the project but never synthesize (facts)."""
    p.add_argument("--project-dir", type=Path, default=Path("."), metavar="DIR",
                   help="the CDKTF project: its cdktf.json names the app command that synthesizes "
                        "(default: current directory)")
