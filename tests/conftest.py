"""Shared fixtures.  Every stack synthesized through `synth` is checked against the bpg schema."""

from __future__ import annotations

import json
from typing import Any, Callable

import os

import pytest
from pve_gpu_lxc.engine import TerraformStack
from hypothesis import settings
from pve_gpu_lxc.engine import Testing as CdktfTesting  # renamed: pytest would try to collect `Testing*`

from pve_gpu_lxc import ProxmoxProvider
from pve_gpu_lxc.l1.schema import check_synthesized

# CI runs the same examples every time (a failure reproduces; a landing never depends on luck);
# developers' runs explore new random examples and keep failures in .hypothesis/.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# No credentials at all: synthesis must not depend on them.
NO_CREDENTIALS: dict[str, str] = {}
ROOT_PASSWORD_ENV = {"PROXMOX_VE_USERNAME": "root@pam", "PROXMOX_VE_PASSWORD": "not-a-real-password"}


def synth_json(stack: TerraformStack) -> dict[str, Any]:
    """Synthesize with validations on, parse, and fail on any bpg schema violation."""
    doc = json.loads(CdktfTesting.synth(stack, True))
    errors = check_synthesized(doc)
    assert not errors, "synthesized JSON breaks the bpg/proxmox schema:\n" + "\n".join(errors)
    return doc


@pytest.fixture
def app() -> Any:
    return CdktfTesting.app()


@pytest.fixture
def stack(app: Any) -> TerraformStack:
    """A fresh stack with a provider configured for GPU containers (root@pam password, SSH)."""
    s = TerraformStack(app, "test")
    ProxmoxProvider(s, "proxmox", environ=ROOT_PASSWORD_ENV)
    return s


@pytest.fixture
def synth() -> Callable[[TerraformStack], dict[str, Any]]:
    return synth_json


def container_of(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return doc["resource"]["proxmox_virtual_environment_container"][name]
