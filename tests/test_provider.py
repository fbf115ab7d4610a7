"""ProxmoxProvider: settings from the environment, no secret in JSON, synth-time auth checks."""

from __future__ import annotations

import json
import re

import pytest
from pve_gpu_lxc.engine import TerraformStack
from pve_gpu_lxc.engine import Testing as CdktfTesting

from pve_gpu_lxc import GpuContainer, IdMap, IntelGpu, NvidiaGpu, ProxmoxProvider, ProxmoxSsh, Template, ValidationError
from pve_gpu_lxc.model.auth import detect_auth

UBUNTU = Template.existing("local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst")
SECRETS = {
    "PROXMOX_VE_ENDPOINT": "https://pve.example:8006/",
    "PROXMOX_VE_USERNAME": "root@pam",
    "PROXMOX_VE_PASSWORD": "s3cret-Password-71c2",
    "PROXMOX_VE_SSH_PASSWORD": "ssh-S3cret-99ab",
    "PROXMOX_VE_SSH_PRIVATE_KEY": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n",
}


def build(app, environ: dict, *, ssh: ProxmoxSsh | None = ProxmoxSsh(), **container) -> TerraformStack:
    stack = TerraformStack(app, "s")
    ProxmoxProvider(stack, "proxmox", environ=environ, ssh=ssh)
    GpuContainer(stack, "ct", **(dict(node_name="pve", vm_id=200, hostname="ct", template=UBUNTU) | container))
    return stack


def validation_errors(stack: TerraformStack) -> str:
    with pytest.raises(RuntimeError) as err:
        CdktfTesting.synth(stack, True)
    return str(err.value)


def test_no_secret_reaches_the_synthesized_json(app, monkeypatch, synth) -> None:
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    stack = TerraformStack(app, "s")
    ProxmoxProvider(stack, "proxmox")  # reads os.environ
    GpuContainer(stack, "ct", node_name="pve", vm_id=200, hostname="ct", template=UBUNTU, gpus=[NvidiaGpu(driver_version="575.64.03")])
    text = json.dumps(synth(stack))
    for value in SECRETS.values():
        assert value not in text
        assert value.strip().splitlines()[-1] not in text


def test_provider_block_has_only_non_secret_settings(app, synth) -> None:
    stack = TerraformStack(app, "s")
    ProxmoxProvider(stack, "proxmox", environ={}, insecure=True, ssh=ProxmoxSsh(username="terraform", node_addresses={"pve": "10.0.0.2"}))
    doc = synth(stack)
    assert doc["provider"]["proxmox"] == [
        {"insecure": True, "ssh": {"agent": True, "username": "terraform", "node": [{"name": "pve", "address": "10.0.0.2"}]}}
    ]
    assert doc["terraform"]["required_providers"]["proxmox"] == {"source": "bpg/proxmox", "version": "~> 0.111"}


def test_api_token_is_refused_for_device_passthrough(app) -> None:
    stack = build(app, {"PROXMOX_VE_API_TOKEN": "root@pam!tf=1234-abcd"}, gpus=[IntelGpu()])
    message = validation_errors(stack)
    assert (
        "[s/ct] GpuContainer: it sets device passthrough (devN), which Proxmox allows only for root@pam with a "
        "password or ticket; API tokens are refused, even root@pam!<token>"
    ) in message
    assert "Fix: unset PROXMOX_VE_API_TOKEN and set PROXMOX_VE_USERNAME=root@pam and PROXMOX_VE_PASSWORD" in message
    assert "1234-abcd" not in message  # the token's secret part is never echoed


def test_non_root_user_is_refused_for_hookscripts(app) -> None:
    stack = build(app, {"PROXMOX_VE_USERNAME": "terraform@pve", "PROXMOX_VE_PASSWORD": "x"}, gpus=[NvidiaGpu(driver_version="575.64.03")])
    message = validation_errors(stack)
    assert "it sets device passthrough (devN) and a hookscript, which Proxmox allows only for root@pam, but PROXMOX_VE_USERNAME is 'terraform@pve'" in message


def test_idmap_without_ssh_block_is_refused(app) -> None:
    stack = build(app, {}, ssh=None, idmap=IdMap.passthrough(gids={44: 44}))
    message = validation_errors(stack)
    assert "[s/ct] GpuContainer: it needs SSH access to the node for lxc.idmap (bpg writes lxc.idmap lines" in message
    assert "ProxmoxProvider(..., ssh=ProxmoxSsh(username='root', agent=True))" in message


def test_stack_without_provider_is_refused(app) -> None:
    stack = TerraformStack(app, "s")
    GpuContainer(stack, "ct", node_name="pve", vm_id=200, hostname="ct", template=UBUNTU)
    assert "GpuContainer: its stack has no ProxmoxProvider; add ProxmoxProvider(stack, 'proxmox')" in validation_errors(stack)


def test_api_token_is_fine_for_a_container_without_gpu_or_hooks(app, synth) -> None:
    synth(build(app, {"PROXMOX_VE_API_TOKEN": "tf@pve!ci=1234-abcd"}))


def test_no_credentials_at_all_still_synthesizes(app, synth) -> None:
    synth(build(app, {}, gpus=[NvidiaGpu(driver_version="575.64.03")], idmap=IdMap.passthrough(gids={44: 44})))


@pytest.mark.parametrize(
    ("environ", "kind"),
    [
        ({"PROXMOX_VE_API_TOKEN": "a@pam!b=c", "PROXMOX_VE_PASSWORD": "p"}, "api-token"),
        ({"PROXMOX_VE_AUTH_TICKET": "t", "PROXMOX_VE_PASSWORD": "p"}, "ticket"),
        ({"PROXMOX_VE_USERNAME": "root@pam", "PROXMOX_VE_PASSWORD": "p"}, "password"),
        ({}, "none"),
    ],
)
def test_detect_auth_follows_bpg_precedence(environ: dict, kind: str) -> None:
    assert detect_auth(environ).kind == kind


def test_endpoint_with_credentials_is_refused(app) -> None:
    with pytest.raises(ValidationError, match=r"endpoint 'https://root:pw@pve:8006/' must be https://host\[:port\]/ with no credentials"):
        ProxmoxProvider(TerraformStack(app, "s"), "proxmox", endpoint="https://root:pw@pve:8006/")


def _ssh_nodes(doc: dict) -> list[dict]:
    return doc["provider"]["proxmox"][0]["ssh"]["node"]


def test_ssh_node_address_and_port_come_from_pve_gpu_lxc_ssh_nodes(app, synth) -> None:
    environ = {**SECRETS, "PVE_GPU_LXC_SSH_NODES": "pve=192.0.2.10:2222, pve2=[2001:db8::2]:22,pve3=pve3.lan"}
    doc = synth(build(app, environ))
    assert _ssh_nodes(doc) == [
        {"address": "192.0.2.10", "name": "pve", "port": 2222},
        {"address": "2001:db8::2", "name": "pve2", "port": 22},
        {"address": "pve3.lan", "name": "pve3"},
    ]


def test_ssh_nodes_in_code_win_over_the_environment(app, synth) -> None:
    environ = {**SECRETS, "PVE_GPU_LXC_SSH_NODES": "pve=192.0.2.10:2222"}
    doc = synth(build(app, environ, ssh=ProxmoxSsh(node_addresses={"pve": "192.0.2.99"})))
    assert _ssh_nodes(doc) == [{"address": "192.0.2.99", "name": "pve"}]


@pytest.mark.parametrize("value, message", [
    ("pve", "PVE_GPU_LXC_SSH_NODES: 'pve' is not 'node=address[:port]'"),
    ("pve=192.0.2.10:0", "port 0 is outside 1-65535"),
    ("pve=bad host", "'bad host' is not a host name or IPv4 address"),
])
def test_malformed_ssh_nodes_variable_is_refused_with_its_value(app, value: str, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        build(app, {**SECRETS, "PVE_GPU_LXC_SSH_NODES": value})
