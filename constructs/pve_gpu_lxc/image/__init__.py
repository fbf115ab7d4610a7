"""Image definitions: distrobuilder images with NVIDIA userspace pinned to the host driver (no cdktf import).

nvidia  NvidiaImage: the pure definition (YAML) for one driver version
build   running distrobuilder on it (I/O)
"""

from .build import BuildToolsMissing, build, check_build_tools
from .nvidia import RUN_FILE_OPTIONS, DebianNvidiaPackages, NvidiaImage, NvidiaRunFile, linuxcontainers_rootfs_url

__all__ = ["RUN_FILE_OPTIONS", "BuildToolsMissing", "DebianNvidiaPackages", "NvidiaImage", "NvidiaRunFile", "build",
           "check_build_tools", "linuxcontainers_rootfs_url"]
