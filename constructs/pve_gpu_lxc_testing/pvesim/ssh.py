"""The SSH side of the simulated Proxmox VE node: Debian's real OpenSSH server.

bpg/proxmox v0.111.1 uses SSH for two things (proxmox/ssh/client.go): the container idmap
(`/bin/bash -c '... sed -i ... /etc/pve/lxc/<id>.conf; echo ... | try_sudo tee -a ...'`) and
snippet uploads (`try_sudo /usr/bin/tee /var/lib/vz/snippets/<file>` on stdin, then SFTP
Open/Stat and Chmod).  Those scripts name the node's absolute paths, so every session -- exec,
shell and the sftp subsystem alike -- runs with the node root R as its "/":

* sshd's `ForceCommand` runs the node's session wrapper (noderun.py) with R: a private mount
  namespace, the host's /usr read-only (or the node's overlay over it), then
  `chroot R /bin/bash -c "$SSH_ORIGINAL_COMMAND"`; for the sftp subsystem sshd sets
  SSH_ORIGINAL_COMMAND to the Subsystem command, so /usr/lib/openssh/sftp-server runs inside the
  chroot exactly like an exec would; the simulator runs hookscripts and boot programs through the
  same wrapper;
* the mounts live only in the session's namespace: nothing is mounted on the machine, before,
  during or after a session, and nothing outside R is written by a session.

`start()` prepares R once (noderun.prepare_root): the mount points and merged-/usr symlinks,
R/dev/null, a minimal R/etc/passwd and R/etc/group.

Keys are per run: an ed25519 host key and an unencrypted ed25519 client key in OpenSSH format,
which golang.org/x/crypto/ssh's ParsePrivateKey (bpg's `private_key`) accepts.  `home_dir` holds
`.ssh/known_hosts` with the host key under `[127.0.0.1]:PORT`, the line skeema/knownhosts writes,
so a terraform run with HOME=home_dir neither prompts nor touches the real ~/.ssh.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

from . import noderun

SSHD = Path("/usr/sbin/sshd")
SSH_KEYGEN = Path("/usr/bin/ssh-keygen")
SFTP_SERVER = Path("/usr/lib/openssh/sftp-server")
PRIVSEP_DIR = Path("/run/sshd")  # sshd's privilege-separation chroot, a runtime directory


_START_TIMEOUT_S = 15.0
_STOP_TIMEOUT_S = 5.0
_PORT_ATTEMPTS = 5


class SshServerError(RuntimeError):
    """sshd could not be found, prepared or started; the message says why."""


def _free_port(address: str) -> int:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((address, 0))
        port: int = s.getsockname()[1]
        return port


def _cfg_path(path: Path) -> str:
    """A path as an sshd_config value (double-quoted; sshd has no escape for '"')."""
    text = str(path)
    if '"' in text or "\n" in text or "%" in text:
        raise SshServerError(f"path not usable in sshd_config: {text!r}")
    return f'"{text}"'


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below `path` in this process's mount namespace, in mount order."""
    prefix = str(path).rstrip("/")
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        # field 5 is the mount point, with space, tab, newline and backslash octal-escaped
        target = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4])
        if target == prefix or target.startswith(prefix + "/"):
            found.append(target)
    return found


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    todo = _children(pid)
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(_children(child))
    return found


def _freeze_tree(pid: int) -> list[int]:
    """SIGSTOP pid and its descendants until no new one appears; returns the descendants."""
    frozen: set[int] = set()
    new = [pid]
    while new:
        for p in new:
            try:
                os.kill(p, signal.SIGSTOP)
            except ProcessLookupError:
                pass
            frozen.add(p)
        new = [p for p in _descendants(pid) if p not in frozen]
    frozen.discard(pid)
    return sorted(frozen)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


class SshServer:
    """Debian's sshd on `address:port`, every session chrooted into `node_root`.

    `state_dir` receives the config, keys, wrapper, pid file and `sshd.log`.  Use `start()` and
    `stop()`, or a with-block.  `port=0` picks a free port.
    """

    def __init__(self, node_root: Path, state_dir: Path, *, address: str = "127.0.0.1", port: int = 0,
                 usr_overlay: Path | None = None):
        self.node_root = Path(node_root).resolve()
        self.usr_overlay = Path(usr_overlay).resolve() if usr_overlay is not None else None
        self.state_dir = Path(state_dir).resolve()
        self.address = address
        self.port = port
        self._requested_port = port
        self.host_key_path = self.state_dir / "ssh_host_ed25519_key"
        self.client_key_path = self.state_dir / "id_ed25519"
        self.authorized_keys_path = self.state_dir / "authorized_keys"
        self.wrapper_path = self.state_dir / "chroot_session.sh"
        self.config_path = self.state_dir / "sshd_config"
        self.pid_path = self.state_dir / "sshd.pid"
        self.log_path = self.state_dir / "sshd.log"
        self.home_dir = self.state_dir / "home"
        self.known_hosts_path = self.home_dir / ".ssh" / "known_hosts"
        self._proc: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None

    # --- public API --------------------------------------------------------------------------

    @property
    def client_key_text(self) -> str:
        """The unencrypted private key (OpenSSH format), e.g. for bpg's `ssh.private_key`."""
        return self.client_key_path.read_text()

    @property
    def known_hosts_host(self) -> str:
        """The host field of the known_hosts line, as skeema/knownhosts.Normalize writes it."""
        host = self.address.strip("[]")
        return host if self.port == 22 else f"[{host}]:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def client_options(self) -> list[str]:
        """OpenSSH client options (ssh, sftp, scp) for this server: its key, strict host keys."""
        return [
            "-F", "none", "-i", str(self.client_key_path),
            # quoted: ssh splits an unquoted UserKnownHostsFile value on whitespace
            "-o", f'UserKnownHostsFile="{self.known_hosts_path}"', "-o", "StrictHostKeyChecking=yes",
            "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", f"Port={self.port}",
            # the key exchange bpg's Go client ends up with; OpenSSH's default sntrup761 hybrid
            # costs ~0.2 s of CPU per connection on a small VM
            "-o", "KexAlgorithms=curve25519-sha256",
        ]

    def ssh_argv(self, *command: str) -> list[str]:
        """An `ssh root@address command...` command line for this server."""
        return ["ssh", *self.client_options(), f"root@{self.address}", *command]

    def start(self) -> SshServer:
        if self._proc is not None:
            raise SshServerError("sshd already started")
        for tool, pkg in ((SSHD, "openssh-server"), (SFTP_SERVER, "openssh-server"),
                          (SSH_KEYGEN, "openssh-client")):
            if not tool.exists():
                raise SshServerError(
                    f"{tool} not found: install Debian's {pkg} package "
                    f"(apt-get install {pkg}, or `make system-deps`)"
                )
        if not self.node_root.is_dir():
            raise SshServerError(f"node root {self.node_root} is not a directory")
        began = time.monotonic()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            noderun.prepare_root(self.node_root)
        except RuntimeError as err:
            raise SshServerError(str(err)) from None
        self._make_keys()
        noderun.install_wrapper(self.wrapper_path)
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        attempts = _PORT_ATTEMPTS if self._requested_port == 0 else 1
        for attempt in range(attempts):
            self.port = self._requested_port or _free_port(self.address)
            try:
                self._launch()
                break
            except _PortTaken:
                if attempt == attempts - 1:
                    raise SshServerError(f"no free port after {attempts} attempts\n{self.log_tail()}") from None
        self._write_known_hosts()
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Terminate sshd, its connection processes and their sessions; wait.  Safe twice."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        # Connections and sessions run in sessions of their own (setsid), and once sshd is gone
        # they belong to init: freeze the whole tree first (a stopped process cannot fork), then
        # terminate it.
        pids = _freeze_tree(proc.pid)
        for pid in [proc.pid, *pids]:
            for sig in (signal.SIGTERM, signal.SIGCONT):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        try:
            proc.wait(timeout=_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        deadline = time.monotonic() + _STOP_TIMEOUT_S
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.02)
        for pid in pids:
            if _alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        # Sessions mount only inside their own namespaces; anything visible here is a bug.  Undo it
        # before anyone deletes the node root: a recursive delete would walk into the host's /usr.
        leaked = mounts_under(self.node_root)
        for target in reversed(leaked):
            subprocess.run(["umount", "-l", target], check=False, capture_output=True)
        if leaked:
            raise SshServerError(f"sessions left mounts under {self.node_root} (now unmounted): {leaked}")

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> SshServer:
        if self._proc is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- internals ---------------------------------------------------------------------------

    def _make_keys(self) -> None:
        for key, comment in ((self.host_key_path, "pvesim-host"), (self.client_key_path, "pvesim-client")):
            for f in (key, key.with_name(key.name + ".pub")):
                f.unlink(missing_ok=True)
            subprocess.run(
                [str(SSH_KEYGEN), "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key)],
                check=True, capture_output=True, stdin=subprocess.DEVNULL,
            )
        pub = self.client_key_path.with_name(self.client_key_path.name + ".pub").read_text()
        self.authorized_keys_path.write_text(pub)
        self.authorized_keys_path.chmod(0o600)

    def _write_known_hosts(self) -> None:
        # skeema/knownhosts.WriteKnownHost's line: "<normalized host> <type> <base64>", no comment.
        key_type, key_b64 = self.host_key_path.with_name(self.host_key_path.name + ".pub").read_text().split()[:2]
        self.known_hosts_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.known_hosts_path.write_text(f"{self.known_hosts_host} {key_type} {key_b64}\n")
        self.known_hosts_path.chmod(0o600)

    def _write_config(self) -> None:
        force = noderun.force_command(self.wrapper_path, self.node_root, self.usr_overlay)
        if "\n" in force:
            raise SshServerError("newline in a path")
        self.config_path.write_text(
            "\n".join([
                "# sshd of the simulated PVE node (pvesim/ssh.py); runs as `sshd -D -e -f <this>`",
                f"Port {self.port}",
                f"ListenAddress {self.address}",
                f"HostKey {_cfg_path(self.host_key_path)}",
                f"PidFile {_cfg_path(self.pid_path)}",
                f"AuthorizedKeysFile {_cfg_path(self.authorized_keys_path)}",
                "AllowUsers root",
                "PermitRootLogin prohibit-password",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "X11Forwarding no",
                "AllowAgentForwarding no",
                "AllowTcpForwarding no",
                "AllowStreamLocalForwarding no",
                "PermitTunnel no",
                "PermitUserRC no",
                "PermitUserEnvironment no",
                "PrintMotd no",
                "PrintLastLog no",
                "UseDNS no",
                # terraform runs many resources in parallel; the default 10:30:100 drops handshakes
                "MaxStartups 100:30:200",
                f"Subsystem sftp {SFTP_SERVER}",
                # every session, the sftp subsystem included, goes through the chroot wrapper
                f"ForceCommand {force}",
                "",
            ])
        )

    def _launch(self) -> None:
        self._write_config()
        self.pid_path.unlink(missing_ok=True)
        with open(self.log_path, "wb") as log:  # this launch's log only
            proc = subprocess.Popen(
                [str(SSHD), "-D", "-e", "-f", str(self.config_path)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            )
        self._proc = proc
        deadline = time.monotonic() + _START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                self._proc = None
                tail = self.log_tail()
                if "Address already in use" in tail and self._requested_port == 0:
                    raise _PortTaken()
                raise SshServerError(f"sshd exited with status {proc.returncode}:\n{tail}")
            if self._banner_ok():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise SshServerError(
                    f"sshd did not answer on {self.address}:{self.port} within {_START_TIMEOUT_S}s\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.02)

    def _banner_ok(self) -> bool:
        try:
            with socket.create_connection((self.address, self.port), timeout=1) as s:
                return s.recv(64).startswith(b"SSH-2.0-")
        except OSError:
            return False


class _PortTaken(Exception):
    pass
