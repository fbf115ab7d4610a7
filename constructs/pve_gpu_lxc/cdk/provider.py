"""ProxmoxProvider: the bpg provider block, configured from the environment.

Secrets never enter the synthesized JSON: the provider binary reads
PROXMOX_VE_ENDPOINT, PROXMOX_VE_USERNAME, PROXMOX_VE_PASSWORD or
PROXMOX_VE_API_TOKEN, PROXMOX_VE_SSH_* itself when Terraform runs.  This
construct only writes non-secret settings (SSH user, agent, node addresses).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Literal, Mapping

from constructs import Construct

from ..model.auth import ProviderAuth, detect_auth
from ..core.errors import ValidationError
from ..l1.generated import BpgProxmoxProvider, ProviderSsh, ProviderSshNode

_URL = re.compile(r"^https://[A-Za-z0-9.-]+(:\d+)?/?$")


@dataclass(frozen=True, kw_only=True)
class ProxmoxSsh:
    """SSH settings bpg uses for idmap lines and snippet uploads.

    username: SSH user on the nodes (root, or a user with the documented sudo rules).
    agent: authenticate with the SSH agent (SSH_AUTH_SOCK); a private key can come from
      PROXMOX_VE_SSH_PRIVATE_KEY instead.
    node_addresses: {node name: "address" or "address:port" ("[v6]:port" for IPv6)} when the
      API's address is not reachable or SSH listens on another port than 22. When empty, the
      non-secret variable PVE_GPU_LXC_SSH_NODES ("pve=192.0.2.10:2222,pve2=192.0.2.11") is read
      at synth time, so one stack can target a lab node without a code change.
    """

    username: str = "root"
    agent: bool = True
    node_addresses: Mapping[str, str] = field(default_factory=dict)
    node_address_source: Literal["api", "dns"] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.username, str) or not re.match(r"^[a-z_][a-z0-9_.-]*$", self.username):
            raise ValidationError(f"ProxmoxSsh.username {self.username!r} is not a Unix user name")
        if self.node_address_source not in (None, "api", "dns"):
            raise ValidationError(f"ProxmoxSsh.node_address_source {self.node_address_source!r} is not 'api' or 'dns'")
        for node, address in dict(self.node_addresses).items():
            parse_node_address(f"ProxmoxSsh.node_addresses[{node!r}]", address)


SSH_NODES_ENV = "PVE_GPU_LXC_SSH_NODES"
_NODE_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_HOST = re.compile(r"^[A-Za-z0-9.-]+$")


def parse_node_address(where: str, text: str) -> tuple[str, int | None]:
    """`host`, `host:port` or `[v6]:port` -> (address, port or None)."""
    if not isinstance(text, str):
        raise ValidationError(f"{where} must be a string 'address[:port]', got {type(text).__name__}")
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(\d+))?|([^:\[\]]+)(?::(\d+))?|([0-9A-Fa-f:]+)", text)
    if match is None:
        raise ValidationError(f"{where} {text!r} is not 'address', 'address:port' or '[ipv6]:port'")
    address = match.group(1) or match.group(3) or match.group(5)
    port_text = match.group(2) or match.group(4)
    if match.group(3) is not None and not _HOST.match(address):
        raise ValidationError(f"{where} {text!r}: {address!r} is not a host name or IPv4 address")
    port = int(port_text) if port_text else None
    if port is not None and not 1 <= port <= 65535:
        raise ValidationError(f"{where} {text!r}: port {port} is outside 1-65535")
    return address, port


def ssh_nodes_from_env(environ: Mapping[str, str]) -> dict[str, str]:
    """PVE_GPU_LXC_SSH_NODES="pve=192.0.2.10:2222,pve2=192.0.2.11" -> {node: address[:port]}."""
    raw = environ.get(SSH_NODES_ENV, "").strip()
    nodes: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, sep, address = item.partition("=")
        if not sep or not _NODE_NAME.match(name):
            raise ValidationError(
                f"{SSH_NODES_ENV}: {item!r} is not 'node=address[:port]' (e.g. 'pve=192.0.2.10:2222')")
        parse_node_address(f"{SSH_NODES_ENV} node {name!r}", address)
        nodes[name] = address
    return nodes


class ProxmoxProvider(Construct):
    """The `provider "proxmox"` block (bpg/proxmox ~> 0.111) for a stack.

    endpoint: only if you want it in code; by default bpg reads PROXMOX_VE_ENDPOINT.
    ssh: needed for idmap and hookscripts; None to omit the block.
    environ: where to look for which credentials are set (default os.environ); values
      are never copied.
    """

    def __init__(
        self,
        scope: Construct,
        id: str = "proxmox",
        *,
        endpoint: str | None = None,
        insecure: bool | None = None,
        ssh: ProxmoxSsh | None = ProxmoxSsh(),
        environ: Mapping[str, str] | None = None,
    ) -> None:
        path = f"{scope.node.path}/{id}".lstrip("/")
        if endpoint is not None and not _URL.match(endpoint):
            raise ValidationError(
                f"ProxmoxProvider '{path}': endpoint {endpoint!r} must be https://host[:port]/ with no "
                "credentials or path (e.g. 'https://pve.lan:8006/')"
            )
        super().__init__(scope, id)
        self.ssh = ssh
        environ = os.environ if environ is None else environ
        self.auth: ProviderAuth = detect_auth(environ)
        ssh_block = None
        if ssh is not None:
            addresses = dict(ssh.node_addresses) or ssh_nodes_from_env(environ)
            nodes = []
            for name, text in sorted(addresses.items()):
                address, port = parse_node_address(f"ProxmoxProvider '{path}': SSH node {name!r}", text)
                nodes.append(ProviderSshNode(name=name, address=address, port=port))
            ssh_block = ProviderSsh(
                username=ssh.username,
                agent=ssh.agent,
                node_address_source=ssh.node_address_source,
                node=nodes or None,
            )
        self.resource = BpgProxmoxProvider(self, "Default", endpoint=endpoint, insecure=insecure, ssh=ssh_block)

    @staticmethod
    def of(scope: Construct) -> "ProxmoxProvider | None":
        """The ProxmoxProvider of the stack that contains `scope`, if any."""
        from cdktf import TerraformStack

        stack = TerraformStack.of(scope)
        for child in stack.node.children:
            if isinstance(child, ProxmoxProvider):
                return child
        return None
