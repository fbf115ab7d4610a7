"""GpuContainer: one GPU-enabled LXC container on a Proxmox node.

Data goes down once: keyword arguments -> `GpuContainerProps` (validated) -> `build_model`
(every rule about the container) -> the app's `AppModel.admit` (the rules that need the
other containers) -> `container_resources` (the one mapping to L1 resources).  Nothing
is added to the tree or recorded until every check has passed; no rule lives here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import overload

from ..core.errors import ValidationError
from ..engine import Construct, IValidation, implements
from ..facts import HostFacts
from ..model.container import ContainerModel, build_model
from ..model.devices import Device
from ..model.gpus import Gpu
from ..model.hooks import Hooks
from ..model.idmap import IdMap
from ..model.ownership import Owner
from ..model.props import PROP_NAMES, REQUIRED_PROPS, Disk, Features, GpuContainerProps, Network
from ..model.template import Template
from .app_state import AppState, ConstructPath, context, in_construct
from .guard import guard_listing
from .hookscript import HookScript
from .mapping import container_resources
from .template import template_file_id


class _Unset:
    """A keyword argument that was not given (its GpuContainerProps default applies)."""

    def __repr__(self) -> str:
        return "<not given>"


_UNSET = _Unset()


class GpuContainer(Construct):
    """A GPU-enabled LXC container (`proxmox_virtual_environment_container`).

    Pass its props as keyword arguments (the fields of `GpuContainerProps`), or one
    `GpuContainerProps`:

        GpuContainer(stack, "jellyfin", node_name="pve", vm_id=210, hostname="jellyfin",
                     template=Template.existing("local:vztmpl/debian-13-standard_13.1-2_amd64.tar.zst"),
                     gpus=[IntelGpu()])

    The construct id names the Terraform resource: renaming it replaces the container.  The
    container carries the ownership tag `pve-gpu-lxc.<stack>.<id>`, and the plan stops when its
    vm_id is taken by a container without a tag of this stack (README "What is guarded").
    With `host_facts` (see GpuContainerProps) GPUs can be selected by PCI address and the
    container is checked against what the node really has.  `.resource` is the L1
    container (escape hatch), `.model` the resolved pure model, `.props` its props.
    """

    @overload
    def __init__(self, scope: Construct, id: str, props: GpuContainerProps) -> None: ...

    @overload
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        node_name: str,
        vm_id: int,
        hostname: str,
        template: Template,
        gpus: Sequence[Gpu] = (),
        devices: Sequence[Device] = (),
        cores: int = 2,
        memory_mib: int = 2048,
        swap_mib: int = 512,
        disk: Disk = ...,
        network: Network | None = ...,
        ssh_keys: Sequence[str] = (),
        tags: Sequence[str] = (),
        description: str | None = None,
        start_on_boot: bool = True,
        started: bool = True,
        unprivileged: bool = True,
        features: Features = ...,
        idmap: IdMap | None = None,
        hooks: Hooks | None = None,
        snippets_datastore_id: str = "local",
        host_facts: HostFacts | None = None,
        entrypoint: str | None = None,
        env: Mapping[str, str] = ...,
        import_existing: bool = False,
    ) -> None: ...

    def __init__(
        self,
        scope: Construct,
        id: str,
        props: object = None,
        *,
        node_name: object = _UNSET,
        vm_id: object = _UNSET,
        hostname: object = _UNSET,
        template: object = _UNSET,
        gpus: object = _UNSET,
        devices: object = _UNSET,
        cores: object = _UNSET,
        memory_mib: object = _UNSET,
        swap_mib: object = _UNSET,
        disk: object = _UNSET,
        network: object = _UNSET,
        ssh_keys: object = _UNSET,
        tags: object = _UNSET,
        description: object = _UNSET,
        start_on_boot: object = _UNSET,
        started: object = _UNSET,
        unprivileged: object = _UNSET,
        features: object = _UNSET,
        idmap: object = _UNSET,
        hooks: object = _UNSET,
        snippets_datastore_id: object = _UNSET,
        host_facts: object = _UNSET,
        entrypoint: object = _UNSET,
        env: object = _UNSET,
        import_existing: object = _UNSET,
        **unexpected: object,
    ) -> None:
        arguments = locals()
        given = {name: arguments[name] for name in PROP_NAMES if arguments[name] is not _UNSET}
        path = ConstructPath(scope, id)
        try:
            resolved = _props(props, given, unexpected)
            ctx = context(scope)
            model = build_model(resolved, owner=Owner(stack=ctx.stack_id, construct_id=id))
            admission = ctx.state.app.admit(model, stack=ctx.stack_key, stack_label=ctx.stack_id, owner=path)
        except ValidationError as err:
            raise in_construct("GpuContainer", path, err) from None
        # every check has passed: the stack's template resource first (as before: it keeps the
        # order of resources in the JSON), then the container and what it owns
        file_id = template_file_id(ctx.state, ctx.stack, ctx.stack_key, model.props.template, admission)
        super().__init__(scope, id)
        self.props: GpuContainerProps = model.props
        self.model: ContainerModel = model
        emitted = container_resources(self, id, model, file_id, guard_listing(ctx.state, ctx.stack, ctx.stack_key))
        self.resource = emitted.resource
        self.hook_script: HookScript | None = emitted.hook_script
        check = _ProviderCheck(model, ctx.state, ctx.stack_key)
        if not check.passes_now():  # else synth would call back into Python only to return []
            self.node.add_validation(check)

    def needs_root_pam(self) -> list[str]:
        """What in this container PVE allows only for root@pam."""
        return self.model.needs_root_pam()

    def needs_ssh(self) -> list[str]:
        """What bpg writes over SSH for this container."""
        return self.model.needs_ssh()


def _props(props: object, given: dict[str, object], unexpected: dict[str, object]) -> GpuContainerProps:
    """The props object, from `props` or from the keyword arguments (never both)."""
    if unexpected:
        names = ", ".join(repr(n) for n in sorted(unexpected))
        plural = "s" if len(unexpected) > 1 else ""
        raise ValidationError(
            f"props got {'unexpected keyword arguments' if plural else 'an unexpected keyword argument'} {names}; "
            f"allowed: {', '.join(PROP_NAMES)}"
        )
    if props is not None:
        if given:
            raise ValidationError(f"give props or keyword arguments, not both (got {sorted(given)})")
        if not isinstance(props, GpuContainerProps):
            raise ValidationError(
                f"props must be a GpuContainerProps (or give its fields as keyword arguments), got "
                f"{type(props).__name__}"
            )
        return props
    missing = [name for name in REQUIRED_PROPS if name not in given]
    if missing:
        raise ValidationError(
            f"props missing required keyword argument{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(n) for n in missing)}; GpuContainer needs node_name=, vm_id=, hostname= and template="
        )
    return GpuContainerProps(**given)  # type: ignore[arg-type]  # every value is type-checked in __post_init__


@implements(IValidation)
class _ProviderCheck:
    """At synth: the stack's provider can do what this container needs (auth, SSH)."""

    def __init__(self, model: ContainerModel, state: AppState, stack_key: str) -> None:
        self._model = model
        self._state = state
        self._stack_key = stack_key

    def validate(self) -> list[str]:
        provider = self._state.provider_of(self._stack_key)
        auth = provider.auth if provider is not None else None
        has_ssh = provider is not None and provider.ssh is not None
        return ["GpuContainer: " + p for p in self._model.provider_problems(auth, has_ssh)]  # cdktf adds the path

    def passes_now(self) -> bool:
        """The stack's provider exists already and allows all this container needs.

        Then the answer cannot change (the provider stays the stack's first; its auth and
        ssh and the container's needs are fixed), so the check need not run at synth.
        """
        return self._state.provider_of(self._stack_key) is not None and not self.validate()
