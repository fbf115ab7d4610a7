"""pvesim API: plain HTTPS requests (urllib) against a started Simulator(ssh=False).

Each test checks one PVE behaviour as bpg/proxmox meets it: the HTTP status, the status line
and the JSON body, with PVE's own wording.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from pve_gpu_lxc_testing.webfiles import serve_directory
from pve_gpu_lxc_testing.pvesim import Simulator

REPO = Path(__file__).resolve().parents[2]
FACTS = REPO / "stacks" / "facts" / "pve.json"
TOKEN_ID, TOKEN_SECRET = "root@pam!ci", "5e2c3f3c-8c8e-4b0e-9a55-4f7c0e6f1a2b"
TEMPLATE = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"
DEV_RENDER = "deny-write=0,path=/dev/dri/renderD128,uid=0,gid=993,mode=0660"


class Reply:
    def __init__(self, status: int, reason: str, body: bytes):
        self.status, self.reason, self.raw = status, reason, body
        self.json: Any = json.loads(body) if body else None

    @property
    def data(self) -> Any:
        return self.json["data"]

    @property
    def message(self) -> str | None:
        return self.json.get("message") if self.json else None


class Client:
    """What bpg's api client does: ticket cookie + CSRF header, or a PVEAPIToken header."""

    def __init__(self, sim: Simulator):
        self.sim = sim
        self.context = ssl.create_default_context()
        self.context.check_hostname = False
        self.context.verify_mode = ssl.CERT_NONE
        self.ticket: str | None = None
        self.csrf: str | None = None
        self.token: str | None = None

    @classmethod
    def root(cls, sim: Simulator) -> Client:
        """A client logged in as root@pam with the node's password."""
        client = cls(sim)
        reply = client.login()
        assert reply.status == 200, reply
        return client

    def login(self, username: str = "root@pam", password: str | None = None) -> Reply:
        reply = self.call("POST", "/access/ticket",
                          {"username": username, "password": self.sim.password if password is None else password},
                          auth=False)
        if reply.status == 200:
            self.ticket, self.csrf = reply.data["ticket"], reply.data["CSRFPreventionToken"]
        return reply

    def call(self, method: str, path: str, params: dict[str, Any] | list[tuple[str, Any]] | None = None, *,
             auth: bool = True, csrf: bool = True, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> Reply:
        url = f"{self.sim.endpoint}api2/json{path}"
        headers = dict(headers or {})
        encoded = urllib.parse.urlencode(params or {}, doseq=True)
        data = body
        if method in ("GET", "DELETE"):
            url += f"?{encoded}" if encoded else ""
        elif body is None:
            data = encoded.encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if auth and self.token:
            headers["Authorization"] = f"PVEAPIToken={self.token}"
        elif auth and self.ticket:
            headers["Cookie"] = f"PVEAuthCookie={self.ticket}"
            if method != "GET" and csrf:
                headers["CSRFPreventionToken"] = self.csrf or ""
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=30) as response:
                return Reply(response.status, response.reason, response.read())
        except urllib.error.HTTPError as err:
            return Reply(err.code, err.reason, err.read())

    def task(self, upid: str) -> tuple[dict[str, Any], list[str]]:
        node = upid.split(":")[1]
        quoted = urllib.parse.quote(upid, safe=":@")
        status = self.call("GET", f"/nodes/{node}/tasks/{quoted}/status")
        log = self.call("GET", f"/nodes/{node}/tasks/{quoted}/log")
        assert status.status == 200 and log.status == 200
        return status.data, [line["t"] for line in log.data]


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    from tests.pvesim.conftest import module_sim  # the conftest reads this module's FACTS, TEMPLATE, Client

    with module_sim(tmp_path_factory, "pvesim", tokens={TOKEN_ID: TOKEN_SECRET}, ssh=False) as s:
        yield s


@pytest.fixture
def token(sim: Simulator) -> Client:
    client = Client(sim)
    client.token = f"{TOKEN_ID}={TOKEN_SECRET}"
    return client


def create(client: Client, vmid: int, **params: Any) -> Reply:
    body = {"vmid": vmid, "ostemplate": TEMPLATE, "storage": "local-lvm", "hostname": f"ct{vmid}",
            "net0": "name=eth0,bridge=vmbr0,firewall=0", "unprivileged": 1, **params}
    return client.call("POST", "/nodes/pve/lxc", body)


def created(client: Client, vmid: int, **params: Any) -> str:
    reply = create(client, vmid, **params)
    assert reply.status == 200, (reply.status, reply.reason, reply.json)
    status, log = client.task(reply.data)
    assert status["exitstatus"] == "OK", log
    return reply.data


# --- authentication ---------------------------------------------------------------------------------

def test_ticket_login_returns_ticket_csrf_and_username(sim):
    reply = Client(sim).login()
    assert reply.status == 200
    assert reply.data["username"] == "root@pam"
    assert reply.data["ticket"].startswith("PVE:root@pam:")
    assert re.fullmatch(r"[0-9A-F]{8}:\S+", reply.data["CSRFPreventionToken"])


def test_wrong_password_is_401_authentication_failure(sim):
    reply = Client(sim).login(password="wrong")
    assert (reply.status, reply.reason) == (401, "authentication failure")
    assert reply.json == {"data": None, "message": "authentication failure\n"}


def test_request_without_ticket_is_401_no_ticket(sim):
    reply = Client(sim).call("GET", "/version", auth=False)
    assert (reply.status, reply.reason, reply.raw) == (401, "No ticket", b"")


def test_forged_ticket_is_refused(sim):
    client = Client(sim)
    client.ticket = "PVE:root@pam:6B0D5933::Zm9yZ2Vk"
    reply = client.call("GET", "/version")
    assert (reply.status, reply.reason) == (401, "permission denied - invalid PVE ticket")


def test_write_with_ticket_but_without_csrf_header_is_401(root):
    reply = root.call("PUT", "/nodes/pve/lxc/999/config", {"memory": 512}, csrf=False)
    assert (reply.status, reply.reason) == (401, "Permission denied - invalid csrf token")


def test_get_with_ticket_needs_no_csrf_and_returns_pve_9_version(root):
    reply = root.call("GET", "/version")
    assert reply.status == 200
    assert reply.data["version"].startswith("9.") and reply.data["release"] == reply.data["version"][:3]


def test_api_token_authenticates_without_csrf(token):
    assert token.call("GET", "/version").status == 200


def test_api_token_with_wrong_secret_is_refused(sim):
    client = Client(sim)
    client.token = f"{TOKEN_ID}=00000000-0000-0000-0000-000000000000"
    reply = client.call("GET", "/version")
    assert (reply.status, reply.reason) == (401, "invalid token value!")


def test_unknown_api_token_is_refused(sim):
    client = Client(sim)
    client.token = f"root@pam!other={TOKEN_SECRET}"
    reply = client.call("GET", "/version")
    assert (reply.status, reply.reason) == (401, "no such token 'other' for user 'root@pam'")


# --- root@pam-only options --------------------------------------------------------------------------

def test_token_may_not_pass_devices_even_root_pam_token(token, sim, vmid):
    reply = create(token, vmid, dev0=DEV_RENDER)
    assert reply.status == 403
    assert reply.reason == "Permission check failed (configuring device passthrough is only allowed for root@pam)"
    assert reply.message == "Permission check failed (configuring device passthrough is only allowed for root@pam)\n"
    assert not sim.files.conf_path(vmid).exists()


def test_token_may_not_set_a_hookscript(token, vmid):
    reply = create(token, vmid, hookscript="local:snippets/hook.sh")
    assert (reply.status, reply.reason) == (
        403, "Permission check failed (changing the hookscript is only allowed for root@pam)")


def test_token_may_not_change_devices_of_an_existing_container(root, token, vmid):
    created(root, vmid)
    reply = token.call("PUT", f"/nodes/pve/lxc/{vmid}/config", {"dev0": DEV_RENDER})
    assert reply.status == 403
    assert "configuring device passthrough is only allowed for root@pam" in reply.message


def test_token_may_set_nesting_only_but_not_other_feature_flags(token, vmid):
    assert create(token, vmid, features="keyctl=1,nesting=1").reason == \
        "Permission check failed (changing feature flags (except nesting) is only allowed for root@pam)"
    assert create(token, vmid, features="nesting=1").status == 200


def test_root_may_pass_a_device_and_pve_stores_the_string_verbatim(root, sim, vmid):
    created(root, vmid, dev0=DEV_RENDER, features="nesting=1")
    text = sim.files.conf_path(vmid).read_text()
    assert f"dev0: {DEV_RENDER}\n" in text
    assert "features: nesting=1\n" in text
    assert "unprivileged: 1\n" in text


# --- container create -------------------------------------------------------------------------------

def test_missing_device_is_refused_at_create_with_pve_wording(root, sim, vmid):
    reply = create(root, vmid, dev0="deny-write=0,path=/dev/dri/renderD200,uid=0,gid=0,mode=0660")
    assert (reply.status, reply.reason) == (500, "Device /dev/dri/renderD200 does not exist")
    assert not sim.files.conf_path(vmid).exists()


def test_a_regular_file_is_not_a_device(root, sim, vmid):
    sim.files.path(f"/dev/fake{vmid}").write_text("")
    reply = create(root, vmid, dev0=f"path=/dev/fake{vmid}")
    assert (reply.status, reply.reason) == (500, f"/dev/fake{vmid} is not a device")


def test_missing_template_fails_the_create_task_and_leaves_no_config(root, sim, vmid):
    reply = create(root, vmid, ostemplate="local:vztmpl/nope_1.0_amd64.tar.zst")
    assert reply.status == 200
    status, log = root.task(reply.data)
    assert status["status"] == "stopped"
    assert status["exitstatus"] == f"unable to create CT {vmid} - can't find file 'local:vztmpl/nope_1.0_amd64.tar.zst'"
    assert log[-1] == f"TASK ERROR: unable to create CT {vmid} - can't find file 'local:vztmpl/nope_1.0_amd64.tar.zst'"
    assert not sim.files.conf_path(vmid).exists()


def test_template_on_an_unknown_storage(root, vmid):
    reply = create(root, vmid, ostemplate="nosuch:vztmpl/x.tar.zst")
    assert (reply.status, reply.reason) == (500, "storage 'nosuch' does not exist")


def test_template_must_be_a_vztmpl_volume(root, vmid):
    reply = create(root, vmid, ostemplate="local:iso/x.iso")
    assert reply.reason == "unable to use volume local:iso/x.iso - content type needs to be 'vztmpl'"


def test_rootfs_storage_without_rootdir_content_is_a_parameter_error(root, vmid):
    reply = create(root, vmid, storage="local")
    assert (reply.status, reply.reason) == (400, "Parameter verification failed.")
    assert reply.json["errors"] == {"storage": "storage 'local' does not support container directories\n"}


def test_vmid_in_use_is_refused(root, vmid):
    created(root, vmid)
    reply = create(root, vmid)
    assert (reply.status, reply.reason) == (500, f"CT {vmid} already exists on node 'pve'")


def test_unknown_parameter_is_a_parameter_error(root, vmid):
    reply = create(root, vmid, bogus=1)
    assert reply.status == 400
    assert reply.json["errors"] == {
        "bogus": "property is not defined in schema and the schema does not allow additional properties\n"}


def test_bad_device_mode_is_a_format_error(root, vmid):
    reply = create(root, vmid, dev0="path=/dev/dri/renderD128,mode=777")
    assert reply.status == 400
    # JSONSchema.pm check_prop: "invalid format - $@", $@ being parse_property_string's exception
    # stringified (PVE/Exception.pm stringify: the message, then each error as "key: text")
    assert reply.json["errors"] == {
        "dev0": "invalid format - format error\ndev0.mode: value does not match the regex pattern\n"}


def test_create_writes_pve_additions_deterministically(root, sim, vmid):
    created(root, vmid, rootfs="volume=local-lvm:8", cores=2, memory=1024)
    first = sim.files.conf_path(vmid).read_text()
    assert f"rootfs: local-lvm:vm-{vmid}-disk-0,size=8G\n" in first
    assert re.search(r"^net0: name=eth0,bridge=vmbr0,firewall=0,hwaddr=BC:24:11(:[0-9A-F]{2}){3},type=veth$",
                     first, re.M)
    assert "cores: 2\nhostname: " in first and "memory: 1024\n" in first
    assert sim.files.volume_path(f"local-lvm:vm-{vmid}-disk-0").stat().st_size == 8 << 30
    delete = root.call("DELETE", f"/nodes/pve/lxc/{vmid}")
    assert root.task(delete.data)[0]["exitstatus"] == "OK"
    assert not sim.files.conf_path(vmid).exists()
    assert not sim.files.volume_path(f"local-lvm:vm-{vmid}-disk-0").exists()
    created(root, vmid, rootfs="volume=local-lvm:8", cores=2, memory=1024)
    assert sim.files.conf_path(vmid).read_text() == first


def test_description_is_stored_as_encoded_comment_lines(root, sim, vmid):
    created(root, vmid, description="GPU: Intel\nsecond")
    assert sim.files.conf_path(vmid).read_text().startswith("#GPU%3A Intel\n#second\n")


def test_start_after_create_runs_the_container(root, vmid):
    created(root, vmid, start=1)
    assert root.call("GET", f"/nodes/pve/lxc/{vmid}/status/current").data["status"] == "running"


# --- config read and update ---------------------------------------------------------------------------

def test_config_get_returns_the_hand_edited_file(root, sim, vmid):
    created(root, vmid)
    text = (f"#edited by hand\narch: amd64\ncores: 3\n{'dev0: ' + DEV_RENDER}\nhostname: edited\n"
            "memory: 768\nonboot: 1\nrootfs: local-lvm:vm-1-disk-0,size=4G\nunprivileged: 1\n"
            "lxc.idmap: u 0 100000 65536\nlxc.idmap: g 44 44 1\n")
    sim.files.conf_path(vmid).write_text(text)
    data = root.call("GET", f"/nodes/pve/lxc/{vmid}/config").data
    assert data == {
        "description": "edited by hand\n", "arch": "amd64", "cores": 3, "dev0": DEV_RENDER, "hostname": "edited",
        "memory": 768, "onboot": 1, "rootfs": "local-lvm:vm-1-disk-0,size=4G", "unprivileged": 1,
        "lxc": [["lxc.idmap", "u 0 100000 65536"], ["lxc.idmap", "g 44 44 1"]],
        "digest": hashlib.sha1(text.encode()).hexdigest(),
    }


def test_config_of_a_missing_container_is_pve_not_found(root):
    reply = root.call("GET", "/nodes/pve/lxc/998/config")
    assert (reply.status, reply.reason) == (500, "Configuration file 'nodes/pve/lxc/998.conf' does not exist")


def test_put_config_with_repeated_delete_keys(root, sim, vmid):
    created(root, vmid, description="x", tags="a;b")
    reply = root.call("PUT", f"/nodes/pve/lxc/{vmid}/config",
                      [("delete", "description"), ("delete", "tags"), ("cores", "4")])
    assert reply.status == 200 and reply.json == {"data": None}
    text = sim.files.conf_path(vmid).read_text()
    assert "cores: 4\n" in text and "tags:" not in text and not text.startswith("#")


def test_device_change_on_a_running_container_is_pending_until_reboot(root, sim, vmid):
    created(root, vmid, dev0=DEV_RENDER, start=1)
    changed = DEV_RENDER.replace("gid=993", "gid=44")
    assert root.call("PUT", f"/nodes/pve/lxc/{vmid}/config", {"dev0": changed}).status == 200
    text = sim.files.conf_path(vmid).read_text()
    assert f"dev0: {DEV_RENDER}\n" in text and f"\n[pve:pending]\ndev0: {changed}\n" in text
    assert root.call("GET", f"/nodes/pve/lxc/{vmid}/config").data["dev0"] == changed
    assert root.call("GET", f"/nodes/pve/lxc/{vmid}/config", {"current": 1}).data["dev0"] == DEV_RENDER
    reboot = root.call("POST", f"/nodes/pve/lxc/{vmid}/status/reboot")
    assert root.task(reboot.data)[0]["exitstatus"] == "OK"
    text = sim.files.conf_path(vmid).read_text()
    assert f"dev0: {changed}\n" in text and "[pve:pending]" not in text


def test_start_fails_when_a_passed_device_vanished_from_the_node(root, sim, vmid):
    created(root, vmid)
    path = sim.files.conf_path(vmid)
    path.write_text(path.read_text() + "dev1: path=/dev/dri/renderD250\n")
    start = root.call("POST", f"/nodes/pve/lxc/{vmid}/status/start")
    status, log = root.task(start.data)
    assert status["exitstatus"] == "Device /dev/dri/renderD250 does not exist"
    assert root.call("GET", f"/nodes/pve/lxc/{vmid}/status/current").data["status"] == "stopped"


def test_start_fails_when_the_idmap_is_not_allowed_by_subgid(root, sim, vmid):
    created(root, vmid)
    path = sim.files.conf_path(vmid)
    path.write_text(path.read_text() + "lxc.idmap: u 0 100000 65536\nlxc.idmap: g 0 100000 65536\n"
                                       "lxc.idmap: g 993 993 1\n")
    start = root.call("POST", f"/nodes/pve/lxc/{vmid}/status/start")
    status, log = root.task(start.data)
    assert status["exitstatus"] == f"startup for container '{vmid}' failed"
    assert any('newgidmap: gid range [993-994) -> [993-994) not allowed' in line for line in log)


def test_starting_a_running_container_says_already_running(root, vmid):
    created(root, vmid, start=1)
    reply = root.call("POST", f"/nodes/pve/lxc/{vmid}/status/start")
    assert (reply.status, reply.reason) == (500, f"CT {vmid} already running")


def test_running_container_reports_a_global_address(root, vmid):
    created(root, vmid, start=1)
    interfaces = root.call("GET", f"/nodes/pve/lxc/{vmid}/interfaces").data
    eth0 = next(i for i in interfaces if i["name"] == "eth0")
    addresses = {a["ip-address-type"]: a["ip-address"] for a in eth0["ip-addresses"]}
    assert addresses["inet"].startswith("192.0.2.") and addresses["inet6"].startswith("2001:db8:")


# --- hookscripts ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("setup", "message"), [
    (None, "script 'local:snippets/hook-{v}.sh' does not exist"),
    (0o644, "script 'local:snippets/hook-{v}.sh' is not executable"),
])
def test_hookscript_must_exist_and_be_executable(root, sim, vmid, setup, message):
    volid = f"local:snippets/hook-{vmid}.sh"
    if setup is not None:
        sim.files.volume_path(volid).write_text("#!/bin/sh\n")
        sim.files.volume_path(volid).chmod(setup)
    reply = create(root, vmid, hookscript=volid)
    assert (reply.status, reply.reason) == (500, message.format(v=vmid))


def test_hookscript_must_be_a_snippet(root, vmid):
    reply = create(root, vmid, hookscript=TEMPLATE)
    assert reply.reason == f"'{TEMPLATE}' is not in the snippets directory"


def test_executable_snippet_is_accepted_as_hookscript(root, sim, vmid):
    volid = f"local:snippets/ok-{vmid}.sh"
    sim.files.volume_path(volid).write_text("#!/bin/sh\n")
    sim.files.volume_path(volid).chmod(0o700)
    created(root, vmid, hookscript=volid)
    assert f"hookscript: {volid}\n" in sim.files.conf_path(vmid).read_text()


# --- tasks, nodes, requests -------------------------------------------------------------------------

def test_task_upid_status_and_log(root, vmid):
    upid = created(root, vmid)
    assert re.fullmatch(rf"UPID:pve:[0-9A-F]{{8}}:[0-9A-F]{{8}}:[0-9A-F]{{8}}:vzcreate:{vmid}:root@pam:", upid)
    status, log = root.task(upid)
    assert status["status"] == "stopped" and status["exitstatus"] == "OK" and status["type"] == "vzcreate"
    assert log[-1] == "TASK OK"
    quoted = urllib.parse.quote(upid, safe=":@")
    assert root.call("DELETE", f"/nodes/pve/tasks/{quoted}").json == {"data": None}


def test_unknown_node_fails_the_hostname_lookup(root):
    reply = root.call("GET", "/nodes/elsewhere/lxc/100/config")
    assert (reply.status, reply.reason) == (
        500, "hostname lookup 'elsewhere' failed - failed to get address info for: elsewhere: Name or service not known")


def test_network_lists_an_interface_with_address_and_gateway(root):
    interfaces = root.call("GET", "/nodes/pve/network").data
    assert [(i["iface"], i["address"]) for i in interfaces if i.get("gateway")] == [("vmbr0", "127.0.0.1")]


def test_every_request_is_counted(sim):
    before = len(sim.requests())
    client = Client(sim)
    client.login()
    client.call("GET", "/version", {"x": "1"})
    client.call("GET", "/nodes/pve/storage/local/content", {"content": "vztmpl"})
    assert sim.requests()[before:] == ["POST /api2/json/access/ticket", "GET /api2/json/version",
                                       "GET /api2/json/nodes/pve/storage/local/content"]
    assert (sim.state_dir / "requests.log").read_text().splitlines() == sim.requests()


def test_tls_1_3_is_offered(sim):
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    with socket.create_connection(("127.0.0.1", sim.port)) as raw, context.wrap_socket(raw) as tls:
        assert tls.version() == "TLSv1.3"


# --- storage ----------------------------------------------------------------------------------------

def multipart(fields: dict[str, str], filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = b""
    for name, value in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    out += (f'--{boundary}\r\nContent-Disposition: form-data; name="filename"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


def test_upload_then_list_then_delete_by_escaped_volid(root, sim):
    body, ctype = multipart({"content": "vztmpl"}, "alpine-3.20-default_amd64.tar.xz", b"x" * 123)
    reply = root.call("POST", "/nodes/pve/storage/local/upload", body=body, headers={"Content-Type": ctype})
    assert reply.status == 200
    assert root.task(reply.data)[0]["exitstatus"] == "OK"
    volid = "local:vztmpl/alpine-3.20-default_amd64.tar.xz"
    listing = root.call("GET", "/nodes/pve/storage/local/content", {"content": "vztmpl"}).data
    entry = next(v for v in listing if v["volid"] == volid)
    assert (entry["size"], entry["format"], entry["content"]) == (123, "txz", "vztmpl")
    delete = root.call("DELETE", f"/nodes/pve/storage/local/content/{urllib.parse.quote(volid, safe=':')}")
    assert root.task(delete.data)[0]["exitstatus"] == "OK"
    assert not sim.files.volume_path(volid).exists()
    again = root.call("DELETE", f"/nodes/pve/storage/local/content/{urllib.parse.quote(volid, safe=':')}")
    status, log = root.task(again.data)
    assert status["exitstatus"] == "WARNINGS: 1"
    assert "WARN: disk image '/var/lib/vz/template/cache/alpine-3.20-default_amd64.tar.xz' does not exist" in log


def test_upload_with_a_wrong_extension_is_a_parameter_error(root):
    body, ctype = multipart({"content": "vztmpl"}, "notes.txt", b"x")
    reply = root.call("POST", "/nodes/pve/storage/local/upload", body=body, headers={"Content-Type": ctype})
    assert reply.status == 400 and reply.json["errors"] == {"filename": "wrong file extension\n"}


@pytest.fixture
def storage_cfg(sim: Simulator) -> Iterator[Path]:
    path = sim.files.storage_cfg_path()
    original = path.read_text()
    yield path
    path.write_text(original)


def test_content_type_not_enabled_refuses_upload_download_and_hides_listing(root, sim, storage_cfg):
    storage_cfg.write_text(storage_cfg.read_text().replace("content vztmpl,iso,snippets,backup,import",
                                                           "content iso,backup,import"))
    body, ctype = multipart({"content": "vztmpl"}, "x_1_amd64.tar.gz", b"x")
    reply = root.call("POST", "/nodes/pve/storage/local/upload", body=body, headers={"Content-Type": ctype})
    assert (reply.status, reply.reason) == (500, "storage 'local' does not support 'vztmpl' content")
    reply = root.call("POST", "/nodes/pve/storage/local/download-url",
                      {"content": "vztmpl", "filename": "x_1_amd64.tar.gz", "url": "http://127.0.0.1:9/x"})
    assert reply.reason == "storage 'local' is not configured for content-type 'vztmpl'"
    assert root.call("GET", "/nodes/pve/storage/local/content", {"content": "vztmpl"}).data == []


def test_storage_config_is_read_on_every_request(root, storage_cfg):
    assert root.call("GET", "/storage/local").data["content"] == "backup,import,iso,snippets,vztmpl"
    storage_cfg.write_text(storage_cfg.read_text().replace("content vztmpl,iso,snippets,backup,import",
                                                           "content iso,vztmpl"))
    data = root.call("GET", "/storage/local").data
    assert (data["type"], data["path"], data["content"]) == ("dir", "/var/lib/vz", "iso,vztmpl")
    assert root.call("GET", "/storage/nosuch").reason == "storage 'nosuch' does not exist"


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    directory = tmp_path_factory.mktemp("www")
    with serve_directory(directory) as url:
        yield url, directory


def download(root: Client, url: str, name: str, checksum: str) -> Reply:
    return root.call("POST", "/nodes/pve/storage/local/download-url",
                     {"content": "vztmpl", "filename": name, "url": url, "checksum": checksum,
                      "checksum-algorithm": "sha256", "verify-certificates": 1})


def test_download_url_verifies_the_checksum_and_refuses_to_overwrite(root, sim, web):
    base, directory = web
    (directory / "good_1_amd64.tar.gz").write_bytes(b"template bytes")
    digest = hashlib.sha256(b"template bytes").hexdigest()
    reply = download(root, f"{base}/good_1_amd64.tar.gz", "good_1_amd64.tar.gz", digest)
    assert root.task(reply.data)[0]["exitstatus"] == "OK"
    assert sim.files.volume_path("local:vztmpl/good_1_amd64.tar.gz").read_bytes() == b"template bytes"
    again = download(root, f"{base}/good_1_amd64.tar.gz", "good_1_amd64.tar.gz", "0" * 64)
    assert root.task(again.data)[0]["exitstatus"] == (
        f"checksum mismatch: got '{digest}' != expect '{'0' * 64}', aborting")
    plain = root.call("POST", "/nodes/pve/storage/local/download-url",
                      {"content": "vztmpl", "filename": "good_1_amd64.tar.gz", "url": f"{base}/good_1_amd64.tar.gz"})
    assert root.task(plain.data)[0]["exitstatus"] == \
        "refusing to override existing file '/var/lib/vz/template/cache/good_1_amd64.tar.gz'"


def test_download_url_checksum_mismatch_fails_the_task_and_keeps_no_file(root, sim, web):
    base, directory = web
    (directory / "bad_1_amd64.tar.gz").write_bytes(b"tampered")
    got = hashlib.sha256(b"tampered").hexdigest()
    reply = download(root, f"{base}/bad_1_amd64.tar.gz", "bad_1_amd64.tar.gz", "ab" * 32)
    status, log = root.task(reply.data)
    assert status["exitstatus"] == f"checksum mismatch: got '{got}' != expect '{'ab' * 32}'"
    assert log[-1] == f"TASK ERROR: checksum mismatch: got '{got}' != expect '{'ab' * 32}'"
    cache = sim.files.volume_path("local:vztmpl/bad_1_amd64.tar.gz").parent
    assert not any(p.name.startswith("bad_1_amd64") for p in cache.iterdir())


def test_query_url_metadata_reads_the_head_of_the_url(root, web):
    base, directory = web
    (directory / "meta_1_amd64.tar.gz").write_bytes(b"12345")
    data = root.call("GET", "/nodes/pve/query-url-metadata",
                     {"url": f"{base}/meta_1_amd64.tar.gz", "verify-certificates": 1}).data
    assert data == {"filename": "meta_1_amd64.tar.gz", "size": 5, "mimetype": "application/gzip"}
    missing = root.call("GET", "/nodes/pve/query-url-metadata", {"url": f"{base}/missing.tar.gz"})
    assert missing.reason == "invalid server response: '404 File not found'"


def test_hand_deleted_template_disappears_from_the_listing(root, sim):
    volid = "local:vztmpl/gone_1_amd64.tar.zst"
    sim.files.volume_path(volid).write_bytes(b"x")
    assert volid in [v["volid"] for v in root.call("GET", "/nodes/pve/storage/local/content").data]
    os.unlink(sim.files.volume_path(volid))
    assert volid not in [v["volid"] for v in root.call("GET", "/nodes/pve/storage/local/content").data]


def test_the_node_shows_the_facts_nvidia_module_version(sim):
    """/sys/module/nvidia/version, as the loaded module shows it (read by `pve-gpu-lxc check`)."""
    assert sim.files.path("/sys/module/nvidia/version").read_text() == "575.64.03\n"
