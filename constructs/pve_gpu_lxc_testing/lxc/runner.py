"""Boot planned containers with real LXC and collect what they saw.

`LxcHarness` is a context manager that owns one private lxcpath in a temp
directory.  For each container it builds a busybox rootfs owned by the
container's mapped root, mounts a tmpfs for the passthrough nodes (as PVE does
under /var/lib/lxc/<vmid>/passthrough), mknods/chmods/chowns the nodes, writes
the raw LXC config and runs `lxc-start -F` with a check script as init.  On
exit it stops anything still running, unmounts and deletes everything, and
records what it checked in `cleanup_report`.  /etc/subuid and /etc/subgid are
granted around the boots by `boot_all` and restored byte for byte.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from . import probes as pr
from . import subids, template
from .model import ContainerSpec, HarnessError
from .render import ContainerPlan, RdevLookup, lxc_config, plan, stand_in_rdev

BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "su", "id", "stat", "cat", "echo")
BOOT_TIMEOUT = 60.0


@dataclass
class BootResult:
    name: str
    plan: ContainerPlan
    probes: tuple[pr.Probe, ...]
    returncode: int | None
    log: str
    report: str
    config: str

    @property
    def observed(self) -> pr.Observed:
        return pr.parse_report(self.report)

    def problems(self) -> list[str]:
        return pr.verify(self.plan, self.probes, self.observed)

    def explain(self) -> str:
        """Everything needed to understand a failure, for assertion messages."""
        errors = "\n".join(line for line in self.log.splitlines() if " ERROR " in line or "newgidmap" in line)
        return (
            f"container {self.name}: lxc-start exit code {self.returncode}\n"
            f"--- config ---\n{self.config}--- report ---\n{self.report or '(none)'}\n"
            f"--- LXC errors ---\n{errors or '(none)'}"
        )


@dataclass
class CleanupReport:
    workdir: Path
    leftovers: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.leftovers


def _safe(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
        raise HarnessError(f"container name {name!r}: use letters, digits, '.', '_' or '-' (max 64)")
    return name


class LxcHarness:
    def __init__(self, busybox: Path = BUSYBOX, parent: Path | None = None, timeout: float = BOOT_TIMEOUT):
        self.busybox = busybox
        self.parent = parent
        self.timeout = timeout
        self.workdir: Path | None = None
        self._names: list[str] = []
        self._mounts: list[Path] = []
        self.cleanup_report: CleanupReport | None = None

    # -- lifecycle -------------------------------------------------------
    def __enter__(self) -> "LxcHarness":
        self.workdir = Path(tempfile.mkdtemp(prefix="pve-gpu-lxc-", dir=self.parent))
        # the container's (unprivileged) root must traverse down to its rootfs and nodes
        self.workdir.chmod(0o755)
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup_report = self._cleanup()

    @property
    def lxcpath(self) -> Path:
        if self.workdir is None:
            raise HarnessError("use LxcHarness as a context manager")
        return self.workdir / "lxc"

    # -- building --------------------------------------------------------
    def claim(self, name: str) -> tuple[str, Path]:
        """The safe form of a container name, once per harness, and its directory under lxcpath."""
        name = _safe(name)
        if name in self._names:
            raise HarnessError(f"container name {name!r} used twice in one harness")
        self._names.append(name)
        return name, self.lxcpath / name

    def prepare(self, name: str, p: ContainerPlan) -> tuple[Path, tuple[pr.Probe, ...], str]:
        name, cdir = self.claim(name)
        rootfs = cdir / "rootfs"
        acc = pr.accounts(p)
        probe_list = pr.probes(p, acc)
        self._build_rootfs(rootfs, p, acc, probe_list)
        node_dir = cdir / "passthrough"
        self._make_nodes(node_dir, p)
        config = lxc_config(p, name, rootfs, node_dir, pr.INIT)
        (cdir / "config").write_text(config)
        return cdir, probe_list, config

    def _build_rootfs(self, rootfs: Path, p: ContainerPlan, acc: pr.Accounts, probe_list: tuple[pr.Probe, ...]) -> None:
        for sub in ("bin", "etc", "proc", "sys", "dev", "results", "tmp"):
            (rootfs / sub).mkdir(parents=True)
        shutil.copy2(self.busybox, rootfs / "bin/busybox")
        for applet in APPLETS:
            (rootfs / "bin" / applet).symlink_to("busybox")
        (rootfs / "etc/passwd").write_text(acc.passwd)
        (rootfs / "etc/group").write_text(acc.group)
        init = rootfs / pr.INIT.lstrip("/")
        init.write_text(pr.check_script(p, probe_list))
        init.chmod(0o755)
        uid, gid = p.host_root()
        for path in [rootfs, *rootfs.rglob("*")]:
            os.lchown(path, uid, gid)

    def _make_nodes(self, node_dir: Path, p: ContainerPlan) -> None:
        node_dir.mkdir(parents=True)
        _run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=64k", "pve-gpu-lxc-passthrough", str(node_dir)])
        self._mounts.append(node_dir)
        for node in p.nodes:
            target = node_dir / node.device.path.removeprefix("/dev/")
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
            os.mknod(target, 0o020000 | node.device.perm, os.makedev(*node.rdev))
            os.chmod(target, node.device.perm)  # mknod applies the umask
            os.chown(target, node.host_uid, node.host_gid)

    def prepare_template(self, name: str, p: ContainerPlan, archive: Path, init_script: str) -> tuple[Path, str]:
        """A container whose rootfs is the template `archive`, extracted as PVE does (as the mapped root,
        `template.extract`; the plan's subid lines must be granted), with `init_script` as init."""
        name, cdir = self.claim(name)
        cdir.mkdir(parents=True)
        rootfs = cdir / "rootfs"
        template.extract(archive, rootfs, p)
        uid, gid = p.host_root()
        for path, content, mode in ((rootfs / pr.INIT.lstrip("/"), init_script, 0o755),
                                    (rootfs / pr.REPORT.lstrip("/"), "", 0o644)):
            path.parent.mkdir(parents=True, exist_ok=True)
            os.lchown(path.parent, uid, gid)
            path.write_text(content)
            path.chmod(mode)
            os.lchown(path, uid, gid)
        node_dir = cdir / "passthrough"
        self._make_nodes(node_dir, p)
        config = lxc_config(p, name, rootfs, node_dir, pr.INIT)
        (cdir / "config").write_text(config)
        return cdir, config

    def boot_template(self, name: str, p: ContainerPlan, archive: Path, init_script: str) -> BootResult:
        """Extract `archive` as the container's root, boot it with `init_script` as init, collect its report."""
        cdir, config = self.prepare_template(name, p, archive, init_script)
        return self._start(name, p, cdir, (), config)

    # -- running ---------------------------------------------------------
    def boot(self, name: str, p: ContainerPlan) -> BootResult:
        cdir, probe_list, config = self.prepare(name, p)
        return self._start(name, p, cdir, probe_list, config)

    def _start(self, name: str, p: ContainerPlan, cdir: Path, probe_list: tuple[pr.Probe, ...],
               config: str) -> BootResult:
        log = cdir / "lxc.log"
        cmd = ["lxc-start", "-F", "-n", name, "-P", str(self.lxcpath), "-l", "INFO", "-o", str(log)]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            output, _ = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self._stop(name)
            proc.kill()
            output, _ = proc.communicate()
            output += f"\n(harness: killed after {self.timeout}s)".encode()
        report_file = cdir / "rootfs" / pr.REPORT.lstrip("/")
        return BootResult(
            name=name,
            plan=p,
            probes=probe_list,
            returncode=proc.returncode,
            log=(log.read_text(errors="replace") if log.exists() else "") + output.decode(errors="replace"),
            report=report_file.read_text() if report_file.exists() else "",
            config=config,
        )

    def _stop(self, name: str) -> None:
        subprocess.run(
            ["lxc-stop", "-k", "-n", name, "-P", str(self.lxcpath)],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=30,
        )

    def _leftover_cgroups(self) -> list[str]:
        # LXC removes these when a container stops; an empty one left by a crash is removed here.
        # (LXC's shared `lxc.pivot` cgroup is not per container and stays.)
        left = []
        for path in sorted(_cgroup_dirs(self._names), key=lambda p: -len(p.parts)):
            try:
                path.rmdir()
            except OSError:
                left.append(str(path))
        return left

    def running(self) -> list[str]:
        if self.workdir is None or not self.lxcpath.exists():
            return []
        out = subprocess.run(
            ["lxc-ls", "-P", str(self.lxcpath), "--running", "-1"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30,
        )
        return out.stdout.split()

    # -- clean-up --------------------------------------------------------
    def _cleanup(self) -> CleanupReport:
        assert self.workdir is not None
        report = CleanupReport(self.workdir)
        for name in self.running():
            self._stop(name)
        still = self.running()
        if still:
            report.leftovers.append(f"containers still running after lxc-stop -k: {still}")
        for mount in reversed(self._mounts):
            subprocess.run(["umount", "-l", str(mount)], capture_output=True)
        shutil.rmtree(self.workdir, ignore_errors=True)
        if self.workdir.exists():
            report.leftovers.append(f"{self.workdir} could not be removed")
        cgroups = self._leftover_cgroups()
        if cgroups:
            report.leftovers.append(f"cgroups left behind: {cgroups}")
        mounted = [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if str(self.workdir) in line]
        if mounted:
            report.leftovers.append(f"mounts left under {self.workdir}: {mounted}")
        return report


CGROUP_ROOT = Path("/sys/fs/cgroup")


def _cgroup_dirs(names: Sequence[str], root: Path = CGROUP_ROOT) -> list[Path]:
    """LXC's per-container cgroups (v1 controllers and v2), e.g. lxc.payload.<name>."""
    wanted = {f"{prefix}.{name}" for name in names for prefix in ("lxc.payload", "lxc.monitor")}
    found = [p for p in root.glob("*") if p.name in wanted]
    found += [p for p in root.glob("*/*") if p.name in wanted]
    return found


def boot_all(
    cases: Sequence[tuple[str, ContainerPlan]],
    harness: LxcHarness,
    parallel: int = 4,
    subuid: Path = subids.SUBUID,
    subgid: Path = subids.SUBGID,
) -> dict[str, BootResult]:
    """Boot every case (in parallel) with the union of their subid entries granted."""
    uid_lines = [line for _, p in cases for line in p.subuid_lines]
    gid_lines = [line for _, p in cases for line in p.subgid_lines]
    with subids.granted(uid_lines, gid_lines, subuid=subuid, subgid=subgid):
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            futures = {name: pool.submit(harness.boot, name, p) for name, p in cases}
            return {name: f.result() for name, f in futures.items()}


def _run(cmd: list[str]) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise HarnessError(f"{' '.join(cmd)} failed: {result.stderr.strip()}")


def boot_template(harness: LxcHarness, name: str, p: ContainerPlan, archive: Path, init_script: str) -> BootResult:
    """Extract and boot one template container with the plan's subid entries granted (as `boot_all` does)."""
    with subids.granted(list(p.subuid_lines), list(p.subgid_lines)):
        return harness.boot_template(name, p, archive, init_script)


def boot_specs(harness: LxcHarness, *specs: ContainerSpec, rdev_of: RdevLookup = stand_in_rdev) -> dict[str, BootResult]:
    """Plan and boot specs (stand-in device nodes by default), keyed by spec name."""
    return boot_all([(s.name, plan(s, rdev_of)) for s in specs], harness)
