"""The provider's settings: SSH, endpoint, and which credentials the environment holds (pure).

Secrets never enter the synthesized JSON: the provider binary reads PROXMOX_VE_ENDPOINT,
PROXMOX_VE_USERNAME, PROXMOX_VE_PASSWORD or PROXMOX_VE_API_TOKEN, PROXMOX_VE_SSH_* itself
when Terraform runs.  `provider_settings` resolves only non-secret settings (SSH user,
agent, node addresses) and which kind of credentials is set; the cdk layer's
`ProxmoxProvider` writes them into the `provider "proxmox"` block.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from ..core import names
from ..core.errors import ValidationError
from ..core.rules import got
from .auth import ProviderAuth, detect_auth

_URL = re.compile(r"^https://[A-Za-z0-9.-]+(:\d+)?/?$")
SSH_NODES_ENV = "PVE_GPU_LXC_SSH_NODES"


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
        if not isinstance(self.username, str) or not names.is_unix_user(self.username):
            raise ValidationError(f"ProxmoxSsh.username {got(self.username)} is not a Unix user name")
        if not isinstance(self.agent, bool):
            raise ValidationError(f"ProxmoxSsh.agent must be True or False, got {got(self.agent)}")
        if self.node_address_source not in (None, "api", "dns"):
            raise ValidationError(
                f"ProxmoxSsh.node_address_source {got(self.node_address_source)} is not 'api' or 'dns'")
        if not isinstance(self.node_addresses, Mapping):
            raise ValidationError(
                "ProxmoxSsh.node_addresses must be a mapping {node name: 'address[:port]'}, "
                f"got {got(self.node_addresses)}")
        for node, address in dict(self.node_addresses).items():
            if not isinstance(node, str) or not names.is_node_name(node):
                raise ValidationError(f"ProxmoxSsh.node_addresses key {got(node)} is not a Proxmox node name")
            parse_node_address(f"ProxmoxSsh.node_addresses[{node!r}]", address)


@dataclass(frozen=True)
class SshNode:
    name: str
    address: str
    port: int | None


@dataclass(frozen=True)
class ProviderSettings:
    """What the `provider "proxmox"` block holds, and which credentials the environment has."""

    endpoint: str | None
    insecure: bool | None
    ssh: ProxmoxSsh | None
    ssh_nodes: tuple[SshNode, ...]
    auth: ProviderAuth


def parse_node_address(where: str, text: object) -> tuple[str, int | None]:
    """`host`, `host:port` or `[v6]:port` -> (address, port or None)."""
    if not isinstance(text, str):
        raise ValidationError(f"{where} must be a string 'address[:port]', got {type(text).__name__}")
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(\d+))?|([^:\[\]]+)(?::(\d+))?|([0-9A-Fa-f:]+)", text)
    if match is None:
        raise ValidationError(f"{where} {text!r} is not 'address', 'address:port' or '[ipv6]:port'")
    address = match.group(1) or match.group(3) or match.group(5)
    port_text = match.group(2) or match.group(4)
    if match.group(3) is not None and not names.is_host(address):
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
        if not sep or not names.is_node_name(name):
            raise ValidationError(
                f"{SSH_NODES_ENV}: {item!r} is not 'node=address[:port]' (e.g. 'pve=192.0.2.10:2222')")
        parse_node_address(f"{SSH_NODES_ENV} node {name!r}", address)
        nodes[name] = address
    return nodes


def provider_settings(
    where: str,
    *,
    endpoint: object = None,
    insecure: object = None,
    ssh: object = None,
    environ: object = None,
) -> ProviderSettings:
    """Validate the provider's props and resolve them against the environment.

    where: how the provider reads in messages (e.g. "ProxmoxProvider 'media/proxmox'").
    environ: where to look for which credentials are set (default os.environ); values are
      never copied into the settings.
    """
    if endpoint is not None and (not isinstance(endpoint, str) or not _URL.match(endpoint)):
        raise ValidationError(
            f"{where}: endpoint {endpoint!r} must be https://host[:port]/ with no "
            "credentials or path (e.g. 'https://pve.lan:8006/')"
        )
    if insecure is not None and not isinstance(insecure, bool):
        raise ValidationError(f"{where}: insecure must be True, False or None, got {got(insecure)}")
    if ssh is not None and not isinstance(ssh, ProxmoxSsh):
        raise ValidationError(
            f"{where}: ssh must be a ProxmoxSsh(...) or None (no SSH block), got {got(ssh)}")
    env = _environ(where, os.environ if environ is None else environ)
    nodes: list[SshNode] = []
    if ssh is not None:
        addresses = dict(ssh.node_addresses) or ssh_nodes_from_env(env)
        for name, text in sorted(addresses.items()):
            address, port = parse_node_address(f"{where}: SSH node {name!r}", text)
            nodes.append(SshNode(name, address, port))
    return ProviderSettings(endpoint=endpoint, insecure=insecure, ssh=ssh, ssh_nodes=tuple(nodes),
                            auth=detect_auth(env))


_READ = ("PROXMOX_VE_API_TOKEN", "PROXMOX_VE_AUTH_TICKET", "PROXMOX_VE_USERNAME", "PROXMOX_VE_PASSWORD", SSH_NODES_ENV)


def _environ(where: str, environ: object) -> Mapping[str, str]:
    if not isinstance(environ, Mapping):
        raise ValidationError(f"{where}: environ must be a mapping of variable names to strings, got {got(environ)}")
    for name in _READ:
        value = environ.get(name)
        if value is not None and not isinstance(value, str):
            raise ValidationError(f"{where}: environ[{name!r}] must be a string, got {type(value).__name__}")
    return environ
