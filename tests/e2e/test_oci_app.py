"""Application containers from OCI images, from the constructs, with the REAL bpg/proxmox provider.

`Template.oci` + `GpuContainer(entrypoint=..., env=...)` synthesized by a CDKTF app, applied by
Terraform and bpg v0.111.1 against the simulated node: `proxmox_oci_image` pulls the tests' image
from the session's loopback registry (the real skopeo in the node), the container is created from
it (restore_oci_archive), and its pre-start hookscript writes the declared entrypoint and env over
the image's before bpg reads the config back.  One apply; the next plan is empty; drift is clean.
(tests/e2e/test_oci_provider.py holds the sequences that do not work, with hand-written JSON.)
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pve_gpu_lxc import cli
from pve_gpu_lxc.cli.exit_codes import EXIT_FINDING
from pve_gpu_lxc.pve import conf as pveconf
from pve_gpu_lxc_testing.e2e.harness import FACTS, QUIET_ENV, REPO_ROOT, SimEnv, stack_dir, warnings_in
from tests.e2e.conftest import oci_sim, synth_oci_app
from tests.pvesim.test_api import Client

pytestmark = pytest.mark.e2e

VMID = 420
ENTRYPOINT = "/app/entry.sh serve"
ENV = {"PATH": "/bin", "APP_MODE": "declared", "GREETING": "it's ${HOME} and %{x}, literally"}



@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, oci_registry: Any) -> Iterator[SimEnv]:
    with oci_sim(tmp_path_factory.mktemp("oci-app"), oci_registry) as env:
        yield env


def synth(sim: SimEnv, base: Path, reference: str, *, entrypoint: str = ENTRYPOINT,
          env: dict[str, str] | None = None, vmid: int = VMID, gpu: str = "IntelGpu(card=None, render=128)") -> Path:
    # one state for the versions of the app
    return synth_oci_app(sim, base, base.parent / "state", reference=reference, vmid=vmid, gpu=gpu,
                         entrypoint=entrypoint, env=env if env is not None else ENV)


def main_section(sim: SimEnv) -> str:
    return sim.conf_text(VMID).split("\n[", 1)[0]


def test_one_apply_leaves_the_declared_entrypoint_and_env_and_an_empty_plan(
        node: SimEnv, oci_registry: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stack = synth(node, tmp_path / "app", oci_registry.app_ref)
    proc = node.apply(stack)
    assert "Apply complete! Resources: 3 added, 0 changed, 0 destroyed." in proc.stdout, proc.stdout[-2000:]
    assert warnings_in(proc.stdout + proc.stderr) == []
    conf = main_section(node)
    # the declared values, not the image's (PATH=/bin, APP_MODE=image, APP_GREETING=...)
    assert f"entrypoint: {ENTRYPOINT}\n" in conf
    assert [ln for ln in conf.splitlines() if ln.startswith("lxc.environment.runtime: ")] == [
        "lxc.environment.runtime: APP_MODE=declared",
        "lxc.environment.runtime: GREETING=it's ${HOME} and %{x}, literally",  # Terraform's escapes undone
        "lxc.environment.runtime: PATH=/bin"]
    # what the image decided stays: its user, working directory and stop signal; PVE's console mode
    for line in ("lxc.init.uid: 1000", "lxc.init.gid: 1000", "lxc.init.cwd: /app", "cmode: console",
                 "ostype: unmanaged"):
        assert re.search(rf"^{re.escape(line)}$", conf, re.M), line
    assert re.search(r"^net0: .*host-managed=1", conf, re.M)
    assert "dev0: deny-write=0,path=/dev/dri/renderD128,uid=0,gid=1000,mode=0660\n" in conf
    # the hook wrote what PVE's own writer writes for that config (Config.pm write_pct_config)
    assert pveconf.render(pveconf.parse(node.conf_text(VMID))) == node.conf_text(VMID)
    generated = (node.node_root / f"var/lib/lxc/{VMID}/config").read_text().splitlines()
    assert f"lxc.init.cmd = {ENTRYPOINT}" in generated
    assert node.plan(stack) == 0
    assert node.drift(stack).resource_drift == []
    # the live check finds the node as the stack says (devN, hookscript, idmap, the running app)
    capsys.readouterr()
    code = cli.main(["check", "--no-synth", "--outdir", str(stack.parent.parent), "--facts", f"pve={FACTS}"],
                    environ={**os.environ, **node.env})
    out = capsys.readouterr()
    assert code == 0, out.out + out.err

    # a reboot's start finds the values in place and changes nothing
    before = node.conf_text(VMID)
    client = Client.root(node.sim)
    status, _ = client.task(client.call("POST", f"/nodes/pve/lxc/{VMID}/status/reboot").data)
    assert status["exitstatus"] == "OK" and node.conf_text(VMID) == before

    # a changed env is one apply (bpg's PUT, pending, then its reboot; the hook writes the new values)
    changed = synth(node, tmp_path / "changed", oci_registry.app_ref, env={**ENV, "APP_MODE": "changed"})
    proc = node.apply(changed)
    # the hookscript snippet is replaced (bpg: new content is a new file), the container updated in place
    assert "Resources: 1 added, 1 changed, 1 destroyed." in proc.stdout, proc.stdout[-2000:]
    assert "proxmox_virtual_environment_container.web: Modifications complete" in proc.stdout
    assert "lxc.environment.runtime: APP_MODE=changed\n" in main_section(node)
    assert node.plan(changed) == 0
    node.destroy(changed)
    assert not node.conf_path(VMID).exists()


CLI_STANDIN = "#!/bin/sh\necho 'cli-version: 1.17.8'\necho 'lib-version: 1.17.8'\n"
LXC_PVE_STATUS = ("Package: lxc-pve\nStatus: install ok installed\nArchitecture: amd64\nVersion: 6.0.5-3\n"
                  "Description: Linux containers userspace tools\n\n")


def live_check(node: SimEnv, stack: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(["check", "--no-synth", "--outdir", str(stack.parent.parent), "--facts", f"pve={FACTS}"],
                    environ={**os.environ, **node.env})
    out = capsys.readouterr()
    return code, out.out + out.err


def test_nvidia_host_runtime_starts_with_the_nodes_runtime_and_check_names_what_goes_missing(
        node: SimEnv, oci_registry: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """NvidiaGpu(runtime="host") on a node with PVE 9.1's lxc-pve, LXC's nvidia hook (Debian's, the
    node's /usr is this machine's) and a stand-in nvidia-container-cli: the start's hookscript adds
    the hook's lines to the config LXC reads, and the live check is clean; without the CLI the check
    names it and the hookscript refuses the next start."""
    vmid = 421
    cli_path = node.sim.state_dir / "usr-overlay/bin/nvidia-container-cli"  # the node's /usr/bin
    cli_path.write_text(CLI_STANDIN)
    cli_path.chmod(0o755)
    status = node.node_root / "var/lib/dpkg/status"
    status.parent.mkdir(parents=True, exist_ok=True)
    status.write_text(LXC_PVE_STATUS)
    stack = synth(node, tmp_path / "nv", oci_registry.app_ref, vmid=vmid,
                  gpu='NvidiaGpu(index=0, runtime="host", capabilities="compute,utility")')
    try:
        proc = node.apply(stack)
        assert "Apply complete!" in proc.stdout, proc.stdout[-2000:]
        generated = (node.node_root / f"var/lib/lxc/{vmid}/config").read_text().splitlines()
        assert generated[-3:] == ["lxc.environment.hooks = NVIDIA_VISIBLE_DEVICES=none",
                                  "lxc.environment.hooks = NVIDIA_DRIVER_CAPABILITIES=compute,utility",
                                  "lxc.hook.mount = /usr/share/lxc/hooks/nvidia"]
        code, out = live_check(node, stack, capsys)
        assert code == 0, out

        cli_path.unlink()
        code, out = live_check(node, stack, capsys)
        assert code == EXIT_FINDING, out
        assert ("nvidia: NvidiaGpu(runtime='host') has LXC's nvidia hook run nvidia-container-cli at every start, "
                "and on pve nvidia-container-cli is not installed on the node.") in out
        client = Client.root(node.sim)
        task, log = client.task(client.call("POST", f"/nodes/pve/lxc/{vmid}/status/reboot").data)
        assert task["exitstatus"] != "OK"
        assert "NvidiaGpu(runtime='host') needs /usr/bin/nvidia-container-cli on the node" in "\n".join(log)
    finally:
        cli_path.unlink(missing_ok=True)
        node.destroy(stack)
    assert not node.conf_path(vmid).exists()


def test_the_readmes_oci_example_applies_with_the_tests_image(node: SimEnv, oci_registry: Any, tmp_path: Path) -> None:
    """The README's example as printed, but for the image this machine can pull (its reference, the
    image's OS, its user's GID, an entrypoint and env the image has): one apply, an empty plan."""
    from tests.test_readme import oci_example

    code = oci_example()
    swaps = {'"docker.io/jellyfin/jellyfin:10.10.7", os_type="debian", render_gid=0':
             f'{oci_registry.app_ref!r}, os_type="unmanaged", render_gid=1000',
             "/jellyfin/jellyfin --datadir /config --cachedir /cache --ffmpeg /usr/lib/jellyfin-ffmpeg/ffmpeg":
             ENTRYPOINT,
             '"JELLYFIN_DATA_DIR": "/config"': '"APP_MODE": "readme"'}
    for old, new in swaps.items():
        assert old in code, old
        code = code.replace(old, new)
    base = tmp_path / "readme"
    base.mkdir()
    (base / "main.py").write_text(f"import sys\nsys.path.insert(0, {str(REPO_ROOT)!r})\n" + code)
    out = base / "cdktf.out"
    run_env = {**os.environ, **QUIET_ENV, **node.env, "CDKTF_OUTDIR": str(out)}
    proc = subprocess.run([str(REPO_ROOT / ".venv" / "bin" / "python"), "main.py"], cwd=base, env=run_env,
                          text=True, capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    stack = stack_dir(out, "apps")
    proc = node.apply(stack)
    assert "Apply complete! Resources: 3 added, 0 changed, 0 destroyed." in proc.stdout, proc.stdout[-2000:]
    conf = node.conf_text(230)
    assert f"entrypoint: {ENTRYPOINT}\n" in conf and "lxc.environment.runtime: APP_MODE=readme\n" in conf
    assert node.plan(stack) == 0
    node.destroy(stack)
