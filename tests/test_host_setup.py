"""`pve-gpu-lxc host-setup`: the set-up as values (pure), its install script run for real in a mount
namespace whose /etc is a node's, and the command with a stand-in `ssh` that runs the real collector
and the real install script on a fake node.  Against the simulated node's sshd, with a reboot:
tests/e2e/test_reboot.py."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest

from pve_gpu_lxc import HostFacts, ValidationError, cli
from pve_gpu_lxc.facts.boot import BootFacts, BootFile, nodes_at_boot
from pve_gpu_lxc.hostsetup import ENABLE_LINK, MODPROBE_PATH, MODULES_LOAD_PATH, UNIT_PATH, NvidiaBootSetup
from pve_gpu_lxc_testing.hostfacts import fakenode

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mount namespaces and mknod need root")


# --------------------------------------------------------------------------- the set-up, pure


def test_the_unit_runs_nvidia_modprobe_for_every_gpu_and_the_control_nodes() -> None:
    setup = NvidiaBootSetup(gpu_minors=[1, 0], nvidia_modprobe="/usr/local/bin/nvidia-modprobe")
    assert setup.exec_start() == (
        ("/usr/local/bin/nvidia-modprobe", "-c", "0", "-c", "1", "-c", "255"),
        ("/usr/local/bin/nvidia-modprobe", "-u", "-c", "0"),
    )
    text = setup.unit_text()
    assert "\nBefore=pve-guests.service\n" in text and "\nType=oneshot\n" in text
    assert "\nExecStart=/usr/local/bin/nvidia-modprobe -c 0 -c 1 -c 255\n" in text
    assert "\nWantedBy=multi-user.target\n" in text
    assert [f.path for f in setup.files()] == [MODULES_LOAD_PATH, UNIT_PATH]
    assert setup.files()[0].text.endswith("\nnvidia\nnvidia_uvm\n")


def test_modeset_caps_and_profiling() -> None:
    setup = NvidiaBootSetup(gpu_minors=[0], modeset=True, caps=[2, 1], allow_profiling=True)
    assert setup.exec_start()[2:] == (
        ("/usr/bin/nvidia-modprobe", "-m"),
        ("/usr/bin/nvidia-modprobe", "-f", "/proc/driver/nvidia/capabilities/mig/config"),
        ("/usr/bin/nvidia-modprobe", "-f", "/proc/driver/nvidia/capabilities/mig/monitor"),
    )
    assert setup.modules() == ("nvidia", "nvidia_uvm", "nvidia_modeset")
    assert setup.files()[-1].path == MODPROBE_PATH
    assert setup.files()[-1].text.endswith("\noptions nvidia NVreg_RestrictProfilingToAdminUsers=0\n")


@pytest.mark.parametrize("setup", [
    NvidiaBootSetup(gpu_minors=[0]),
    NvidiaBootSetup(gpu_minors=[0, 3], modeset=True, caps=[1, 2]),
], ids=["one GPU", "two GPUs, modeset, caps"])
def test_a_boot_replayed_with_the_set_up_makes_what_it_promises(setup: NvidiaBootSetup) -> None:
    """The set-up and the prediction agree: installing it makes exactly the nodes it names."""
    boot = BootFacts(tuple(BootFile(f.path, f.text) for f in setup.files()), ((ENABLE_LINK, UNIT_PATH),))
    made = nodes_at_boot(boot, driver_installed=True, gpu_minors=setup.gpu_minors)
    assert set(made.created) == set(setup.nodes())


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(gpu_minors=[]), "gpu_minors is empty: the node records no NVIDIA GPU"),
    (dict(gpu_minors=[255]), "gpu_minors entry 255 is out of range; allowed 0..254"),
    (dict(gpu_minors=["0"]), "gpu_minors entry must be an integer in 0..254, got '0'"),
    (dict(gpu_minors=[0], nvidia_modprobe="nvidia-modprobe"), "nvidia_modprobe 'nvidia-modprobe' is not an absolute"),
    (dict(gpu_minors=[0], nvidia_modprobe="/usr/bin/nvidia-modprobe;reboot"), "is not an absolute path"),
    (dict(gpu_minors=[0], nvidia_modprobe="/usr/bin/x"), "is not an absolute path to nvidia-modprobe"),
    (dict(gpu_minors=[0], caps=[3]), "caps entry 3 is not 1 (MIG config) or 2 (MIG monitor)"),
    (dict(gpu_minors=[0], modeset="yes"), "modeset must be True or False, got 'yes'"),
])
def test_bad_values_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        NvidiaBootSetup(**kwargs)


# --------------------------------------------------------------------------- the install script, for real


def run_in_node(node: Path, script: str) -> subprocess.CompletedProcess[str]:
    """`sh -s` with the node's etc/ mounted on /etc in a private mount namespace (nothing else touched)."""
    wrapper = f"mount --bind {shlex.quote(str(node / 'etc'))} /etc && exec sh -s"
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", wrapper],
                          input=script, capture_output=True, text=True, timeout=60)


def tree(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every entry under root: (mtime_ns, mode, link target or text)."""
    result = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        body = os.readlink(path) if path.is_symlink() else path.read_text() if path.is_file() else ""
        result[str(path.relative_to(root))] = (st.st_mtime_ns, st.st_mode, body)
    return result


@needs_root
def test_the_install_script_writes_once_and_then_changes_nothing(tmp_path: Path) -> None:
    node = tmp_path / "node"
    (node / "etc").mkdir(parents=True)
    setup = NvidiaBootSetup(gpu_minors=[0], allow_profiling=True)
    first = run_in_node(node, setup.apply_script())
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        f"written {MODULES_LOAD_PATH}", f"written {UNIT_PATH}", f"written {MODPROBE_PATH}",
        "enabled pve-gpu-lxc-nvidia-nodes.service",
        "systemd is not running here: pve-gpu-lxc-nvidia-nodes.service makes the nodes at the next boot",
        "host-setup: done",
    ]
    for f in setup.files():
        installed = node / f.path.lstrip("/")
        assert installed.read_text() == f.text and oct(installed.stat().st_mode & 0o777) == "0o644"
    assert os.readlink(node / ENABLE_LINK.lstrip("/")) == UNIT_PATH
    before = tree(node)
    second = run_in_node(node, setup.apply_script())
    assert second.returncode == 0, second.stderr
    assert [line.split()[0] for line in second.stdout.splitlines()[:4]] == ["unchanged"] * 4
    assert tree(node) == before  # not one byte, mode or mtime changed


@needs_root
def test_the_install_script_replaces_a_hand_edited_file(tmp_path: Path) -> None:
    node = tmp_path / "node"
    (node / "etc/systemd/system").mkdir(parents=True)
    (node / UNIT_PATH.lstrip("/")).write_text("[Service]\nExecStart=/bin/true\n")
    setup = NvidiaBootSetup(gpu_minors=[0])
    result = run_in_node(node, setup.apply_script())
    assert f"written {UNIT_PATH}" in result.stdout.splitlines()
    assert (node / UNIT_PATH.lstrip("/")).read_text() == setup.unit_text()
    assert not list((node / "etc/systemd/system").glob("*.pve-gpu-lxc-tmp.*"))


# --------------------------------------------------------------------------- the command


def fake_ssh(tmp_path: Path, node: Path) -> dict[str, str]:
    """`ssh` runs its stdin (the collector, or the install script) with the node's etc/ as /etc and
    HOSTFACTS_ROOT at the node, so both scripts see the fake node as the real ones see a node."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    etc = shlex.quote(str(node / "etc"))
    # Debian's awk is a symlink through /etc/alternatives, which the node's etc/ lacks
    inner = (f"mkdir -p {etc}/alternatives && mount --bind /etc/alternatives {etc}/alternatives && "
             f"mount --rbind {etc} /etc && HOSTFACTS_ROOT={shlex.quote(str(node))} exec sh -s")
    (bin_dir / "ssh").write_text(
        f"#!/bin/sh\necho session >> {shlex.quote(str(tmp_path / 'sessions'))}\n"
        f"exec unshare --mount --propagation private sh -c {shlex.quote(inner)}\n")
    (bin_dir / "ssh").chmod(0o755)
    fakenode.fake_pveversion(bin_dir)
    (tmp_path / "home").mkdir(exist_ok=True)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(tmp_path / "home"), "PROXMOX_VE_SSH_PRIVATE_KEY": ""}


def run(capsys: pytest.CaptureFixture[str], env: dict[str, str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(["host-setup", *args], environ=env)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def bare_node(tmp_path: Path) -> Path:
    """The example node "pve" (an RTX 5090 at minor 0, nvidia-modprobe installed) before host-setup."""
    return fakenode.build_pve_node(tmp_path / "node", boot_setup=False)


@needs_root
def test_dry_run_over_ssh_lists_the_changes_and_exits_2(tmp_path: Path, bare_node: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    env = fake_ssh(tmp_path, bare_node)
    project = tmp_path / "project"
    code, out, err = run(capsys, env, "--node", "pve", "--ssh", "root@192.0.2.10", "--project-dir", str(project))
    assert (code, err) == (2, "")
    assert "made at boot before pve-guests.service today: none" in out
    assert f"  {MODULES_LOAD_PATH}: create\n  {UNIT_PATH}: create\n  {ENABLE_LINK}: enable\n" in out
    assert out.rstrip().endswith("changes pending on 'pve': run with --ssh ... --apply to install them")
    assert not (bare_node / "etc/modules-load.d").exists()
    assert not (project / "stacks/facts/pve.json").exists()


@needs_root
def test_apply_installs_records_the_facts_and_a_second_run_changes_nothing(
        tmp_path: Path, bare_node: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = fake_ssh(tmp_path, bare_node)
    project = tmp_path / "project"
    args = ("--node", "pve", "--ssh", "root@192.0.2.10", "--apply", "--project-dir", str(project))
    code, out, err = run(capsys, env, *args)
    assert (code, err) == (0, "")
    assert f"  written {UNIT_PATH}" in out.splitlines()
    written = project / "stacks/facts/pve.json"
    assert out.rstrip().endswith(f"recorded node 'pve' again into {written}")
    facts = HostFacts.load(written)
    assert set(facts.nodes_at_boot().created) == {"/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm",
                                                   "/dev/nvidia-uvm-tools"}
    # what the fake node now holds is what the committed example facts record
    assert json.loads(written.read_text())["boot"] == json.loads(fakenode.COMMITTED_FACTS.read_text())["boot"]
    before = tree(bare_node / "etc")
    sessions = (tmp_path / "sessions").read_text().count("session")
    assert sessions == 3  # read, install, record again
    code, out, err = run(capsys, env, "--node", "pve", "--ssh", "root@192.0.2.10", "--project-dir", str(project))
    assert (code, err) == (0, "")
    assert "nothing to do: the set-up is installed" in out
    code, out, _ = run(capsys, env, *args)
    assert code == 0 and f"  unchanged {UNIT_PATH}" in out.splitlines()
    assert tree(bare_node / "etc") == before


def test_modeset_and_caps_come_with_their_options(capsys: pytest.CaptureFixture[str]) -> None:
    """The example node has no modeset/caps unit lines: asking for them is a pending change."""
    code, out, err = run(capsys, {}, "--node", "pve", "--facts", str(fakenode.COMMITTED_FACTS), "--modeset",
                         "--caps", "1,2")
    assert (code, err) == (2, "")
    assert "ExecStart=/usr/bin/nvidia-modprobe -m" in out and f"  {UNIT_PATH}: update" in out
    assert out.splitlines()[-5].endswith("/dev/nvidia-modeset, /dev/nvidia-caps/nvidia-cap1, /dev/nvidia-caps/nvidia-cap2")


def test_without_ssh_the_facts_file_is_read(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, {}, "--node", "pve", "--facts", str(fakenode.COMMITTED_FACTS))
    assert (code, err) == (0, "")
    assert ("made at boot before pve-guests.service today: /dev/nvidia-uvm, /dev/nvidia-uvm-tools, /dev/nvidia0, "
            "/dev/nvidiactl") in out
    assert "nothing to do: the set-up is installed" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--apply"], "--apply installs over SSH: give --ssh USER@HOST[:PORT]"),
    (["--caps", "one"], "--caps 'one' is not a comma-separated list of numbers such as 1,2"),
    (["--caps", "3"], "caps entry 3 is not 1 (MIG config) or 2 (MIG monitor)"),
])
def test_bad_arguments_exit_1_with_the_cause(args: list[str], message: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, {}, "--node", "pve", "--facts", str(fakenode.COMMITTED_FACTS), *args)
    assert code == 1 and message in err


def test_a_node_without_nvidia_modprobe_is_told_where_to_get_it(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    doc = json.loads(fakenode.COMMITTED_FACTS.read_text())
    doc["nvidia_modprobe"] = None
    facts = tmp_path / "pve.json"
    facts.write_text(json.dumps(doc))
    code, _, err = run(capsys, {}, "--node", "pve", "--facts", str(facts))
    assert code == 1
    assert "nvidia-modprobe is not installed on the node" in err and "nvidia-modprobe package (contrib)" in err


def test_a_node_without_the_driver_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = json.loads(fakenode.COMMITTED_FACTS.read_text())
    doc["nvidia"] = None
    facts = tmp_path / "pve.json"
    facts.write_text(json.dumps(doc))
    code, _, err = run(capsys, {}, "--node", "pve", "--facts", str(facts))
    assert code == 1 and "records no NVIDIA driver" in err
