"""The options every command that reads synthesized stacks shares (drift, check, explain, facts)."""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping
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


def synth_outdir(args: argparse.Namespace, environ: Mapping[str, str]) -> Path:
    """The synthesis output, resolved: --outdir (relative to the working directory), else
    $CDKTF_OUTDIR or cdktf.out relative to --project-dir, where `main.py` (and cdktf) run."""
    if args.outdir is not None:
        return Path(args.outdir).resolve()
    return (Path(args.project_dir).resolve() / (environ.get("CDKTF_OUTDIR") or "cdktf.out")).resolve()


def parse_facts_options(items: Iterable[str]) -> dict[str, Path]:
    """Repeated `--facts NODE=FILE` as {node: resolved path}; ValueError names a malformed one."""
    facts: dict[str, Path] = {}
    for item in items:
        node, sep, path = item.partition("=")
        if not sep or not node or not path:
            raise ValueError(f"--facts {item!r} is not NODE=FILE")
        facts[node] = Path(path).resolve()
    return facts
