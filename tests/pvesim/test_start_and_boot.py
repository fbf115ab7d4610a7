"""The simulated node's container start and reboot, in pve-container's and pve-manager's order.

A start: pending applied -> update_lxc_config (every devN stat'ed, /var/lib/lxc/<vmid>/config
written) -> the pre-start hookscript, run for real -> lxc-start reads that config as the hook left
it (the id maps through the real newuidmap/newgidmap) -> post-start.  A reboot: stopall, power off
(NVIDIA's on-demand nodes gone), the node's boot configuration replayed with its own programs,
startall.  Plain HTTPS requests, as in test_api.py.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any, Iterator

import pytest

from pve_gpu_lxc.hostsetup import ENABLE_LINK, UNIT_PATH
from pve_gpu_lxc_testing.pvesim import Simulator

from .test_api import FACTS, TEMPLATE, Client

NVIDIA_DEVS = {"dev0": "path=/dev/nvidia0,mode=0666", "dev1": "path=/dev/nvidiactl,mode=0666",
               "dev2": "path=/dev/nvidia-uvm,mode=0666", "dev3": "path=/dev/nvidia-uvm-tools,mode=0666"}
# the hook every test container runs: it records its phases and, when told to, appends to LXC's config
HOOK = """#!/bin/sh
echo "$2" >> /root/phases.$1
[ -f /root/append.$1 ] && cat /root/append.$1 >> /var/lib/lxc/$1/config
[ -f /root/fail.$1.$2 ] && { echo "refusing $2" >&2; exit 3; }
exit 0
"""

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mknod, mount namespaces and newuidmap need root")


def facts_file(tmp: Path, *, boot: bool) -> Path:
    doc = json.loads(FACTS.read_text())
    if not boot:
        doc.pop("boot")
    path = tmp / f"facts-{'boot' if boot else 'bare'}.json"
    path.write_text(json.dumps(doc))
    return path


def started_sim(tmp: Path, *, boot: bool) -> Simulator:
    sim = Simulator(tmp / "node", tmp / "state", facts=facts_file(tmp, boot=boot), ssh=False).start()
    sim.files.volume_path(TEMPLATE).write_bytes(b"not really a tarball")
    hook = sim.files.path("/var/lib/vz/snippets/phases.sh")
    hook.write_text(HOOK)
    hook.chmod(0o755)
    (sim.root / "root").mkdir(exist_ok=True)
    return sim


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Simulator]:
    """A node as the example facts record it: host-setup's unit enabled."""
    with started_sim(tmp_path, boot=True) as s:
        yield s


@pytest.fixture
def bare(tmp_path: Path) -> Iterator[Simulator]:
    """The same node without any boot step that makes NVIDIA's nodes."""
    with started_sim(tmp_path, boot=False) as s:
        yield s


def create(c: Client, vmid: int, **params: Any) -> None:
    body = {"vmid": vmid, "ostemplate": TEMPLATE, "storage": "local-lvm", "hostname": f"ct{vmid}",
            "net0": "name=eth0,bridge=vmbr0", "unprivileged": 1, "onboot": 1,
            "hookscript": "local:snippets/phases.sh", **params}
    reply = c.call("POST", "/nodes/pve/lxc", body)
    assert reply.status == 200, reply.json
    status, log = c.task(reply.data)
    assert status["exitstatus"] == "OK", log


def start(c: Client, vmid: int) -> tuple[dict[str, Any], list[str]]:
    reply = c.call("POST", f"/nodes/pve/lxc/{vmid}/status/start")
    assert reply.status == 200, reply.json
    return c.task(reply.data)


def status(c: Client, vmid: int) -> str:
    return str(c.call("GET", f"/nodes/pve/lxc/{vmid}/status/current").data["status"])


def phases(sim: Simulator, vmid: int) -> list[str]:
    path = sim.root / f"root/phases.{vmid}"
    return path.read_text().split() if path.exists() else []


def reboot(c: Client) -> None:
    reply = c.call("POST", "/nodes/pve/status", {"command": "reboot"})
    assert (reply.status, reply.data) == (200, None), reply.json


def rdev(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    assert stat.S_ISCHR(st.st_mode), path
    return os.major(st.st_rdev), os.minor(st.st_rdev)


# --------------------------------------------------------------------------- a start, step by step


def test_a_start_writes_lxcs_config_with_the_stated_devices_then_runs_the_hooks(sim: Simulator) -> None:
    c = Client.root(sim)
    create(c, 300, **NVIDIA_DEVS)
    task, log = start(c, 300)
    assert task["exitstatus"] == "OK", log
    assert phases(sim, 300) == ["pre-start", "post-start"]
    config = (sim.root / "var/lib/lxc/300/config").read_text()
    # the devN majors as stat() finds them now (nvidia-uvm's is dynamic: 511 on the recorded node)
    for rule in ("c 195:0 rw", "c 195:255 rw", "c 511:0 rw", "c 511:1 rw"):
        assert f"lxc.cgroup2.devices.allow = {rule}\n" in config
    assert "lxc.idmap = u 0 100000 65536\nlxc.idmap = g 0 100000 65536\n" in config
    assert "lxc.uts.name = ct300\n" in config and "lxc.rootfs.path = /var/lib/lxc/300/rootfs\n" in config
    assert "lxc.net.0.mtu = 1500\n" in config
    assert status(c, 300) == "running"
    reply = c.call("POST", "/nodes/pve/lxc/300/status/stop")
    assert c.task(reply.data)[0]["exitstatus"] == "OK"
    assert phases(sim, 300) == ["pre-start", "post-start", "pre-stop", "post-stop"]


def test_a_missing_device_fails_the_start_before_the_hookscript_runs(bare: Simulator) -> None:
    """The order that decides NVIDIA's case: update_lxc_config stats devN, then the hook runs."""
    c = Client.root(bare)
    create(c, 301, **NVIDIA_DEVS)
    (bare.root / "dev/nvidia-uvm").unlink()
    task, log = start(c, 301)
    assert task["exitstatus"] == "Device /dev/nvidia-uvm does not exist"
    assert log[-1] == "TASK ERROR: Device /dev/nvidia-uvm does not exist"
    assert phases(bare, 301) == []  # the hook never ran: it could not have made the node in time
    assert status(c, 301) == "stopped"


def test_a_failing_pre_start_hook_fails_the_start_with_pves_wording(sim: Simulator) -> None:
    c = Client.root(sim)
    create(c, 302)
    (sim.root / "root/fail.302.pre-start").touch()
    task, log = start(c, 302)
    assert task["exitstatus"] == ("hookscript error for 302 on pre-start: command "
                                  "'/var/lib/vz/snippets/phases.sh 302 pre-start' failed: exit code 3")
    assert "refusing pre-start" in log
    assert status(c, 302) == "stopped"


def test_a_failing_post_start_hook_is_a_warning(sim: Simulator) -> None:
    c = Client.root(sim)
    create(c, 303)
    (sim.root / "root/fail.303.post-start").touch()
    task, log = start(c, 303)
    assert task["exitstatus"] == "WARNINGS: 1"
    assert any(line.startswith("WARN: hookscript error for 303 on post-start") for line in log)
    assert status(c, 303) == "running"


def test_lxc_start_reads_what_the_hook_appended(sim: Simulator) -> None:
    c = Client.root(sim)
    create(c, 304)
    (sim.root / "root/append.304").write_text("lxc.mount.entry = /srv/missing srv none bind,create=dir 0 0\n")
    task, log = start(c, 304)
    assert task["exitstatus"] == "startup for container '304' failed"
    assert 'mount_entry: 2486 No such file or directory - Failed to mount "/srv/missing" on "srv"' in log
    assert "lxc.mount.entry = /srv/missing srv none bind,create=dir 0 0" in \
        (sim.root / "var/lib/lxc/304/config").read_text()
    (sim.root / "root/append.304").write_text("lxc.mount.entry = /srv/missing srv none bind,optional 0 0\n")
    assert start(c, 304)[0]["exitstatus"] == "OK"


def test_the_id_maps_are_written_by_the_real_newuidmap_against_the_nodes_subids(sim: Simulator) -> None:
    c = Client.root(sim)
    create(c, 305)
    conf = sim.files.conf_path(305)
    conf.write_text(conf.read_text() + "lxc.idmap: u 0 100000 65536\nlxc.idmap: g 0 100000 44\n"
                    "lxc.idmap: g 44 44 1\nlxc.idmap: g 45 100045 65491\n")
    assert start(c, 305)[0]["exitstatus"] == "OK"  # root:44:1 is in the node's /etc/subgid
    c.call("POST", "/nodes/pve/lxc/305/status/stop")
    conf.write_text(conf.read_text().replace("g 44 44 1", "g 44 45 1"))
    task, log = start(c, 305)
    assert task["exitstatus"] == "startup for container '305' failed"
    assert any(line.startswith("lxc_map_ids: 245 newgidmap failed to write mapping") and "not allowed" in line
               for line in log), log


def test_newuidmap_accepts_a_range_spanning_adjacent_subuid_lines(sim: Simulator) -> None:
    c = Client.root(sim)
    create(c, 306)
    (sim.root / "etc/subuid").write_text("root:100000:30000\nroot:130000:35536\n")
    try:
        assert start(c, 306)[0]["exitstatus"] == "OK"
    finally:
        (sim.root / "etc/subuid").write_text("root:100000:65536\n")


def test_pending_raw_lxc_lines_replace_the_main_ones_at_start(sim: Simulator) -> None:
    """bpg's `tee -a` lands in [pve:pending] when one exists; vmconfig_apply_pending takes the
    pending `lxc` entries like any other key at the next start."""
    c = Client.root(sim)
    create(c, 307)
    conf = sim.files.conf_path(307)
    conf.write_text(conf.read_text() + "lxc.environment: A=1\n\n[pve:pending]\ncores: 2\n"
                    "lxc.idmap: u 0 100000 65536\nlxc.idmap: g 0 100000 65536\n")
    assert start(c, 307)[0]["exitstatus"] == "OK"
    text = conf.read_text()
    assert "[pve:pending]" not in text and "cores: 2\n" in text
    assert "lxc.environment" not in text and "lxc.idmap: u 0 100000 65536\n" in text


def test_the_task_list_has_the_finished_tasks_newest_first(sim: Simulator) -> None:
    c = Client.root(sim)
    create(c, 308)
    start(c, 308)
    tasks = c.call("GET", "/nodes/pve/tasks", {"vmid": 308}).data
    assert [t["type"] for t in tasks] == ["vzstart", "vzcreate"]
    assert tasks[0]["status"] == "OK" and tasks[0]["id"] == "308" and tasks[0]["upid"].startswith("UPID:pve:")
    assert c.call("GET", "/nodes/pve/tasks", {"vmid": 308, "errors": 1}).data == []


# --------------------------------------------------------------------------- the reboot


def test_after_a_reboot_the_units_nodes_are_back_and_onboot_containers_run(sim: Simulator) -> None:
    c = Client.root(sim)
    create(c, 310, **NVIDIA_DEVS)
    create(c, 311, onboot=0)
    start(c, 310)
    start(c, 311)
    reboot(c)
    assert status(c, 310) == "running" and status(c, 311) == "stopped"
    assert phases(sim, 310) == ["pre-start", "post-start", "pre-stop", "post-stop", "pre-start", "post-start"]
    assert rdev(sim.root / "dev/nvidia-uvm") == (511, 0) and rdev(sim.root / "dev/nvidiactl") == (195, 255)
    assert not (sim.root / "dev/nvidia-caps").exists()  # the unit makes no MIG cap (no --caps): gone
    boot_log = (sim.root / "var/log/pvesim-boot.log").read_text()
    assert "gone with the reboot: /dev/nvidia-uvm" in boot_log and "gone with the reboot: module nvidia_uvm" in boot_log
    assert "systemd-modules-load: loaded nvidia_uvm" in boot_log
    assert "pve-gpu-lxc-nvidia-nodes.service: ExecStart=/usr/bin/nvidia-modprobe -u -c 0" in boot_log
    assert boot_log.index("ExecStart=") < boot_log.index("pve-guests.service starts (startall)")
    startall = next(t for t in c.call("GET", "/nodes/pve/tasks", {"typefilter": "startall"}).data)
    assert startall["status"] == "OK"


def test_after_a_reboot_without_a_boot_step_the_nvidia_container_stays_down(bare: Simulator) -> None:
    c = Client.root(bare)
    create(c, 320, **NVIDIA_DEVS)
    start(c, 320)
    reboot(c)
    assert status(c, 320) == "stopped"
    assert not list((bare.root / "dev").glob("nvidia*"))
    failed = c.call("GET", "/nodes/pve/tasks", {"vmid": 320, "typefilter": "vzstart", "limit": 1}).data[0]
    assert failed["status"] == "Device /dev/nvidia0 does not exist"
    startall = c.call("GET", "/nodes/pve/tasks", {"typefilter": "startall", "limit": 1}).data[0]
    log = c.task(startall["upid"])[1]
    assert "Starting CT 320" in log and "Starting CT 320 failed: Device /dev/nvidia0 does not exist" in log


def test_the_guide_udev_rule_with_a_modules_load_entry_brings_them_back(bare: Simulator) -> None:
    (bare.root / "etc/modules-load.d").mkdir(parents=True, exist_ok=True)
    (bare.root / "etc/modules-load.d/nvidia.conf").write_text("nvidia\nnvidia-uvm\n")
    (bare.root / "etc/udev/rules.d").mkdir(parents=True, exist_ok=True)
    (bare.root / "etc/udev/rules.d/70-nvidia.rules").write_text(
        'KERNEL=="nvidia", RUN+="/bin/bash -c \'/usr/bin/nvidia-smi -L && /bin/chmod 666 /dev/nvidia*\'"\n'
        'KERNEL=="nvidia_uvm", RUN+="/bin/bash -c \'/usr/bin/nvidia-modprobe -c0 -u && /bin/chmod 0666 /dev/nvidia-uvm*\'"\n')
    c = Client.root(bare)
    create(c, 330, **NVIDIA_DEVS)
    reboot(c)
    assert status(c, 330) == "running"
    assert {p.name for p in (bare.root / "dev").glob("nvidia*")} == {"nvidia0", "nvidiactl", "nvidia-uvm",
                                                                     "nvidia-uvm-tools"}


def test_a_unit_that_runs_after_pve_guests_comes_too_late(bare: Simulator) -> None:
    unit = bare.root / UNIT_PATH.lstrip("/")
    unit.parent.mkdir(parents=True, exist_ok=True)
    unit.write_text("[Unit]\nAfter=pve-guests.service\n[Service]\nType=oneshot\n"
                    "ExecStart=/usr/bin/nvidia-modprobe -c 0 -c 255\nExecStart=/usr/bin/nvidia-modprobe -u -c 0\n"
                    "[Install]\nWantedBy=multi-user.target\n")
    link = bare.root / ENABLE_LINK.lstrip("/")
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(UNIT_PATH)
    c = Client.root(bare)
    create(c, 340, **NVIDIA_DEVS)
    reboot(c)
    assert status(c, 340) == "stopped"  # the nodes came, but after startall
    assert rdev(bare.root / "dev/nvidia-uvm") == (511, 0)


def test_a_unit_not_enabled_does_not_run(sim: Simulator) -> None:
    (sim.root / ENABLE_LINK.lstrip("/")).unlink()
    c = Client.root(sim)
    create(c, 350, **NVIDIA_DEVS)
    reboot(c)
    assert status(c, 350) == "stopped"


def test_with_caps_in_the_unit_the_cap_nodes_come_back_with_the_drivers_mode(sim: Simulator) -> None:
    unit = sim.root / UNIT_PATH.lstrip("/")
    unit.write_text(unit.read_text().replace(
        "ExecStart=/usr/bin/nvidia-modprobe -u -c 0\n",
        "ExecStart=/usr/bin/nvidia-modprobe -u -c 0\n"
        "ExecStart=/usr/bin/nvidia-modprobe -f /proc/driver/nvidia/capabilities/mig/config\n"))
    reboot(Client.root(sim))
    assert rdev(sim.root / "dev/nvidia-caps/nvidia-cap1") == (235, 1)
    assert oct(os.stat(sim.root / "dev/nvidia-caps/nvidia-cap1").st_mode & 0o777) == "0o400"


def test_nvidia_modprobe_stand_in_follows_nvidias_option_semantics(sim: Simulator) -> None:
    assert sim.runner is not None
    for path in (sim.root / "dev").glob("nvidia*"):
        if path.is_char_device():
            path.unlink()
    assert sim.runner.run(["nvidia-modprobe", "-u"]).returncode == 0
    assert not list((sim.root / "dev").glob("nvidia-uvm*"))  # -u alone makes no node
    assert sim.runner.run(["nvidia-modprobe", "-u", "-c", "0"]).returncode == 0
    assert rdev(sim.root / "dev/nvidia-uvm") == (511, 0) and rdev(sim.root / "dev/nvidia-uvm-tools") == (511, 1)
    assert not (sim.root / "dev/nvidia0").exists()  # with -u the minors are UVM minors
    assert sim.runner.run(["nvidia-modprobe", "-c0", "-c", "255"]).returncode == 0
    assert rdev(sim.root / "dev/nvidia0") == (195, 0) and rdev(sim.root / "dev/nvidiactl") == (195, 255)
    result = sim.runner.run(["modprobe", "vfio"])
    assert result.returncode == 1 and "modprobe: FATAL: Module vfio not found" in result.stderr
