"""Which containers on a cluster a stack owns: the ownership tag and the vm_id guard (pure).

bpg/proxmox 0.111.1 treats a container create that fails with "already exists" as done
(`proxmox/nodes/containers/containers.go`: `retry.WithAlreadyDoneCheck(retry.ErrorContains(
"already exists"))`).  That lets an apply killed half-way finish on the next run, but it also
adopts any container that already has the vm_id: the apply exits 0, bpg writes this
container's `lxc.idmap` lines into the other container's file, and a later destroy deletes it
with its disk.  This module holds the rules that stop it:

* **the tag**: every GpuContainer carries the Proxmox tag
  `pve-gpu-lxc.<stack>.<construct id>` (`Owner.tag`), sent in bpg's create request itself
  (`tags`), so a container this stack created is marked from its first moment, also when the
  apply dies right after the create;
* **the guard**: a Terraform precondition on each container resource (`guard`), over bpg's
  `proxmox_virtual_environment_containers` listing of the cluster: the plan stops when the
  vm_id is taken by a container that carries no tag of this stack
  (`pve-gpu-lxc.<stack>.*`), naming the vm_id, the node and the other container's host name;
* **the same rule in Python** (`blocks`, `orphans`) for `check` and `drift`.

Any tag of the stack counts, not only the container's exact one: a construct renamed with a
`moved` block (the same container, now under another id) must not stop its own plan, and the
stack name is what tells two deployments apart.  Names are reduced to PVE's tag characters
(`tag_part`): lower case (PVE lower-cases tags), everything but `a-z 0-9 _ -` becomes `-`, so
the two dots always separate the three parts.  No cdktf import here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..pve.synthesized import escape_literal

TAG_PREFIX = "pve-gpu-lxc"
# bpg 0.111.1 never reads a template back, so an imported container (no template in its state)
# would be replaced on every plan unless its template is ignored.
IMPORT_IGNORED_CHANGES = ("operating_system[0].template_file_id",)
_NOT_IN_PART = re.compile(r"[^a-z0-9_-]")


def tag_part(name: str) -> str:
    """`name` as one part of an ownership tag: lower case, each character but a-z 0-9 _ - as `-`."""
    return _NOT_IN_PART.sub("-", name.lower()) or "-"


def is_reserved(tag: str) -> bool:
    """A tag a user may not set: the ownership tags' namespace."""
    return tag.lower().startswith(TAG_PREFIX + ".")


@dataclass(frozen=True)
class Owner:
    """The stack and construct that own a container."""

    stack: str  # the stack's name (its construct id: cdktf.out/stacks/<stack>)
    construct_id: str  # the GpuContainer's construct id

    @property
    def tag(self) -> str:
        """The container's ownership tag: `pve-gpu-lxc.<stack>.<construct id>`."""
        return f"{self.stack_prefix}{tag_part(self.construct_id)}"

    @property
    def stack_prefix(self) -> str:
        """What every ownership tag of the stack starts with: `pve-gpu-lxc.<stack>.`."""
        return stack_prefix(self.stack)


def stack_prefix(stack: str) -> str:
    return f"{TAG_PREFIX}.{tag_part(stack)}."


@dataclass(frozen=True)
class OwnershipTag:
    """A parsed ownership tag (its parts as reduced: lower case)."""

    stack: str
    construct_id: str


def parse_tag(tag: str) -> OwnershipTag | None:
    """The stack and construct id of an ownership tag, None for any other tag."""
    parts = tag.lower().split(".")
    if len(parts) != 3 or parts[0] != TAG_PREFIX or not parts[1] or not parts[2]:
        return None
    return OwnershipTag(parts[1], parts[2])


def stack_owns(tags: Iterable[str], stack: str) -> bool:
    """Whether `tags` hold an ownership tag of `stack`."""
    return ownership_tag(tags, stack) is not None


def ownership_tag(tags: Iterable[str], stack: str) -> str | None:
    """The first ownership tag of `stack` in `tags`, or None."""
    part = tag_part(stack)
    return next((t for t in tags if (found := parse_tag(t)) is not None and found.stack == part), None)


# --- the rule, in Python: for check and drift ---------------------------------------------------


@dataclass(frozen=True)
class Listed:
    """One container a node lists (`GET /nodes/{node}/lxc`, bpg's containers data source)."""

    vmid: int
    node: str
    name: str  # the host name (PVE: `CT<vmid>` when it has none)
    tags: tuple[str, ...] = ()
    lock: str | None = None  # PVE's listing has it (vmstatus); bpg's data source does not

    @property
    def dead_create(self) -> bool:
        """What a create task that died leaves: `lock: create` on a config with nothing else, so
        no tag (pve-container Create.pm create_and_lock_config writes it before the task runs)."""
        return self.lock == "create" and not self.tags


def blocks(listed: Listed, *, stack: str, vm_id: int, hostname: str, imported: bool) -> bool:
    """Whether `listed` stops the plan of a GpuContainer with `vm_id` in `stack` (the guard's rule).

    It does when it has the vm_id and no ownership tag of the stack; for a container declared
    with `import_existing=True`, a container with the declared host name is the one to import.
    """
    if listed.vmid != vm_id or stack_owns(listed.tags, stack):
        return False
    return not (imported and listed.name == hostname)


def orphans(listed: Iterable[Listed], stack: str, managed_vmids: Iterable[int]) -> list[Listed]:
    """Containers that carry an ownership tag of `stack` but whose vm_id no container of it has."""
    managed = set(managed_vmids)
    return sorted((c for c in listed if c.vmid not in managed and stack_owns(c.tags, stack)),
                  key=lambda c: (c.vmid, c.node))


# --- the rule, in Terraform's language: the precondition on the container resource --------------


@dataclass(frozen=True)
class Guard:
    """A `lifecycle.precondition` block: the condition and the error message (Terraform templates)."""

    condition: str
    error_message: str


def _hcl_string(text: str) -> str:
    """A quoted HCL string literal of `text` (a value made of tag or host name characters)."""
    return '"' + escape_literal(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def guard(listing: str, *, owner: Owner, vm_id: int, hostname: str, tags: Sequence[str], imported: bool) -> Guard:
    """The precondition for one container resource.

    listing: the data source's address (`data.proxmox_virtual_environment_containers.<name>`),
    whose `containers` are the cluster's containers, each with `vm_id`, `node_name`, `name` (its
    host name) and `tags` (null when it has none).  tags: the container's own tags (with its
    ownership tag), for the fix that puts a lost tag back.
    """
    prefix = _hcl_string(owner.stack_prefix)
    tags_of_c = "(c.tags == null ? [] : c.tags)"  # bpg lists no tags as [] (null is handled too)
    ours = f"anytrue([for t in {tags_of_c} : startswith(t, {prefix})])"
    passes = f"c.vm_id != {vm_id} || {ours}"
    if imported:
        passes += f" || c.name == {_hcl_string(hostname)}"
    condition = f"${{alltrue([for c in {listing}.containers : {passes}])}}"
    found_tags = f'length({tags_of_c}) == 0 ? "none" : join(";", {tags_of_c})'
    taken_by = (f'${{join(" and ", [for c in {listing}.containers : '
                f'"container \'${{c.name}}\' on node ${{c.node_name}} (tags: ${{{found_tags}}})" if !({passes})])}}')
    who = escape_literal(f"GpuContainer '{owner.construct_id}' of stack '{owner.stack}'")
    stack_tags = escape_literal(f"{owner.stack_prefix}*")
    if imported:
        message = (
            f"{who} imports vm_id {vm_id} (import_existing=True) as host '{hostname}', but vm_id {vm_id} is "
            f"{taken_by}, which carries no {stack_tags} tag and has another host name: importing it would write "
            f"this container's settings into another container. Fix: check vm_id {vm_id}; to import that "
            f"container, declare its host name (change it after the import), or pick the vm_id of the container "
            "you mean."
        )
    else:
        pct_tags = escape_literal(";".join(tags))
        message = (
            f"{who}: vm_id {vm_id} is taken by {taken_by}, which this stack did not create (it carries no "
            f"{stack_tags} tag). Applying would adopt it: bpg/proxmox treats the create's 'already exists' as "
            f"done, writes this container's settings into it, and a destroy would delete it with its disk. "
            f"Fix: give GpuContainer '{escape_literal(owner.construct_id)}' a vm_id that no container or VM on the "
            f"cluster uses (`pvesh get /cluster/nextid` names one); if CT {vm_id} is this stack's own container "
            f"whose tag was lost (or it was made before pve-gpu-lxc tagged its containers), put the tag back on "
            f"its node: `pct set {vm_id} --tags '{pct_tags}'`; to take over a container made outside this "
            "stack, declare it with GpuContainer(..., import_existing=True)."
        )
    return Guard(condition=condition, error_message=message)
