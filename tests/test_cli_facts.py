"""`pve-gpu-lxc facts` without a node: a stand-in `ssh` on PATH runs the real collector on a fake
node root (or prints what a broken node prints); the real `ssh` for an unreachable host.
The end-to-end run against the simulated node's sshd is tests/e2e/test_facts_command.py."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
from pathlib import Path

import pytest

from pve_gpu_lxc import HostFacts, cli
from pve_gpu_lxc_testing.templates import build_template

TEMPLATE = "debian-12-standard_12.7-1_amd64.tar.zst"


@pytest.fixture
def node(tmp_path: Path) -> Path:
    """A node root: hostname pve, PVE's default storages, one real template."""
    root = tmp_path / "node"
    (root / "proc/sys/kernel").mkdir(parents=True)
    (root / "proc/sys/kernel/hostname").write_text("pve\n")
    (root / "etc/pve").mkdir(parents=True)
    (root / "etc/pve/storage.cfg").write_text("dir: local\n\tpath /var/lib/vz\n\tcontent vztmpl,iso\n")
    build_template(root / "var/lib/vz/template/cache" / TEMPLATE)
    return root


def fake_ssh(tmp_path: Path, body: str) -> dict[str, str]:
    """An environment whose `ssh` is a script: it logs its argv, then runs `body` (stdin: the collector)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "ssh"
    log = tmp_path / "ssh-argv"
    script.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {shlex.quote(str(log))}\n{body}\n")
    script.chmod(0o755)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(home)}


def run(capsys: pytest.CaptureFixture[str], env: dict[str, str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(["facts", *args], environ=env)
    out, err = capsys.readouterr()
    return code, out, err


def test_records_the_node_into_stacks_facts(tmp_path: Path, node: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = {**fake_ssh(tmp_path, f"HOSTFACTS_ROOT={shlex.quote(str(node))} exec sh -s"),
           "PROXMOX_VE_SSH_PRIVATE_KEY": ""}
    project = tmp_path / "project"
    code, out, err = run(capsys, env, "--node", "pve", "--ssh", "root@192.0.2.10:2222", "--project-dir", str(project))
    assert (code, err) == (0, "")
    written = project / "stacks/facts/pve.json"
    facts = HostFacts.load(written)
    recorded = facts.template(f"local:vztmpl/{TEMPLATE}")
    assert recorded is not None and (recorded.video, recorded.render) == (44, 104)
    assert oct(written.stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    assert out.splitlines() == [
        f"recorded node 'pve' into {written}",
        "GPUs: none recorded",
        "templates (1):",
        f"  local:vztmpl/{TEMPLATE}: video 44, render 104",
    ]
    argv = (tmp_path / "ssh-argv").read_text().splitlines()
    # user input only as separate argv items, the remote command fixed
    assert argv[-3:] == ["--", "192.0.2.10", "sh -s"]
    assert argv[argv.index("-p") + 1] == "2222" and argv[argv.index("-l") + 1] == "root"
    assert "StrictHostKeyChecking=yes" in argv and "BatchMode=yes" in argv


def test_identity_file_is_passed_to_ssh(tmp_path: Path, node: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = fake_ssh(tmp_path, f"HOSTFACTS_ROOT={shlex.quote(str(node))} exec sh -s")
    key = tmp_path / "id_ed25519"
    key.write_text("not checked by the stand-in\n")
    code, _, err = run(capsys, env, "--node", "pve", "--ssh", "root@pve.lan", "--identity", str(key),
                       "--out", str(tmp_path / "out.json"))
    assert (code, err) == (0, "")
    argv = (tmp_path / "ssh-argv").read_text().splitlines()
    assert argv[argv.index("-i") + 1] == str(key) and "IdentitiesOnly=yes" in argv
    assert argv[argv.index("-p") + 1] == "22"


def test_another_hostname_is_refused_and_the_old_file_kept(tmp_path: Path, node: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    env = fake_ssh(tmp_path, f"HOSTFACTS_ROOT={shlex.quote(str(node))} exec sh -s")
    out = tmp_path / "pve2.json"
    out.write_text("old facts\n")
    code, stdout, err = run(capsys, env, "--node", "pve2", "--ssh", "root@192.0.2.11", "--out", str(out))
    assert code == 1 and stdout == ""
    assert err == (f"pve-gpu-lxc facts: root@192.0.2.11:22 is node 'pve', not 'pve2': check --ssh, or pass "
                   f"--node pve (--allow-hostname-mismatch writes it anyway); nothing written to {out}\n")
    assert out.read_text() == "old facts\n" and list(tmp_path.glob(".pve2.json.*")) == []
    code, _, _ = run(capsys, env, "--node", "pve2", "--ssh", "root@192.0.2.11", "--out", str(out),
                     "--allow-hostname-mismatch")
    assert code == 0 and HostFacts.load(out).hostname == "pve"


def test_output_that_is_not_json_is_refused(tmp_path: Path, node: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a login script that prints a banner on stdout before the collector's document
    env = fake_ssh(tmp_path, f"echo 'Welcome to pve!'; HOSTFACTS_ROOT={shlex.quote(str(node))} exec sh -s")
    out = tmp_path / "facts" / "pve.json"
    code, _, err = run(capsys, env, "--node", "pve", "--ssh", "root@192.0.2.10", "--out", str(out))
    assert code == 1
    assert err == ("pve-gpu-lxc facts: root@192.0.2.10:22: the collector's output is not JSON (Expecting value at "
                   "line 1; it starts with 'Welcome to pve!': a login script printing to stdout?); nothing written "
                   f"to {out}\n")
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_json_that_is_not_a_facts_document_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = fake_ssh(tmp_path, "cat > /dev/null; echo '{\"schema\": \"something-else\"}'")
    out = tmp_path / "pve.json"
    code, _, err = run(capsys, env, "--node", "pve", "--ssh", "root@192.0.2.10", "--out", str(out))
    assert code == 1 and not out.exists()
    assert err == (f"pve-gpu-lxc facts: root@192.0.2.10:22: {out} is not a host facts document (expected \"schema\": "
                   f"\"pve-gpu-lxc/host-facts\"); nothing written to {out}\n")


def test_a_collector_cut_short_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = fake_ssh(tmp_path, "cat > /dev/null; printf '{\\n  \"schema\": '; echo 'sh: 1: awk: not found' >&2; exit 127")
    code, _, err = run(capsys, env, "--node", "pve", "--ssh", "root@192.0.2.10", "--out", str(tmp_path / "f.json"))
    assert code == 1
    assert err.startswith("pve-gpu-lxc facts: root@192.0.2.10:22: the script ended early: sh: 1: awk: not found; ")


def test_an_unreachable_host_is_an_error_on_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if shutil.which("ssh") is None:
        pytest.skip("OpenSSH client not installed (scripts/system-packages.txt lists it)")
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    home = tmp_path / "home"
    home.mkdir()
    out = tmp_path / "pve.json"
    env = {"PATH": os.environ["PATH"], "HOME": str(home)}
    code, _, err = run(capsys, env, "--node", "pve", "--ssh", f"root@127.0.0.1:{port}", "--out", str(out))
    assert code == 1 and not out.exists()
    assert err == (f"pve-gpu-lxc facts: root@127.0.0.1:{port}: SSH failed: ssh: connect to host 127.0.0.1 port "
                   f"{port}: Connection refused; nothing written to {out}\n")


@pytest.mark.parametrize(("args", "message"), [
    (["--node", "pve", "--ssh", "192.0.2.10"],
     "--ssh '192.0.2.10' is not USER@HOST[:PORT] with a Unix user name, e.g. root@192.0.2.10"),
    (["--node", "pve", "--ssh", "root@host;reboot"],
     "--ssh 'host;reboot': 'host;reboot' is not a host name or IPv4 address"),
    (["--node", "pve", "--ssh", "root@192.0.2.10:70000"], "--ssh '192.0.2.10:70000': port 70000 is outside 1-65535"),
    (["--node", "pve", "--ssh=-oProxyCommand=x@h"], "--ssh '-oProxyCommand=x@h' is not USER@HOST[:PORT]"),
    (["--node", "pve;x", "--ssh", "root@h"], "--node: node_name 'pve;x' is not a Proxmox node name"),
    (["--node", "pve", "--ssh", "root@h", "--identity", "/nonexistent/key"],
     "--identity '/nonexistent/key' is not a file (an SSH private key)"),
])
def test_bad_arguments_are_refused_before_any_connection(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         args: list[str], message: str) -> None:
    env = fake_ssh(tmp_path, "exit 99")
    code, _, err = run(capsys, env, *args, "--out", str(tmp_path / "f.json"))
    assert code == 1 and err.startswith(f"pve-gpu-lxc facts: {message}")
    assert not (tmp_path / "ssh-argv").exists()


def test_usage_errors_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["facts", "--node", "pve"], environ={})
    assert exit_.value.code == 1 and "--ssh" in capsys.readouterr().err


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_summary_lists_gpus_and_unreadable_templates(tmp_path: Path) -> None:
    from pve_gpu_lxc.cli.facts import summary

    doc = json.loads((Path(__file__).parents[1] / "stacks/facts/pve.json").read_text())
    doc["templates"].append({"volid": "local:vztmpl/x.tar.zst", "storage": "local", "file": "x.tar.zst",
                             "error": "tar -x ./etc/group: Unexpected EOF in archive"})
    text = summary(HostFacts.from_json(doc), tmp_path / "pve.json")
    assert text.splitlines() == [
        f"recorded node 'pve' (pve-manager/8.4.1/2a5fa54a8503f96d (running kernel: 6.8.12-11-pve), kernel "
        f"6.8.12-11-pve) into {tmp_path / 'pve.json'}",
        "GPUs (2):",
        "  0000:00:02.0 Intel 8086:3e92 (i915): card0 renderD128",
        "  0000:01:00.0 NVIDIA 10de:2b85 (nvidia) NVIDIA GeForce RTX 5090: card1 renderD129 nvidia0",
        "NVIDIA driver: 575.64.03",
        "templates (3):",
        "  local:vztmpl/debian-12-standard_12.2-1_amd64.tar.zst: video 44, render 106",
        "  local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst: video 44, render 993",
        "  local:vztmpl/x.tar.zst: not readable (tar -x ./etc/group: Unexpected EOF in archive)",
    ]
