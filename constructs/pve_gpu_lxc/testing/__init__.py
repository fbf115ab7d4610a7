"""Test helpers for your own stacks, as this project tests its own.

    from pve_gpu_lxc.testing import assert_device, assert_idmap, container, containers, synth

- `synth(stack)`: the stack's Terraform JSON as a dict, after running every construct
  validation and checking every bpg resource and data source against the provider schema
  this package keeps; a failure raises `ValidationFailed` or `SchemaViolation` (both
  `AssertionError`s) listing every problem.
- `containers(doc)`: the stack's `proxmox_virtual_environment_container` bodies, keyed by
  their Terraform resource name, which for a `GpuContainer` is its construct id.
  `container(doc, key)`: one of them, by that name or by its `vm_id` (an int).
- `assert_device(doc, key, path, gid=, uid=, mode=, deny_write=)`, `assert_idmap(doc, key,
  lines)`: `AssertionError`s that show what was expected and everything the container has.

The pytest plugin (`pve_gpu_lxc.testing.plugin`, registered as a `pytest11` entry point)
adds the fixtures `pve_app` and `pve_stack`.  Importing this package loads neither pytest
nor the CDK engine: `synth` starts the engine when first called.
"""

from __future__ import annotations

from .assertions import assert_device as assert_device
from .assertions import assert_idmap as assert_idmap
from .assertions import container as container
from .assertions import containers as containers
from .synth import SchemaViolation as SchemaViolation
from .synth import SynthError as SynthError
from .synth import ValidationFailed as ValidationFailed
from .synth import synth as synth

__all__ = [
    "SchemaViolation",
    "SynthError",
    "ValidationFailed",
    "assert_device",
    "assert_idmap",
    "container",
    "containers",
    "synth",
]
