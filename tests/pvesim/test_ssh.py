"""The simulated node's SSH side: Debian's sshd, every session chrooted into the node root.

The scripts below are bpg/proxmox v0.111.1's, copied literally from proxmox/ssh/client.go
(TrySudo, probeSudo, executeCommands, uploadFile) and proxmoxtf/resource/container/container.go
(containerSetIDMaps), and sent the way bpg sends them: one exec of `/bin/bash -c '<script>'`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

from pve_gpu_lxc_testing.pvesim import ssh as pvessh
from pve_gpu_lxc_testing.pvesim.ssh import SshServer, SshServerError

# --- bpg v0.111.1, verbatim ---------------------------------------------------------------------

TRY_SUDO = (
    "_try_sudo_check(){ "
    'if [ -z "${_try_sudo_cached:-}" ]; then '
    '_try_sudo_use_sudo="${TRY_SUDO_USE_SUDO:-0}"; '
    "_try_sudo_cached=1; "
    "fi; "
    "}; "
    "try_sudo(){ "
    "_try_sudo_check; "
    'if [ "$_try_sudo_use_sudo" = "1" ]; then '
    'sudo "$@"; '
    "else "
    '"$@"; '
    "fi; "
    "}"
)
SUDO_PROBE = (
    'if [ "$(id -u)" = "0" ]; then echo "0"; '
    'elif [ $(sudo -n /usr/sbin/pvesm apiinfo 2>&1 | grep "APIVER" | wc -l) -gt 0 ] '
    '|| sudo -n /usr/sbin/qm --help >/dev/null 2>&1; then echo "1"; else echo "0"; fi'
)


def bpg_exec(commands: list[str]) -> str:
    """client.executeCommands: join with "; ", escape single quotes, wrap in /bin/bash -c."""
    script = "; ".join(commands)
    return "/bin/bash -c '%s'" % script.replace("'", "'\"'\"'")


def bpg_idmap_commands(vmid: int, lines: list[str]) -> list[str]:
    """containerSetIDMaps, plus the `export TRY_SUDO_USE_SUDO=0` ExecuteNodeCommands prepends."""
    config_file = "/etc/pve/lxc/%d.conf" % vmid
    return [
        "export TRY_SUDO_USE_SUDO=0",
        "set -e",
        TRY_SUDO,
        "try_sudo sed -i '/^lxc\\.idmap:/d' %s" % config_file,
        "echo '%s' | try_sudo tee -a %s > /dev/null" % ("\n".join(lines), config_file),
    ]


def bpg_upload_command(remote_file_path: str) -> str:
    """client.uploadFile (upload_mode stream)."""
    script = "export TRY_SUDO_USE_SUDO=0; %s; try_sudo /usr/bin/tee %s" % (TRY_SUDO, remote_file_path)
    return "/bin/bash -c '%s'" % script.replace("'", "'\"'\"'")


# --- fixtures -----------------------------------------------------------------------------------

# Names no real machine has, so "absent on the host" means something even on a PVE host.
VMID = 987654
SNIPPET = "pvesim-ssh-test-hook.sh"
HOST_CONF = Path(f"/etc/pve/lxc/{VMID}.conf")
HOST_SNIPPET = Path(f"/var/lib/vz/snippets/{SNIPPET}")
REAL_KNOWN_HOSTS = Path.home() / ".ssh" / "known_hosts"


def _state(path: Path) -> bytes | None:
    return path.read_bytes() if path.exists() else None


def mounts_under(root: Path) -> list[str]:
    """What findmnt shows at or below root (its raw output escapes a space as \\x20)."""
    out = subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True, text=True, check=True).stdout
    targets = [re.sub(r"\\x([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), t) for t in out.splitlines()]
    return [t for t in targets if t == str(root) or t.startswith(f"{root}/")]


@pytest.fixture
def node_root(tmp_path: Path) -> Path:
    root = tmp_path / "node root"  # a space: paths must be quoted everywhere
    (root / "etc/pve/lxc").mkdir(parents=True)
    (root / "var/lib/vz/snippets").mkdir(parents=True)
    (root / "var/lib/vz/template/cache").mkdir(parents=True)
    return root


@pytest.fixture
def server(node_root: Path, tmp_path: Path) -> Iterator[SshServer]:
    """A started server; afterwards: stopped with its whole process tree, nothing mounted
    under the node root, nothing on the host's /etc/pve, /var/lib/vz or ~/.ssh."""
    known_before = _state(REAL_KNOWN_HOSTS)
    srv = SshServer(node_root, tmp_path / "state")
    try:
        srv.start()
    except SshServerError as err:
        pytest.fail(f"cannot start the simulated node's sshd: {err}", pytrace=False)
    listener = srv._proc.pid  # type: ignore[union-attr]
    try:
        yield srv
    finally:
        tree = [listener, *pvessh._descendants(listener)]
        srv.stop()
    assert not [p for p in tree if pvessh._alive(p)], "sshd processes survived stop()"
    assert chrooted_into(node_root) == [], "session processes survived stop()"
    assert mounts_under(node_root) == []
    assert not HOST_CONF.exists() and not HOST_SNIPPET.exists()
    assert _state(REAL_KNOWN_HOSTS) == known_before


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def chrooted_into(root: Path) -> list[int]:
    """Live processes whose "/" is root (found through /proc, independent of ssh.py)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and pvessh._alive(int(entry.name)):
            try:
                if os.readlink(entry / "root") == str(root):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def ssh(srv: SshServer, command: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(srv.ssh_argv(command), input=stdin, capture_output=True, text=True, timeout=60)


def sftp(srv: SshServer, batch: str) -> subprocess.CompletedProcess[str]:
    """`sftp -b -`: stops at, and exits non-zero on, the first failing command."""
    return subprocess.run(
        ["sftp", "-b", "-", *srv.client_options(), f"root@{srv.address}"],
        input=batch, capture_output=True, text=True, timeout=60,
    )


# --- tests --------------------------------------------------------------------------------------

def test_bpg_idmap_script_rewrites_the_conf_under_the_node_root(server: SshServer, node_root: Path) -> None:
    conf = node_root / f"etc/pve/lxc/{VMID}.conf"
    conf.write_text(
        "arch: amd64\nlxc.idmap: u 0 1 2\nhostname: ct\nlxc.idmap: g 0 1 2\nmemory: 512\n"
        "dev0: /dev/dri/renderD128,gid=44,mode=0666\n"
    )
    probe = ssh(server, bpg_exec([SUDO_PROBE]))
    assert (probe.returncode, probe.stdout) == (0, "0\n"), probe.stderr

    first = ["lxc.idmap: u 0 100000 65536", "lxc.idmap: g 0 100000 44", "lxc.idmap: g 44 44 1"]
    run = ssh(server, bpg_exec(bpg_idmap_commands(VMID, first)))
    assert (run.returncode, run.stdout) == (0, ""), run.stderr
    kept = "arch: amd64\nhostname: ct\nmemory: 512\ndev0: /dev/dri/renderD128,gid=44,mode=0666\n"
    assert conf.read_text() == kept + "\n".join(first) + "\n"
    # tee's copy went to a real null device, not into a file the node root happens to have
    assert (node_root / "dev/null").read_bytes() == b""

    # a second apply replaces the entries instead of appending to them
    second = ["lxc.idmap: u 0 200000 65536", "lxc.idmap: g 0 200000 65536"]
    run = ssh(server, bpg_exec(bpg_idmap_commands(VMID, second)))
    assert run.returncode == 0, run.stderr
    assert conf.read_text() == kept + "\n".join(second) + "\n"

    # set -e: a missing conf is an error, as on a real node
    run = ssh(server, bpg_exec(bpg_idmap_commands(VMID + 1, second)))
    assert run.returncode != 0 and "No such file" in run.stdout + run.stderr


def test_snippet_stream_upload_then_sftp_stat_and_chmod(server: SshServer, node_root: Path) -> None:
    content = "#!/bin/sh\n# hookscript\necho \"$1 $2\" >> /tmp/hook.log\n"
    remote = f"/var/lib/vz/snippets/{SNIPPET}"
    up = ssh(server, bpg_upload_command(remote), stdin=content)
    assert up.returncode == 0, up.stderr
    landed = node_root / "var/lib/vz/snippets" / SNIPPET
    assert landed.read_text() == content

    landed.chmod(0o644)
    res = sftp(server, f"ls -l {remote}\nchmod 700 {remote}\nls -l {remote}\n")
    assert res.returncode == 0, res.stdout + res.stderr
    listings = [line.split() for line in res.stdout.splitlines()
                if line.endswith(remote) and not line.startswith("sftp>")]  # not the echoed commands
    assert [(fields[0], int(fields[4])) for fields in listings] == [
        ("-rw-r--r--", len(content.encode())),
        ("-rwx------", len(content.encode())),
    ]
    assert landed.stat().st_mode & 0o7777 == 0o700

    # sftp sees the node root too: a path only the host has is not there
    assert sftp(server, "ls -l /proc/self\n").returncode != 0


def test_sessions_are_chrooted_in_a_private_mount_namespace(server: SshServer, node_root: Path) -> None:
    probe = Path("/usr/pvesim-ssh-test-probe")
    session = subprocess.Popen(
        server.ssh_argv(
            "echo ready; if touch /usr/pvesim-ssh-test-probe 2>/dev/null; then echo usr-writable; "
            "else echo usr-read-only; fi; read x"
        ),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert session.stdout is not None and session.stdout.readline() == "ready\n"
        assert session.stdout.readline() == "usr-read-only\n"
        # while the session runs: its processes have the node root as "/" and a mount namespace
        # of their own; the machine sees no mount under the node root
        rooted = chrooted_into(node_root)
        assert rooted, "no session process runs chrooted into the node root"
        assert all(os.readlink(f"/proc/{p}/ns/mnt") != os.readlink("/proc/self/ns/mnt") for p in rooted)
        assert mounts_under(node_root) == []
        assert not probe.exists()
    finally:
        out, err = session.communicate("\n", timeout=30)
        if probe.exists():  # only if the read-only bind mount broke
            probe.unlink()
    assert session.returncode == 0, err
    assert mounts_under(node_root) == []
    assert not Path("/etc/pve/lxc").joinpath(f"{VMID}.conf").exists()
    # the merged-/usr layout the session needed, prepared once by start()
    if Path("/bin").is_symlink():
        assert os.readlink(node_root / "bin") == os.readlink("/bin")


def test_known_hosts_holds_the_served_host_key(server: SshServer) -> None:
    host = f"[127.0.0.1]:{server.port}"
    assert server.known_hosts_path == server.home_dir / ".ssh" / "known_hosts"
    scanned = subprocess.run(
        ["ssh-keyscan", "-T", "10", "-t", "ed25519", "-p", str(server.port), "127.0.0.1"],
        capture_output=True, text=True, timeout=30,
    ).stdout
    # the line skeema/knownhosts writes: "<[host]:port> <type> <base64>", no comment
    assert server.known_hosts_path.read_text() == scanned
    assert scanned.startswith(host + " ssh-ed25519 ")
    assert ssh(server, "true").returncode == 0

    # a different key for the same host must be refused with strict checking
    other = server.state_dir / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    good = server.known_hosts_path.read_text()
    server.known_hosts_path.write_text(host + " " + " ".join(other.with_suffix(".pub").read_text().split()[:2]) + "\n")
    try:
        refused = ssh(server, "true")
    finally:
        server.known_hosts_path.write_text(good)
    assert refused.returncode == 255 and "Host key verification failed" in refused.stderr


def test_client_key_is_unencrypted_openssh_ed25519(server: SshServer) -> None:
    text = server.client_key_text
    assert text.startswith("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    pub = subprocess.run(
        ["ssh-keygen", "-y", "-P", "", "-f", str(server.client_key_path)], capture_output=True, text=True
    )
    assert pub.returncode == 0 and pub.stdout.startswith("ssh-ed25519 "), pub.stderr
    assert pub.stdout.split()[1] in (server.state_dir / "authorized_keys").read_text()


def test_stop_ends_running_sessions(server: SshServer, node_root: Path) -> None:
    session = subprocess.Popen(
        server.ssh_argv("echo started; exec sleep 600"), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert session.stdout is not None and session.stdout.readline() == "started\n"
    sleepers: list[int] = []
    deadline = time.monotonic() + 10
    while not sleepers and time.monotonic() < deadline:  # "started" arrives before the exec
        sleepers = [p for p in chrooted_into(node_root) if _cmdline(p).startswith(b"sleep\0")]
        time.sleep(0.02)
    assert sleepers
    began = time.monotonic()
    server.stop()
    session.wait(timeout=15)
    assert time.monotonic() - began < 10
    assert not [p for p in sleepers if pvessh._alive(p)]
    assert chrooted_into(node_root) == []
    assert not server.running
    assert mounts_under(node_root) == []


def test_wrapper_is_shellcheck_clean(server: SshServer) -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.fail("shellcheck is not installed: run `make system-deps` (Debian package shellcheck)")
    proc = subprocess.run([shellcheck, str(server.wrapper_path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_missing_sshd_names_the_debian_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pvessh, "SSHD", tmp_path / "no-sshd")
    with pytest.raises(SshServerError, match="openssh-server"):
        SshServer(tmp_path, tmp_path / "state").start()


def test_stop_undoes_mounts_leaked_onto_the_machine(server: SshServer, node_root: Path) -> None:
    target = node_root / "var/lib/vz/template/cache"
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "pvesim-leak", str(target)], check=True)
    try:
        assert mounts_under(node_root) == [str(target)]
        with pytest.raises(SshServerError, match="left mounts"):
            server.stop()
        assert mounts_under(node_root) == []
    finally:
        if mounts_under(node_root):
            subprocess.run(["umount", "-l", str(target)], check=False)


def test_the_opt_in_marker_gives_this_machines_proc_read_only(server: SshServer, node_root: Path) -> None:
    """The opt-in the check's in-container probe uses (lxc/running.containers_run_on): only a node
    root with run/pvesim/host-proc gets this machine's /proc, read-only, in the session only."""
    assert ssh(server, "test -e /proc/self/root").returncode != 0  # the default: the node's recorded /proc
    marker = node_root / "run/pvesim/host-proc"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    try:
        res = ssh(server, "cat /proc/self/uid_map && grep -E '^proc /proc proc ro,' /proc/self/mounts")
        assert res.returncode == 0, res.stdout + res.stderr
        assert res.stdout.split()[:3] == ["0", "0", "4294967295"]
        assert mounts_under(node_root) == []
    finally:
        marker.unlink()


def test_the_nodes_recorded_proc_is_its_proc_read_only(server: SshServer, node_root: Path) -> None:
    """run/pvesim/proc (kernel.py writes it from the facts) is what a session reads as /proc."""
    recorded = node_root / "run/pvesim/proc/driver/nvidia"
    recorded.mkdir(parents=True)
    (recorded / "version").write_text("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  575.64.03\n")
    try:
        res = ssh(server, "cat /proc/driver/nvidia/version; touch /proc/x 2>&1; echo $?")
        assert res.stdout.splitlines()[0].endswith("575.64.03")
        assert "Read-only file system" in res.stdout and res.stdout.splitlines()[-1] == "1"
        assert mounts_under(node_root) == []
    finally:
        shutil.rmtree(node_root / "run/pvesim/proc")
