"""pytest fixtures around `harness`; import them into a conftest.py:

    from pve_gpu_lxc_testing.standin.fixtures import standin, standin_reattached, synthesized  # noqa: F401
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from pve_gpu_lxc_testing.standin.harness import StandinEnv, standin_env, synth_app


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[StandinEnv]:
    """Mirror mode: terraform starts the stand-in itself; node root under tmp_path."""
    env = standin_env(tmp_path)
    yield env
    env.close()


@pytest.fixture
def standin_reattached(tmp_path: Path) -> Iterator[StandinEnv]:
    """Reattach mode: one provider process for this test, stopped afterwards."""
    env = standin_env(tmp_path, reattach=True)
    try:
        yield env
    finally:
        env.close()


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's stacks synthesized once per session into a temp dir (`<dir>/stacks/<name>`)."""
    return synth_app(tmp_path_factory.mktemp("cdktf-out"))
