"""The rules that need the app's other containers: VM ids and shared template files (pure).

An `AppModel` belongs to one CDKTF app (the cdk layer keeps it in the construct tree, as a
child of the App, never in a module global).  `admit` checks a resolved container against
the ones already admitted and records it only when every check passes:

- a VMID is unique per cluster in Proxmox VE.  The library knows two facts about clusters:
  a node belongs to one cluster, and the nodes one stack reaches are one cluster (a stack's
  containers all use its one `proxmox` provider, which talks to one cluster's API).  So a
  VMID may repeat only on nodes that no stack joins; within a node or a stack it may not.
- a downloaded or uploaded template is one resource per stack, node and file: two
  different files (url, checksum, source) under one such key are refused.
- the ownership tag names the stack (`pve-gpu-lxc.<stack>.<id>`, reduced to PVE's tag
  characters): two stacks whose names reduce to the same part could not tell their
  containers apart, so the second is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core.errors import ValidationError
from .container import ContainerModel
from .ownership import stack_prefix, tag_part
from .template import TemplateBinding


@dataclass(frozen=True)
class Admission:
    """What the cdk layer does for an admitted container: bind the template, if any."""

    template: TemplateBinding | None
    template_is_new: bool


@dataclass
class _Claim:
    vm_id: int
    node_name: str
    stack: str
    owner: object  # str(owner) is the construct path, computed only for a message


@dataclass
class _Clusters:
    """Union-find over node names: nodes reached by one stack are one cluster."""

    parent: dict[str, str] = field(default_factory=dict)
    stack_node: dict[str, str] = field(default_factory=dict)  # a node of each stack

    def find(self, node: str) -> str:
        root = self.parent.setdefault(node, node)
        while root != self.parent[root]:
            root = self.parent[root]
        self.parent[node] = root
        return root

    def joined(self, node: str, stack: str) -> list[str]:
        """The cluster roots `node` would belong to once it is in `stack`: its own, then the stack's if other."""
        roots = [self.find(node)]
        if stack in self.stack_node and self.find(self.stack_node[stack]) != roots[0]:
            roots.append(self.find(self.stack_node[stack]))
        return roots

    def join(self, node: str, stack: str) -> None:
        other = self.stack_node.setdefault(stack, node)
        self.parent[self.find(node)] = self.find(other)


class AppModel:
    """The app's admitted containers and shared template files."""

    def __init__(self) -> None:
        self._claims: dict[tuple[str, int], _Claim] = {}
        self._by_vm_id: dict[int, list[_Claim]] = {}
        self._clusters = _Clusters()
        self._templates: dict[tuple[str, str], TemplateBinding] = {}
        self._tag_parts: dict[str, tuple[str, str]] = {}  # a stack's tag part -> (stack key, stack label)

    def admit(self, model: ContainerModel, *, stack: str, stack_label: str, owner: object) -> Admission:
        """Check `model` against the app's other containers; record it when every check passes.

        stack: a key naming the container's stack (its construct path); stack_label: how the
        stack reads in messages; owner: the container, `str(owner)` naming it in messages.
        """
        node, vm_id = model.props.node_name, model.props.vm_id
        self._check_vm_id(node, vm_id, stack, stack_label)
        tag_stack = tag_part(model.owner.stack) if model.owner is not None else None
        other = self._tag_parts.get(tag_stack) if tag_stack is not None else None
        if other is not None and other[0] != stack:
            raise ValidationError(
                f"stacks '{other[1]}' and '{stack_label}' would both tag their containers "
                f"{stack_prefix(stack_label)}* (the ownership tag is lower case, with '-' for characters PVE tags "
                "do not allow), so neither could tell its containers from the other's; rename one stack"
            )
        binding = model.props.template.binding(node)
        known = self._templates.get((stack, binding.key)) if binding is not None else None
        if binding is not None and known is not None and known.identity != binding.identity:
            raise ValidationError(
                f"Template {binding.template.file_name} on node {node} is {binding.clash} in stack "
                f"'{stack_label}'; use one Template value"
            )
        # every check has passed: record
        claim = _Claim(vm_id, node, stack, owner)
        self._claims[(node, vm_id)] = claim
        self._by_vm_id.setdefault(vm_id, []).append(claim)
        self._clusters.join(node, stack)
        if tag_stack is not None:
            self._tag_parts.setdefault(tag_stack, (stack, stack_label))
        if binding is not None and known is None:
            self._templates[(stack, binding.key)] = binding
        return Admission(template=known or binding, template_is_new=binding is not None and known is None)

    def _check_vm_id(self, node: str, vm_id: int, stack: str, stack_label: str) -> None:
        same_node = self._claims.get((node, vm_id))
        if same_node is not None:
            raise ValidationError(
                f"vm_id {vm_id} on node '{node}' is already used by GpuContainer '{same_node.owner}'; "
                "each container on a node needs its own vm_id"
            )
        cluster = self._clusters.joined(node, stack)
        for other in self._by_vm_id.get(vm_id, ()):
            if self._clusters.find(other.node_name) in cluster:
                raise ValidationError(
                    f"vm_id {vm_id} is already used by GpuContainer '{other.owner}' on node '{other.node_name}', "
                    f"which is in one cluster with node '{node}' (a stack's provider reaches one cluster, and "
                    "VMIDs are unique per cluster in Proxmox VE); give each container its own vm_id"
                )
        if len(cluster) == 2:  # this container joins two clusters: their VMIDs must not collide
            left, right = self._vm_ids_of(cluster[0]), self._vm_ids_of(cluster[1])
            for shared in sorted(set(left) & set(right)):
                a, b = left[shared], right[shared]
                raise ValidationError(
                    f"node '{node}' in stack '{stack_label}' puts nodes '{a.node_name}' and '{b.node_name}' into one "
                    f"cluster, where vm_id {shared} is used twice (GpuContainer '{a.owner}' and '{b.owner}'); "
                    "VMIDs are unique per cluster in Proxmox VE: give each container its own vm_id"
                )

    def _vm_ids_of(self, root: str) -> dict[int, _Claim]:
        return {c.vm_id: c for (n, _), c in self._claims.items() if self._clusters.find(n) == root}
