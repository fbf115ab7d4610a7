"""OCI application containers with the REAL bpg/proxmox v0.111.1 provider (issue 22).

Hand-written Terraform JSON (the constructs do not emit it yet): `proxmox_oci_image` pulls the
tests' image from the session's loopback registry onto the simulated node (skopeo, for real), and a
`proxmox_virtual_environment_container` is created from it with `environment_variables`,
`initialization.entrypoint` and a GPU devN.

PVE's create overwrites the `env` and `entrypoint` it was given with the image's
(pve-container Create.pm restore_oci_archive; bpg issue #2789).  Each test below is one candidate
sequence, applied for real, and states what it leaves on the node and in the next plan; the
research note (docs/oci-research.md) names the one the product should emit and why.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pve_gpu_lxc.pve import conf as pveconf
from pve_gpu_lxc_testing import ociimage
from pve_gpu_lxc_testing.e2e.harness import SimEnv, warnings_in
from tests.e2e.conftest import oci_sim
from tests.pvesim.test_api import Client

pytestmark = pytest.mark.e2e

ADDRESS = "proxmox_virtual_environment_container.app"
USER_ENV = {"APP_MODE": "user", "APP_TOKEN": "s3cret"}
USER_ENV_CONF = ["lxc.environment.runtime: APP_MODE=user", "lxc.environment.runtime: APP_TOKEN=s3cret"]
USER_ENTRYPOINT = "/app/entry.sh serve"
IMAGE_ENV_CONF = ["lxc.environment.runtime: PATH=/bin", "lxc.environment.runtime: APP_MODE=image",
                  "lxc.environment.runtime: APP_GREETING=hello from the image"]
DEV = {"path": "/dev/dri/renderD128", "gid": 993, "mode": "0660"}


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, oci_registry: Any) -> Iterator[SimEnv]:
    with oci_sim(tmp_path_factory.mktemp("oci-sim"), oci_registry) as env:
        yield env


def stack(env: SimEnv, name: str, reference: str, vmid: int, *, container: dict[str, Any] | None = None,
          extra: dict[str, Any] | None = None, image: dict[str, Any] | None = None) -> Path:
    """A stack directory with one pulled image and one container created from it."""
    ssh = env.sim.ssh
    assert ssh is not None
    body: dict[str, Any] = {
        "node_name": "pve", "vm_id": vmid, "unprivileged": True, "started": True,
        "operating_system": [{"template_file_id": "${proxmox_oci_image.app.id}", "type": "unmanaged"}],
        "device_passthrough": [dict(DEV)],
        "network_interface": [{"name": "eth0", "bridge": "vmbr0"}],
        "disk": [{"datastore_id": "local-lvm", "size": 4}],
        # restore_oci_archive writes `cmode: console` for a non-init entrypoint; bpg reads it into
        # console.type, so a configuration without it plans to put cmode back (candidate 3 shows it)
        "console": [{"type": "console"}],
        **(container or {}),
    }
    resources: dict[str, Any] = {
        "proxmox_oci_image": {"app": {"node_name": "pve", "datastore_id": "local", "reference": reference,
                                      **(image or {})}},
        "proxmox_virtual_environment_container": {"app": body},
    }
    for kind, items in (extra or {}).items():
        resources.setdefault(kind, {}).update(items)
    doc = {"terraform": {"required_providers": {"proxmox": {"source": "bpg/proxmox", "version": "0.111.1"}}},
           "provider": {"proxmox": {"ssh": [{"username": "root",
                                             "node": [{"name": "pve", "address": ssh.address, "port": ssh.port}]}]}},
           "resource": resources}
    directory = env.work_dir / name
    directory.mkdir()
    (directory / "main.tf.json").write_text(json.dumps(doc, indent=1))
    return directory


def conf_lines(env: SimEnv, vmid: int) -> list[str]:
    return env.conf_text(vmid).splitlines()


def env_lines(env: SimEnv, vmid: int) -> list[str]:
    return [line for line in conf_lines(env, vmid) if line.startswith("lxc.environment.runtime:")]


def option(env: SimEnv, vmid: int, key: str) -> str | None:
    for line in conf_lines(env, vmid):
        if line.startswith(f"{key}: "):
            return line[len(key) + 2:]
    return None


def changed(plan: dict[str, Any], address: str = ADDRESS) -> dict[str, tuple[Any, Any]]:
    """Top-level attributes an update of `address` would change: name -> (before, after)."""
    for change in plan.get("resource_changes", []):
        if change["address"] == address and change["change"]["actions"] != ["no-op"]:
            before, after = change["change"]["before"] or {}, change["change"]["after"] or {}
            return {k: (before.get(k), after.get(k)) for k in sorted(set(before) | set(after))
                    if before.get(k) != after.get(k) and k in after}
    return {}


def requests_since(env: SimEnv, mark: int) -> list[str]:
    return [r for r in env.sim.requests()[mark:] if not r.startswith("GET ")]


# --- the image resource ----------------------------------------------------------------------------------

def test_proxmox_oci_image_pulls_the_image_and_a_second_plan_is_empty(node, oci_registry):
    directory = stack(node, "image-only", oci_registry.app_ref, 400)
    doc = json.loads((directory / "main.tf.json").read_text())
    del doc["resource"]["proxmox_virtual_environment_container"]
    (directory / "main.tf.json").write_text(json.dumps(doc))
    output = node.apply(directory).stdout
    assert warnings_in(output) == []
    state = json.loads(node.terraform(directory, "show", "-json").stdout)
    image = state["values"]["root_module"]["resources"][0]["values"]
    # bpg names the file after the reference's last path part ("app:1.0" -> "app_1.0.tar"), sends it
    # without .tar as `filename`, and PVE appends .tar again (Status.pm oci_registry_pull)
    archive = node.volume_path("local:vztmpl/app_1.0.tar")
    assert (image["id"], image["file_name"], image["size"]) == ("local:vztmpl/app_1.0.tar", "app_1.0.tar",
                                                                archive.stat().st_size)
    assert node.plan(directory) == 0
    node.destroy(directory)
    assert not archive.exists()


# --- candidate 1: env and entrypoint in the create call ---------------------------------------------------

def test_env_and_entrypoint_in_the_create_are_overwritten_and_a_second_apply_puts_them_back(node, oci_registry):
    """The create sends env and entrypoint; PVE writes the image's.  bpg's read stores the image's, so
    the next plan updates both; that apply PUTs them (the container runs: pending) and reboots, after
    which the node holds the user's values and the plan is empty.  Two applies, not one."""
    vmid = 401
    directory = stack(node, "same-call", oci_registry.app_ref, vmid, container={
        "environment_variables": USER_ENV,
        "initialization": [{"hostname": "app", "entrypoint": USER_ENTRYPOINT}]})
    node.apply(directory)
    assert env_lines(node, vmid) == IMAGE_ENV_CONF
    assert option(node, vmid, "entrypoint") == ociimage.APP_ENTRYPOINT
    assert option(node, vmid, "cmode") == "console"
    # bpg on PVE 9.1 always sends host-managed (0 here), so restore_oci_archive does not auto-enable it
    assert "host-managed=0" in (option(node, vmid, "net0") or "")
    assert "dev0: deny-write=0,path=/dev/dri/renderD128,uid=0,gid=993,mode=0660" in conf_lines(node, vmid)

    code, plan = node.plan_json(directory)
    assert code == 2
    diff = changed(plan)
    assert set(diff) == {"environment_variables", "initialization"}
    assert diff["environment_variables"] == ({"PATH": "/bin", "APP_MODE": "image",
                                              "APP_GREETING": "hello from the image"}, USER_ENV)
    assert diff["initialization"][0][0]["entrypoint"] == ociimage.APP_ENTRYPOINT
    assert diff["initialization"][1][0]["entrypoint"] == USER_ENTRYPOINT

    mark = len(node.sim.requests())
    node.apply(directory)
    writes = requests_since(node, mark)
    assert f"PUT /api2/json/nodes/pve/lxc/{vmid}/config" in writes
    assert f"POST /api2/json/nodes/pve/lxc/{vmid}/status/reboot" in writes
    assert env_lines(node, vmid) == USER_ENV_CONF and option(node, vmid, "entrypoint") == USER_ENTRYPOINT
    assert "[pve:pending]" not in node.conf_text(vmid)
    # what restore_oci_archive wrote besides env and entrypoint stays
    assert option(node, vmid, "cmode") == "console" and "lxc.init.uid: 1000" in conf_lines(node, vmid)
    assert node.plan(directory) == 0
    node.destroy(directory)


# --- candidate 2: lifecycle ignore_changes ---------------------------------------------------------------

def test_ignore_changes_empties_the_plan_but_leaves_the_images_values(node, oci_registry):
    vmid = 402
    directory = stack(node, "ignore", oci_registry.app_ref, vmid, container={
        "environment_variables": USER_ENV,
        "initialization": [{"hostname": "app", "entrypoint": USER_ENTRYPOINT}],
        "lifecycle": [{"ignore_changes": ["environment_variables", "initialization[0].entrypoint"]}]})
    node.apply(directory)
    assert node.plan(directory) == 0
    assert env_lines(node, vmid) == IMAGE_ENV_CONF  # not what the user declared
    assert option(node, vmid, "entrypoint") == ociimage.APP_ENTRYPOINT
    node.destroy(directory)


# --- candidate 3: neither declared -------------------------------------------------------------------------

def test_without_env_and_entrypoint_the_next_plan_removes_the_images(node, oci_registry):
    """Declaring nothing is no way out: bpg's read reports the image's env and entrypoint, the
    configuration has none, and the next apply deletes them (the app then starts /sbin/init)."""
    vmid = 403
    directory = stack(node, "undeclared", oci_registry.app_ref, vmid,
                      container={"initialization": [{"hostname": "app"}]})
    doc = json.loads((directory / "main.tf.json").read_text())
    del doc["resource"]["proxmox_virtual_environment_container"]["app"]["console"]
    (directory / "main.tf.json").write_text(json.dumps(doc))
    node.apply(directory)
    assert env_lines(node, vmid) == IMAGE_ENV_CONF and option(node, vmid, "cmode") == "console"
    code, plan = node.plan_json(directory)
    assert code == 2
    diff = changed(plan)
    assert set(diff) == {"console", "environment_variables", "initialization"}
    assert diff["console"] == ([{"enabled": True, "tty_count": 2, "type": "console"}], [])
    assert diff["environment_variables"][1] in ({}, None)
    assert diff["initialization"][1][0]["entrypoint"] == ""
    mark = len(node.sim.requests())
    node.apply(directory)
    assert f"PUT /api2/json/nodes/pve/lxc/{vmid}/config" in requests_since(node, mark)
    assert env_lines(node, vmid) == [] and option(node, vmid, "entrypoint") is None
    assert option(node, vmid, "cmode") == "tty"
    node.destroy(directory)


# --- candidate 4: create without them, then an update (two configurations) ----------------------------------

def test_create_without_then_update_with_them_converges_in_the_second_apply(node, oci_registry):
    vmid = 404
    directory = stack(node, "then-update", oci_registry.app_ref, vmid, container={
        "environment_variables": {"PATH": "/bin", "APP_MODE": "image", "APP_GREETING": "hello from the image"},
        "initialization": [{"hostname": "app", "entrypoint": ociimage.APP_ENTRYPOINT}]})
    node.apply(directory)
    assert node.plan(directory) == 0  # declaring exactly the image's values: no diff
    doc = json.loads((directory / "main.tf.json").read_text())
    body = doc["resource"]["proxmox_virtual_environment_container"]["app"]
    body["environment_variables"] = USER_ENV
    body["initialization"][0]["entrypoint"] = USER_ENTRYPOINT
    (directory / "main.tf.json").write_text(json.dumps(doc))
    node.apply(directory)
    assert env_lines(node, vmid) == USER_ENV_CONF and option(node, vmid, "entrypoint") == USER_ENTRYPOINT
    assert node.plan(directory) == 0
    node.destroy(directory)


# --- candidate 5: the pre-start hookscript writes the user's values (one apply) ------------------------------

HOOK = r"""#!/bin/sh
# pre-start: the declared env and entrypoint into the node's config, where PVE's create left the
# image's (pve-container Create.pm restore_oci_archive).  PVE runs this after update_lxc_config and
# before lxc-start (LXC.pm vm_start), so the generated /var/lib/lxc/$1/config gets the same change.
[ "$2" = pre-start ] || exit 0
conf=/etc/pve/lxc/$1.conf
generated=/var/lib/lxc/$1/config
entrypoint='/app/entry.sh serve'
env='APP_MODE=user
APP_TOKEN=s3cret'
# the main section only (up to the first [section]), as PVE reads it
main() { sed -n '/^\[/q; p' "$conf"; }
[ "$(main | sed -n 's/^entrypoint: //p')" = "$entrypoint" ] &&
  [ "$(main | sed -n 's/^lxc\.environment\.runtime: //p')" = "$env" ] && exit 0
# rewrite FILE SEP ENTRYKEY CONF: the env lines (SEP ": " or " = ") replaced where the first one was (in
# PVE's config, CONF=1: else put before the first lxc.* line or at the end of the main section, where
# PVE's writer puts them); the ENTRYKEY line replaced
rewrite() {
  ENTRYPOINT=$entrypoint ENV_LINES=$env awk -v sep="$2" -v ekey="$3" -v conf="$4" '
    function flush() { if (!done) for (i = 1; i <= n; i++) print "lxc.environment.runtime" sep vars[i]; done = 1 }
    BEGIN { e = ENVIRON["ENTRYPOINT"]; n = split(ENVIRON["ENV_LINES"], vars, "\n") }
    insection { print; next }
    /^\[/ { flush(); printf "%s", held; held = ""; insection = 1; print; next }
    /^$/ { held = held "\n"; next }
    { printf "%s", held; held = "" }
    index($0, "lxc.environment.runtime" sep) == 1 { flush(); next }
    index($0, ekey sep) == 1 { print ekey sep e; next }
    conf && /^lxc\./ { flush() }
    { print }
    END { if (conf) flush(); printf "%s", held }
  ' "$1" > "$1.tmp.$$" && mv "$1.tmp.$$" "$1"  # PVE's file_set_contents: a temporary file renamed
}
rewrite "$conf" ": " entrypoint 1
rewrite "$generated" " = " lxc.init.cmd 0
"""


def test_a_pre_start_hookscript_writing_them_gives_one_apply_and_an_empty_plan(node, oci_registry):
    vmid = 405
    directory = stack(node, "hook", oci_registry.app_ref, vmid, container={
        "environment_variables": USER_ENV,
        "initialization": [{"hostname": "app", "entrypoint": USER_ENTRYPOINT}],
        "hook_script_file_id": "${proxmox_virtual_environment_file.hook.id}"},
        extra={"proxmox_virtual_environment_file": {"hook": {
            "node_name": "pve", "datastore_id": "local", "content_type": "snippets", "file_mode": "0700",
            "source_raw": [{"data": HOOK, "file_name": "oci-app-405.sh"}]}}})
    node.apply(directory)
    assert env_lines(node, vmid) == USER_ENV_CONF and option(node, vmid, "entrypoint") == USER_ENTRYPOINT
    generated = (node.node_root / f"var/lib/lxc/{vmid}/config").read_text().splitlines()
    assert f"lxc.init.cmd = {USER_ENTRYPOINT}" in generated
    assert [line for line in generated if line.startswith("lxc.environment.runtime")] == [
        "lxc.environment.runtime = APP_MODE=user", "lxc.environment.runtime = APP_TOKEN=s3cret"]
    assert re.search(r"^lxc\.init\.uid: 1000$", node.conf_text(vmid), re.M)
    # what the hook wrote is what PVE's own writer writes for that config (Config.pm write_pct_config)
    assert pveconf.render(pveconf.parse(node.conf_text(vmid))) == node.conf_text(vmid)
    assert node.plan(directory) == 0
    # a reboot's start finds the values in place and changes nothing
    before = node.conf_text(vmid)
    client = Client.root(node.sim)
    status, _ = client.task(client.call("POST", f"/nodes/pve/lxc/{vmid}/status/reboot").data)
    assert status["exitstatus"] == "OK" and node.conf_text(vmid) == before
    node.destroy(directory)
