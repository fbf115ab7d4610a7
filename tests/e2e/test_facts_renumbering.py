"""Re-recorded host facts that renumber the DRM nodes show up in the plan (real provider, simulated node).

A kernel update can swap probe order: the iGPU's card0/renderD128 become card1/renderD129.
The stack selects the GPU by PCI address, so the new facts must turn into a
`device_passthrough` change in `terraform plan`, not a container that fails at its next start.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pve_gpu_lxc.engine import App

import stacks.intel_jellyfin as intel_stack
from pve_gpu_lxc_testing.e2e.harness import SimEnv

pytestmark = pytest.mark.e2e

STACK = "intel-jellyfin"
ADDRESS = "proxmox_virtual_environment_container.jellyfin"


def _swap_drm_numbering(facts: dict) -> dict:
    """The same hardware after a kernel update: iGPU and dGPU swap card/render numbers."""
    swap = {"card0": "card1", "card1": "card0", "renderD128": "renderD129", "renderD129": "renderD128"}
    facts = json.loads(json.dumps(facts))
    for entry in facts["drm"]:
        entry["name"] = swap[entry["name"]]
        major, minor = entry["dev"].split(":")
        entry["dev"] = f"{major}:{ {0: 1, 1: 0, 128: 129, 129: 128}[int(minor)] }"
    for link in facts["dri_by_path"]:
        link["target"] = "../" + swap[link["target"].removeprefix("../")]
    return facts


def _synth(out: Path, facts: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(intel_stack, "FACTS", facts)
    app = App(outdir=str(out))
    intel_stack.IntelJellyfinStack(app, STACK)
    app.synth()
    return out / "stacks" / STACK


def test_renumbered_nodes_in_new_facts_show_as_a_device_passthrough_change(sim: SimEnv, tmp_path, monkeypatch) -> None:
    env = sim
    monkeypatch.chdir(tmp_path)  # cdktf's local state path is relative to the working directory
    for name, value in env.env.items():  # the provider construct reads the node's SSH address at synth
        monkeypatch.setenv(name, value)
    before = _synth(tmp_path / "before", intel_stack.FACTS, monkeypatch)
    env.apply(before)
    assert "dev1: deny-write=0,path=/dev/dri/renderD128,uid=0,gid=106,mode=0660" in env.conf_text(210)

    renumbered = tmp_path / "pve.json"
    renumbered.write_text(json.dumps(_swap_drm_numbering(json.loads(intel_stack.FACTS.read_text()))))
    after = _synth(tmp_path / "after", renumbered, monkeypatch)

    code, plan = env.plan_json(after)
    assert code == 2
    (change,) = [c for c in plan["resource_changes"] if c["address"] == ADDRESS]
    assert change["change"]["actions"] == ["update"]
    paths = lambda side: [d["path"] for d in change["change"][side]["device_passthrough"]]  # noqa: E731
    assert paths("before") == ["/dev/dri/card0", "/dev/dri/renderD128"]
    assert paths("after") == ["/dev/dri/card1", "/dev/dri/renderD129"]

    env.apply(after)
    assert "dev1: deny-write=0,path=/dev/dri/renderD129,uid=0,gid=106,mode=0660" in env.conf_text(210)
    assert env.plan(after) == 0
