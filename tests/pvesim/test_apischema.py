"""pvesim/apischema.py: every request is checked against PVE 9's API description (PyPI
clientapi-pve, generated from PVE's apidoc.js, kept as data/pve-api-schema.json) before its handler
runs, with PVE::JSONSchema's checks and wording."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pve_gpu_lxc_testing.pvesim import Simulator, apischema
from pve_gpu_lxc_testing.pvesim.api import PveApi
from pve_gpu_lxc_testing.pvesim.node import NodeFiles, PveError
from tests.pvesim.conftest import module_sim
from tests.pvesim.test_api import TEMPLATE, Client

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    with module_sim(tmp_path_factory, "pvesim-apischema", ssh=False) as s:
        yield s


def served_routes() -> list[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        api = PveApi(NodeFiles(Path(tmp)), state_dir=Path(tmp), password="x", tokens=None, ssh_address="127.0.0.1",
                     logger=logging.getLogger("routes"))
        return [(route.method, route.path) for route in api.router.routes]


def test_every_route_the_simulator_serves_has_an_api_description():
    schema = apischema.ApiSchema()
    missing = [f"{m} {p}" for m, p in served_routes() if f"{m} {p}" not in schema.routes]
    assert not missing, f"no API description (run scripts/extract_pve_api_schema.py): {missing}"


def test_a_route_without_description_fails_loudly():
    with pytest.raises(apischema.MissingDescription, match="GET /nodes/{node}/qemu has no API description"):
        apischema.ApiSchema().validate("GET", "/nodes/{node}/qemu", {"node": "pve"})


def test_every_format_the_description_names_is_checked_or_listed_as_unchecked():
    data = json.loads(apischema.SCHEMA_FILE.read_text())
    formats: set[str] = set()

    def walk(schema: dict) -> None:
        fmt = schema.get("format")
        if isinstance(fmt, dict):
            for sub in fmt.values():
                walk(sub)
        elif fmt:
            formats.add(fmt.removesuffix("-list"))

    for route in data["routes"].values():
        for prop in route["parameters"].values():
            walk(prop)
    assert formats <= set(apischema.FORMATS) | apischema.UNCHECKED_FORMATS, formats - set(apischema.FORMATS)


def test_the_kept_description_is_what_the_script_extracts_from_the_package():
    result = subprocess.run([sys.executable, str(REPO / "scripts/extract_pve_api_schema.py"), "--check"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, "data/pve-api-schema.json is stale: run scripts/extract_pve_api_schema.py\n" + \
        result.stdout + result.stderr


def test_the_description_is_test_data_only():
    assert "pve_gpu_lxc_testing" in apischema.SCHEMA_FILE.parts  # never in the wheel (tests/test_wheel.py)
    assert json.loads(apischema.SCHEMA_FILE.read_text())["source"].startswith("PyPI clientapi-pve 2026.5.24")


@pytest.mark.parametrize(("method", "path", "params", "errors"), [
    ("PUT", "/nodes/pve/lxc/{vmid}/config", {"onboot": "yes"}, {"onboot": "type check ('boolean') failed - got 'yes'"}),
    ("PUT", "/nodes/pve/lxc/{vmid}/config", {"cores": "0"}, {"cores": "value must have a minimum value of 1"}),
    ("PUT", "/nodes/pve/lxc/{vmid}/config", {"tags": "ok;-bad"},
     {"tags": "invalid format - invalid characters in tag"}),
    ("PUT", "/nodes/pve/lxc/{vmid}/config", {"delete": "cores,9lives"},
     {"delete": "invalid format - invalid configuration ID '9lives'"}),
    ("PUT", "/nodes/pve/lxc/{vmid}/config", {"dev256": "/dev/null"},
     {"dev256": "property is not defined in schema and the schema does not allow additional properties"}),
    ("PUT", "/nodes/pve/lxc/{vmid}/config", {"dev255": "/etc/passwd"},
     # the inner die's "\n" and Exception.pm stringify's "\n" both stay: PVE answers with two
     {"dev255": "invalid format - format error\ndev255.path: invalid format - /etc/passwd is not a valid device path\n"}),
    ("PUT", "/nodes/pve/lxc/{vmid}/config", {"net0": "name=eth0,colour=red"},
     {"net0": "invalid format - invalid key in comma-separated list property: colour"}),
    ("PUT", "/nodes/pve/lxc/{vmid}/config", {"net0": "name=eth0,hwaddr=BD:24:11:00:00:01"},
     {"net0": "invalid format - format error\n"
              "net0.hwaddr: invalid format - value does not look like a valid unicast MAC address\n"}),
    ("PUT", "/nodes/pve/lxc/{vmid}/config", {"hookscript": "nostorage"},
     {"hookscript": "invalid format - unable to parse volume ID 'nostorage'"}),
    ("PUT", "/nodes/pve/lxc/{vmid}/config", {"lock": "held"},
     {"lock": "value 'held' does not have a value in the enumeration 'backup, create, destroyed, disk, fstrim, "
              "migrate, mounted, rollback, snapshot, snapshot-delete'"}),
    ("GET", "/nodes/pve/lxc/abc/config", {}, {"vmid": "type check ('integer') failed - got 'abc'"}),
    ("GET", "/nodes/pve/lxc/099/config", {}, {"vmid": "invalid format - value does not look like a valid VM ID"}),
    ("POST", "/nodes/pve/lxc", {"vmid": "{vmid}"}, {"ostemplate": "property is missing and it is not optional"}),
    ("POST", "/nodes/pve/lxc/{vmid}/status/stop", {"timeout": "5"},
     {"timeout": "property is not defined in schema and the schema does not allow additional properties"}),
    ("GET", "/nodes/pve/tasks/UPID:x/log", {"limit": "-1"}, {"limit": "value must have a minimum value of 0"}),
])
def test_a_request_pve_would_refuse_is_a_400_with_pve_wording(root, vmid, method, path, params, errors):
    reply = root.call(method, path.format(vmid=vmid), {k: v.format(vmid=vmid) for k, v in params.items()})
    assert (reply.status, reply.reason) == (400, "Parameter verification failed.")
    assert reply.json == {"data": None, "message": "Parameter verification failed.\n",
                          "errors": {k: v + "\n" for k, v in errors.items()}}


def test_the_validation_runs_before_the_handler_and_on_every_request(sim: Simulator, root: Client, vmid):
    before = sim.server.api2.validated
    reply = root.call("POST", "/nodes/pve/lxc", {"vmid": vmid, "ostemplate": TEMPLATE, "cores": "0"})
    assert reply.status == 400 and not sim.files.conf_path(vmid).exists()
    root.call("GET", "/version")
    assert sim.server.api2.validated == before + 2


def test_validation_errors_are_a_pve_error_with_one_message_per_parameter():
    with pytest.raises(PveError) as err:
        apischema.ApiSchema().validate("PUT", "/nodes/{node}/lxc/{vmid}/config",
                                       {"node": "pve", "vmid": "100", "swap": "-1", "memory": "8"})
    assert (err.value.status, err.value.message) == (400, "Parameter verification failed.")
    assert err.value.errors == {"swap": "value must have a minimum value of 0",
                                "memory": "value must have a minimum value of 16"}


def test_a_request_that_reaches_no_route_is_recorded_as_unvalidated(sim: Simulator, root: Client):
    reply = root.call("GET", "/nodes/pve/qemu")
    assert (reply.status, reply.reason) == (501, "Method 'GET /nodes/pve/qemu' not implemented")
    assert sim.server.api2.unvalidated[-1] == "GET /nodes/pve/qemu"
