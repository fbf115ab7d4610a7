"""distrobuilder definitions for LXC images with NVIDIA userspace pinned to the host driver.

Inside a container, libcuda/libnvidia-ml must be the EXACT version of the host's kernel
module ("Driver/library version mismatch" otherwise), so the image is built for one
driver version, and that version is in the image's variant, name and file name.  The
build also creates the ``video`` and ``render`` groups with known GIDs, so the
container-side GIDs that devN ``gid=`` needs are known without reading the rootfs.

`NvidiaImage` is pure (definition -> YAML).  `main` is the command line: it writes the
definition and, where distrobuilder is installed, builds it:

    python -m pve_gpu_lxc.image build --facts stacks/facts/pve.json \\
        --source-url https://images.linuxcontainers.org/images/ubuntu/noble/amd64/default/<build>/rootfs.tar.xz \\
        --out-dir build/image
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import yaml

from ..core.errors import ValidationError
from ..facts.model import HostFacts, validate_driver_version

LINUXCONTAINERS_IMAGES = "https://images.linuxcontainers.org/images"
NVIDIA_DOWNLOADS = "https://us.download.nvidia.com/XFree86"
# distrobuilder architecture -> the machine name NVIDIA uses in run-file names and URLs
NVIDIA_ARCHES = {"amd64": "x86_64", "x86_64": "x86_64", "arm64": "aarch64", "aarch64": "aarch64"}
RUN_FILE_OPTIONS = ("--no-kernel-modules", "--no-systemd", "-s")
MARKER_FILE = "/etc/pve-gpu-lxc/nvidia-driver-version"

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.:=~-]{0,127}$")
_BUILD = re.compile(r"^\d{8}_\d{2}:\d{2}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_URL = re.compile(r"^(https?://[A-Za-z0-9.-]+(:\d+)?|file://)/[A-Za-z0-9._~:/+%@-]*$")
# pongo2 (distrobuilder templates actions and files) would interpret these
_PONGO = ("{{", "{%", "{#")


def linuxcontainers_rootfs_url(
    distribution: str, release: str, architecture: str, build: str, variant: str = "default"
) -> str:
    """``rootfs.tar.xz`` of one build on images.linuxcontainers.org (builds are ``YYYYMMDD_HH:MM``)."""
    for value, what in ((distribution, "distribution"), (release, "release"), (architecture, "architecture"),
                        (variant, "variant")):
        _check_name(value, what)
    if not _BUILD.fullmatch(build):
        raise ValidationError(
            f"build {build!r} is not an images.linuxcontainers.org build; expected 'YYYYMMDD_HH:MM' as listed "
            f"under {LINUXCONTAINERS_IMAGES}/{distribution}/{release}/{architecture}/{variant}/"
        )
    return f"{LINUXCONTAINERS_IMAGES}/{distribution}/{release}/{architecture}/{variant}/{build}/rootfs.tar.xz"


def _check_name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ValidationError(
            f"{what} {value!r} is not allowed; use lower-case letters, digits and . _ - (e.g. 'ubuntu', 'noble', 'amd64')"
        )
    return value


def _check_gid(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65_535:
        raise ValidationError(f"{what} must be an integer in 1..65535 (a GID inside the container), got {value!r}")
    return value


@dataclass(frozen=True, kw_only=True)
class NvidiaImage:
    """An LXC image with the NVIDIA userspace of exactly ``nvidia_driver`` (no kernel modules)."""

    nvidia_driver: str
    source_url: str  # rootfs.tar.xz: images.linuxcontainers.org URL or file:///path
    distribution: str = "ubuntu"
    release: str = "noble"
    architecture: str = "amd64"
    packages: tuple[str, ...] = ("ca-certificates", "wget")
    package_manager: str = "apt"
    video_gid: int = 44  # Debian/Ubuntu base-passwd static value
    render_gid: int = 993  # Ubuntu 24.04's value; any free GID works, it only has to be known
    run_file_sha256: str | None = None  # checked before the run file is executed, when given

    def __post_init__(self) -> None:
        validate_driver_version(self.nvidia_driver)
        if not isinstance(self.source_url, str) or not _URL.fullmatch(self.source_url):
            raise ValidationError(
                f"source_url {self.source_url!r} is not a rootfs URL; use an http(s):// URL such as "
                f"{LINUXCONTAINERS_IMAGES}/ubuntu/noble/amd64/default/<build>/rootfs.tar.xz "
                "or file:///path/to/rootfs.tar.xz (no spaces or quotes)"
            )
        for value, what in ((self.distribution, "distribution"), (self.release, "release"),
                            (self.architecture, "architecture"), (self.package_manager, "package_manager")):
            _check_name(value, what)
        if self.architecture not in NVIDIA_ARCHES:
            raise ValidationError(
                f"architecture {self.architecture!r} has no NVIDIA Linux driver; allowed: {', '.join(NVIDIA_ARCHES)}"
            )
        if isinstance(self.packages, str) or not all(isinstance(p, str) and _PACKAGE.fullmatch(p) for p in self.packages):
            raise ValidationError(f"packages must be a tuple of package names like ('wget',), got {self.packages!r}")
        _check_gid(self.video_gid, "video_gid")
        _check_gid(self.render_gid, "render_gid")
        if self.video_gid == self.render_gid:
            raise ValidationError(f"video_gid and render_gid are both {self.video_gid}; they must be different groups")
        if self.run_file_sha256 is not None and not _SHA256.fullmatch(str(self.run_file_sha256)):
            raise ValidationError(
                f"run_file_sha256 {self.run_file_sha256!r} is not a sha256 hex digest (64 lower-case hex digits)"
            )

    # ---------------------------------------------------------------- names

    @property
    def variant(self) -> str:
        return f"nvidia-{self.nvidia_driver}"

    @property
    def name(self) -> str:
        return f"{self.distribution}-{self.release}-{self.architecture}-{self.variant}"

    @property
    def template_file_name(self) -> str:
        """File name for the node's vztmpl storage (pveam style, driver version included)."""
        return f"{self.distribution}-{self.release}-{self.variant}_{self.architecture}.tar.xz"

    @property
    def run_file(self) -> str:
        return f"NVIDIA-Linux-{NVIDIA_ARCHES[self.architecture]}-{self.nvidia_driver}.run"

    @property
    def run_file_url(self) -> str:
        return f"{NVIDIA_DOWNLOADS}/Linux-{NVIDIA_ARCHES[self.architecture]}/{self.nvidia_driver}/{self.run_file}"

    # ---------------------------------------------------------------- definition

    def groups_script(self) -> str:
        """Create or renumber video/render to the known GIDs; refuse a GID owned by another group."""
        return "\n".join([
            "#!/bin/sh",
            "# video/render with known GIDs, so devN gid= values are known (pve-gpu-lxc).",
            "set -eu",
            "ensure_group() {",
            '    owner=$(getent group "$2" | cut -d: -f1)',
            '    if [ -n "$owner" ] && [ "$owner" != "$1" ]; then',
            '        echo "GID $2 is taken by group $owner; choose another ${1}_gid" >&2',
            "        exit 1",
            "    fi",
            '    current=$(getent group "$1" | cut -d: -f3)',
            '    if [ -z "$current" ]; then',
            '        groupadd --system --gid "$2" "$1"',
            '    elif [ "$current" != "$2" ]; then',
            '        groupmod --gid "$2" "$1"',
            "    fi",
            "}",
            f"ensure_group video {self.video_gid}",
            f"ensure_group render {self.render_gid}",
            "",
        ])

    def nvidia_script(self) -> str:
        """Download the exact run file and install its userspace (the host owns the kernel modules)."""
        checksum = (
            [f"echo '{self.run_file_sha256}  /tmp/nvidia.run' | sha256sum -c -"] if self.run_file_sha256 else []
        )
        return "\n".join([
            "#!/bin/sh",
            f"# NVIDIA userspace {self.nvidia_driver}: must equal the host's /proc/driver/nvidia/version.",
            "set -eu",
            f"wget -q -O /tmp/nvidia.run '{self.run_file_url}'",
            *checksum,
            f"sh /tmp/nvidia.run {' '.join(RUN_FILE_OPTIONS)}",
            "rm -f /tmp/nvidia.run",
            f"if ! ls /usr/lib/*/libnvidia-ml.so.{self.nvidia_driver} /usr/lib64/libnvidia-ml.so.{self.nvidia_driver} "
            ">/dev/null 2>&1; then",
            f"    echo 'libnvidia-ml.so.{self.nvidia_driver} was not installed' >&2",
            "    exit 1",
            "fi",
            "",
        ])

    def definition(self) -> dict[str, Any]:
        """The distrobuilder image definition (sections: image, source, packages, files, actions)."""
        definition = {
            "image": {
                "distribution": self.distribution,
                "release": self.release,
                "architecture": self.architecture,
                "variant": self.variant,
                "name": self.name,
                "description": (
                    f"{self.distribution} {self.release} with NVIDIA userspace {self.nvidia_driver} "
                    f"(no kernel modules; video={self.video_gid}, render={self.render_gid})"
                ),
            },
            "source": {"downloader": "rootfs-http", "url": self.source_url},
            "packages": {
                "manager": self.package_manager,
                "update": True,
                "cleanup": True,
                "sets": [{"packages": list(self.packages), "action": "install"}],
            },
            "files": [
                # Proxmox leaves /etc/resolv.conf alone when this marker exists
                {"generator": "dump", "path": "/etc/.pve-ignore.resolv.conf", "content": "", "mode": "0644",
                 "uid": "0", "gid": "0"},
                {"generator": "dump", "path": MARKER_FILE, "content": f"{self.nvidia_driver}\n", "mode": "0644",
                 "uid": "0", "gid": "0"},
            ],
            "actions": [
                {"trigger": "post-packages", "action": self.groups_script()},
                {"trigger": "post-packages", "action": self.nvidia_script()},
            ],
        }
        _refuse_pongo(definition)
        return definition

    def to_yaml(self) -> str:
        return yaml.dump(self.definition(), Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1000)


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the action scripts) as readable ``|`` blocks."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)


def _refuse_pongo(value: Any) -> None:
    """Values that pongo2 would expand must not reach distrobuilder (they come from validated input)."""
    if isinstance(value, dict):
        for item in value.values():
            _refuse_pongo(item)
    elif isinstance(value, list):
        for item in value:
            _refuse_pongo(item)
    elif isinstance(value, str) and any(marker in value for marker in _PONGO):
        raise ValidationError(f"image definition value {value!r} contains a pongo2 delimiter")


# --------------------------------------------------------------------------- building (I/O)


class BuildToolsMissing(RuntimeError):
    """The machine cannot run distrobuilder; the message says what to install and what to run."""


def check_build_tools(
    definition_path: Path, out_dir: Path, which: Callable[[str], str | None] = shutil.which,
    euid: Callable[[], int] = os.geteuid,
) -> list[str]:
    """The distrobuilder command line, or BuildToolsMissing explaining what is missing here."""
    command = ["distrobuilder", "build-lxc", str(definition_path), str(out_dir)]
    problems = []
    if which("distrobuilder") is None:
        problems.append(
            "distrobuilder is not installed (not found on PATH); install it with `apt install distrobuilder` "
            "(Debian 13 and later) or `snap install distrobuilder --classic`"
        )
    if euid() != 0:
        problems.append("distrobuilder must run as root (it unpacks a rootfs and chroots into it)")
    if problems:
        raise BuildToolsMissing(
            "cannot build the image on this machine: " + "; ".join(problems) + ". The definition is written to "
            f"{definition_path}; build it on a machine that has distrobuilder with: sudo {' '.join(command)}"
        )
    return command


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build(image: NvidiaImage, out_dir: Path, run: Callable[..., Any] = subprocess.run,
          which: Callable[[str], str | None] = shutil.which, euid: Callable[[], int] = os.geteuid) -> Path:
    """Write the definition, run distrobuilder build-lxc, name the rootfs after the image."""
    out_dir.mkdir(parents=True, exist_ok=True)
    definition_path = out_dir / f"{image.name}.yaml"
    definition_path.write_text(image.to_yaml(), encoding="utf-8")
    command = check_build_tools(definition_path, out_dir, which, euid)
    run(command, check=True)
    rootfs = out_dir / "rootfs.tar.xz"
    if not rootfs.exists():
        raise RuntimeError(f"distrobuilder finished but {rootfs} is missing; see its output above")
    target = out_dir / image.template_file_name
    rootfs.replace(target)
    return target


def _image_from_args(args: argparse.Namespace) -> NvidiaImage:
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
    return NvidiaImage(
        nvidia_driver=driver, source_url=args.source_url, distribution=args.distribution, release=args.release,
        architecture=args.architecture, video_gid=args.video_gid, render_gid=args.render_gid,
        run_file_sha256=args.run_file_sha256,
    )


def _parser(prog: str = "python -m pve_gpu_lxc.image") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("definition", "print the distrobuilder YAML"),
                            ("build", "write the YAML and run distrobuilder build-lxc")):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("--facts", help="host facts file; its NVIDIA driver version is used")
        cmd.add_argument("--driver", help="NVIDIA driver version, e.g. 575.64.03 (when no --facts)")
        cmd.add_argument("--source-url", required=True, help="rootfs.tar.xz URL or file:///path")
        cmd.add_argument("--distribution", default="ubuntu")
        cmd.add_argument("--release", default="noble")
        cmd.add_argument("--architecture", default="amd64")
        cmd.add_argument("--video-gid", type=int, default=44)
        cmd.add_argument("--render-gid", type=int, default=993)
        cmd.add_argument("--run-file-sha256", help="expected sha256 of the NVIDIA .run file")
        if name == "build":
            cmd.add_argument("--out-dir", type=Path, required=True)
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "python -m pve_gpu_lxc.image") -> int:
    args = _parser(prog).parse_args(argv)
    try:
        image = _image_from_args(args)
        if args.command == "definition":
            sys.stdout.write(image.to_yaml())
            return 0
        target = build(image, args.out_dir)
    except (ValidationError, BuildToolsMissing) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1  # as the drift command: 1 is an error (2 would read as "drift" in a pipeline)
    print(f"built {target}\nsha256 {sha256_file(target)}\n"
          f"upload it with Template.upload(..., source_file='{target}', checksum='<sha256 above>')")
    return 0


if __name__ == "__main__":
    sys.exit(main())
