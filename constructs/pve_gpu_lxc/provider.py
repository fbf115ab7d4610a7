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

from .auth import ProviderAuth, detect_auth
from .errors import ValidationError
from .l1.generated import BpgProxmoxProvider, ProviderSsh, ProviderSshNode

_URL = re.compile(r"^https://[A-Za-z0-9.-]+(:\d+)?/?$")


@dataclass(frozen=True, kw_only=True)
class ProxmoxSsh:
    """SSH settings bpg uses for idmap lines and snippet uploads.

    username: SSH user on the nodes (root, or a user with the documented sudo rules).
    agent: authenticate with the SSH agent (SSH_AUTH_SOCK); a private key can come from
      PROXMOX_VE_SSH_PRIVATE_KEY instead.
    node_addresses: {node name: address} when the API's address is not reachable.
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
        self.auth: ProviderAuth = detect_auth(os.environ if environ is None else environ)
        ssh_block = None
        if ssh is not None:
            nodes = [ProviderSshNode(name=n, address=a) for n, a in sorted(ssh.node_addresses.items())]
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
