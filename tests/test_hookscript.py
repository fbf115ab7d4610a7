"""Hookscript text: structure, quoting (a security boundary), and behaviour when run."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pve_gpu_lxc import Hooks, ValidationError
from pve_gpu_lxc.facts import readers
from pve_gpu_lxc.model.hooks import HookCommand, NvidiaGuard, render_hookscript

GUARD = NvidiaGuard("575.64.03")
PROPRIETARY = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  {v}  Wed Jun 25 18:23:59 UTC 2025\nGCC version:  gcc version 12.2.0\n"
OPEN = "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  {v}  Release Build  (dvs-builder@U16-I3-B03-4-3)\n"


def run_hook(script: str, tmp_path: Path, phase: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    path = tmp_path / "hook.sh"
    path.write_text(script)
    path.chmod(0o700)
    full_env = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "PVE_GPU_LXC_SYSROOT": str(tmp_path / "root"), **(env or {})}
    return subprocess.run([str(path), "220", phase], capture_output=True, text=True, env=full_env, cwd=tmp_path, timeout=30)


def fake_host(tmp_path: Path, module: str | None = None, proc: str | None = None, fmt: str = PROPRIETARY) -> None:
    """A sysroot with the loaded module's /sys/module/nvidia/version and/or /proc/driver/nvidia/version."""
    root = tmp_path / "root"
    if module is not None:
        (root / "sys/module/nvidia").mkdir(parents=True)
        (root / "sys/module/nvidia/version").write_text(module + "\n")
    if proc is not None:
        (root / "proc/driver/nvidia").mkdir(parents=True)
        (root / "proc/driver/nvidia/version").write_text(fmt.format(v=proc))


def test_script_is_valid_posix_sh(tmp_path: Path) -> None:
    script = render_hookscript(vmid=220, hostname="ollama", nvidia=GUARD, commands=Hooks(post_stop=[["/bin/true"]]).commands)
    (tmp_path / "h.sh").write_text(script)
    subprocess.run(["sh", "-n", str(tmp_path / "h.sh")], check=True)
    assert script.startswith("#!/bin/sh\n")
    assert "require_nvidia_driver 575.64.03" in script


def test_rendering_is_deterministic() -> None:
    a = render_hookscript(vmid=220, hostname="ollama", nvidia=GUARD)
    assert a == render_hookscript(vmid=220, hostname="ollama", nvidia=GUARD)


def test_the_hook_makes_no_device_node(tmp_path: Path) -> None:
    """Proxmox stats every devN path before the hookscript runs: a node made here would come too late."""
    script = render_hookscript(vmid=220, hostname="ollama", nvidia=GUARD)
    assert "nvidia-modprobe" not in script and "mknod" not in script
    fake_host(tmp_path, "575.64.03")
    assert run_hook(script, tmp_path, "pre-start").returncode == 0
    assert not (tmp_path / "root/dev").exists()


def test_pre_start_passes_when_the_loaded_module_matches(tmp_path: Path) -> None:
    fake_host(tmp_path, "575.64.03")
    result = run_hook(render_hookscript(vmid=220, hostname="ollama", nvidia=GUARD), tmp_path, "pre-start")
    assert result.returncode == 0, result.stderr


def test_the_loaded_module_wins_over_the_proc_file(tmp_path: Path) -> None:
    fake_host(tmp_path, module="575.64.05", proc="575.64.03")
    result = run_hook(render_hookscript(vmid=220, hostname="ollama", nvidia=GUARD), tmp_path, "pre-start")
    assert result.returncode == 1
    assert "host NVIDIA driver is 575.64.05" in result.stderr


@pytest.mark.parametrize("fmt", [PROPRIETARY, OPEN], ids=["proprietary", "open"])
def test_pre_start_reads_the_proc_file_of_a_module_without_a_version(tmp_path: Path, fmt: str) -> None:
    fake_host(tmp_path, proc="575.64.03", fmt=fmt)
    result = run_hook(render_hookscript(vmid=220, hostname="ollama", nvidia=GUARD), tmp_path, "pre-start")
    assert result.returncode == 0, result.stderr


def test_pre_start_refuses_a_different_driver(tmp_path: Path) -> None:
    fake_host(tmp_path, "575.64.05")
    result = run_hook(render_hookscript(vmid=220, hostname="ollama", nvidia=GUARD), tmp_path, "pre-start")
    assert result.returncode == 1
    assert result.stderr.startswith(
        "pve-gpu-lxc hook (CT 220, pre-start): host NVIDIA driver is 575.64.05 but this container is pinned to 575.64.03;"
    )


def test_pre_start_refuses_without_the_module(tmp_path: Path) -> None:
    result = run_hook(render_hookscript(vmid=220, hostname="ollama", nvidia=GUARD), tmp_path, "pre-start")
    assert result.returncode == 1
    assert "the NVIDIA kernel module is not loaded" in result.stderr
    assert "pinned to driver 575.64.03" in result.stderr


def test_other_phases_and_unknown_phases_succeed(tmp_path: Path) -> None:
    script = render_hookscript(vmid=220, hostname="ollama", nvidia=GUARD)
    for phase in ("post-start", "pre-stop", "post-stop", "some-future-phase"):
        assert run_hook(script, tmp_path, phase).returncode == 0


HOSTILE = ["$(touch {m})", "`touch {m}`", "; touch {m}", "' ; touch {m}; '", "${{IFS}}touch${{IFS}}{m}", "\"$(touch {m})\"", "a\nb"]


def test_user_arguments_are_data_not_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    args = [h.format(m=marker) for h in HOSTILE]
    out = tmp_path / "args.txt"
    # printf writes each argument on its own line: what arrives must be exactly what was given.
    commands = Hooks(post_start=[["/usr/bin/printf", "%s\\n"] + args], pre_stop=[["/bin/sh", "-c", f"cp /dev/null {out}"]]).commands
    script = render_hookscript(vmid=220, hostname="ollama", commands=commands)
    result = run_hook(script, tmp_path, "post-start")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "".join(a + "\n" for a in args)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("hooks", "message"),
    [
        (dict(pre_start=[["nvidia-smi"]]), "pre-start hook program 'nvidia-smi' must be an absolute path"),
        (dict(pre_start=[["/usr/bin/foo;reboot"]]), "pre-start hook program '/usr/bin/foo;reboot' must be an absolute path"),
        (dict(post_stop=["/bin/true"]), "post-stop hook command '/bin/true' must be a non-empty list of strings"),
        (dict(pre_stop="/bin/true"), "Hooks(pre_stop=...) takes a list of argv lists, got the string '/bin/true'"),
        (dict(post_start=[[]]), "post-start hook command () must be a non-empty list of strings"),
        (dict(post_start=[["/bin/echo", "a\x00b"]]), "post-start hook argument 'a\\x00b' contains control characters"),
    ],
)
def test_hooks_reject(hooks: dict, message: str) -> None:
    with pytest.raises(ValidationError) as err:
        Hooks(**hooks)
    assert str(err.value).startswith(message)


def test_unknown_phase() -> None:
    with pytest.raises(ValidationError, match="hook phase 'boot' is not one of pre-start, post-start, pre-stop, post-stop"):
        HookCommand("boot", ("/bin/true",))  # type: ignore[arg-type]


def test_failing_user_command_stops_the_start(tmp_path: Path) -> None:
    script = render_hookscript(vmid=220, hostname="ollama", commands=Hooks(pre_start=[["/bin/false"]]).commands)
    result = run_hook(script, tmp_path, "pre-start")
    assert result.returncode == 1
    assert "command failed: /bin/false" in result.stderr


def collector_reads(tmp_path: Path) -> str | None:
    """The version `check` compares: the collector's nvidia_json run on the sysroot, through its parser."""
    script = f"ROOT='{tmp_path / 'root'}'\nNL='\n'\n" + readers.shell(readers.NVIDIA.function) + "nvidia_json\n"
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30, check=True).stdout
    nvidia = readers.NVIDIA.read(out)
    return None if nvidia is None else nvidia.loaded_version


def hook_reads(tmp_path: Path) -> str | None:
    """The version the pre-start hook compares (pinned to 0.0: it says which it found), None: not loaded."""
    result = run_hook(render_hookscript(vmid=220, hostname="ollama", nvidia=NvidiaGuard("0.0")), tmp_path, "pre-start")
    assert result.returncode == 1
    if "the NVIDIA kernel module is not loaded" in result.stderr:
        return None
    return result.stderr.split("host NVIDIA driver is ", 1)[1].split(" but ", 1)[0]


@pytest.mark.parametrize(("module", "proc", "fmt", "version"), [
    ("575.64.03", "575.64.03", OPEN, "575.64.03"),
    ("575.64.05", "575.64.03", PROPRIETARY, "575.64.05"),  # the loaded module's own version first
    (None, "575.64.03", PROPRIETARY, "575.64.03"),  # an older module: the NVRM line
    (None, "580.65.06", OPEN, "580.65.06"),
    (None, None, OPEN, None),  # not loaded
], ids=["both", "module-first", "proprietary-proc", "open-proc", "none"])
def test_the_hook_and_the_collector_read_the_same_files_in_the_same_order(
        tmp_path: Path, module: str | None, proc: str | None, fmt: str, version: str | None) -> None:
    """The hook keeps its own reader (model/hooks.py says why); what it compares is what `check` does."""
    fake_host(tmp_path, module, proc, fmt)
    assert hook_reads(tmp_path) == collector_reads(tmp_path) == version


def test_the_one_difference_a_loaded_module_never_shows(tmp_path: Path) -> None:
    """/sys/module/nvidia/version without /proc/driver/nvidia/version: the kernel makes the first before
    the module's init runs (load_module's sysfs set-up), the init makes the second, so only a module
    still loading, or failing to, shows one without the other.  The hook compares the module's
    version; the collector, whose record is the version file, records no driver, and `check` says
    the module is not loaded."""
    fake_host(tmp_path, module="575.64.03")
    assert (hook_reads(tmp_path), collector_reads(tmp_path)) == ("575.64.03", None)
