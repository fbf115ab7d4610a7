"""The simulated node's faults (pvesim/faults.py), met the way a client meets them: plain HTTPS
requests, and bpg's own idmap script over the node's real sshd.

Each test arms one fault and checks the answer (status line, body, PVE's wording) and what the
node holds afterwards; the end-to-end tests with the real provider are tests/e2e/test_faults.py.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from pve_gpu_lxc_testing.pvesim import Simulator
from pve_gpu_lxc_testing.pvesim import faults as pvefaults
from tests.pvesim.conftest import module_sim

from .test_api import Client, Reply, create, created
from .test_ssh import bpg_exec, bpg_idmap_commands, bpg_upload_command

CREATE = ("POST", "/nodes/{node}/lxc")
IDMAP = ["lxc.idmap: u 0 100000 65536", "lxc.idmap: g 0 100000 44", "lxc.idmap: g 44 44 1"]


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    with module_sim(tmp_path_factory, "pvesim-faults") as s:
        yield s


@pytest.fixture
def root(sim: Simulator) -> Iterator[Client]:
    client = Client.root(sim)
    yield client
    sim.faults.clear()


def conf_text(sim: Simulator, vmid: int) -> str | None:
    return sim.files.conf_text(vmid)


# --- API answers ---------------------------------------------------------------------------------


def test_an_error_before_the_handler_has_pves_shape_and_changes_nothing(sim, root, vmid):
    fault = sim.faults.add(*CREATE, message=pvefaults.create_lock_timeout(vmid))
    reply = create(root, vmid)
    message = f"unable to create CT {vmid} - can't lock file '/run/lock/lxc/pve-config-{vmid}.lock' - got timeout"
    assert (reply.status, reply.reason) == (500, message)
    assert reply.json == {"data": None, "message": message + "\n"}
    assert conf_text(sim, vmid) is None
    assert fault.hits == 1 and fault.spent
    created(root, vmid)  # spent: the next create is served


def test_count_and_path_arguments_select_the_requests_a_fault_answers(sim, root, vmid):
    other = vmid + 500
    created(root, vmid)
    created(root, other)
    fault = sim.faults.add("PUT", "/nodes/{node}/lxc/{vmid}/config", count=2, message=pvefaults.lock_timeout(vmid),
                           vmid=str(vmid))
    assert root.call("PUT", f"/nodes/pve/lxc/{other}/config", {"cores": 2}).status == 200
    answers = [root.call("PUT", f"/nodes/pve/lxc/{vmid}/config", {"cores": 2}) for _ in range(3)]
    assert [a.status for a in answers] == [500, 500, 200]
    assert answers[0].reason == f"can't lock file '/run/lock/lxc/pve-config-{vmid}.lock' - got timeout"
    assert fault.hits == 2


def test_an_error_after_the_handler_loses_only_the_answer(sim, root, vmid):
    sim.faults.add(*CREATE, status=500, message="proxy: backend went away", after=True)
    reply = create(root, vmid)
    assert (reply.status, reply.reason) == (500, "proxy: backend went away")
    assert "hostname: ct" in (conf_text(sim, vmid) or "")  # created all the same
    again = create(root, vmid)
    assert (again.status, again.reason) == (500, f"CT {vmid} already exists on node 'pve'")


def test_a_time_out_is_pveproxys_596_without_a_body_after_the_work_is_done(sim, root, vmid):
    fault = sim.faults.time_out(*CREATE, delay=0.3)
    started = time.monotonic()
    reply = create(root, vmid)
    assert time.monotonic() - started >= 0.3
    assert (reply.status, reply.reason, reply.raw) == (596, "Connection timed out", b"")
    assert "hostname: ct" in (conf_text(sim, vmid) or "")
    assert fault.spent


def test_an_unreachable_pvedaemon_is_pveproxys_595_without_a_body_and_nothing_done(sim, root, vmid):
    sim.faults.unreachable(*CREATE)
    reply = create(root, vmid)
    assert (reply.status, reply.reason, reply.raw) == (595, "Connection refused", b"")
    assert conf_text(sim, vmid) is None


def test_a_hold_keeps_the_request_until_released(sim, root, vmid):
    fault = sim.faults.hold(*CREATE)
    replies: list[Reply] = []
    thread = threading.Thread(target=lambda: replies.append(create(root, vmid)))
    thread.start()
    assert fault.wait_reached(10)
    time.sleep(0.2)
    assert conf_text(sim, vmid) is None and not replies  # held before the handler: nothing done yet
    fault.release()
    thread.join(10)
    assert replies[0].status == 200 and "hostname: ct" in (conf_text(sim, vmid) or "")


def test_a_status_below_400_is_no_fault(sim):
    with pytest.raises(ValueError):
        sim.faults.add(*CREATE, status=200)


# --- a killed worker -------------------------------------------------------------------------------


def test_a_killed_create_worker_leaves_lock_create_and_an_unexpected_status(sim, root, vmid):
    sim.faults.kill_worker("vzcreate", vmid)
    reply = create(root, vmid)
    assert reply.status == 200  # the API answered: the worker died after the fork
    status, log = root.task(reply.data)
    assert (status["status"], status["exitstatus"]) == ("stopped", "unexpected status")
    assert log == ["no content"]
    assert conf_text(sim, vmid) == "lock: create\n"
    assert not list((sim.files.root / "dev/pve").glob(f"vm-{vmid}-disk-*"))
    tasks = root.call("GET", "/nodes/pve/tasks", {"vmid": vmid, "errors": 1}).data
    assert [t["status"] for t in tasks] == ["unexpected status"]
    # PVE refuses everything but reading until the lock goes (AbstractConfig.pm check_lock)
    assert create(root, vmid).reason == f"CT {vmid} already exists on node 'pve'"
    assert root.call("PUT", f"/nodes/pve/lxc/{vmid}/config", {"cores": 2}).reason == "CT is locked (create)"
    assert root.call("DELETE", f"/nodes/pve/lxc/{vmid}").reason == "CT is locked (create)"
    assert root.call("GET", f"/nodes/pve/lxc/{vmid}/status/current").data["lock"] == "create"
    # `pct unlock` (AbstractConfig.pm remove_lock) empties it; then destroy works
    sim.files.conf_path(vmid).write_text("")
    destroyed = root.call("DELETE", f"/nodes/pve/lxc/{vmid}")
    assert destroyed.status == 200 and root.task(destroyed.data)[0]["exitstatus"] == "OK"
    assert conf_text(sim, vmid) is None


# --- a full storage ----------------------------------------------------------------------------------


def test_a_full_thin_pool_fails_the_create_with_lvms_words_and_leaves_nothing(sim, root, vmid):
    sim.faults.fill_storage("local-lvm")
    status = root.call("GET", "/nodes/pve/storage/local-lvm/status").data
    assert status["avail"] == 0 and status["used"] == status["total"]
    reply = create(root, vmid, rootfs="local-lvm:8")
    task, log = root.task(reply.data)
    error = (f"unable to create CT {vmid} - lvcreate 'pve/vm-{vmid}-disk-0' error:   Cannot create new thin volume, "
             "free space in thin pool pve/data reached threshold.")
    assert task["exitstatus"] == error and log[-1] == f"TASK ERROR: {error}"
    assert conf_text(sim, vmid) is None
    assert not list((sim.files.root / "dev/pve").glob(f"vm-{vmid}-disk-*"))
    sim.faults.free_storage("local-lvm")
    created(root, vmid, rootfs="local-lvm:8")


def test_a_full_dir_storage_is_not_simulated(sim):
    with pytest.raises(ValueError, match="dir storage is not simulated"):
        sim.faults.fill_storage("local")


# --- SSH sessions: bpg's idmap script, verbatim --------------------------------------------------------


def ssh(sim: Simulator, command: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    assert sim.ssh is not None
    return subprocess.run(sim.ssh.ssh_argv(command), input=stdin, capture_output=True, text=True, timeout=60)


def with_idmap(sim: Simulator, vmid: int) -> Path:
    conf = sim.files.conf_path(vmid)
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text("arch: amd64\nhostname: ct\nlxc.idmap: u 0 1 2\n")
    return conf


def test_a_killed_session_loses_the_idmap_between_sed_and_tee(sim, root, vmid):
    conf = with_idmap(sim, vmid)
    fault = sim.faults.cut_session(f"/etc/pve/lxc/{vmid}.conf", "kill")
    run = ssh(sim, bpg_exec(bpg_idmap_commands(vmid, IDMAP)))
    assert (run.returncode, run.stdout, run.stderr) == (255, "", "")  # the remote command died of a signal
    assert fault.reached
    assert conf.read_text() == "arch: amd64\nhostname: ct\n"  # sed -i ran, tee -a never did
    # one-shot: the next session writes them
    assert ssh(sim, bpg_exec(bpg_idmap_commands(vmid, IDMAP))).returncode == 0
    assert conf.read_text() == "arch: amd64\nhostname: ct\n" + "".join(f"{line}\n" for line in IDMAP)


def test_a_dropped_connection_does_not_stop_the_script(sim, root, vmid):
    conf = with_idmap(sim, vmid)
    fault = sim.faults.cut_session(f"/etc/pve/lxc/{vmid}.conf", "drop")
    run = ssh(sim, bpg_exec(bpg_idmap_commands(vmid, IDMAP)))
    assert run.returncode == 255 and fault.reached  # the client lost the connection:
    assert run.stderr == f"Connection to {sim.ssh.address} closed by remote host.\n"
    expected = "arch: amd64\nhostname: ct\n" + "".join(f"{line}\n" for line in IDMAP)
    deadline = time.monotonic() + 10
    while conf.read_text() != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert conf.read_text() == expected  # no terminal, no SIGHUP: tee -a ran on


def test_a_held_session_waits_after_sed_until_released(sim, root, vmid):
    conf = with_idmap(sim, vmid)
    fault = sim.faults.cut_session(f"/etc/pve/lxc/{vmid}.conf", "hold")
    runs: list[subprocess.CompletedProcess[str]] = []
    thread = threading.Thread(target=lambda: runs.append(ssh(sim, bpg_exec(bpg_idmap_commands(vmid, IDMAP)))))
    thread.start()
    assert fault.wait_reached(20)
    assert conf.read_text() == "arch: amd64\nhostname: ct\n" and not runs
    fault.release()
    thread.join(20)
    assert runs[0].returncode == 0
    assert conf.read_text().endswith("lxc.idmap: g 44 44 1\n")


def test_the_nodes_tee_is_coreutils_tee_when_nothing_is_armed(sim, root, vmid):
    sim.faults.cut_session(f"/etc/pve/lxc/{vmid + 1}.conf", "kill")  # another file: not this session's
    snippet = f"/var/lib/vz/snippets/faults-{vmid}.sh"
    run = ssh(sim, bpg_upload_command(snippet), stdin="#!/bin/sh\necho hook\n")
    assert run.returncode == 0
    assert (sim.files.root / snippet.lstrip("/")).read_text() == "#!/bin/sh\necho hook\n"
    assert re.search(r"coreutils", ssh(sim, "tee --version").stdout)


def test_clear_disarms_every_kind(sim, root, vmid):
    api = sim.faults.add(*CREATE)
    sim.faults.kill_worker("vzcreate", vmid)
    sim.faults.fill_storage("local-lvm")
    session = sim.faults.cut_session(f"/etc/pve/lxc/{vmid}.conf", "kill")
    sim.faults.clear()
    created(root, vmid)
    assert api.hits == 0 and not sim.faults.storage_full("local-lvm") and not session.armed.exists()
