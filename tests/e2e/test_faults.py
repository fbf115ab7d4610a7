"""Faults, end to end: real Terraform and the real bpg/proxmox provider against a simulated node
that fails the way PVE does (pvesim/faults.py), with the example stack intel-jellyfin (CT 210:
devN, a six-line idmap written over SSH, started, rebooted once for the idmap).

For every fault: what the user sees (the key lines), the exit codes, and whether the next deploy
recovers.  "Recovered" is measured, never assumed: the node's picture after the recovery equals
the picture of a clean apply on the same node (the conf file byte for byte but for PVE's random
MAC and the disk's name, the container's volumes and run state), the second plan is empty, and
`pve-gpu-lxc drift` and `pve-gpu-lxc check` exit 0.  docs/faults.md tabulates the outcomes.

One simulated node serves the module: each test starts from an empty node (CT 210, its disks and
the stack's local state removed, every fault disarmed), so the tests are independent.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pve_gpu_lxc import cli
from pve_gpu_lxc_testing.e2e.harness import FACTS, QUIET_ENV, SimEnv, stack_dir, sub, synth_app
from pve_gpu_lxc_testing.pvesim import faults as pvefaults
from pve_gpu_lxc_testing.pvesim.faults import ApiFault, SessionFault

from ..pvesim.test_api import Client

pytestmark = pytest.mark.e2e

STACK = "intel-jellyfin"
VMID = 210
CONF = f"/etc/pve/lxc/{VMID}.conf"
CONTAINER = "proxmox_virtual_environment_container.jellyfin"
LOCK_INFO = f".terraform.{STACK}.tfstate.lock.info"
IDMAP_LOST = [f"      idmap[{i}]: " for i in range(6)]


@dataclass(frozen=True)
class Picture:
    """What a clean apply leaves on the node for CT 210, PVE's random choices normalised."""

    conf: str
    volumes: tuple[tuple[str, int], ...]
    status: str


@dataclass
class Run:
    code: int
    output: str


class FaultNode:
    def __init__(self, env: SimEnv, out: Path, state: Path):
        self.env = env
        self.sim = env.sim
        self.out = out
        self.dir = stack_dir(out, STACK)
        self.state = state
        self.api = Client(env.sim)
        assert self.api.login().status == 200
        env.init(self.dir)
        self.clean: Picture | None = None

    # --- the node ------------------------------------------------------------------------------
    def reset(self) -> None:
        """An empty node and no state: CT 210, its disks and run state gone, every fault disarmed."""
        self.sim.faults.clear()
        self.sim.files.delete_conf(VMID)
        for disk in (self.env.node_root / "dev/pve").glob(f"vm-{VMID}-disk-*"):
            disk.unlink()
        for path in self.state.glob(f"*{STACK}.tfstate*"):  # the state, its backup, a lock record
            path.unlink()

    def picture(self) -> Picture:
        text = self.conf() or ""
        text = re.sub(r"hwaddr=[0-9A-F:]{17}", "hwaddr=<random MAC>", text)
        text = re.sub(rf"vm-{VMID}-disk-\d+", f"vm-{VMID}-disk-<N>", text)
        volumes = tuple(sorted((re.sub(r"disk-\d+", "disk-<N>", p.name), p.stat().st_size)
                               for p in (self.env.node_root / "dev/pve").glob(f"vm-{VMID}-disk-*")))
        return Picture(text, volumes, self.sim.files.status(VMID))

    def conf(self) -> str | None:
        return self.sim.files.conf_text(VMID)

    # --- commands ------------------------------------------------------------------------------
    def terraform(self, *args: str) -> Run:
        proc = subprocess.run([self.env.terraform_path, *args], cwd=self.dir, env={**os.environ, **self.env.env},
                              capture_output=True, text=True, timeout=300)
        return Run(proc.returncode, proc.stdout + proc.stderr)

    def apply(self) -> Run:
        return self.terraform("apply", "-auto-approve", "-input=false", "-no-color")

    def start_apply(self) -> subprocess.Popen[str]:
        return subprocess.Popen([self.env.terraform_path, "apply", "-auto-approve", "-input=false", "-no-color"],
                                cwd=self.dir, env={**os.environ, **self.env.env}, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)

    def kill_apply_at(self, fault: ApiFault | SessionFault) -> Run:
        """`terraform apply`, SIGKILLed (terraform alone) once the apply reaches `fault`, which is then
        released; returns when terraform and its provider plugin are gone.  The plugin dies on its own
        soon after its terraform (blocked in an SSH session, once the session ends)."""
        proc = self.start_apply()
        try:
            assert fault.wait_reached(120), "the apply never reached the fault"
            os.kill(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            fault.release()
        deadline = time.monotonic() + 60
        while _group_alive(proc.pid):
            assert time.monotonic() < deadline, "the provider outlived its killed terraform"
            time.sleep(0.05)
        return Run(proc.returncode, output)

    def plan(self) -> int:
        return self.env.plan(self.dir)

    def state_list(self) -> list[str]:
        """The managed resources the state records (none when there is no state file yet); the vm_id
        guard's data source, read at every plan, is not one."""
        shown = self.terraform("show", "-json", "-no-color")
        assert shown.code == 0, shown.output
        module = json.loads(shown.output).get("values", {}).get("root_module", {})
        return [r["address"] for r in module.get("resources", ()) if r.get("mode") == "managed"]

    def drift(self, *args: str, capsys: pytest.CaptureFixture[str]) -> Run:
        capsys.readouterr()
        code = cli.main(["drift", "--no-synth", "--outdir", str(self.out), "--stack", STACK, *args],
                        environ={**os.environ, **self.env.env})
        captured = capsys.readouterr()
        return Run(code, captured.out + captured.err)

    def check(self, capsys: pytest.CaptureFixture[str]) -> Run:
        capsys.readouterr()
        code = cli.main(["check", "--no-synth", "--outdir", str(self.out), "--facts", f"pve={FACTS}", STACK],
                        environ={**os.environ, **self.env.env})
        captured = capsys.readouterr()
        return Run(code, captured.out + captured.err)

    def assert_recovered(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The node as a clean apply leaves it, nothing left to plan, drift and check clean."""
        assert self.picture() == self.clean
        assert self.plan() == 0
        drift = self.drift(capsys=capsys)
        assert drift.code == 0, drift.output
        check = self.check(capsys)
        assert check.code == 0, check.output

    def deployed(self) -> None:
        """A clean deploy, the starting point of the update faults."""
        run = self.apply()
        assert run.code == 0, run.output
        assert self.picture() == self.clean

    def requests(self, since: int) -> list[str]:
        """`METHOD /path` of every request served since `since` (below /api2/json)."""
        return [line.replace("/api2/json", "", 1) for line in self.sim.requests()[since:]]


def _group_alive(pgid: int) -> bool:
    return subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True).returncode == 0


def said(output: str) -> str:
    """Terraform's output as one line: the box drawing gone, every line stripped and joined with one
    space (Terraform wraps a diagnostic at 78 columns when it writes to no terminal)."""
    return " ".join(ln.strip().lstrip("│╷╵ ").strip() for ln in output.splitlines() if ln.strip().lstrip("│╷╵ "))


@pytest.fixture(scope="module")
def fault_node(shared_sim: SimEnv) -> Iterator[FaultNode]:
    state = shared_sim.work_dir / "faults-state"
    # the product's local backend, its state in a directory of this module's own
    out = synth_app(shared_sim.work_dir / "faults-out", state_dir=state,
                    env={**shared_sim.env, **QUIET_ENV, "PVE_GPU_LXC_BACKEND": "local", "PVE_GPU_LXC_STATE_DIR": str(state)})
    node = FaultNode(shared_sim, out, state)
    node.reset()
    run = node.apply()
    assert run.code == 0, run.output
    node.clean = node.picture()
    assert "lxc.idmap: g 106 108 1" in node.clean.conf and node.clean.status == "running"
    assert node.clean.volumes == ((f"vm-{VMID}-disk-<N>", 8 << 30),)
    assert node.plan() == 0
    yield node
    node.reset()


@pytest.fixture
def node(fault_node: FaultNode) -> Iterator[FaultNode]:
    fault_node.reset()
    yield fault_node
    fault_node.sim.faults.clear()


# --- terraform killed (SIGKILL) during an apply ---------------------------------------------------------


def _kill_points() -> dict[str, object]:
    return {
        # the create task ran (the container exists, started); its answer never reaches bpg
        "create-answered": lambda f: f.hold("POST", "/nodes/{node}/lxc", after=True),
        # bpg polls status/current until the create's lock is gone
        "unlock-wait": lambda f: f.hold("GET", "/nodes/{node}/lxc/{vmid}/status/current"),
        # bpg's idmap session: `sed -i` ran, `tee -a` waits
        "idmap-ssh": lambda f: f.cut_session(CONF, "hold"),
        # the first reboot, which makes the container run with its idmap, is asked for
        "reboot": lambda f: f.hold("POST", "/nodes/{node}/lxc/{vmid}/status/reboot"),
    }


@pytest.mark.parametrize("point", list(_kill_points()))
def test_terraform_killed_mid_apply_then_a_deploy_leaves_the_node_as_a_clean_apply(node, point, capsys):
    fault = _kill_points()[point](node.sim.faults)  # type: ignore[operator]
    killed = node.kill_apply_at(fault)
    assert killed.code == -signal.SIGKILL
    assert f"{CONTAINER}: Creating..." in killed.output and "Creation complete" not in killed.output
    # the container exists on the node, but the state never heard of it: the create did not return
    assert node.conf() is not None and node.state_list() == []
    if point == "idmap-ssh":
        # a session has no terminal: it ran on after terraform died, tee -a appended the lines
        deadline = time.monotonic() + 10
        while "lxc.idmap: g 107 100107 65429" not in (node.conf() or "") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert node.conf() is not None and (node.conf() or "").endswith("lxc.idmap: g 107 100107 65429\n")
    # the killed run's lock record stays behind, and blocks nobody: a local lock dies with its process
    assert (node.state / LOCK_INFO).is_file()
    if point == "create-answered":
        # nothing in state yet, but the vm_id guard's listing sees the stack's tag at 210: an orphan the
        # next deploy adopts (drift exits 2 and says so)
        drift = node.drift(capsys=capsys)
        assert drift.code == 2 and "== intel-jellyfin: ownership" in drift.output, drift.output
        assert "CT 210 ('jellyfin') on node pve carries this stack's tag" in drift.output
        assert "(bpg's create finds it: 'already exists') and completes it." in drift.output
    since = len(node.sim.requests())
    redeploy = node.apply()
    assert redeploy.code == 0, redeploy.output
    assert "Resources: 1 added, 0 changed, 0 destroyed." in redeploy.output
    # bpg's create is answered "CT 210 already exists" (HTTP 500, retried once), which bpg takes as
    # its own earlier create: it adopts the container and finishes the idmap, start and reboot
    assert node.requests(since).count("POST /nodes/pve/lxc") == 2
    assert not (node.state / LOCK_INFO).exists()
    node.assert_recovered(capsys)


def test_a_state_lock_held_by_a_running_apply_is_named_with_its_id_and_the_way_out(node, capsys):
    held = node.sim.faults.hold("POST", "/nodes/{node}/lxc")
    proc = node.start_apply()
    try:
        assert held.wait_reached(120)
        lock = json.loads((node.state / LOCK_INFO).read_text())
        drift = node.drift(capsys=capsys)
        plain = node.terraform("plan", "-refresh-only", "-no-color", "-input=false")
    finally:
        held.release()
        output, _ = proc.communicate(timeout=120)
    assert drift.code == 1
    # Terraform's own words name the lock but no way out
    assert plain.code == 1 and "Error acquiring the state lock" in plain.output
    assert f"ID:        {lock['ID']}" in plain.output and "force-unlock" not in plain.output
    assert drift.output.splitlines()[-1] == (
        f"pve-gpu-lxc drift: error: {STACK}: terraform plan failed: Error acquiring the state lock: lock ID "
        f"{lock['ID']} (held by {lock['Who']}, since {_terraform_time(lock['Created'])}, apply): another terraform "
        "run on this machine still holds it (a killed run holds no local lock: the kernel drops it, and the "
        ".lock.info file it leaves is harmless); wait for it (--lock-timeout 120s) or stop that run; "
        "`terraform force-unlock` cannot release another process's local lock")
    # as said: force-unlock from another process cannot release it
    unlock = node.terraform("force-unlock", "-force", lock["ID"])
    assert unlock.code == 1 and "LocalState not locked" in unlock.output
    assert proc.returncode == 0, output  # the holder finishes undisturbed
    assert node.picture() == node.clean


def _terraform_time(created: str) -> str:
    """The lock record's RFC 3339 time as Terraform prints it in `Lock Info` (Go's time.String)."""
    date, _, clock = created.rstrip("Z").partition("T")
    return f"{date} {clock} +0000 UTC"


# --- the SSH session cut between bpg's `sed -i` and `tee -a` of the idmap ------------------------------


@pytest.mark.parametrize("untaint", [True, False], ids=["untaint-then-deploy", "deploy"])
def test_session_killed_after_sed_at_create_drift_names_the_lost_idmap_and_a_deploy_restores_it(
        node, untaint, capsys):
    cut = node.sim.faults.cut_session(CONF, "kill")
    run = node.apply()
    assert run.code == 1 and cut.reached
    # bpg reports the session's output, which is empty: the user sees no cause at all
    assert "Error: setting idmap entries via SSH:" in said(run.output)
    assert "lxc.idmap" not in (node.conf() or "") and "dev0: " in (node.conf() or "")
    drift = node.drift(capsys=capsys)
    assert drift.code == 2
    lines = drift.output.splitlines()
    assert [ln.split(": ", 1)[0] + ": " for ln in lines if ln.startswith("      idmap[")] == IDMAP_LOST
    assert ('      idmap[4]: {"container_id": 106, "host_id": 108, "size": 1, "type": "gid"} -> (absent)' in lines)
    assert any(ln.startswith(f"  tainted: {CONTAINER}: an apply created it, then failed") for ln in lines)
    plan = node.drift("--plan", capsys=capsys)
    assert plan.code == 3 and f"!!! DESTRUCTIVE: {CONTAINER} will be REPLACED" in plan.output
    if untaint:
        assert node.terraform("untaint", CONTAINER).code == 0
    redeploy = node.apply()
    assert redeploy.code == 0, redeploy.output
    assert ("Resources: 0 added, 1 changed, 0 destroyed." if untaint
            else "Resources: 1 added, 0 changed, 1 destroyed.") in redeploy.output
    node.assert_recovered(capsys)


def test_session_killed_after_sed_during_an_update_loses_every_idmap_line_until_the_next_deploy(node, capsys):
    node.deployed()
    conf = node.sim.files.conf_path(VMID)
    conf.write_text(sub(r"^lxc\.idmap: g 106 108 1\n", "")(conf.read_text()))  # drift: bpg rewrites the map
    cut = node.sim.faults.cut_session(CONF, "kill")
    run = node.apply()
    assert run.code == 1 and cut.reached
    assert "Error: setting idmap entries via SSH:" in said(run.output)
    assert "lxc.idmap" not in (node.conf() or "")  # sed -i took all six, tee -a never came
    drift = node.drift(capsys=capsys)
    assert drift.code == 2
    assert [ln.split(": ", 1)[0] + ": " for ln in drift.output.splitlines() if ln.startswith("      idmap[")] \
        == IDMAP_LOST
    assert "tainted" not in drift.output  # an update's failure taints nothing
    redeploy = node.apply()
    assert redeploy.code == 0 and "Resources: 0 added, 1 changed, 0 destroyed." in redeploy.output
    node.assert_recovered(capsys)


def test_connection_dropped_after_sed_loses_nothing_on_the_node_but_bpg_fails_and_taints(node, capsys):
    cut = node.sim.faults.cut_session(CONF, "drop")
    run = node.apply()
    assert run.code == 1 and cut.reached
    assert "Error: setting idmap entries via SSH:" in said(run.output)
    deadline = time.monotonic() + 10
    while not (node.conf() or "").endswith("lxc.idmap: g 107 100107 65429\n") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert node.conf() is not None and "lxc.idmap: g 106 108 1\n" in (node.conf() or "")
    drift = node.drift(capsys=capsys)
    assert drift.code == 2 and f"  tainted: {CONTAINER}" in drift.output and "      idmap[" not in drift.output
    assert node.terraform("untaint", CONTAINER).code == 0
    redeploy = node.apply()
    assert redeploy.code == 0, redeploy.output
    node.assert_recovered(capsys)


# --- API errors and time-outs on create, config PUT and start ----------------------------------------

CREATE = ("POST", "/nodes/{node}/lxc")
CONFIG = ("PUT", "/nodes/{node}/lxc/{vmid}/config")
START = ("POST", "/nodes/{node}/lxc/{vmid}/status/start")
REBOOT = ("POST", "/nodes/{node}/lxc/{vmid}/status/reboot")


def test_create_lock_time_out_once_is_retried_within_the_apply(node, capsys):
    fault = node.sim.faults.add(*CREATE, message=pvefaults.create_lock_timeout(VMID))
    since = len(node.sim.requests())
    run = node.apply()
    assert run.code == 0, run.output
    assert fault.hits == 1 and node.requests(since).count("POST /nodes/pve/lxc") == 2
    node.assert_recovered(capsys)


def test_create_lock_time_out_three_times_fails_the_apply_and_leaves_nothing(node, capsys):
    node.sim.faults.add(*CREATE, count=3, message=pvefaults.create_lock_timeout(VMID))
    run = node.apply()
    assert run.code == 1
    reason = ("error creating container: received an HTTP 500 response - Reason: unable to create CT 210 - "
              "can't lock file '/run/lock/lxc/pve-config-210.lock' - got timeout")
    assert "Error: Container create" in said(run.output)
    assert "All attempts fail: " + " ".join(f"#{n}: {reason}" for n in (1, 2, 3)) in said(run.output)
    assert node.conf() is None and node.state_list() == []
    redeploy = node.apply()
    assert redeploy.code == 0, redeploy.output
    node.assert_recovered(capsys)


def test_create_time_out_after_the_work_is_adopted_within_the_apply(node, capsys):
    # pveproxy answers 596 while pvedaemon creates the container: bpg retries, PVE says "already exists",
    # bpg takes that as done
    fault = node.sim.faults.time_out(*CREATE)
    since = len(node.sim.requests())
    run = node.apply()
    assert run.code == 0, run.output
    assert fault.hits == 1 and node.requests(since).count("POST /nodes/pve/lxc") == 2
    node.assert_recovered(capsys)


def test_reading_the_create_task_fails_then_the_next_deploy_adopts_the_container(node, capsys):
    node.sim.faults.add("GET", "/nodes/{node}/tasks/{upid}/status", message="Connection refused")
    run = node.apply()
    assert run.code == 1
    assert "error retrieving task status: received an HTTP 500 response - Reason: Connection refused" \
        in said(run.output)
    assert node.conf() is not None and node.state_list() == []
    redeploy = node.apply()
    assert redeploy.code == 0 and "Resources: 1 added" in redeploy.output
    node.assert_recovered(capsys)


def test_first_reboot_refused_then_the_container_is_tainted_and_the_next_deploy_replaces_it(node, capsys):
    node.sim.faults.unreachable(*REBOOT)  # pvedaemon restarting: pveproxy's 595
    run = node.apply()
    assert run.code == 1
    assert "Error: Container reboot" in said(run.output)
    assert "error rebooting container: received an HTTP 595 response - Reason: Connection refused" in said(run.output)
    drift = node.drift("--plan", capsys=capsys)
    assert drift.code == 3 and f"  tainted: {CONTAINER}" in drift.output
    redeploy = node.apply()
    assert redeploy.code == 0 and "Resources: 1 added, 0 changed, 1 destroyed." in redeploy.output
    node.assert_recovered(capsys)


def _drifted(node: FaultNode) -> None:
    """A clean deploy, then dev0's gid edited on the node: the next deploy PUTs the config."""
    node.deployed()
    conf = node.sim.files.conf_path(VMID)
    conf.write_text(sub(r"^(dev0: .*)gid=44,", r"\1gid=45,")(conf.read_text()))


def test_config_put_lock_time_out_once_is_retried_within_the_apply(node, capsys):
    _drifted(node)
    fault = node.sim.faults.add(*CONFIG, message=pvefaults.lock_timeout(VMID))
    since = len(node.sim.requests())
    run = node.apply()
    assert run.code == 0, run.output
    assert fault.hits == 1 and node.requests(since).count(f"PUT /nodes/pve/lxc/{VMID}/config") == 2
    node.assert_recovered(capsys)


def test_config_put_lock_time_out_three_times_fails_and_the_next_deploy_repairs(node, capsys):
    _drifted(node)
    node.sim.faults.add(*CONFIG, count=3, message=pvefaults.lock_timeout(VMID))
    run = node.apply()
    assert run.code == 1
    reason = "received an HTTP 500 response - Reason: can't lock file '/run/lock/lxc/pve-config-210.lock' - got timeout"
    assert "All attempts fail: " + " ".join(f"#{n}: {reason}" for n in (1, 2, 3)) in said(run.output)
    assert node.drift(capsys=capsys).code == 2  # gid 45 still on the node
    redeploy = node.apply()
    assert redeploy.code == 0 and "Resources: 0 added, 1 changed, 0 destroyed." in redeploy.output
    node.assert_recovered(capsys)


def test_config_put_time_out_after_the_work_strands_the_repair_in_pending(node, capsys):
    """LOST: pvedaemon wrote the repair, but into [pve:pending] (a running container cannot take devN);
    bpg does not retry the 596 and never reboots; Terraform reads the pending value and sees nothing
    left to do.  The running container keeps gid 45 until someone restarts it."""
    _drifted(node)
    node.sim.faults.time_out(*CONFIG)
    run = node.apply()
    assert run.code == 1
    assert "All attempts fail: #1: received an HTTP 596 response - Reason: Connection timed out" in said(run.output)
    conf = node.conf() or ""
    main, _, pending = conf.partition("[pve:pending]\n")
    assert "dev0: deny-write=0,path=/dev/dri/card0,uid=0,gid=45,mode=0660" in main
    assert pending == "dev0: deny-write=0,path=/dev/dri/card0,uid=0,gid=44,mode=0660\n"
    assert node.plan() == 0 and node.drift(capsys=capsys).code == 0  # nothing left to apply, no drift
    assert node.check(capsys).code == 0  # check reads the config with pending changes applied
    redeploy = node.apply()
    assert redeploy.code == 0 and "Resources: 0 added, 0 changed, 0 destroyed." in redeploy.output
    assert "[pve:pending]" in (node.conf() or "")  # still stranded
    # the remedy is a restart of the container, which applies the pending change
    reboot = node.api.call("POST", f"/nodes/pve/lxc/{VMID}/status/reboot")
    assert reboot.status == 200 and node.api.task(reboot.data)[0]["exitstatus"] == "OK"
    node.assert_recovered(capsys)


def _stopped(node: FaultNode) -> None:
    """A clean deploy, then the container stopped on the node: the next deploy starts it."""
    node.deployed()
    stop = node.api.call("POST", f"/nodes/pve/lxc/{VMID}/status/stop")
    assert stop.status == 200 and node.api.task(stop.data)[0]["exitstatus"] == "OK"


def test_start_without_a_worker_once_is_retried_within_the_apply(node, capsys):
    _stopped(node)
    fault = node.sim.faults.add(*START, message=pvefaults.NO_WORKER)
    since = len(node.sim.requests())
    run = node.apply()
    assert run.code == 0, run.output
    assert fault.hits == 1 and node.requests(since).count(f"POST /nodes/pve/lxc/{VMID}/status/start") == 2
    node.assert_recovered(capsys)


@pytest.mark.parametrize("arm, reason, started", [
    (lambda f: f.unreachable(*START),
     "#1: error starting container: received an HTTP 595 response - Reason: Connection refused", False),
    (lambda f: f.time_out(*START),
     "#1: error starting container: received an HTTP 596 response - Reason: Connection timed out", True),
], ids=["595-refused", "596-after-the-start"])
def test_start_error_fails_the_apply_and_the_next_deploy_recovers(node, arm, reason, started, capsys):
    _stopped(node)
    arm(node.sim.faults)
    run = node.apply()
    assert run.code == 1
    assert "Error: Container start" in said(run.output) and reason in said(run.output)
    assert node.sim.files.status(VMID) == ("running" if started else "stopped")
    redeploy = node.apply()
    assert redeploy.code == 0, redeploy.output
    node.assert_recovered(capsys)


# --- a create task killed on the node: a stale `lock: create` ------------------------------------------


def test_a_killed_create_worker_leaves_lock_create_which_check_names_and_pct_unlock_destroy_clears(node, capsys):
    node.sim.faults.kill_worker("vzcreate", VMID)
    run = node.apply()
    assert run.code == 1
    assert "Error: Container create" in said(run.output)
    assert re.search(r'task "UPID:pve:[0-9A-F:]+:vzcreate:210:root@pam:" failed to complete with exit code: '
                     r"unexpected status task log: no content", said(run.output))
    assert node.conf() == "lock: create\n" and node.state_list() == []
    # the vm_id guard sees an untagged container at 210 (bpg's listing has no lock): a collision,
    # which stops the next plan; check, reading PVE's listing with its lock, names the dead create
    drift = node.drift(capsys=capsys)
    assert drift.code == 2 and "vm_id 210 is taken by container 'CT210' on node pve (tags: none)" in drift.output
    check = node.check(capsys)
    assert check.code == 2 and "collision" not in check.output
    assert ("    container: CT 210 is locked (create): a create task that never finished (its worker died) left a "
            "container without the stack's configuration; PVE refuses to change, start or destroy it, and no "
            "deploy completes while it is there. Fix: unless a create of CT 210 is still running (the node's task "
            "list), on node pve: `pct unlock 210 && pct destroy 210 --destroy-unreferenced-disks 1`, then "
            "`cdktf deploy intel-jellyfin`.") in check.output.splitlines()
    # PVE refuses the destroy while the lock is there (AbstractConfig.pm check_lock)
    assert node.api.call("DELETE", f"/nodes/pve/lxc/{VMID}").reason == "CT is locked (create)"
    # `pct unlock 210` (AbstractConfig.pm remove_lock: the config without `lock`), then `pct destroy 210`
    node.sim.files.conf_path(VMID).write_text("")
    destroy = node.api.call("DELETE", f"/nodes/pve/lxc/{VMID}")
    assert destroy.status == 200 and node.api.task(destroy.data)[0]["exitstatus"] == "OK"
    redeploy = node.apply()
    assert redeploy.code == 0, redeploy.output
    node.assert_recovered(capsys)


def test_a_deploy_over_a_stale_lock_create_does_not_complete(node):
    """Without the fix, no deploy completes: bpg takes the half-made container for its own ("already
    exists") and waits for the lock until its create time-out (30 min), or a guard stops the plan."""
    node.sim.faults.kill_worker("vzcreate", VMID)
    assert node.apply().code == 1
    since = len(node.sim.requests())
    proc = node.start_apply()
    polls = 0
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and polls < 4 and time.monotonic() < deadline:
            time.sleep(0.2)
            polls = node.requests(since).count(f"GET /nodes/pve/lxc/{VMID}/status/current")
        # either a guard stopped it, or bpg adopted the container and polls for the lock once a second
        assert proc.poll() not in (0,)
        if proc.poll() is None:
            assert polls >= 4 and node.requests(since).count("POST /nodes/pve/lxc") == 2
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    assert node.conf() == "lock: create\n"


# --- a full storage -----------------------------------------------------------------------------------


def test_full_thin_pool_fails_the_create_with_pves_words_and_leaves_nothing(node, capsys):
    node.sim.faults.fill_storage("local-lvm")
    run = node.apply()
    assert run.code == 1
    assert ("TASK ERROR: unable to create CT 210 - lvcreate 'pve/vm-210-disk-0' error:   Cannot create new thin "
            "volume, free space in thin pool pve/data reached threshold.") in said(run.output)
    assert node.conf() is None and node.picture().volumes == () and node.state_list() == []
    assert node.drift(capsys=capsys).code == 0
    node.sim.faults.free_storage("local-lvm")  # space made
    redeploy = node.apply()
    assert redeploy.code == 0, redeploy.output
    node.assert_recovered(capsys)

