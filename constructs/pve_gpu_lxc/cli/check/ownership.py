"""The `ownership` item: vm_id collisions and orphans, from `GET /nodes/{node}/lxc` (pure).

The rule is the guard's (`model/ownership.py`): a GPU container's vm_id is another's when the
node lists a container there without an ownership tag of the stack (for `import_existing=True`:
and with another host name); the next plan stops at the guard.  An orphan is a container with a
tag of the stack whose vm_id no container of the stack has: left in no state by an interrupted
apply, a `terraform state rm` or a lost state file, or removed from the configuration and not
yet destroyed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ...model.ownership import Listed, ownership_tag, stack_prefix
from ...model.ownership import orphans as find_orphans
from ...pve.synthesized import ExpectedContainer
from .findings import Finding


def _tags(listed: Listed) -> str:
    return ";".join(listed.tags) or "none"


def _who(listed: Listed) -> str:
    return f"container '{listed.name}' on node {listed.node} (tags: {_tags(listed)})"


def collision(exp: ExpectedContainer, blocking: Sequence[Listed], deploy: str) -> Finding:
    """The finding for a GPU container whose vm_id the node lists for containers that are not the stack's."""
    who = " and ".join(_who(b) for b in blocking)
    prefix = f"{stack_prefix(exp.stack)}*"
    if exp.imported:
        problem = (f"vm_id {exp.vmid} is {who}, not host '{exp.hostname}' as declared for the import "
                   f"(import_existing=True), and it carries no {prefix} tag: the plan stops at the guard (importing "
                   "it would write this container's settings into another container).")
        fix = (f"check vm_id {exp.vmid}; to import that container declare its host name (change it after the "
               f"import), then {deploy}.")
    else:
        problem = (f"vm_id {exp.vmid} is taken by {who}, which this stack did not create (it carries no {prefix} "
                   f"tag): the plan stops at the guard ({deploy} would otherwise adopt it, write this container's "
                   "settings into it, and a destroy would delete it with its disk).")
        own = ownership_tag(exp.tags, exp.stack)
        tags = ";".join(exp.tags)
        fix = (f"give {exp.address} a vm_id no container or VM on the cluster uses (`pvesh get /cluster/nextid`); "
               f"if CT {exp.vmid} is this stack's own container whose tag {own or prefix} was lost, put it back on "
               f"{blocking[0].node}: `pct set {exp.vmid} --tags '{tags}'`; to take over a container made outside "
               "the stack, declare it with GpuContainer(..., import_existing=True).")
    return Finding("ownership", f"vm_id {exp.vmid}", problem, fix, expected=f"free, or a {prefix} tag",
                   found=[{"node": b.node, "name": b.name, "tags": list(b.tags)} for b in blocking])


# An orphan's text, shared with drift's (cli/plan/ownership.py): what it is, how it came about, the way out.
ORPHAN_CAUSES = "(an interrupted apply, `terraform state rm` or a lost state file)"


def orphan_head(listed: Listed, stack: str, where: str) -> str:
    """`CT <vmid> ('<name>') on node <node> carries this stack's tag <tag>, but no container <where> has
    vm_id <vmid>`: the start of an orphan's problem."""
    return (f"CT {listed.vmid} ('{listed.name}') on node {listed.node} carries this stack's tag "
            f"{ownership_tag(listed.tags, stack)}, but no container {where} has vm_id {listed.vmid}")


def orphan_removal(listed: Listed) -> str:
    """The fix for an orphan in no state: remove it, or keep it by declaring it for an import."""
    return (f"remove it on {listed.node}: `pct destroy {listed.vmid}` (its disk goes with it), or keep it: declare "
            f"it with GpuContainer(..., vm_id={listed.vmid}, import_existing=True)")


def orphan(stack: str, listed: Listed, deploy: str) -> Finding:
    """The finding for a container with the stack's tag at a vm_id none of its containers has."""
    problem = (f"{orphan_head(listed, stack, f'of stack {stack}')}: an orphan in no state {ORPHAN_CAUSES}, or a "
               "container removed from the configuration that the next deploy destroys.")
    fix = (f"if it is in no state (`pve-gpu-lxc drift` says so), {orphan_removal(listed)}; if it is in the state, "
           f"{deploy} destroys it.")
    return Finding("ownership", f"CT {listed.vmid} on {listed.node}", problem, fix, expected="in the stack",
                   found={"node": listed.node, "name": listed.name, "tags": list(listed.tags)})


def orphans(stack: str, listed: Iterable[Listed], managed: Iterable[int], deploy: str) -> list[Finding]:
    return [orphan(stack, c, deploy) for c in find_orphans(listed, stack, managed)]
