"""pve_gpu_lxc.testing: synth with validations and the schema check, lookups, assertions, the pytest plugin."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from pve_gpu_lxc import GpuContainer, IdMap, IntelGpu, ProxmoxProvider, Template
from pve_gpu_lxc.engine import TerraformStack
from pve_gpu_lxc.engine import Testing as EngineTesting  # renamed: pytest would try to collect `Testing*`
from pve_gpu_lxc.l1 import schema
from pve_gpu_lxc.testing import (
    SchemaViolation, ValidationFailed, assert_device, assert_idmap, container, containers, synth,
)

UBUNTU = Template.existing("local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst")
DEBIAN12 = Template.existing("local:vztmpl/debian-12-standard_12.2-1_amd64.tar.zst")


def env_without_credentials() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROXMOX_VE_")}
    env.update(JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20", PYTHONDONTWRITEBYTECODE="1")
    return env


def new_stack(environ: dict[str, str] | None = None) -> TerraformStack:
    stack = TerraformStack(EngineTesting.app(), "s")
    ProxmoxProvider(stack, "proxmox", environ={} if environ is None else environ)
    return stack


def gpu_container(stack: TerraformStack, id: str = "ct", **overrides: object) -> GpuContainer:
    props: dict = dict(node_name="pve", vm_id=200, hostname=id, template=UBUNTU, gpus=[IntelGpu()]) | overrides
    return GpuContainer(stack, id, **props)


# --- synth ---------------------------------------------------------------------------------

def test_synth_returns_the_stacks_json() -> None:
    stack = new_stack()
    gpu_container(stack)
    doc = synth(stack)
    assert doc["resource"]["proxmox_virtual_environment_container"]["ct"]["vm_id"] == 200
    assert doc["terraform"]["required_providers"]["proxmox"]["source"] == "bpg/proxmox"


def test_synth_lists_every_failed_validation_with_its_construct_path() -> None:
    stack = new_stack({"PROXMOX_VE_API_TOKEN": "root@pam!ci=1234-abcd"})
    gpu_container(stack, "a", vm_id=201)
    gpu_container(stack, "b", vm_id=202)
    with pytest.raises(ValidationFailed) as err:
        synth(stack)
    problems = err.value.problems
    assert [p.split("]")[0] for p in problems] == ["[s/a", "[s/b"]
    assert all("GpuContainer: it sets device passthrough (devN)" in p for p in problems)
    assert str(err.value).startswith("stack 's' failed its construct validations (2):\n  [s/a] GpuContainer: ")
    assert "1234-abcd" not in str(err.value)


def test_synth_without_validation_returns_the_json_of_an_invalid_stack() -> None:
    stack = new_stack({"PROXMOX_VE_API_TOKEN": "root@pam!ci=1234-abcd"})
    gpu_container(stack)
    assert "ct" in containers(synth(stack, validate=False))


def test_synth_names_each_schema_violation_by_address_and_attribute() -> None:
    stack = new_stack()
    ct = gpu_container(stack)
    ct.resource.add_override("protectoin", True)  # a typo through the escape hatch
    ct.resource.add_override("node_name", None)  # removes the one required attribute
    ct.resource.add_override("cpu", [{"cores": 2}, {"cores": 4}])  # a single block given twice
    with pytest.raises(SchemaViolation) as err:
        synth(stack)
    assert set(err.value.problems) == {
        "proxmox_virtual_environment_container.ct.protectoin: unknown attribute or block (not in bpg/proxmox 0.111.1)",
        "proxmox_virtual_environment_container.ct.node_name: required attribute is missing",
        "proxmox_virtual_environment_container.ct.cpu: 2 blocks, at most 1 allowed",
    }
    assert str(err.value).startswith("stack 's': the synthesized JSON breaks the bpg/proxmox 0.111.1 schema (3):\n")
    assert "protectoin" in containers(synth(stack, check_schema=False))["ct"]


def test_synth_checks_bpg_data_sources_and_leaves_other_providers_alone() -> None:
    stack = new_stack()
    stack.add_override("data.proxmox_virtual_environment_nodes.all", {})
    stack.add_override("data.external.x", {"program": ["true"]})
    with pytest.raises(SchemaViolation) as err:
        synth(stack)
    assert err.value.problems == (
        "data.proxmox_virtual_environment_nodes: data source type not in the kept bpg/proxmox 0.111.1 schema "
        "(data sources kept: proxmox_virtual_environment_containers)",
    )


def test_a_kept_data_source_is_checked_against_its_schema() -> None:
    # the guard's listing (README "What is guarded") is in the kept schema, checked like a resource
    doc = {"data": {"proxmox_virtual_environment_containers": {
        "ok": {"node_name": "pve", "filter": [{"name": "status", "values": ["running"]}]},
        "bad": {"containers": [], "filter": [{"values": ["x"]}], "nodes": "pve"},
    }}}
    assert schema.check_synthesized(doc) == [
        "data.proxmox_virtual_environment_containers.bad.containers: attribute is computed by the provider and "
        "cannot be set",
        "data.proxmox_virtual_environment_containers.bad.filter[0].name: required attribute is missing",
        "data.proxmox_virtual_environment_containers.bad.nodes: unknown attribute or block (not in bpg/proxmox 0.111.1)",
    ]


def test_synth_refuses_what_is_not_a_stack() -> None:
    app = EngineTesting.app()
    with pytest.raises(TypeError, match=r"^synth\(\) takes a TerraformStack, got App "):
        synth(app)  # type: ignore[arg-type]


# --- containers and container --------------------------------------------------------------

TWO_NODES = {
    "resource": {
        "proxmox_virtual_environment_container": {
            "a": {"node_name": "pve", "vm_id": 200},
            "b": {"node_name": "pve2", "vm_id": 200},
            "c": {"node_name": "pve", "vm_id": 201},
        },
        "proxmox_virtual_environment_file": {"hook": {"node_name": "pve"}},
    }
}


def test_containers_are_keyed_by_their_resource_name() -> None:
    stack = new_stack()
    gpu_container(stack, "jellyfin", vm_id=210)
    gpu_container(stack, "plex", vm_id=211)
    found = containers(synth(stack))
    assert {name: body["vm_id"] for name, body in found.items()} == {"jellyfin": 210, "plex": 211}
    assert containers({"resource": {}}) == {}


def test_container_by_name_or_by_a_vm_id_only_one_container_has() -> None:
    assert container(TWO_NODES, "b")["node_name"] == "pve2"
    assert container(TWO_NODES, 201) is TWO_NODES["resource"]["proxmox_virtual_environment_container"]["c"]


def test_container_lookups_that_fail_say_what_the_stack_has() -> None:
    with pytest.raises(AssertionError) as err:
        container(TWO_NODES, "d")
    assert str(err.value) == (
        "the stack has no container named 'd'; its containers: 'a' (vm_id 200 on node pve), "
        "'b' (vm_id 200 on node pve2), 'c' (vm_id 201 on node pve)"
    )
    with pytest.raises(AssertionError, match=r"^vm_id 200 is used by 2 containers of the stack \(on different nodes\): "
                                             r"'a', 'b'; name the container instead$"):
        container(TWO_NODES, 200)
    with pytest.raises(AssertionError, match=r"^the stack has no container with vm_id 999; its containers: 'a' "):
        container(TWO_NODES, 999)
    with pytest.raises(TypeError, match=r"resource name \(str\) or vm_id \(int\), got True"):
        container(TWO_NODES, True)


# --- assert_device ---------------------------------------------------------------------------

def intel_doc() -> dict:
    stack = new_stack()
    gpu_container(stack)
    return synth(stack)


def test_assert_device_passes_and_returns_the_block() -> None:
    doc = intel_doc()
    block = assert_device(doc, "ct", "/dev/dri/renderD128", gid=993, uid=0, mode="0660", deny_write=False)
    assert block == {"path": "/dev/dri/renderD128", "uid": 0, "gid": 993, "mode": "0660", "deny_write": False}
    assert_device(doc, 200, "/dev/dri/card0", gid=44)


def test_assert_device_shows_the_wrong_values_and_every_device() -> None:
    with pytest.raises(AssertionError) as err:
        assert_device(intel_doc(), "ct", "/dev/dri/renderD128", gid=106, mode="0660", uid=0)
    assert str(err.value) == (
        "container 'ct' (vm_id 200 on node pve), device /dev/dri/renderD128: expected gid=106, has gid=993; its devices:\n"
        "  /dev/dri/card0  uid=0 gid=44 mode='0660' deny_write=false\n"
        "  /dev/dri/renderD128  uid=0 gid=993 mode='0660' deny_write=false"
    )


def test_assert_device_names_a_missing_device() -> None:
    with pytest.raises(AssertionError) as err:
        assert_device(intel_doc(), "ct", "/dev/dri/renderD129")
    assert str(err.value).startswith("container 'ct' (vm_id 200 on node pve) has no device /dev/dri/renderD129; "
                                     "its devices:\n  /dev/dri/card0  uid=0 gid=44")
    stack = new_stack()
    gpu_container(stack, gpus=[])
    with pytest.raises(AssertionError, match=r"has no device /dev/kfd; its devices:\n  \(none\)$"):
        assert_device(synth(stack), "ct", "/dev/kfd")


def test_assert_device_does_not_take_true_for_one() -> None:
    doc = {"resource": {"proxmox_virtual_environment_container": {"ct": {"device_passthrough": [{"path": "/dev/x", "gid": True}]}}}}
    with pytest.raises(AssertionError, match="expected gid=1, has gid=true"):
        assert_device(doc, "ct", "/dev/x", gid=1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(mode=0o660), "mode must be a four-digit octal string as bpg takes it (e.g. '0660'), got 432"),
        (dict(mode="660"), "mode must be a four-digit octal string as bpg takes it (e.g. '0660'), got '660'"),
        (dict(gid="44"), "gid must be an int, got str '44'"),
        (dict(uid=False), "uid must be an int, got bool False"),
        (dict(deny_write=0), "deny_write must be a bool, got int 0"),
    ],
)
def test_assert_device_refuses_values_bpg_would_not_hold(kwargs: dict, message: str) -> None:
    with pytest.raises(TypeError) as err:
        assert_device(TWO_NODES, "a", "/dev/x", **kwargs)
    assert str(err.value) == message


# --- assert_idmap ----------------------------------------------------------------------------

def idmap_doc() -> dict:
    stack = new_stack()
    gpu_container(stack, template=DEBIAN12, idmap=IdMap.passthrough(gids={44: 44, 106: 108}))
    return synth(stack)


SEED = ["u 0 100000 65536", "g 0 100000 44", "g 44 44 1", "g 45 100045 61", "g 106 108 1", "g 107 100107 65429"]


def test_assert_idmap_takes_lines_as_lxc_and_pve_write_them() -> None:
    doc = idmap_doc()
    assert_idmap(doc, "ct", SEED)
    assert_idmap(doc, "ct", [f"lxc.idmap: {line}" for line in SEED])
    assert_idmap(doc, 200, [f"lxc.idmap = {line}" for line in SEED])
    assert_idmap(intel_doc(), "ct", [])


def test_assert_idmap_shows_both_maps_and_the_difference() -> None:
    wrong = [*SEED[:4], "g 106 106 1", SEED[5]]
    with pytest.raises(AssertionError) as err:
        assert_idmap(idmap_doc(), "ct", wrong)
    assert str(err.value) == "\n".join([
        "container 'ct' (vm_id 200 on node pve): its idmap differs",
        "expected:", *(f"  {line}" for line in wrong),
        "has:", *(f"  {line}" for line in SEED),
        "missing:", "  g 106 106 1",
        "not expected:", "  g 106 108 1",
    ])


def test_assert_idmap_is_exact_about_order_and_absence() -> None:
    with pytest.raises(AssertionError, match=r"\(the same lines in another order\)$"):
        assert_idmap(idmap_doc(), "ct", [*SEED[1:], SEED[0]])
    with pytest.raises(AssertionError, match=r"expected:\n  u 0 100000 65536\nhas:\n  \(none\)\nmissing:"):
        assert_idmap(intel_doc(), "ct", ["u 0 100000 65536"])


@pytest.mark.parametrize("line", ["x 0 100000 65536", "u 0 100000", "u 0 -1 5", "lxc.idmap u 0 1 1", "u 0 100000 65536 extra"])
def test_assert_idmap_refuses_lines_lxc_would_not_read(line: str) -> None:
    with pytest.raises(ValueError) as err:
        assert_idmap(TWO_NODES, "a", [line])
    assert str(err.value) == (
        f"idmap line {line!r} is not 'u|g <container id> <host id> <size>' as in lxc.idmap (e.g. 'u 0 100000 65536')"
    )
    with pytest.raises(TypeError, match="lines must be a list of idmap lines, got one string 'u 0 100000 65536'"):
        assert_idmap(TWO_NODES, "a", "u 0 100000 65536")


# --- the pytest plugin -----------------------------------------------------------------------

def test_the_plugin_is_registered_as_a_pytest11_entry_point() -> None:
    (plugin,) = [e for e in entry_points(group="pytest11") if e.name == "pve_gpu_lxc"]
    assert plugin.value == "pve_gpu_lxc.testing.plugin"
    assert plugin.load().pve_stack is not None


def test_importing_the_plugin_and_helpers_starts_no_engine(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "import pve_gpu_lxc.testing\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('cdktf', 'cdktn', 'constructs', 'jsii', 'pytest')))\n"
        "import pve_gpu_lxc.testing.plugin\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('cdktf', 'cdktn', 'constructs', 'jsii')))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env_without_credentials(),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["[]", "[]"]


USER_TESTS = '''\
from pve_gpu_lxc import GpuContainer, IntelGpu, ProxmoxProvider, Template
from pve_gpu_lxc.testing import assert_device, synth

UBUNTU = Template.existing("local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst")


def build(stack):
    ProxmoxProvider(stack, "proxmox", environ={})
    GpuContainer(stack, "jellyfin", node_name="pve", vm_id=210, hostname="jellyfin", template=UBUNTU, gpus=[IntelGpu()])
    return synth(stack)


def test_one(pve_stack):
    assert pve_stack.node.path == "test"
    assert_device(build(pve_stack), "jellyfin", "/dev/dri/renderD128", gid=993)


def test_two_gets_a_fresh_app(pve_app, pve_stack):  # vm_id 210 again: only a new App allows it
    assert [child.node.id for child in pve_app.node.children] == ["test"]
    assert_device(build(pve_stack), 210, "/dev/dri/card0", gid=44, mode="0660")


def test_wrong_gid_fails_readably(pve_stack):
    assert_device(build(pve_stack), "jellyfin", "/dev/dri/renderD128", gid=106)
'''


def run_pytest(tmp_path: Path, name: str, code: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / name).write_text(code)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", name],
        cwd=tmp_path, env=env_without_credentials(), capture_output=True, text=True, timeout=300,
    )


def test_a_users_pytest_run_gets_the_fixtures_and_readable_failures(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, "test_user_stack.py", USER_TESTS)
    assert "1 failed, 2 passed" in result.stdout, result.stdout + result.stderr
    assert "FAILED test_user_stack.py::test_wrong_gid_fails_readably" in result.stdout
    assert ("AssertionError: container 'jellyfin' (vm_id 210 on node pve), device /dev/dri/renderD128: "
            "expected gid=106, has gid=993; its devices:") in result.stdout


def test_the_readme_example_runs_with_pytest(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## Testing your stacks\n", 1)
    assert len(section) == 2, "README lost its '## Testing your stacks' section"
    code = section[1].split("```python\n", 1)[1].split("```", 1)[0]
    assert len(code.strip().splitlines()) <= 12
    result = run_pytest(tmp_path, "test_readme_example.py", textwrap.dedent(code))
    assert result.returncode == 0 and " passed" in result.stdout, result.stdout + result.stderr
