"""Tasks: UPIDs, the worker that runs one, its status and log.

PVE: pve-common `PVE/RESTEnvironment.pm` fork_worker (the worker, its log, `TASK OK` /
`TASK WARNINGS: n` / `TASK ERROR: ...` as the last line), `PVE/Tools.pm` upid_encode
(`UPID:node:PID:PSTART:STARTTIME:type:id:user:`), pve-manager `PVE/API2/Tasks.pm`
(read_task_status, read_task_log, stop_task).

Tasks run to completion inside the request that starts them (`Tasks.run`), so a client's
first status poll sees them stopped; a worker that keeps running would start there too.  A
worker a test killed (faults.py `kill_worker`) never runs: its task ends without a last line,
"unexpected status" (pve-common UPID.pm read_status), and its empty log reads "no content"
(pve-common Tools.pm dump_logfile).  The
task list (`GET /nodes/{node}/tasks`, Tasks.pm node_tasks) answers from the finished tasks, the
newest first, as PVE reads its task index backwards.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .faults import UNEXPECTED_STATUS, Faults
from .node import PveError, param_error
from .router import Request, Router


@dataclass
class Task:
    upid: str
    node: str
    type: str
    id: str
    user: str
    pid: int
    pstart: int
    starttime: int
    lines: list[str] = field(default_factory=list)
    status: str = "running"
    exitstatus: str | None = None
    endtime: int | None = None
    warnings: int = 0

    def log(self, text: str) -> None:
        self.lines.extend(text.rstrip("\n").split("\n"))

    def warn(self, text: str) -> None:
        self.warnings += 1
        self.log(f"WARN: {text.rstrip()}")

    def api_status(self) -> dict[str, Any]:
        data: dict[str, Any] = {"upid": self.upid, "node": self.node, "pid": self.pid, "pstart": self.pstart,
                                "starttime": self.starttime, "type": self.type, "id": self.id, "user": self.user,
                                "status": self.status}
        if self.status == "stopped":
            data["exitstatus"] = self.exitstatus
        return data


Worker = Callable[[Task], None]


class Tasks:
    def __init__(self, node: str, log: logging.Logger, lock: threading.RLock, faults: Faults | None = None):
        self.node = node
        self.log = log
        self.lock = lock
        self.faults = faults
        self.by_upid: dict[str, Task] = {}
        self._seq = 0
        self._pstart = int(time.monotonic() * 100) & 0xFFFFFFFF

    def register(self, router: Router) -> None:
        router.add("GET", "/nodes/{node}/tasks", self.node_tasks)
        router.add("GET", "/nodes/{node}/tasks/{upid}/status", self.read_task_status)
        router.add("GET", "/nodes/{node}/tasks/{upid}/log", self.read_task_log)
        router.add("DELETE", "/nodes/{node}/tasks/{upid}", self.stop_task)

    def new_upid(self, task_type: str, task_id: str, user: str) -> Task:
        with self.lock:
            self._seq += 1
            pid = (os.getpid() * 16 + self._seq) & 0x3FFFFF
            starttime = int(time.time())
            pstart = (self._pstart + self._seq) & 0xFFFFFFFF
            upid = f"UPID:{self.node}:{pid:08X}:{pstart:08X}:{starttime:08X}:{task_type}:{task_id}:{user}:"
            task = Task(upid, self.node, task_type, task_id, user, pid, pstart, starttime)
            self.by_upid[upid] = task
            return task

    def run(self, task_type: str, task_id: str | int, user: str, worker: Worker) -> str:
        """PVE fork_worker, but the worker runs to completion before the UPID is returned."""
        task = self.new_upid(task_type, str(task_id), user)
        if self.faults is not None and self.faults.worker_killed(task_type, str(task_id)):
            # the worker died as it started (faults.py): its log has no last line, which UPID.pm
            # read_status reports as "unexpected status"; what the handler did before forking stays
            task.status, task.exitstatus, task.endtime = "stopped", UNEXPECTED_STATUS, int(time.time())
            self.log.info("task %s: killed", task.upid)
            return task.upid
        try:
            worker(task)
        except PveError as err:
            # PVE reads the exit status from the log's last line ("TASK ERROR: <message>")
            task.log(f"TASK ERROR: {err.message.rstrip()}")
            last = task.lines[-1]
            task.exitstatus = last[len("TASK ERROR: "):] if last.startswith("TASK ERROR: ") else last
        except Exception as err:
            self.log.exception("task %s failed", task.upid)
            task.log(f"TASK ERROR: {err}")
            task.exitstatus = str(err)
        else:
            if task.warnings:
                task.log(f"TASK WARNINGS: {task.warnings}")
                task.exitstatus = f"WARNINGS: {task.warnings}"
            else:
                task.log("TASK OK")
                task.exitstatus = "OK"
        task.status = "stopped"
        task.endtime = int(time.time())
        self.log.info("task %s: %s", task.upid, task.exitstatus)
        return task.upid

    def find(self, upid: str) -> Task:
        if not upid.startswith("UPID:") or len(upid.split(":")) < 9:
            raise param_error({"upid": "unable to parse worker upid"})
        task = self.by_upid.get(upid)
        if task is None:
            raise param_error({"upid": "no such task"})
        return task

    # --- handlers (pve-manager API2/Tasks.pm) ---------------------------------------------------
    def node_tasks(self, req: Request) -> object:
        """Tasks.pm node_tasks (source 'archive': finished tasks), with its start/limit, typefilter,
        vmid and errors filters; each item is the decoded UPID with `endtime` and `status` (the exit
        status: "OK", "WARNINGS: n" or the error)."""
        params = req.params
        start = int(params.get("start") or 0)
        limit = int(params.get("limit") or 50)
        errors = params.get("errors") in ("1", "true")
        result: list[dict[str, Any]] = []
        count = 0
        for task in sorted(self.by_upid.values(), key=lambda t: (t.starttime, t.pid), reverse=True):
            if task.status != "stopped":
                continue
            if params.get("typefilter") and task.type != params["typefilter"]:
                continue
            if params.get("vmid") and task.id != params["vmid"]:
                continue
            if errors and _status_type(task.exitstatus) == "ok":
                continue
            count += 1
            if count <= start or len(result) >= limit:
                continue
            result.append({"upid": task.upid, "node": task.node, "pid": task.pid, "pstart": task.pstart,
                           "starttime": task.starttime, "type": task.type, "id": task.id, "user": task.user,
                           "endtime": task.endtime, "status": task.exitstatus})
        return result

    def read_task_status(self, req: Request, upid: str) -> object:
        return self.find(upid).api_status()

    def read_task_log(self, req: Request, upid: str) -> object:
        task = self.find(upid)
        start = int(req.params.get("start", "0") or 0)
        limit = int(req.params.get("limit", "50") or 50)
        lines = task.lines[start:start + limit] if limit else task.lines[start:]
        if not task.lines:  # pve-common Tools.pm dump_logfile: ExtJS wants a line, "no content"
            return [{"n": 1, "t": "no content"}]
        return [{"n": start + i + 1, "t": line} for i, line in enumerate(lines)]

    def stop_task(self, req: Request, upid: str) -> object:
        self.find(upid)
        return None


def _status_type(status: str | None) -> str:
    """pve-common PVE::UPID normalize_status_type: ok, warning, unknown or error."""
    if status == "OK":
        return "ok"
    if not status or status == UNEXPECTED_STATUS:
        return "unknown"
    return "warning" if status.startswith("WARNINGS: ") else "error"
