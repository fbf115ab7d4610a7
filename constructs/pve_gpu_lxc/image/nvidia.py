"""distrobuilder definitions for LXC images with NVIDIA userspace pinned to the host driver.

Inside a container, libcuda/libnvidia-ml must be the EXACT version of the host's kernel
module ("Driver/library version mismatch" otherwise), so the image is built for one
driver version, and that version is in the image's variant, name and file name.  The
build also creates the ``video`` and ``render`` groups with known GIDs, so the
container-side GIDs that devN ``gid=`` needs are known without reading the rootfs.

`NvidiaImage` is pure (definition -> YAML); `build.py` runs distrobuilder on it, and the
command line (`pve-gpu-lxc image definition|build`, in `cli/image.py`) drives both:

    pve-gpu-lxc image build --facts stacks/facts/pve.json \\
        --source-url https://images.linuxcontainers.org/images/ubuntu/noble/amd64/default/<build>/rootfs.tar.xz \\
        --out-dir build/image
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from ..core.errors import ValidationError
from ..core.rules import driver_version, got

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


def _check_name(value: object, what: str) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ValidationError(
            f"{what} {value!r} is not allowed; use lower-case letters, digits and . _ - "
            "(e.g. 'ubuntu', 'noble', 'amd64')"
        )
    return value


def _check_gid(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65_535:
        raise ValidationError(f"{what} must be an integer in 1..65535 (a GID inside the container), got {got(value)}")
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
        driver_version(self.nvidia_driver)
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
        if not isinstance(self.packages, (list, tuple)) or not all(
                isinstance(p, str) and _PACKAGE.fullmatch(p) for p in self.packages):
            raise ValidationError(f"packages must be a tuple of package names like ('wget',), got {got(self.packages)}")
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
