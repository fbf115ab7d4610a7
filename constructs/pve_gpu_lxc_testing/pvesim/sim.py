"""`Simulator`: the simulated Proxmox VE node (files + HTTPS API + SSH), for tests and by hand.

    with Simulator(tmp / "node", tmp / "state", facts=Path("stacks/facts/pve.json")) as sim:
        env = {**os.environ, **sim.env}          # PROXMOX_VE_*, HOME, TF_CLI_CONFIG_FILE ...
        subprocess.run(["terraform", "apply", "-auto-approve"], env=env, cwd=stack, check=True)
        sim.files.conf_path(210).read_text()     # the node's /etc/pve/lxc/210.conf
        sim.requests()                           # ["POST /api2/json/access/ticket", ...]
        sim.ssh_logins()                         # SSH connections sshd accepted so far
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from .. import tools
from . import kernel, noderun
from .api import PveApi
from .faults import Faults
from .faults import install_standins as install_fault_standins
from .node import NodeFiles
from .server import ApiServer

if TYPE_CHECKING:  # loaded in start() only when SSH is wanted
    from .ssh import SshServer


class Simulator:
    def __init__(self, root: Path, state_dir: Path, *, node: str = "pve", facts: Path | None = None,
                 tokens: dict[str, str] | None = None, ssh: bool = True, password: str | None = None,
                 ssh_address: str = "127.0.0.1"):
        self.root = Path(root)
        self.state_dir = Path(state_dir)
        self.node = node
        self.facts = Path(facts) if facts else None
        self.tokens = dict(tokens or {})
        self.use_ssh = ssh
        self.password = password or secrets.token_urlsafe(18)
        self.ssh_address = ssh_address
        self.files = NodeFiles(self.root, node)
        self.log = logging.getLogger(f"pvesim-{id(self):x}")
        self.api: PveApi | None = None
        self.runner: noderun.NodeRunner | None = None
        self.server: ApiServer | None = None
        self.ssh: SshServer | None = None
        self._handler: logging.Handler | None = None

    # --- life cycle ---------------------------------------------------------------------------
    def start(self) -> Simulator:
        if self.server is not None:
            return self
        self.root.mkdir(parents=True, exist_ok=True)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._handler = logging.FileHandler(self.state_dir / "pvesim.log")
        self._handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        self.log.addHandler(self._handler)
        self.log.setLevel(logging.DEBUG)
        self.log.propagate = False
        self.files = NodeFiles(self.root, self.node, self.log)
        self.files.setup(self.facts)
        facts_data = json.loads(self.facts.read_text()) if self.facts else {}
        kernel.setup(self.files, facts_data)
        overlay = self.state_dir / "usr-overlay"
        kernel.install_standins(overlay, nvidia=bool(facts_data.get("nvidia")))
        install_fault_standins(overlay)  # the node's tee, which session faults act through
        noderun.prepare_root(self.root)
        self.runner = noderun.NodeRunner(noderun.install_wrapper(self.state_dir / "session.sh"), self.root.resolve(),
                                         overlay.resolve())
        (self.state_dir / "requests.log").write_text("")
        try:
            if self.use_ssh:
                from .ssh import SshServer  # another module of this package; imported when needed

                self.ssh = SshServer(self.root, self.state_dir / "ssh", address=self.ssh_address,
                                     usr_overlay=overlay).start()
            self.api = PveApi(self.files, state_dir=self.state_dir, password=self.password, tokens=self.tokens,
                              ssh_address=self.ssh_address, logger=self.log, runner=self.runner)
            self.server = ApiServer(self.api).start()
        except BaseException:
            self.stop()
            raise
        self.log.info("simulated node %r: API https://127.0.0.1:%d/, root %s", self.node, self.server.port,
                      self.root)
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self.ssh is not None:
            self.ssh.stop()
            self.ssh = None
        if self._handler is not None:
            self.log.removeHandler(self._handler)
            self._handler.close()
            self._handler = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what clients need --------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self.server is None:
            raise RuntimeError("the simulator is not started")
        return self.server.port

    @property
    def faults(self) -> Faults:
        """The faults a test arms on the running node (faults.py): API errors and time-outs, killed
        task workers, a full storage, cut SSH sessions."""
        if self.api is None:
            raise RuntimeError("the simulator is not started")
        return self.api.faults

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}/"

    @property
    def home_dir(self) -> Path:
        if self.ssh is not None:
            return Path(self.ssh.home_dir)
        home = self.state_dir / "home"
        (home / ".ssh").mkdir(parents=True, exist_ok=True, mode=0o700)
        (home / ".ssh" / "known_hosts").touch()
        return home

    @property
    def env(self) -> dict[str, str]:
        env = {
            "PROXMOX_VE_ENDPOINT": self.endpoint,
            "PROXMOX_VE_USERNAME": "root@pam",
            "PROXMOX_VE_PASSWORD": self.password,
            "PROXMOX_VE_INSECURE": "true",
            "HOME": str(self.home_dir),
            "TF_CLI_CONFIG_FILE": str(tools.CLI_CONFIG),
        }
        if self.ssh is not None:
            env["PROXMOX_VE_SSH_USERNAME"] = "root"
            env["PROXMOX_VE_SSH_PRIVATE_KEY"] = Path(self.ssh.client_key_path).read_text()
            env["PVE_GPU_LXC_SSH_NODES"] = f"{self.node}={self.ssh.address}:{self.ssh.port}"
        if shutil.which("terraform") is None:
            env["TERRAFORM_BINARY_NAME"] = str(tools.TOFU_BINARY)
        return env

    def ssh_logins(self) -> int:
        """SSH logins accepted so far (sshd's `Accepted publickey` lines; one per connection)."""
        if self.ssh is None:
            return 0
        try:
            return Path(self.ssh.log_path).read_text(errors="replace").count("Accepted publickey for ")
        except OSError:
            return 0

    def requests(self) -> list[str]:
        """Every request served so far, as `METHOD PATH` (no query string)."""
        try:
            return (self.state_dir / "requests.log").read_text().splitlines()
        except FileNotFoundError:
            return []
