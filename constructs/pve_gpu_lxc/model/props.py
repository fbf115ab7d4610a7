"""Props of GpuContainer: frozen, keyword-only dataclasses validated on creation (pure).

Units are in the names (`memory_mib`, `size_gib`); every default is what a GPU
container usually wants and is documented on the field.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Sequence

from . import validation
from .devices import Device
from ..core.errors import ValidationError
from .gpus import Gpu
from .hooks import Hooks
from ..facts.model import HostFacts
from .idmap import IdMap

if TYPE_CHECKING:  # the Template value object lives with its Terraform binding
    from .template import Template

_IFACE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
_TAG = re.compile(r"^[a-z0-9_][a-z0-9_+.-]*$", re.IGNORECASE)  # PVE `pve-tag`
_DATASTORE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")  # PVE storage id
_SSH_KEY = re.compile(r"^(ssh-(rsa|ed25519|dss)|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9@.-]+) [A-Za-z0-9+/=]+( [^\n\r]*)?$")


def datastore_id(value: object, name: str = "datastore_id") -> str:
    if not isinstance(value, str) or not _DATASTORE.match(value):
        raise ValidationError(
            f"{name} {value!r} is not a Proxmox storage id (e.g. 'local', 'local-lvm'); see `pvesm status`"
        )
    return value


@dataclass(frozen=True, kw_only=True)
class Disk:
    """The root filesystem. datastore_id: storage for it; size_gib: its size (grow only)."""

    datastore_id: str = "local-lvm"
    size_gib: int = 8

    def __post_init__(self) -> None:
        datastore_id(self.datastore_id, "Disk.datastore_id")
        validation.require_int(self.size_gib, "Disk.size_gib", 1, 131072)


@dataclass(frozen=True, kw_only=True)
class Network:
    """One NIC.  ipv4: "dhcp", "manual" or an address with prefix ("192.168.1.50/24").

    gateway: only with a static ipv4.  vlan_id: 802.1Q tag (None = untagged).
    """

    bridge: str = "vmbr0"
    ipv4: str = "dhcp"
    gateway: str | None = None
    vlan_id: int | None = None
    firewall: bool = False
    name: str = "eth0"

    def __post_init__(self) -> None:
        for attr in ("bridge", "name"):
            value = getattr(self, attr)
            if not isinstance(value, str) or not _IFACE.match(value):
                raise ValidationError(
                    f"Network.{attr} {value!r} is not an interface name (1-15 letters, digits, _ . -)"
                )
        if self.ipv4 not in ("dhcp", "manual"):
            try:
                iface = ipaddress.IPv4Interface(self.ipv4)
            except (ValueError, TypeError):
                iface = None
            if iface is None or "/" not in str(self.ipv4):
                raise ValidationError(
                    f"Network.ipv4 {self.ipv4!r} is not 'dhcp', 'manual' or an address with prefix "
                    "length such as '192.168.1.50/24'"
                )
        if self.gateway is not None:
            if self.ipv4 in ("dhcp", "manual"):
                raise ValidationError(f"Network.gateway {self.gateway!r} needs a static ipv4 (got ipv4={self.ipv4!r})")
            try:
                ipaddress.IPv4Address(self.gateway)
            except (ValueError, TypeError):
                raise ValidationError(f"Network.gateway {self.gateway!r} is not an IPv4 address") from None
        if self.vlan_id is not None:
            validation.require_int(self.vlan_id, "Network.vlan_id", 1, 4094)
        if not isinstance(self.firewall, bool):
            raise ValidationError(f"Network.firewall must be True or False, got {self.firewall!r}")


@dataclass(frozen=True, kw_only=True)
class Features:
    """Container features.  nesting: None = on for unprivileged containers (systemd and
    Docker inside need it), off for privileged ones."""

    nesting: bool | None = None
    keyctl: bool = False
    fuse: bool = False
    mknod: bool = False
    mount: tuple[Literal["nfs", "cifs"], ...] = ()

    def __post_init__(self) -> None:
        for flag in ("keyctl", "fuse", "mknod"):
            if not isinstance(getattr(self, flag), bool):
                raise ValidationError(f"Features.{flag} must be True or False, got {getattr(self, flag)!r}")
        if self.nesting is not None and not isinstance(self.nesting, bool):
            raise ValidationError(f"Features.nesting must be True, False or None, got {self.nesting!r}")
        for fs in self.mount:
            if fs not in ("nfs", "cifs"):
                raise ValidationError(f"Features.mount entry {fs!r} is not 'nfs' or 'cifs'")


@dataclass(frozen=True, kw_only=True)
class GpuContainerProps:
    """Everything GpuContainer needs.  Required: node_name, vm_id, hostname, template."""

    node_name: str
    """Proxmox node that runs the container (changing it replaces the container)."""
    vm_id: int
    """VMID, 100..999999999, unique per node within the app."""
    hostname: str
    """DNS host name of the container."""
    template: "Template"
    """OS template: Template.existing(...) or Template.download(...); also the source of the
    container-side render/video GIDs."""
    gpus: Sequence[Gpu] = ()
    """GPU presets (IntelGpu, AmdGpu, NvidiaGpu); each expands to its device nodes."""
    devices: Sequence[Device] = ()
    """Extra device nodes, e.g. Device("/dev/net/tun")."""
    cores: int = 2
    memory_mib: int = 2048
    swap_mib: int = 512
    disk: Disk = field(default_factory=Disk)
    network: Network | None = field(default_factory=Network)
    """The NIC; None for no network."""
    ssh_keys: Sequence[str] = ()
    """Public keys for root (set at creation only: changing them replaces the container)."""
    tags: Sequence[str] = ()
    """Proxmox tags, sorted and de-duplicated (as Proxmox stores them)."""
    description: str | None = None
    start_on_boot: bool = True
    started: bool = True
    unprivileged: bool = True
    """Unprivileged by default; changing it replaces the container."""
    features: Features = field(default_factory=Features)
    idmap: IdMap | None = None
    """A full lxc.idmap (IdMap.passthrough(...)); None = Proxmox's default map.  Devices need
    none: devN creates nodes with the right owner in any unprivileged container."""
    hooks: Hooks | None = None
    """Extra hookscript commands; NVIDIA presets add their own pre-start checks."""
    snippets_datastore_id: str = "local"
    """File-based storage with the `snippets` content type, for the hookscript."""
    host_facts: HostFacts | None = None
    """The node's recorded facts (HostFacts.load("stacks/facts/pve.json")).  With them GPUs can
    be selected by PCI address (IntelGpu(pci="0000:00:02.0")), and synthesis fails when a device
    is missing on the node or is not a char device, when the NVIDIA driver differs from the
    node's, or when root's subuid/subgid do not allow the idmap."""

    def __post_init__(self) -> None:
        validation.node_name(self.node_name)
        validation.vm_id(self.vm_id)
        validation.hostname(self.hostname)
        validation.require_int(self.cores, "cores", 1, 128)
        validation.require_int(self.memory_mib, "memory_mib", 16, 268435456)
        validation.require_int(self.swap_mib, "swap_mib", 0, 268435456)
        datastore_id(self.snippets_datastore_id, "snippets_datastore_id")
        for flag in ("start_on_boot", "started", "unprivileged"):
            if not isinstance(getattr(self, flag), bool):
                raise ValidationError(f"{flag} must be True or False, got {getattr(self, flag)!r}")
        self._check_sequences()
        if self.idmap is not None and not isinstance(self.idmap, IdMap):
            raise ValidationError(f"idmap must be an IdMap (e.g. IdMap.passthrough(gids={{44: 44}})), got {self.idmap!r}")
        if self.idmap is not None and not self.unprivileged:
            raise ValidationError(
                "idmap is set on a privileged container (unprivileged=False); lxc.idmap applies to "
                "unprivileged containers only. Remove idmap, or set unprivileged=True"
            )
        if self.host_facts is not None and not isinstance(self.host_facts, HostFacts):
            raise ValidationError(
                f"host_facts must be a HostFacts (HostFacts.load('stacks/facts/<node>.json')), got {self.host_facts!r}"
            )
        if self.hooks is not None and not isinstance(self.hooks, Hooks):
            raise ValidationError(f"hooks must be a Hooks(...) value, got {self.hooks!r}")

    def _check_sequences(self) -> None:
        for name in ("gpus", "devices", "ssh_keys", "tags"):
            if isinstance(getattr(self, name), (str, bytes)):
                raise ValidationError(f"{name} must be a list, got the string {getattr(self, name)!r}")
        for gpu in self.gpus:
            if not callable(getattr(gpu, "devices", None)):
                raise ValidationError(f"gpus entry {gpu!r} is not a GPU preset (IntelGpu, AmdGpu, NvidiaGpu)")
        for device in self.devices:
            if not isinstance(device, Device):
                raise ValidationError(f"devices entry {device!r} is not a Device(path, ...)")
        for key in self.ssh_keys:
            if not isinstance(key, str) or not _SSH_KEY.match(key.strip()):
                raise ValidationError(
                    f"ssh_keys entry {str(key)[:40]!r}... is not one OpenSSH public key line "
                    "('ssh-ed25519 AAAA... comment')"
                )
        for tag in self.tags:
            if not isinstance(tag, str) or not _TAG.match(tag):
                raise ValidationError(
                    f"tag {tag!r} is not a Proxmox tag; allowed: letters, digits and _ + . - , not "
                    "starting with + . or -"
                )

    @property
    def effective_features(self) -> Features:
        if self.features.nesting is None:
            return Features(
                nesting=self.unprivileged,
                keyctl=self.features.keyctl,
                fuse=self.features.fuse,
                mknod=self.features.mknod,
                mount=self.features.mount,
            )
        return self.features

    @property
    def normalized_tags(self) -> list[str]:
        return sorted(set(self.tags))
