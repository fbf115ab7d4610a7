"""pvesim against PVE's source (issue 20): each test provokes one behaviour through the API, as
bpg/proxmox or a person would, and checks what PVE itself answers and writes.  The PVE file and
function each rule follows is named in the simulator's code next to the rule.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from typing import Any

import pytest

from pve_gpu_lxc_testing.pvesim import Simulator
from tests.pvesim.conftest import module_sim
from tests.pvesim.test_api import DEV_RENDER, Client, Reply, create, created


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    with module_sim(tmp_path_factory, "pvesim-fidelity", ssh=False) as s:
        yield s


def put(client: Client, vmid: int, params: dict[str, Any] | list[tuple[str, Any]]) -> Reply:
    return client.call("PUT", f"/nodes/pve/lxc/{vmid}/config", params)


def get_config(client: Client, vmid: int, **params: Any) -> dict[str, Any]:
    reply = client.call("GET", f"/nodes/pve/lxc/{vmid}/config", params)
    assert reply.status == 200, (reply.status, reply.reason, reply.json)
    data: dict[str, Any] = reply.data
    return data


def conf_text(sim: Simulator, vmid: int) -> str:
    return sim.files.conf_path(vmid).read_text()


# --- 1. tags: GuestHelpers.pm get_unique_tags ---------------------------------------------------------

def test_tags_are_lowercased_sorted_and_deduplicated_at_create_and_update(root, sim, vmid):
    created(root, vmid, tags="Media;GPU;media")
    assert "tags: gpu;media\n" in conf_text(sim, vmid)
    assert put(root, vmid, {"tags": "Zeta,alpha Beta"}).status == 200
    assert get_config(root, vmid)["tags"] == "alpha;beta;zeta"


def test_datacenter_tag_style_keeps_case_and_order(root, sim, vmid):
    datacenter = sim.files.path("/etc/pve/datacenter.cfg")
    datacenter.write_text("keyboard: en-us\ntag-style: case-sensitive=1,ordering=config\n")
    try:
        created(root, vmid, tags="Media;GPU;Media")
    finally:
        datacenter.unlink()
    assert "tags: Media;GPU\n" in conf_text(sim, vmid)


# --- 2. description: pve-common ParseUtils.pm encode_text ---------------------------------------------

def test_description_percent_is_escaped_and_reads_back(root, sim, vmid):
    created(root, vmid, description="GPU at 100%: yes\n%3A stays literal")
    assert conf_text(sim, vmid).startswith("#GPU at 100%25%3A yes\n#%253A stays literal\n")
    assert get_config(root, vmid)["description"] == "GPU at 100%: yes\n%3A stays literal\n"


# --- 3. raw lxc lines under [pve:pending]: AbstractConfig.pm load_current_config -----------------------

def test_get_config_ignores_lxc_lines_that_landed_in_the_pending_section(root, sim, vmid):
    created(root, vmid, dev0=DEV_RENDER, start=1)
    assert put(root, vmid, {"dev0": DEV_RENDER.replace("gid=993", "gid=44")}).status == 200
    path = sim.files.conf_path(vmid)
    assert "[pve:pending]" in path.read_text()
    # bpg's idmap step: sed -i '/^lxc\.idmap:/d' then tee -a, so the lines end up under [pve:pending]
    path.write_text(path.read_text() + "lxc.idmap: u 0 100000 65536\nlxc.idmap: g 0 100000 65536\n")
    assert "lxc" not in get_config(root, vmid)
    assert "lxc" not in get_config(root, vmid, current=1)
    assert get_config(root, vmid)["dev0"].endswith("gid=44,mode=0660")


def test_a_pending_delete_does_not_hide_an_option_perl_reads_as_false(root, sim, vmid):
    created(root, vmid, onboot=0, start=1)
    path = sim.files.conf_path(vmid)
    path.write_text(path.read_text() + "\n[pve:pending]\ndelete: onboot,hostname\n")
    data = get_config(root, vmid)
    assert data["onboot"] == 0 and "hostname" not in data  # `delete $conf->{$opt} if $conf->{$opt}`


# --- 7. pending deletions are written sorted: AbstractConfig.pm print_pending_delete ------------------

def test_pending_deletions_are_sorted(root, sim, vmid):
    created(root, vmid, features="nesting=1", nameserver="192.0.2.53", searchdomain="example.org", start=1)
    assert put(root, vmid, {"delete": "searchdomain,features"}).status == 200
    assert put(root, vmid, {"delete": "nameserver"}).status == 200
    assert "\n[pve:pending]\ndelete: features,nameserver,searchdomain\n" in conf_text(sim, vmid)


# --- 7. what PVE keeps and normalises when it rewrites a hand-edited file (Config.pm parse_pct_config,
# check_type, write_pct_config, $valid_lxc_conf_keys) -------------------------------------------------

def test_a_rewrite_keeps_lxc_init_net_and_environment_lines_and_normalises_values(root, sim, vmid):
    created(root, vmid)
    path = sim.files.conf_path(vmid)
    text = path.read_text().replace("unprivileged: 1\n", "unprivileged: yes\nonboot: on\ncores: 04\n")
    path.write_text(text + "lxc.init.uid: 1000\nlxc.net.1.type: empty\nlxc.environment.runtime: A=1\n"
                           "lxc.idmap: u 0 100000 65536\nlxc.environment.runtime: B=two words\n")
    data = get_config(root, vmid)
    assert (data["unprivileged"], data["onboot"], data["cores"]) == (1, 1, 4)
    assert data["env"] == "A=1\0B=two words"
    assert data["lxc"] == [["lxc.init.uid", "1000"], ["lxc.net.1.type", "empty"], ["lxc.idmap", "u 0 100000 65536"]]
    assert put(root, vmid, {"memory": 1024}).status == 200
    rewritten = path.read_text()
    assert "onboot: 1\n" in rewritten and "unprivileged: 1\n" in rewritten and "cores: 4\n" in rewritten
    assert rewritten.endswith("unprivileged: 1\nlxc.environment.runtime: A=1\nlxc.environment.runtime: B=two words\n"
                              "lxc.init.uid: 1000\nlxc.net.1.type: empty\nlxc.idmap: u 0 100000 65536\n")


# --- 4./5. after a config PUT: API2/LXC/Config.pm update_vm runs LXC.pm update_lxc_config -------------

def test_put_with_an_unknown_bridge_fails_after_writing_the_change(root, sim, vmid):
    created(root, vmid)
    reply = put(root, vmid, {"net0": "name=eth0,bridge=vmbr9"})
    assert (reply.status, reply.reason) == (500, "bridge 'vmbr9' does not exist")
    assert "net0: name=eth0,bridge=vmbr9," in conf_text(sim, vmid)  # written before update_lxc_config


def test_a_bridge_appears_when_the_node_has_it(root, sim, vmid):
    created(root, vmid)
    mtu = sim.files.path("/sys/class/net/vmbr1/mtu")
    mtu.parent.mkdir(parents=True)
    mtu.write_text("9000\n")
    try:
        assert put(root, vmid, {"net1": "name=eth1,bridge=vmbr1,mtu=9000"}).status == 200
        reply = put(root, vmid, {"net1": "name=eth1,bridge=vmbr0,mtu=9000"})
    finally:
        mtu.unlink()
        mtu.parent.rmdir()
    # update_pct_config checks a NIC's own mtu against its bridge before anything is written
    assert (reply.status, reply.reason) == (500, "net1: MTU size '9000' is bigger than bridge MTU '1500'")
    assert "bridge=vmbr1" in conf_text(sim, vmid)


def test_put_rechecks_every_device_not_only_the_ones_it_changes(root, sim, vmid):
    created(root, vmid, dev0=DEV_RENDER)
    path = sim.files.conf_path(vmid)
    path.write_text(path.read_text().replace("dev0:", "dev1: path=/dev/dri/renderD250\ndev0:"))
    reply = put(root, vmid, {"cores": 3})
    assert (reply.status, reply.reason) == (500, "Device /dev/dri/renderD250 does not exist")
    assert "cores: 3\n" in conf_text(sim, vmid)


def test_a_device_without_path_is_refused_as_parse_device_does(root, vmid):
    created(root, vmid)
    reply = put(root, vmid, {"dev0": "gid=44"})
    assert (reply.status, reply.reason) == (500, "Path has to be defined")


# --- 6. a PUT applies only what it modified: Config.pm update_pct_config $modified --------------------

def test_put_on_a_stopped_container_applies_only_the_options_it_modified(root, sim, vmid):
    created(root, vmid)
    path = sim.files.conf_path(vmid)
    path.write_text(path.read_text() + "\n[pve:pending]\ncores: 3\ndelete: swap\n")
    assert put(root, vmid, {"memory": 1024}).status == 200
    text = conf_text(sim, vmid)
    assert "memory: 1024\n" in text.split("[pve:pending]")[0]
    assert text.split("[pve:pending]")[1] == "\ncores: 3\ndelete: swap\n"
    assert put(root, vmid, {"delete": "swap"}).status == 200
    assert "swap:" not in conf_text(sim, vmid) and "\n[pve:pending]\ncores: 3\n" in conf_text(sim, vmid)


def test_put_on_a_running_container_hotplugs_only_the_options_it_modified(root, sim, vmid):
    created(root, vmid, start=1)
    path = sim.files.conf_path(vmid)
    path.write_text(path.read_text() + "\n[pve:pending]\nhostname: later\n")
    assert put(root, vmid, {"cores": 2}).status == 200
    text = conf_text(sim, vmid)
    assert "cores: 2\n" in text.split("[pve:pending]")[0] and text.endswith("[pve:pending]\nhostname: later\n")


# --- 7. power: API2/LXC/Status.pm vm_stop, vm_shutdown, vm_reboot -------------------------------------

def test_stop_and_shutdown_fail_their_task_on_a_locked_container(root, sim, vmid):
    created(root, vmid, start=1)
    path = sim.files.conf_path(vmid)
    path.write_text(path.read_text() + "lock: backup\n")
    for command, task in (("shutdown", "vzshutdown"), ("stop", "vzstop")):
        reply = root.call("POST", f"/nodes/pve/lxc/{vmid}/status/{command}")
        assert reply.status == 200 and f":{task}:{vmid}:" in reply.data
        status, log = root.task(reply.data)
        assert status["exitstatus"] == "CT is locked (backup)" and log[-1] == "TASK ERROR: CT is locked (backup)"
    assert root.call("GET", f"/nodes/pve/lxc/{vmid}/status/current").data["status"] == "running"
    stop = root.call("POST", f"/nodes/pve/lxc/{vmid}/status/stop", {"skiplock": 1})
    assert root.task(stop.data)[0]["exitstatus"] == "OK"


def test_not_running_wording_of_stop_shutdown_and_reboot(root, vmid):
    created(root, vmid)
    for command, word in (("stop", "CT"), ("shutdown", "CT"), ("reboot", "VM")):
        reply = root.call("POST", f"/nodes/pve/lxc/{vmid}/status/{command}")
        assert (reply.status, reply.reason) == (500, f"{word} {vmid} not running")
    missing = root.call("POST", "/nodes/pve/lxc/1999/status/stop")  # check_running comes before any config read
    assert (missing.status, missing.reason) == (500, "CT 1999 not running")



# --- 7. the OS setup plugin's ostype: API2/LXC.pm create_vm, LXC/Setup.pm autodetect, Setup/*.pm new ---

def template(sim: Simulator, name: str, files: dict[str, bytes], links: dict[str, str] | None = None) -> str:
    """A real template archive (zstd-less gzip tar), read by the node with tar as PVE extracts it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(f"./{path}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for path, target in (links or {}).items():
            info = tarfile.TarInfo(f"./{path}")
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    volid = f"local:vztmpl/{name}"
    sim.files.volume_path(volid).write_bytes(buffer.getvalue())
    return volid


@pytest.mark.parametrize(("files", "links", "sent", "stored"), [
    ({"usr/lib/os-release": b'NAME="Ubuntu"\nID=ubuntu\n'}, {"etc/os-release": "../usr/lib/os-release"},
     "debian", "ubuntu"),  # the plugin's constructor writes the detected type over the request's
    ({"etc/os-release": b"ID='rocky'\n"}, {}, None, "centos"),  # $plugin_alias
    ({"etc/debian_version": b"12.7\n"}, {}, "ubuntu", "debian"),  # fallback files
    ({"etc/os-release": b"ID=ubuntu\n"}, {}, "unmanaged", "unmanaged"),  # unmanaged is kept
])
def test_create_stores_the_ostype_the_setup_plugin_detects(root, sim, vmid, files, links, sent, stored):
    volid = template(sim, f"os-{vmid}_1_amd64.tar.gz", files, links)
    params = {"ostemplate": volid, **({"ostype": sent} if sent else {})}
    upid = created(root, vmid, **params)
    assert f"ostype: {stored}\n" in conf_text(sim, vmid)
    log = root.task(upid)[1]
    assert (f"got unexpected ostype ({stored} != {sent})" in log) == (sent not in (None, stored, "unmanaged"))


def test_a_template_whose_os_cannot_be_detected_fails_the_create(root, sim, vmid):
    volid = template(sim, f"os-{vmid}_1_amd64.tar.gz", {"etc/os-release": b"NAME=mystery\n"})
    reply = create(root, vmid, ostemplate=volid)
    assert root.task(reply.data)[0]["exitstatus"] == f"unable to create CT {vmid} - unable to detect OS distribution"
    assert not sim.files.conf_path(vmid).exists()
