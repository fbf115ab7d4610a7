"""Props of GpuContainer: frozen, keyword-only dataclasses validated on creation (pure).

Units are in the names (`memory_mib`, `size_gib`); every default is what a GPU
container usually wants and is documented on the field.  Every field is type-checked:
a wrong type raises `ValidationError` naming the prop, the type received and what is
allowed (GpuContainer prefixes the construct).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Literal

from ..core.errors import ValidationError
from ..core.rules import got, require_bool, require_int, sequence
from ..facts import HostFacts
from . import oci, validation
from .devices import Device
from .gpus import Gpu
from .hooks import Hooks
from .idmap import IdMap
from .ownership import TAG_PREFIX, is_reserved
from .template import Template

_IFACE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
_TAG = re.compile(r"^[a-z0-9_][a-z0-9_+.-]*$", re.IGNORECASE)  # PVE `pve-tag`
_SSH_KEY = re.compile(r"^(ssh-(rsa|ed25519|dss)|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9@.-]+) [A-Za-z0-9+/=]+( [^\n\r]*)?$")
MAX_DESCRIPTION = 8192  # PVE's `description` limit (bytes of the config value)


@dataclass(frozen=True, kw_only=True)
class Disk:
    """The root filesystem. datastore_id: storage for it; size_gib: its size (grow only)."""

    datastore_id: str = "local-lvm"
    size_gib: int = 8

    def __post_init__(self) -> None:
        validation.datastore_id(self.datastore_id, "Disk.datastore_id")
        require_int(self.size_gib, "Disk.size_gib", 1, 131072)


@dataclass(frozen=True, kw_only=True)
class Network:
    """One NIC.  ipv4: "dhcp", "manual" or an address with prefix ("192.168.1.50/24").

    gateway: only with a static ipv4.  vlan_id: 802.1Q tag (None = untagged).
    host_managed: the node configures the address (PVE 9.1: for app containers, which run no
    network manager); None = on for a container from an OCI image, off otherwise.
    """

    bridge: str = "vmbr0"
    ipv4: str = "dhcp"
    gateway: str | None = None
    vlan_id: int | None = None
    firewall: bool = False
    name: str = "eth0"
    host_managed: bool | None = None

    def __post_init__(self) -> None:
        for attr in ("bridge", "name"):
            value = getattr(self, attr)
            if not isinstance(value, str) or not _IFACE.match(value):
                raise ValidationError(
                    f"Network.{attr} {got(value)} is not an interface name (1-15 letters, digits, _ . -)"
                )
        if not isinstance(self.ipv4, str):
            raise ValidationError(
                f"Network.ipv4 must be a string ('dhcp', 'manual' or an address with prefix length such as "
                f"'192.168.1.50/24'), got {got(self.ipv4)}"
            )
        if self.ipv4 not in ("dhcp", "manual"):
            try:
                iface: ipaddress.IPv4Interface | None = ipaddress.IPv4Interface(self.ipv4)
            except ValueError:
                iface = None
            if iface is None or "/" not in self.ipv4:
                raise ValidationError(
                    f"Network.ipv4 {self.ipv4!r} is not 'dhcp', 'manual' or an address with prefix "
                    "length such as '192.168.1.50/24'"
                )
        if self.gateway is not None:
            if not isinstance(self.gateway, str):
                raise ValidationError(
                    f"Network.gateway must be an IPv4 address string or None, got {got(self.gateway)}"
                )
            if self.ipv4 in ("dhcp", "manual"):
                raise ValidationError(f"Network.gateway {self.gateway!r} needs a static ipv4 (got ipv4={self.ipv4!r})")
            try:
                ipaddress.IPv4Address(self.gateway)
            except ValueError:
                raise ValidationError(f"Network.gateway {self.gateway!r} is not an IPv4 address") from None
        if self.vlan_id is not None:
            require_int(self.vlan_id, "Network.vlan_id", 1, 4094)
        require_bool(self.firewall, "Network.firewall")
        if self.host_managed is not None:
            require_bool(self.host_managed, "Network.host_managed")


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
            require_bool(getattr(self, flag), f"Features.{flag}")
        if self.nesting is not None and not isinstance(self.nesting, bool):
            raise ValidationError(f"Features.nesting must be True, False or None, got {got(self.nesting)}")
        mount = sequence(self.mount, "Features.mount", "file system names ('nfs', 'cifs')")
        for fs in mount:
            if fs not in ("nfs", "cifs"):
                raise ValidationError(f"Features.mount entry {got(fs)} is not 'nfs' or 'cifs'")
        object.__setattr__(self, "mount", mount)


@dataclass(frozen=True, kw_only=True)
class GpuContainerProps:
    """Everything GpuContainer needs.  Required: node_name, vm_id, hostname, template."""

    node_name: str
    """Proxmox node that runs the container (changing it replaces the container)."""
    vm_id: int
    """VMID, 100..999999999, unique per cluster: per node within the app, and across the nodes one
    stack reaches (one provider is one cluster)."""
    hostname: str
    """DNS host name of the container."""
    template: Template
    """OS template: Template.existing(...), Template.download(...) or Template.upload(...), or an
    application image, Template.oci(...); also the source of the container-side render/video GIDs."""
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
    """Proxmox tags, sorted and de-duplicated (as Proxmox stores them).  The container also gets
    its ownership tag `pve-gpu-lxc.<stack>.<construct id>` (README "What is guarded"); tags
    starting with `pve-gpu-lxc.` are reserved for it."""
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
    entrypoint: str | None = None
    """The command the container runs as init, with its arguments (e.g. "/jellyfin/jellyfin
    --datadir /config").  Required with Template.oci (model/oci.py says why); elsewhere None keeps
    /sbin/init."""
    env: Mapping[str, str] = field(default_factory=dict)
    """The container's environment (the init's), complete: it replaces the image's, it is not
    merged.  Required with Template.oci.  Not for secrets: Proxmox keeps it in the container's
    config, and the hookscript carries it."""
    import_existing: bool = False
    """The container exists already (made outside this stack): Terraform imports CT `vm_id` of
    `node_name` (an `import` block, a no-op once it is in the state), the next apply updates it
    to these props and adds the ownership tag, and its template is never compared (bpg does not
    read one back, so it would be replaced).  The guard then accepts a container at `vm_id` with
    this `hostname` or with the stack's tag.  Keep it set for as long as the container lives."""

    def __post_init__(self) -> None:
        validation.node_name(self.node_name)
        validation.vm_id(self.vm_id)
        validation.hostname(self.hostname)
        if not isinstance(self.template, Template):
            raise ValidationError(
                f"template must be a Template (Template.existing('local:vztmpl/<file>'), Template.download(...) "
                f"or Template.upload(...)), got {got(self.template)}"
            )
        require_int(self.cores, "cores", 1, 128)
        require_int(self.memory_mib, "memory_mib", 16, 268435456)
        require_int(self.swap_mib, "swap_mib", 0, 268435456)
        validation.datastore_id(self.snippets_datastore_id, "snippets_datastore_id")
        for flag in ("start_on_boot", "started", "unprivileged", "import_existing"):
            require_bool(getattr(self, flag), flag)
        self._check_values()
        self._check_sequences()
        self._check_app()
        if self.import_existing and self.ssh_keys:
            raise ValidationError(
                "ssh_keys are set with import_existing=True; Proxmox takes root's keys only when a container is "
                "created, and bpg would replace an imported container to set them (its disk lost). Remove "
                "ssh_keys, and add the keys inside the container"
            )
        if self.idmap is not None and not self.unprivileged:
            raise ValidationError(
                "idmap is set on a privileged container (unprivileged=False); lxc.idmap applies to "
                "unprivileged containers only. Remove idmap, or set unprivileged=True"
            )

    def _check_values(self) -> None:
        """Props that take one value object: the right class, or None where None is allowed."""
        if not isinstance(self.disk, Disk):
            raise ValidationError(f"disk must be a Disk (e.g. Disk(size_gib=32)), got {got(self.disk)}")
        if self.network is not None and not isinstance(self.network, Network):
            raise ValidationError(
                f"network must be a Network (e.g. Network(bridge='vmbr0')) or None for no NIC, got {got(self.network)}"
            )
        if not isinstance(self.features, Features):
            raise ValidationError(f"features must be a Features (e.g. Features(fuse=True)), got {got(self.features)}")
        if self.idmap is not None and not isinstance(self.idmap, IdMap):
            raise ValidationError(
                f"idmap must be an IdMap (e.g. IdMap.passthrough(gids={{44: 44}})), got {self.idmap!r}"
            )
        if self.host_facts is not None and not isinstance(self.host_facts, HostFacts):
            raise ValidationError(
                f"host_facts must be a HostFacts (HostFacts.load('stacks/facts/<node>.json')), got {self.host_facts!r}"
            )
        if self.hooks is not None and not isinstance(self.hooks, Hooks):
            raise ValidationError(f"hooks must be a Hooks(...) value, got {self.hooks!r}")
        if self.description is not None:
            if not isinstance(self.description, str):
                raise ValidationError(f"description must be a string or None, got {got(self.description)}")
            if len(self.description.encode("utf-8", "surrogatepass")) > MAX_DESCRIPTION:
                raise ValidationError(
                    f"description is {len(self.description.encode('utf-8', 'surrogatepass'))} bytes; Proxmox "
                    f"keeps at most {MAX_DESCRIPTION}"
                )

    def _check_sequences(self) -> None:
        for name in ("gpus", "devices", "ssh_keys", "tags"):
            if isinstance(getattr(self, name), (str, bytes)):
                raise ValidationError(f"{name} must be a list, got the string {getattr(self, name)!r}")
        allowed = {"gpus": "GPU presets (IntelGpu, AmdGpu, NvidiaGpu)", "devices": "Device(path, ...) values",
                   "ssh_keys": "OpenSSH public key lines", "tags": "Proxmox tags"}
        for name, items in allowed.items():
            object.__setattr__(self, name, sequence(getattr(self, name), name, items))
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
            if tag != tag.lower():
                raise ValidationError(
                    f"tag {tag!r} has upper-case letters: Proxmox VE stores tags lower-cased (datacenter "
                    "tag-style default) and bpg/proxmox compares them case-sensitively, so every plan would "
                    f"show a change; write {tag.lower()!r}"
                )
            if is_reserved(tag):
                raise ValidationError(
                    f"tag {tag!r} is reserved: tags starting with '{TAG_PREFIX}.' mark which stack owns a container, "
                    "and GpuContainer sets its own; choose another tag"
                )

    def _check_app(self) -> None:
        """entrypoint and env, and what a container from an OCI image needs."""
        if self.entrypoint is not None:
            oci.entrypoint(self.entrypoint)
        object.__setattr__(self, "env", dict(oci.env(self.env)))
        template = self.template
        if template.kind != "oci":
            return
        assert template.reference is not None  # Template.oci sets it
        missing = [name for name, given in (("entrypoint", self.entrypoint is not None), ("env", bool(self.env)))
                   if not given]
        if missing:
            raise ValidationError(oci.missing_app_config(template.reference, missing))
        if not self.started:
            raise ValidationError(
                f"started=False with the OCI image {template.reference!r}: the container's pre-start hookscript "
                "writes the declared entrypoint and env on the node when the create starts it, before bpg "
                "reads the config back; unstarted, the node keeps the image's and the next plan is not empty. "
                "Keep started=True (stop it afterwards if you must)")
        if self.import_existing:
            raise ValidationError(
                f"import_existing=True with the OCI image {template.reference!r}: an imported container was not "
                "created from this image by this stack; use Template.existing for it")

    @property
    def host_managed_network(self) -> bool:
        """Whether the NIC is host-managed (given, else on for an app container from an OCI image)."""
        if self.network is None:
            return False
        if self.network.host_managed is not None:
            return self.network.host_managed
        return self.template.kind == "oci"

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


PROP_NAMES: tuple[str, ...] = tuple(f.name for f in fields(GpuContainerProps))
REQUIRED_PROPS: tuple[str, ...] = ("node_name", "vm_id", "hostname", "template")
