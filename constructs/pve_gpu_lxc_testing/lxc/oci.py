"""Boot an OCI application container under real LXC, from what a (simulated) PVE node holds.

The node holds, after a create from an OCI image and a start:

- the image archive in its vztmpl storage (what `oci-registry-pull` stored);
- `/etc/pve/lxc/<vmid>.conf`: devN, the id map, and what restore_oci_archive wrote;
- `/var/lib/lxc/<vmid>/config`: what update_lxc_config generated from it (LXC.pm), the file
  lxc-start reads: `lxc.init.cmd` (the entrypoint), `lxc.environment.runtime` lines (`env`), the
  raw `lxc.init.uid/gid/groups/cwd` and `lxc.signal.halt` lines, and /dev/shm mounted for a
  non-init entrypoint.

`extract` unpacks the archive into the rootfs as PVE's restore does: proxmox-oci's layer walk
(pvesim/lxc_oci.py, whiteouts included) with every `tar -x` run under `lxc-usernsexec` with the
container's id map (Create.pm runs parse_and_extract_image inside `run_in_userns`), into a
directory owned by the mapped root.  `app_lines` takes the application's lines from the generated
config; `boot` boots the rootfs with them, the plan's id map and device nodes (render.lxc_config),
the console written to a log file, which `ociimage.parse_report` reads (the test image's
entrypoint prints what it sees there).

LXC versions: `lxc.environment.runtime` exists only in LXC 7.0 and in Proxmox's lxc-pve from
6.0.5-3 (a backport; pve-container 6.1.x depends on it).  Debian 12's LXC 5.0.2 refuses the key,
so `app_lines(..., runtime_env=False)` writes the same variables as `lxc.environment`, which LXC
5/6 hands to the init process (and to hooks).  `lxc.init.groups` is applied inside a user
namespace only from LXC 6.0.6/7.0 (lxc-pve backported it after 6.0.5-3): under 5.0.2 an
unprivileged app keeps only its primary group.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pve_gpu_lxc_testing.pvesim import lxc_oci

from . import subids
from .model import HarnessError
from .render import ContainerPlan, lxc_config
from .runner import LxcHarness
from .template import userns_command

APP_KEYS = ("lxc.init.cmd", "lxc.init.uid", "lxc.init.gid", "lxc.init.groups", "lxc.init.cwd", "lxc.signal.halt",
            "lxc.environment.runtime", "lxc.environment", "lxc.environment.hooks", "lxc.hook.mount")
SHM = "shm dev/shm tmpfs rw,nosuid,nodev,create=dir 0 0"


def lxc_version() -> tuple[int, int, int]:
    out = subprocess.run(["lxc-start", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", out)
    if not match:
        raise HarnessError(f"cannot read lxc-start --version: {out!r}")
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


@functools.cache
def has_runtime_env() -> bool:
    """Whether this LXC knows `lxc.environment.runtime` (upstream 7.0, lxc-pve from 6.0.5-3): asked of
    LXC itself, by loading a config with the key (`lxc-info -c`); an LXC without it refuses the file."""
    with tempfile.TemporaryDirectory(prefix="pve-gpu-lxc-probe-") as tmp:
        (Path(tmp) / "probe").mkdir()
        (Path(tmp) / "probe" / "config").write_text("lxc.environment.runtime = PROBE=1\n")
        result = subprocess.run(["lxc-info", "-P", tmp, "-n", "probe", "-c", "lxc.environment.runtime"],
                                capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30, check=False)
    return result.returncode == 0 and "PROBE=1" in result.stdout


def app_lines(generated: str, *, runtime_env: bool | None = None, hooks: dict[str, str] | None = None) -> list[str]:
    """The application's lines of a generated /var/lib/lxc/<vmid>/config, in their order (with what a
    pre-start hookscript appended: `lxc.hook.mount`, `lxc.environment.hooks`); with `runtime_env=False`
    the `lxc.environment.runtime` ones become `lxc.environment` (older LXC); `hooks` maps a hook path
    to the one to run instead (a stand-in)."""
    if runtime_env is None:
        runtime_env = has_runtime_env()
    lines = []
    for line in generated.splitlines():
        key, _, value = (part.strip() for part in line.partition("="))
        if key in APP_KEYS:  # (`lxc.environment = TERM=linux`, update_lxc_config's own, among them)
            if key == "lxc.environment.runtime" and not runtime_env:
                key = "lxc.environment"
            if key == "lxc.hook.mount":
                value = (hooks or {}).get(value, value)
            lines.append(f"{key} = {value}")
        elif key == "lxc.mount.entry" and value == SHM:
            lines.append(f"{key} = {value}")
    return lines


def extract(archive: Path, rootdir: Path, p: ContainerPlan) -> None:
    """The image's layers into `rootdir` as the container's mapped root (the plan's subid lines must be
    granted): proxmox-oci's walk, each `tar -x` under lxc-usernsexec with the id map."""
    uid, gid = p.host_root()
    rootdir.mkdir(parents=True)
    os.chown(rootdir, uid, gid)
    try:
        lxc_oci.parse_and_extract_image(archive, rootdir, userns_command(p.idmap))
    except lxc_oci.OciError as err:
        raise HarnessError(f"extracting {archive} as the container's root failed: {err.message}") from None


@dataclass
class AppBoot:
    name: str
    returncode: int | None
    console: str
    log: str
    config: str

    def explain(self) -> str:
        errors = "\n".join(line for line in self.log.splitlines() if " ERROR " in line)
        return (f"container {self.name}: lxc-start exit code {self.returncode}\n--- config ---\n{self.config}"
                f"--- console ---\n{self.console or '(none)'}\n--- LXC errors ---\n{errors or '(none)'}")


def prepare(harness: LxcHarness, name: str, p: ContainerPlan, archive: Path, lines: list[str]) -> tuple[Path, str]:
    name, cdir = harness.claim(name)
    cdir.mkdir(parents=True)
    rootfs = cdir / "rootfs"
    extract(archive, rootfs, p)
    node_dir = cdir / "passthrough"
    harness._make_nodes(node_dir, p)
    init = next((line.partition("=")[2].strip() for line in lines if line.startswith("lxc.init.cmd ")), None)
    if init is None:
        raise HarnessError("the generated config has no lxc.init.cmd (no entrypoint)")
    config = lxc_config(p, name, rootfs, node_dir, init)
    config += "".join(f"{line}\n" for line in lines if not line.startswith("lxc.init.cmd "))
    config += f"lxc.console.logfile = {cdir / 'console.log'}\n"
    (cdir / "config").write_text(config)
    return cdir, config


def boot(harness: LxcHarness, name: str, p: ContainerPlan, archive: Path, lines: list[str],
         env: dict[str, str] | None = None) -> AppBoot:
    """Extract and boot in the foreground until the entrypoint exits (subids granted around both);
    `env`: lxc-start's environment (hooks inherit it: a stand-in program first on PATH, or another
    LXC build's bin and lib directories)."""
    with subids.granted(list(p.subuid_lines), list(p.subgid_lines)):
        cdir, config = prepare(harness, name, p, archive, lines)
        log = cdir / "lxc.log"
        proc = subprocess.run(["lxc-start", "-F", "-n", name, "-P", str(harness.lxcpath), "-l", "INFO", "-o", str(log)],
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=harness.timeout, check=False,
                              env=env)
        return _result(name, cdir, config, proc.returncode, (proc.stdout + proc.stderr).decode(errors="replace"))


def boot_and_stop(harness: LxcHarness, name: str, p: ContainerPlan, archive: Path, lines: list[str],
                  ready: str = "OCI-APP END", timeout: float = 30.0) -> AppBoot:
    """Start in the background, wait for `ready` on the console, then `lxc-stop` (a clean stop: LXC
    sends lxc.signal.halt to the init process and waits for it)."""
    with subids.granted(list(p.subuid_lines), list(p.subgid_lines)):
        cdir, config = prepare(harness, name, p, archive, lines)
        log = cdir / "lxc.log"
        start = subprocess.run(["lxc-start", "-d", "-n", name, "-P", str(harness.lxcpath), "-l", "INFO", "-o", str(log)],
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=60, check=False)
        if start.returncode:
            return _result(name, cdir, config, start.returncode, start.stderr.decode(errors="replace"))
        console = cdir / "console.log"
        deadline = time.monotonic() + timeout
        while ready not in (console.read_text(errors="replace") if console.exists() else ""):
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        stop = subprocess.run(["lxc-stop", "-n", name, "-P", str(harness.lxcpath), "-t", "20"],
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=60, check=False)
        return _result(name, cdir, config, stop.returncode, stop.stderr.decode(errors="replace"))


def _result(name: str, cdir: Path, config: str, returncode: int | None, output: str) -> AppBoot:
    console = cdir / "console.log"
    log = cdir / "lxc.log"
    return AppBoot(name=name, returncode=returncode,
                   console=console.read_text(errors="replace") if console.exists() else "",
                   log=(log.read_text(errors="replace") if log.exists() else "") + output, config=config)
