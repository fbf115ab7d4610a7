"""`pve-gpu-lxc image definition|build`: the NVIDIA image definition, and building it.

The subcommand's arguments and what it runs; `main.py` owns the one parser and the exit
policy (`exit_codes.py`): 0 done, 1 an error (a usage error too).
"""

from __future__ import annotations

import argparse
import sys

from ..core.errors import ValidationError
from ..core.files import sha256_file
from ..facts import HostFacts
from ..image import BuildToolsMissing, ImageBuildFailed, NvidiaImage, build
from ..image.nvidia import DebianNvidiaPackages, NvidiaRunFile
from .exit_codes import EXIT_ERROR, EXIT_OK


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
    except (ValidationError, BuildToolsMissing, ImageBuildFailed) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_ERROR
    print(f"built {target}\nsha256 {sha256_file(target)}\n"
          f"upload it with Template.upload('{target}', checksum='<sha256 above>')")
    return EXIT_OK

