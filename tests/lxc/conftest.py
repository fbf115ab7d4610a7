"""Fixtures for the LXC tests: a machine check that FAILS (never skips), and a harness
fixture that asserts every container, node, mount and subid entry is gone afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from pve_gpu_lxc_testing.lxc import LxcHarness, preflight, subids

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
