"""The simulated node's HTTPS API (`/api2/json`), as bpg/proxmox v0.111.1 calls it.

Behaviour, checks and error wording follow Proxmox VE 9 (pve-container `src/PVE/API2/LXC.pm`,
`src/PVE/API2/LXC/Config.pm`, `src/PVE/API2/LXC/Status.pm`, `src/PVE/LXC.pm`,
`src/PVE/LXC/Config.pm`; pve-storage `src/PVE/API2/Storage/Status.pm`, `Content.pm`,
`PVE/Storage.pm`; pve-common `PVE/Tools.pm` download_file_from_url; pve-guest-common
`PVE/GuestHelpers.pm` check_hookscript; pve-manager `PVE/HTTPServer.pm`; pve-http-server
`PVE/APIServer/Formatter/Standard.pm`).  Every request reads the node's files afresh.

Errors: the status line carries the first line of the message (`HTTP/1.1 500 CT 100 already
exists on node 'pve'`), the body is `{"data":null,"message":"...\\n"}` (plus `errors` for
parameter errors), as pve-http-server's JSON formatter writes it; authentication failures
(401 `No ticket`, `Permission denied - invalid csrf token`) have no body.

Tasks run to completion inside the request that starts them; their status and log stay
queryable (`UPID:node:PID:PSTART:STARTTIME:type:id:user:`).
"""

from __future__ import annotations

import base64
import bz2
import gzip
import hashlib
import hmac
import http.server
import json
import logging
import os
import re
import secrets
import shutil
import ssl
import stat
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pve_gpu_lxc.pve import conf as pveconf
from pve_gpu_lxc.pve.conf import PropertyStringError, format_size, parse_size, unique_tags

from .node import NodeFiles, PveError, Storage, param_error, parse_volume_id, perm_error

VERSION = {"version": "9.1.1", "release": "9.1", "repoid": "42db4a6cf33dac83"}
ROOT = "root@pam"
MAC_PREFIX = "BC:24:11"  # PVE's default datacenter mac_prefix
NEW_DISK_RE = re.compile(r"^(?:([^/:\s]+):)?(\d+(\.\d+)?)$")

# options a running container takes at once (Config.pm $LXC_FASTPLUG_OPTIONS)
FASTPLUG = frozenset({"description", "onboot", "startup", "protection", "hostname", "hookscript", "cores",
                      "tags", "lock"})

_MAX_NETS, _MAX_MPS, _MAX_DEVS = 32, 256, 256
_INDEXED = re.compile(r"^(net|mp|unused|dev)(\d+)$")

# pve-container json_config_properties: option -> JSONSchema-ish spec
_STRING = pveconf.Prop()
LXC_OPTIONS: dict[str, pveconf.Prop] = {
    "lock": pveconf.Prop(enum=("backup", "create", "destroyed", "disk", "fstrim", "migrate", "mounted",
                               "rollback", "snapshot", "snapshot-delete")),
    "onboot": pveconf.Prop("boolean"),
    "startup": _STRING,
    "template": pveconf.Prop("boolean"),
    "arch": pveconf.Prop(enum=("amd64", "i386", "arm64", "armhf", "riscv32", "riscv64")),
    "ostype": pveconf.Prop(enum=("debian", "devuan", "ubuntu", "centos", "fedora", "opensuse", "archlinux",
                                 "alpine", "gentoo", "nixos", "unmanaged")),
    "console": pveconf.Prop("boolean"),
    "tty": pveconf.Prop("integer", minimum=0, maximum=6),
    "cores": pveconf.Prop("integer", minimum=1, maximum=8192),
    "cpulimit": pveconf.Prop("number"),
    "cpuunits": pveconf.Prop("integer", minimum=0, maximum=500000),
    "memory": pveconf.Prop("integer", minimum=16),
    "swap": pveconf.Prop("integer", minimum=0),
    "hostname": pveconf.Prop(pattern=r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?\.)*"
                                     r"[a-zA-Z0-9](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?"),
    "description": _STRING,
    "ipmanagehost": pveconf.Prop("boolean"),
    "searchdomain": _STRING,
    "nameserver": _STRING,
    "timezone": _STRING,
    "rootfs": _STRING,
    "cmode": pveconf.Prop(enum=("shell", "console", "tty")),
    "entrypoint": _STRING,
    "env": _STRING,
    "protection": pveconf.Prop("boolean"),
    "unprivileged": pveconf.Prop("boolean"),
    "features": _STRING,
    "hookscript": _STRING,
    "tags": _STRING,
    "debug": pveconf.Prop("boolean"),
}
_PROPERTY_STRINGS = {"rootfs": pveconf.ROOTFS_SCHEMA, "features": pveconf.FEATURES_SCHEMA,
                     "startup": pveconf.STARTUP_SCHEMA, "net": pveconf.NET_SCHEMA, "mp": pveconf.MP_SCHEMA,
                     "dev": pveconf.DEV_SCHEMA}
CREATE_EXTRAS: dict[str, pveconf.Prop] = {
    "node": _STRING, "vmid": pveconf.Prop("integer", minimum=100, maximum=999999999, optional=False),
    "ostemplate": pveconf.Prop(optional=False), "password": _STRING, "storage": _STRING,
    "force": pveconf.Prop("boolean"), "restore": pveconf.Prop("boolean"), "unique": pveconf.Prop("boolean"),
    "pool": _STRING, "ignore-unpack-errors": pveconf.Prop("boolean"), "ssh-public-keys": _STRING,
    "bwlimit": pveconf.Prop("number"), "start": pveconf.Prop("boolean"), "ha-managed": pveconf.Prop("boolean"),
}
UPDATE_EXTRAS: dict[str, pveconf.Prop] = {
    "node": _STRING, "vmid": pveconf.Prop("integer", minimum=100, maximum=999999999),
    "delete": _STRING, "revert": _STRING, "digest": _STRING,
}


def _option_prop(key: str) -> pveconf.Prop | None:
    if key in LXC_OPTIONS:
        return LXC_OPTIONS[key]
    match = _INDEXED.match(key)
    if match:
        limit = {"net": _MAX_NETS, "mp": _MAX_MPS, "unused": _MAX_MPS, "dev": _MAX_DEVS}[match.group(1)]
        if int(match.group(2)) < limit and not (len(match.group(2)) > 1 and match.group(2).startswith("0")):
            return _STRING
    return None


def validate_params(params: dict[str, str], extras: dict[str, pveconf.Prop]) -> None:
    """PVE::JSONSchema::validate for the create/update parameters: 400 with per-parameter errors."""
    errors: dict[str, str] = {}
    for key, value in params.items():
        prop = extras.get(key) or _option_prop(key)
        if prop is None:
            errors[key] = "property is not defined in schema and the schema does not allow additional properties"
            continue
        problem = pveconf.check_prop(key, prop, value)
        if problem:
            errors[key] = problem
            continue
        kind = _INDEXED.match(key).group(1) if _INDEXED.match(key) else key
        schema = _PROPERTY_STRINGS.get(kind)
        if schema is not None:
            try:
                pveconf.parse_property_string(schema, value, key)
            except PropertyStringError as err:
                errors[key] = "invalid format - format error"
                errors.update(err.errors)
    for key, prop in extras.items():
        if not prop.optional and key not in params:
            errors[key] = "property is missing and it is not optional"
    if errors:
        raise param_error(errors)




def normalize_content_filename(name: str) -> str:
    """PVE::Storage::normalize_content_filename."""
    name = name.rstrip("\n")
    name = re.sub(r"^.*[/\\]", "", name)
    return re.sub(r"[^a-zA-Z0-9_.-]", "_", name)


# --- tasks -----------------------------------------------------------------------------------------

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


# --- requests --------------------------------------------------------------------------------------

@dataclass
class Auth:
    user: str  # the authenticated user: `root@pam`, or a token ID `user@realm!name`
    token: bool


@dataclass
class Request:
    method: str
    path: str  # below /api2/json, unquoted segments joined with '/'
    params: dict[str, str]
    headers: Any
    auth: Auth | None
    files: dict[str, tuple[str, Path]] = field(default_factory=dict)  # multipart file fields


@dataclass
class Response:
    status: int = 200
    reason: str = "OK"
    body: bytes = b""
    content_type: str = "application/json;charset=UTF-8"


class PveApi:
    """The request logic, independent of the HTTP server (see `serve`)."""

    def __init__(self, files: NodeFiles, *, state_dir: Path, password: str, tokens: dict[str, str] | None,
                 ssh_address: str, logger: logging.Logger):
        self.files = files
        self.node = files.name
        self.state_dir = Path(state_dir)
        self.password = password
        self.tokens = dict(tokens or {})
        self.ssh_address = ssh_address
        self.log = logger
        self.lock = threading.RLock()
        self.tasks: dict[str, Task] = {}
        self._secret = secrets.token_bytes(32)
        self._task_seq = 0
        self._pstart = int(time.monotonic() * 100) & 0xFFFFFFFF
        self.requests_log = self.state_dir / "requests.log"
        self.upload_dir = self.state_dir / "uploads"
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        self.routes: list[tuple[str, re.Pattern[str], Callable[..., Any]]] = []
        for method, pattern, handler in [
            ("POST", r"/access/ticket", self.access_ticket),
            ("GET", r"/access/ticket", self.access_ticket_get),
            ("GET", r"/version", self.version),
            ("GET", r"/nodes", self.nodes),
            ("GET", r"/cluster/nextid", self.nextid),
            ("GET", r"/storage", self.storage_index),
            ("GET", r"/storage/(?P<storage>[^/]+)", self.storage_get),
            ("GET", r"/nodes/(?P<node>[^/]+)/network", self.network),
            ("GET", r"/nodes/(?P<node>[^/]+)/query-url-metadata", self.query_url_metadata),
            ("GET", r"/nodes/(?P<node>[^/]+)/tasks/(?P<upid>[^/]+)/status", self.task_status),
            ("GET", r"/nodes/(?P<node>[^/]+)/tasks/(?P<upid>[^/]+)/log", self.task_log),
            ("DELETE", r"/nodes/(?P<node>[^/]+)/tasks/(?P<upid>[^/]+)", self.task_stop),
            ("GET", r"/nodes/(?P<node>[^/]+)/lxc", self.lxc_index),
            ("POST", r"/nodes/(?P<node>[^/]+)/lxc", self.lxc_create),
            ("GET", r"/nodes/(?P<node>[^/]+)/lxc/(?P<vmid>[^/]+)/config", self.lxc_config_get),
            ("PUT", r"/nodes/(?P<node>[^/]+)/lxc/(?P<vmid>[^/]+)/config", self.lxc_config_put),
            ("GET", r"/nodes/(?P<node>[^/]+)/lxc/(?P<vmid>[^/]+)/status/current", self.lxc_status_current),
            ("POST", r"/nodes/(?P<node>[^/]+)/lxc/(?P<vmid>[^/]+)/status/(?P<action>start|stop|shutdown|reboot)",
             self.lxc_status_action),
            ("GET", r"/nodes/(?P<node>[^/]+)/lxc/(?P<vmid>[^/]+)/interfaces", self.lxc_interfaces),
            ("PUT", r"/nodes/(?P<node>[^/]+)/lxc/(?P<vmid>[^/]+)/resize", self.lxc_resize),
            ("DELETE", r"/nodes/(?P<node>[^/]+)/lxc/(?P<vmid>[^/]+)", self.lxc_destroy),
            ("GET", r"/nodes/(?P<node>[^/]+)/storage", self.node_storage_index),
            ("GET", r"/nodes/(?P<node>[^/]+)/storage/(?P<storage>[^/]+)/status", self.node_storage_status),
            ("GET", r"/nodes/(?P<node>[^/]+)/storage/(?P<storage>[^/]+)/content", self.content_index),
            ("GET", r"/nodes/(?P<node>[^/]+)/storage/(?P<storage>[^/]+)/content/(?P<volume>.+)", self.content_get),
            ("DELETE", r"/nodes/(?P<node>[^/]+)/storage/(?P<storage>[^/]+)/content/(?P<volume>.+)",
             self.content_delete),
            ("POST", r"/nodes/(?P<node>[^/]+)/storage/(?P<storage>[^/]+)/upload", self.upload),
            ("POST", r"/nodes/(?P<node>[^/]+)/storage/(?P<storage>[^/]+)/download-url", self.download_url),
        ]:
            self.routes.append((method, re.compile(f"^{pattern}$"), handler))

    # --- request entry point --------------------------------------------------------------------
    def record(self, method: str, raw_path: str) -> None:
        with self.lock:
            with open(self.requests_log, "a") as f:
                f.write(f"{method} {raw_path}\n")

    def handle(self, method: str, raw_path: str, query: str, headers: Any, body: bytes) -> Response:
        self.record(method, raw_path)
        if not raw_path.startswith("/api2/json"):
            return Response(501, "no such uri", b"")
        rel = raw_path[len("/api2/json"):] or "/"
        segments = [urllib.parse.unquote(s) for s in rel.split("/")]
        path = "/".join(segments).rstrip("/") or "/"
        try:
            auth = self.authenticate(method, path, headers)
        except PveError as err:
            self.log.info("%s %s -> %d %s", method, raw_path, err.status, err.message)
            return Response(err.status, _reason(err.message), b"")
        try:
            params, files = self.parse_params(method, query, headers, body)
            request = Request(method, path, params, headers, auth, files)
            data = self.dispatch(request)
            payload = json.dumps({"data": data}).encode()
            self.log.info("%s %s -> 200", method, raw_path)
            return Response(200, "OK", payload)
        except PveError as err:
            message = err.message if err.message.endswith("\n") else err.message + "\n"
            body_data: dict[str, Any] = {"data": None, "message": message}
            if err.errors:
                body_data["errors"] = {k: v if v.endswith("\n") else v + "\n" for k, v in err.errors.items()}
            self.log.info("%s %s -> %d %s %s", method, raw_path, err.status, err.message.strip(),
                          json.dumps(err.errors) if err.errors else "")
            return Response(err.status, _reason(err.message), json.dumps(body_data).encode())
        except Exception as err:  # noqa: BLE001 - a simulator bug is a 500 like any die in PVE
            self.log.exception("internal error on %s %s", method, raw_path)
            body_data = {"data": None, "message": f"{err}\n"}
            return Response(500, _reason(str(err)), json.dumps(body_data).encode())

    def dispatch(self, request: Request) -> Any:
        for method, pattern, handler in self.routes:
            match = pattern.match(request.path)
            if not match or method != request.method:
                continue
            args = match.groupdict()
            if "node" in args:
                self.check_node(args.pop("node"))
            return handler(request, **args)
        raise PveError(f"Method '{request.method} {request.path}' not implemented", 501)

    # --- authentication (pve-manager PVE/HTTPServer.pm auth_handler) ---------------------------
    def authenticate(self, method: str, path: str, headers: Any) -> Auth | None:
        if path == "/access/ticket" and method in ("GET", "POST"):
            return None
        authorization = headers.get("Authorization", "") or ""
        match = re.match(r"^PVEAPIToken[= ](\S+)$", authorization.strip())
        if match:
            return Auth(self.verify_token(match.group(1)), token=True)
        ticket = _cookie(headers.get("Cookie", ""), "PVEAuthCookie")
        if not ticket:
            raise PveError("No ticket", 401)
        user = self.verify_ticket(ticket)
        is_upload = method == "POST" and re.match(r"^/nodes/[^/]+/storage/[^/]+/upload$", path)
        if method != "GET" and not is_upload:
            if not self.verify_csrf(user, headers.get("CSRFPreventionToken", "") or ""):
                raise PveError("Permission denied - invalid csrf token", 401)
        return Auth(user, token=False)

    def verify_token(self, api_token: str) -> str:
        """PVE::AccessControl::verify_token."""
        match = re.match(r"^(.*)=(.*)$", api_token)
        if not match:
            raise PveError("no tokenid specified", 401)
        tokenid, value = match.groups()
        if "!" not in tokenid or "@" not in tokenid.split("!", 1)[0]:
            raise PveError(f"'{tokenid}' is not a valid token ID", 401)
        user, name = tokenid.split("!", 1)
        if user != ROOT and not any(t.startswith(user + "!") for t in self.tokens):
            raise PveError(f"user '{user}' does not exist", 401)
        if tokenid not in self.tokens:
            raise PveError(f"no such token '{name}' for user '{user}'", 401)
        if not hmac.compare_digest(self.tokens[tokenid], value):
            raise PveError("invalid token value!", 401)
        return tokenid

    def _sign(self, text: str) -> str:
        return base64.b64encode(hmac.new(self._secret, text.encode(), hashlib.sha256).digest()).decode()

    def make_ticket(self, user: str) -> tuple[str, str]:
        stamp = f"{int(time.time()):08X}"
        plain = f"PVE:{user}:{stamp}"
        ticket = f"{plain}::{self._sign(plain)}"
        csrf = f"{stamp}:{self._sign('csrf:' + user + ':' + stamp)[:43]}"
        return ticket, csrf

    def verify_ticket(self, ticket: str) -> str:
        match = re.match(r"^(PVE:([^:]+):([0-9A-F]{8}))::(.+)$", ticket)
        if not match or not hmac.compare_digest(self._sign(match.group(1)), match.group(4)):
            raise PveError("permission denied - invalid PVE ticket", 401)
        age = time.time() - int(match.group(3), 16)
        if age > 7200:
            raise PveError("permission denied - invalid PVE ticket", 401)
        return match.group(2)

    def verify_csrf(self, user: str, token: str) -> bool:
        match = re.match(r"^([0-9A-F]{8}):(\S+)$", token)
        if not match:
            return False
        return hmac.compare_digest(self._sign("csrf:" + user + ":" + match.group(1))[:43], match.group(2))

    # --- parameters -----------------------------------------------------------------------------
    def parse_params(self, method: str, query: str, headers: Any, body: bytes
                     ) -> tuple[dict[str, str], dict[str, tuple[str, Path]]]:
        params: dict[str, str] = {}
        files: dict[str, tuple[str, Path]] = {}

        def add(pairs: list[tuple[str, str]]) -> dict[str, str]:
            result: dict[str, str] = {}
            for key, value in pairs:
                result[key] = f"{result[key]}\0{value}" if key in result else value
            return result

        content_type = headers.get("Content-Type", "") or ""
        if method in ("POST", "PUT") and body:
            if content_type.startswith("multipart/form-data"):
                params, files = self.parse_multipart(content_type, body)
            else:
                params = add(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        params.update(add(urllib.parse.parse_qsl(query, keep_blank_values=True)))
        return params, files

    def parse_multipart(self, content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, tuple[str, Path]]]:
        match = re.search(r"boundary=\"?([^\";]+)\"?", content_type)
        if not match:
            raise PveError("upload failed", 501)
        delimiter = b"--" + match.group(1).encode()
        params: dict[str, str] = {}
        files: dict[str, tuple[str, Path]] = {}
        for part in body.split(delimiter)[1:]:
            if part.startswith(b"--"):
                break
            part = part[2:] if part.startswith(b"\r\n") else part
            head, _, data = part.partition(b"\r\n\r\n")
            if data.endswith(b"\r\n"):
                data = data[:-2]
            disposition = re.search(rb'(?im)^content-disposition:\s*form-data(.*)$', head)
            if not disposition:
                continue
            name = re.search(rb'name="([^"]*)"', disposition.group(1))
            filename = re.search(rb'filename="([^"]*)"', disposition.group(1))
            if not name:
                continue
            if filename is not None:
                tmp = self.upload_dir / f"pveupload-{secrets.token_hex(8)}"
                tmp.write_bytes(data)
                files[name.group(1).decode()] = (filename.group(1).decode(), tmp)
                params[name.group(1).decode()] = filename.group(1).decode()
            else:
                params[name.group(1).decode()] = data.decode("utf-8", "replace")
        return params, files

    # --- helpers --------------------------------------------------------------------------------
    def check_node(self, node: str) -> None:
        """pve-manager HTTPServer: a call for another node is proxied after a hostname lookup."""
        if node not in (self.node, "localhost"):
            raise PveError(f"hostname lookup '{node}' failed - failed to get address info for: {node}: "
                           "Name or service not known")

    def new_upid(self, task_type: str, task_id: str, user: str) -> Task:
        with self.lock:
            self._task_seq += 1
            pid = (os.getpid() * 16 + self._task_seq) & 0x3FFFFF
            starttime = int(time.time())
            pstart = (self._pstart + self._task_seq) & 0xFFFFFFFF
            upid = f"UPID:{self.node}:{pid:08X}:{pstart:08X}:{starttime:08X}:{task_type}:{task_id}:{user}:"
            task = Task(upid, self.node, task_type, task_id, user, pid, pstart, starttime)
            self.tasks[upid] = task
            return task

    def run_task(self, task_type: str, task_id: str | int, user: str, worker: Callable[[Task], None]) -> str:
        """PVE fork_worker, but the worker runs to completion before the UPID is returned."""
        task = self.new_upid(task_type, str(task_id), user)
        try:
            worker(task)
        except PveError as err:
            # PVE reads the exit status from the log's last line ("TASK ERROR: <message>")
            task.log(f"TASK ERROR: {err.message.rstrip()}")
            last = task.lines[-1]
            task.exitstatus = last[len("TASK ERROR: "):] if last.startswith("TASK ERROR: ") else last
        except Exception as err:  # noqa: BLE001
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

    def vmid(self, raw: str) -> int:
        if not re.fullmatch(r"\d+", raw) or not 100 <= int(raw) <= 999999999:
            raise param_error({"vmid": "invalid format - value does not look like a valid VM ID"})
        return int(raw)

    def load_conf(self, vmid: int) -> pveconf.PveConf:
        conf = self.files.read_conf(vmid)
        if conf is None:
            raise PveError(f"Configuration file 'nodes/{self.node}/lxc/{vmid}.conf' does not exist")
        return conf

    def is_running(self, vmid: int) -> bool:
        return self.files.status(vmid) == "running"

    @staticmethod
    def check_lock(conf: pveconf.PveConf) -> None:
        if conf.options.get("lock"):
            raise PveError(f"CT is locked ({conf.options['lock']})")

    def check_vmid_unused(self, vmid: int) -> None:
        """PVE::Cluster::check_vmid_unused."""
        if self.files.conf_path(vmid).exists():
            raise PveError(f"CT {vmid} already exists on node '{self.node}'")
        if (self.files.root / "etc/pve/qemu-server" / f"{vmid}.conf").exists():
            raise PveError(f"VM {vmid} already exists on node '{self.node}'")

    # --- access / version / nodes -----------------------------------------------------------------
    def access_ticket(self, req: Request) -> Any:
        username, password = req.params.get("username", ""), req.params.get("password", "")
        if not username:
            raise param_error({"username": "property is missing and it is not optional"})
        if username != ROOT or not hmac.compare_digest(password.encode(), self.password.encode()):
            self.log.info("authentication failure; user=%s", username)
            raise PveError("authentication failure", 401)
        ticket, csrf = self.make_ticket(ROOT)
        return {"username": ROOT, "ticket": ticket, "CSRFPreventionToken": csrf,
                "cap": {"vms": {}, "storage": {}, "access": {}, "nodes": {}, "dc": {}, "sdn": {}, "mapping": {}}}

    def access_ticket_get(self, req: Request) -> Any:
        return None

    def version(self, req: Request) -> Any:
        return dict(VERSION)

    def nodes(self, req: Request) -> Any:
        return [{"node": self.node, "status": "online", "type": "node", "id": f"node/{self.node}", "cpu": 0.01,
                 "maxcpu": 8, "mem": 4 << 30, "maxmem": 32 << 30, "disk": 8 << 30, "maxdisk": 100 << 30,
                 "uptime": 86400, "level": "",
                 "ssl_fingerprint": ":".join(f"{b:02X}" for b in hashlib.sha256(self.node.encode()).digest())}]

    def network(self, req: Request) -> Any:
        address = self.ssh_address
        gateway = re.sub(r"\.\d+$", ".1", address) if re.fullmatch(r"[\d.]+", address) else address
        if gateway == address:
            gateway = re.sub(r"\.\d+$", ".254", address)
        return [
            {"iface": "vmbr0", "type": "bridge", "active": 1, "autostart": 1, "method": "static",
             "method6": "manual", "families": ["inet"], "address": address, "netmask": "255.0.0.0" if
             address.startswith("127.") else "255.255.255.0",
             "cidr": f"{address}/{8 if address.startswith('127.') else 24}",
             "gateway": gateway, "bridge_ports": "eno1", "bridge_stp": "off", "bridge_fd": "0", "priority": 4},
            {"iface": "eno1", "type": "eth", "active": 1, "exists": 1, "method": "manual", "method6": "manual",
             "families": ["inet"], "priority": 3},
        ]

    def nextid(self, req: Request) -> Any:
        used = set(self.files.vmids())
        if req.params.get("vmid"):
            vmid = req.params["vmid"]
            if not re.fullmatch(r"\d+", vmid):
                raise param_error({"vmid": "type check ('integer') failed - got '%s'" % vmid})
            if int(vmid) in used:
                raise param_error({"vmid": f"VM {vmid} already exists"})
            return vmid
        for vmid in range(100, 1000000):
            if vmid not in used:
                return str(vmid)
        raise PveError("unable to get any free VMID in range [100, 1000000]")

    # --- tasks --------------------------------------------------------------------------------
    def _task(self, upid: str) -> Task:
        if not upid.startswith("UPID:") or len(upid.split(":")) < 9:
            raise param_error({"upid": "unable to parse worker upid"})
        task = self.tasks.get(upid)
        if task is None:
            raise param_error({"upid": "no such task"})
        return task

    def task_status(self, req: Request, upid: str) -> Any:
        return self._task(upid).api_status()

    def task_log(self, req: Request, upid: str) -> Any:
        task = self._task(upid)
        start = int(req.params.get("start", "0") or 0)
        limit = int(req.params.get("limit", "50") or 50)
        lines = task.lines[start:start + limit] if limit else task.lines[start:]
        return [{"n": start + i + 1, "t": line} for i, line in enumerate(lines)]

    def task_stop(self, req: Request, upid: str) -> Any:
        self._task(upid)
        return None

    # --- storage ------------------------------------------------------------------------------
    def _storage_digest(self) -> str:
        return hashlib.sha1(self.files.storage_cfg_text().encode()).hexdigest()

    def storage_index(self, req: Request) -> Any:
        digest = self._storage_digest()
        return [s.api_view(digest) for s in self.files.storages().values()]

    def storage_get(self, req: Request, storage: str) -> Any:
        return self.files.storage(storage).api_view(self._storage_digest())

    def _storage_status(self, storage: Storage) -> dict[str, Any]:
        if storage.path is not None:
            usage = shutil.disk_usage(self.files.root)
            total, used, avail = usage.total, usage.used, usage.free
        else:
            total, used, avail = 100 << 30, 0, 100 << 30
        return {"storage": storage.id, "type": storage.type, "content": ",".join(sorted(storage.content)),
                "active": 1, "enabled": 0 if storage.disabled else 1, "shared": 0, "total": total, "used": used,
                "avail": avail, "used_fraction": used / total if total else 0}

    def node_storage_index(self, req: Request) -> Any:
        content = req.params.get("content")
        result = []
        for storage in self.files.storages().values():
            if content and content not in storage.content:
                continue
            if req.params.get("enabled") in ("1", "true") and storage.disabled:
                continue
            result.append(self._storage_status(storage))
        return result

    def node_storage_status(self, req: Request, storage: str) -> Any:
        found = self.files.storages().get(storage)
        if found is None:
            raise param_error({"storage": "No such storage."})
        return self._storage_status(found)

    def content_index(self, req: Request, storage: str) -> Any:
        content = req.params.get("content") or None
        if content is not None and content not in ("images", "rootdir", "vztmpl", "iso", "backup", "snippets",
                                                   "import"):
            raise param_error({"content": f"invalid format - invalid content type '{content}'"})
        self.files.storage(storage)
        vmid = req.params.get("vmid")
        volumes = self.files.list_volumes(storage, content)
        if vmid:
            volumes = [v for v in volumes if str(v.get("vmid")) == vmid]
        return volumes

    def _real_volume_id(self, storage: str, volume: str) -> str:
        """Content.pm real_volume_id."""
        if ":" in volume:
            sid, _ = parse_volume_id(volume)
            if sid != storage:
                raise param_error({"volume": f"storage ID mismatch ({sid} != {storage})"})
            self.files.storage(storage)
            return volume
        self.files.storage(storage)
        return f"{storage}:{volume}"

    def content_get(self, req: Request, storage: str, volume: str) -> Any:
        volid = self._real_volume_id(storage, volume)
        vol = self.files.volume(volid)
        path = self.files.path(vol.node_path)
        if not path.exists():
            raise PveError(f"volume '{volid}' does not exist")
        st = path.stat()
        return {"path": vol.node_path, "size": st.st_size, "used": st.st_blocks * 512, "format": vol.format}

    def content_delete(self, req: Request, storage: str, volume: str) -> Any:
        volid = self._real_volume_id(storage, volume)
        vol = self.files.volume(volid)
        owner = vol.vmid
        task_id = (f"{owner}@" if owner is not None else "") + storage

        def worker(task: Task) -> None:
            path = self.files.path(vol.node_path)
            if not (path.is_file() or path.is_symlink()):
                task.warn(f"disk image '{vol.node_path}' does not exist")
                return
            path.unlink()
            task.log(f"Removed volume '{volid}'")

        return self.run_task("imgdel", task_id, req.auth.user, worker)

    def upload(self, req: Request, storage: str) -> Any:
        """pve-storage API2/Storage/Status.pm upload (the HTTP server stored the file part first)."""
        try:
            return self._upload(req, storage)
        except BaseException:
            for _, tmp in req.files.values():
                tmp.unlink(missing_ok=True)
            raise

    def _upload(self, req: Request, storage: str) -> Any:
        content = req.params.get("content", "")
        errors = {}
        if content not in ("iso", "vztmpl", "import"):
            errors["content"] = f"value '{content}' does not have a value in the enumeration 'iso, vztmpl, import'"
        if "filename" not in req.params:
            errors["filename"] = "property is missing and it is not optional"
        if errors:
            raise param_error(errors)
        scfg = self.files.storage_check_enabled(storage)
        if scfg.path is None:
            raise PveError(f"can't upload to storage type '{scfg.type}'")
        upload = req.files.get("filename")
        if upload is None:
            raise PveError("missing temporary file name")
        tmpfile = upload[1]
        size = tmpfile.stat().st_size
        filename = normalize_content_filename(req.params["filename"])
        subdir = {"iso": "template/iso", "vztmpl": "template/cache", "import": "import"}[content]
        if content == "iso" and not re.search(r"[^/]+\.(?:iso|img)$", filename, re.IGNORECASE):
            raise param_error({"filename": "wrong file extension"})
        if content == "vztmpl" and not re.search(r"[^/]+\.(tar|tar\.(?:gz|xz|zst|bz2))$", filename):
            raise param_error({"filename": "wrong file extension"})
        if content == "import" and not re.search(r"^[\w.\-+]+\.(ova|ovf|qcow2|raw|vmdk)$", filename):
            raise param_error({"filename": "invalid filename or wrong extension"})
        if content not in scfg.content:
            raise PveError(f"storage '{storage}' does not support '{content}' content")
        dest_node = f"{scfg.path.rstrip('/')}/{subdir}/{filename}"
        dest = self.files.path(dest_node)
        checksum, algorithm = req.params.get("checksum"), req.params.get("checksum-algorithm")

        def worker(task: Task) -> None:
            task.log(f"starting file import from: /var/tmp/{tmpfile.name}")
            try:
                if algorithm:
                    got = _file_hash(algorithm, tmpfile)
                    if got.lower() != (checksum or "").lower():
                        task.log("calculating checksum...")
                        raise PveError(f"checksum mismatch: got '{got}' != expect '{checksum}'")
                    task.log("calculating checksum...OK, checksum verified")
                task.log(f"target node: {self.node}")
                task.log(f"target file: {dest_node}")
                task.log(f"file size is: {size}")
                task.log(f"command: cp -- /var/tmp/{tmpfile.name} {dest_node}")
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(tmpfile, dest)
                dest.chmod(0o644)
                task.log("finished file import successfully")
            finally:
                tmpfile.unlink(missing_ok=True)

        return self.run_task("imgcopy", "", req.auth.user, worker)

    def download_url(self, req: Request, storage: str) -> Any:
        """pve-storage API2/Storage/Status.pm download_url + PVE::Tools::download_file_from_url."""
        params = req.params
        errors = {}
        for key in ("url", "content", "filename"):
            if not params.get(key):
                errors[key] = "property is missing and it is not optional"
        if params.get("url") and not re.fullmatch(r"https?://.*", params["url"]):
            errors["url"] = "value does not match the regex pattern"
        if params.get("content") and params["content"] not in ("iso", "vztmpl", "import"):
            errors["content"] = (f"value '{params['content']}' does not have a value in the enumeration "
                                 "'iso, vztmpl, import'")
        algorithms = ("md5", "sha1", "sha224", "sha256", "sha384", "sha512")
        if params.get("checksum-algorithm") and params["checksum-algorithm"] not in algorithms:
            errors["checksum-algorithm"] = (f"value '{params['checksum-algorithm']}' does not have a value in the "
                                            f"enumeration '{', '.join(algorithms)}'")
        if params.get("checksum") and not params.get("checksum-algorithm"):
            errors["checksum"] = "parameter 'checksum' requires parameter 'checksum-algorithm'"
        if params.get("checksum-algorithm") and not params.get("checksum"):
            errors["checksum-algorithm"] = "parameter 'checksum-algorithm' requires parameter 'checksum'"
        compression = params.get("compression") or None
        if compression and compression not in ("gz", "lzo", "zst", "bz2"):
            errors["compression"] = (f"value '{compression}' does not have a value in the enumeration "
                                     "'gz, lzo, zst, bz2'")
        if errors:
            raise param_error(errors)
        scfg = self.files.storage_check_enabled(storage)
        if scfg.path is None:
            raise PveError(f"can't upload to storage type '{scfg.type}', not a file based storage!")
        content, url = params["content"], params["url"]
        if content not in scfg.content:
            raise PveError(f"storage '{storage}' is not configured for content-type '{content}'")
        filename = normalize_content_filename(params["filename"])
        if content == "iso" and not re.search(r"[^/]+\.(?:iso|img)$", filename, re.IGNORECASE):
            raise param_error({"filename": "wrong file extension"})
        if content == "vztmpl" and not re.search(r"[^/]+\.(tar|tar\.(?:gz|xz|zst|bz2))$", filename):
            raise param_error({"filename": "wrong file extension"})
        if content == "import" and not re.search(r"^[\w.\-+]+\.(ova|ovf|qcow2|raw|vmdk)$", filename):
            raise param_error({"filename": "invalid filename or wrong extension"})
        subdir = {"iso": "template/iso", "vztmpl": "template/cache", "import": "import"}[content]
        dest_node = f"{scfg.path.rstrip('/')}/{subdir}/{filename}"
        dest = self.files.path(dest_node)
        dest.parent.mkdir(parents=True, exist_ok=True)
        checksum, algorithm = params.get("checksum"), params.get("checksum-algorithm")
        verify = pveconf.parse_boolean(params.get("verify-certificates", "1")) != 0

        def worker(task: Task) -> None:
            decompress = None
            if compression:
                if content != "iso":
                    raise PveError(f"decompression not supported for {content}")
                decompress = compression
            task.log(f"downloading {url} to {dest_node}")
            if dest.is_file():
                if algorithm:
                    got = _file_hash(algorithm, dest)
                    if got.lower() == (checksum or "").lower():
                        task.log("calculating checksum of existing file...OK, got correct file already, "
                                 "no need to download")
                        return
                    task.log("calculating checksum of existing file...")
                    raise PveError(f"checksum mismatch: got '{got}' != expect '{checksum}', aborting")
                raise PveError(f"refusing to override existing file '{dest_node}'")
            tmp = dest.with_name(f"{dest.name}.tmp.{os.getpid()}")
            try:
                context = None if verify else ssl._create_unverified_context()  # noqa: S323
                try:
                    with urllib.request.urlopen(urllib.request.Request(url, headers={"User-Agent": "Wget/1.21.3"}),
                                                timeout=60, context=context) as response, open(tmp, "wb") as out:
                        total = 0
                        while chunk := response.read(1 << 20):
                            out.write(chunk)
                            total += len(chunk)
                except urllib.error.HTTPError as err:
                    task.log(f"HTTP request sent, awaiting response... {err.code} {err.reason}")
                    task.log(f"{time.strftime('%Y-%m-%d %H:%M:%S')} ERROR {err.code}: {err.reason}.")
                    raise PveError("download failed: wget: Server returned error response (exit code 8)") from None
                except (urllib.error.URLError, OSError) as err:
                    task.log(f"failed: {getattr(err, 'reason', err)}.")
                    raise PveError("download failed: wget: unable to resolve host address or connect "
                                   "(exit code 4)") from None
                task.log(f"{total} bytes downloaded")
                if algorithm:
                    got = _file_hash(algorithm, tmp)
                    if got.lower() != (checksum or "").lower():
                        task.log("calculating checksum...")
                        raise PveError(f"checksum mismatch: got '{got}' != expect '{checksum}'")
                    task.log("calculating checksum...OK, checksum verified")
                if decompress:
                    task.log(f"decompressing {tmp.name} to {dest.name}")
                    _decompress(decompress, tmp, dest)
                    tmp.unlink()
                else:
                    tmp.replace(dest)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            task.log(f"download of '{url}' to '{dest_node}' finished")

        return self.run_task("download", pveconf.encode_text(filename), req.auth.user, worker)

    def query_url_metadata(self, req: Request) -> Any:
        """pve-manager API2/Nodes.pm query_url_metadata (an HTTP HEAD of the URL)."""
        url = req.params.get("url", "")
        if not re.fullmatch(r"https?://.*", url):
            raise param_error({"url": "value does not match the regex pattern"})
        verify = pveconf.parse_boolean(req.params.get("verify-certificates", "1")) != 0
        context = None if verify else ssl._create_unverified_context()  # noqa: S323
        request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "Proxmox VE"})
        try:
            with urllib.request.urlopen(request, timeout=30, context=context) as response:
                code, headers = response.status, response.headers
                if code != 200:
                    raise PveError(f"invalid server response: '{code} {response.reason}'")
        except urllib.error.HTTPError as err:
            raise PveError(f"invalid server response: '{err.code} {err.reason}'") from None
        except (urllib.error.URLError, OSError) as err:
            parsed = urllib.parse.urlsplit(url)
            reason = getattr(err, "reason", err)
            raise PveError(f"invalid server response: '500 Can't connect to {parsed.hostname}:"
                           f"{parsed.port or (443 if parsed.scheme == 'https' else 80)} ({reason})'") from None
        size = headers.get("Content-Length")
        disposition = headers.get("Content-Disposition") or ""
        mimetype = headers.get("Content-Type")
        filename = None
        match = re.search(r'filename="([^"]*)"', disposition) or re.search(r"filename=([^;]*)", disposition)
        if match:
            filename = match.group(1)
        else:
            match = re.match(r"^[^?]+/([^?/]*)(?:\?.*)?$", url)
            filename = match.group(1) if match else None
        if mimetype and ";" in mimetype:
            mimetype = mimetype.split(";", 1)[0]
        result: dict[str, Any] = {}
        if filename:
            result["filename"] = filename
        if size and int(size):
            result["size"] = int(size)
        if mimetype:
            result["mimetype"] = mimetype
        return result

    # --- containers: reading ------------------------------------------------------------------
    def lxc_index(self, req: Request) -> Any:
        result = []
        for vmid in self.files.vmids():
            conf = self.files.read_conf(vmid)
            if conf is not None:
                result.append(self.vmstatus(vmid, conf))
        return result

    def vmstatus(self, vmid: int, conf: pveconf.PveConf) -> dict[str, Any]:
        """PVE::LXC::vmstatus for one container."""
        options = conf.options
        running = self.is_running(vmid)

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
        cpus = integer("cores", 0) or 8
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

    def lxc_config_get(self, req: Request, vmid: str) -> Any:
        """API2/LXC/Config.pm vm_config (load_current_config unless current=1)."""
        vm = self.vmid(vmid)
        text = self.files.conf_text(vm)
        if text is None:
            raise PveError(f"Configuration file 'nodes/{self.node}/lxc/{vm}.conf' does not exist")
        conf = pveconf.parse(text, vm)
        for warning in conf.warnings:
            self.log.warning("%s", warning)
        if req.params.get("snapshot"):
            raise PveError(f"snapshot '{req.params['snapshot']}' does not exist")
        current = pveconf.parse_boolean(req.params.get("current", "0")) == 1
        options = dict(conf.options) if current else conf.current()
        lxc = conf.lxc if current or not conf.pending.lxc else conf.pending.lxc
        data: dict[str, Any] = {key: pveconf.typed_value(key, value) for key, value in options.items()}
        if lxc:
            data["lxc"] = [[k, v] for k, v in lxc]
        data["digest"] = hashlib.sha1(text.encode()).hexdigest()
        return data

    def lxc_status_current(self, req: Request, vmid: str) -> Any:
        vm = self.vmid(vmid)
        return self.vmstatus(vm, self.load_conf(vm))

    def lxc_interfaces(self, req: Request, vmid: str) -> Any:
        """PVE::LXC::get_interfaces: undef (null) unless the container runs."""
        vm = self.vmid(vmid)
        conf = self.load_conf(vm)
        if not self.is_running(vm):
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
            inet = net.get("ip") if re.fullmatch(r"[\d.]+/\d+", net.get("ip", "")) else \
                f"192.0.2.{(vm + index) % 250 + 2}/24"
            inet6 = net.get("ip6") if re.fullmatch(r"[0-9a-fA-F:]+/\d+", net.get("ip6", "")) else \
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

    # --- containers: permissions and checks -----------------------------------------------------
    def check_ct_modify_config_perm(self, auth: Auth, oldconf: dict[str, str] | None, newconf: dict[str, str],
                                    delete: list[str], unprivileged: bool) -> None:
        """PVE::LXC::check_ct_modify_config_perm: the root@pam-only options.  (The simulated node
        grants every other privilege, as to a token without privilege separation.)"""
        if auth.user == ROOT:
            return

        def check(opt: str, is_delete: bool) -> None:
            if opt == "rootfs" or re.fullmatch(r"mp\d+", opt):
                if is_delete:
                    return
                schema = pveconf.ROOTFS_SCHEMA if opt == "rootfs" else pveconf.MP_SCHEMA
                volume = pveconf.parse_property_string(schema, newconf[opt]).get("volume", "")
                kind = classify_mountpoint(volume)
                if kind != "volume":
                    raise perm_error(f"mount point type {kind} is only allowed for root@pam")
            elif re.fullmatch(r"dev\d+", opt):
                raise perm_error("configuring device passthrough is only allowed for root@pam")
            elif opt == "features":
                if not unprivileged:
                    raise perm_error("changing feature flags for privileged container is only allowed for root@pam")
                other_changed = False
                old = (oldconf or {}).get(opt)
                if not is_delete:
                    features = pveconf.parse_property_string(pveconf.FEATURES_SCHEMA, newconf[opt])
                    if old:
                        old_features = pveconf.parse_property_string(pveconf.FEATURES_SCHEMA, old)
                        for feature in [*old_features, *features]:
                            # nesting alone may be changed by VM.Allocate; every other flag is root@pam only
                            if feature != "nesting" and old_features.get(feature, "") != features.get(feature, ""):
                                other_changed = True
                                break
                    elif features and not (len(features) == 1 and pveconf.parse_boolean(features.get("nesting", "0"))):
                        other_changed = True
                else:
                    features = pveconf.parse_property_string(pveconf.FEATURES_SCHEMA, old or "")
                    if features and not (len(features) == 1 and pveconf.parse_boolean(features.get("nesting", "0"))):
                        other_changed = True
                if other_changed:
                    raise perm_error("changing feature flags (except nesting) is only allowed for root@pam")
            elif opt == "hookscript":
                raise perm_error("changing the hookscript is only allowed for root@pam")

        for opt in newconf:
            check(opt, False)
        for opt in delete:
            check(opt, True)

    def check_volume_access(self, auth: Auth, volid: str, vtype: str | None) -> None:
        """PVE::Storage::check_volume_access (the simulated node grants the storage privileges)."""
        try:
            parse_volume_id(volid)
        except PveError:
            if auth.user != ROOT:
                raise PveError("Only root can pass arbitrary filesystem paths.") from None
            return
        vol = self.files.volume(volid)
        if vtype and vol.vtype != vtype and (vtype != "rootdir" or vol.vtype != "images"):
            raise PveError(f"unable to use volume {volid} - content type needs to be '{vtype}'")

    def abs_filesystem_path(self, volid: str) -> Path:
        """PVE::Storage::abs_filesystem_path."""
        try:
            parse_volume_id(volid)
            path = self.files.path(self.files.volume(volid).node_path)
        except PveError:
            path = self.files.path(volid) if volid.startswith("/") else Path("/nonexistent")
        if not path.is_file():
            raise PveError(f"can't find file '{volid}'")
        return path

    def check_hookscript(self, volid: str) -> None:
        """pve-guest-common PVE::GuestHelpers::check_hookscript."""
        vol = self.files.volume(volid)
        if vol.vtype != "snippets":
            raise PveError(f"'{volid}' is not in the snippets directory")
        path = self.files.path(vol.node_path)
        if not path.is_file():
            raise PveError(f"script '{volid}' does not exist")
        if not os.access(path, os.X_OK):
            raise PveError(f"script '{volid}' is not executable")

    def get_device_mode_and_rdev(self, path: str) -> None:
        """pve-container PVE::LXC::Tools::get_device_mode_and_rdev: the node must have the device,
        and it must be a character or block device."""
        if not self.files.device_exists(path):
            raise PveError(f"Device {path} does not exist")
        mode = self.files.path(path).stat().st_mode
        if not (stat.S_ISCHR(mode) or stat.S_ISBLK(mode)) and os.geteuid() == 0:
            # (not root: the node's devices are regular-file stand-ins, see NodeFiles._mknod)
            raise PveError(f"{path} is not a device")

    def check_storage_rootdir(self, sid: str) -> None:
        """create_vm's check_and_activate_storage."""
        scfg = self.files.storage_check_enabled(sid)
        if "rootdir" not in scfg.content:
            raise param_error({"storage": f"storage '{sid}' does not support container directories"})

    # --- containers: config changes (Config.pm update_pct_config & co) --------------------------
    def update_pct_config(self, vmid: int, conf: pveconf.PveConf, running: bool, params: dict[str, str],
                          delete: list[str], revert: list[str]) -> dict[str, str]:
        pending = conf.pending.options
        for opt in revert:
            pending.pop(opt, None)
            pdel = conf.pending_delete()
            pdel.pop(opt, None)
            conf.set_pending_delete(pdel)
        for opt in delete:
            if opt not in conf.options and opt not in pending:
                self.log.warning("cannot delete '%s' - not set in current configuration!", opt)
                continue
            if opt in ("memory", "rootfs", "ostype"):
                raise PveError(f"unable to delete required option '{opt}'")
            if re.fullmatch(r"(unused|mp)\d+", opt):
                self.check_protection(conf, f"can't remove CT {vmid} drive '{opt}'")
            elif opt == "unprivileged":
                raise PveError(f"unable to delete read-only option: '{opt}'")
            pdel = conf.pending_delete()
            pdel[opt] = False
            conf.set_pending_delete(pdel)
        for opt in sorted(params):
            value = params[opt]
            if re.fullmatch(r"mp\d+", opt) or opt == "rootfs":
                self.check_protection(conf, f"can't update CT {vmid} drive '{opt}'")
                schema = pveconf.ROOTFS_SCHEMA if opt == "rootfs" else pveconf.MP_SCHEMA
                volume = pveconf.parse_property_string(schema, value)["volume"]
                if classify_mountpoint(volume) == "volume":
                    match = NEW_DISK_RE.match(volume)
                    sid = match.group(1) if match else parse_volume_id(volume)[0]
                    if sid and "rootdir" not in self.files.storage(sid).content:
                        raise PveError(f"storage '{sid}' does not allow content type 'rootdir' (Container)")
            elif opt == "hookscript":
                self.check_hookscript(value)
            elif opt in ("nameserver", "searchdomain"):
                value = " ".join(pveconf.split_list(value))
            elif opt == "unprivileged":
                raise PveError(f"unable to modify read-only option: '{opt}'")
            elif opt == "tags":
                value = unique_tags(value)
            elif re.fullmatch(r"dev\d+", opt):
                device = pveconf.parse_property_string(pveconf.DEV_SCHEMA, value)
                if "path" not in device:
                    raise PveError(f"Path is not defined for passthrough device {opt}")
                self.get_device_mode_and_rdev(device["path"])
            pending[opt] = value
            pdel = conf.pending_delete()
            pdel.pop(opt, None)
            conf.set_pending_delete(pdel)
        self.cleanup_pending(conf)
        errors: dict[str, str] = {}
        if running:
            self.hotplug_pending(vmid, conf, errors)
        else:
            self.apply_pending(vmid, conf, errors)
        return errors

    @staticmethod
    def check_protection(conf: pveconf.PveConf, message: str) -> None:
        if pveconf.parse_boolean(conf.options.get("protection", "0") or "0"):
            raise PveError(f"{message} - protection mode enabled")

    @staticmethod
    def cleanup_pending(conf: pveconf.PveConf) -> None:
        pending = conf.pending.options
        for opt in [k for k in pending if k != "delete"]:
            if opt in conf.options and conf.options[opt] == pending[opt]:
                del pending[opt]
        conf.set_pending_delete({k: f for k, f in conf.pending_delete().items() if k in conf.options})

    def apply_pending(self, vmid: int, conf: pveconf.PveConf, errors: dict[str, str]) -> None:
        """vmconfig_apply_pending (a stopped container, or at start)."""
        for opt in sorted(conf.pending_delete()):
            if re.fullmatch(r"mp\d+", opt) and opt in conf.options:
                try:
                    volume = pveconf.parse_property_string(pveconf.MP_SCHEMA, conf.options[opt])["volume"]
                    if classify_mountpoint(volume) == "volume":
                        add_unused_volume(conf, volume)
                except PropertyStringError:
                    pass
            elif re.fullmatch(r"unused\d+", opt) and opt in conf.options:
                self.free_volume(conf.options[opt])
            conf.options.pop(opt, None)
            pdel = conf.pending_delete()
            pdel.pop(opt, None)
            conf.set_pending_delete(pdel)
        self.cleanup_pending(conf)
        for opt in sorted(k for k in conf.pending.options if k != "delete"):
            value = conf.pending.options[opt]
            if re.fullmatch(r"mp\d+", opt):
                value = self.apply_pending_mountpoint(vmid, conf, opt, value)
            elif re.fullmatch(r"net\d+", opt):
                value = print_lxc_network(vmid, opt, value)
            conf.options[opt] = value
            del conf.pending.options[opt]

    def hotplug_pending(self, vmid: int, conf: pveconf.PveConf, errors: dict[str, str]) -> None:
        """vmconfig_hotplug_pending (a running container): what cannot be hotplugged stays pending."""
        pending = conf.pending.options
        for opt in sorted(k for k in pending if k in FASTPLUG):
            conf.options[opt] = pending.pop(opt)
        for opt in sorted(conf.pending_delete()):
            if opt in FASTPLUG or opt in ("swap", "cpulimit", "cpuunits") or re.fullmatch(r"net\d+", opt):
                pass
            elif re.fullmatch(r"unused\d+", opt):
                self.free_volume(conf.options.get(opt, ""))
            else:
                continue  # not hot-pluggable: stays a pending delete
            conf.options.pop(opt, None)
            pdel = conf.pending_delete()
            pdel.pop(opt, None)
            conf.set_pending_delete(pdel)
        for opt in sorted(k for k in pending if k != "delete"):
            value = pending[opt]
            if opt in ("cpulimit", "cpuunits", "memory", "swap"):
                pass
            elif re.fullmatch(r"net\d+", opt):
                value = print_lxc_network(vmid, opt, value)
            elif re.fullmatch(r"mp\d+", opt):
                if opt in conf.options:
                    continue
                value = self.apply_pending_mountpoint(vmid, conf, opt, value)
            elif re.fullmatch(r"dev\d+", opt):
                if opt in conf.options:
                    continue
            else:
                continue
            conf.options[opt] = value
            del pending[opt]

    def apply_pending_mountpoint(self, vmid: int, conf: pveconf.PveConf, opt: str, value: str) -> str:
        data = pveconf.parse_property_string(pveconf.MP_SCHEMA, value)
        old = conf.options.get(opt)
        if classify_mountpoint(data["volume"]) == "volume" and NEW_DISK_RE.match(data["volume"]):
            value = self.create_disk(vmid, opt, data, conf)
        else:
            if classify_mountpoint(data["volume"]) == "volume":
                size = self.volume_size(data["volume"])
                if size is not None:
                    data["size"] = format_size(size)
            value = pveconf.print_property_string(pveconf.MP_SCHEMA, data)
        if old:
            try:
                old_volume = pveconf.parse_property_string(pveconf.MP_SCHEMA, old)["volume"]
                if classify_mountpoint(old_volume) == "volume" and old_volume != data["volume"]:
                    add_unused_volume(conf, old_volume)
            except PropertyStringError:
                pass
        return value

    # --- volumes --------------------------------------------------------------------------------
    def create_disk(self, vmid: int, key: str, data: dict[str, str], conf: pveconf.PveConf) -> str:
        """PVE::LXC::create_disks for one `STORAGE:SIZE_GiB` volume; returns the printed mount point."""
        match = NEW_DISK_RE.match(data["volume"])
        assert match is not None
        sid = match.group(1) or "local"
        size_kb = int(float(match.group(2)) * 1024 * 1024)
        storage = self.files.storage(sid)
        taken = set(self.all_volids(conf))
        n = 0
        while True:
            if storage.path is not None:
                volname = f"{vmid}/vm-{vmid}-disk-{n}.raw"
            else:
                volname = f"vm-{vmid}-disk-{n}"
            volid = f"{sid}:{volname}"
            if volid not in taken and not self.files.path(self.files.volume(volid).node_path).exists():
                break
            n += 1
        path = self.files.path(self.files.volume(volid).node_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            f.truncate(size_kb * 1024)
        data = dict(data)
        data["volume"] = volid
        data["size"] = format_size(size_kb * 1024)
        skip = ("mp",) if key == "rootfs" else ()
        schema = pveconf.ROOTFS_SCHEMA if key == "rootfs" else pveconf.MP_SCHEMA
        return pveconf.print_property_string(schema, data, skip)

    def all_volids(self, conf: pveconf.PveConf) -> list[str]:
        result = []
        for key, value in {**conf.options, **{k: v for k, v in conf.pending.options.items() if k != "delete"}}.items():
            if key == "rootfs" or re.fullmatch(r"mp\d+", key):
                try:
                    schema = pveconf.ROOTFS_SCHEMA if key == "rootfs" else pveconf.MP_SCHEMA
                    result.append(pveconf.parse_property_string(schema, value)["volume"])
                except PropertyStringError:
                    pass
            elif re.fullmatch(r"unused\d+", key):
                result.append(value)
        return result

    def volume_size(self, volid: str) -> int | None:
        try:
            path = self.files.path(self.files.volume(volid).node_path)
            return path.stat().st_size if path.exists() else None
        except PveError:
            return None

    def free_volume(self, volid: str) -> None:
        try:
            path = self.files.path(self.files.volume(volid).node_path)
        except PveError as err:
            self.log.warning("cannot free volume %s: %s", volid, err.message)
            return
        if path.is_file():
            path.unlink()
            if path.parent.name.isdigit() and not any(path.parent.iterdir()):
                path.parent.rmdir()

    # --- containers: create / update / destroy --------------------------------------------------
    def lxc_create(self, req: Request) -> Any:
        """API2/LXC.pm create_vm (no restore)."""
        params = dict(req.params)
        params.pop("node", None)
        validate_params(params, CREATE_EXTRAS)
        auth = req.auth
        vmid = int(params.pop("vmid"))
        for key in ("ignore-unpack-errors", "bwlimit", "ha-managed", "unique", "force"):
            params.pop(key, None)
        start_after_create = pveconf.parse_boolean(params.pop("start", "0")) == 1
        unprivileged_raw = params.pop("unprivileged", None)
        if params.pop("restore", None) not in (None, "0"):
            raise PveError("restore is not supported by the simulated node")
        unprivileged = True if unprivileged_raw is None else pveconf.parse_boolean(unprivileged_raw) == 1
        if "cpuunits" in params:
            params["cpuunits"] = str(min(int(params["cpuunits"]), 10000) or 1)
        self.check_vmid_unused(vmid)
        params.pop("password", None)
        ssh_keys = params.pop("ssh-public-keys", None)
        if ssh_keys is not None:
            for line in ssh_keys.split("\n"):
                if line.strip() and not re.match(r"^(\S+\s+)?(ssh-|ecdsa-|sk-)\S+\s+\S+", line.strip()):
                    raise PveError(f"SSH public key validation error: invalid key '{line.strip()}'")
        pool = params.pop("pool", None)
        if pool:
            raise perm_error(f"pool '{pool}' does not exist")
        ostemplate = params.pop("ostemplate")
        storage = params.pop("storage", None) or "local"
        self.check_ct_modify_config_perm(auth, None, params, [], unprivileged)
        if ostemplate == "-":
            raise PveError("pipe requires cli environment")
        self.check_volume_access(auth, ostemplate, "vztmpl")
        mp_param: dict[str, str] = {}
        no_disk_param: dict[str, str] = {}
        for opt, value in params.items():
            if opt == "rootfs" or re.fullmatch(r"mp\d+", opt):
                mp_param[opt] = f"{storage}:{value}" if re.fullmatch(r"\d+(\.\d+)?", value) else value
            elif re.fullmatch(r"unused\d+", opt):
                self.log.warning("ignoring '%s', cannot create/restore with unused volume", opt)
            else:
                no_disk_param[opt] = value
        if mp_param and "rootfs" not in mp_param:
            raise PveError("mount points configured, but 'rootfs' not set - aborting")
        for opt, value in mp_param.items():
            schema = pveconf.ROOTFS_SCHEMA if opt == "rootfs" else pveconf.MP_SCHEMA
            volume = pveconf.parse_property_string(schema, value)["volume"]
            if classify_mountpoint(volume) != "volume":
                if auth.user != ROOT:
                    raise PveError("Only root can pass arbitrary filesystem paths.")
            else:
                match = NEW_DISK_RE.match(volume)
                if match:
                    self.check_storage_rootdir(match.group(1) or storage)
                else:
                    self.check_storage_rootdir(parse_volume_id(volume)[0])
        if "rootfs" not in mp_param:
            self.check_storage_rootdir(storage)
        conf = pveconf.PveConf()
        with self.lock:
            self.update_pct_config(vmid, conf, False, no_disk_param, [], [])
            if unprivileged:
                conf.options["unprivileged"] = "1"
            # create_and_lock_config
            self.check_vmid_unused(vmid)
            self.files.write_conf(vmid, pveconf.PveConf(options={"lock": "create"}))
        user = auth.user

        def worker(task: Task) -> None:
            created: list[str] = []
            try:
                archive = self.abs_filesystem_path(ostemplate)
                if not mp_param:
                    mp_param["rootfs"] = f"{storage}:4"
                for key in sorted(mp_param, key=lambda k: (k != "rootfs", int(k[2:]) if k != "rootfs" else 0)):
                    schema = pveconf.ROOTFS_SCHEMA if key == "rootfs" else pveconf.MP_SCHEMA
                    data = pveconf.parse_property_string(schema, mp_param[key])
                    if classify_mountpoint(data["volume"]) == "volume" and NEW_DISK_RE.match(data["volume"]):
                        if not NEW_DISK_RE.match(data["volume"]).group(1):
                            data["volume"] = f"{storage}:{data['volume']}"
                        conf.options[key] = self.create_disk(vmid, key, data, conf)
                        created.append(pveconf.parse_property_string(schema, conf.options[key])["volume"])
                    else:
                        conf.options[key] = pveconf.print_property_string(
                            schema, data, ("mp",) if key == "rootfs" else ())
                archive_node = "/" + str(archive.relative_to(self.files.root))
                task.log(f"extracting archive '{archive_node}'")
                task.log(f"Total bytes read: {archive.stat().st_size} ({format_size(archive.stat().st_size)}iB)")
                conf.options.setdefault("ostype", detect_ostype(ostemplate))
                conf.options.setdefault("arch", "amd64")
                if not conf.options.get("hostname"):
                    conf.options["hostname"] = f"CT{vmid}"
                if not conf.options.get("memory"):
                    conf.options["memory"] = "512"
                conf.options.setdefault("swap", "512")
                with self.lock:
                    self.files.write_conf(vmid, conf)
            except PveError as err:
                for volid in created:
                    self.free_volume(volid)
                self.files.delete_conf(vmid)
                raise PveError(f"unable to create CT {vmid} - {err.message}") from None

        upid = self.run_task("vzcreate", vmid, user, worker)
        if start_after_create and self.tasks[upid].exitstatus == "OK":
            self.start_task(vmid, user)
        return upid

    def lxc_config_put(self, req: Request, vmid: str) -> Any:
        """API2/LXC/Config.pm update_vm."""
        vm = self.vmid(vmid)
        params = dict(req.params)
        params.pop("node", None)
        params.pop("vmid", None)
        validate_params(params, UPDATE_EXTRAS)
        digest = params.pop("digest", None)
        if not params:
            raise PveError("no options specified")
        delete = pveconf.split_list(params.pop("delete", ""))
        revert = pveconf.split_list(params.pop("revert", ""))
        if "cpuunits" in params:
            params["cpuunits"] = str(min(int(params["cpuunits"]), 10000) or 1)
        with self.lock:
            conf = self.load_conf(vm)
            self.check_lock(conf)
            text = self.files.conf_text(vm) or ""
            if digest and digest != hashlib.sha1(text.encode()).hexdigest():
                raise PveError("detected modified configuration - file changed by other user? Try again.")
            unprivileged = pveconf.parse_boolean(conf.options.get("unprivileged", "0") or "0") == 1
            self.check_ct_modify_config_perm(req.auth, conf.options, {}, delete, unprivileged)
            self.check_ct_modify_config_perm(req.auth, conf.options, {}, revert, unprivileged)
            for opt in revert:
                if _option_prop(opt) is None:
                    raise param_error({"revert": f"unknown option '{opt}'"})
                if opt in params:
                    raise param_error({"revert": f"you can't use '-{opt}' and '-revert {opt}' at the same time"})
            for opt in delete:
                if _option_prop(opt) is None:
                    raise param_error({"delete": f"unknown option '{opt}'"})
                if opt in params:
                    raise param_error({"delete": f"you can't use '-{opt}' and -delete {opt}' at the same time"})
                if opt in revert:
                    raise param_error({"delete": f"you can't use '-delete {opt}' and '-revert {opt}' at the same time"})
            self.check_ct_modify_config_perm(req.auth, conf.options, params, [], unprivileged)
            errors = self.update_pct_config(vm, conf, self.is_running(vm), params, delete, revert)
            if errors:
                raise param_error(errors)
            self.files.write_conf(vm, conf)
        return None

    def lxc_destroy(self, req: Request, vmid: str) -> Any:
        """API2/LXC.pm destroy_vm."""
        vm = self.vmid(vmid)
        conf = self.load_conf(vm)
        self.check_protection(conf, f"can't remove CT {vm}")
        self.check_lock(conf)
        force = pveconf.parse_boolean(req.params.get("force", "0")) == 1
        if not force and self.is_running(vm):
            raise PveError(f"unable to destroy CT {vm} - container is running")

        def worker(task: Task) -> None:
            with self.lock:
                current = self.load_conf(vm)
                for volid in self.all_volids(current):
                    if classify_mountpoint(volid) != "volume":
                        continue
                    try:
                        vol = self.files.volume(volid)
                    except PveError:
                        continue
                    if vol.vmid == vm:
                        self.free_volume(volid)
                        if vol.storage.type in ("lvmthin", "lvm"):
                            task.log(f'  Logical volume "{vol.volname}" successfully removed.')
                self.files.delete_conf(vm)

        return self.run_task("vzdestroy", vm, req.auth.user, worker)

    def lxc_resize(self, req: Request, vmid: str) -> Any:
        """API2/LXC.pm resize_vm."""
        vm = self.vmid(vmid)
        disk, size = req.params.get("disk", ""), req.params.get("size", "")
        errors = {}
        if disk != "rootfs" and not re.fullmatch(r"mp\d+", disk):
            errors["disk"] = f"value '{disk}' does not have a value in the enumeration 'rootfs, mp0, ...'"
        if not re.fullmatch(r"\+?\d+(\.\d+)?[KMGT]?", size):
            errors["size"] = "value does not match the regex pattern"
        if errors:
            raise param_error(errors)
        conf = self.load_conf(vm)
        self.check_lock(conf)
        if disk not in conf.options:
            raise PveError(f"no disk '{disk}'")
        schema = pveconf.ROOTFS_SCHEMA if disk == "rootfs" else pveconf.MP_SCHEMA
        data = pveconf.parse_property_string(schema, conf.options[disk])
        volid = data["volume"]
        current = self.volume_size(volid)
        if current is None:
            raise PveError(f"unable to determine size of volume '{volid}'")
        ext = re.fullmatch(r"(\+)?(\d+(?:\.\d+)?)([KMGT])?", size)
        assert ext is not None
        amount = parse_size(ext.group(2) + (ext.group(3) or "")) or 0
        new = current + amount if ext.group(1) else amount
        if new < current:
            raise PveError("unable to shrink disk size")
        if new == current:
            return None

        def worker(task: Task) -> None:
            path = self.files.path(self.files.volume(volid).node_path)
            with open(path, "r+b") as f:
                f.truncate(new)
            with self.lock:
                conf2 = self.load_conf(vm)
                data2 = pveconf.parse_property_string(schema, conf2.options[disk])
                data2["size"] = format_size(new)
                conf2.options[disk] = pveconf.print_property_string(schema, data2, ("mp",) if disk == "rootfs" else ())
                self.files.write_conf(vm, conf2)
            task.log(f"Size of logical volume changed to {format_size(new)}.")

        return self.run_task("resize", vm, req.auth.user, worker)

    # --- containers: power ----------------------------------------------------------------------
    def lxc_status_action(self, req: Request, vmid: str, action: str) -> Any:
        vm = self.vmid(vmid)
        conf = self.load_conf(vm)
        running = self.is_running(vm)
        user = req.auth.user
        if action == "start":
            if running:
                raise PveError(f"CT {vm} already running")
            self.check_lock(conf)
            if pveconf.parse_boolean(conf.options.get("template", "0") or "0"):
                raise PveError("you can't start a CT if it's a template")
            return self.start_task(vm, user)
        if not running:
            raise PveError(f"CT {vm} not running")
        if action in ("stop", "shutdown"):
            def stop(task: Task) -> None:
                self.files.set_status(vm, "stopped")
            return self.run_task("vzstop" if action == "stop" else "vzshutdown", vm, user, stop)

        def reboot(task: Task) -> None:
            self.files.set_status(vm, "stopped")
            self.do_start(vm, task)
        return self.run_task("vzreboot", vm, user, reboot)

    def start_task(self, vmid: int, user: str) -> str:
        return self.run_task("vzstart", vmid, user, lambda task: self.do_start(vmid, task))

    def do_start(self, vmid: int, task: Task) -> None:
        """PVE::LXC::vm_start: apply pending changes, generate the lxc config (devices must exist),
        run the pre-start hookscript check, then lxc-start (the idmap must be allowed by
        /etc/subuid and /etc/subgid, as newuidmap/newgidmap enforce)."""
        with self.lock:
            conf = self.load_conf(vmid)
            if not conf.pending.is_empty():
                self.apply_pending(vmid, conf, {})
                self.files.write_conf(vmid, conf)
                conf = self.load_conf(vmid)
        for key, value in sorted(conf.options.items()):
            if re.fullmatch(r"dev\d+", key):
                try:
                    device = pveconf.parse_property_string(pveconf.DEV_SCHEMA, value)
                except PropertyStringError as err:
                    raise PveError(f"{key}: invalid format - {err.errors}") from None
                if "path" not in device:
                    raise PveError(f"Path is not defined for passthrough device {key}")
                self.get_device_mode_and_rdev(device["path"])
        if conf.options.get("hookscript"):
            self.check_hookscript(conf.options["hookscript"])
        problem = self.check_idmap(conf)
        if problem:
            task.log(f"lxc_map_ids: 245 {problem}")
            task.log("lxc_spawn: 1914 Failed to set up id mapping.")
            task.log(f"__lxc_start: 2134 Failed to spawn container \"{vmid}\"")
            raise PveError(f"startup for container '{vmid}' failed")
        self.files.set_status(vmid, "running")

    def check_idmap(self, conf: pveconf.PveConf) -> str | None:
        maps = []
        for value in conf.lxc_values("lxc.idmap") + conf.lxc_values("lxc.id_map"):
            parts = value.split()
            if len(parts) != 4 or parts[0] not in ("u", "g") or not all(p.isdigit() for p in parts[1:]):
                return f"invalid idmap entry '{value}'"
            maps.append((parts[0], int(parts[1]), int(parts[2]), int(parts[3])))
        unprivileged = pveconf.parse_boolean(conf.options.get("unprivileged", "0") or "0") == 1
        if not maps and unprivileged:
            maps = [("u", 0, 100000, 65536), ("g", 0, 100000, 65536)]
        for kind in ("u", "g"):
            allowed = self.sub_ids("subuid" if kind == "u" else "subgid")
            for k, _, host, size in maps:
                if k != kind:
                    continue
                if not any(start <= host and host + size <= start + count for start, count in allowed):
                    tool, name = ("newuidmap", "uid") if kind == "u" else ("newgidmap", "gid")
                    return (f'{tool} failed to write mapping "{tool}: {name} range [{host}-{host + size}) -> '
                            f'[{host}-{host + size}) not allowed"')
        return None

    def sub_ids(self, name: str) -> list[tuple[int, int]]:
        try:
            text = (self.files.root / "etc" / name).read_text()
        except FileNotFoundError:
            return []
        result = []
        for line in text.splitlines():
            parts = line.strip().split(":")
            if len(parts) == 3 and parts[0] in ("root", "0") and parts[1].isdigit() and parts[2].isdigit():
                result.append((int(parts[1]), int(parts[2])))
        return result


# --- small helpers ---------------------------------------------------------------------------------

def classify_mountpoint(volume: str) -> str:
    if volume.startswith("/"):
        return "device" if volume.startswith("/dev/") else "bind"
    return "volume"


def add_unused_volume(conf: pveconf.PveConf, volid: str) -> None:
    if volid in conf.options.values():
        return
    n = 0
    while f"unused{n}" in conf.options:
        n += 1
    conf.options[f"unused{n}"] = volid


def mac_address(vmid: int, index: int) -> str:
    """A stable `BC:24:11:xx:xx:xx` per container and interface (PVE draws it at random)."""
    digest = hashlib.sha256(f"pvesim:{vmid}:net{index}".encode()).digest()
    return MAC_PREFIX + "".join(f":{b:02X}" for b in digest[:3])


def print_lxc_network(vmid: int, key: str, value: str) -> str:
    """Config.pm parse_lxc_network + print_lxc_network: type=veth and a hwaddr are added."""
    data = pveconf.parse_property_string(pveconf.NET_SCHEMA, value)
    data["type"] = "veth"
    if not data.get("hwaddr"):
        data["hwaddr"] = mac_address(vmid, int(key[3:]))
    return pveconf.print_property_string(pveconf.NET_SCHEMA, data)



def detect_ostype(ostemplate: str) -> str:
    name = ostemplate.rsplit("/", 1)[-1].lower()
    for ostype in ("debian", "devuan", "ubuntu", "centos", "fedora", "opensuse", "archlinux", "alpine", "gentoo",
                   "nixos"):
        if name.startswith(ostype):
            return ostype
    if name.startswith(("rockylinux", "almalinux", "rocky", "alma")):
        return "centos"
    return "unmanaged"


def _file_hash(algorithm: str, path: Path) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest().lower()


def _decompress(algorithm: str, source: Path, dest: Path) -> None:
    if algorithm == "gz":
        with gzip.open(source, "rb") as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out)
    elif algorithm == "bz2":
        with bz2.open(source, "rb") as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out)
    else:
        tool = {"zst": ["zstd", "-q", "-d", "-c"], "lzo": ["lzop", "-d", "-c"]}[algorithm]
        if shutil.which(tool[0]) is None:
            raise PveError(f"no decompression method found ({tool[0]} is not installed on the simulated node)")
        with open(dest, "wb") as out:
            result = subprocess.run([*tool, str(source)], stdout=out, stderr=subprocess.PIPE, check=False)
        if result.returncode:
            raise PveError(f"decompression failed: {result.stderr.decode(errors='replace').strip()}")


def _cookie(header: str, name: str) -> str | None:
    for part in (header or "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return urllib.parse.unquote(value.strip('"'))
    return None


def _reason(message: str) -> str:
    first = (message or "").strip().split("\n", 1)[0]
    return first.encode("latin-1", "replace").decode("latin-1") or "Internal Server Error"


# --- the HTTPS server -------------------------------------------------------------------------------

def make_certificate(state_dir: Path, node: str) -> tuple[Path, Path]:
    """A self-signed certificate for this run, made with the openssl CLI."""
    cert, key = Path(state_dir) / "pve-ssl.pem", Path(state_dir) / "pve-ssl.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "7", "-subj", f"/CN={node}/O=pvesim",
         "-addext", f"subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost,DNS:{node}"],
        check=True, capture_output=True, stdin=subprocess.DEVNULL,
    )
    key.chmod(0o600)
    return cert, key


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pve-api-daemon/3.0"
    sys_version = ""
    api: PveApi

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # PveApi.handle logs every request with its outcome

    def _body(self) -> bytes:
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0] or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        raw_path, _, query = self.path.partition("?")
        body = self._body() if self.command in ("POST", "PUT", "DELETE") else b""
        response = self.api.handle(self.command, raw_path, query, self.headers, body)
        self.send_response(response.status, response.reason)
        if response.body:
            self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Cache-Control", "max-age=0")
        self.send_header("Pragma", "no-cache")
        self.end_headers()
        if response.body:
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def do_HEAD(self) -> None:
        self.send_response(501, "Method 'HEAD' not implemented")
        self.send_header("Content-Length", "0")
        self.end_headers()


class _TlsServer(http.server.ThreadingHTTPServer):
    """The TLS handshake runs in the request's own thread, never in the accept loop."""

    daemon_threads = True
    tls_context: ssl.SSLContext

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            tls = self.tls_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.RequestHandlerClass.api.log.debug("connection error from %s", client_address,  # type: ignore[attr-defined]
                                               exc_info=True)


class ApiServer:
    """`PveApi` behind a ThreadingHTTPServer with TLS (1.2 and 1.3) on `address:port`."""

    def __init__(self, api: PveApi, *, address: str = "127.0.0.1", port: int = 0):
        self.api = api
        cert, key = make_certificate(api.state_dir, api.node)
        handler = type("Handler", (_Handler,), {"api": api})
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(cert), str(key))
        self.httpd = _TlsServer((address, port), handler)
        self.httpd.tls_context = context
        self.cert_path = cert
        self.address, self.port = self.httpd.server_address[:2]
        self._thread: threading.Thread | None = None

    def start(self) -> "ApiServer":
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="pvesim-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.httpd.server_close()
