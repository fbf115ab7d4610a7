"""A container's run state: the container list, status, start, stop, shutdown, reboot, interfaces.

PVE: pve-container `src/PVE/API2/LXC/Status.pm` (vm_status, vm_start, vm_stop, vm_shutdown,
vm_reboot), `src/PVE/API2/LXC.pm` (vmlist, ip), `src/PVE/LXC.pm` (vmstatus, vm_start, vm_stop,
get_interfaces).  The run state is the node file `run/pvesim/lxc/<vmid>.status` (PVE keeps it in
memory); a start really checks what lxc-start would need, then marks the container running.

Every start goes through `LxcStatus.vm_start` and every stop through `LxcStatus.vm_stop`
(the API's start, reboot, and create's `start=1`).  Where the next pieces go:
- the real start path (pve-container LXC.pm vm_start: apply pending, `update_lxc_config`
  writing `/var/lib/lxc/<vmid>/config` and stat'ing every devN, the pre-start hookscript run
  for real, lxc-start, post-start): inside `vm_start`, in that order; `vm_stop` gets the
  matching post-stop.  The steps it checks today (`check_idmap`, the devices, the hookscript)
  are where those real steps go.
- a node reboot's startall (nodes.py) calls `vm_start` per onboot guest.
"""

from __future__ import annotations

import re
import time
from typing import Any

from pve_gpu_lxc.pve import conf as pveconf
from pve_gpu_lxc.pve.conf import PropertyStringError, parse_size

from .access import ROOT
from .lxc_config import LxcConfig, mac_address
from .lxc_generate import update_lxc_config
from .lxc_start import LxcStart
from .node import PveError, param_error
from .router import Request, Router
from .tasks import Task, Tasks


class LxcStatus:
    def __init__(self, config: LxcConfig, tasks: Tasks, starter: LxcStart):
        self.config = config
        self.files = config.files
        self.tasks = tasks
        self.starter = starter

    def register(self, router: Router) -> None:
        router.add("GET", "/nodes/{node}/lxc", self.vmlist)
        router.add("GET", "/nodes/{node}/lxc/{vmid}/status/current", self.status_current)
        router.add("POST", "/nodes/{node}/lxc/{vmid}/status/start", self.start)
        router.add("POST", "/nodes/{node}/lxc/{vmid}/status/stop", self.stop)
        router.add("POST", "/nodes/{node}/lxc/{vmid}/status/shutdown", self.shutdown)
        router.add("POST", "/nodes/{node}/lxc/{vmid}/status/reboot", self.reboot)
        router.add("GET", "/nodes/{node}/lxc/{vmid}/interfaces", self.interfaces)

    # --- reading ---------------------------------------------------------------------------------
    def vmlist(self, req: Request) -> object:
        """API2/LXC.pm vmlist."""
        result = []
        for vmid in self.files.vmids():
            conf = self.files.read_conf(vmid)
            if conf is not None:
                result.append(self.vmstatus(vmid, conf))
        return result

    def vmstatus(self, vmid: int, conf: pveconf.PveConf) -> dict[str, Any]:
        """PVE::LXC::vmstatus for one container."""
        options = conf.options
        running = self.config.is_running(vmid)

        def integer(key: str, default: int) -> int:
            value = options.get(key)
            return int(value) if value is not None and re.fullmatch(r"\d+", value) else default

        memory = integer("memory", 512)
        swap = integer("swap", 0)
        rootfs = options.get("rootfs")
        maxdisk = 0
        if rootfs:
            try:
                size = pveconf.parse_property_string(pveconf.ROOTFS_SCHEMA, rootfs).get("size")
                maxdisk = parse_size(size) or 0 if size else 0
            except PropertyStringError:
                maxdisk = 0
        cpus: float = integer("cores", 0) or 8
        if options.get("cpulimit") and re.fullmatch(r"\d+(\.\d+)?", options["cpulimit"]):
            limit = float(options["cpulimit"])
            if limit:
                cpus = min(cpus, limit) if limit < cpus else cpus
        data: dict[str, Any] = {
            "vmid": vmid, "name": options.get("hostname", f"CT{vmid}"), "status": "running" if running else "stopped",
            "type": "lxc", "cpus": cpus, "cpu": 0, "maxmem": memory * 1024 * 1024, "mem": 0,
            "maxswap": swap * 1024 * 1024, "swap": 0, "maxdisk": maxdisk, "disk": 0, "netin": 0, "netout": 0,
            "diskread": 0, "diskwrite": 0, "uptime": 0, "ha": {"managed": 0},
        }
        if running:
            started = self.files.started_at(vmid) or time.time()
            data["uptime"] = max(1, int(time.time() - started))
            data["pid"] = 100000 + vmid
            data["mem"] = min(64 << 20, memory * 1024 * 1024)
        if options.get("lock"):
            data["lock"] = options["lock"]
        if options.get("tags"):
            data["tags"] = options["tags"]
        if options.get("template") and pveconf.parse_boolean(options["template"]):
            data["template"] = 1
        return data

    def status_current(self, req: Request, vmid: str) -> object:
        """API2/LXC/Status.pm vm_status."""
        vm = self.config.vmid(vmid)
        return self.vmstatus(vm, self.config.load_conf(vm))

    def interfaces(self, req: Request, vmid: str) -> object:
        """API2/LXC.pm ip, PVE::LXC::get_interfaces: undef (null) unless the container runs."""
        vm = self.config.vmid(vmid)
        conf = self.config.load_conf(vm)
        if not self.config.is_running(vm):
            return None
        result = [{"name": "lo", "hwaddr": "00:00:00:00:00:00", "hardware-address": "00:00:00:00:00:00",
                   "inet": "127.0.0.1/8", "inet6": "::1/128",
                   "ip-addresses": [{"ip-address": "127.0.0.1", "ip-address-type": "inet", "prefix": 8},
                                    {"ip-address": "::1", "ip-address-type": "inet6", "prefix": 128}]}]
        options = conf.options
        for key in sorted((k for k in options if re.fullmatch(r"net\d+", k)), key=lambda k: int(k[3:])):
            try:
                net = pveconf.parse_property_string(pveconf.NET_SCHEMA, options[key])
            except PropertyStringError:
                continue
            index = int(key[3:])
            inet = net["ip"] if re.fullmatch(r"[\d.]+/\d+", net.get("ip", "")) else \
                f"192.0.2.{(vm + index) % 250 + 2}/24"
            inet6 = net["ip6"] if re.fullmatch(r"[0-9a-fA-F:]+/\d+", net.get("ip6", "")) else \
                f"2001:db8::{vm:x}:{index + 1:x}/64"
            hwaddr = (net.get("hwaddr") or mac_address(vm, index)).lower()
            result.append({"name": net.get("name", f"eth{index}"), "hwaddr": hwaddr, "hardware-address": hwaddr,
                           "inet": inet, "inet6": inet6,
                           "ip-addresses": [
                               {"ip-address": inet.split("/")[0], "ip-address-type": "inet",
                                "prefix": int(inet.split("/")[1])},
                               {"ip-address": inet6.split("/")[0], "ip-address-type": "inet6",
                                "prefix": int(inet6.split("/")[1])}]})
        return result

    # --- power (API2/LXC/Status.pm) ------------------------------------------------------------
    def start(self, req: Request, vmid: str) -> object:
        """API2/LXC/Status.pm vm_start."""
        vm = self.config.vmid(vmid)
        conf = self.config.load_conf(vm)
        if self.config.is_running(vm):
            raise PveError(f"CT {vm} already running")
        self.config.check_lock(conf)
        if pveconf.parse_boolean(conf.options.get("template", "0") or "0"):
            raise PveError("you can't start a CT if it's a template")
        return self.start_task(vm, req.user)

    def stop(self, req: Request, vmid: str) -> object:
        """API2/LXC/Status.pm vm_stop: refused at once when not running; the worker, under the
        config lock, checks the lock (unless `skiplock`, root@pam only, or the lock is `mounted`)."""
        vm = self._running(vmid, "CT")
        skiplock = self._skiplock(req)

        def worker(task: Task) -> None:
            conf = self.config.load_conf(vm)
            if not skiplock and conf.options.get("lock") != "mounted":
                self.config.check_lock(conf)
            self.vm_stop(vm, task)
        return self.tasks.run("vzstop", vm, req.user, worker)

    def shutdown(self, req: Request, vmid: str) -> object:
        """API2/LXC/Status.pm vm_shutdown: as stop, but the lock is always checked (no skiplock)."""
        vm = self._running(vmid, "CT")

        def worker(task: Task) -> None:
            self.config.check_lock(self.config.load_conf(vm))
            self.vm_stop(vm, task)
        return self.tasks.run("vzshutdown", vm, req.user, worker)

    def reboot(self, req: Request, vmid: str) -> object:
        """API2/LXC/Status.pm vm_reboot ("VM $vmid not running", its wording), then LXC.pm
        vm_reboot: a stop, then a start (which applies pending changes)."""
        vm = self._running(vmid, "VM")

        def worker(task: Task) -> None:
            self.vm_stop(vm, task)
            self.vm_start(vm, task)
        return self.tasks.run("vzreboot", vm, req.user, worker)

    def _running(self, raw: str, word: str) -> int:
        """`die "CT $vmid not running\n" if !PVE::LXC::check_running($vmid)`, before any config is read."""
        vm = self.config.vmid(raw)
        if not self.config.is_running(vm):
            raise PveError(f"{word} {vm} not running")
        return vm

    @staticmethod
    def _skiplock(req: Request) -> bool:
        skiplock = pveconf.parse_boolean(req.params.get("skiplock", "0")) == 1
        if skiplock and req.user != ROOT:
            raise param_error({"skiplock": "Only root may use this option."})
        return skiplock

    def start_task(self, vmid: int, user: str) -> str:
        return self.tasks.run("vzstart", vmid, user, lambda task: self.vm_start(vmid, task))

    # --- PVE::LXC ------------------------------------------------------------------------------
    def vm_start(self, vmid: int, task: Task) -> None:
        """pve-container LXC.pm vm_start, in its order: apply the pending changes, update_lxc_config
        (every devN stat'ed, /var/lib/lxc/<vmid>/config written), the pre-start hookscript, lxc-start
        (reading that config as the hook left it), the post-start hookscript (lxc_start.py)."""
        config = self.config
        with config.lock:
            conf = config.load_conf(vmid)
            if not conf.pending.is_empty():
                config.apply_pending(vmid, conf, {})
                if conf.pending.lxc:
                    # LXC/Config.pm vmconfig_apply_pending takes the pending `lxc` entries like any other
                    # pending key at a start (no selection): they replace the main section's
                    conf.lxc = list(conf.pending.lxc)
                    conf.pending.lxc = []
                self.files.write_conf(vmid, conf)
                conf = config.load_conf(vmid)
        update_lxc_config(self.files, vmid, conf)
        self.starter.exec_hookscript(conf, vmid, "pre-start", task)
        self.starter.lxc_start(vmid, task)
        self.files.set_status(vmid, "running")
        self.starter.exec_hookscript(conf, vmid, "post-start", task)

    def vm_stop(self, vmid: int, task: Task) -> None:
        """PVE::LXC::vm_stop (stop and shutdown alike: nothing runs to be asked): the pre-stop
        hookscript, the stop, then the post-stop one (lxc-pve-poststop-hook); both only warn."""
        conf = self.config.load_conf(vmid)
        self.starter.exec_hookscript(conf, vmid, "pre-stop", task)
        self.files.set_status(vmid, "stopped")
        self.starter.exec_hookscript(conf, vmid, "post-stop", task)
