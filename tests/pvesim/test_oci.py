"""pvesim and OCI images (issue 22): `oci-registry-pull` running the real skopeo against the session's
loopback registry, and a create from an OCI archive doing what pve-container's restore_oci_archive
does.  Each test provokes one rule through the API, as bpg/proxmox or a person would.

PVE: pve-storage API2/Storage/Status.pm oci_registry_pull; pve-container API2/LXC.pm create_vm,
LXC/Create.pm archive_is_oci_format, restore_oci_archive, resolve_oci_user; proxmox-oci
parse_and_extract_image; LXC.pm update_lxc_config; pve-common PVE/Cmd.pm to_string (String::ShellQuote).
"""

from __future__ import annotations

import json
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pve_gpu_lxc_testing import ociimage
from pve_gpu_lxc_testing.ociimage import ImageConfig
from pve_gpu_lxc_testing.pvesim import Simulator
from pve_gpu_lxc_testing.pvesim.lxc_oci import archive_is_oci_format, parse_image
from pve_gpu_lxc_testing.pvesim.noderun import cmd2string, shell_quote
from tests.pvesim.conftest import module_sim
from tests.pvesim.test_api import Client, Reply

CACHE = "var/lib/vz/template/cache"
@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    with module_sim(tmp_path_factory, "pvesim-oci", template=False, ssh=False) as s:
        yield s


@pytest.fixture
def trusted(sim: Simulator, oci_registry: Any) -> Iterator[Any]:
    """The node trusts the session's registry (its CA in /etc/containers/certs.d), as an admin sets it up."""
    ca = oci_registry.trust(sim.root)
    yield oci_registry
    ca.unlink()


def pull(client: Client, **params: Any) -> Reply:
    return client.call("POST", "/nodes/pve/storage/local/oci-registry-pull", params)


def finished(client: Client, reply: Reply) -> tuple[dict[str, Any], list[str]]:
    assert reply.status == 200, (reply.status, reply.reason, reply.json)
    return client.task(reply.data)


def cache_files(sim: Simulator) -> list[str]:
    return sorted(p.name for p in (sim.root / CACHE).iterdir())


def remove(sim: Simulator, name: str) -> None:
    (sim.root / CACHE / name).unlink(missing_ok=True)


# --- pull: Status.pm oci_registry_pull ------------------------------------------------------------------

def test_pull_stores_the_image_as_an_oci_archive_named_after_the_reference(root, sim, trusted, oci_layout):
    ref = trusted.app_ref
    status, log = finished(root, pull(root, reference=ref))
    try:
        assert status["exitstatus"] == "OK" and status["type"] == "ociregistrypull" and status["id"] == "app_1.0.tar"
        assert log[0] == "Getting image source signatures" and log[-2:] == ["Storing signatures", "TASK OK"]
        assert cache_files(sim) == ["app_1.0.tar"]  # the temporary file renamed, nothing else left
        archive = sim.root / CACHE / "app_1.0.tar"
        # what skopeo wrote: an OCI archive of the pushed image (the manifest kept byte for byte)
        assert archive_is_oci_format(archive)
        pushed = json.loads((oci_layout / "index.json").read_text())["manifests"]
        wanted = next(m["digest"] for m in pushed if m["annotations"]["org.opencontainers.image.ref.name"] == "1.0")
        with tarfile.open(archive) as tar:
            index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
        assert [m["digest"] for m in index["manifests"]] == [wanted]
        assert parse_image(archive).config == ociimage.image_config(oci_layout)["config"]
        content = root.call("GET", "/nodes/pve/storage/local/content", {"content": "vztmpl"}).data
        assert content == [{"volid": "local:vztmpl/app_1.0.tar", "content": "vztmpl", "format": "tar",
                            "size": archive.stat().st_size, "ctime": content[0]["ctime"]}]
        # a second pull of the same name is refused before any task (bpg's overwrite_unmanaged looks for this)
        again = pull(root, reference=ref)
        assert (again.status, again.message) == (500, "refusing to override existing file 'app_1.0.tar'\n")
    finally:
        remove(sim, "app_1.0.tar")


def test_pull_with_a_filename_normalizes_it_and_adds_tar(root, sim, trusted):
    status, _ = finished(root, pull(root, reference=trusted.app_ref, filename="my app/v1:2"))
    try:
        assert status["exitstatus"] == "OK"
        # normalize_content_filename: everything up to the last slash dropped, odd characters to "_"
        assert cache_files(sim) == ["v1_2.tar"] and status["id"] == "v1_2.tar"
    finally:
        remove(sim, "v1_2.tar")


def test_pull_from_a_registry_the_node_does_not_trust_fails_in_skopeo(root, sim, oci_registry):
    status, log = finished(root, pull(root, reference=oci_registry.app_ref))
    tmp = next(line for line in log if line.startswith("TASK ERROR: ")).split("oci-archive:")[1].split("'")[0]
    assert status["exitstatus"] == (f"command 'skopeo copy docker://{oci_registry.app_ref} oci-archive:{tmp}' "
                                    "failed: exit code 1")
    assert tmp.startswith(f"/{CACHE}/app_1.0.tar.tmp.")
    assert any("x509: certificate signed by unknown authority" in line for line in log)
    assert cache_files(sim) == []


@pytest.mark.parametrize(("params", "errors"), [
    ({"reference": "app"}, {"reference": "value does not match the regex pattern"}),  # no tag
    ({"reference": "pvesim/App:1"}, {"reference": "value does not match the regex pattern"}),  # upper case in a path
    ({"reference": "app:1", "filename": ""}, {"filename": "value must be at least 1 characters long"}),
    ({}, {"reference": "property is missing and it is not optional"}),
])
def test_pull_parameters_are_checked_against_the_api_description(root, params, errors):
    reply = pull(root, **params)
    assert (reply.status, reply.message) == (400, "Parameter verification failed.\n")
    assert reply.json["errors"] == {key: f"{value}\n" for key, value in errors.items()}


def test_pull_needs_a_file_based_storage_with_vztmpl_content(root, sim):
    reply = root.call("POST", "/nodes/pve/storage/local-lvm/oci-registry-pull", {"reference": "a/b:1"})
    assert (reply.status, reply.message) == (500, "can't upload to storage type 'lvmthin', not a file based storage!\n")
    cfg = sim.root / "etc/pve/storage.cfg"
    original = cfg.read_text()
    cfg.write_text(original.replace("content vztmpl,iso,snippets,backup,import", "content iso,snippets"))
    try:
        reply = pull(root, reference="a/b:1")
        assert (reply.status, reply.message) == (500, "storage 'local' is not configured for content-type 'vztmpl'\n")
    finally:
        cfg.write_text(original)


# --- create: Create.pm restore_oci_archive ----------------------------------------------------------------

def seed_archive(sim: Simulator, layout: Path, tag: str) -> str:
    """An OCI archive of `layout:tag` in the node's vztmpl storage (what a pull leaves), by skopeo."""
    name = f"app_{tag}.tar"
    ociimage.oci_archive(layout, tag, sim.root / CACHE / name)
    return f"local:vztmpl/{name}"


def create(client: Client, vmid: int, ostemplate: str, **params: Any) -> Reply:
    body = {"vmid": vmid, "ostemplate": ostemplate, "storage": "local-lvm", "hostname": f"app{vmid}",
            "net0": "name=eth0,bridge=vmbr0", "unprivileged": 1, **params}
    return client.call("POST", "/nodes/pve/lxc", body)


def conf_lines(sim: Simulator, vmid: int) -> list[str]:
    return sim.files.conf_path(vmid).read_text().splitlines()


def test_create_from_an_oci_archive_writes_what_the_image_config_says(root, sim, vmid, oci_layout):
    volid = seed_archive(sim, oci_layout, ociimage.TAG)
    # the request's env and entrypoint: overwritten by the image's (restore_oci_archive's TODO)
    status, log = finished(root, create(root, vmid, volid, env="MODE=user\0TOKEN=s3cret", entrypoint="/bin/sh -l",
                                        ostype="unmanaged", net1="name=eth1,bridge=vmbr0,host-managed=0"))
    assert status["exitstatus"] == "OK", log
    assert log == ["Detected OCI archive", "creating base directory for volume at /data",
                   "Auto-Enabling host-managed network for network device net0.", "TASK OK"]
    lines = conf_lines(sim, vmid)
    assert lines == [
        "arch: amd64",
        "cmode: console",
        "entrypoint: /app/entry.sh report",
        f"hostname: app{vmid}",
        "memory: 512",
        f"net0: name=eth0,bridge=vmbr0,host-managed=1,hwaddr={lines[5].split('hwaddr=')[1].split(',')[0]},type=veth",
        f"net1: name=eth1,bridge=vmbr0,host-managed=0,hwaddr={lines[6].split('hwaddr=')[1].split(',')[0]},type=veth",
        "ostype: unmanaged",
        f"rootfs: local-lvm:vm-{vmid}-disk-0,size=4G",
        "swap: 512",
        "unprivileged: 1",
        "lxc.environment.runtime: PATH=/bin",
        "lxc.environment.runtime: APP_MODE=image",
        "lxc.environment.runtime: APP_GREETING=hello from the image",
        "lxc.init.uid: 1000",
        "lxc.init.gid: 1000",
        "lxc.init.groups: 993",
        "lxc.init.cwd: /app",
        "lxc.signal.halt: SIGINT",
    ]
    config = root.call("GET", f"/nodes/pve/lxc/{vmid}/config").data
    assert config["env"] == ociimage.APP_ENV and config["entrypoint"] == ociimage.APP_ENTRYPOINT
    assert ["lxc.init.uid", "1000"] in config["lxc"] and ["lxc.signal.halt", "SIGINT"] in config["lxc"]


def test_the_ostype_is_detected_from_the_extracted_image(root, sim, vmid, oci_layout):
    volid = seed_archive(sim, oci_layout, ociimage.TAG)
    status, log = finished(root, create(root, vmid, volid, ostype="debian"))
    assert status["exitstatus"] == "OK"
    # busybox has no os-release and none of Setup.pm's fallback files
    assert "/etc/os-release file not found and autodetection failed, falling back to 'unmanaged'" in log
    assert "got unexpected ostype (unmanaged != debian)" in log
    assert "ostype: unmanaged" in conf_lines(sim, vmid)


@pytest.mark.parametrize(("tag", "config", "sent", "wanted"), [
    # Entrypoint /sbin/init: entrypoint, cmode and host-managed untouched, the request's kept
    ("init", ImageConfig(entrypoint=("/sbin/init",), cmd=("--log-target=console",)),
     {"entrypoint": "/sbin/init --x", "env": "A=1"},
     ["entrypoint: /sbin/init --x", "net0: name=eth0,bridge=vmbr0,hwaddr=*,type=veth",
      "lxc.environment.runtime: A=1", "lxc.signal.halt: SIGTERM"]),
    # a numeric user:group: no lookups of groups, no supplementary groups
    ("numeric", ImageConfig(cmd=("/app/entry.sh", "it's", "a b"), user="1000:993", stop_signal="SIGQUIT"), {},
     ["cmode: console", "entrypoint: /app/entry.sh 'it'\\''s' 'a b'",
      "net0: name=eth0,bridge=vmbr0,host-managed=1,hwaddr=*,type=veth",
      "lxc.init.uid: 1000", "lxc.init.gid: 993", "lxc.signal.halt: SIGQUIT"]),
    # a user in no supplementary group: groups is defined but empty, and written so; an image without
    # Env keeps the request's env
    ("root", ImageConfig(entrypoint=("/app/entry.sh",), user="root", workdir="/"), {"env": "KEPT=yes"},
     ["cmode: console", "entrypoint: /app/entry.sh", "net0: name=eth0,bridge=vmbr0,host-managed=1,hwaddr=*,type=veth",
      "lxc.environment.runtime: KEPT=yes", "lxc.init.uid: 0", "lxc.init.gid: 0", "lxc.init.groups: ",
      "lxc.init.cwd: /", "lxc.signal.halt: SIGTERM"]),
    # a user the image does not know: no uid or gid, and (the name being defined) empty groups
    ("nouser", ImageConfig(entrypoint=("/app/entry.sh",), user="ghost"), {},
     ["cmode: console", "entrypoint: /app/entry.sh", "net0: name=eth0,bridge=vmbr0,host-managed=1,hwaddr=*,type=veth",
      "lxc.init.groups: ", "lxc.signal.halt: SIGTERM"]),
])
def test_create_maps_each_image_config(root, sim, vmid, oci_layout, tag, config, sent, wanted):
    ociimage.tag_variant(oci_layout, tag, config)
    volid = seed_archive(sim, oci_layout, tag)
    status, log = finished(root, create(root, vmid, volid, ostype="unmanaged", **sent))
    assert status["exitstatus"] == "OK", log
    lines = [line for line in conf_lines(sim, vmid)
             if line.split(":")[0] in ("entrypoint", "cmode", "net0") or line.startswith("lxc.")]
    got = [line.split("hwaddr=")[0] + "hwaddr=*," + line.split("hwaddr=")[1].split(",", 1)[1]
           if "hwaddr=" in line else line for line in lines]
    assert got == wanted


def test_a_user_string_with_two_colons_fails_the_create(root, sim, vmid, oci_layout):
    ociimage.tag_variant(oci_layout, "badu", ImageConfig(entrypoint=("/app/entry.sh",), user="a:b:c"))
    status, _ = finished(root, create(root, vmid, seed_archive(sim, oci_layout, "badu")))
    assert status["exitstatus"] == f"unable to create CT {vmid} - OCI config value for 'User' has an invalid format"
    assert not sim.files.conf_path(vmid).exists()


def test_a_tar_that_is_no_oci_layout_is_extracted_as_a_template(root, sim, vmid, tmp_path):
    """archive_is_oci_format wants oci-layout, index.json and blobs/: an ordinary .tar template is not one."""
    rootfs = tmp_path / "t"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc/os-release").write_text("ID=debian\n")
    subprocess.run(["tar", "-cf", str(sim.root / CACHE / "plain_1.tar"), "-C", str(rootfs), "."], check=True)
    status, log = finished(root, create(root, vmid, "local:vztmpl/plain_1.tar"))
    assert status["exitstatus"] == "OK" and "Detected OCI archive" not in log
    assert "ostype: debian" in conf_lines(sim, vmid) and not any(line.startswith("cmode") for line in conf_lines(sim, vmid))


def test_the_start_generates_init_cmd_environment_and_the_init_keys(root, sim, vmid, oci_layout):
    """LXC.pm update_lxc_config over the created conf: /dev/shm for a non-init entrypoint, lxc.init.cmd,
    the host-managed NIC's flags, lxc.environment.runtime lines, then the raw lxc.init.* keys."""
    volid = seed_archive(sim, oci_layout, ociimage.TAG)
    finished(root, create(root, vmid, volid, net0="name=eth0,bridge=vmbr0,ip=192.0.2.10/24,gw=192.0.2.1",
                          dev0="/dev/dri/renderD128,gid=993,mode=0660"))
    status, log = finished(root, root.call("POST", f"/nodes/pve/lxc/{vmid}/status/start"))
    assert status["exitstatus"] == "OK", log
    config = (sim.root / f"var/lib/lxc/{vmid}/config").read_text().splitlines()
    assert "lxc.mount.entry = shm dev/shm tmpfs rw,nosuid,nodev,create=dir 0 0" in config
    tail = config[config.index(f"lxc.rootfs.path = /var/lib/lxc/{vmid}/rootfs"):]
    assert tail[1] == "lxc.init.cmd = /app/entry.sh report"
    assert [line for line in tail if line.startswith("lxc.net.0.ip") or line == "lxc.net.0.flags = up"] == [
        "lxc.net.0.ipv4.address = 192.0.2.10/24", "lxc.net.0.ipv4.gateway = 192.0.2.1", "lxc.net.0.flags = up"]
    assert tail[-8:] == ["lxc.environment.runtime = PATH=/bin", "lxc.environment.runtime = APP_MODE=image",
                         "lxc.environment.runtime = APP_GREETING=hello from the image",
                         "lxc.init.uid = 1000", "lxc.init.gid = 1000", "lxc.init.groups = 993", "lxc.init.cwd = /app",
                         "lxc.signal.halt = SIGINT"]
    finished(root, root.call("POST", f"/nodes/pve/lxc/{vmid}/status/stop"))


# --- PVE::Tools::cmd2string: String::ShellQuote, checked against the real perl module ------------------------

def test_cmd2string_quotes_as_string_shellquote_does():
    args = ["/app/entry.sh", "a=b", "hello world", "it's", "x:y/z@1,2", "!%^+", "a*b", "", "a''b", "a'''b",
            "--opt=1", "tab\there", "$HOME", "semi;colon", "-", "~user"]
    perl = subprocess.run(
        ["perl", "-MString::ShellQuote", "-e", 'print join("\\n", map { shell_quote($_) } @ARGV), "\\n"', *args],
        capture_output=True, text=True, check=True)
    assert [shell_quote(a) for a in args] == perl.stdout.split("\n")[:-1]
    assert cmd2string(["/app/entry.sh", "serve", "--name=x y"]) == "/app/entry.sh serve '--name=x y'"
