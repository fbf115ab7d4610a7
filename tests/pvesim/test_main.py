"""`python -m pve_gpu_lxc_testing.pvesim`: exports on stdout only, a working node, a clean stop."""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FACTS = REPO / "stacks" / "facts" / "pve.json"
NAMES = {"PROXMOX_VE_ENDPOINT", "PROXMOX_VE_USERNAME", "PROXMOX_VE_PASSWORD", "PROXMOX_VE_INSECURE", "HOME",
         "TF_CLI_CONFIG_FILE", "PROXMOX_VE_SSH_USERNAME", "PROXMOX_VE_SSH_PRIVATE_KEY", "PVE_GPU_LXC_SSH_NODES"}


def _exports(text: str) -> dict[str, str]:
    """What a shell gets from `eval` of the printed lines (bash itself parses the quoting)."""
    names = " ".join(sorted(NAMES))
    script = f'eval "$(cat)"; for n in {names}; do printf "%s\\0%s\\0" "$n" "${{!n}}"; done'
    out = subprocess.run(["bash", "-c", script], input=text, capture_output=True, text=True, check=True).stdout
    parts = out.split("\0")[:-1]
    return dict(zip(parts[::2], parts[1::2]))


def test_prints_only_exports_serves_the_api_and_stops_on_sigterm(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "pve_gpu_lxc_testing.pvesim", "--root", str(tmp_path / "node"),
                             "--facts", str(FACTS), "--state-dir", str(tmp_path / "state")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not any(line.startswith("export PVE_GPU_LXC_SSH_NODES=") for line in lines):
            line = proc.stdout.readline()
            assert line, f"exited early: {proc.stderr.read() if proc.stderr else ''}"
            lines.append(line)
        env = _exports("".join(lines))
        assert NAMES <= set(env), sorted(NAMES - set(env))
        assert env["PROXMOX_VE_SSH_PRIVATE_KEY"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----\n")
        assert env["PVE_GPU_LXC_SSH_NODES"].startswith("pve=127.0.0.1:")
        assert (Path(env["HOME"]) / ".ssh" / "known_hosts").read_text().startswith("[127.0.0.1]:")

        # the exported credentials log in
        context = ssl._create_unverified_context()  # PROXMOX_VE_INSECURE=true: a self-signed certificate
        body = urllib.parse.urlencode({"username": env["PROXMOX_VE_USERNAME"],
                                       "password": env["PROXMOX_VE_PASSWORD"]}).encode()
        url = env["PROXMOX_VE_ENDPOINT"] + "api2/json/access/ticket"
        with urllib.request.urlopen(url, data=body, context=context, timeout=10) as response:
            assert json.load(response)["data"]["username"] == "root@pam"
        assert (tmp_path / "node" / "dev" / "dri" / "renderD128").is_char_device()
        assert _sshd_processes(tmp_path / "state" / "ssh" / "sshd_config") != []  # the check below can fail
    finally:
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert rest == "", f"stdout must carry only the export lines, got {rest!r}"
    assert _sshd_processes(tmp_path / "state" / "ssh" / "sshd_config") == [], "sshd outlived the simulator"


def _sshd_processes(config: Path) -> list[int]:
    """PIDs of processes started with this sshd_config."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(config) in cmdline.read_bytes().decode(errors="replace"):
                found.append(int(cmdline.parent.name))
        except OSError:
            pass
    return found


@pytest.mark.parametrize("argv", [[], ["--root"]])
def test_usage_errors_exit_2_with_argparse_message(argv: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-m", "pve_gpu_lxc_testing.pvesim", *argv], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "--root" in proc.stderr
