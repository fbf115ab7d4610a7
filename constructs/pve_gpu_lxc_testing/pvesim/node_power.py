"""The node's power: reboot, and the guests stopped before it and started after it.

PVE: pve-manager `PVE/API2/Nodes.pm` node_cmd (`POST /nodes/{node}/status`, command=reboot runs
`(sleep 2;/sbin/reboot)&` and returns null), stopall (what pve-guests.service's ExecStop runs:
every running guest shut down, `vm_shutdown` with forceStop), startall (what its ExecStart runs at
boot: `get_start_stop_list` takes the guests with onboot=1, ordered by their `startup` order,
then by vmid; each is started by `PVE::API2::LXC::Status->vm_start`, and a failed one is logged
"Starting CT <vmid> failed: <status>" in the startall task and in its own vzstart task);
`services/pve-guests.service` (After= the cluster services; onboot guests start there).

Here the reboot happens inside the request, in order: stopall, power off, boot (nodeboot.py:
modules, udev, the units ordered before pve-guests), startall, the units ordered after it; the
boot's own log is /var/log/pvesim-boot.log on the node.  A startup `up=` delay is not waited for.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from pve_gpu_lxc.pve import conf as pveconf
from pve_gpu_lxc.pve.conf import PropertyStringError

from .lxc_status import LxcStatus
from .node import NodeFiles, PveError, param_error
from .nodeboot import NodeBoot
from .router import Request, Router
from .tasks import Task, Tasks

ROOT_USER = "root@pam"  # pve-guests.service runs pvesh as root
SHUTDOWN_TIMEOUT_S = 180  # stopall's default timeout, printed per guest
BOOT_LOG = "var/log/pvesim-boot.log"


class NodePower:
    def __init__(self, files: NodeFiles, status: LxcStatus, tasks: Tasks, boot: NodeBoot):
        self.files = files
        self.status = status
        self.tasks = tasks
        self.boot = boot

    def register(self, router: Router) -> None:
        router.add("POST", "/nodes/{node}/status", self.node_cmd)
        router.add("POST", "/nodes/{node}/startall", self.startall_request)
        router.add("POST", "/nodes/{node}/stopall", self.stopall_request)

    def node_cmd(self, req: Request) -> object:
        """Nodes.pm node_cmd: command=reboot|shutdown; the answer is null."""
        command = req.params.get("command", "")
        if command not in ("reboot", "shutdown"):
            raise param_error({"command": f"value '{command}' does not have a value in the enumeration "
                                          "'reboot, shutdown'"} if command else
                              {"command": "property is missing and it is not optional"})
        if command == "shutdown":
            raise PveError("command 'shutdown' is not simulated: a node that is off answers nothing "
                           "(reboot is: it stops the guests, boots and starts the onboot ones)", 501)
        self.reboot()
        return None

    def reboot(self) -> None:
        log_path = self.files.path("/" + BOOT_LOG)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "a") as log_file:
            def log(line: str) -> None:
                log_file.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")
                log_file.flush()

            log("reboot: pve-guests.service stops (stopall)")
            self.tasks.run("stopall", "", ROOT_USER, self.stopall)
            for vmid in self.files.vmids():  # whatever still ran is gone with the power
                self.files.set_status(vmid, "stopped")
            self.boot.power_off(log)
            log("boot")
            later = self.boot.boot(log)
            log("pve-guests.service starts (startall)")
            self.tasks.run("startall", "", ROOT_USER, self.startall)
            for unit in later:
                self.boot.run_unit(unit, log)
            log("boot finished")

    # --- startall / stopall ---------------------------------------------------------------------
    def startall_request(self, req: Request) -> object:
        force = pveconf.parse_boolean(req.params.get("force", "0") or "0") == 1
        return self.tasks.run("startall", "", req.user, lambda task: self.startall(task, force))

    def stopall_request(self, req: Request) -> object:
        return self.tasks.run("stopall", "", req.user, self.stopall)

    def start_list(self, force: bool = False) -> list[int]:
        """Nodes.pm get_start_stop_list: onboot guests (all with force), by startup order, then vmid."""
        order: list[tuple[int, int]] = []
        for vmid in self.files.vmids():
            conf = self.files.read_conf(vmid)
            if conf is None:
                continue
            if not force and pveconf.parse_boolean(conf.options.get("onboot", "0") or "0") != 1:
                continue
            try:
                text = conf.options.get("startup") or ""
                startup = pveconf.parse_property_string(pveconf.STARTUP_SCHEMA, text) if text else {}
            except PropertyStringError:
                startup = {}
            rank = int(startup["order"]) if re.fullmatch(r"\d+", startup.get("order", "")) else 2**63 - 1
            order.append((rank, vmid))
        return [vmid for _, vmid in sorted(order)]

    def startall(self, task: Task, force: bool = False) -> None:
        for vmid in self.start_list(force):
            if self.status.config.is_running(vmid):
                continue
            task.log(f"Starting CT {vmid}")
            upid = self.status.start_task(vmid, ROOT_USER)
            status = self.tasks.by_upid[upid].exitstatus or "unknown"
            if status != "OK" and not status.startswith("WARNINGS: "):
                task.log(f"Starting CT {vmid} failed: {status}")

    def stopall(self, task: Task) -> None:
        for vmid in sorted(self.files.vmids(), reverse=True):
            if not self.status.config.is_running(vmid):
                continue
            task.log(f"Stopping CT {vmid} (timeout = {SHUTDOWN_TIMEOUT_S} seconds)")
            self.tasks.run("vzshutdown", vmid, ROOT_USER, self._stopper(vmid))

    def _stopper(self, vmid: int) -> Callable[[Task], None]:
        return lambda task: self.status.vm_stop(vmid, task)
