"""check.findings (text, JSON, exit codes) and the `check` command's arguments and early errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pve_gpu_lxc import cli
from pve_gpu_lxc.cli.check import findings as fd
from pve_gpu_lxc.cli.exit_codes import combine

FINDING = fd.Finding("devices", "dev2", "dev2 (/dev/dri/card1) is extra.", "on pve: `pct set 210 --delete dev2`.",
                     found="path=/dev/dri/card1")


def report(*found: fd.Finding, errors: tuple[str, ...] = ()) -> fd.ContainerReport:
    return fd.ContainerReport("s", "proxmox_virtual_environment_container.ct", "pve", 210, running=False,
                              findings=list(found), notes=["in-container: not running: skipped"],
                              errors=list(errors), checked=["devices"])


def test_exit_codes_and_statuses() -> None:
    clean, found, broken = (fd.StackResult("a", [report()]), fd.StackResult("b", [report(FINDING)]),
                            fd.StackResult("c", [report(errors=("SSH: refused",))]))
    assert (clean.status, found.status, broken.status) == ("clean", "findings", "error")
    assert fd.exit_code([clean]) == 0 and fd.exit_code([clean, found]) == 2
    assert fd.exit_code([found, broken]) == 1 and fd.exit_code([], error="x") == 1
    assert fd.exit_code([fd.StackResult("d", error="cannot read d")]) == 1


def test_text_one_line_per_finding_with_its_fix() -> None:
    result = fd.StackResult("s", [report(FINDING)])
    assert fd.format_stack(result) == (
        "== s: 1 finding(s)\n"
        "  CT 210 on pve (proxmox_virtual_environment_container.ct, not running): 1 finding(s)\n"
        "    devices: dev2 (/dev/dri/card1) is extra. Fix: on pve: `pct set 210 --delete dev2`.\n"
        "    note: in-container: not running: skipped")
    assert fd.finding_lines([result]) == [
        "s: CT 210 on pve: devices: dev2 (/dev/dri/card1) is extra. Fix: on pve: `pct set 210 --delete dev2`."]
    cost = fd.Cost(api_requests=3, api_logins=1, ssh_sessions=1, seconds=0.42)
    assert fd.format_footer([result], cost) == (
        "1 stack(s), 1 GPU container(s) checked; findings: s\n"
        "cost: 3 API request(s) (1 login), 1 SSH session(s), 0.4 s")


def test_json_document() -> None:
    doc = fd.report_document([fd.StackResult("s", [report(FINDING)])], fd.Cost(3, 1, 1, 0.5))
    assert doc["format_version"] == 1 and doc["mode"] == "check" and doc["exit_code"] == 2
    (ct,) = doc["stacks"][0]["containers"]
    assert ct["findings"] == [{"item": "devices", "subject": "dev2", "problem": "dev2 (/dev/dri/card1) is extra.",
                               "fix": "on pve: `pct set 210 --delete dev2`.", "expected": None,
                               "found": "path=/dev/dri/card1"}]
    assert doc["cost"] == {"api_requests": 3, "api_logins": 1, "api_listings": 0, "ssh_sessions": 1, "seconds": 0.5,
                           "api_seconds": 0.0, "ssh_seconds": 0.0}
    listed = fd.Cost(api_requests=4, api_logins=1, ssh_sessions=1, seconds=0.5, api_listings=1)
    assert listed.line() == "cost: 4 API request(s) (1 login, 1 node listing), 1 SSH session(s), 0.5 s"
    json.dumps(doc)


@pytest.mark.parametrize("drift, check, combined", [(0, 0, 0), (2, 0, 2), (0, 2, 2), (3, 2, 3), (3, 1, 1), (1, 0, 1)])
def test_drift_live_exit_code(drift, check, combined) -> None:
    assert combine(drift, check) == combined


# --- the command, up to the point where it would ask a node ------------------------------------------


def outdir_with(tmp_path: Path, resources: dict) -> Path:
    out = tmp_path / "cdktf.out"
    (out / "stacks" / "lab").mkdir(parents=True)
    (out / "manifest.json").write_text(json.dumps({"stacks": {"lab": {}}}))
    (out / "stacks" / "lab" / "cdk.tf.json").write_text(json.dumps({"resource": resources}))
    return out


GPU = {"proxmox_virtual_environment_container": {"ct": {
    "node_name": "pve", "vm_id": 300, "device_passthrough": [{"path": "/dev/dri/renderD128", "gid": 106}]}}}


def run(capsys, *args: str, environ: dict | None = None) -> tuple[int, str, str]:
    code = cli.main(["check", *args], environ=environ or {"PATH": "/usr/bin:/bin"})
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_no_credentials_is_an_error_exit_1_with_json(tmp_path, capsys) -> None:
    out = outdir_with(tmp_path, GPU)
    code, text, err = run(capsys, "--no-synth", "--outdir", str(out), "--json", str(tmp_path / "r.json"))
    assert code == 1
    assert "ERROR: Proxmox API: PROXMOX_VE_ENDPOINT is not set" in text
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["exit_code"] == 1 and doc["cost"]["ssh_sessions"] == 0  # no session without a config to compare


def test_a_stack_without_gpu_containers_is_clean_without_asking(tmp_path, capsys) -> None:
    out = outdir_with(tmp_path, {})
    code, text, _ = run(capsys, "--no-synth", "--outdir", str(out))
    assert code == 0, text
    assert "== lab: clean\n  no GPU containers (none with device_passthrough)" in text
    assert "cost: 0 API request(s), 0 SSH session(s)" in text


@pytest.mark.parametrize("args, message", [
    (["nope"], "unknown stack 'nope': synthesized stacks are lab"),
    (["--facts", "pve=/nonexistent.json"], "--facts pve=/nonexistent.json: no such file"),
])
def test_errors_before_any_node_is_asked_exit_1(tmp_path, capsys, args, message) -> None:
    code, _, err = run(capsys, "--no-synth", "--outdir", str(outdir_with(tmp_path, GPU)), *args)
    assert code == 1 and f"pve-gpu-lxc check: error: {message}" in err


def test_a_malformed_facts_option_is_a_usage_error_exit_1(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        run(capsys, "--no-synth", "--outdir", str(outdir_with(tmp_path, GPU)), "--facts", "pve")
    assert exc.value.code == 1 and "--facts 'pve' is not NODE=FILE" in capsys.readouterr().err


def test_help_lists_check_and_drift_live(capsys) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "check" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["drift", "--help"])
    assert "--live" in capsys.readouterr().out


def test_an_orphan_is_a_stack_finding_in_text_json_and_exit_code() -> None:
    orphan = fd.Finding("ownership", "CT 212 on pve", "CT 212 carries this stack's tag.", "`pct destroy 212`.")
    result = fd.StackResult("s", [report()], orphans=[orphan])
    assert result.status == "findings" and fd.exit_code([result]) == 2
    assert fd.format_stack(result).endswith(
        "  orphan CT 212 on pve: ownership: CT 212 carries this stack's tag. Fix: `pct destroy 212`.")
    assert fd.finding_lines([result]) == ["s: orphan CT 212 on pve: ownership: CT 212 carries this stack's tag. "
                                          "Fix: `pct destroy 212`."]
    assert result.to_json()["orphans"][0]["subject"] == "CT 212 on pve"
