"""End-to-end fixtures: real terraform/tofu, cdktf-cli and bpg/proxmox against the simulated node."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

from pve_gpu_lxc_testing.e2e.harness import SimEnv, sim_env

TEMPLATES = (
    "local:vztmpl/debian-12-standard_12.2-1_amd64.tar.zst",
    "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst",
)


def seed_templates(env: SimEnv) -> None:
    """The example stacks' templates on the node (PVE refuses to create from a missing volume)."""
    for volid in TEMPLATES:
        if not env.volume_path(volid).exists():
            env.seed_volume(volid, b"template")


def assert_every_request_was_validated(env: SimEnv) -> None:
    """Every authenticated request of the run was checked against PVE's API description
    (pvesim/apischema.py): none reached a path the simulated node does not serve."""
    api2 = env.sim.server.api2 if env.sim.server is not None else None
    assert api2 is not None and not api2.unvalidated, f"requests not validated: {api2 and api2.unvalidated}"


@contextmanager
def oci_sim(base: Path, registry: Any) -> Iterator[SimEnv]:
    """A simulated node that trusts the tests' registry (its CA in the node's
    /etc/containers/certs.d), every request checked when it closes."""
    env = sim_env(base)
    try:
        registry.trust(env.node_root)
        yield env
        assert_every_request_was_validated(env)
    finally:
        env.close()


@pytest.fixture(scope="module")
def shared_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimEnv]:
    """One simulated node for a whole test module (stacks use distinct vm_ids)."""
    env = sim_env(tmp_path_factory.mktemp("sim"))
    try:
        seed_templates(env)
        yield env
        assert_every_request_was_validated(env)
    finally:
        env.close()


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimEnv]:
    """A simulated node of the test's own."""
    env = sim_env(tmp_path / "sim")
    try:
        seed_templates(env)
        yield env
        assert_every_request_was_validated(env)
    finally:
        env.close()
