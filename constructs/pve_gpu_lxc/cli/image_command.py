"""`pve-gpu-lxc image`: its arguments (the CLI wiring calls these); the work is in `image.py`,
loaded only when the command runs, so other commands do not pay for its imports."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

NAME = "image"
HELP = "print or build the NVIDIA distrobuilder image definition"


def add_parser(sub: argparse._SubParsersAction[Any]) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(NAME, help=HELP, description=HELP)
    actions = p.add_subparsers(dest="image_command", required=True, metavar="ACTION", parser_class=type(p))
    for name, help_text in (("definition", "print the distrobuilder YAML"),
                            ("build", "write the YAML and run distrobuilder build-lxc")):
        cmd = actions.add_parser(name, help=help_text, description=help_text)
        cmd.add_argument("--facts", help="host facts file; its NVIDIA driver version is used")
        cmd.add_argument("--driver", help="NVIDIA driver version, e.g. 575.64.03 (when no --facts)")
        cmd.add_argument("--source-url", required=True, help="rootfs.tar.xz URL or file:///path")
        cmd.add_argument("--distribution", default="ubuntu")
        cmd.add_argument("--release", default="noble")
        cmd.add_argument("--architecture", default="amd64")
        cmd.add_argument("--video-gid", type=int, default=44)
        cmd.add_argument("--render-gid", type=int, default=993)
        cmd.add_argument("--run-file-sha256", help="expected sha256 of the NVIDIA .run file")
        cmd.add_argument("--run-file-url", help="the .run file: an https:// mirror or file:///path (default: NVIDIA's)")
        cmd.add_argument("--debian-packages", metavar="VERSION",
                         help="install Debian's non-free NVIDIA packages pinned to VERSION (e.g. 535.261.03-1) "
                              "instead of the .run file (--distribution debian)")
        if name == "build":
            cmd.add_argument("--out-dir", type=Path, required=True)
    return p


def run(args: argparse.Namespace, environ: Mapping[str, str], parser: argparse.ArgumentParser) -> int:
    from . import image  # the image definition and build load only when `image` runs

    return image.run(args)
