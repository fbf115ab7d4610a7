"""Fixtures of the simulated node's own tests: each module starts its node (`sim`), these give a
logged-in root client of it and vmids no other test of the session has taken."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from pve_gpu_lxc_testing.pvesim import Simulator
from tests.pvesim.test_api import FACTS, TEMPLATE, Client

_vmids = itertools.count(300)


@pytest.fixture
def vmid() -> int:
    return next(_vmids)


@pytest.fixture
def root(sim: Simulator) -> Client:
    return Client.root(sim)


@contextmanager
def module_sim(factory: pytest.TempPathFactory, name: str, *, template: bool = True,
               **options: Any) -> Iterator[Simulator]:
    """A node with the example facts under a fresh directory `name`, the API's template volume
    seeded unless `template` is False (PVE refuses a create from a missing volume)."""
    base = factory.mktemp(name)
    with Simulator(base / "node", base / "state", facts=FACTS, **options) as s:
        if template:
            s.files.volume_path(TEMPLATE).write_bytes(b"not really a tarball")
        yield s
