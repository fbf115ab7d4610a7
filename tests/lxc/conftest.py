"""Fixtures for the LXC tests: a machine check that FAILS (never skips), and a harness
fixture that asserts every container, node, mount and subid entry is gone afterwards."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from pve_gpu_lxc_testing.e2e.harness import SimEnv, sim_env, stack_dir, synth_app
from pve_gpu_lxc_testing.lxc import LxcHarness, hooks, preflight, subids

REPO = Path(__file__).resolve().parents[2]
SYNTH_TIMEOUT = 300


@pytest.fixture(scope="session")
def lxc_machine() -> None:
    reason = preflight.why_not()
    if reason:
        pytest.fail(f"this machine cannot run the LXC tests: {reason}", pytrace=False)


@pytest.fixture
def harness(lxc_machine: None) -> Iterator[LxcHarness]:
    """An LxcHarness whose clean-up is asserted after the test, pass or fail."""
    before = subids.snapshot()
    h = LxcHarness()
    with h:
        yield h
    report = h.cleanup_report
    assert report is not None and report.clean, f"LXC harness left things behind: {report}"
    after = subids.snapshot()
    assert after == before, f"/etc/subuid or /etc/subgid not restored byte for byte: {before!r} -> {after!r}"


@pytest.fixture
def fake_host(tmp_path: Path) -> Iterator[Callable[..., hooks.FakeNvidiaHost]]:
    """Builds FakeNvidiaHosts (the hook's sysroot seam: the driver's version, stand-in nodes) and
    removes their device nodes afterwards (pytest keeps tmp dirs)."""
    made: list[hooks.FakeNvidiaHost] = []

    def make(driver_version: str | None, nodes: Sequence[str] = ()) -> hooks.FakeNvidiaHost:
        host = hooks.FakeNvidiaHost(tmp_path / f"host{len(made)}", driver_version, nodes)
        made.append(host)
        return host

    yield make
    for host in made:
        shutil.rmtree(host.root)
        assert not host.root.exists()


@pytest.fixture(scope="session")
def applied_node(lxc_machine: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimEnv]:
    """Both example stacks applied by the real bpg/proxmox provider to a simulated node.

    The LXC tests boot from the conf files and the hookscript snippet this node holds
    afterwards: what the provider really wrote, not our reading of the synthesized JSON.
    """
    env = sim_env(tmp_path_factory.mktemp("lxc-node"))
    try:
        for volid in ("local:vztmpl/debian-12-standard_12.2-1_amd64.tar.zst",
                      "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst"):
            env.seed_volume(volid, b"template")
        out = synth_app(env.work_dir / "cdktf.out", env=env.env, state_dir=env.work_dir / "state")
        for stack in ("intel-jellyfin", "nvidia-ollama"):
            env.apply(stack_dir(out, stack))
        yield env
    finally:
        env.close()


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`main.py` synthesized once into a temp dir (CDKTF_OUTDIR); returns the stacks directory."""
    out = tmp_path_factory.mktemp("cdktf.out")
    env = {
        **os.environ,
        "CDKTF_OUTDIR": str(out),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "CHECKPOINT_DISABLE": "1",
        "CDKTF_DISABLE_PLUGIN_CACHE_ENV": "1",
    }
    result = subprocess.run(
        [sys.executable, "main.py"], cwd=REPO, env=env, capture_output=True, text=True, timeout=SYNTH_TIMEOUT
    )
    if result.returncode != 0:
        pytest.fail(f"synthesizing the example stacks failed:\n{result.stdout}\n{result.stderr}", pytrace=False)
    return out / "stacks"
