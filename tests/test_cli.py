"""The `pve-gpu-lxc drift` command without Terraform: options, synthesis decision, errors, plumbing.

Terraform itself is replaced by a recording fake runner that answers with plan
JSON recorded from real Terraform (tests/data/plans/); tests/e2e/test_drift_command.py
runs the real thing.
"""

from __future__ import annotations

import ast
import io
import json
import os
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest

from pve_gpu_lxc import cli
from pve_gpu_lxc.cli import drift, stacks

PLANS = Path(__file__).parent / "data" / "plans"
ROOT = Path(__file__).resolve().parents[1]


# --- helpers ----------------------------------------------------------------------------


def make_outdir(tmp_path: Path, stacks: list[str], backend: dict | None = None) -> Path:
    outdir = tmp_path / "cdktf.out"
    manifest = {"version": "0.21.0", "stacks": {}}
    for name in stacks:
        workdir = outdir / "stacks" / name
        workdir.mkdir(parents=True)
        doc = {"terraform": {"backend": backend or {"local": {"path": f"terraform.{name}.tfstate"}}}}
        (workdir / "cdk.tf.json").write_text(json.dumps(doc))
        manifest["stacks"][name] = {"name": name, "workingDirectory": f"stacks/{name}"}
    (outdir / "manifest.json").write_text(json.dumps(manifest))
    return outdir


class FakeTerraform:
    """Answers init/plan/show like Terraform would; records every call."""

    def __init__(self, plan: str = "bpg-refresh-drift", plan_rc: int = 2,
                 init_rc: int = 0, init_stderr: str = "", plan_stderr: str = ""):
        self.plan_json = (PLANS / f"{plan}.json").read_text()
        self.plan_rc, self.init_rc = plan_rc, init_rc
        self.init_stderr, self.plan_stderr = init_stderr, plan_stderr
        self.calls: list[tuple[list[str], Path, dict]] = []

    def __call__(self, cmd, cwd, env):
        cmd = list(cmd)
        self.calls.append((cmd, Path(cwd), dict(env)))
        verb = cmd[1] if len(cmd) > 1 else ""
        if verb == "init":
            return subprocess.CompletedProcess(cmd, self.init_rc, "", self.init_stderr)
        if verb == "plan":
            return subprocess.CompletedProcess(cmd, self.plan_rc, "", self.plan_stderr)
        if verb == "show":
            return subprocess.CompletedProcess(cmd, 0, self.plan_json, "")
        raise AssertionError(f"unexpected command {cmd}")

    def verbs(self) -> list[tuple[str, str]]:
        return [(c[1], cwd.name) for c, cwd, _ in self.calls]


def options(tmp_path: Path, outdir: Path, **kw) -> drift.DriftOptions:
    base = dict(project_dir=tmp_path, outdir=outdir, synth="never", terraform=sys.executable,
                environ={"PATH": os.environ["PATH"]})
    base.update(kw)
    return drift.DriftOptions(**base)


def run(opts: drift.DriftOptions, fake) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = drift.run_drift(opts, run=fake, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


# --- command line -----------------------------------------------------------------------


def test_console_script_points_at_cli_main():
    (ep,) = [e for e in metadata.entry_points(group="console_scripts") if e.name == "pve-gpu-lxc"]
    assert ep.value == "pve_gpu_lxc.cli:main"


def test_python_dash_m_runs_the_same_cli():
    proc = subprocess.run([sys.executable, "-m", "pve_gpu_lxc", "drift", "--help"],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0
    assert "--allow-replace" in proc.stdout and "Exit codes: 0 clean, 2 drift" in " ".join(proc.stdout.split())


@pytest.mark.parametrize("argv", [["drift", "--bogus"], ["drift", "--allow-replace"], []])
def test_usage_errors_exit_1_not_2_so_they_are_never_mistaken_for_drift(argv, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv, environ={})
    assert info.value.code == 1
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_options_from_arguments(tmp_path: Path):
    args = cli.build_parser().parse_args(
        ["drift", "--stack", "a", "--stack", "b", "--plan", "--allow-replace", "--no-synth",
         "--project-dir", str(tmp_path), "--json", str(tmp_path / "r.json"), "--lock-timeout", "30s",
         "--terraform", "/opt/tf"])
    opts = cli.drift_options(args, {"TERRAFORM_BINARY_NAME": "tofu", "CDKTF_OUTDIR": "build/out"})
    assert opts.stacks == ("a", "b")
    assert (opts.mode, opts.allow_replace, opts.synth) == ("plan", True, "never")
    assert opts.terraform == "/opt/tf"
    assert opts.outdir == tmp_path / "build" / "out"  # CDKTF_OUTDIR is relative to the project
    assert opts.json_path == tmp_path / "r.json"
    assert opts.lock_timeout == "30s"


def test_outdir_defaults_to_cdktf_out_in_the_project(tmp_path: Path):
    args = cli.build_parser().parse_args(["drift", "--project-dir", str(tmp_path)])
    opts = cli.drift_options(args, {})
    # no --terraform: drift.find_terraform picks from TERRAFORM_BINARY_NAME / PATH (tests/test_tfbinary.py)
    assert (opts.outdir, opts.mode, opts.synth, opts.terraform) == (tmp_path / "cdktf.out", "drift", "auto", None)


# --- synthesis decision -------------------------------------------------------------------


def _project(tmp_path: Path) -> Path:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "main.py").write_text("")
    (tmp_path / "stacks" / "a.py").write_text("")
    return tmp_path


def _age(path: Path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_needs_synth_when_cdktf_out_is_missing(tmp_path: Path):
    assert stacks.needs_synth(_project(tmp_path), tmp_path / "cdktf.out")


def test_needs_synth_when_a_stack_source_is_newer_than_the_output(tmp_path: Path):
    project = _project(tmp_path)
    outdir = make_outdir(tmp_path, ["a"])
    for p in (project / "main.py", project / "stacks" / "a.py"):
        _age(p, 100)
    assert not stacks.needs_synth(project, outdir)
    (project / "stacks" / "a.py").touch()
    assert stacks.needs_synth(project, outdir)


def test_synth_failure_reports_the_last_line_of_the_traceback(tmp_path: Path):
    (tmp_path / "main.py").write_text("raise ValueError('stack wiring is broken')\n")
    outdir = tmp_path / "cdktf.out"
    code, _, err = run(options(tmp_path, outdir, synth="auto"), stacks.run_subprocess)
    assert code == 1
    assert err.splitlines() == [
        "synthesizing ...",
        "pve-gpu-lxc drift: error: synth failed: ValueError: stack wiring is broken",
    ]


def test_synth_runs_main_py_with_cdktf_outdir(tmp_path: Path):
    (tmp_path / "main.py").write_text(
        "import os, json, pathlib\n"
        "out = pathlib.Path(os.environ['CDKTF_OUTDIR'])\n"
        "(out / 'stacks' / 'only').mkdir(parents=True)\n"
        "(out / 'stacks' / 'only' / 'cdk.tf.json').write_text('{}')\n"
        "(out / 'manifest.json').write_text(json.dumps({'stacks': {'only': {}}}))\n")
    outdir = tmp_path / "elsewhere"
    calls = []

    def runner(cmd, cwd, env):
        calls.append(cmd)
        if cmd[0] == sys.executable and cmd[1:] == ["main.py"]:
            return stacks.run_subprocess(cmd, cwd, env)
        return FakeTerraform(plan="builtin-refresh-clean", plan_rc=0)(cmd, cwd, env)

    code, out, _ = run(options(tmp_path, outdir, synth="auto"), runner)
    assert code == 0, out
    assert calls[0] == [sys.executable, "main.py"]
    assert (outdir / "manifest.json").is_file()


# --- errors are one line ------------------------------------------------------------------


def test_terraform_missing_is_one_line_and_exit_1(tmp_path: Path):
    outdir = make_outdir(tmp_path, ["a"])
    opts = options(tmp_path, outdir, terraform=None, environ={"PATH": str(tmp_path / "empty")})
    code, out, err = run(opts, FakeTerraform())
    assert code == 1
    assert err.splitlines() == [
        "pve-gpu-lxc drift: error: neither terraform nor tofu is on PATH: install Terraform >= 1.8 "
        "or OpenTofu >= 1.10, set TERRAFORM_BINARY_NAME to its name or path, or pass --terraform PATH"
    ]


def test_unknown_stack_names_the_synthesized_ones(tmp_path: Path):
    outdir = make_outdir(tmp_path, ["intel-jellyfin", "nvidia-ollama"])
    code, _, err = run(options(tmp_path, outdir, stacks=("jellyfin",)), FakeTerraform())
    assert code == 1
    assert err.strip() == ("pve-gpu-lxc drift: error: unknown stack 'jellyfin': "
                           "synthesized stacks are intel-jellyfin, nvidia-ollama")


def test_no_synthesized_stacks_with_no_synth(tmp_path: Path):
    code, _, err = run(options(tmp_path, tmp_path / "cdktf.out"), FakeTerraform())
    assert code == 1 and "no synthesized stacks" in err and "make synth" in err


INIT_ERROR = """
Initializing the backend...
\u2577
\u2502 Error: Failed to get existing workspaces: pq: password authentication failed for user "tf"
\u2502
\u2502 more detail
\u2575
"""


def test_init_failure_shows_terraform_first_error_line(tmp_path: Path):
    outdir = make_outdir(tmp_path, ["a"])
    code, out, err = run(options(tmp_path, outdir), FakeTerraform(init_rc=1, init_stderr=INIT_ERROR))
    assert code == 1
    assert ("pve-gpu-lxc drift: error: a: terraform init failed: Failed to get existing workspaces: "
            'pq: password authentication failed for user "tf"') in err.splitlines()
    assert "== a: error" in out


def test_lock_error_without_a_lock_record_is_reported(tmp_path: Path):
    outdir = make_outdir(tmp_path, ["a"])
    fake = FakeTerraform(plan_rc=1, plan_stderr="\nError: Error acquiring the state lock\n\nLock Info: ...\n")
    code, _, err = run(options(tmp_path, outdir), fake)
    assert code == 1
    assert ("a: terraform plan failed: Error acquiring the state lock (Terraform printed no lock record)"
            in err.splitlines()[-1])


# Terraform 1.11.4's text, as `terraform plan` printed it while another apply held a local state
LOCK_ERROR = """
Error: Error acquiring the state lock

Error message: resource temporarily unavailable
Lock Info:
  ID:        9c83da10-9717-fdea-e661-bc94195b08d8
  Path:      ../../../state/terraform.a.tfstate
  Operation: OperationTypeApply
  Who:       root@vm
  Version:   1.11.4
  Created:   2026-12-07 05:27:22.478169573 +0000 UTC
  Info:      


Terraform acquires a state lock to protect the state from being written
by multiple users at the same time. Please resolve the issue above and try
again. For most commands, you can disable locking with the "-lock=false"
flag, but this is not recommended.
"""
HELD = ("a: terraform plan failed: Error acquiring the state lock: lock ID 9c83da10-9717-fdea-e661-bc94195b08d8 "
        "(held by root@vm, since 2026-12-07 05:27:22.478169573 +0000 UTC, apply)")


@pytest.mark.parametrize("backend, advice", [
    (None, ": another terraform run on this machine still holds it (a killed run holds no local lock: the "
           "kernel drops it, and the .lock.info file it leaves is harmless); wait for it (--lock-timeout 120s) "
           "or stop that run; `terraform force-unlock` cannot release another process's local lock"),
    ({"pg": {"schema_name": "s", "conn_str": "postgres://x"}},
     ": another run's PostgreSQL session holds it (Terraform's Lock Info names this run's own request: an "
     "advisory lock has no record of its holder); PostgreSQL drops the lock when that session ends, a killed "
     "run's too: wait for it (--lock-timeout 120s) or end that run"),
    ({"s3": {"bucket": "b", "key": "k"}},
     ": wait for it (--lock-timeout 120s); if the run that took it is gone, release it with "
     "`terraform -chdir={workdir} force-unlock 9c83da10-9717-fdea-e661-bc94195b08d8`"),
])
def test_lock_error_names_the_lock_its_holder_and_the_way_out_for_the_backend(tmp_path: Path, backend, advice):
    outdir = make_outdir(tmp_path, ["a"], backend=backend)
    code, _, err = run(options(tmp_path, outdir), FakeTerraform(plan_rc=1, plan_stderr=LOCK_ERROR))
    assert code == 1
    workdir = outdir / "stacks" / "a"
    head = ("a: terraform plan failed: Error acquiring the state lock" if "pg" in (backend or {})
            else HELD)  # pg's Lock Info is the refused run's own: not named
    assert err.splitlines()[-1] == "pve-gpu-lxc drift: error: " + head + advice.format(workdir=workdir)


def test_pg_backend_without_pg_conn_str_fails_before_init(tmp_path: Path):
    outdir = make_outdir(tmp_path, ["a"], backend={"pg": {"schema_name": "s"}})
    fake = FakeTerraform()
    code, _, err = run(options(tmp_path, outdir), fake)
    assert code == 1 and fake.calls == []
    assert "a: the pg backend needs PG_CONN_STR in the environment" in err


def test_an_error_in_one_stack_does_not_stop_the_others(tmp_path: Path):
    outdir = make_outdir(tmp_path, ["a", "b"])
    fake = FakeTerraform()
    real_call = fake.__call__

    def runner(cmd, cwd, env):
        if Path(cwd).name == "a" and cmd[1] == "init":
            return subprocess.CompletedProcess(cmd, 1, "", "Error: boom")
        return real_call(cmd, cwd, env)

    code, out, _ = run(options(tmp_path, outdir), runner)
    assert code == 1
    assert "== a: error" in out and "== b: drift" in out


# --- terraform invocation -----------------------------------------------------------------


def test_drift_mode_runs_init_refresh_only_plan_and_show_in_each_stack_dir(tmp_path: Path):
    outdir = make_outdir(tmp_path, ["a", "b"])
    fake = FakeTerraform()
    code, out, err = run(options(tmp_path, outdir), fake)
    assert code == 2
    assert fake.verbs() == [("init", "a"), ("plan", "a"), ("show", "a"),
                            ("init", "b"), ("plan", "b"), ("show", "b")]
    plan_cmd = fake.calls[1][0]
    assert {"-refresh-only", "-detailed-exitcode", "-input=false"} <= set(plan_cmd)
    plan_file = next(a for a in plan_cmd if a.startswith("-out=")).split("=", 1)[1]
    assert fake.calls[2][0][-1] == plan_file  # show reads the plan just written
    assert fake.calls[0][0][1:] == ["init", "-input=false", "-no-color"]  # backend kept as synthesized


def test_plan_mode_is_a_normal_plan_and_keeps_plan_files_in_plan_dir(tmp_path: Path):
    outdir = make_outdir(tmp_path, ["a"])
    fake = FakeTerraform(plan="bpg-plan-drift")
    opts = options(tmp_path, outdir, mode="plan", plan_dir=tmp_path / "plans", lock_timeout="45s")
    code, out, _ = run(opts, fake)
    assert code == 2
    plan_cmd = fake.calls[1][0]
    assert "-refresh-only" not in plan_cmd
    assert f"-out={tmp_path / 'plans' / 'a.tfplan'}" in plan_cmd
    assert "-lock-timeout=45s" in plan_cmd
    assert "planned changes (current value -> planned value)" in out


def test_environment_is_passed_through_to_terraform(tmp_path: Path):
    outdir = make_outdir(tmp_path, ["a"])
    env = {"PATH": os.environ["PATH"], "TF_CLI_CONFIG_FILE": "/etc/tf.rc", "PROXMOX_VE_ENDPOINT": "https://pve:8006/",
           "PG_CONN_STR": "postgres://x"}
    fake = FakeTerraform()
    run(options(tmp_path, outdir, environ=env), fake)
    for _, _, seen in fake.calls:
        assert {k: seen[k] for k in env} == env
        assert seen["TF_IN_AUTOMATION"] == "1"


def test_stack_option_selects_stacks(tmp_path: Path):
    outdir = make_outdir(tmp_path, ["a", "b", "c"])
    fake = FakeTerraform()
    run(options(tmp_path, outdir, stacks=("c", "a")), fake)
    assert sorted({cwd for _, cwd in fake.verbs()}) == ["a", "c"]


def test_progress_goes_to_stderr_only_when_several_stacks_are_checked(tmp_path: Path):
    outdir = make_outdir(tmp_path, ["a", "b"])
    _, out, err = run(options(tmp_path, outdir), FakeTerraform())
    assert err.splitlines() == ["[1/2] a ...", "[2/2] b ..."]
    assert "[1/2]" not in out
    _, _, err_one = run(options(tmp_path, outdir, stacks=("a",)), FakeTerraform())
    assert err_one == ""


def test_destructive_plan_exits_3_unless_allowed(tmp_path: Path):
    outdir = make_outdir(tmp_path, ["a"])
    code, out, _ = run(options(tmp_path, outdir, mode="plan"), FakeTerraform(plan="bpg-plan-replace"))
    assert code == 3 and "!!! DESTRUCTIVE" in out
    code, out, _ = run(options(tmp_path, outdir, mode="plan", allow_replace=True),
                       FakeTerraform(plan="bpg-plan-replace"))
    assert code == 2 and "allowed by --allow-replace" in out


def test_json_report_is_written(tmp_path: Path):
    outdir = make_outdir(tmp_path, ["a"])
    target = tmp_path / "reports" / "drift.json"
    code, _, _ = run(options(tmp_path, outdir, json_path=target), FakeTerraform())
    doc = json.loads(target.read_text())
    assert doc["exit_code"] == code == 2
    assert doc["stacks"][0]["stack"] == "a" and doc["stacks"][0]["status"] == "drift"


def test_json_report_records_a_fatal_error_too(tmp_path: Path):
    target = tmp_path / "drift.json"
    run(options(tmp_path, tmp_path / "missing", json_path=target), FakeTerraform())
    doc = json.loads(target.read_text())
    assert doc["exit_code"] == 1 and "no synthesized stacks" in doc["error"]


@pytest.mark.parametrize(
    ("stderr", "line"),
    [
        ("Error: Unsupported backend type\n\nThere is no backend type named \"x\".", "Unsupported backend type"),
        ("\u2502 Error: Invalid value\n", "Invalid value"),
        ("something odd\nlast words\n", "last words"),
        ("", "no output"),
    ],
)
def test_first_error_line(stderr, line):
    assert drift.first_error_line(stderr) == line


def test_backend_switch_tells_how_to_migrate_the_state(tmp_path: Path):
    outdir = make_outdir(tmp_path, ["a"])
    fake = FakeTerraform(init_rc=1, init_stderr="Error: Backend configuration changed\n\nA change ...")
    code, _, err = run(options(tmp_path, outdir), fake)
    assert code == 1
    assert (f"a: terraform init failed: Backend configuration changed (move the state once with "
            f"`terraform -chdir={outdir / 'stacks' / 'a'} init -migrate-state`") in err


def test_image_subcommand_prints_the_definition(capsys) -> None:
    from pve_gpu_lxc.cli import main

    assert main(["image", "definition", "--driver", "575.64.03", "--source-url", "file:///tmp/rootfs.tar.xz"], environ={}) == 0
    out = capsys.readouterr().out
    assert "variant: nvidia-575.64.03" in out
    assert "NVIDIA-Linux-x86_64-575.64.03.run" in out


def test_image_subcommand_errors_exit_1(capsys) -> None:
    from pve_gpu_lxc.cli import main

    assert main(["image", "definition", "--driver", "575.64.03; reboot", "--source-url", "file:///x.tar.xz"], environ={}) == 1
    assert capsys.readouterr().err.startswith("error: ")


def test_an_initialised_stack_is_not_initialised_again(tmp_path: Path) -> None:
    """Terraform re-hashes the provider on every init (~0.2 s a stack): skip it when init ran
    after this synthesis, and init again when the synthesis is newer."""
    workdir = tmp_path / "stacks" / "a"
    (workdir / ".terraform").mkdir(parents=True)
    (workdir / "cdk.tf.json").write_text("{}")
    assert not drift.is_initialised(workdir)
    (workdir / ".terraform" / "terraform.tfstate").write_text("{}")
    (workdir / ".terraform.lock.hcl").write_text("")
    assert drift.is_initialised(workdir)
    later = (workdir / ".terraform.lock.hcl").stat().st_mtime + 10
    os.utime(workdir / "cdk.tf.json", (later, later))  # synthesized again
    assert not drift.is_initialised(workdir)


def test_the_command_line_loads_a_command_only_when_it_runs() -> None:
    """`drift` runs in every pipeline: its start-up must not pay for the other commands' imports."""
    code = ("import sys; from pve_gpu_lxc.cli.main import build_parser; build_parser(); "
            "print(sorted(n for n in sys.modules if n.startswith('pve_gpu_lxc.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(ast.literal_eval(out))
    for heavy in ("pve_gpu_lxc.cli.explain", "pve_gpu_lxc.cli.facts", "pve_gpu_lxc.cli.check.runner",
                  "pve_gpu_lxc.cli.image", "pve_gpu_lxc.image.nvidia", "pve_gpu_lxc.pve.bpg",
                  "pve_gpu_lxc.cli.idmap_picture", "pve_gpu_lxc.model.container"):
        assert heavy not in loaded, f"{heavy} is imported by the parser alone"
    assert "pve_gpu_lxc.cli.explain_command" in loaded and "pve_gpu_lxc.cli.facts_command" in loaded


def test_a_plan_the_vm_id_guard_stopped_reports_the_guards_message(tmp_path: Path):
    outdir = make_outdir(tmp_path, ["intel-jellyfin"])
    fake = FakeTerraform(plan_rc=1, plan_stderr=(PLANS / "bpg-plan-guard.txt").read_text())
    code, out, err = run(options(tmp_path, outdir, mode="plan"), fake)
    assert code == 1
    assert ("intel-jellyfin: terraform plan failed: Resource precondition failed: GpuContainer 'jellyfin' of stack "
            "'intel-jellyfin': vm_id 210 is taken by container 'jellyfin' on node pve (tags: gpu;media)") in err
    assert len([ln for ln in err.splitlines() if "precondition" in ln]) == 1  # one line, the fix included
    assert "import_existing=True)." in err


def test_drift_reports_collisions_and_orphans_from_the_refresh(tmp_path: Path):
    outdir = make_outdir(tmp_path, ["intel-jellyfin"])
    fake = FakeTerraform(plan="bpg-refresh-ownership")
    code, out, _ = run(options(tmp_path, outdir, json_path=tmp_path / "r.json"), fake)
    assert code == 2
    assert "    orphan: CT 212 ('old-jellyfin') on node pve carries this stack's tag" in out
    doc = json.loads((tmp_path / "r.json").read_text())
    assert [(f["kind"], f["vmid"]) for f in doc["stacks"][0]["ownership"]] == [("collision", 210), ("orphan", 212)]
