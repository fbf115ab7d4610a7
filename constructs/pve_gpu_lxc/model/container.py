"""The resolved container: props + template + host facts -> everything Terraform will carry (pure).

`build_model` applies every rule about one container: GPU selection through the facts,
the template's GIDs for the devices' groups, device de-duplication and limits, the NVIDIA
pin (one version, equal to the template's built-in userspace and to the node's driver), the
fit against the recorded node, and what the provider must allow.  The rules that need the
app's other containers are in `app.py`.  The cdk layer maps a `ContainerModel` to L1
resources one to one, and the LXC test harness can consume it directly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from ..core.errors import ValidationError
from ..facts import HostFacts, record_command
from ..pve.oci import AppConfig
from . import oci
from .auth import ProviderAuth, provider_problems
from .devices import ResolvedDevice, resolve_devices
from .gpus import Gpu, NvidiaGpu, nvidia_driver_version, nvidia_host_runtime, resolve_gpus
from .hooks import HookCommand, NvidiaGuard, render_hookscript
from .idmap import IdMap, IdMapEntry
from .ownership import IMPORT_IGNORED_CHANGES, Guard, Owner, guard
from .props import Features, GpuContainerProps
from .template_gids import TemplateGids, predicted_gids

_FROM_TEMPLATE: TemplateGids = TemplateGids(None, None, "from the template")


@dataclass(frozen=True)
class ContainerModel:
    props: GpuContainerProps
    """The props, with GPUs selected through host facts resolved to node numbers."""
    devices: tuple[ResolvedDevice, ...]
    nvidia: NvidiaGuard | None
    hook_commands: tuple[HookCommand, ...]
    owner: Owner | None = None
    """The stack and construct that own it (None: a model used outside a stack: no ownership tag, no guard)."""
    app: AppConfig | None = None
    """A container from an OCI image: the entrypoint and env its pre-start hook writes on the node."""
    nvidia_runtime: str | None = None
    """NvidiaGpu(runtime="host"): the NVIDIA_DRIVER_CAPABILITIES its pre-start hook sets up."""

    @property
    def hookscript(self) -> str | None:
        """The hookscript text, or None when the container needs none."""
        if not self.has_hookscript:
            return None
        return render_hookscript(
            vmid=self.props.vm_id, hostname=self.props.hostname, nvidia=self.nvidia, commands=self.hook_commands,
            app=self.app, nvidia_runtime=self.nvidia_runtime,
        )

    @property
    def hook_file_name(self) -> str:
        return f"pve-gpu-lxc-{self.props.vm_id}.sh"

    @property
    def has_hookscript(self) -> bool:
        return (self.nvidia is not None or bool(self.hook_commands) or self.app is not None
                or self.nvidia_runtime is not None)

    @property
    def is_app(self) -> bool:
        """Made from an OCI image: entrypoint, env and console mode are managed (model/oci.py)."""
        return self.props.template.kind == "oci"

    @property
    def features(self) -> Features:
        """The features Proxmox gets (nesting resolved from `unprivileged` when not given)."""
        return self.props.effective_features

    @property
    def tags(self) -> list[str]:
        """The user's tags and the ownership tag, sorted and de-duplicated (as Proxmox stores them)."""
        own = [self.owner.tag] if self.owner is not None else []
        return sorted(set(self.props.normalized_tags + own))

    @property
    def ownership_tag(self) -> str | None:
        return self.owner.tag if self.owner is not None else None

    def guard(self, listing: str) -> Guard | None:
        """The precondition that stops the plan when the vm_id is another's (model/ownership.py).

        listing: the address of the stack's `proxmox_virtual_environment_containers` data source.
        """
        if self.owner is None:
            return None
        p = self.props
        return guard(listing, owner=self.owner, vm_id=p.vm_id, hostname=p.hostname, tags=self.tags,
                     imported=p.import_existing)

    @property
    def import_id(self) -> str | None:
        """bpg's import id `<node>/<vmid>` when the container is imported (import_existing=True)."""
        return f"{self.props.node_name}/{self.props.vm_id}" if self.props.import_existing else None

    @property
    def ignored_changes(self) -> tuple[str, ...]:
        """Attributes Terraform must not compare: an imported container's template (bpg reads none back)."""
        return IMPORT_IGNORED_CHANGES if self.props.import_existing else ()

    @property
    def idmap_entries(self) -> tuple[IdMapEntry, ...]:
        return self.props.idmap.entries if self.props.idmap is not None else ()

    @property
    def host_subid_lines(self) -> dict[str, list[str]] | None:
        """The /etc/subuid and /etc/subgid lines the node needs beyond the stock ones, or None."""
        idmap = self.props.idmap
        if idmap is None or not (idmap.subuid_lines() + idmap.subgid_lines()):
            return None
        return {"subuid": idmap.subuid_lines(), "subgid": idmap.subgid_lines()}

    @property
    def operating_system_type(self) -> str:
        return self.props.template.operating_system_type

    def needs_root_pam(self) -> list[str]:
        """What in this container PVE allows only for root@pam."""
        needs = []
        if self.devices:
            needs.append("device passthrough (devN)")
        if self.has_hookscript:
            needs.append("a hookscript")
        return needs

    def needs_ssh(self) -> list[str]:
        """What bpg writes over SSH for this container (the API cannot)."""
        needs = []
        if self.props.idmap is not None:
            needs.append("lxc.idmap")
        if self.has_hookscript:
            needs.append("the hookscript snippet upload")
        return needs

    def provider_problems(self, auth: ProviderAuth | None, has_ssh: bool) -> list[str]:
        """Why the stack's provider (auth None: there is none) cannot do what this container needs."""
        return provider_problems(auth, has_ssh, self.needs_root_pam(), self.needs_ssh())


def build_model(
    props: GpuContainerProps,
    gids: TemplateGids | None = _FROM_TEMPLATE,
    template_name: str | None = None,
    *,
    owner: Owner | None = None,
) -> ContainerModel:
    """Apply every per-container rule and resolve the container.

    gids, template_name: override the template's own GIDs and file name (default: from
    `props.template`).  owner: the stack and construct id (GpuContainer passes them): the
    container then carries the ownership tag and the vm_id guard.  Raises `ValidationError`
    with the fix on the first rule broken.
    """
    if not isinstance(props, GpuContainerProps):
        raise ValidationError(f"build_model takes a GpuContainerProps, got {type(props).__name__}")
    props = _with_resolved_gpus(props)
    if gids is _FROM_TEMPLATE:
        gids = props.template.gids(_node_facts(props))
    name = props.template.file_name if template_name is None else template_name
    wanted = [d for gpu in props.gpus for d in gpu.devices()] + list(props.devices)
    group_gids = {"render": gids.render if gids else None, "video": gids.video if gids else None}
    for role in sorted({d.group for d in wanted if d.group}):
        if group_gids[role] is None:
            raise ValidationError(
                _unknown_gid_message(role, name, gids, [d.path for d in wanted if d.group == role], props))
    devices = resolve_devices(wanted, group_gids)
    nvidia = _nvidia_guard(props.gpus)
    commands = props.hooks.commands if props.hooks else ()
    if owner is not None and not isinstance(owner, Owner):
        raise ValidationError(f"build_model takes owner=Owner(stack, construct_id) or None, got {type(owner).__name__}")
    app = None
    if props.template.kind == "oci":
        assert props.entrypoint is not None  # the props require it with an OCI template
        app = AppConfig(props.entrypoint, tuple(sorted(props.env.items())))
    runtime = nvidia_host_runtime(props.gpus)
    if runtime is not None and not props.unprivileged:
        raise ValidationError(
            "NvidiaGpu(runtime='host') in a privileged container (unprivileged=False): LXC's nvidia hook refuses "
            "privileged containers; keep unprivileged=True")
    model = ContainerModel(props, devices, nvidia, commands, owner, app, runtime)
    _check_fit(model)
    return model


def _with_resolved_gpus(props: GpuContainerProps) -> GpuContainerProps:
    """GPU presets selected by PCI address or product id get their node numbers from the facts."""
    gpus = resolve_gpus(props.gpus, props.host_facts)
    return props if gpus == tuple(props.gpus) else dataclasses.replace(props, gpus=gpus)


def _nvidia_guard(gpus: Sequence[Gpu]) -> NvidiaGuard | None:
    """The hook's driver pin; each NVIDIA GPU once, pinned or runtime='host'."""
    version = nvidia_driver_version(gpus)
    indexes = [g.index for g in gpus if isinstance(g, NvidiaGpu)]
    if len(set(indexes)) != len(indexes):
        raise ValidationError(f"NvidiaGpu index listed twice: {indexes}")
    return NvidiaGuard(version) if version is not None else None


def _check_fit(model: ContainerModel) -> None:
    """The NVIDIA pin matches the template's built-in userspace and, with facts, the node."""
    props = model.props
    pinned = model.nvidia.driver_version if model.nvidia is not None else None
    built = props.template.nvidia_driver
    if pinned is not None and built is not None and pinned != built:
        raise ValidationError(
            f"NvidiaGpu driver_version {pinned} differs from the NVIDIA userspace {built} built into template "
            f"{props.template.file_name}; they must be equal (NVML 'Driver/library version mismatch'): use an "
            f"image built for {pinned}, or pin {built} if the host runs it"
        )
    facts = props.host_facts
    if facts is None:
        return
    idmap = props.idmap if props.idmap is not None else IdMap.default() if props.unprivileged else None
    facts.verify_container(
        node_name=props.node_name,
        device_paths=[d.path for d in model.devices],
        own_boot_nodes=_own_boot_nodes(props.gpus),
        nvidia_driver=pinned,
        nvidia_runtime=model.nvidia_runtime is not None,
        idmap=[(e.kind, e.host_id, e.size) for e in idmap.entries] if idmap is not None else (),
    )


def _own_boot_nodes(gpus: Sequence[Gpu]) -> tuple[str, ...]:
    """NVIDIA nodes whose re-creation at boot the user vouches for (NvidiaGpu(ensure_nodes=False))."""
    return tuple(d.path for g in gpus if isinstance(g, NvidiaGpu) and not g.ensure_nodes for d in g.devices())


def _node_facts(props: GpuContainerProps) -> HostFacts | None:
    """The host facts when they describe the container's node: another node's templates prove nothing."""
    facts = props.host_facts
    return facts if facts is not None and facts.hostname == props.node_name else None


def _unknown_gid_message(role: str, template_name: str, gids: TemplateGids | None, paths: list[str],
                         props: GpuContainerProps) -> str:
    template = props.template
    if template.kind == "oci":
        assert template.reference is not None  # Template.oci sets it
        return oci.app_gid_message(role, template.reference, paths)
    node = props.node_name
    explicit = f"Template.{template.kind}(..., {role}_gid=N)"
    never = "Never use the host's GID: inside the container that number names another group"
    where = f"{', '.join(paths)} must belong to the container's '{role}' group"
    if gids is not None and gids.source != "explicit":  # read from the template: the group is not there
        return (f"template {template_name!r} has no '{role}' group ({gids.source}), and {where}. Create the group "
                f"with a fixed GID in your image, or pass {explicit} and create it in the container with that GID "
                f"(groupadd -r -g N {role}). {never}")
    hint = ""
    predicted = predicted_gids(template_name)
    if predicted and getattr(predicted, role) is not None:
        hint = f" (an emulated build predicts {getattr(predicted, role)}, unverified)"
    command = f"`{record_command(node=node)}`"
    facts, volid = props.host_facts, template.node_volid
    if facts is None:
        fix = (f"Record the node's templates with {command} (it reads /etc/group out of every template on "
               f"{node!r}, writing nothing there) and pass host_facts=HostFacts.load('stacks/facts/{node}.json')")
    elif facts.hostname != node:
        fix = (f"The host facts passed ({facts.source}) describe node {facts.hostname!r}, not {node!r}: record "
               f"{node!r} with {command} and pass those")
    elif facts.templates is None:
        fix = f"{facts.source} was recorded before the collector read templates: re-record it with {command}"
    elif (recorded := facts.template(volid)) is not None and recorded.error is not None:
        fix = (f"the collector could not read {volid} on {node!r} ({recorded.error}): check the file there, "
               f"then re-record with {command}")
    elif template.kind != "existing":
        fix = (f"{volid} is not on {node!r} yet ({template.kind}ed at apply); once it is, re-record the facts "
               f"with {command}")
    else:
        elsewhere = [t.volid for t in facts.templates if t.file == template.file_name]
        also = f" (the same file is recorded as {', '.join(elsewhere)})" if elsewhere else ""
        fix = (f"{facts.source} lists no {volid} on {node!r}{also}: put it there (pveam download "
               f"{template.datastore_id} {template.file_name}), then re-record with {command}")
    return (
        f"template {template_name!r} has no known '{role}' GID, and {where}{hint}. {fix}; or read it from "
        f"the template (tar -xOf <template> ./etc/group | grep '^{role}:') and pass {explicit}. {never}"
    )
