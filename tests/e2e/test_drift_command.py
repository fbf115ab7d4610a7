"""`pve-gpu-lxc drift` with real terraform and the real bpg/proxmox provider against the
simulated node and the example stacks.

One module-wide deployment (one simulated node, state in a temp dir); each test edits
the node's files or the synthesized JSON and puts it back, so the tests stay
independent of their order.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from pve_gpu_lxc import cli
from pve_gpu_lxc_testing.pg.scratch_app import write_scratch_project
from pve_gpu_lxc_testing.e2e.harness import SimEnv, edited, sub

pytestmark = pytest.mark.e2e

STACKS = ("intel-jellyfin", "nvidia-ollama")
JELLYFIN = "proxmox_virtual_environment_container.jellyfin"

@dataclass
class Project:
    dir: Path
    sim: SimEnv
    env: dict[str, str]

    @property
    def outdir(self) -> Path:
        return self.dir / "cdktf.out"

    def drift(self, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
        capsys.readouterr()
        code = cli.main(["drift", "--project-dir", str(self.dir), *args], environ=self.env)
        captured = capsys.readouterr()
        return code, captured.out, captured.err


@pytest.fixture(scope="module")
def project(shared_sim: SimEnv, tmp_path_factory: pytest.TempPathFactory) -> Project:
    # cdktf.out and state in a temp dir, backend chosen by configure_backend
    base = write_scratch_project(tmp_path_factory.mktemp("drift-project"))
    env = {**os.environ, **shared_sim.env, "PVE_GPU_LXC_STATE_DIR": str(base / "state")}
    env.pop("PVE_GPU_LXC_BACKEND", None)
    return Project(base, shared_sim, env)


@pytest.fixture(scope="module")
def deployed(project: Project) -> Project:
    """The first drift run synthesizes (no cdktf.out yet); then both stacks are applied."""
    code = cli.main(["drift", "--project-dir", str(project.dir)], environ=project.env)
    assert code == 0  # empty state: nothing to drift
    assert (project.outdir / "manifest.json").is_file()
    for stack in STACKS:
        project.sim.run([project.sim.terraform_path, "apply", "-auto-approve", "-input=false", "-no-color"],
                            project.outdir / "stacks" / stack)
    return project


# --- tests ----------------------------------------------------------------------------------


def test_clean_after_deploy_exit_0_with_progress_per_stack(deployed: Project, capsys):
    code, out, err = deployed.drift("--no-synth", capsys=capsys)
    assert code == 0, out + err
    assert "== intel-jellyfin: clean" in out and "== nvidia-ollama: clean" in out
    assert err.splitlines() == ["[1/2] intel-jellyfin ...", "[2/2] nvidia-ollama ..."]


def test_edit_on_the_node_is_drift_exit_2_naming_resource_path_and_values(deployed: Project, capsys, tmp_path):
    conf = deployed.sim.conf_path(210)
    report = tmp_path / "drift.json"
    with edited(conf, sub(r"(dev0: .*)gid=44,", r"\1gid=45,")):
        code, out, err = deployed.drift("--no-synth", "--stack", "intel-jellyfin", "--json", str(report),
                                        capsys=capsys)
    assert code == 2, out + err
    assert f"    {JELLYFIN}: changed outside Terraform" in out
    assert "      device_passthrough[0].gid: 44 -> 45" in out
    assert "nvidia-ollama" not in out and err == ""  # one stack selected: no progress lines
    doc = json.loads(report.read_text())
    (stack,) = doc["stacks"]
    (res,) = stack["drift"]
    assert (doc["exit_code"], stack["status"], res["address"]) == (2, "drift", JELLYFIN)
    assert {"path": "device_passthrough[0].gid", "before": 44, "after": 45,
            "forces_replacement": False} in res["attributes"]
    # restored by hand: clean again, nothing was applied in between
    assert deployed.drift("--no-synth", "--stack", "intel-jellyfin", capsys=capsys)[0] == 0


def test_deleted_container_is_drift(deployed: Project, capsys):
    conf = deployed.sim.conf_path(220)
    original = conf.read_text()
    conf.unlink()
    try:
        code, out, _ = deployed.drift("--no-synth", "--stack", "nvidia-ollama", capsys=capsys)
    finally:
        conf.write_text(original)
    assert code == 2
    assert "proxmox_virtual_environment_container.ollama: deleted outside Terraform" in out


def test_configuration_change_is_not_drift_but_plan_shows_it(deployed: Project, capsys):
    stack_json = deployed.outdir / "stacks" / "intel-jellyfin" / "cdk.tf.json"
    with edited(stack_json, sub(r'"cores": 4\b', '"cores": 6')):
        drift_code, _, _ = deployed.drift("--no-synth", "--stack", "intel-jellyfin", capsys=capsys)
        plan_code, out, _ = deployed.drift("--no-synth", "--plan", "--stack", "intel-jellyfin", capsys=capsys)
    assert drift_code == 0
    assert plan_code == 2, out
    assert f"    {JELLYFIN}: will be updated in place" in out
    assert "      cpu[0].cores: 4 -> 6" in out


def test_plan_replacing_a_gpu_container_exits_3_unless_allowed(deployed: Project, capsys):
    conf = deployed.sim.conf_path(210)
    with edited(conf, sub(r"^unprivileged: 1$", "unprivileged: 0")):
        code, out, _ = deployed.drift("--no-synth", "--plan", "--stack", "intel-jellyfin", capsys=capsys)
        allowed, out_allowed, _ = deployed.drift("--no-synth", "--plan", "--allow-replace",
                                                 "--stack", "intel-jellyfin", capsys=capsys)
    assert code == 3, out
    assert f"!!! DESTRUCTIVE: {JELLYFIN} will be REPLACED" in out
    assert "unprivileged: false -> true  (forces replacement)" in out
    assert "re-run with --allow-replace" in out
    assert allowed == 2 and "allowed by --allow-replace" in out_allowed


def test_plan_dir_keeps_an_applicable_plan_file(deployed: Project, capsys, tmp_path):
    conf = deployed.sim.conf_path(210)
    original = conf.read_text()
    conf.write_text(sub(r"^cores: 4$", "cores: 1")(original))
    code, _, _ = deployed.drift("--no-synth", "--plan", "--stack", "intel-jellyfin",
                                "--plan-dir", str(tmp_path), capsys=capsys)
    assert code == 2
    deployed.sim.run([deployed.sim.terraform_path, "apply", "-input=false", "-no-color",
                      str(tmp_path / "intel-jellyfin.tfplan")], deployed.outdir / "stacks" / "intel-jellyfin")
    # the saved plan restored the node; bpg's cpu update sends `delete=cpulimit` for a limit of 0,
    # so the `cpulimit: 0` that its create wrote is gone (same meaning: no limit)
    assert conf.read_text() == original.replace("cpulimit: 0\n", "")
    assert "cores: 4\n" in conf.read_text()


def test_sources_newer_than_cdktf_out_trigger_synthesis(deployed: Project, capsys):
    (deployed.dir / "main.py").touch()
    code, _, err = deployed.drift("--stack", "intel-jellyfin", capsys=capsys)
    assert code == 0, err
    manifest = deployed.outdir / "manifest.json"
    assert manifest.stat().st_mtime >= (deployed.dir / "main.py").stat().st_mtime


def test_console_script_and_python_dash_m_work_end_to_end(deployed: Project):
    script = Path(sys.executable).parent / "pve-gpu-lxc"
    for argv in ([str(script)], [sys.executable, "-m", "pve_gpu_lxc"]):
        proc = subprocess.run([*argv, "drift", "--no-synth", "--project-dir", str(deployed.dir)],
                              env=deployed.env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "2 stack(s) checked; clean: intel-jellyfin, nvidia-ollama" in proc.stdout


def test_terraform_missing_is_one_line(deployed: Project, tmp_path: Path):
    # PATH with node (importing the package starts cdktf's jsii kernel) but no terraform
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "node").symlink_to(shutil.which("node"))
    env = {**deployed.env, "PATH": str(bindir)}
    env.pop("TERRAFORM_BINARY_NAME")
    proc = subprocess.run([sys.executable, "-m", "pve_gpu_lxc", "drift", "--no-synth",
                           "--project-dir", str(deployed.dir)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    errors = [ln for ln in proc.stderr.splitlines() if "error" in ln]
    assert errors == ["pve-gpu-lxc drift: error: neither terraform nor tofu is on PATH: install Terraform >= 1.8 "
                      "or OpenTofu >= 1.10, set TERRAFORM_BINARY_NAME to its name or path, or pass --terraform PATH"]


def test_init_failure_names_terraforms_first_error(tmp_path: Path, capsys):
    workdir = tmp_path / "out" / "stacks" / "broken"
    workdir.mkdir(parents=True)
    (workdir / "cdk.tf.json").write_text(json.dumps({"terraform": {"backend": {"nosuch": {}}}}))
    code = cli.main(["drift", "--no-synth", "--outdir", str(tmp_path / "out")],
                    environ={**os.environ, "TF_CLI_CONFIG_FILE": "/dev/null", "CHECKPOINT_DISABLE": "1"})
    err = capsys.readouterr().err
    assert code == 1
    assert err.splitlines() == ["pve-gpu-lxc drift: error: broken: terraform init failed: Unsupported backend type"]
