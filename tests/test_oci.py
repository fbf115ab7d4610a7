"""Application containers from OCI images: Template.oci, entrypoint/env, the hook that writes them,
NvidiaGpu(runtime="host") (model/oci.py, model/hooks.py, cdk/template.py, cdk/mapping.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pve_gpu_lxc import GpuContainer, IntelGpu, Network, NvidiaGpu, Template, ValidationError
from pve_gpu_lxc.model.hooks import render_hookscript
from pve_gpu_lxc.pve.oci import AppConfig
from pve_gpu_lxc.pve import conf as pveconf

from .conftest import container_of

REF = "docker.io/jellyfin/jellyfin:10.10.7"
ENTRY = "/jellyfin/jellyfin --datadir /config"
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "JELLYFIN_DATA_DIR": "/config"}


def app(stack, name="jf", vm_id=230, template=None, **kw):
    defaults = dict(node_name="pve", vm_id=vm_id, hostname=name,
                    template=template or Template.oci(REF, os_type="debian", render_gid=0),
                    gpus=[IntelGpu(card=None, render=128)], entrypoint=ENTRY, env=ENV)
    return GpuContainer(stack, name, **{**defaults, **kw})


# --- Template.oci ------------------------------------------------------------------------------


def test_oci_template_defaults_and_volume_id() -> None:
    t = Template.oci(REF, os_type="debian")
    assert (t.kind, t.file_name, t.node_volid, t.operating_system_type) == (
        "oci", "jellyfin_10.10.7.tar", "local:vztmpl/jellyfin_10.10.7.tar", "debian")
    assert Template.oci("127.0.0.1:5000/team/app:1.0", os_type="unmanaged", file_name="app.tar").file_name == "app.tar"


@pytest.mark.parametrize("reference, kwargs, message", [
    ("jellyfin/jellyfin", {}, "is not an OCI image reference with a tag"),
    ("docker.io/Jellyfin/jellyfin:1", {}, "lower-case path"),
    ("docker.io/x/y@sha256:" + "a" * 64, {}, "no digest"),
    (REF, {"file_name": "jf.tar.zst"}, "must end in .tar"),
    (REF, {"file_name": "j f.tar"}, "bpg would then look for a file that is not there"),
    (REF, {"os_type": "windows"}, "Template os_type 'windows' is not one of"),
    (REF, {"os_type": None}, "os_type is required"),
    (REF, {"datastore_id": "l"}, "is not a Proxmox storage id"),
])
def test_oci_template_refusals(reference: str, kwargs: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message if "(" not in message else None) as info:
        Template.oci(reference, **{"os_type": "debian", **kwargs})
    assert message in str(info.value)


# --- the container's props ----------------------------------------------------------------------


def test_an_app_container_synthesizes_the_pull_the_env_the_console_and_the_hook(stack, synth) -> None:
    app(stack, env={**ENV, "TEMPLATE": "${HOME} and %{x}"})
    app(stack, "jf2", 231)  # the same image on the same node: one pull
    doc = synth(stack)
    (key,) = doc["resource"]["proxmox_oci_image"]
    assert key == "template-pve-jellyfin_10_10_7"
    assert doc["resource"]["proxmox_oci_image"][key] == {
        "datastore_id": "local", "file_name": "jellyfin_10.10.7.tar", "node_name": "pve", "reference": REF}
    ct = container_of(doc, "jf")
    assert ct["operating_system"] == {"template_file_id": f"${{proxmox_oci_image.{key}.id}}", "type": "debian"}
    assert ct["initialization"]["entrypoint"] == ENTRY
    assert ct["environment_variables"] == {**ENV, "TEMPLATE": "$${HOME} and %%{x}"}  # Terraform's escapes
    assert ct["console"] == {"type": "console"}
    assert ct["network_interface"][0]["host_managed"] is True
    assert ct["started"] is True and ct["device_passthrough"][0]["gid"] == 0
    hook = next(iter(doc["resource"]["proxmox_virtual_environment_file"].values()))["source_raw"]["data"]
    assert "pve_gpu_lxc_app_config '/jellyfin/jellyfin --datadir /config' 'JELLYFIN_DATA_DIR=/config\n" in hook


def test_a_system_container_is_unchanged_by_the_app_props(stack, synth) -> None:
    GpuContainer(stack, "sys", node_name="pve", vm_id=240, hostname="sys", gpus=[IntelGpu(card=None, render=128)],
                 template=Template.existing("local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", render_gid=993))
    ct = container_of(synth(stack), "sys")
    assert "environment_variables" not in ct and "console" not in ct and "entrypoint" not in ct["initialization"]
    assert "host_managed" not in ct["network_interface"][0] and "hook_script_file_id" not in ct


def test_host_managed_can_be_turned_off(stack, synth) -> None:
    app(stack, network=Network(host_managed=False))
    assert "host_managed" not in container_of(synth(stack), "jf")["network_interface"][0]


@pytest.mark.parametrize("kwargs, message", [
    ({"entrypoint": None}, "entrypoint must be given for a container from the OCI image"),
    ({"env": {}}, "env must be given for a container from the OCI image"),
    ({"entrypoint": None, "env": {}}, "entrypoint and env must be given"),
    ({"started": False}, "started=False with the OCI image"),
    ({"import_existing": True}, "import_existing=True with the OCI image"),
    ({"env": {"A-B": "x"}}, "env name 'A-B' must be letters, digits and _ only"),
    ({"env": {"A": "x\ny"}}, "env['A'] contains a control character"),
    ({"env": {"A": 1}}, "env['A'] must be a string, got int 1"),
    ({"env": ["A=1"]}, "env must be a dict"),
    ({"entrypoint": "  "}, "entrypoint must be a non-empty command line"),
    ({"entrypoint": "/x\n/y"}, "contains a control character"),
])
def test_app_container_refusals_name_the_construct_and_the_value(stack, kwargs: dict, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        app(stack, **kwargs)
    assert str(info.value).startswith("GpuContainer 'test/jf': ") and message in str(info.value)


def test_the_missing_app_config_message_says_where_to_find_it(stack) -> None:
    with pytest.raises(ValidationError) as info:
        app(stack, entrypoint=None, env={})
    text = str(info.value)
    assert f"skopeo inspect --config docker://{REF}" in text and "env replaces the image's" in text


def test_gpu_nodes_of_an_app_need_the_gid_the_app_runs_with(stack) -> None:
    with pytest.raises(ValidationError) as info:
        app(stack, template=Template.oci(REF, os_type="debian"))
    text = str(info.value)
    assert "/dev/dri/renderD128 must belong to a group the app runs with" in text
    assert "Template.oci(..., render_gid=N)" in text and "primary GID" in text and "lxc.init.groups" in text


# --- the hook: the declared entrypoint and env written on the node ------------------------------------

CONF = """\
arch: amd64
cmode: console
entrypoint: /image/entry --image
hostname: jf
ostype: debian
lxc.environment.runtime: PATH=/bin
lxc.environment.runtime: IMAGE=1
lxc.init.uid: 1000
lxc.init.gid: 1000
lxc.idmap: u 0 100000 65536

[snap]
entrypoint: /image/entry --old
lxc.environment.runtime: OLD=1
"""
GENERATED = """\
lxc.arch = amd64
lxc.init.cmd = /image/entry --image
lxc.environment.runtime = PATH=/bin
lxc.environment.runtime = IMAGE=1
lxc.init.uid = 1000
"""


def run_pre_start(tmp_path: Path, script: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "hook.sh"
    path.write_text(script)
    path.chmod(0o755)
    env = {"PATH": "/usr/bin:/bin", "PVE_GPU_LXC_SYSROOT": str(tmp_path / "root")}
    return subprocess.run([str(path), "230", "pre-start"], capture_output=True, text=True, env=env, timeout=30)


def node_files(tmp_path: Path, conf: str = CONF, generated: str = GENERATED) -> tuple[Path, Path]:
    c = tmp_path / "root/etc/pve/lxc/230.conf"
    g = tmp_path / "root/var/lib/lxc/230/config"
    for path, text in ((c, conf), (g, generated)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return c, g


HOSTILE = {"A": "it's $(touch PWNED) `touch PWNED` \"$HOME\" ; rm -rf / ; '", "PATH": "/bin", "T": "a\tb"}


def test_the_hook_writes_the_declared_values_as_pves_writer_would(tmp_path: Path) -> None:
    conf, generated = node_files(tmp_path)
    hook = render_hookscript(vmid=230, hostname="jf",
                             app=AppConfig("/app/run --flag 'x y'", tuple(sorted(HOSTILE.items()))))
    proc = run_pre_start(tmp_path, hook)
    assert proc.returncode == 0, proc.stderr
    text = conf.read_text()
    assert text == (
        "arch: amd64\ncmode: console\nentrypoint: /app/run --flag 'x y'\nhostname: jf\nostype: debian\n"
        f"lxc.environment.runtime: A={HOSTILE['A']}\nlxc.environment.runtime: PATH=/bin\n"
        "lxc.environment.runtime: T=a\tb\n"
        "lxc.init.uid: 1000\nlxc.init.gid: 1000\nlxc.idmap: u 0 100000 65536\n\n"
        "[snap]\nentrypoint: /image/entry --old\nlxc.environment.runtime: OLD=1\n")  # sections untouched
    # PVE's writer, given what PVE's reader reads from it, writes the same bytes
    assert pveconf.render(pveconf.parse(text)) == text
    assert generated.read_text().splitlines()[1:5] == [
        "lxc.init.cmd = /app/run --flag 'x y'", f"lxc.environment.runtime = A={HOSTILE['A']}",
        "lxc.environment.runtime = PATH=/bin", "lxc.environment.runtime = T=a\tb"]
    assert not list(tmp_path.rglob("PWNED"))  # the values are data, never code
    # the next start finds them in place and writes nothing
    before = (conf.stat().st_mtime_ns, generated.stat().st_mtime_ns)
    generated.write_text(GENERATED)  # update_lxc_config writes it anew at every start
    assert run_pre_start(tmp_path, hook).returncode == 0
    assert conf.stat().st_mtime_ns == before[0] and generated.read_text() == GENERATED


def test_env_lines_go_before_the_raw_lxc_lines_when_the_image_had_none(tmp_path: Path) -> None:
    conf, _ = node_files(tmp_path, conf="arch: amd64\nentrypoint: /x\nlxc.init.uid: 0\n",
                         generated="lxc.init.cmd = /x\n")
    hook = render_hookscript(vmid=230, hostname="jf", app=AppConfig("/y", (("A", "1"),)))
    assert run_pre_start(tmp_path, hook).returncode == 0
    assert conf.read_text() == "arch: amd64\nentrypoint: /y\nlxc.environment.runtime: A=1\nlxc.init.uid: 0\n"


def test_a_missing_config_fails_the_start_with_the_reason(tmp_path: Path) -> None:
    hook = render_hookscript(vmid=230, hostname="jf", app=AppConfig("/y", (("A", "1"),)))
    proc = run_pre_start(tmp_path, hook)
    assert proc.returncode == 1 and "pve-gpu-lxc hook (CT 230, pre-start): cannot read" in proc.stderr


# --- NvidiaGpu(runtime="host") ------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, message", [
    ({"runtime": "host", "driver_version": "575.64.03"}, "there is no driver_version to pin"),
    ({"runtime": "host", "capabilities": "compute,gpu"}, "capabilities 'compute,gpu' must be a comma-separated list"),
    ({"runtime": "host", "capabilities": ""}, "must be a comma-separated list"),
    ({"runtime": "cuda"}, "runtime 'cuda' is not 'host'"),
])
def test_host_runtime_refusals(kwargs: dict, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        NvidiaGpu(**kwargs)
    assert message in str(info.value)


def test_host_runtime_and_a_pinned_userspace_do_not_mix(stack) -> None:
    with pytest.raises(ValidationError, match="mix runtime='host' and a pinned driver_version"):
        app(stack, gpus=[NvidiaGpu(index=0, runtime="host"), NvidiaGpu(index=1, driver_version="575.64.03")])


def test_host_runtime_gpus_are_listed_once(stack) -> None:
    with pytest.raises(ValidationError, match=r"NvidiaGpu index listed twice: \[0, 0\]"):
        app(stack, gpus=[NvidiaGpu(index=0, runtime="host"), NvidiaGpu(index=0, runtime="host")])


def test_host_runtime_needs_an_unprivileged_container(stack) -> None:
    with pytest.raises(ValidationError, match="LXC's nvidia hook refuses privileged containers"):
        app(stack, gpus=[NvidiaGpu(runtime="host")], unprivileged=False)


def test_host_runtime_hook_and_devices(stack, synth) -> None:
    app(stack, gpus=[NvidiaGpu(runtime="host", capabilities="video,compute,utility")])
    doc = synth(stack)
    paths = [d["path"] for d in container_of(doc, "jf")["device_passthrough"]]
    assert paths == ["/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"]
    hook = next(iter(doc["resource"]["proxmox_virtual_environment_file"].values()))["source_raw"]["data"]
    assert "pve_gpu_lxc_nvidia_runtime compute,utility,video\n" in hook
    assert "require_nvidia_driver" not in hook  # nothing pinned: the userspace is the host's


def _runtime_hook() -> str:
    return render_hookscript(vmid=230, hostname="jf", nvidia_runtime="compute,utility")


def test_the_runtime_hook_appends_the_lines_lxc_needs_once(tmp_path: Path) -> None:
    _, generated = node_files(tmp_path)
    for tool in ("usr/share/lxc/hooks/nvidia", "usr/bin/nvidia-container-cli"):
        path = tmp_path / "root" / tool
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
    for _ in range(2):
        proc = run_pre_start(tmp_path, _runtime_hook())
        assert proc.returncode == 0, proc.stderr
    assert generated.read_text() == GENERATED + (
        "lxc.environment.hooks = NVIDIA_VISIBLE_DEVICES=none\n"
        "lxc.environment.hooks = NVIDIA_DRIVER_CAPABILITIES=compute,utility\n"
        "lxc.hook.mount = /usr/share/lxc/hooks/nvidia\n")


def test_the_runtime_hook_stops_the_start_without_nvidia_container_cli(tmp_path: Path) -> None:
    node_files(tmp_path)
    hook = tmp_path / "root/usr/share/lxc/hooks/nvidia"
    hook.parent.mkdir(parents=True)
    hook.write_text("#!/bin/sh\n")
    hook.chmod(0o755)
    proc = run_pre_start(tmp_path, _runtime_hook())
    assert proc.returncode == 1
    assert "needs /usr/bin/nvidia-container-cli on the node" in proc.stderr


def test_the_app_config_step_is_read_back_from_its_call_only() -> None:
    from pve_gpu_lxc.model.hooks import APP_CONFIG_FUNCTION, writes_app_config

    hook = render_hookscript(vmid=230, hostname="jf", app=AppConfig("/y", (("A", "1"),)))
    assert writes_app_config(hook)
    assert not writes_app_config(f"{APP_CONFIG_FUNCTION}() {{\n")  # the definition writes nothing
    assert not writes_app_config(render_hookscript(vmid=230, hostname="jf", nvidia_runtime="compute"))
    assert not writes_app_config(None)
