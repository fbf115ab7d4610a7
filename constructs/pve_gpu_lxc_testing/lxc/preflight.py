"""Can this machine boot LXC containers?  Returns the reason it cannot, or None."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .runner import BUSYBOX

TOOLS = {
    "lxc-start": "lxc",
    "lxc-stop": "lxc",
    "lxc-ls": "lxc",
    "newuidmap": "uidmap",
    "newgidmap": "uidmap",
}
FIX = "install them with `make system-deps` (or: apt-get install lxc uidmap busybox-static)"


def why_not(busybox: Path = BUSYBOX) -> str | None:
    problems = []
    if os.geteuid() != 0:
        problems.append(f"the LXC tests must run as root (euid is {os.geteuid()}): they mknod and start containers")
    missing = sorted({pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None})
    if missing:
        problems.append(f"missing Debian packages {missing}: {FIX}")
    if not busybox.exists():
        problems.append(f"{busybox} is missing (package busybox-static): {FIX}")
    elif b"ld-linux" in busybox.read_bytes()[:4096 * 16]:
        problems.append(f"{busybox} is dynamically linked; install busybox-static so it runs in an empty rootfs")
    if not Path("/proc/self/ns/user").exists():
        problems.append("the kernel has no user namespaces (/proc/self/ns/user is missing)")
    if not Path("/sys/fs/cgroup").is_dir():
        problems.append("/sys/fs/cgroup is not mounted; LXC needs cgroups")
    return "; ".join(problems) or None
