"""The plan report's values: what drifted or changes, per resource and per stack (pure).

`parse` builds them from `terraform show -json` output, `diff` compares attribute trees,
`format` renders them as text and JSON; the exit code comes from `cli/exit_codes.py`.
Display placeholders (sensitive, unknown, absent) are markers, never real values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ...pve.synthesized import CONTAINER_TYPE

if TYPE_CHECKING:
    from .ownership import OwnershipFinding

# Resources whose replacement or destruction deserves a loud warning: replacing
# a GPU container throws away its root disk and everything installed in it.
DESTRUCTIVE_TYPES = frozenset({CONTAINER_TYPE})

SENSITIVE = "(sensitive)"
UNKNOWN = "(known after apply)"
ABSENT = "(absent)"

Mode = Literal["drift", "plan"]


class Marker(str):
    """A display placeholder (sensitive/unknown/absent), never a real value."""


SENSITIVE_MARK = Marker(SENSITIVE)
UNKNOWN_MARK = Marker(UNKNOWN)
ABSENT_MARK = Marker(ABSENT)


@dataclass(frozen=True)
class AttributeChange:
    """One leaf that differs: `path` like ``device_passthrough[0].path``."""

    path: str
    before: Any
    after: Any
    forces_replacement: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "before": json_value(self.before),
            "after": json_value(self.after),
            "forces_replacement": self.forces_replacement,
        }


@dataclass(frozen=True)
class ResourceDiff:
    """A resource that drifted (kind "drift") or that the plan changes (kind "change")."""

    address: str
    type: str
    kind: Literal["drift", "change"]
    actions: tuple[str, ...]
    attributes: tuple[AttributeChange, ...] = ()
    reason: str | None = None

    @property
    def action(self) -> str:
        """One word: create, update, delete, replace, read or no-op."""
        acts = set(self.actions)
        if {"create", "delete"} <= acts:
            return "replace"
        return self.actions[0] if self.actions else "no-op"

    @property
    def destructive(self) -> bool:
        """A planned replacement or destruction of a GPU container."""
        return (
            self.kind == "change"
            and self.type in DESTRUCTIVE_TYPES
            and "delete" in self.actions
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "type": self.type,
            "action": self.action,
            "actions": list(self.actions),
            "reason": self.reason,
            "destructive": self.destructive,
            "attributes": [a.to_json() for a in self.attributes],
        }


@dataclass(frozen=True)
class StackReport:
    """What one stack's plan says; `error` set when Terraform could not plan."""

    stack: str
    mode: Mode
    drift: tuple[ResourceDiff, ...] = ()
    changes: tuple[ResourceDiff, ...] = ()
    outputs: tuple[str, ...] = ()
    # resources the state marks tainted (an apply created them, then failed): the next apply
    # replaces them; in drift mode they count as drift
    tainted: tuple[str, ...] = ()
    error: str | None = None
    # Terraform's -detailed-exitcode said 2.  Kept for the record only:
    # Terraform 1.10/1.11 with -refresh-only also says 2 when nothing drifted
    # (its own text reads "No changes"; hashicorp/terraform#36403), so the
    # verdict comes from the itemised drift and changes instead.
    terraform_saw_changes: bool = False
    plan_file: str | None = None
    seconds: float | None = field(default=None, compare=False)
    # vm_id collisions the guard reported and orphaned containers of the stack (plan/ownership.py)
    ownership: tuple[OwnershipFinding, ...] = ()

    @property
    def destructive(self) -> tuple[ResourceDiff, ...]:
        return tuple(r for r in self.changes if r.destructive)

    @property
    def has_changes(self) -> bool:
        """Drift mode: something drifted.  Plan mode: an apply would change something."""
        if self.mode == "drift":
            return bool(self.drift or self.tainted)
        return bool(self.changes or self.outputs)

    @property
    def status(self) -> str:
        """error | destructive | drift | changes | ownership | clean."""
        if self.error is not None:
            return "error"
        if self.destructive:
            return "destructive"
        if self.has_changes:
            return "drift" if self.mode == "drift" else "changes"
        return "ownership" if self.ownership else "clean"

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "mode": self.mode,
            "status": self.status,
            "error": self.error,
            "plan_file": self.plan_file,
            "seconds": None if self.seconds is None else round(self.seconds, 2),
            "drift": [r.to_json() for r in self.drift],
            "changes": [r.to_json() for r in self.changes],
            "outputs": list(self.outputs),
            "ownership": [f.to_json() for f in self.ownership],
            "tainted": list(self.tainted),
        }


def json_value(value: Any) -> Any:
    """A report value as JSON: markers become their text (absent: null)."""
    if isinstance(value, Marker):
        return None if value is ABSENT_MARK else str(value)
    if isinstance(value, Mapping):
        return {k: json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_value(v) for v in value]
    return value
