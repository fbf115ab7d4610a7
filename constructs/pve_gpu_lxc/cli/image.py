"""`pve-gpu-lxc image definition|build`: the NVIDIA image definition, and building it.

The subcommand's arguments and what it runs; `main.py` owns the one parser and the exit
policy (`exit_codes.py`): 0 done, 1 an error (a usage error too).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ..core.errors import ValidationError
from ..core.files import sha256_file
from ..facts import HostFacts
from ..image import BuildToolsMissing, NvidiaImage, build
from ..image.nvidia import DebianNvidiaPackages, NvidiaRunFile
from .exit_codes import EXIT_ERROR, EXIT_OK

HELP = "print or build the NVIDIA distrobuilder image definition"


def add_arguments(parser: argparse.ArgumentParser, parser_class: type[argparse.ArgumentParser]) -> None:
    """The `image` subcommands on the one parser."""
    sub = parser.add_subparsers(dest="image_command", required=True, metavar="ACTION", parser_class=parser_class)
    for name, help_text in (("definition", "print the distrobuilder YAML"),
                            ("build", "write the YAML and run distrobuilder build-lxc")):
        cmd = sub.add_parser(name, help=help_text, description=help_text)
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


def image_from_args(args: argparse.Namespace) -> NvidiaImage:
    driver = args.driver
    if args.facts:
        recorded = HostFacts.load(args.facts).nvidia_driver_version
        if recorded is None:
            raise ValidationError(f"{args.facts} records no NVIDIA driver (no /proc/driver/nvidia/version on the node)")
        if driver and driver != recorded:
            raise ValidationError(
                f"--driver {driver} differs from the driver recorded in {args.facts} ({recorded}); "
                "the image must match the host, so drop --driver or re-record the facts"
            )
        driver = recorded
    if not driver:
        raise ValidationError("give --facts stacks/facts/<node>.json or --driver <version>")
    userspace: NvidiaRunFile | DebianNvidiaPackages
    if args.debian_packages:
        if args.run_file_url or args.run_file_sha256:
            raise ValidationError("--debian-packages installs no run file; drop --run-file-url/--run-file-sha256")
        userspace = DebianNvidiaPackages(version=args.debian_packages)
    else:
        userspace = NvidiaRunFile(url=args.run_file_url)
    return NvidiaImage(
        nvidia_driver=driver, source_url=args.source_url, distribution=args.distribution, release=args.release,
        architecture=args.architecture, video_gid=args.video_gid, render_gid=args.render_gid,
        run_file_sha256=args.run_file_sha256, userspace=userspace,
    )


def run(args: argparse.Namespace) -> int:
    try:
        image = image_from_args(args)
        if args.image_command == "definition":
            sys.stdout.write(image.to_yaml())
            return EXIT_OK
        target = build(image, args.out_dir)
    except (ValidationError, BuildToolsMissing) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_ERROR
    print(f"built {target}\nsha256 {sha256_file(target)}\n"
          f"upload it with Template.upload('{target}', checksum='<sha256 above>')")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """`pve-gpu-lxc image ARGV...` as a function (the same parser and exit policy)."""
    from .main import main as cli_main

    return cli_main(["image", *(sys.argv[1:] if argv is None else argv)])
