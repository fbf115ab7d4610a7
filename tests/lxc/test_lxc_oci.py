"""OCI application containers under real LXC (issue 22): the rootfs extracted from the archive the
simulated node pulled (skopeo, from the session's loopback registry), as PVE's restore does, booted
with the GPU devN and the lines the node generated for the entrypoint; and the NVIDIA runtime
wiring (LXC's nvidia mount hook) that a pre-start hookscript can append.

The simulated node does PVE's part for real: oci-registry-pull, create (restore_oci_archive),
a config PUT, and the start (update_lxc_config writing /var/lib/lxc/<vmid>/config, then the
pre-start hookscript run as root in the node).  The harness boots from those files.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pve_gpu_lxc_testing import ociimage
from pve_gpu_lxc_testing.lxc import LxcHarness
from pve_gpu_lxc_testing.lxc import oci as lxcoci
from pve_gpu_lxc_testing.lxc.pvenode import spec_from_conf
from pve_gpu_lxc_testing.lxc.render import plan, stand_in_rdev
from pve_gpu_lxc_testing.pvesim import Simulator
from tests.pvesim.test_api import FACTS, Client

pytestmark = pytest.mark.lxc

RENDER = "/dev/dri/renderD128"
NVIDIA_HOOK = "/usr/share/lxc/hooks/nvidia"
ARCHIVE = "local:vztmpl/app_1.0.tar"
_vmids = iter(range(600, 700))


@pytest.fixture(scope="module")
def node(lxc_machine: None, tmp_path_factory: pytest.TempPathFactory, oci_registry: Any) -> Iterator[Simulator]:
    base = tmp_path_factory.mktemp("lxc-oci-node")
    with Simulator(base / "node", base / "state", facts=FACTS, ssh=False) as sim:
        oci_registry.trust(sim.root)
        client = Client.root(sim)
        reply = client.call("POST", "/nodes/pve/storage/local/oci-registry-pull", {"reference": oci_registry.app_ref})
        assert client.task(reply.data)[0]["exitstatus"] == "OK"
        yield sim


@pytest.fixture
def client(node: Simulator) -> Client:
    c = Client.root(node)
    return c


def ok(client: Client, method: str, path: str, params: dict[str, Any] | None = None) -> None:
    reply = client.call(method, path, params)
    assert reply.status == 200, (reply.status, reply.json)
    if isinstance(reply.data, str) and reply.data.startswith("UPID:"):
        status, log = client.task(reply.data)
        assert status["exitstatus"] == "OK", log


def created(node: Simulator, client: Client, *, ostemplate: str = ARCHIVE, dev_gid: int = 993,
            **params: Any) -> int:
    """A container created from the pulled image (restore_oci_archive), with renderD128 as dev0."""
    vmid = next(_vmids)
    ok(client, "POST", "/nodes/pve/lxc", {
        "vmid": vmid, "ostemplate": ostemplate, "storage": "local-lvm", "hostname": f"app{vmid}",
        "net0": "name=eth0,bridge=vmbr0,host-managed=1,ip=192.0.2.20/24", "unprivileged": 1, "ostype": "unmanaged",
        "dev0": f"{RENDER},gid={dev_gid},mode=0660", **params})
    return vmid


def started(node: Simulator, client: Client, vmid: int) -> str:
    """Start through the API (update_lxc_config, the pre-start hookscript) and stop again; the generated config."""
    ok(client, "POST", f"/nodes/pve/lxc/{vmid}/status/start")
    generated = (node.root / f"var/lib/lxc/{vmid}/config").read_text()
    ok(client, "POST", f"/nodes/pve/lxc/{vmid}/status/stop")
    return generated


def container_plan(node: Simulator, vmid: int) -> Any:
    spec = spec_from_conf(node.files.conf_path(vmid).read_text(), name=f"ct{vmid}", vm_id=vmid,
                          read_volume=lambda volid: node.files.volume_path(volid).read_bytes())
    return plan(spec, stand_in_rdev)


def archive(node: Simulator, volid: str = ARCHIVE) -> Path:
    return node.files.volume_path(volid)


def init_groups_in_userns() -> bool:
    """LXC applies lxc.init.groups in a new user namespace from 6.0.6 / 7.0 (lxc-pve: backported)."""
    return lxcoci.lxc_version() >= (6, 0, 6)


# --- D: the application container boots ------------------------------------------------------------------

def test_the_entrypoint_runs_as_the_images_user_with_the_node_env_and_sees_the_gpu_node(node, client, harness):
    vmid = created(node, client)
    # what bpg's update writes after the create (the user's env and entrypoint), stopped: applied at once
    ok(client, "PUT", f"/nodes/pve/lxc/{vmid}/config",
       {"env": "APP_MODE=user\0APP_TOKEN=s3cret\0PATH=/bin", "entrypoint": "/app/entry.sh report extra"})
    generated = started(node, client, vmid)
    lines = lxcoci.app_lines(generated)
    assert "lxc.init.cmd = /app/entry.sh report extra" in lines and f"lxc.mount.entry = {lxcoci.SHM}" in lines
    result = lxcoci.boot(harness, f"oci{vmid}", container_plan(node, vmid), archive(node), lines)
    report = ociimage.parse_report(result.console)
    assert report.complete, result.explain()
    assert report.args == ["report", "extra"]
    assert (report.uid, report.gid, report.cwd) == (1000, 1000, "/app")
    assert report.env["APP_MODE"] == "user" and report.env["APP_TOKEN"] == "s3cret" and report.env["TERM"] == "linux"
    assert "APP_GREETING" not in report.env  # the image's Env is gone: env replaces it
    uid, gid, mode, _ = report.nodes[RENDER]
    assert (uid, gid, mode) == (0, 993, "660")  # the declared GID, as the container sees it
    # lxc.init.groups (993, from the image's /etc/group) reaches the app only where LXC applies it in a
    # user namespace; Debian 12's LXC 5.0.2 does not, so user 1000:1000 cannot open a 0660 root:993 node
    if init_groups_in_userns():
        assert 993 in report.groups and report.opens[(RENDER, "r")] and report.opens[(RENDER, "w")]
    else:
        assert report.groups == [1000]
        assert not report.opens[(RENDER, "r")] and not report.opens[(RENDER, "w")]


def test_an_image_user_whose_primary_group_is_the_render_gid_opens_the_node(node, client, harness, oci_layout,
                                                                           tmp_path):
    ociimage.tag_variant(oci_layout, "render", ociimage.ImageConfig(
        entrypoint=("/app/entry.sh",), cmd=("report",), env=("PATH=/bin",), user="1000:993", workdir="/app"))
    ociimage.oci_archive(oci_layout, "render", archive(node, "local:vztmpl/app_render.tar"))
    vmid = created(node, client, ostemplate="local:vztmpl/app_render.tar")
    lines = lxcoci.app_lines(started(node, client, vmid))
    assert "lxc.init.gid = 993" in lines
    result = lxcoci.boot(harness, f"oci{vmid}", container_plan(node, vmid), archive(node, "local:vztmpl/app_render.tar"),
                         lines)
    report = ociimage.parse_report(result.console)
    assert report.complete, result.explain()
    assert (report.uid, report.gid) == (1000, 993)
    assert report.opens[(RENDER, "r")] and report.opens[(RENDER, "w")]


def test_the_stop_signal_is_the_images(node, client, harness):
    vmid = created(node, client, entrypoint="/app/entry.sh serve")
    ok(client, "PUT", f"/nodes/pve/lxc/{vmid}/config", {"entrypoint": "/app/entry.sh serve"})
    lines = lxcoci.app_lines(started(node, client, vmid))
    assert "lxc.signal.halt = SIGINT" in lines
    result = lxcoci.boot_and_stop(harness, f"oci{vmid}", container_plan(node, vmid), archive(node), lines)
    report = ociimage.parse_report(result.console)
    assert report.complete and report.signals == ["INT"], result.explain()


def test_the_generated_runtime_env_lines_need_an_lxc_that_knows_them(node, client, harness):
    """update_lxc_config writes `lxc.environment.runtime` (pve-container 6.1 needs lxc-pve >= 6.0.5-3);
    an LXC without the key refuses the whole config."""
    vmid = created(node, client)
    lines = lxcoci.app_lines(started(node, client, vmid), runtime_env=True)
    assert "lxc.environment.runtime = APP_MODE=image" in lines
    result = lxcoci.boot(harness, f"oci{vmid}", container_plan(node, vmid), archive(node), lines)
    report = ociimage.parse_report(result.console)
    if lxcoci.has_runtime_env():
        assert report.complete and report.env["APP_MODE"] == "image", result.explain()
    else:
        assert result.returncode != 0 and not report.complete
        assert 'Unsupported config key "lxc.environment.runtime"' in result.log, result.explain()


# --- E: the NVIDIA runtime, wired by a pre-start hookscript ---------------------------------------------------

RECORDER = """#!/bin/sh
# stand-in for LXC's nvidia mount hook: records how LXC runs it
{{
  echo "ARGV $*"
  env | sort | sed 's/^/ENV /'
}} > {out}/hook.$$ 2>&1
"""
FAKE_CLI = """#!/bin/sh
# stand-in for NVIDIA's nvidia-container-cli: records how the real nvidia hook calls it
{{
  echo "ARGV $*"
  env | sort | sed 's/^/ENV /'
}} > {out}/cli.$$ 2>&1
"""


def hookscript(node: Simulator, name: str, lines: list[str]) -> str:
    """A pre-start hookscript in the node's snippets that appends `lines` to /var/lib/lxc/<vmid>/config
    (which update_lxc_config wrote just before and lxc-start reads just after): what
    NvidiaGpu(runtime="host") would add to the product's hookscript."""
    body = "\n".join(lines)
    text = ("#!/bin/sh\n"
            "# pre-start: LXC's NVIDIA runtime hook for this start (update_lxc_config rewrites the file every time)\n"
            '[ "$2" = pre-start ] || exit 0\n'
            'config=/var/lib/lxc/$1/config\n'
            f"grep -qxF 'lxc.hook.mount = {NVIDIA_HOOK}' \"$config\" || cat >> \"$config\" <<'EOF'\n{body}\nEOF\n")
    path = node.files.volume_path(f"local:snippets/{name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return f"local:snippets/{name}"


def records(directory: Path, prefix: str) -> list[dict[str, Any]]:
    found = []
    for path in sorted(directory.glob(f"{prefix}.*")):
        argv: list[str] = []
        env: dict[str, str] = {}
        for line in path.read_text().splitlines():
            if line.startswith("ARGV "):
                argv = line[5:].split()
            elif line.startswith("ENV "):
                key, _, value = line[4:].partition("=")
                env[key] = value
        found.append({"argv": argv, "env": env})
    return found


def record_dir(harness: LxcHarness) -> Path:
    assert harness.workdir is not None
    directory = harness.workdir / "records"
    directory.mkdir(mode=0o777, exist_ok=True)
    directory.chmod(0o777)  # the hook runs as the container's mapped root
    return directory


def with_fake_cli(harness: LxcHarness) -> tuple[Path, dict[str, str]]:
    """FAKE_CLI first on the PATH LXC's hooks inherit, and where it records its calls."""
    out = record_dir(harness)
    bin_dir = out.parent / "fake-bin"
    bin_dir.mkdir()
    executable(bin_dir / "nvidia-container-cli", FAKE_CLI.format(out=out))
    return out, {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}"}


def executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)
    return path


ENV_HOOK_LINES = ["lxc.environment = NVIDIA_VISIBLE_DEVICES=none",
                  "lxc.environment = NVIDIA_DRIVER_CAPABILITIES=compute,utility",
                  f"lxc.hook.mount = {NVIDIA_HOOK}"]


def test_a_mount_hook_appended_by_the_pre_start_hookscript_runs_and_sees_lxc_environment(node, client, harness):
    vmid = created(node, client, hookscript=hookscript(node, "nvrt-env.sh", ENV_HOOK_LINES))
    generated = started(node, client, vmid)
    assert generated.endswith("\n".join(ENV_HOOK_LINES) + "\n")  # after everything update_lxc_config wrote
    out = record_dir(harness)
    stand_in = executable(out.parent / "nvidia-hook", RECORDER.format(out=out))
    lines = lxcoci.app_lines(generated, hooks={NVIDIA_HOOK: str(stand_in)})
    result = lxcoci.boot(harness, f"oci{vmid}", container_plan(node, vmid), archive(node), lines)
    report = ociimage.parse_report(result.console)
    assert report.complete, result.explain()
    [hook] = records(out, "hook")
    # LXC runs a mount hook as `<hook> <name> lxc mount` (hook version 0: type and section as arguments,
    # which the nvidia hook reads from $2 and $3), with LXC_ROOTFS_MOUNT set
    assert hook["argv"] == [f"oci{vmid}", "lxc", "mount"]
    assert hook["env"]["LXC_ROOTFS_MOUNT"] and hook["env"]["LXC_HOOK_VERSION"] == "0"
    # lxc.environment reaches the hook (and, in every LXC, the init process too)
    assert hook["env"]["NVIDIA_VISIBLE_DEVICES"] == "none"
    assert hook["env"]["NVIDIA_DRIVER_CAPABILITIES"] == "compute,utility"
    assert report.env["NVIDIA_VISIBLE_DEVICES"] == "none"
    # the application's env (lxc.environment.runtime on a PVE 9 node) does not reach hooks where LXC
    # splits runtime and hooks; here (no split) it is written as lxc.environment and does
    assert ("APP_MODE" in hook["env"]) == (not lxcoci.has_runtime_env())
    if not lxcoci.has_runtime_env():  # ... the image's PATH included, over lxc-start's own
        assert hook["env"]["PATH"] == "/bin"


HOOKS_LINES = ["lxc.environment.hooks = NVIDIA_VISIBLE_DEVICES=none",
               "lxc.environment.hooks = NVIDIA_DRIVER_CAPABILITIES=compute,utility",
               f"lxc.hook.mount = {NVIDIA_HOOK}"]
CHECK_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "nvidia-runtime-check.sh"


def test_lxc_environment_hooks_needs_an_lxc_with_the_split(node, client, harness):
    """The hookscript of scripts/nvidia-runtime-check.sh (the real-hardware run), run by the node at
    the start: its `lxc.environment.hooks` lines reach the hook and not the init process where LXC
    has the split (lxc-pve >= 6.0.5-3, LXC 7), and make an LXC without it refuse the config."""
    text = CHECK_SCRIPT.read_text()
    script = text[text.index("<<'HOOK'\n") + 8:text.index("\nHOOK\n") + 1]
    path = node.files.volume_path("local:snippets/nvrt-hooks.sh")
    path.write_text(script)
    path.chmod(0o755)
    vmid = created(node, client, hookscript="local:snippets/nvrt-hooks.sh")
    generated = started(node, client, vmid)
    assert generated.endswith("\n".join(HOOKS_LINES) + "\n")
    out = record_dir(harness)
    stand_in = executable(out.parent / "nvidia-hook", RECORDER.format(out=out))
    lines = lxcoci.app_lines(generated, hooks={NVIDIA_HOOK: str(stand_in)})
    result = lxcoci.boot(harness, f"oci{vmid}", container_plan(node, vmid), archive(node), lines)
    report = ociimage.parse_report(result.console)
    if lxcoci.has_runtime_env():
        [hook] = records(out, "hook")
        assert report.complete and hook["env"]["NVIDIA_VISIBLE_DEVICES"] == "none"
        assert "NVIDIA_VISIBLE_DEVICES" not in report.env  # hooks only
    else:
        assert result.returncode != 0 and records(out, "hook") == []
        assert 'Unsupported config key "lxc.environment.hooks"' in result.log, result.explain()


def test_lxcs_real_nvidia_hook_calls_nvidia_container_cli_for_the_rootfs(node, client, harness):
    """LXC's own /usr/share/lxc/hooks/nvidia, wired by the hookscript, with a stand-in
    nvidia-container-cli first on PATH (this machine has no NVIDIA driver): the hook accepts the
    unprivileged container and calls the CLI as libnvidia-container's LXC integration does."""
    assert Path(NVIDIA_HOOK).is_file(), "LXC's nvidia hook is missing (Debian's lxc ships it)"
    vmid = created(node, client, hookscript=hookscript(node, "nvrt-real.sh", ENV_HOOK_LINES))
    # without PATH in the app's env: on an LXC without the runtime/hooks split it would reach the hook
    # too and hide the stand-in (the hook appends the system directories to whatever PATH it gets)
    ok(client, "PUT", f"/nodes/pve/lxc/{vmid}/config", {"env": "APP_MODE=user"})
    lines = lxcoci.app_lines(started(node, client, vmid))
    assert f"lxc.hook.mount = {NVIDIA_HOOK}" in lines
    out, env = with_fake_cli(harness)
    result = lxcoci.boot(harness, f"oci{vmid}", container_plan(node, vmid), archive(node), lines, env=env)
    report = ociimage.parse_report(result.console)
    assert report.complete, result.explain()
    [cli] = records(out, "cli")
    argv = cli["argv"]
    assert argv[:3] == ["--user", "configure", "--no-cgroups"]
    assert [a for a in argv if a.startswith("--ldconfig=@")] and "--compute" in argv and "--utility" in argv
    assert not [a for a in argv if a.startswith("--device")]  # NVIDIA_VISIBLE_DEVICES=none: PVE's devN pass the nodes
    assert argv[-1] == cli["env"]["LXC_ROOTFS_MOUNT"]


def test_without_nvidia_visible_devices_the_real_hook_does_nothing(node, client, harness):
    """The nvidia hook exits 0 at once when NVIDIA_VISIBLE_DEVICES is unset: an application env
    (lxc.environment.runtime) that never reaches hooks leaves the container without the driver, silently."""
    vmid = created(node, client, hookscript=hookscript(node, "nvrt-none.sh", [f"lxc.hook.mount = {NVIDIA_HOOK}"]))
    ok(client, "PUT", f"/nodes/pve/lxc/{vmid}/config", {"env": "APP_MODE=user"})
    lines = lxcoci.app_lines(started(node, client, vmid))
    out, env = with_fake_cli(harness)
    result = lxcoci.boot(harness, f"oci{vmid}", container_plan(node, vmid), archive(node), lines, env=env)
    assert ociimage.parse_report(result.console).complete, result.explain()
    assert records(out, "cli") == []


# --- the product's own hookscript (GpuContainer from Template.oci) ---------------------------------------

def product_hookscript(node: Simulator, vmid: int, **props: Any) -> str:
    """The hookscript GpuContainer synthesizes for an app container, in the node's snippets."""
    from pve_gpu_lxc import GpuContainerProps, IntelGpu, Template
    from pve_gpu_lxc.model.container import build_model

    defaults: dict[str, Any] = dict(
        node_name="pve", vm_id=vmid, hostname=f"app{vmid}", gpus=[IntelGpu(card=None, render=128)],
        # the image's user is app 1000:1000: its primary GID is the one the render node needs
        template=Template.oci("127.0.0.1:5000/pvesim/app:1.0", os_type="unmanaged", render_gid=1000),
        entrypoint="/app/entry.sh report declared", env={"PATH": "/bin", "APP_MODE": "declared"})
    model = build_model(GpuContainerProps(**{**defaults, **props}))
    assert model.hookscript is not None
    if not props:  # the Intel GPU: renderD128 with the app's primary GID
        assert [(d.path, d.gid) for d in model.devices] == [(RENDER, 1000)]
    name = f"pve-gpu-lxc-{vmid}.sh"
    path = node.files.volume_path(f"local:snippets/{name}")
    path.write_text(model.hookscript)
    path.chmod(0o700)
    return f"local:snippets/{name}"


def test_the_products_hookscript_gives_the_entrypoint_its_declared_env_and_the_gpu_node(node, client, harness):
    vmid = next(_vmids)
    hook = product_hookscript(node, vmid)
    # bpg's create carries the declared env and entrypoint; PVE's create writes the image's over them
    _create_with(node, client, vmid, hook)
    conf = node.files.conf_path(vmid).read_text()
    assert "entrypoint: /app/entry.sh report\n" in conf  # the image's (Entrypoint + Cmd), before the first start
    generated = started(node, client, vmid)  # the pre-start hookscript writes the declared values
    conf = node.files.conf_path(vmid).read_text()
    assert "entrypoint: /app/entry.sh report declared\n" in conf
    assert "lxc.environment.runtime: APP_MODE=declared\nlxc.environment.runtime: PATH=/bin\n" in conf
    lines = lxcoci.app_lines(generated)
    result = lxcoci.boot(harness, f"oci{vmid}", container_plan(node, vmid), archive(node), lines)
    report = ociimage.parse_report(result.console)
    assert report.complete, result.explain()
    assert report.args == ["report", "declared"]
    assert report.env["APP_MODE"] == "declared" and "APP_GREETING" not in report.env
    uid, gid, mode, _ = report.nodes[RENDER]
    assert (uid, gid, mode) == (0, 1000, "660")  # the declared GID: the app's primary group
    assert (report.uid, report.gid) == (1000, 1000)
    assert report.opens[(RENDER, "r")] and report.opens[(RENDER, "w")]  # on every LXC: no supplementary group needed


def _create_with(node: Simulator, client: Client, vmid: int, hook: str) -> int:
    ok(client, "POST", "/nodes/pve/lxc", {
        "vmid": vmid, "ostemplate": ARCHIVE, "storage": "local-lvm", "hostname": f"app{vmid}",
        "net0": "name=eth0,bridge=vmbr0,host-managed=1,ip=192.0.2.20/24", "unprivileged": 1, "ostype": "unmanaged",
        "dev0": f"{RENDER},gid=1000,mode=0660", "hookscript": hook, "cmode": "console",
        "env": "APP_MODE=declared\0PATH=/bin", "entrypoint": "/app/entry.sh report declared"})
    return vmid


def test_the_products_nvidia_host_runtime_lines_end_the_generated_config(node, client, harness):
    """NvidiaGpu(runtime="host"): the product's hookscript checks LXC's nvidia hook and NVIDIA's CLI on
    the node, then appends the three lines; LXC runs the hook where it knows `lxc.environment.hooks`
    (lxc-pve >= 6.0.5-3) and refuses the config where it does not (Debian 12's 5.0.2)."""
    from pve_gpu_lxc import NvidiaGpu

    vmid = next(_vmids)
    hook = product_hookscript(node, vmid, gpus=[NvidiaGpu(runtime="host")], template=ociimage_template())
    cli = node.state_dir / "usr-overlay/bin/nvidia-container-cli"  # NVIDIA's tools installed on the node
    cli.parent.mkdir(parents=True, exist_ok=True)
    executable(cli, "#!/bin/sh\nexit 0\n")
    try:
        _create_with(node, client, vmid, hook)
        generated = started(node, client, vmid)
    finally:
        cli.unlink()
    assert generated.endswith("lxc.environment.hooks = NVIDIA_VISIBLE_DEVICES=none\n"
                              "lxc.environment.hooks = NVIDIA_DRIVER_CAPABILITIES=compute,utility\n"
                              f"lxc.hook.mount = {NVIDIA_HOOK}\n")
    out = record_dir(harness)
    stand_in = executable(out.parent / "nvidia-hook", RECORDER.format(out=out))
    lines = lxcoci.app_lines(generated, hooks={NVIDIA_HOOK: str(stand_in)})
    result = lxcoci.boot(harness, f"oci{vmid}", container_plan(node, vmid), archive(node), lines)
    if lxcoci.has_runtime_env():
        [recorded] = records(out, "hook")
        assert recorded["env"]["NVIDIA_DRIVER_CAPABILITIES"] == "compute,utility"
    else:
        assert result.returncode != 0 and 'Unsupported config key "lxc.environment.hooks"' in result.log


def test_the_products_nvidia_runtime_refuses_to_start_without_nvidia_container_cli(node, client):
    from pve_gpu_lxc import NvidiaGpu

    vmid = next(_vmids)
    hook = product_hookscript(node, vmid, gpus=[NvidiaGpu(runtime="host")], template=ociimage_template())
    _create_with(node, client, vmid, hook)
    reply = client.call("POST", f"/nodes/pve/lxc/{vmid}/status/start")
    status, log = client.task(reply.data)
    assert status["exitstatus"] != "OK"
    text = "\n".join(map(str, log)) if isinstance(log, list) else str(log)
    assert "needs /usr/bin/nvidia-container-cli on the node" in text, text


def ociimage_template() -> Any:
    from pve_gpu_lxc import Template

    return Template.oci("127.0.0.1:5000/pvesim/app:1.0", os_type="unmanaged")
