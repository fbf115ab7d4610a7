"""Faults: the ways a real Proxmox VE node fails a client, on demand, for tests.

A test asks the running node (`Simulator.faults`) for a fault; the node then fails the way PVE
does, with PVE's wording, and nothing else changes.  Four kinds:

* **API answers** (`add`, `time_out`, `hold`), keyed on the route's method and PVE's path
  template (`"POST", "/nodes/{node}/lxc"`, as router.py registers it) and optionally on path
  arguments (`vmid="210"`), for the next `count` matching requests.  server.py's
  `Api2Handler.dispatch` hands every routed request to `Faults.dispatch`, after the node check.
  - `add(method, path, status=500, message=...)`: an error as pvedaemon answers a handler's
    `die` (pve-http-server AnyEvent.pm / Formatter/Standard.pm: the message's first line is the
    status line's reason, the body `{"data":null,"message":"...\\n"}`), before the handler runs
    (nothing happened) or, with `after=True`, after it (the work is done, the answer is lost).
  - `time_out(method, path)`: pveproxy's answer when pvedaemon, to which it proxies every
    `protected` call (lxc create, config PUT, status/start ...), stays silent for 30 s
    (AnyEvent.pm proxy_request: `http_request(..., timeout => 30)`; AnyEvent::HTTP reports the
    time-out as status 596 with the reason "Connection timed out" and no body, which pveproxy
    relays as it is).  pvedaemon is not stopped by it: the handler runs to its end, so the work
    is done and only the answer is lost (`after=True`).  The client waits `delay` seconds
    (PVE: 30; the default here is short, bpg has no time-out of its own below the resource's).
  - `unreachable(method, path)`: pveproxy's answer when pvedaemon does not accept the proxied
    connection (restarted after an update, or down): AnyEvent::HTTP's 595 "errors during connection
    establishment" with the reason "Connection refused", relayed without a body; nothing was done.
  - `hold(method, path)`: the request waits until `release()` (before or after the handler),
    so a test can kill the client at that exact point (`wait_reached()`).
  PVE wordings the tests use are below (`LOCK_TIMEOUT`, `NO_WORKER`), each with its source.
* **A killed task worker** (`kill_worker("vzcreate", vmid)`): the worker dies as it starts, as
  when pvedaemon is restarted or the worker is OOM-killed.  What the API handler did before
  forking stays: for a create, the `lock: create` config of pve-guest-common AbstractConfig.pm
  create_and_lock_config.  The task ends without its last line, which pve-common UPID.pm
  read_status reports as "unexpected status" (pve-manager API2/Tasks.pm read_task_status sees
  the worker's pid gone: `stopped`).  Consulted by tasks.py `Tasks.run`.
* **A full storage** (`fill_storage("local-lvm")`): the thin pool's data space at 100 %, so
  LVM refuses a new thin volume and pve-storage says so (LvmThinPlugin.pm alloc_image:
  `run_command(['/sbin/lvcreate', ...], errmsg => "lvcreate '$vg/$name' error")`; pve-common
  Cmd.pm run dies with "$errmsg: $laststderr", lvcreate's line being "  Cannot create new thin
  volume, free space in thin pool pve/data reached threshold.").  A thick `lvm` storage gets
  LVMPlugin.pm alloc_lvm_image's "not enough free space ($free < $size)".  A full `dir` storage
  is not simulated (a raw image is sparse there; what fails next depends on mkfs and tar).
  Storage status shows a full storage as `avail: 0`.  Consulted by storage.py.
* **An SSH session cut** (`cut_session(path, mode)`): bpg writes an idmap with ONE
  `/bin/bash -c '...; try_sudo sed -i ... <conf>; echo '<lines>' | try_sudo tee -a <conf> > /dev/null'`
  (bpg proxmox/ssh/client.go executeCommands, container.go containerSetIDMaps).  The node's
  `tee` (a stand-in on the node's /usr overlay, coreutils' tee unless armed) acts when it is
  asked to append to `path`, i.e. after `sed -i` has run and before anything is appended:
  - `kill`: the session's processes are killed (`kill -KILL 0`: the session's process group):
    the idmap lines are gone from the file and never come back; sshd reports the end as signal
    KILL.  The node-side effect of a session torn down between the two commands;
  - `drop`: the SSH connection drops (sshd's process for the session is killed): the client sees
    the session end without an exit status, but the command has no terminal and runs on, so
    `tee -a` still appends the lines (OpenSSH sends no SIGHUP to a session without a pty);
  - `hold`: the session waits until `release()`, so a test can kill the client there.

Nothing here imitates the provider or Terraform: each fault is the node's.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .node import NodeFiles, PveError
from .router import Request, Route


# pve-common PVE/Tools.pm lock_file_full (`run_with_timeout` dies "got timeout\n"; the caller's
# message is "can't lock file '$filename' - $@"), with pve-container LXC/Config.pm config_file_lock
# ("/run/lock/lxc/pve-config-$vmid.lock"): what a config change or a create answers while another
# task (a backup, a migration) holds the container's config lock for longer than the wait.
def lock_timeout(vmid: int | str) -> str:
    return f"can't lock file '/run/lock/lxc/pve-config-{vmid}.lock' - got timeout"


# pve-container API2/LXC.pm create_vm: `eval { create_and_lock_config(...) }; die "$emsg $@" if $@`
def create_lock_timeout(vmid: int | str) -> str:
    return f"unable to create CT {vmid} - {lock_timeout(vmid)}"


# pve-common PVE/RESTEnvironment.pm fork_worker: the parent reads the worker's UPID from a pipe
NO_WORKER = "got no worker upid - start worker failed"

# AnyEvent::HTTP's statuses, relayed by pveproxy: a time-out while waiting for the answer's header,
# and a connection pvedaemon refused
PROXY_TIMEOUT_STATUS = 596
PROXY_TIMEOUT_REASON = "Connection timed out"
PROXY_REFUSED_STATUS = 595
PROXY_REFUSED_REASON = "Connection refused"

# pve-common PVE/UPID.pm read_status: a task log without its `TASK ...` last line
UNEXPECTED_STATUS = "unexpected status"

FAULTS_DIR = "run/pvesim/faults"  # the node-side state of storage and session faults
STANDIN_REAL_TEE = "lib/pvesim-faults/tee"  # coreutils' tee, under the node's /usr overlay
SESSION_MODES = ("kill", "drop", "hold")


class NoBodyError(PveError):
    """An error answered with a status line only, no body (pveproxy relaying AnyEvent::HTTP's 59x)."""


@dataclass
class ApiFault:
    """One armed API fault; `hits` counts the requests it answered."""

    method: str
    path: str  # PVE's path template, as the route is registered
    where: Mapping[str, str]  # path arguments that must match (e.g. {"vmid": "210"})
    count: int
    status: int | None  # None: no error (a hold)
    message: str
    after: bool
    delay: float
    holding: bool
    no_body: bool = False
    hits: int = 0
    reached: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def matches(self, route: Route, args: Mapping[str, str]) -> bool:
        return (self.method == route.method and self.path == route.path and self.hits < self.count
                and all(args.get(k) == v for k, v in self.where.items()))

    def wait_reached(self, timeout: float = 60.0) -> bool:
        """True once a request reached the fault (for a hold: it is waiting now)."""
        return self.reached.wait(timeout)

    def release(self) -> None:
        self.released.set()

    @property
    def spent(self) -> bool:
        return self.hits >= self.count


@dataclass
class WorkerKill:
    task_type: str  # PVE's worker type: vzcreate, vzstart, vzreboot ...
    task_id: str | None  # the vmid, or None for any
    count: int
    hits: int = 0


@dataclass(frozen=True)
class SessionFault:
    """An armed session fault on the node.  `reached` once the node's tee met it: for `kill` and
    `drop` the fault is done then, a `hold` waits until `release()`."""

    armed: Path
    mode: str

    def _sibling(self, suffix: str) -> Path:
        return self.armed.with_name(self.armed.name + suffix)

    @property
    def reached(self) -> bool:
        return self._sibling(".claimed").exists() or self._sibling(".done").exists()

    def wait_reached(self, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        while not self.reached:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def release(self) -> None:
        """A held session goes on (the stand-in waits while its claim exists)."""
        self._sibling(".claimed").unlink(missing_ok=True)

    def disarm(self) -> None:
        self.armed.unlink(missing_ok=True)
        self.release()


# The node's `tee` while the simulator runs (on the /usr overlay, so /usr/bin/tee inside every
# session).  Coreutils' tee unless an armed fault names the file it appends to.  The one-shot
# claim is a rename, atomic across concurrent sessions.
TEE_STANDIN = r"""#!/bin/sh
# The simulated node's tee (pve_gpu_lxc_testing/pvesim/faults.py; do not edit): coreutils' tee,
# unless a test armed a session fault for the file it appends to (SESSION FAULTS in faults.py).
dir=/run/pvesim/faults/ssh
if [ "${1-}" = -a ] && [ -n "${2-}" ] && [ -d "$dir" ]; then
  key=$(printf '%s' "$2" | tr / _)
  for mode in kill drop hold; do
    armed="$dir/$mode@$key"
    if mv "$armed" "$armed.claimed" 2>/dev/null; then
      case $mode in
        kill) : > "$armed.done"; rm -f "$armed.claimed"; kill -KILL 0 ;;
        drop) : > "$armed.done"; rm -f "$armed.claimed"; kill -KILL "${PVESIM_SESSION_PARENT:?}" ;;
        hold) n=0; while [ -e "$armed.claimed" ] && [ $n -lt 2400 ]; do sleep 0.05; n=$((n+1)); done
              : > "$armed.done" ;;
      esac
    fi
  done
fi
exec /usr/lib/pvesim-faults/tee "$@"
"""


def install_standins(overlay: Path) -> None:
    """The node's tee stand-in and coreutils' tee beside it, on the node's /usr overlay."""
    real = overlay / STANDIN_REAL_TEE
    real.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2("/usr/bin/tee", real)
    standin = overlay / "bin" / "tee"
    standin.parent.mkdir(parents=True, exist_ok=True)
    standin.write_text(TEE_STANDIN)
    standin.chmod(0o755)


class Faults:
    """The faults armed on one node (thread-safe: the API serves requests in threads)."""

    def __init__(self, files: NodeFiles, log: logging.Logger):
        self.files = files
        self.log = log
        self._lock = threading.Lock()
        self.api: list[ApiFault] = []
        self.workers: list[WorkerKill] = []

    # --- API answers ---------------------------------------------------------------------------
    def add(self, method: str, path: str, *, count: int = 1, status: int = 500, message: str = "",
            after: bool = False, delay: float = 0.0, **where: str) -> ApiFault:
        """The next `count` requests of `method path` (PVE's template) answer `status message`."""
        if status < 400:
            raise ValueError(f"status {status} is not an error")
        return self._arm(ApiFault(method, path, where, count, status, message or f"HTTP {status}", after, delay,
                                  holding=False))

    def time_out(self, method: str, path: str, *, count: int = 1, delay: float = 0.2, **where: str) -> ApiFault:
        """pveproxy's 596 "Connection timed out" after pvedaemon did the work (see the docstring)."""
        return self._arm(ApiFault(method, path, where, count, PROXY_TIMEOUT_STATUS, PROXY_TIMEOUT_REASON,
                                  after=True, delay=delay, holding=False, no_body=True))

    def unreachable(self, method: str, path: str, *, count: int = 1, **where: str) -> ApiFault:
        """pveproxy's 595 "Connection refused": pvedaemon never saw the request (see the docstring)."""
        return self._arm(ApiFault(method, path, where, count, PROXY_REFUSED_STATUS, PROXY_REFUSED_REASON,
                                  after=False, delay=0.0, holding=False, no_body=True))

    def hold(self, method: str, path: str, *, after: bool = False, **where: str) -> ApiFault:
        """The next request of `method path` waits (before or after its handler) until `release()`."""
        return self._arm(ApiFault(method, path, where, 1, None, "", after, 0.0, holding=True))

    def _arm(self, fault: ApiFault) -> ApiFault:
        with self._lock:
            self.api.append(fault)
        self.log.info("fault armed: %s %s %s x%d", fault.method, fault.path, dict(fault.where), fault.count)
        return fault

    def clear(self) -> None:
        """Disarm everything: API faults (held requests go on), worker kills, storage and session faults."""
        with self._lock:
            faults, self.api, self.workers = self.api, [], []
        for fault in faults:
            fault.release()
        state = self.files.root / FAULTS_DIR
        if state.exists():
            shutil.rmtree(state)

    def dispatch(self, route: Route, request: Request, args: dict[str, str]) -> object:
        """The request's handler, with the first armed fault that matches it (server.py's seam)."""
        with self._lock:
            fault = next((f for f in self.api if f.matches(route, args)), None)
            if fault is not None:
                fault.hits += 1
        if fault is None:
            return route.handler(request, **args)
        self.log.info("fault: %s %s (%s %s) hit %d/%d", request.method, request.path, fault.method, fault.path,
                      fault.hits, fault.count)
        result: object = None
        if fault.after:
            result = route.handler(request, **args)
        fault.reached.set()
        if fault.holding:
            fault.released.wait()
            if not fault.after:
                return route.handler(request, **args)
            return result
        if fault.delay:
            time.sleep(fault.delay)
        assert fault.status is not None
        error_class = NoBodyError if fault.no_body else PveError
        raise error_class(fault.message, fault.status)

    # --- task workers --------------------------------------------------------------------------
    def kill_worker(self, task_type: str, vmid: int | str | None = None, *, count: int = 1) -> WorkerKill:
        kill = WorkerKill(task_type, None if vmid is None else str(vmid), count)
        with self._lock:
            self.workers.append(kill)
        return kill

    def worker_killed(self, task_type: str, task_id: str) -> bool:
        """tasks.py asks before it runs a worker: True when an armed kill takes this one."""
        with self._lock:
            for kill in self.workers:
                if kill.task_type == task_type and kill.task_id in (None, task_id) and kill.hits < kill.count:
                    kill.hits += 1
                    self.log.info("fault: worker %s:%s killed as it starts", task_type, task_id)
                    return True
        return False

    # --- storage -------------------------------------------------------------------------------
    def _full_marker(self, storage_id: str) -> Path:
        return self.files.root / FAULTS_DIR / "storage-full" / storage_id

    def fill_storage(self, storage_id: str) -> None:
        """The storage has no space left for a new volume (lvmthin and lvm storages only)."""
        storage = self.files.storage(storage_id)
        if storage.type not in ("lvmthin", "lvm"):
            raise ValueError(f"a full {storage.type} storage is not simulated (only lvmthin and lvm)")
        marker = self._full_marker(storage_id)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()

    def free_storage(self, storage_id: str) -> None:
        self._full_marker(storage_id).unlink(missing_ok=True)

    def storage_full(self, storage_id: str) -> bool:
        return self._full_marker(storage_id).exists()

    # --- SSH sessions --------------------------------------------------------------------------
    def cut_session(self, path: str, mode: str = "kill") -> SessionFault:
        """The next session whose `tee -a` appends to `path` (a node path) meets `mode`."""
        if mode not in SESSION_MODES:
            raise ValueError(f"mode {mode!r}: one of {', '.join(SESSION_MODES)}")
        state = self.files.root / FAULTS_DIR / "ssh"
        state.mkdir(parents=True, exist_ok=True)
        armed = state / f"{mode}@{path.replace('/', '_')}"
        armed.touch()
        return SessionFault(armed, mode)
