"""`synth(stack)`: a stack's Terraform JSON, validated and checked against the bpg schema.

The engine is imported when `synth` is first called, not when this module is imported, so
the pytest plugin and the pure helpers load without starting the engine's node process.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..l1.schema import PROVIDER_VERSION, check_synthesized

if TYPE_CHECKING:
    from ..engine import TerraformStack


class SynthError(AssertionError):
    """A stack that does not synthesize to what it should; `problems` lists each one."""

    def __init__(self, headline: str, problems: list[str]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        super().__init__(f"{headline} ({len(problems)}):\n" + "\n".join(f"  {p}" for p in problems))


class ValidationFailed(SynthError):
    """Construct validations failed (each problem is `[construct path] message`, as cdktf prints it)."""


class SchemaViolation(SynthError):
    """The synthesized JSON breaks the kept bpg/proxmox schema (each problem names the address and attribute)."""


def synth(stack: TerraformStack, *, validate: bool = True, check_schema: bool = True) -> dict[str, Any]:
    """Synthesize `stack` and return its Terraform JSON, parsed.

    `validate` runs every construct validation of the stack (what `cdktf synth` runs, e.g.
    a GPU container whose provider authenticates with an API token): all failures are
    raised together as `ValidationFailed`.  `check_schema` checks every `proxmox_*`
    resource, data source and the provider block against the bpg/proxmox schema this
    package keeps (unknown attributes or blocks, missing required ones, wrong types or
    nesting, deprecated attributes): all violations are raised as `SchemaViolation`.
    Turn either off to look at the JSON of a stack that fails it.
    """
    __tracebackhide__ = True  # pytest shows the caller's line, not this helper's
    from ..engine import TerraformStack, Testing

    if not isinstance(stack, TerraformStack):
        raise TypeError(f"synth() takes a TerraformStack, got {type(stack).__name__} {stack!r}")
    if not validate:
        text = Testing.synth(stack, False)
    else:
        try:
            text = Testing.synth(stack, True)
        except RuntimeError:
            # The engine's message is one string; collect the failures one by one (aspects ran already).
            problems = _validation_problems(stack)
            if not problems:
                raise
            raise ValidationFailed(f"stack {stack.node.path!r} failed its construct validations", problems) from None
    doc: dict[str, Any] = json.loads(text)
    if check_schema:
        errors = check_synthesized(doc)
        if errors:
            raise SchemaViolation(
                f"stack {stack.node.path!r}: the synthesized JSON breaks the bpg/proxmox {PROVIDER_VERSION} schema",
                errors,
            )
    return doc


def _validation_problems(stack: TerraformStack) -> list[str]:
    return [f"[{c.node.path}] {message}" for c in stack.node.find_all() for message in c.node.validate()]
