"""Image definitions: distrobuilder images with NVIDIA userspace pinned to the host driver (no cdktf import).

nvidia  NvidiaImage: the pure definition (YAML) for one driver version
build   running distrobuilder on it (I/O)
"""

from .build import BuildFailure, BuildToolsMissing, ImageBuildFailed, build, check_build_tools, diagnose
from .nvidia import RUN_FILE_OPTIONS, DebianNvidiaPackages, NvidiaImage, NvidiaRunFile, linuxcontainers_rootfs_url

__all__ = ["RUN_FILE_OPTIONS", "BuildFailure", "BuildToolsMissing", "DebianNvidiaPackages", "ImageBuildFailed",
           "NvidiaImage", "NvidiaRunFile", "build", "check_build_tools", "diagnose", "linuxcontainers_rootfs_url"]
