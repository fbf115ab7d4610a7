"""One OpenSSH session per node, running the read-only probe (`probe.SCRIPT`) as `sh -s`.

The SSH settings are bpg/proxmox's, so whatever lets Terraform apply lets the check read:

* address and port: the provider block's `ssh { node { name, address, port } }` for the node
  (the synthesized JSON), else `PVE_GPU_LXC_SSH_NODES` (`pve=192.0.2.10:2222,...`), else the
  API endpoint's host on port 22;
* user: the block's `ssh.username`, else `PROXMOX_VE_SSH_USERNAME`, else `root`;
* key: `PROXMOX_VE_SSH_PRIVATE_KEY` (written to a 0600 file in a private temporary directory,
  removed afterwards), else the SSH agent (`SSH_AUTH_SOCK`).  Password login
  (`PROXMOX_VE_SSH_PASSWORD`) is not supported: OpenSSH cannot take a password non-interactively;
* host keys: `$HOME/.ssh/known_hosts` -- the file bpg records node keys in -- with
  `StrictHostKeyChecking=yes`: an unknown or changed key is an error naming the fix, and the
  check never adds a key itself.

`ssh -F none` (no user config, like bpg's Go client), `BatchMode=yes` (never prompt).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ...core import names
from ...core.errors import ValidationError
from ...model.provider import SSH_NODES_ENV, parse_node_address, ssh_nodes_from_env
from ...pve.synthesized import ProviderSettings

TIMEOUT_S = 120.0


class SshError(Exception):
    """The probe could not run on a node; str() is one line naming the cause and the fix."""


@dataclass(frozen=True)
class SshTarget:
    node: str
    address: str
    port: int
    username: str

    def __str__(self) -> str:
        return f"{self.username}@{self.address}:{self.port}"


def parse_ssh_nodes(raw: str) -> dict[str, tuple[str, int | None]]:
    """`pve=192.0.2.10:2222,pve2=[2001:db8::1]:22,pve3=host` -> {node: (address, port)}, read
    with the same rules as `ProxmoxProvider` applies at synth time."""
    try:
        nodes = ssh_nodes_from_env({SSH_NODES_ENV: raw})
        return {name: parse_node_address(f"{SSH_NODES_ENV} node {name!r}", text) for name, text in nodes.items()}
    except ValidationError as err:
        raise SshError(str(err)) from None


def parse_target(node: str, text: str, what: str = "--ssh") -> SshTarget:
    """`root@192.0.2.10`, `root@pve.lan:2222` or `root@[2001:db8::1]:22` (port 22 when not given)."""
    user, sep, host = text.partition("@") if isinstance(text, str) else ("", "", "")
    if not sep or not names.is_unix_user(user):
        raise SshError(f"{what} {text!r} is not USER@HOST[:PORT] with a Unix user name, e.g. root@192.0.2.10")
    try:
        address, port = parse_node_address(what, host)
    except ValidationError as err:
        raise SshError(str(err)) from None
    if not names.is_host(address):
        raise SshError(f"{what} {text!r}: {address!r} is not a host name or IP address")
    return SshTarget(node=node, address=address, port=port or 22, username=user)


def resolve_target(node: str, provider: ProviderSettings, environ: Mapping[str, str],
                   endpoint: str | None) -> SshTarget:
    address: str | None = None
    port: int | None = None
    for entry in provider.ssh_nodes:
        if entry.name == node:
            address, port = entry.address, entry.port
            break
    if address is None:
        from_env = parse_ssh_nodes(environ.get(SSH_NODES_ENV, ""))
        if node in from_env:
            address, port = from_env[node]
    if address is None and endpoint:
        address = urllib.parse.urlsplit(endpoint).hostname
    if not address:
        raise SshError(f"no SSH address for node {node!r}: give the provider's ssh node block or {SSH_NODES_ENV}")
    if not names.is_host(address):
        raise SshError(f"SSH address {address!r} of node {node!r} is not a host name or IP address")
    username = provider.ssh_username or environ.get("PROXMOX_VE_SSH_USERNAME", "").strip() or "root"
    if not names.is_unix_user(username):
        raise SshError(f"SSH user {username!r} is not a Unix user name")
    port = port or 22
    if not 1 <= port <= 65535:
        raise SshError(f"SSH port {port} of node {node!r} is outside 1-65535")
    return SshTarget(node=node, address=address, port=port, username=username)


def known_hosts_path(environ: Mapping[str, str]) -> Path:
    home = environ.get("HOME") or os.path.expanduser("~")
    return Path(home) / ".ssh" / "known_hosts"


class SshRunner:
    """Runs the probe on nodes; `sessions` counts the SSH connections made."""

    def __init__(self, environ: Mapping[str, str], *, timeout: float = TIMEOUT_S,
                 identity_file: Path | None = None, default_keys: bool = False):
        """identity_file: a private key to use before the environment's; default_keys: without a key
        or an agent, let ssh try the user's own keys (~/.ssh/id_*) instead of refusing."""
        self.environ = dict(environ)
        self.timeout = timeout
        self.identity_file = identity_file
        self.default_keys = default_keys
        self.sessions = 0
        self._dir: str | None = None
        self._key: Path | None = None

    def __enter__(self) -> SshRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = self._key = None

    def _identity(self) -> list[str]:
        if self.identity_file is not None:
            return ["-i", str(self.identity_file), "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none"]
        key = self.environ.get("PROXMOX_VE_SSH_PRIVATE_KEY", "")
        if key.strip():
            if self._key is None:
                self._dir = tempfile.mkdtemp(prefix="pve-gpu-lxc-check-")  # 0700
                path = Path(self._dir) / "id"
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(key if key.endswith("\n") else key + "\n")
                self._key = path
            return ["-i", str(self._key), "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none"]
        if self.environ.get("SSH_AUTH_SOCK") or self.default_keys:
            return []
        if self.environ.get("PROXMOX_VE_SSH_PASSWORD"):
            raise SshError("SSH password login (PROXMOX_VE_SSH_PASSWORD) is not supported by the check: "
                           "set PROXMOX_VE_SSH_PRIVATE_KEY or run an ssh-agent (SSH_AUTH_SOCK)")
        raise SshError("no SSH credentials: set PROXMOX_VE_SSH_PRIVATE_KEY or run an ssh-agent (SSH_AUTH_SOCK), "
                       "as for bpg's idmap and snippet uploads")

    def argv(self, target: SshTarget) -> list[str]:
        ssh = shutil.which("ssh", path=self.environ.get("PATH", os.defpath))
        if ssh is None:
            raise SshError("the OpenSSH client `ssh` is not on PATH (Debian: apt-get install openssh-client)")
        known = known_hosts_path(self.environ)
        return [
            ssh, "-F", "none", "-T", *self._identity(),
            "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", f'UserKnownHostsFile="{known}"', "-o", "ConnectTimeout=15",
            "-o", "LogLevel=ERROR", "-p", str(target.port), "-l", target.username,
            "--", target.address, "sh -s",
        ]

    def run(self, target: SshTarget, script: str, *, end: str = "end") -> str:
        """The script's stdout; raises SshError when the session failed or the output does not end
        with `end` (the probe's last line; the facts collector's closing brace)."""
        argv = self.argv(target)
        self.sessions += 1
        try:
            proc = subprocess.run(argv, input=script, capture_output=True, text=True, timeout=self.timeout,
                                  env=self.environ, check=False)
        except subprocess.TimeoutExpired:
            raise SshError(f"{target}: the probe did not finish within {self.timeout:.0f} s") from None
        if proc.returncode == 255:
            raise SshError(self._explain(target, proc.stderr))
        if not proc.stdout.rstrip("\n").endswith(end):
            last = _last_line(proc.stderr) or f"exit code {proc.returncode}"
            raise SshError(f"{target}: the script ended early: {last}")
        return proc.stdout

    def _explain(self, target: SshTarget, stderr: str) -> str:
        text = stderr or ""
        known = known_hosts_path(self.environ)
        if "Host key verification failed" in text or "REMOTE HOST IDENTIFICATION HAS CHANGED" in text \
                or "No ED25519 host key is known" in text or "host key is known" in text:
            host = target.address if target.port == 22 else f"[{target.address}]:{target.port}"
            return (f"{target}: the node's host key is not in {known} or has changed (strict checking: "
                    f"no key is ever added). Compare `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on "
                    f"{target.node} with `ssh-keyscan -p {target.port} {target.address}`, then add the line "
                    f"for {host} to {known} (a bpg apply records it too)")
        if "Permission denied" in text:
            if self.identity_file is not None or self.default_keys:
                keys = f"key {self.identity_file}" if self.identity_file is not None else \
                    "keys (--identity, PROXMOX_VE_SSH_PRIVATE_KEY, the ssh-agent or ~/.ssh/id_*)"
                return f"{target}: SSH login refused ({_last_line(text)}) with the {keys}"
            return (f"{target}: SSH login refused ({_last_line(text)}); the check uses bpg's settings: "
                    "PROXMOX_VE_SSH_USERNAME and PROXMOX_VE_SSH_PRIVATE_KEY or the ssh-agent")
        return f"{target}: SSH failed: {_last_line(text) or 'exit code 255'}"


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1] if lines else ""

