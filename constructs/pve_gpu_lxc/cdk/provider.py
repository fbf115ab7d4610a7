"""ProxmoxProvider: the bpg provider block, configured from the environment.

Secrets never enter the synthesized JSON: the provider binary reads
PROXMOX_VE_ENDPOINT, PROXMOX_VE_USERNAME, PROXMOX_VE_PASSWORD or
PROXMOX_VE_API_TOKEN, PROXMOX_VE_SSH_* itself when Terraform runs.  The settings and
their rules are the model's (`model/provider.py`); this construct writes the non-secret
ones (SSH user, agent, node addresses) and registers itself as its stack's provider.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..core.errors import ValidationError
from ..engine import Construct, TerraformStack
from ..l1.generated import BpgProxmoxProvider, ProviderSsh, ProviderSshNode
from ..model.auth import ProviderAuth
from ..model.provider import ProviderSettings, ProxmoxSsh, provider_settings
from .app_state import context, in_construct


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
        settings = provider_settings(f"ProxmoxProvider '{path}'", endpoint=endpoint, insecure=insecure, ssh=ssh,
                                     environ=environ)
        try:
            ctx = context(scope)
        except ValidationError as err:
            raise in_construct("ProxmoxProvider", path, err) from None
        super().__init__(scope, id)
        self.settings: ProviderSettings = settings
        self.ssh: ProxmoxSsh | None = settings.ssh
        self.auth: ProviderAuth = settings.auth
        ssh_block = None
        if settings.ssh is not None:
            ssh_block = ProviderSsh(
                username=settings.ssh.username,
                agent=settings.ssh.agent,
                node_address_source=settings.ssh.node_address_source,
                node=[ProviderSshNode(name=n.name, address=n.address, port=n.port) for n in settings.ssh_nodes] or None,
            )
        self.resource = BpgProxmoxProvider(
            self, "Default", endpoint=settings.endpoint, insecure=settings.insecure, ssh=ssh_block
        )
        ctx.state.register_provider(ctx.stack_key, settings)

    @staticmethod
    def of(scope: Construct) -> ProxmoxProvider | None:
        """The ProxmoxProvider of the stack that contains `scope`, if any."""
        stack = TerraformStack.of(scope)
        for child in stack.node.children:
            if isinstance(child, ProxmoxProvider):
                return child
        return None
