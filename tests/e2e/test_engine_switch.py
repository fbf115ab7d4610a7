"""A project deployed with cdktf, synthesized again with cdktn: Terraform plans no change.

What README "Ecosystem" promises someone moving from cdktf to CDK Terrain: the same state, the
same resource addresses and attributes, so the first plan after the switch is empty.  Both
example stacks are applied from cdktf's JSON (`.venv`), then planned from cdktn's
(`.venv-cdktn`, which `make test` creates) against the same state on the simulated node.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pve_gpu_lxc_testing.e2e.harness import REPO_ROOT, SimEnv, stack_dir, synth_app

pytestmark = pytest.mark.e2e

STACKS = ("intel-jellyfin", "nvidia-ollama")
CDKTN_PYTHON = REPO_ROOT / ".venv-cdktn" / "bin" / "python"


def engine_version(out: Path, stack: str) -> str:
    return json.loads((stack_dir(out, stack) / "cdk.tf.json").read_text())["//"]["metadata"]["version"]


def test_a_project_deployed_with_cdktf_plans_no_change_under_cdktn(sim: SimEnv, tmp_path: Path) -> None:
    assert CDKTN_PYTHON.exists(), f"{CDKTN_PYTHON} is missing: make test creates it"
    state = tmp_path / "state"  # one state for both engines, as in a project that switches
    cdktf_out = synth_app(tmp_path / "cdktf.out", env=sim.env, state_dir=state)
    for stack in STACKS:
        sim.apply(stack_dir(cdktf_out, stack))
    cdktn_out = synth_app(tmp_path / "cdktn.out", env=sim.env, state_dir=state, python=CDKTN_PYTHON)
    for stack in STACKS:
        assert (engine_version(cdktf_out, stack), engine_version(cdktn_out, stack)) == ("0.21.0", "0.24.0")
        assert sim.plan(stack_dir(cdktn_out, stack)) == 0, "\n".join(sim.log)
