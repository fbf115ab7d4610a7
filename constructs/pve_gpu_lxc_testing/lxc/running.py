"""Containers that keep running, for probes from the (simulated) node while they run.

`LxcHarness.boot` runs a container until its check script exits.  `pve-gpu-lxc check` instead
reads a *running* container from the node: `lxc-info -n <vmid> -s -p` for its state and init
pid, then `/proc/<pid>/root/etc/group`, `/proc/<pid>/gid_map` and `stat` of the passed nodes
under `/proc/<pid>/root/dev`.  Here:

* `start(harness, "<vmid>", plan)` starts a container in the harness's lxcpath whose init
  sleeps (the harness stops it on exit, as any running container);
* `containers_run_on(node_root, harness.lxcpath)` makes the simulated node's SSH sessions see
  it the way a PVE node sees its containers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from . import probes as pr
from . import subids
from .model import HarnessError
from .render import ContainerPlan
from .runner import LxcHarness, _run


def start(harness: LxcHarness, name: str, p: ContainerPlan, *, group: str | None = None) -> int:
    """Start a container that stays up until the harness exits; returns its init's pid.

    `group` replaces the rootfs's /etc/group (e.g. a template whose render group has another
    GID).  root's subid entries are granted while it starts (LXC writes the maps then) and
    restored right after.
    """
    cdir, _, _ = harness.prepare(name, p)
    rootfs = cdir / "rootfs"
    (rootfs / pr.INIT.lstrip("/")).write_text("#!/bin/sh\nexec /bin/busybox sleep 3600\n")
    if group is not None:
        (rootfs / "etc/group").write_text(group)
        os.lchown(rootfs / "etc/group", *p.host_root())
    where = ["-n", name, "-P", str(harness.lxcpath)]
    with subids.granted(p.subuid_lines, p.subgid_lines):
        _run(["lxc-start", "-d", *where, "-l", "INFO", "-o", str(cdir / "lxc.log")])
        _run(["lxc-wait", *where, "-s", "RUNNING", "-t", str(int(harness.timeout))])
    out = subprocess.run(["lxc-info", *where, "-p", "-H"], stdin=subprocess.DEVNULL, capture_output=True,
                         text=True, timeout=30)
    if not out.stdout.strip().isdigit():
        raise HarnessError(f"container {name} started but has no pid: {out.stdout}{out.stderr}")
    return int(out.stdout.strip())


@contextmanager
def containers_run_on(node_root: Path, lxcpath: Path) -> Iterator[None]:
    """Let the simulated node's SSH sessions see the containers a harness runs, as on a node.

    On a PVE node LXC's default lxcpath is /var/lib/lxc: a running CT <vmid> answers
    `lxc-info -n <vmid>` through its monitor's abstract socket (named after lxcpath and name),
    and its files are read through /proc/<pid>/root.  For the duration of the block the node
    root gets `etc/lxc/lxc.conf` with `lxc.lxcpath = <lxcpath>`, so the real lxc-info inside a
    session finds a container the harness started under the name "<vmid>", and the marker
    `run/pvesim/host-proc`, so the sessions mount this machine's /proc, read-only, instead of the
    node's recorded one (pvesim/noderun.py).  Both are removed afterwards, with lxc-info's lock
    directory under run/ (a tmpfs on a node); a node root that has either already is refused.
    """
    root = Path(node_root)
    conf = root / "etc/lxc/lxc.conf"
    marker = root / "run/pvesim/host-proc"
    if conf.exists() or marker.exists():
        raise HarnessError(f"{conf} or {marker} exists already: not touching the node's own")
    made_dir = not conf.parent.exists()
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(f"lxc.lxcpath = {lxcpath}\n")
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    try:
        yield
    finally:
        conf.unlink(missing_ok=True)
        if made_dir:
            conf.parent.rmdir()
        marker.unlink(missing_ok=True)
        shutil.rmtree(root / "run/lxc", ignore_errors=True)
