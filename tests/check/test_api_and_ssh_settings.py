"""check.api and check.ssh: which settings they take from where (no network here)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pve_gpu_lxc.cli.check import api, ssh
from pve_gpu_lxc.pve.synthesized import ProviderSettings, SshNode

ENV = {"PROXMOX_VE_ENDPOINT": "https://pve.lan:8006/", "PROXMOX_VE_USERNAME": "root@pam",
       "PROXMOX_VE_PASSWORD": "s3cret-pw"}


def test_api_settings_from_the_environment_never_show_the_secret() -> None:
    settings = api.settings_from(ENV)
    assert (settings.endpoint, settings.insecure, settings.auth_kind) == ("https://pve.lan:8006", False, "password")
    assert "s3cret" not in repr(settings)
    token = api.settings_from({**ENV, "PROXMOX_VE_API_TOKEN": "root@pam!ro=uuid-secret", "PROXMOX_VE_INSECURE": "true"})
    assert (token.auth_kind, token.insecure) == ("token", True) and "uuid-secret" not in repr(token)
    # the provider block's non-secret settings win, as for bpg
    block = api.settings_from(ENV, ProviderSettings(endpoint="https://other:8006/", insecure=True))
    assert (block.endpoint, block.insecure) == ("https://other:8006", True)


@pytest.mark.parametrize("env, message", [
    ({}, "PROXMOX_VE_ENDPOINT is not set"),
    ({"PROXMOX_VE_ENDPOINT": "https://user:pw@pve:8006/"}, "no credentials in it"),
    ({"PROXMOX_VE_ENDPOINT": "https://pve:8006/"}, "no Proxmox credentials"),
    ({"PROXMOX_VE_ENDPOINT": "https://pve:8006/", "PROXMOX_VE_API_TOKEN": "nonsense"}, "is not 'user@realm!tokenid=secret'"),
])
def test_api_settings_errors(env, message) -> None:
    with pytest.raises(api.ApiError, match=message):
        api.settings_from(env)


def test_ssh_target_block_then_environment_then_endpoint() -> None:
    block = ProviderSettings(ssh_username="admin", ssh_nodes=(SshNode("pve", "192.0.2.10", 2222),))
    env = {"PVE_GPU_LXC_SSH_NODES": "pve=192.0.2.20:22,pve2=[2001:db8::2]:2200", "PROXMOX_VE_SSH_USERNAME": "ops"}
    assert ssh.resolve_target("pve", block, env, "https://pve.lan:8006") == ssh.SshTarget("pve", "192.0.2.10", 2222, "admin")
    assert ssh.resolve_target("pve2", block, env, None) == ssh.SshTarget("pve2", "2001:db8::2", 2200, "admin")
    assert ssh.resolve_target("pve3", ProviderSettings(), env, "https://pve3.lan:8006/") == \
        ssh.SshTarget("pve3", "pve3.lan", 22, "ops")
    assert ssh.resolve_target("pve3", ProviderSettings(), {}, "https://pve3.lan:8006/").username == "root"
    with pytest.raises(ssh.SshError, match="is not 'node=address\\[:port\\]'"):
        ssh.parse_ssh_nodes("pve")
    with pytest.raises(ssh.SshError, match="is not a Unix user name"):
        ssh.resolve_target("pve", ProviderSettings(ssh_username="-oProxyCommand=x"), {}, "https://pve:8006")


def test_ssh_command_line_key_file_is_private_and_removed(tmp_path: Path) -> None:
    env = {"PROXMOX_VE_SSH_PRIVATE_KEY": "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----",
           "HOME": str(tmp_path), "PATH": os.environ["PATH"]}
    target = ssh.SshTarget("pve", "192.0.2.10", 2222, "root")
    with ssh.SshRunner(env) as runner:
        argv = runner.argv(target)
        key = Path(argv[argv.index("-i") + 1])
        assert stat.S_IMODE(key.stat().st_mode) == 0o600 and key.read_text().endswith("-----\n")
        assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
        assert argv[-3:] == ["--", "192.0.2.10", "sh -s"] and ["-p", "2222"] == argv[argv.index("-p"):argv.index("-p") + 2]
        assert "StrictHostKeyChecking=yes" in argv and f'UserKnownHostsFile="{tmp_path}/.ssh/known_hosts"' in argv
        assert "BatchMode=yes" in argv and argv[1:3] == ["-F", "none"]
    assert not key.exists() and not key.parent.exists()


def test_ssh_without_credentials_says_what_to_set() -> None:
    with pytest.raises(ssh.SshError, match="no SSH credentials: set PROXMOX_VE_SSH_PRIVATE_KEY or run an ssh-agent"):
        ssh.SshRunner({"PATH": os.environ["PATH"]}).argv(ssh.SshTarget("pve", "h", 22, "root"))
    with pytest.raises(ssh.SshError, match="password login .* is not supported"):
        ssh.SshRunner({"PATH": os.environ["PATH"], "PROXMOX_VE_SSH_PASSWORD": "x"}).argv(
            ssh.SshTarget("pve", "h", 22, "root"))
    agent = ssh.SshRunner({"PATH": os.environ["PATH"], "SSH_AUTH_SOCK": "/tmp/agent"}).argv(
        ssh.SshTarget("pve", "h", 22, "root"))
    assert "-i" not in agent


def test_the_container_listing_of_a_node_as_pve_answers_it() -> None:
    from pve_gpu_lxc.cli.check.api import _listed
    from pve_gpu_lxc.model.ownership import Listed

    assert _listed("pve", {"vmid": 210, "name": "postgres-prod", "status": "running"}) == Listed(210, "pve", "postgres-prod")
    assert _listed("pve", {"vmid": "212", "tags": "gpu;pve-gpu-lxc.media.old", "name": "old"}) == \
        Listed(212, "pve", "old", ("gpu", "pve-gpu-lxc.media.old"))
    assert _listed("pve", {"vmid": 213, "tags": "a, b"}) == Listed(213, "pve", "CT213", ("a", "b"))
    assert _listed("pve", {"name": "x"}) is None and _listed("pve", "junk") is None


@pytest.mark.parametrize("value, insecure", [("true", True), ("1", True), ("yes", False), ("on", False),
                                             ("TRUE", False), (" true", False), ("", False)])
def test_proxmox_ve_insecure_is_read_as_bpg_reads_it(value, insecure) -> None:
    """bpg's GetAnyBoolEnv takes exactly `true` or `1`: check must verify TLS whenever bpg does."""
    assert api.settings_from({**ENV, "PROXMOX_VE_INSECURE": value}).insecure is insecure
