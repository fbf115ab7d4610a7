"""The example stacks: exact devices, GIDs, idmap lines and hook, schema-valid; main.py honours CDKTF_OUTDIR."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pve_gpu_lxc.l1.schema import check_synthesized
from pve_gpu_lxc.testing import assert_device, assert_idmap, container, synth
from stacks import STACKS

from .test_idmap import SEED_LINES

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def stacks(monkeypatch, pve_app) -> dict:
    """Both example stacks in one App (as main.py builds them), synthesized: validations and the bpg schema pass."""
    for key in [k for k in os.environ if k.startswith("PROXMOX_VE_")]:
        monkeypatch.delenv(key)
    return {name: synth(cls(pve_app, name)) for name, cls in STACKS.items()}


def test_intel_jellyfin_matches_seed_1(stacks) -> None:
    doc = stacks["intel-jellyfin"]
    ct = container(doc, "jellyfin")
    assert [d["path"] for d in ct["device_passthrough"]] == ["/dev/dri/card0", "/dev/dri/renderD128"]
    assert_device(doc, "jellyfin", "/dev/dri/card0", gid=44, mode="0660")
    assert_device(doc, "jellyfin", "/dev/dri/renderD128", gid=106, mode="0660")
    assert_idmap(doc, "jellyfin", SEED_LINES)  # the recipe's lines, "lxc.idmap: g 44 44 1" as in the PVE config
    assert ct["unprivileged"] is True and ct["vm_id"] == 210 and ct["node_name"] == "pve"
    assert stacks["intel-jellyfin"]["output"]["jellyfin_host_subid_lines"]["value"]["subgid"] == ["root:44:1", "root:108:1"]


def test_nvidia_ollama_matches_seed_2(stacks) -> None:
    doc = stacks["nvidia-ollama"]
    ct = container(doc, "ollama")
    assert [d["path"] for d in ct["device_passthrough"]] == ["/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"]
    assert {(d["gid"], d["mode"]) for d in ct["device_passthrough"]} == {(0, "0666")}
    assert ct["operating_system"]["template_file_id"] == "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst"
    hook = next(iter(doc["resource"]["proxmox_virtual_environment_file"].values()))
    assert "require_nvidia_driver 575.64.03" in hook["source_raw"]["data"]
    assert "nvidia-modprobe" not in hook["source_raw"]["data"]  # the node makes the nodes at boot (host-setup)
    assert ct["hook_script_file_id"].startswith("${proxmox_virtual_environment_file.")


def test_every_resource_of_every_stack_conforms_to_the_schema(stacks) -> None:
    for name, doc in stacks.items():
        assert check_synthesized(doc) == [], name
        assert doc["resource"]["proxmox_virtual_environment_container"], name


def _run_main(tmp_path: Path, env_extra: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROXMOX_VE_")}
    env.update(JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20", CDKTF_OUTDIR=str(tmp_path / "out"), **env_extra)
    return subprocess.run([sys.executable, "main.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_main_honours_cdktf_outdir(tmp_path: Path) -> None:
    result = _run_main(tmp_path, {})
    assert result.returncode == 0, result.stderr
    for name in STACKS:
        doc = json.loads((tmp_path / "out" / "stacks" / name / "cdk.tf.json").read_text())
        assert check_synthesized(doc) == []


def test_main_reports_invalid_credentials_setup_without_a_traceback(tmp_path: Path) -> None:
    result = _run_main(tmp_path, {"PROXMOX_VE_API_TOKEN": "root@pam!ci=00000000-0000"})
    assert result.returncode == 1
    assert result.stderr.startswith("error: Error: Validation failed with the following errors:")
    assert "Traceback" not in result.stderr
    assert "00000000-0000" not in result.stderr


def test_cdktf_cli_synth_writes_every_stack(tmp_path: Path) -> None:
    """The README's main job: the project's own cdktf-cli runs main.py through cdktf.json."""
    cli = ROOT / "node_modules" / ".bin" / "cdktf"
    assert cli.exists(), "cdktf-cli is not installed: run `make synth` (npm ci) first"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROXMOX_VE_")}
    env.update(JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20", CHECKPOINT_DISABLE="1", CDKTF_DISABLE_PLUGIN_CACHE_ENV="1", CI="1")
    out = tmp_path / "out"
    result = subprocess.run([str(cli), "synth", "--output", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in STACKS:
        assert check_synthesized(json.loads((out / "stacks" / name / "cdk.tf.json").read_text())) == []
