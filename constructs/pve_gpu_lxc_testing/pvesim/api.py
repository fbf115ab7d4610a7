"""The simulated node's API: one router that every module registers its routes with.

Behaviour, checks and error wording follow Proxmox VE 9 as bpg/proxmox v0.111.1 calls it; each
module names the PVE sources it follows.  Every request reads the node's files afresh.

    module          PVE                                       routes (below /api2/json)
    access.py       HTTPServer.pm, pve-access-control         /access/ticket; authenticate()
    nodes.py        API2.pm, API2/Nodes.pm, Network.pm,        /version, /nodes, /cluster/nextid,
                    Cluster.pm                                /nodes/{node}/network, .../query-url-metadata
    tasks.py        RESTEnvironment.pm, API2/Tasks.pm         /nodes/{node}/tasks/{upid}[/status|/log]
    storage.py      pve-storage API2/Storage/*, Storage.pm    /storage[/{storage}], /nodes/{node}/storage/...
                                                              (download-url, oci-registry-pull, upload)
    lxc_config.py   API2/LXC/Config.pm, LXC/Config.pm         /nodes/{node}/lxc/{vmid}/config
    lxc_status.py   API2/LXC/Status.pm, LXC.pm vm_start       /nodes/{node}/lxc, .../status/*, .../interfaces
    lxc_start.py    LXC.pm vm_start's steps, GuestHelpers.pm  (update_lxc_config, hookscripts, lxc-start)
    node_power.py   API2/Nodes.pm node_cmd, startall, stopall  /nodes/{node}/status, .../startall, .../stopall
    nodeboot.py     a boot: modules-load.d, udev, systemd       (the reboot's; kernel.py holds the node's kernel)
    lxc_create.py   API2/LXC.pm create/resize/destroy         POST /nodes/{node}/lxc, .../resize, DELETE
    faults.py       (how PVE fails: 5xx, pveproxy's 596,      (every route, through server.py's dispatch;
                    killed workers, full storage, SSH cuts)    tasks.py and storage.py ask it too)

`PveApi` builds them over one `NodeFiles` and registers their routes in `router`; server.py's
`Api2Handler` is the path every request takes to them (authentication, parameters, dispatch).
A new endpoint is a handler in the module PVE has it in, added in that module's `register`.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from .access import Access
from .faults import Faults
from .lxc_config import LxcConfig
from .lxc_create import LxcCreate
from .lxc_start import LxcStart
from .lxc_status import LxcStatus
from .node import NodeFiles
from .node_power import NodePower
from .nodeboot import NodeBoot
from .noderun import NodeRunner
from .nodes import Nodes
from .router import RouteModule, Router
from .storage import StorageApi
from .tasks import Tasks


class PveApi:
    def __init__(self, files: NodeFiles, *, state_dir: Path, password: str, tokens: dict[str, str] | None,
                 ssh_address: str, logger: logging.Logger, runner: NodeRunner | None = None):
        self.files = files
        self.node = files.name
        self.state_dir = Path(state_dir)
        self.log = logger
        self.lock = threading.RLock()  # one lock for the node's files, as PVE locks a guest's config
        self.access = Access(password, dict(tokens or {}), logger)
        self.faults = Faults(files, logger)  # what tests arm: API errors, killed workers, full storage
        self.tasks = Tasks(self.node, logger, self.lock, self.faults)
        self.nodes = Nodes(files, ssh_address)
        self.storage = StorageApi(files, self.tasks, logger, faults=self.faults, runner=runner)
        self.lxc_config = LxcConfig(files, self.storage, logger, self.lock)
        self.lxc_status = LxcStatus(self.lxc_config, self.tasks, LxcStart(self.lxc_config, runner))
        self.lxc_create = LxcCreate(self.lxc_config, self.lxc_status, self.storage, self.tasks)
        self.node_power = NodePower(files, self.lxc_status, self.tasks, NodeBoot(files, runner))
        self.router = Router()
        modules: list[RouteModule] = [self.access, self.nodes, self.tasks, self.storage, self.lxc_config,
                                      self.lxc_status, self.lxc_create, self.node_power]
        for module in modules:
            module.register(self.router)

    @property
    def tokens(self) -> dict[str, str]:
        """API token ID -> secret; a test may add or remove one while the node runs."""
        return self.access.tokens
