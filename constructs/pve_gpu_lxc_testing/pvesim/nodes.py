"""The node and the cluster around it: version, node list, network, next free VMID, URL metadata.

PVE: pve-manager `PVE/API2.pm` version, `PVE/API2/Nodes.pm` (the node index,
query_url_metadata), `PVE/API2/Network.pm` index, `PVE/API2/Cluster.pm` nextid.  A one-node
cluster: the node is `files.name` (and `localhost`); any other name fails as PVE's proxy
lookup does (server.py).

Where the next pieces go: the node's power commands (`POST /nodes/{node}/status`,
Nodes.pm node_cmd) and a reboot that starts the onboot guests as pve-guests' `startall` does
(Nodes.pm startall: onboot guests in `startup` order) belong here; they call lxc_status.py's
`LxcStatus.vm_start` for each guest, which is why nodes sits above the lxc modules in the
layer contract (pyproject.toml).
"""

from __future__ import annotations

import hashlib
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from pve_gpu_lxc.pve import conf as pveconf

from .node import NodeFiles, PveError, param_error
from .router import Request, Router

VERSION = {"version": "9.1.1", "release": "9.1", "repoid": "42db4a6cf33dac83"}


class Nodes:
    def __init__(self, files: NodeFiles, ssh_address: str):
        self.files = files
        self.node = files.name
        self.ssh_address = ssh_address  # the node's address (its sshd listens there)

    def register(self, router: Router) -> None:
        router.add("GET", "/version", self.version)
        router.add("GET", "/nodes", self.index)
        router.add("GET", "/cluster/nextid", self.nextid)
        router.add("GET", "/nodes/{node}/network", self.network)
        router.add("GET", "/nodes/{node}/query-url-metadata", self.query_url_metadata)

    def version(self, req: Request) -> object:
        return dict(VERSION)

    def index(self, req: Request) -> object:
        return [{"node": self.node, "status": "online", "type": "node", "id": f"node/{self.node}", "cpu": 0.01,
                 "maxcpu": 8, "mem": 4 << 30, "maxmem": 32 << 30, "disk": 8 << 30, "maxdisk": 100 << 30,
                 "uptime": 86400, "level": "",
                 "ssl_fingerprint": ":".join(f"{b:02X}" for b in hashlib.sha256(self.node.encode()).digest())}]

    def network(self, req: Request) -> object:
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

    def nextid(self, req: Request) -> object:
        used = set(self.files.vmids())
        if req.params.get("vmid"):
            vmid = req.params["vmid"]
            if not re.fullmatch(r"\d+", vmid):
                raise param_error({"vmid": f"type check ('integer') failed - got '{vmid}'"})
            if int(vmid) in used:
                raise param_error({"vmid": f"VM {vmid} already exists"})
            return vmid
        for free in range(100, 1000000):
            if free not in used:
                return str(free)
        raise PveError("unable to get any free VMID in range [100, 1000000]")

    def query_url_metadata(self, req: Request) -> object:
        """pve-manager API2/Nodes.pm query_url_metadata (an HTTP HEAD of the URL)."""
        url = req.params.get("url", "")
        if not re.fullmatch(r"https?://.*", url):
            raise param_error({"url": "value does not match the regex pattern"})
        verify = pveconf.parse_boolean(req.params.get("verify-certificates", "1")) != 0
        context = None if verify else ssl._create_unverified_context()
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
