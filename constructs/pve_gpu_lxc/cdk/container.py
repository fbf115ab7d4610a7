"""GpuContainer: one GPU-enabled LXC container on a Proxmox node.

Translates props into the pure `ContainerModel` and the model into bpg L1
resources: the container (primary resource, exposed as `.resource` for escape
hatches), its hookscript snippet when one is needed, and the template download
when the template is downloaded.  No arithmetic here.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jsii
from cdktf import TerraformOutput
from constructs import Construct, IValidation

from ..model.auth import root_pam_problem, ssh_problem
from ..core.errors import ValidationError, in_construct
from ..model.gpus import nvidia_driver_version, resolve_gpus
from .hookscript import HookScript
from ..model.idmap import IdMap
from ..l1.base import escape_literal
from ..l1.generated import (
    ContainerCpu,
    ContainerDevicePassthrough,
    ContainerDisk,
    ContainerFeatures,
    ContainerIdmap,
    ContainerInitialization,
    ContainerInitializationIpConfig,
    ContainerInitializationIpConfigIpv4,
    ContainerInitializationUserAccount,
    ContainerMemory,
    ContainerNetworkInterface,
    ContainerOperatingSystem,
    VirtualEnvironmentContainer,
)
from ..model.container import ContainerModel, build_model
from ..model.props import GpuContainerProps
from .provider import ProxmoxProvider

# app -> {(node, vm_id): construct path}: a VMID is unique on a node.  Keyed by the jsii
# object reference, because jsii hands out a new Python proxy for the root on every access.
_VMIDS: dict[str, dict[tuple[str, int], tuple[Construct, str]]] = {}
# Caches keyed by jsii refs, to save jsii round trips (each ~0.5 ms; see docs/benchmarks.md):
# a scope's app never changes, and a stack's first ProxmoxProvider child, once there, stays first.
_ROOT_REFS: dict[str, str] = {}
_PROVIDERS: dict[str, ProxmoxProvider] = {}
_NO_PROVIDER_AT_BUILD: set[str] = set()  # scopes whose provider was missing when a container was built


class GpuContainer(Construct):
    """A GPU-enabled LXC container (`proxmox_virtual_environment_container`).

    Pass a `GpuContainerProps`, or its fields as keyword arguments:

        GpuContainer(stack, "jellyfin", node_name="pve", vm_id=210, hostname="jellyfin",
                     template=Template.existing("local:vztmpl/debian-13-standard_13.1-2_amd64.tar.zst"),
                     gpus=[IntelGpu()])

    The construct id names the Terraform resource: renaming it replaces the container.
    With `host_facts` (see GpuContainerProps) GPUs can be selected by PCI address and the
    container is checked against what the node really has.
    """

    def __init__(self, scope: Construct, id: str, props: GpuContainerProps | None = None, **kwargs: Any) -> None:
        try:
            if props is None:
                props = GpuContainerProps(**kwargs)
            elif kwargs:
                raise ValidationError(f"give props or keyword arguments, not both (got {sorted(kwargs)})")
            props = _with_resolved_gpus(props)
            model = build_model(props, props.template.gids(), props.template.file_name)
            _check_fit(props, model)
            vm_ids = _free_vm_id(scope, id, props.node_name, props.vm_id)
            # last check: it creates the stack's shared template resource when it succeeds
            template_file_id = props.template.bind(scope, props.node_name)
        except ValidationError as err:
            raise in_construct("GpuContainer", _path(scope, id), err) from None
        except TypeError as err:  # unknown or missing keyword arguments
            raise ValidationError(f"GpuContainer '{_path(scope, id)}': {err}".replace("GpuContainerProps.__init__()", "props")) from None
        # nothing is added to the tree or claimed until every check has passed
        vm_ids[(props.node_name, props.vm_id)] = (scope, id)
        super().__init__(scope, id)
        self.props = props
        self.model: ContainerModel = model

        self.hook_script: HookScript | None = None
        hook_text = model.hookscript
        if hook_text is not None:
            self.hook_script = HookScript(
                self,
                "HookScript",
                node_name=props.node_name,
                datastore_id=props.snippets_datastore_id,
                file_name=model.hook_file_name,
                content=hook_text,
            )
        self.resource = VirtualEnvironmentContainer(self, "Default", **self._container_config(template_file_id))
        if props.idmap is not None and props.idmap.subgid_lines() + props.idmap.subuid_lines():
            TerraformOutput(
                self,
                "host_subid_lines",
                value={"subuid": props.idmap.subuid_lines(), "subgid": props.idmap.subgid_lines()},
                description=f"lines node {props.node_name} needs in /etc/subuid and /etc/subgid for CT {props.vm_id}",
            ).override_logical_id(f"{id}_host_subid_lines")
        check = _ProviderCheck(self, scope)
        if not check.passes_now():  # else synth would call back into Python only to return []
            self.node.add_validation(check)

    def _container_config(self, template_file_id: str) -> dict[str, Any]:
        p, model = self.props, self.model
        features = p.effective_features
        initialization = ContainerInitialization(
            hostname=p.hostname,
            ip_config=[_ip_config(p)] if p.network is not None else None,
            user_account=ContainerInitializationUserAccount(keys=[k.strip() for k in p.ssh_keys]) if p.ssh_keys else None,
        )
        return dict(
            node_name=p.node_name,
            vm_id=p.vm_id,
            unprivileged=p.unprivileged,
            started=p.started,
            start_on_boot=p.start_on_boot,
            description=escape_literal(p.description) if p.description else None,
            tags=p.normalized_tags or None,
            cpu=ContainerCpu(cores=p.cores),
            memory=ContainerMemory(dedicated=p.memory_mib, swap=p.swap_mib),
            disk=ContainerDisk(datastore_id=p.disk.datastore_id, size=p.disk.size_gib),
            features=_features(features),
            initialization=initialization,
            network_interface=[_nic(p)] if p.network is not None else None,
            operating_system=ContainerOperatingSystem(
                template_file_id=template_file_id, type=p.template.operating_system_type
            ),
            device_passthrough=[
                ContainerDevicePassthrough(path=d.path, uid=d.uid, gid=d.gid, mode=d.mode, deny_write=d.deny_write)
                for d in model.devices
            ]
            or None,
            idmap=[
                ContainerIdmap(type=e.bpg_type, container_id=e.container_id, host_id=e.host_id, size=e.size)
                for e in p.idmap.entries
            ]
            if p.idmap is not None
            else None,
            hook_script_file_id=self.hook_script.file_id if self.hook_script else None,
        )

    def needs_root_pam(self) -> list[str]:
        """What in this container PVE allows only for root@pam."""
        needs = []
        if self.model.devices:
            needs.append("device passthrough (devN)")
        if self.hook_script is not None:
            needs.append("a hookscript")
        return needs

    def needs_ssh(self) -> list[str]:
        needs = []
        if self.props.idmap is not None:
            needs.append("lxc.idmap")
        if self.hook_script is not None:
            needs.append("the hookscript snippet upload")
        return needs


def _with_resolved_gpus(props: GpuContainerProps) -> GpuContainerProps:
    """GPU presets selected by PCI address or product id get their node numbers from the facts."""
    gpus = resolve_gpus(props.gpus, props.host_facts)
    return props if gpus == tuple(props.gpus) else dataclasses.replace(props, gpus=gpus)


def _check_fit(props: GpuContainerProps, model: ContainerModel) -> None:
    """The NVIDIA pin matches the template's built-in userspace and, with facts, the node."""
    pinned = nvidia_driver_version(props.gpus)
    built = getattr(props.template, "nvidia_driver", None)
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
        hook_creates=model.nvidia.created_nodes() if model.nvidia is not None else (),
        nvidia_driver=pinned,
        idmap=[(e.kind, e.host_id, e.size) for e in idmap.entries] if idmap is not None else (),
    )


def _features(f: Any) -> ContainerFeatures | None:
    if not (f.nesting or f.keyctl or f.fuse or f.mknod or f.mount):
        return None
    return ContainerFeatures(
        nesting=f.nesting or None,
        keyctl=f.keyctl or None,
        fuse=f.fuse or None,
        mknod=f.mknod or None,
        mount=list(f.mount) or None,
    )


def _nic(p: GpuContainerProps) -> ContainerNetworkInterface:
    n = p.network
    assert n is not None
    return ContainerNetworkInterface(name=n.name, bridge=n.bridge, vlan_id=n.vlan_id, firewall=n.firewall or None)


def _ip_config(p: GpuContainerProps) -> ContainerInitializationIpConfig:
    n = p.network
    assert n is not None
    return ContainerInitializationIpConfig(ipv4=ContainerInitializationIpConfigIpv4(address=n.ipv4, gateway=n.gateway))


def _path(scope: Construct, id: str) -> str:
    """The construct path of child `id` of `scope`, for messages (costs jsii calls: errors only)."""
    return f"{scope.node.path}/{id}".lstrip("/")


def _free_vm_id(scope: Construct, id: str, node_name: str, vm_id: int) -> dict[tuple[str, int], tuple[Construct, str]]:
    """Raise if the app already has `vm_id` on `node_name`; else the app's claims, to register in."""
    scope_ref = scope.__jsii_ref__.ref
    root_ref = _ROOT_REFS.get(scope_ref)
    if root_ref is None:
        root_ref = _ROOT_REFS[scope_ref] = scope.node.root.__jsii_ref__.ref
    claims = _VMIDS.setdefault(root_ref, {})
    other = claims.get((node_name, vm_id))
    if other is not None:
        raise ValidationError(
            f"vm_id {vm_id} on node '{node_name}' is already used by GpuContainer '{_path(*other)}'; "
            "each container on a node needs its own vm_id"
        )
    return claims


@jsii.implements(IValidation)
class _ProviderCheck:
    """At synth: the stack's provider can do what this container needs (auth, SSH)."""

    def __init__(self, container: GpuContainer, scope: Construct) -> None:
        self._container = container
        self._scope = scope

    def validate(self) -> list[str]:
        return self._problems(_provider_of(self._scope))

    def passes_now(self) -> bool:
        """The stack's provider exists already and allows all this container needs.

        Then the answer cannot change (the provider stays the stack's first; its auth and
        ssh and the container's needs are fixed), so the check need not run at synth.
        """
        ref = self._scope.__jsii_ref__.ref
        if ref in _NO_PROVIDER_AT_BUILD:  # look once per scope, not once per container
            return False
        provider = _provider_of(self._scope)
        if provider is None:
            _NO_PROVIDER_AT_BUILD.add(ref)
            return False
        return not self._problems(provider)

    def _problems(self, provider: ProxmoxProvider | None) -> list[str]:
        c = self._container
        prefix = "GpuContainer: "  # cdktf prefixes the construct path
        if provider is None:
            return [prefix + "its stack has no ProxmoxProvider; add ProxmoxProvider(stack, 'proxmox')"]
        problems = [
            root_pam_problem(provider.auth, c.needs_root_pam()),
            ssh_problem(provider.ssh is not None, c.needs_ssh()),
        ]
        return [prefix + p for p in problems if p]


def _provider_of(scope: Construct) -> ProxmoxProvider | None:
    """`ProxmoxProvider.of(scope)`, listing the stack's children once per scope, not per container."""
    ref = scope.__jsii_ref__.ref
    provider = _PROVIDERS.get(ref)
    if provider is None:
        provider = ProxmoxProvider.of(scope)
        if provider is not None:
            _PROVIDERS[ref] = provider
    return provider
