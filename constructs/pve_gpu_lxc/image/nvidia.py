"""distrobuilder definitions for LXC images with NVIDIA userspace pinned to the host driver.

Inside a container, libcuda/libnvidia-ml must be the EXACT version of the host's kernel
module ("Driver/library version mismatch" otherwise), so the image is built for one
driver version, and that version is in the image's variant, name and file name.  The
build also creates the ``video`` and ``render`` groups with known GIDs, so the
container-side GIDs that devN ``gid=`` needs are known without reading the rootfs.

The userspace comes from one of two sources (``NvidiaImage.userspace``):

* `NvidiaRunFile` (default): NVIDIA's ``.run`` installer, run with ``--no-kernel-modules``
  (https:// from NVIDIA or a mirror, or file:///path on the build machine);
* `DebianNvidiaPackages`: Debian's packaged libraries from non-free, pinned to one exact
  package version (``libcuda1=535.261.03-1 libnvidia-ml1=... nvidia-smi=...``), for hosts that
  run Debian's driver packages.

`NvidiaImage` is pure (definition -> YAML); `build.py` runs distrobuilder on it, and the
command line (`pve-gpu-lxc image definition|build`, in `cli/image.py`) drives both:

    pve-gpu-lxc image build --facts stacks/facts/pve.json \\
        --source-url https://images.linuxcontainers.org/images/ubuntu/noble/amd64/default/<build>/rootfs.tar.xz \\
        --out-dir build/image
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
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
# a file:// run file is copied into the rootfs here by distrobuilder's `copy` generator
# (actions run in a chroot that cannot see the build machine; /tmp is a fresh tmpfs there)
STAGED_RUN_FILE = "/var/lib/pve-gpu-lxc/nvidia.run"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_SECURITY_MIRROR = "http://deb.debian.org/debian-security"
DEBIAN_NVIDIA_PACKAGES = ("libcuda1", "libnvidia-ml1", "nvidia-smi")
APT_PIN_FILE = "/etc/apt/preferences.d/pve-gpu-lxc-nvidia.pref"
# A build step that fails says so in one line of this form on stderr (distrobuilder's log keeps
# it), "<prefix>: <step>: <what happened> Fix: <what to do>"; `build.diagnose` reports the last one.
STEP_FAILED = "pve-gpu-lxc build step failed"
# the steps the action scripts name (the "package pin" is STEP_PINNED_INSTALL)
STEP_GROUPS = "video/render groups"
STEP_RUN_DOWNLOAD = "NVIDIA .run download"
STEP_RUN_CHECKSUM = "NVIDIA .run checksum"
STEP_RUN_INSTALL = "NVIDIA .run installer"
STEP_APT_UPDATE = "NVIDIA packages: apt-get update"
STEP_PINNED_INSTALL = "NVIDIA packages: pinned install"
STEP_PINNED_VERSION = "NVIDIA packages: installed versions"
STEP_LIBRARY = "NVIDIA userspace check"
STEPS = (STEP_GROUPS, STEP_RUN_DOWNLOAD, STEP_RUN_CHECKSUM, STEP_RUN_INSTALL, STEP_APT_UPDATE, STEP_PINNED_INSTALL,
         STEP_PINNED_VERSION, STEP_LIBRARY)
_DOWNLOAD_FIX = ("check the URL and the network of the build machine, or download it and give "
                 "NvidiaRunFile(url=file:///path/to/the.run)")
_STEP_FAILED_FUNCTION = (
    "step_failed() {",
    f'    echo "{STEP_FAILED}: $1: $2 Fix: $3" >&2',
    "    exit 1",
    "}",
)

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.:=~-]{0,127}$")
_BUILD = re.compile(r"^\d{8}_\d{2}:\d{2}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_URL = re.compile(r"^(https?://[A-Za-z0-9.-]+(:\d+)?|file://)/[A-Za-z0-9._~:/+%@-]*$")
_MIRROR = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d+)?(/[A-Za-z0-9._~/+%@-]*)?$")
_DEB_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]{0,127}$")
# [epoch:]upstream-revision; the upstream part must be the driver version
_DEB_VERSION = re.compile(r"^(?:(\d+):)?(\d+(?:\.\d+)+)-([0-9A-Za-z.+~]+)$")
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


def _q(text: str) -> str:
    """A shell word for the action scripts (the values in it are validated; quoting keeps it one word)."""
    return shlex.quote(text)


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
class NvidiaRunFile:
    """NVIDIA's ``.run`` installer, run with ``--no-kernel-modules --no-systemd -s``.

    url: None for NVIDIA's download server, an https:// mirror, or ``file:///path`` on the
      machine that runs distrobuilder (copied into the rootfs, then run by the same step).
    sha256: checked before the installer runs, when given.
    """

    url: str | None = None
    sha256: str | None = None

    def __post_init__(self) -> None:
        if self.url is not None and (not isinstance(self.url, str) or not _URL.fullmatch(self.url)
                                     or self.url.endswith("/")):
            raise ValidationError(
                f"NvidiaRunFile url {self.url!r} is not a run-file URL; use None (NVIDIA's server), an https:// "
                "URL or file:///path/to/NVIDIA-Linux-x86_64-<version>.run (no spaces or quotes)"
            )
        if self.sha256 is not None and not _SHA256.fullmatch(str(self.sha256)):
            raise ValidationError(
                f"NvidiaRunFile sha256 {self.sha256!r} is not a sha256 hex digest (64 lower-case hex digits)"
            )

    @property
    def is_local(self) -> bool:
        return self.url is not None and self.url.startswith("file://")


@dataclass(frozen=True, kw_only=True)
class DebianNvidiaPackages:
    """Debian's NVIDIA userspace from non-free, every package pinned to exactly ``version``.

    version: the Debian package version, e.g. ``535.261.03-1`` (``apt-cache policy libcuda1``
      on the host shows it); its upstream part must be the image's ``nvidia_driver``.
    packages: installed as ``<name>=<version>`` with ``--no-install-recommends`` (Debian's
      libcuda1 recommends the DKMS kernel module, which belongs to the host).  An apt pin
      (``/etc/apt/preferences.d/pve-gpu-lxc-nvidia.pref``) holds every package built from
      ``source_package`` at that exact version, dependencies included (``nvidia-alternative``,
      ...), also when -security has a newer driver, and keeps an ``apt upgrade`` in the
      container from moving the userspace away from the host's.
    mirror / security_mirror: where ``<release>``, ``<release>-updates`` and
      ``<release>-security`` contrib, non-free and non-free-firmware come from (the NVIDIA helper
      packages are in contrib; ``security_mirror=None`` leaves -security out).
    """

    version: str
    packages: tuple[str, ...] = DEBIAN_NVIDIA_PACKAGES
    source_package: str = "nvidia-graphics-drivers"  # Debian source of that driver branch (for the pin)
    mirror: str = DEBIAN_MIRROR
    security_mirror: str | None = DEBIAN_SECURITY_MIRROR

    def __post_init__(self) -> None:
        if not isinstance(self.version, str) or not _DEB_VERSION.fullmatch(self.version):
            raise ValidationError(
                f"DebianNvidiaPackages version {self.version!r} is not an exact Debian package version; "
                "expected e.g. '535.261.03-1' (apt-cache policy libcuda1 shows it)"
            )
        if (isinstance(self.packages, str) or not self.packages
                or not all(isinstance(p, str) and _DEB_NAME.fullmatch(p) for p in self.packages)):
            raise ValidationError(
                f"DebianNvidiaPackages packages must be a non-empty tuple of Debian package names without "
                f"versions, like {DEBIAN_NVIDIA_PACKAGES!r}; got {self.packages!r}"
            )
        if not isinstance(self.source_package, str) or not _DEB_NAME.fullmatch(self.source_package):
            raise ValidationError(
                f"DebianNvidiaPackages source_package {self.source_package!r} is not a Debian source package name "
                "(e.g. 'nvidia-graphics-drivers'; `apt-cache show libcuda1` names it under Source:)"
            )
        if "libnvidia-ml1" not in self.packages:
            raise ValidationError(
                f"DebianNvidiaPackages packages {self.packages!r} lack 'libnvidia-ml1'; the build checks that "
                "libnvidia-ml.so.<version> is installed, and nvidia-smi needs it"
            )
        for what, value in (("mirror", self.mirror), ("security_mirror", self.security_mirror)):
            if (value is not None or what == "mirror") and (not isinstance(value, str) or not _MIRROR.fullmatch(value)):
                raise ValidationError(
                    f"DebianNvidiaPackages {what} {value!r} is not an apt mirror URL; use e.g. {DEBIAN_MIRROR!r}"
                )

    @property
    def driver_version(self) -> str:
        """The upstream part of the package version: the NVIDIA driver it carries."""
        match = _DEB_VERSION.fullmatch(self.version)
        assert match is not None
        return match.group(2)

    def pinned(self) -> list[str]:
        return [f"{package}={self.version}" for package in self.packages]


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
    # where the userspace comes from: NVIDIA's .run (default) or Debian's pinned packages
    userspace: NvidiaRunFile | DebianNvidiaPackages = NvidiaRunFile()

    def __post_init__(self) -> None:
        driver_version(self.nvidia_driver)
        self._check_userspace()
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
        if isinstance(self.packages, str) or not all(
                isinstance(p, str) and _PACKAGE.fullmatch(p) for p in self.packages):
            raise ValidationError(f"packages must be a tuple of package names like ('wget',), got {self.packages!r}")
        _check_gid(self.video_gid, "video_gid")
        _check_gid(self.render_gid, "render_gid")
        if self.video_gid == self.render_gid:
            raise ValidationError(f"video_gid and render_gid are both {self.video_gid}; they must be different groups")
        if self.run_file_sha256 is not None and not _SHA256.fullmatch(str(self.run_file_sha256)):
            raise ValidationError(
                f"run_file_sha256 {self.run_file_sha256!r} is not a sha256 hex digest (64 lower-case hex digits)"
            )

    def _check_userspace(self) -> None:
        userspace = self.userspace
        if not isinstance(userspace, (NvidiaRunFile, DebianNvidiaPackages)):
            raise ValidationError(
                f"userspace {userspace!r} is not allowed; use NvidiaRunFile(...) (NVIDIA's .run installer) "
                "or DebianNvidiaPackages(version=...) (Debian's non-free packages)"
            )
        if isinstance(userspace, DebianNvidiaPackages):
            if self.distribution != "debian":
                raise ValidationError(
                    f"userspace DebianNvidiaPackages needs distribution 'debian' (Debian's non-free archive ships "
                    f"{', '.join(DEBIAN_NVIDIA_PACKAGES)}); got distribution {self.distribution!r}: use "
                    "NvidiaRunFile for other distributions"
                )
            if userspace.driver_version != self.nvidia_driver:
                raise ValidationError(
                    f"userspace DebianNvidiaPackages version {userspace.version!r} carries driver "
                    f"{userspace.driver_version}, not nvidia_driver {self.nvidia_driver}; the packages must be the "
                    "host's driver version"
                )
            if self.run_file_sha256 is not None:
                raise ValidationError(
                    f"run_file_sha256 {self.run_file_sha256!r} is given but userspace is DebianNvidiaPackages "
                    "(no run file); drop run_file_sha256"
                )
        elif (self.run_file_sha256 is not None and userspace.sha256 is not None
              and self.run_file_sha256 != userspace.sha256):
            raise ValidationError(
                f"run_file_sha256 {self.run_file_sha256!r} differs from userspace NvidiaRunFile sha256 "
                f"{userspace.sha256!r}; give it once"
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
        """Where the run file comes from: `NvidiaRunFile.url`, else NVIDIA's download server."""
        if isinstance(self.userspace, NvidiaRunFile) and self.userspace.url is not None:
            return self.userspace.url
        return f"{NVIDIA_DOWNLOADS}/Linux-{NVIDIA_ARCHES[self.architecture]}/{self.nvidia_driver}/{self.run_file}"

    @property
    def run_file_sha256_expected(self) -> str | None:
        if isinstance(self.userspace, NvidiaRunFile) and self.userspace.sha256 is not None:
            return self.userspace.sha256
        return self.run_file_sha256

    @property
    def _local_run_file(self) -> str | None:
        """The build machine's path of a file:// run file (copied into the rootfs before the install step)."""
        if isinstance(self.userspace, NvidiaRunFile) and self.userspace.is_local:
            return self.run_file_url.removeprefix("file://")
        return None

    # ---------------------------------------------------------------- definition

    def groups_script(self) -> str:
        """Create or renumber video/render to the known GIDs; refuse a GID owned by another group."""
        return "\n".join([
            "#!/bin/sh",
            "# video/render with known GIDs, so devN gid= values are known (pve-gpu-lxc).",
            "set -eu",
            *_STEP_FAILED_FUNCTION,
            "ensure_group() {",
            '    owner=$(getent group "$2" | cut -d: -f1)',
            '    if [ -n "$owner" ] && [ "$owner" != "$1" ]; then',
            f'        step_failed {_q(STEP_GROUPS)} "GID $2 is taken by group $owner." '
            '"choose another ${1}_gid (NvidiaImage(${1}_gid=...), pve-gpu-lxc image --${1}-gid)"',
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
        """Install the userspace of exactly this version (the host owns the kernel modules)."""
        if isinstance(self.userspace, DebianNvidiaPackages):
            return self._debian_packages_script(self.userspace)
        sha256 = self.run_file_sha256_expected
        checksum = [
            f"if ! echo '{sha256}  /tmp/nvidia.run' | sha256sum -c -; then",
            f"    step_failed {_q(STEP_RUN_CHECKSUM)} "
            f"{_q(f'the run file from {self.run_file_url} is not sha256 {sha256}.')} "
            f"{_q('download it again, or correct the pinned sha256 (NvidiaRunFile(sha256=...), run_file_sha256)')}",
            "fi",
        ] if sha256 else []
        if self._local_run_file:
            fetch = [f"mv {STAGED_RUN_FILE} /tmp/nvidia.run && rmdir {PurePosixPath(STAGED_RUN_FILE).parent}"
                     f"  # copied from {self.run_file_url} by the files section"]
        else:
            fetch = [
                f"if ! wget -q -O /tmp/nvidia.run '{self.run_file_url}'; then",
                f"    step_failed {_q(STEP_RUN_DOWNLOAD)} {_q(f'wget could not fetch {self.run_file_url}.')} "
                f"{_q(_DOWNLOAD_FIX)}",
                "fi",
            ]
        options = " ".join(RUN_FILE_OPTIONS)
        return "\n".join([
            "#!/bin/sh",
            f"# NVIDIA userspace {self.nvidia_driver}: must equal the host's /proc/driver/nvidia/version.",
            "set -eu",
            *_STEP_FAILED_FUNCTION,
            *fetch,
            *checksum,
            f"if ! sh /tmp/nvidia.run {options}; then",
            "    tail -n 20 /var/log/nvidia-installer.log >&2 || true",
            f"    step_failed {_q(STEP_RUN_INSTALL)} "
            f"{_q(f'{self.run_file} {options} failed (the end of /var/log/nvidia-installer.log is above).')} "
            f"{_q(f'use the run file of driver {self.nvidia_driver} for {self.architecture}; see the log lines')}",
            "fi",
            "rm -f /tmp/nvidia.run",
            *self._library_check(f"use the run file of driver {self.nvidia_driver} ({self.run_file})",
                                 "/usr/lib/*", "/usr/lib64"),
            "",
        ])

    def _library_check(self, fix: str, *directories: str) -> list[str]:
        """Fail unless libnvidia-ml.so.<version> is in one of `directories` (globs allowed)."""
        library = f"libnvidia-ml.so.{self.nvidia_driver}"
        looked = " ".join(directories)
        return [
            "found=''",
            f"for library in {' '.join(f'{d}/{library}' for d in directories)}; do",
            '    if [ -e "$library" ]; then found=$library; fi',
            "done",
            'if [ -z "$found" ]; then',
            f"    step_failed {_q(STEP_LIBRARY)} {_q(f'{library} was not installed (looked in {looked}).')} {_q(fix)}",
            "fi",
        ]

    def _debian_packages_script(self, userspace: DebianNvidiaPackages) -> str:
        """apt-get install of the pinned packages from the non-free list, then prove the versions."""
        version = userspace.version
        pinned = " ".join(userspace.pinned())
        suites = f"{self.release}, {self.release}-updates" + (
            f" and {userspace.security_mirror} {self.release}-security" if userspace.security_mirror else "")
        choose = (f"pin a version the archive has: `apt-cache madison {' '.join(userspace.packages)}` with "
                  f"{self.release} contrib/non-free enabled lists them; give it as DebianNvidiaPackages(version=...) "
                  "with the same driver in NvidiaImage(nvidia_driver=...), and the host must run that driver")
        pin_fix = (f"check the apt pin {APT_PIN_FILE} (src:{userspace.source_package}): every package of the "
                   "driver must come from that one source package")
        return "\n".join([
            "#!/bin/sh",
            f"# NVIDIA userspace {self.nvidia_driver} from Debian non-free ({version}): must equal the host's "
            "/proc/driver/nvidia/version.",
            "set -eu",
            "export DEBIAN_FRONTEND=noninteractive",
            *_STEP_FAILED_FUNCTION,
            # every package of this driver build (libcuda1's own dependencies too: nvidia-alternative,
            # libnvidia-ptxjitcompiler1, ...) at exactly this version, also against newer ones in
            # -security/-updates, and kept there by later `apt upgrade`s in the container
            f"printf '%s\\n' 'Explanation: pve-gpu-lxc: the NVIDIA userspace must stay the host driver version' "
            f"'Package: src:{userspace.source_package}' 'Pin: version {version}' 'Pin-Priority: 1001' "
            f"> {APT_PIN_FILE}",
            "if ! apt-get update -qq; then",
            f"    step_failed {_q(STEP_APT_UPDATE)} "
            f"{_q(f'apt-get update failed for {userspace.mirror} {suites} (contrib non-free non-free-firmware).')} "
            f"{_q('check that the build machine reaches the mirror, or give DebianNvidiaPackages(mirror=...)')}",
            "fi",
            # recommends would pull the DKMS kernel module: that belongs to the host
            f"if ! apt-get install -y -q --no-install-recommends {pinned}; then",
            f"    step_failed {_q(STEP_PINNED_INSTALL)} "
            f"{_q(f'apt-get cannot install {pinned} from {userspace.mirror} {suites}.')} "
            f"{_q(choose)}",
            "fi",
            f"for package in {' '.join(userspace.packages)}; do",
            "    installed=$(dpkg-query -W -f='${Version}' \"$package\")",
            f"    if [ \"$installed\" != '{version}' ]; then",
            f"        step_failed {_q(STEP_PINNED_VERSION)} \"$package is $installed, not {version}.\" {_q(pin_fix)}",
            "    fi",
            "done",
            # Debian keeps the libraries under nvidia/current and links them through alternatives
            *self._library_check(
                f"the packages of {version} do not carry libnvidia-ml.so.{self.nvidia_driver}: {choose}",
                "/usr/lib/*/nvidia/current", "/usr/lib/*"),
            "apt-get clean",
            "",
        ])

    def _repositories(self) -> list[dict[str, str]]:
        """The non-free apt sources the pinned Debian packages come from."""
        userspace = self.userspace
        if not isinstance(userspace, DebianNvidiaPackages):
            return []
        components = "contrib non-free non-free-firmware"  # nvidia-support, glx-alternative-nvidia: contrib
        lines = [
            f"deb {userspace.mirror} {self.release} {components}",
            f"deb {userspace.mirror} {self.release}-updates {components}",
        ]
        if userspace.security_mirror is not None:
            lines.append(f"deb {userspace.security_mirror} {self.release}-security {components}")
        return [{"name": "pve-gpu-lxc-nvidia-non-free", "url": "\n".join(lines) + "\n"}]

    def definition(self, source: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The distrobuilder image definition (sections: image, source, packages, files, actions).

        source: replaces the ``source`` section (e.g. ``{"downloader": "debootstrap", "url":
          "http://deb.debian.org/debian"}`` to bootstrap instead of downloading ``source_url``);
          everything else is unchanged.
        """
        local_run_file = self._local_run_file
        if isinstance(self.userspace, DebianNvidiaPackages):
            how = f"Debian packages {self.userspace.version}"
        else:
            how = "no kernel modules"
        definition: dict[str, Any] = {
            "image": {
                "distribution": self.distribution,
                "release": self.release,
                "architecture": self.architecture,
                "variant": self.variant,
                "name": self.name,
                "description": (
                    f"{self.distribution} {self.release} with NVIDIA userspace {self.nvidia_driver} "
                    f"({how}; video={self.video_gid}, render={self.render_gid})"
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
                # a local run file is copied in by the files section, which runs after the packages
                {"trigger": "post-files" if local_run_file else "post-packages", "action": self.nvidia_script()},
            ],
        }
        if source is not None:
            definition["source"] = _source_section(source)
        repositories = self._repositories()
        if repositories:
            definition["packages"]["repositories"] = repositories
        if local_run_file:
            definition["files"].append(
                {"generator": "copy", "source": local_run_file, "path": STAGED_RUN_FILE, "mode": "0700",
                 "uid": "0", "gid": "0"}
            )
        _refuse_pongo(definition)
        return definition

    def to_yaml(self, source: Mapping[str, Any] | None = None) -> str:
        return yaml.dump(self.definition(source), Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                         width=1000)


_SOURCE_KEY = re.compile(r"^[a-z][a-z_]{0,31}$")
_SOURCE_VALUE = re.compile(r"^[A-Za-z0-9._~:/+%@=,-]{1,500}$")


def _source_section(source: Mapping[str, Any]) -> dict[str, Any]:
    """A replacement ``source`` section: a downloader plus plain scalar or list-of-scalar options."""
    if not isinstance(source, Mapping) or not isinstance(source.get("downloader"), str):
        raise ValidationError(f"source {source!r} must be a mapping with a 'downloader' (e.g. 'debootstrap')")
    section: dict[str, Any] = {}
    for key, value in source.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        if (not isinstance(key, str) or not _SOURCE_KEY.fullmatch(key)
                or not all(isinstance(v, bool) or (isinstance(v, str) and _SOURCE_VALUE.fullmatch(v)) for v in values)):
            raise ValidationError(
                f"source {key!r}: {value!r} is not allowed; use distrobuilder source keys (downloader, url, "
                "variant, components, ...) with plain values (no spaces or quotes)"
            )
        section[key] = list(value) if isinstance(value, (list, tuple)) else value
    return section


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
