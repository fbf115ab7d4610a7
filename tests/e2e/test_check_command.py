"""`pve-gpu-lxc check` against the example stacks applied by the real bpg/proxmox provider to the
simulated node: each finding provoked by an out-of-band change on the node, a clean node, the
request and session counts, and that the node is byte-identical after every check.

One module-wide deployment; each test edits the node and puts it back (the clean check at the
end of `provoked` proves it), so the tests stay independent of their order.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from pve_gpu_lxc import cli
from pve_gpu_lxc_testing.e2e.harness import FACTS, REPO_ROOT, SimEnv, edited, stack_dir, sub, synth_app

pytestmark = pytest.mark.e2e

STACKS = ("intel-jellyfin", "nvidia-ollama")
CONTAINERS = 2  # one GPU container per example stack
SNIPPET = "var/lib/vz/snippets/pve-gpu-lxc-220.sh"


@dataclass
class Checked:
    code: int
    out: str
    err: str
    requests: list[str]
    ssh_logins: int
    report: dict


@dataclass
class Node:
    sim: SimEnv
    out: Path  # synthesized stacks (cdktf.out)

    @property
    def env(self) -> dict[str, str]:
        env = {**os.environ, **self.sim.env}
        env.pop("SSH_AUTH_SOCK", None)  # the key from PROXMOX_VE_SSH_PRIVATE_KEY, as in CI
        return env

    def path(self, rel: str) -> Path:
        return self.sim.node_root / rel

    def check(self, *args: str, capsys: pytest.CaptureFixture[str], tmp_path: Path,
              environ: dict[str, str] | None = None, command: str = "check") -> Checked:
        """Run the command in-process; assert the node is unchanged by it; count what it cost."""
        report = tmp_path / f"report-{len(list(tmp_path.glob('report-*')))}.json"
        before = self.sim.node_fingerprint()
        requests, logins = len(self.sim.sim.requests()), self.sim.sim.ssh_logins()
        capsys.readouterr()
        base = [command, "--no-synth", "--outdir", str(self.out), "--json", str(report)]
        base += ["--facts", f"pve={FACTS}"] if command == "check" else ["--project-dir", str(REPO_ROOT)]
        code = cli.main([*base, *args], environ=environ or self.env)
        captured = capsys.readouterr()
        # the command never writes to the node: every file byte-identical (sha256), no mode, owner,
        # device node or time changed (ctime moves on any write)
        assert self.sim.node_fingerprint() == before
        return Checked(code, captured.out, captured.err, self.sim.sim.requests()[requests:],
                       self.sim.sim.ssh_logins() - logins, json.loads(report.read_text()))


@pytest.fixture(scope="module")
def node(shared_sim: SimEnv) -> Node:
    out = synth_app(shared_sim.work_dir / "check-out", env=shared_sim.env, state_dir=shared_sim.work_dir / "state")
    for stack in STACKS:
        shared_sim.apply(stack_dir(out, stack))
    return Node(shared_sim, out)


@contextmanager
def device_changed(path: Path, rdev: tuple[int, int] | None) -> Iterator[None]:
    """Remove a device node (rdev None) or re-create it with other numbers; restore it after."""
    st = path.lstat()
    path.unlink()
    if rdev is not None:
        os.mknod(path, stat.S_IFCHR | stat.S_IMODE(st.st_mode), os.makedev(*rdev))
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        os.mknod(path, st.st_mode, st.st_rdev)
        os.chmod(path, stat.S_IMODE(st.st_mode))
        os.chown(path, st.st_uid, st.st_gid)


@contextmanager
def mode_changed(path: Path, mode: int) -> Iterator[None]:
    original = stat.S_IMODE(path.stat().st_mode)
    path.chmod(mode)
    try:
        yield
    finally:
        path.chmod(original)


@contextmanager
def by_path_swapped(node_root: Path) -> Iterator[None]:
    """A kernel update renumbered the cards: the iGPU is card1 now, the RTX card0."""
    links = {name: node_root / "dev/dri/by-path" / name for name in ("pci-0000:00:02.0-card", "pci-0000:01:00.0-card")}
    targets = {name: os.readlink(link) for name, link in links.items()}
    for (name, link), other in zip(links.items(), reversed(list(targets.values()))):
        link.unlink()
        link.symlink_to(other)
    try:
        yield
    finally:
        for name, link in links.items():
            link.unlink()
            link.symlink_to(targets[name])


# --- the clean node and the cost ------------------------------------------------------------------


def test_a_clean_node_reports_no_finding_at_one_request_per_container_and_node_and_one_session(node, capsys, tmp_path):
    result = node.check(capsys=capsys, tmp_path=tmp_path)
    assert result.code == 0, result.out + result.err
    assert "== intel-jellyfin: clean\n  CT 210 on pve (proxmox_virtual_environment_container.jellyfin, not running): clean" \
        in result.out
    assert "== nvidia-ollama: clean" in result.out and result.err == ""
    assert "in-container: not running: skipped" in result.out  # the simulated node runs no container
    # cost: the login, the node's container listing (ownership), then exactly one config read per
    # container; one SSH session for the node
    assert result.requests == ["POST /api2/json/access/ticket", "GET /api2/json/nodes/pve/lxc",
                               "GET /api2/json/nodes/pve/lxc/210/config", "GET /api2/json/nodes/pve/lxc/220/config"]
    assert len(result.requests) <= CONTAINERS + 2 and result.ssh_logins == 1
    assert result.report["exit_code"] == 0
    cost = result.report["cost"]
    assert (cost["api_requests"], cost["api_logins"], cost["api_listings"], cost["ssh_sessions"]) == (4, 1, 1, 1)
    assert cost["seconds"] >= cost["api_seconds"] + cost["ssh_seconds"] > 0
    for stack in result.report["stacks"]:
        (ct,) = stack["containers"]
        assert ct["status"] == "clean" and ct["findings"] == []
        assert {"ownership", "devices", "idmap", "subids", "hookscript", "host-devices"} <= set(ct["checked"])


def test_an_api_token_needs_no_login_request(node, capsys, tmp_path):
    node.sim.sim.api.tokens["root@pam!check"] = "read-only-secret"
    env = {**node.env, "PROXMOX_VE_API_TOKEN": "root@pam!check=read-only-secret"}
    try:
        result = node.check("nvidia-ollama", capsys=capsys, tmp_path=tmp_path, environ=env)
    finally:
        del node.sim.sim.api.tokens["root@pam!check"]
    assert result.code == 0, result.out
    assert result.requests == ["GET /api2/json/nodes/pve/lxc", "GET /api2/json/nodes/pve/lxc/220/config"]
    assert result.ssh_logins == 1
    assert "read-only-secret" not in result.out + result.err + json.dumps(result.report)


# --- each finding, provoked on the node -----------------------------------------------------------


def _provocations(node_root: Path, conf: Callable[[int], Path]) -> dict[str, tuple[Callable[[], object], str, str]]:
    """name -> (context manager making the change, stack, the line the check prints)."""
    return {
        "all devN removed": (
            lambda: edited(conf(210), lambda t: re.sub(r"^dev\d+: .*\n", "", t, flags=re.M)), "intel-jellyfin",
            "devices: no devN line on the node; expected 2 (/dev/dri/card0, /dev/dri/renderD128). bpg keeps its "
            "old list when Proxmox reports none, so Terraform shows no drift and the container has no GPU. Fix: "
            "on pve: `pct set 210 --dev0 'path=/dev/dri/card0,uid=0,gid=44,mode=0660' "
            "--dev1 'path=/dev/dri/renderD128,uid=0,gid=106,mode=0660'` (a deploy does not restore it)."),
        "extra trailing devN": (
            lambda: edited(conf(210), sub(r"^(dev1: .*\n)",
                                          r"\1dev2: deny-write=0,path=/dev/dri/card1,uid=0,gid=44,mode=0660\n")),
            "intel-jellyfin",
            "devices: dev2 (/dev/dri/card1) is on the node but not in the configuration: an extra trailing devN "
            "that bpg never deletes when the device list shrinks, so the device stays passed through and every "
            "plan wants to change it. Fix: on pve: `pct set 210 --delete dev2`."),
        "devN gid edited": (
            lambda: edited(conf(210), sub(r"(dev0: .*)gid=44,", r"\1gid=45,")), "intel-jellyfin",
            "devices: dev0 (/dev/dri/card0) differs: gid is 45, expected 44. Fix: `cdktf deploy intel-jellyfin` "
            "restores it (Terraform sees this), or on pve: `pct set 210 --dev0 "
            "'path=/dev/dri/card0,uid=0,gid=44,mode=0660'`."),
        "lxc.idmap line changed": (
            lambda: edited(conf(210), sub(r"^lxc\.idmap: g 106 108 1$", "lxc.idmap: g 106 100106 1")),
            "intel-jellyfin",
            "idmap: the raw lxc.idmap lines differ: expected 6, found 6; missing 'g 106 108 1'; not in the "
            "configuration 'g 106 100106 1' (the container starts with the wrong owners, or not at all). Fix: "
            "`cdktf deploy intel-jellyfin` rewrites every lxc.idmap line (bpg, over SSH); it takes effect at the "
            "next start."),
        "subgid does not allow the map": (
            lambda: edited(node_root / "etc/subgid", sub(r"^root:108:1\n", "")), "intel-jellyfin",
            "subids: /etc/subgid on pve does not let root map host gids 108-108 for 'lxc.idmap: g 106 108 1' "
            "(newuidmap/newgidmap refuse: the container fails to start). Fix: on pve add 'root:108:1' to "
            "/etc/subgid (e.g. `echo root:108:1 >> /etc/subgid`)."),
        "hookscript content edited": (
            lambda: edited(node_root / SNIPPET, sub(r"^exit 0$", "exit 0 # edited on the node")), "nvidia-ollama",
            f"hookscript: snippet /{SNIPPET} was changed on the node: sha256 "),
        "hookscript not executable": (
            lambda: mode_changed(node_root / SNIPPET, 0o600), "nvidia-ollama",
            f"hookscript: snippet /{SNIPPET} has mode 0600: not executable (PVE refuses the next start; "
            f"Terraform shows no drift). Fix: on pve: `chmod 0700 /{SNIPPET}`, or "),
        "device node missing (card0 gone)": (
            lambda: device_changed(node_root / "dev/dri/card0", None), "intel-jellyfin",
            "host-devices: /dev/dri/card0 does not exist on pve (PVE refuses to start the container: 'Device "
            "/dev/dri/card0 does not exist'). Fix: a kernel or driver update renumbered or removed it (see "
            "`ls -l /dev/dri/by-path` on pve): re-record the host facts (`pve-gpu-lxc facts --node pve "
            "--ssh root@pve`), synthesize and `cdktf deploy intel-jellyfin`"),
        "device node renumbered (major:minor)": (
            lambda: device_changed(node_root / "dev/dri/renderD128", (226, 129)), "intel-jellyfin",
            f"host-devices: /dev/dri/renderD128 is 226:129 on pve, but the host facts ({FACTS}) record 226:128: "
            "renumbered after a kernel or driver update, so the container would get another device."),
        "GPU renumbered (card0 -> card1 by PCI address)": (
            lambda: by_path_swapped(node_root), "intel-jellyfin",
            "host-devices: the GPU at PCI 0000:00:02.0 is /dev/dri/card1 on pve now, but the host facts and this "
            "container use /dev/dri/card0 (renumbered after a kernel update: the container gets another GPU or "
            "fails to start)."),
        "NVIDIA driver upgraded past the pin": (
            lambda: edited(node_root / "sys/module/nvidia/version", lambda t: "580.65.06\n"), "nvidia-ollama",
            "nvidia: the host NVIDIA driver is 580.65.06, but the container is pinned to 575.64.03 (the pre-start "
            "hook refuses the next start; a running container gets NVML 'Driver/library version mismatch'). Fix: "
            "install driver 575.64.03 on pve, or rebuild the image for 580.65.06, set "
            "`NvidiaGpu(driver_version=\"580.65.06\")` and `cdktf deploy nvidia-ollama`."),
        "/dev/nvidia-uvm missing after a reboot": (
            lambda: device_changed(node_root / "dev/nvidia-uvm", None), "nvidia-ollama",
            "host-devices: /dev/nvidia-uvm does not exist on pve (PVE refuses to start the container: 'Device "
            "/dev/nvidia-uvm does not exist'). Fix: `pve-gpu-lxc host-setup --node pve --ssh root@pve --apply` makes "
            "the NVIDIA nodes now and at every boot before pve-guests.service (a unit running nvidia-modprobe; "
            "`modprobe nvidia` first if the driver is not loaded)."),
        "host-setup's unit edited: nvidiactl no longer made at boot": (
            lambda: edited(node_root / "etc/systemd/system/pve-gpu-lxc-nvidia-nodes.service",
                           sub(r" -c 255$", "")), "nvidia-ollama",
            "boot: nothing pve runs at boot before pve-guests.service makes /dev/nvidiactl (NVIDIA makes its nodes "
            "on demand): after the next reboot PVE refuses to start CT 220 ('Device /dev/nvidiactl does not exist'), "
            "before any hookscript runs. Fix: `pve-gpu-lxc host-setup --node pve --ssh root@pve --apply` once for "
            "the node."),
        "container deleted": (
            lambda: _deleted(conf(220)), "nvidia-ollama",
            "container: CT 220 does not exist on node pve (no /etc/pve/lxc/220.conf). Fix: `cdktf deploy "
            "nvidia-ollama` creates it (Terraform sees this)."),
    }


@contextmanager
def _deleted(path: Path) -> Iterator[None]:
    original = path.read_bytes()
    path.unlink()
    try:
        yield
    finally:
        path.write_bytes(original)


PROVOKED = list(_provocations(Path("/"), lambda v: Path("/")).keys())


@pytest.mark.parametrize("name", PROVOKED)
def test_each_out_of_band_change_is_one_finding_with_its_fix(node, capsys, tmp_path, name):
    change, stack, line = _provocations(node.sim.node_root, node.sim.conf_path)[name]
    with change():
        result = node.check(capsys=capsys, tmp_path=tmp_path)
    assert result.code == 2, result.out + result.err
    finding_lines = [ln.strip() for ln in result.out.splitlines() if ln.startswith("    ") and "Fix:" in ln]
    assert len(finding_lines) == 1, result.out
    assert finding_lines[0].startswith(line), f"\n{finding_lines[0]}\n{line}"
    # only the stack concerned has the finding; the other is clean
    other = next(s for s in STACKS if s != stack)
    assert f"== {stack}: 1 finding(s)" in result.out and f"== {other}: clean" in result.out
    doc = next(s for s in result.report["stacks"] if s["stack"] == stack)
    assert doc["status"] == "findings" and result.report["exit_code"] == 2
    assert len(result.requests) <= CONTAINERS + 2 and result.ssh_logins == 1  # login, node listing, configs
    # put back: clean again
    assert node.check(capsys=capsys, tmp_path=tmp_path).code == 0


# --- errors ---------------------------------------------------------------------------------------


def test_an_unknown_host_key_is_an_error_never_added(node, capsys, tmp_path):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    result = node.check("intel-jellyfin", capsys=capsys, tmp_path=tmp_path, environ={**node.env, "HOME": str(home)})
    assert result.code == 1
    assert "the node's host key is not in " + str(home / ".ssh" / "known_hosts") in result.out
    assert not (home / ".ssh" / "known_hosts").exists()  # strict: nothing added


def test_wrong_api_password_is_an_error_and_never_printed(node, capsys, tmp_path):
    result = node.check(capsys=capsys, tmp_path=tmp_path, environ={**node.env, "PROXMOX_VE_PASSWORD": "wr0ng-pa55"})
    assert result.code == 1
    assert "login as root@pam at https://127.0.0.1:" in result.out and "failed: HTTP 401" in result.out
    assert "wr0ng-pa55" not in result.out + result.err + json.dumps(result.report)
    assert result.requests == ["POST /api2/json/access/ticket"] and result.ssh_logins == 0


# --- drift --live ---------------------------------------------------------------------------------


def test_drift_live_reports_what_the_refresh_cannot_see(node, capsys, tmp_path):
    with edited(node.path(SNIPPET), sub(r"^exit 0$", "exit 0 # edited on the node")):
        result = node.check("--stack", "nvidia-ollama", "--live", capsys=capsys, tmp_path=tmp_path, command="drift")
    assert result.code == 2, result.out + result.err
    assert "== nvidia-ollama: clean" in result.out  # Terraform's refresh: no drift (bpg's blind spot)
    assert "== live check (pve-gpu-lxc check) ==" in result.out
    assert f"hookscript: snippet /{SNIPPET} was changed on the node" in result.out
    assert result.report["exit_code"] == 2 and result.report["live"]["exit_code"] == 2
    assert result.report["stacks"][0]["status"] == "clean"  # drift's own report is unchanged
    # facts by convention: <project-dir>/stacks/facts/pve.json (the repository's)
    assert "no host facts" not in result.out
