"""Programs run as root on the simulated node: in a private mount namespace, chrooted into its root.

Every program the node runs goes through one wrapper, `SESSION_SH`: sshd's sessions (bpg's
`bash -c` scripts, SFTP, the facts collector, host-setup), a container's hookscript
(`<script> <vmid> <phase>`, as pve-guest-common's `exec_hookscript` runs it), and what a boot
of the node runs (udev RUN programs, systemd ExecStart lines: nodeboot.py).

The wrapper enters a new mount namespace with private propagation (`unshare -m`), gives the
root the host's /usr read-only (and /dev/null when the root has no real one), and
`chroot ROOT /bin/bash -c "$SSH_ORIGINAL_COMMAND"` (sshd sets that variable; the simulator sets
it for its own runs).  With an overlay directory, /usr is a read-only overlay of it on the
host's /usr: the node's own programs that this machine lacks (NVIDIA's nvidia-modprobe and
nvidia-smi, a modprobe that loads only the simulated node's modules: kernel.py) sit there, at
the paths a real node has them.  /proc is the node's, as kernel.py writes it from the facts
(read-only), or this machine's when a test opts in (run/pvesim/host-proc).  The mounts live
only in the run's namespace: nothing is mounted on the machine, and nothing outside the root is
written.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .node import PveError

SESSION_SH = r"""#!/bin/sh
# The simulated PVE node's session wrapper (written by pvesim/noderun.py; do not edit).
# Usage: session.sh ROOT [USR_OVERLAY]. Runs $SSH_ORIGINAL_COMMAND (sshd's; for the sftp subsystem
# the Subsystem command) with ROOT as "/", or a login shell without one. The only text run as a
# command is $SSH_ORIGINAL_COMMAND, handed to bash inside the chroot as a real node's sshd does.
set -eu
root=$1
overlay=${2-}
# The process that started this session (sshd's, for an SSH session): faults.py's `drop` kills it.
: "${PVESIM_SESSION_PARENT:=$PPID}"
export PVESIM_SESSION_PARENT
if [ "${3-}" != --in-namespace ]; then
  # A mount namespace of our own, propagating nowhere: its mounts vanish with the session.
  exec unshare --mount --propagation private /bin/sh "$0" "$root" "$overlay" --in-namespace
fi
# The host's /usr (and /bin, /lib... where they are real directories), read-only; with an
# overlay directory, /usr is that directory over the host's /usr, read-only too (two lower
# layers, no upper one). The node root holds the mount points and the merged-/usr symlinks.
for d in usr bin sbin lib lib32 lib64 libx32; do
  if [ -d "/$d" ] && [ ! -L "/$d" ]; then
    if [ "$d" = usr ] && [ -n "$overlay" ] && [ -d "$overlay" ]; then
      mount -t overlay pvesim-usr -o "lowerdir=$overlay:/usr" "$root/usr"
    else
      mount --bind -o ro "/$d" "$root/$d"
    fi
  fi
done
# Programs redirect to /dev/null; lend the host's unless the node root has a real one.
if [ ! -c "$root/dev/null" ]; then
  mount --bind /dev/null "$root/dev/null"
fi
# /proc: the node's own as its facts record it (run/pvesim/proc: NVIDIA's files, /proc/devices),
# read-only; or, opted into with run/pvesim/host-proc, this machine's, so that /proc/<pid>/root of
# a container the LXC harness runs reads as on a node (lxc/running.py).
if [ -d "$root/proc" ] && [ ! -L "$root/proc" ]; then
  if [ -e "$root/run/pvesim/host-proc" ]; then
    mount -t proc -o ro,nosuid,nodev,noexec proc "$root/proc"
  elif [ -d "$root/run/pvesim/proc" ]; then
    mount --bind "$root/run/pvesim/proc" "$root/proc"
    mount -o remount,bind,ro "$root/proc"
  fi
fi
# set -e: if anything above failed we never get here, so nothing runs outside the chroot.
if [ -n "${SSH_ORIGINAL_COMMAND-}" ]; then
  exec chroot "$root" /bin/bash -c "$SSH_ORIGINAL_COMMAND"
fi
exec chroot "$root" /bin/bash -l
"""

# Host top-level directories a chroot needs; on merged-/usr Debian all but usr are symlinks.
HOST_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
RUN_TIMEOUT_S = 120.0


def install_wrapper(path: Path) -> Path:
    """Write the wrapper (mode 0755) where sshd's ForceCommand and the simulator run it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SESSION_SH)
    path.chmod(0o755)
    return path


def wrapper_argv(wrapper: Path, root: Path, overlay: Path | None) -> list[str]:
    return ["/bin/sh", str(wrapper), str(root), str(overlay) if overlay is not None else ""]


def force_command(wrapper: Path, root: Path, overlay: Path | None) -> str:
    """sshd_config's ForceCommand for the node (one line, every value shell-quoted)."""
    return "exec " + shlex.join(wrapper_argv(wrapper, root, overlay))


def run_in_node(wrapper: Path, root: Path, argv: Sequence[str], *, overlay: Path | None = None,
                env: Mapping[str, str] | None = None, timeout: float = RUN_TIMEOUT_S,
                ) -> subprocess.CompletedProcess[str]:
    """Run `argv` as root inside the node, the way a session runs a command; its output, not raised."""
    environment = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C", "HOME": "/root", **(env or {}),
                   "SSH_ORIGINAL_COMMAND": shlex.join(argv)}
    return subprocess.run(wrapper_argv(wrapper, root, overlay), env=environment, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout, check=False)


def shell_quote(arg: str) -> str:
    """String::ShellQuote::shell_quote of one argument (pve-common PVE/Cmd.pm shell_quote): left as it
    is when it holds only word characters and `!%+,-./:=@^` and no `=`, else single-quoted with each
    `'` as `'\\''` (runs of them as `'"''"'`), the leading or trailing `''` dropped; `''` when empty."""
    if arg == "":
        return "''"
    arg = arg.replace("\0", "")
    if "=" not in arg and not re.search(r"[^\w!%+,\-./:=@^]", arg):
        return arg
    quoted = arg.replace("'", "'\\''")
    quoted = re.sub(r"((?:'\\''){2,})", lambda m: "'\"" + "'" * (len(m.group(1)) // 4) + "\"'", quoted)
    quoted = f"'{quoted}'"
    quoted = re.sub(r"^''", "", quoted)
    return re.sub(r"''$", "", quoted)


def cmd2string(argv: Sequence[str]) -> str:
    """pve-common PVE::Tools::cmd2string (PVE/Cmd.pm to_string): the arguments shell-quoted, one space apart."""
    return " ".join(shell_quote(arg) for arg in argv)


@dataclass(frozen=True)
class NodeRunner:
    """Runs programs as root inside one node (the simulator's hookscripts and boot programs)."""

    wrapper: Path
    root: Path
    overlay: Path | None = None

    def run(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
            timeout: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        return run_in_node(self.wrapper, self.root, argv, overlay=self.overlay, env=env, timeout=timeout)

    def run_command(self, argv: Sequence[str], log: Callable[[str], None], *,
                    timeout: float = RUN_TIMEOUT_S) -> None:
        """pve-common PVE::Tools::run_command in a task: the program's output lines go to the task log
        (stdout, then stderr); a non-zero exit dies with "command '<cmd2string>' failed: exit code N"."""
        result = self.run(argv, timeout=timeout)
        for line in (result.stdout + result.stderr).splitlines():
            log(line)
        if result.returncode:
            raise PveError(f"command '{cmd2string(argv)}' failed: exit code {result.returncode}")


def prepare_root(root: Path) -> None:
    """The mount points and merged-/usr symlinks the wrapper needs under `root` (idempotent).

    R/usr (mount point), R/bin, R/sbin, R/lib, R/lib64 ... as the same symlinks into usr/ the
    host has; R/dev/null (a placeholder the wrapper binds the host's onto); R/etc/passwd and
    R/etc/group with root when missing (sftp-server exits without a passwd entry); the host's
    /etc/alternatives links (Debian's awk is a symlink through it, and the node's /etc has them); the
    host's /etc/containers (skopeo's policy.json and registries.conf) and a /var/tmp."""
    for name in HOST_DIRS:
        host, mine = Path("/") / name, root / name
        if host.is_symlink():  # merged /usr: the same relative symlink (bin -> usr/bin)
            target = os.readlink(host)
            if mine.is_symlink() and os.readlink(mine) == target:
                continue
            if mine.exists() or mine.is_symlink():
                raise RuntimeError(f"{mine} exists but is not the symlink -> {target} the host has")
            mine.symlink_to(target)
        elif host.is_dir():  # a mount point for the read-only bind mount
            if mine.is_symlink() or (mine.exists() and not mine.is_dir()):
                raise RuntimeError(f"{mine} must be a directory (mount point for {host})")
            mine.mkdir(exist_ok=True)
    (root / "dev").mkdir(exist_ok=True)
    (root / "proc").mkdir(exist_ok=True)  # the mount point of the node's /proc
    devnull = root / "dev" / "null"
    if not devnull.exists() and not devnull.is_symlink():
        devnull.touch()
    etc = root / "etc"
    etc.mkdir(exist_ok=True)
    for name, line in (("passwd", "root:x:0:0:root:/root:/bin/bash\n"), ("group", "root:x:0:\n")):
        if not (etc / name).exists():
            (etc / name).write_text(line)
    # skopeo's configuration as Debian's containers-common installs it with skopeo on a node (the trust
    # policy, the registries, their certs.d), copied once: the node's own from then on
    host_containers = Path("/etc/containers")
    if host_containers.is_dir() and not (etc / "containers").exists():
        shutil.copytree(host_containers, etc / "containers", symlinks=True)
    var_tmp = root / "var" / "tmp"  # where skopeo stages an oci-archive (containers/image's big-files dir)
    if not var_tmp.is_dir():
        var_tmp.mkdir(parents=True)
        var_tmp.chmod(0o1777)
    host_alternatives = Path("/etc/alternatives")
    if host_alternatives.is_dir():
        mine_alt = etc / "alternatives"
        mine_alt.mkdir(exist_ok=True)
        for link in host_alternatives.iterdir():
            target_link = mine_alt / link.name
            if link.is_symlink() and not target_link.is_symlink() and not target_link.exists():
                target_link.symlink_to(os.readlink(link))
