"""One command line, one exit policy; drift synthesizes with cdktf.json's app; messages name installed files."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pve_gpu_lxc import HostFacts, ValidationError, cli
from pve_gpu_lxc.cli import drift, stacks
from pve_gpu_lxc.cli.exit_codes import EXIT_DESTRUCTIVE, EXIT_ERROR, EXIT_FINDING, EXIT_OK
from pve_gpu_lxc.facts import collector_script

ROOT = Path(__file__).resolve().parent.parent
PLANS = Path(__file__).parent / "data" / "plans"


def test_the_policy_codes() -> None:
    assert (EXIT_OK, EXIT_ERROR, EXIT_FINDING, EXIT_DESTRUCTIVE) == (0, 1, 2, 3)


@pytest.mark.parametrize("argv", [["image"], ["image", "definition"], ["image", "build", "--driver", "575.64.03"],
                                  ["image", "definition", "--bogus"], ["bogus"]])
def test_image_usage_errors_exit_1_like_every_usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(argv, environ={})
    assert info.value.code == EXIT_ERROR
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pve-gpu-lxc") and "error:" in err[0]


def test_image_help_comes_from_the_one_parser() -> None:
    proc = subprocess.run([sys.executable, "-m", "pve_gpu_lxc", "image", "--help"], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: pve-gpu-lxc image") and "definition" in proc.stdout and "build" in proc.stdout


# --------------------------------------------------------------------------- drift: the app command of cdktf.json

WRITE_OUTPUT = (
    "import json, os, pathlib\n"
    "out = pathlib.Path(os.environ['CDKTF_OUTDIR'])\n"
    "(out / 'stacks' / 'only').mkdir(parents=True)\n"
    "(out / 'stacks' / 'only' / 'cdk.tf.json').write_text('{}')\n"
    "(out / 'manifest.json').write_text(json.dumps({'stacks': {'only': {}}}))\n"
)


def fake_terraform(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    verb = cmd[1]
    if verb == "show":
        return subprocess.CompletedProcess(cmd, 0, (PLANS / "builtin-refresh-clean.json").read_text(), "")
    return subprocess.CompletedProcess(cmd, 0, "", "")


def run_drift(project: Path, outdir: Path, calls: list[list[str]]) -> tuple[int, str]:
    def runner(cmd, cwd, env):  # type: ignore[no-untyped-def]
        calls.append(list(cmd))
        if cmd[0] == "/bin/sh":  # the synthesis: run it for real
            return stacks.run_subprocess(cmd, cwd, env)
        return fake_terraform(list(cmd), cwd, env)

    options = drift.DriftOptions(project_dir=project, outdir=outdir, synth="auto", terraform=sys.executable,
                                 environ={"PATH": os.environ["PATH"]})
    err = io.StringIO()
    code = drift.run_drift(options, run=runner, out=io.StringIO(), err=err)
    return code, err.getvalue()


def test_drift_synthesizes_with_the_app_command_of_cdktf_json(tmp_path: Path) -> None:
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra" / "app.py").write_text(WRITE_OUTPUT)
    (tmp_path / "cdktf.json").write_text(json.dumps({"language": "python", "app": f"{sys.executable} infra/app.py"}))
    calls: list[list[str]] = []
    code, err = run_drift(tmp_path, tmp_path / "cdktf.out", calls)
    assert code == EXIT_OK, err
    assert calls[0] == ["/bin/sh", "-c", f"{sys.executable} infra/app.py"]  # as `cdktf synth` runs it, no main.py
    assert (tmp_path / "cdktf.out" / "manifest.json").is_file()


def test_cdktf_json_without_an_app_is_one_error_line(tmp_path: Path) -> None:
    (tmp_path / "cdktf.json").write_text(json.dumps({"language": "python"}))
    code, err = run_drift(tmp_path, tmp_path / "cdktf.out", [])
    assert code == EXIT_ERROR
    assert err.splitlines()[-1] == (f'pve-gpu-lxc drift: error: {tmp_path / "cdktf.json"} has no "app" command '
                                    '(e.g. "app": "python main.py"); cdktf needs it too')


def test_sources_are_wherever_the_app_keeps_them(tmp_path: Path) -> None:
    outdir = tmp_path / "cdktf.out"
    (outdir / "stacks").mkdir(parents=True)
    (outdir / "manifest.json").write_text("{}")
    for name in ("cdktf.json", "infra/nodes.py", ".venv/lib/x.py", "node_modules/m/index.json", "env/pyvenv.cfg",
                 "env/lib/y.py"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    past = time.time() - 100
    for path in tmp_path.rglob("*"):
        if path.is_file() and "cdktf.out" not in path.parts:
            os.utime(path, (past, past))
    assert not stacks.needs_synth(tmp_path, outdir)
    for ignored in (".venv/lib/x.py", "node_modules/m/index.json", "env/lib/y.py", "cdktf.out/stacks/new.json"):
        (tmp_path / ignored).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / ignored).write_text("changed")  # tools, dependencies, virtualenvs and the output itself
    assert not stacks.needs_synth(tmp_path, outdir)
    (tmp_path / "infra" / "nodes.py").write_text("changed")  # a stack module outside stacks/
    assert stacks.needs_synth(tmp_path, outdir)


# --------------------------------------------------------------------------- the installed collector


def test_messages_name_the_installed_collector_script(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as err:
        HostFacts.load(tmp_path / "pve.json")
    assert f"sh -s < {collector_script()} > {tmp_path / 'pve.json'}" in str(err.value)
    assert collector_script().is_file() and collector_script().parent.name == "facts"
