"""The stand-in provider through real terraform, on hand-written cdk.tf.json fixtures.

Covers what the example stacks do not exercise: installation from a filesystem
mirror, the served schema, ForceNew from configuration, bpg's devN-shrink blind
spot, PVE's refusals, and `proxmox_virtual_environment_download_file`.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from pve_gpu_lxc.l1.schema import provider_schemas
from pve_gpu_lxc_testing.standin.harness import CommandFailed, StandinEnv, standin_env

pytestmark = pytest.mark.e2e

TEMPLATE = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"
CT = "proxmox_virtual_environment_container.ct"


def _edit(stack: Path, change: Callable[[dict[str, Any]], None]) -> None:
    doc = json.loads((stack / "cdk.tf.json").read_text())
    change(doc)
    (stack / "cdk.tf.json").write_text(json.dumps(doc, indent=2))


def _container(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["resource"]["proxmox_virtual_environment_container"]["ct"]


def test_filesystem_mirror_install_init_apply_and_clean_plan(standin: StandinEnv, fixture_stack) -> None:
    stack = fixture_stack("gpu-container")
    standin.seed_volume(TEMPLATE)
    standin.apply(stack)
    lock = (stack / ".terraform.lock.hcl").read_text()
    assert 'provider "registry.terraform.io/bpg/proxmox"' in lock and 'version     = "0.111.1"' in lock
    assert standin.plan(stack) == 0
    assert standin.conf_path(300).exists()


@pytest.fixture(scope="module")
def served_schema(shared_standin: StandinEnv, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    stack = tmp_path_factory.mktemp("schema")
    (stack / "main.tf.json").write_text(json.dumps(
        {"terraform": {"required_providers": {"proxmox": {"source": "bpg/proxmox", "version": "~> 0.111"}}}}))
    shared_standin.init(stack)
    shown = shared_standin.terraform(stack, "providers", "schema", "-json")
    return json.loads(shown.stdout)["provider_schemas"]["registry.terraform.io/bpg/proxmox"]


@pytest.mark.parametrize("resource_type", sorted(provider_schemas()["resource_schemas"]))
def test_served_resource_schema_is_the_product_schema(served_schema: dict[str, Any], resource_type: str) -> None:
    assert served_schema["resource_schemas"][resource_type] == provider_schemas()["resource_schemas"][resource_type]


def test_served_provider_schema_is_the_product_schema(served_schema: dict[str, Any]) -> None:
    assert served_schema["provider"] == provider_schemas()["provider"]


@pytest.fixture
def applied(shared_standin: StandinEnv, fixture_stack) -> Iterator[Path]:
    shared_standin.seed_volume(TEMPLATE)
    stack = fixture_stack("gpu-container")
    shared_standin.apply(stack)
    yield stack
    shared_standin.destroy(stack)
    assert not shared_standin.conf_path(300).exists()


def test_blind_spot_shrinking_devices_leaves_trailing_devn_and_a_perpetual_diff(
        shared_standin: StandinEnv, applied: Path) -> None:
    _edit(applied, lambda d: _container(d).update(device_passthrough=_container(d)["device_passthrough"][:1]))
    shared_standin.apply(applied)
    text = shared_standin.conf_text(300)
    assert "\ndev0: deny-write=0,path=/dev/dri/card0," in text
    assert "\ndev1: deny-write=0,path=/dev/dri/renderD128," in text  # never deleted by bpg
    assert shared_standin.plan(applied) == 2  # read sees two devices again, config has one


def test_changed_template_plans_replacement(shared_standin: StandinEnv, applied: Path) -> None:
    other = "local:vztmpl/debian-13-standard_13.1-1_amd64.tar.zst"
    shared_standin.seed_volume(other)
    _edit(applied, lambda d: _container(d)["operating_system"][0].update(template_file_id=other))
    code, plan = shared_standin.plan_json(applied)
    change = next(c for c in plan["resource_changes"] if c["address"] == CT)
    assert code == 2 and change["change"]["actions"] == ["delete", "create"]
    assert change["change"]["replace_paths"] == [["operating_system", 0, "template_file_id"]]
    shared_standin.apply(applied)
    assert shared_standin.plan(applied) == 0


def test_in_place_update_keeps_other_lines(shared_standin: StandinEnv, applied: Path) -> None:
    before = shared_standin.conf_text(300)
    _edit(applied, lambda d: _container(d)["memory"][0].update(dedicated=4096))
    code, plan = shared_standin.plan_json(applied)
    assert [c["change"]["actions"] for c in plan["resource_changes"] if c["address"] == CT] == [["update"]]
    shared_standin.apply(applied)
    assert shared_standin.conf_text(300) == before.replace("memory: 2048", "memory: 4096")


def test_missing_template_is_refused_like_pve(shared_standin: StandinEnv, fixture_stack) -> None:
    stack = fixture_stack("gpu-container")
    _edit(stack, lambda d: _container(d)["operating_system"][0].update(
        template_file_id="local:vztmpl/not-there.tar.zst"))
    with pytest.raises(CommandFailed, match="volume 'local:vztmpl/not-there.tar.zst' does not exist"):
        shared_standin.apply(stack)
    shared_standin.destroy(stack)


def test_hookscript_that_is_not_executable_is_refused(shared_standin: StandinEnv, fixture_stack) -> None:
    shared_standin.seed_volume(TEMPLATE)
    stack = fixture_stack("gpu-container")
    _edit(stack, lambda d: d["resource"]["proxmox_virtual_environment_file"]["hook"].pop("file_mode"))
    with pytest.raises(CommandFailed, match="is not executable"):
        shared_standin.apply(stack)
    shared_standin.destroy(stack)


# --- download_file ------------------------------------------------------------------------------

@pytest.fixture
def web(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", root
    server.shutdown()
    thread.join()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


def _download_stack(tmp_path: Path, name: str, url: str, **extra: Any) -> Path:
    stack = tmp_path / name
    stack.mkdir()
    body = {"content_type": "vztmpl", "datastore_id": "local", "node_name": "pve", "url": url, **extra}
    (stack / "cdk.tf.json").write_text(json.dumps({
        "terraform": {"required_providers": {"proxmox": {"source": "bpg/proxmox", "version": "~> 0.111"}}},
        "resource": {"proxmox_virtual_environment_download_file": {"tmpl": body}},
    }))
    return stack


def test_download_file_verifies_checksum_and_is_recreated_when_deleted(
        shared_standin: StandinEnv, web: tuple[str, Path], tmp_path: Path) -> None:
    base, root = web
    data = b"pretend this is a rootfs tarball"
    (root / "alpine-3.20-default_amd64.tar.xz").write_bytes(data)
    url = f"{base}/alpine-3.20-default_amd64.tar.xz"

    bad = _download_stack(tmp_path, "bad", url, checksum="0" * 64, checksum_algorithm="sha256")
    with pytest.raises(CommandFailed, match="checksum mismatch"):
        shared_standin.apply(bad)

    good = _download_stack(tmp_path, "good", url, checksum=hashlib.sha256(data).hexdigest(),
                           checksum_algorithm="sha256")
    shared_standin.apply(good)
    target = shared_standin.node.volume_path("local:vztmpl/alpine-3.20-default_amd64.tar.xz")
    assert target.read_bytes() == data
    assert shared_standin.plan(good) == 0

    target.unlink()
    drift = shared_standin.drift(good)
    assert drift.changed_attributes("proxmox_virtual_environment_download_file.tmpl") == {"<deleted>"}
    shared_standin.apply(good)
    assert target.read_bytes() == data

    shared_standin.destroy(good)
    assert not target.exists()


def test_reattached_provider_is_stopped_by_close(tmp_path: Path) -> None:
    env = standin_env(tmp_path, reattach=True)
    assert env.provider is not None and env.provider.process is not None
    process = env.provider.process
    assert json.loads(env.env["TF_REATTACH_PROVIDERS"])["registry.terraform.io/bpg/proxmox"]["Pid"] == process.pid
    env.close()
    assert process.poll() is not None, "the reattached provider outlived close()"
